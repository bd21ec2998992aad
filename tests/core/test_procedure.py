"""Procedure rules: order, skipping only with a reason, sealing, templates, step payloads."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from console.core.model import Industry
from console.core.procedure import (
    INTERVIEW_TEMPLATE,
    STEP_ORDER,
    CaseSealed,
    InspectionType,
    InvalidStepData,
    SkipNeedsReason,
    Step,
    StepOutOfOrder,
    StepStatus,
    advance,
    check_inspect,
    check_interview,
    check_signatures,
    default_checklists,
    new_progress,
)

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def test_steps_in_order_with_times_and_seal() -> None:
    progress = new_progress(T0)
    for n, step in enumerate(STEP_ORDER, start=1):
        assert progress.current_step is step
        progress = advance(progress, step, T0 + timedelta(minutes=n))
    assert progress.sealed
    assert progress.current_step is None
    assert progress.step_times()["checkin"] == 60.0
    with pytest.raises(CaseSealed):
        advance(progress, Step.ARCHIVE, T0 + timedelta(hours=1))


def test_out_of_order_refused_and_last_step_may_be_corrected() -> None:
    progress = advance(new_progress(T0), Step.CHECKIN, T0)
    with pytest.raises(StepOutOfOrder, match="next step is 'notify'"):
        advance(progress, Step.INSPECT, T0)
    corrected = advance(progress, Step.CHECKIN, T0 + timedelta(minutes=1))
    assert corrected.record(Step.CHECKIN).finished_at == T0 + timedelta(minutes=1)
    progress = advance(corrected, Step.NOTIFY, T0)
    with pytest.raises(StepOutOfOrder):
        advance(progress, Step.CHECKIN, T0)


@pytest.mark.parametrize("reason", ["", "   "])
def test_skip_needs_a_reason(reason: str) -> None:
    with pytest.raises(SkipNeedsReason):
        advance(new_progress(T0), Step.CHECKIN, T0, skip_reason=reason)
    skipped = advance(new_progress(T0), Step.CHECKIN, T0, skip_reason=" 信号弱 ")
    assert skipped.record(Step.CHECKIN).status is StepStatus.SKIPPED
    assert skipped.record(Step.CHECKIN).reason == "信号弱"


def test_archive_cannot_be_skipped() -> None:
    progress = new_progress(T0)
    for step in STEP_ORDER[:-1]:
        progress = advance(progress, step, T0, skip_reason="test")
    with pytest.raises(SkipNeedsReason, match="cannot be skipped"):
        advance(progress, Step.ARCHIVE, T0, skip_reason="no")


def test_templates_cover_every_industry_and_type_with_legal_basis() -> None:
    templates = {(t.industry, t.inspection_type): t for t in default_checklists()}
    for industry in Industry:
        for kind in InspectionType:
            template = templates[(str(industry), kind)]
            ids = [item.id for item in template.items]
            assert len(ids) == len(set(ids)) >= 8
            assert all(item.legal_basis.startswith("《") for item in template.items)
            assert any(item.requires_photo for item in template.items)
    assert any(q.required for q in INTERVIEW_TEMPLATE.questions)


def test_inspect_needs_every_item_and_photo_for_violations() -> None:
    template = next(t for t in default_checklists() if t.id == "electroplating.routine.v1")
    photo_item = next(i for i in template.items if i.requires_photo)
    items = [{"id": i.id, "result": "compliant"} for i in template.items]
    with pytest.raises(InvalidStepData, match="not answered"):
        check_inspect({"items": items[1:]}, template)
    bad = [dict(e, result="non_compliant") if e["id"] == photo_item.id else e for e in items]
    with pytest.raises(InvalidStepData, match="photo evidence"):
        check_inspect({"items": bad}, template)
    with_photo = [dict(e, attachment_ids=["a1"]) if e["id"] == photo_item.id else e for e in bad]
    check_inspect({"items": with_photo, "samples": []}, template)


def test_interview_required_questions_and_signatures() -> None:
    person = {"name": "赵", "position": "厂长"}
    with pytest.raises(InvalidStepData, match="required questions"):
        check_interview({"answers": [], "interviewee": person}, INTERVIEW_TEMPLATE)
    answers = [{"question_id": q.id, "answer": "是"} for q in INTERVIEW_TEMPLATE.questions]
    check_interview({"answers": answers, "interviewee": person}, INTERVIEW_TEMPLATE)
    image = b"\x89PNG\r\n\x1a\n" + b"0" * 20
    good = {
        "png_base64": base64.b64encode(image).decode(),
        "sha256": hashlib.sha256(image).hexdigest(),
    }
    with pytest.raises(InvalidStepData, match="party"):
        check_signatures({"signatures": [{"role": "officer", "name": "王", **good}]})
    with pytest.raises(InvalidStepData, match="SHA-256"):
        check_signatures(
            {"signatures": [{"role": "party", "name": "赵", **good, "sha256": "0" * 64}]}
        )
    signed = check_signatures(
        {
            "signatures": [
                {"role": "party", "name": "赵", **good},
                {"role": "officer", "name": "王", **good},
            ]
        }
    )
    assert [s.png for s in signed] == [image, image]
