"""Case-file panels: the PDF forms, the viewer, the procedures table and the checklist editor.

The PDF and viewer tests use a case file shaped like the hub's ``case.get`` answer with the
real core templates; the checklist editor talks to a REAL hub (loopback websocket).
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from pytestqt.qtbot import QtBot

import console
from console.core.procedure import INTERVIEW_TEMPLATE, NOTICE_TEXT, default_checklists
from console.dispatch.casefile import CaseFileViewer
from console.dispatch.casefile_pdf import write_case_pdf
from console.dispatch.checklists import ChecklistEditor
from console.dispatch.procedures import ProceduresModel
from console.shell.session import Session
from tests.ui.conftest import copy_db
from tests.ui.test_shell import Shell, ThreadedHub, log_in, make_shell

SCREENSHOT = Path(console.__file__).parent.parent / "docs" / "screenshots" / "casefile.png"
ENTERPRISE = "台州市某某印染有限公司"
ANSWER = "污水处理站昨夜停运检修，今晨恢复"
T0 = datetime(2026, 3, 5, 6, 0, tzinfo=UTC)


def signature_png(text: str) -> bytes:
    image = QImage(320, 110, QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.setPen(QPen(QColor("#0d47a1"), 5))
    painter.drawLine(12, 90, 300, 24)
    painter.drawText(20, 60, text)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.data())


def sample_case() -> dict[str, Any]:
    template = next(t for t in default_checklists() if t.industry != "general").to_json()
    results = ["compliant", "non_compliant", "not_applicable"]
    signs = []
    for role, name in (("party", "钱七"), ("officer", "李四")):
        png = signature_png(name)
        signs.append(
            {
                "role": role,
                "name": name,
                "png_base64": base64.b64encode(png).decode(),
                "sha256": hashlib.sha256(png).hexdigest(),
            }
        )
    question_ids = [q["id"] for q in INTERVIEW_TEMPLATE.to_json()["questions"]]
    data = {
        "checkin": {"lat": 28.02, "lon": 121.41, "accuracy": 8},
        "notify": {"confirmed": True, "officer_ids": ["o1", "o2"]},
        "verify_info": {"confirmed": True, "corrections": {"legal_representative": "王五"}},
        "inspect": {
            "items": [
                {
                    "id": item["id"],
                    "result": results[n % 3],
                    "note": f"说明{n}",
                    "attachment_ids": [],
                }
                for n, item in enumerate(template["items"])
            ],
            "samples": [
                {
                    "sample_id": "S-001",
                    "point": "废水总排口",
                    "pollutants": ["COD", "氨氮"],
                    "taken_at": (T0 + timedelta(minutes=30)).isoformat(),
                }
            ],
        },
        "interview": {
            "answers": [{"question_id": q, "answer": ANSWER} for q in question_ids[:1]]
            + [{"question_id": q, "answer": "是"} for q in question_ids[1:]],
            "interviewee": {"name": "钱七", "position": "环保专员"},
        },
        "sign": {"signatures": signs},
    }
    steps = []
    for n, step in enumerate(("checkin", "notify", "verify_info", "inspect", "interview", "sign")):
        steps.append(
            {
                "step": step,
                "status": "done",
                "started_at": (T0 + timedelta(minutes=10 * n)).isoformat(),
                "finished_at": (T0 + timedelta(minutes=10 * n + 10)).isoformat(),
                "reason": None,
                "data": data[step],
            }
        )
    steps.append(
        {
            "step": "archive",
            "status": "pending",
            "started_at": None,
            "finished_at": None,
            "reason": None,
            "data": {},
        }
    )
    return {
        "case_id": "case-0001",
        "task_id": "task-0001",
        "enterprise": {
            "id": "e1",
            "name": ENTERPRISE,
            "address": "椒江区工业园区1号",
            "credit_code": "91331000MA2AAAAAA1",
        },
        "officers": [
            {"id": "o1", "name": "李四", "badge_no": "33100001"},
            {"id": "o2", "name": "赵六", "badge_no": "33100002"},
        ],
        "template": template,
        "interview_template": INTERVIEW_TEMPLATE.to_json(),
        "notice_text": NOTICE_TEXT,
        "steps": steps,
        "current_step": "archive",
        "chain": {"head": "ab" * 32, "length": 7},
        "sealed": False,
    }


def test_pdf_has_both_forms_text_embedded_fonts_and_signature_images(tmp_path: Path) -> None:
    path = write_case_pdf(sample_case(), tmp_path / "case.pdf")
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    # Noto CJK shares glyphs between ideographs and Kangxi radicals (⼯ U+2F2F for 工), so
    # pdftotext may report the radical: compare in NFKC, which folds them back.
    text = unicodedata.normalize("NFKC", text)
    for expected in ("现场检查笔录", "询问笔录", ENTERPRISE, ANSWER, "S-001", "33100001", "王五"):
        assert unicodedata.normalize("NFKC", expected) in text, expected
    assert text.index("现场检查笔录") < text.index("询问笔录")
    assert "电镀 / 日常检查 第1版" in text  # the template's codes in the form's words
    assert "electroplating" not in text
    images = subprocess.run(
        ["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True
    )
    assert len(images.stdout.strip().splitlines()) - 2 >= 4  # 2 signatures on each form
    fonts = subprocess.run(
        ["pdffonts", str(path)], capture_output=True, text=True, check=True
    ).stdout
    font_rows = fonts.strip().splitlines()[2:]
    assert font_rows, fonts
    assert all(" yes " in row for row in font_rows), fonts


def test_viewer_shows_every_section(qtbot: QtBot) -> None:
    viewer = CaseFileViewer(Session())
    qtbot.addWidget(viewer)
    case = sample_case()
    viewer.show_case(case)
    text = viewer.browser.toPlainText()
    for expected in (
        ENTERPRISE,
        ANSWER,
        "S-001",
        "王五",
        case["template"]["items"][0]["legal_basis"],
        "钱七",
        "李四",
    ):
        assert expected in text, expected
    # Codes in words: the corrected field, the checklist's industry and inspection type.
    assert "更正：法定代表人" in text
    assert "检查表 电镀 / 日常检查" in text
    assert "签到位置 经度 121.41000，纬度 28.02000" in text  # named, not a bare pair
    assert "legal_representative" not in text
    assert "electroplating" not in text
    assert "ab" * 32 in viewer.chain.text()
    assert viewer.export_button.isEnabled()
    viewer.resize(900, 1000)
    viewer.show()
    qtbot.waitExposed(viewer)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert viewer.grab().save(str(SCREENSHOT))


def test_procedures_model_moves_on_with_events() -> None:
    model = ProceduresModel()
    now = datetime.now(UTC)
    started = now - timedelta(minutes=12)
    model.set_rows(
        [
            {
                "task_id": "t1",
                "case_id": "c1",
                "enterprise": {"name": ENTERPRISE},
                "current_step": "notify",
                "step_times": {"checkin": 120.0},
                "started_at": started.isoformat(),
            }
        ]
    )
    row = model.rows[0]
    assert row.step_times == {"checkin": 120.0}
    assert 595 <= row.elapsed_current(model.now) <= 605  # notify began when check-in ended
    model.apply_event(
        {
            "task_id": "t1",
            "case_id": "c1",
            "current_step": "verify_info",
            "step": "notify",
            "status": "done",
            "at": now.isoformat(),
        }
    )
    assert row.current_step == "verify_info"
    assert 595 <= row.step_times["notify"] <= 605
    assert "verify" in model.data(model.index(0, ProceduresModel.CURRENT)).lower() or model.data(
        model.index(0, ProceduresModel.CURRENT)
    ).startswith("3/7")
    model.apply_event(
        {
            "task_id": "t1",
            "current_step": None,
            "step": "archive",
            "status": "done",
            "at": now.isoformat(),
        }
    )
    assert model.rowCount() == 0


@pytest.fixture(scope="module")
def county_hub(
    tmp_path_factory: pytest.TempPathFactory, county_db_template: Path
) -> Iterator[ThreadedHub]:
    hub = ThreadedHub(copy_db(county_db_template, tmp_path_factory.mktemp("casefile-hub")))
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture
def admin(qtbot: QtBot, county_hub: ThreadedHub) -> Iterator[Shell]:
    shell = make_shell(qtbot, county_hub.url)
    yield shell
    shell.link.close()


def test_checklist_editor_saves_a_new_version(qtbot: QtBot, admin: Shell) -> None:
    log_in(qtbot, admin, "admin")
    editor = ChecklistEditor(admin.session)
    qtbot.addWidget(editor)
    editor.reload()
    qtbot.waitUntil(lambda: bool(editor.templates), timeout=10_000)
    group = editor.tree.topLevelItem(0)
    editor.tree.setCurrentItem(group.child(0))
    before = dict(editor.current or {})
    editor.add_item(
        "危险废物贮存场所是否规范", "《固体废物污染环境防治法》第八十一条", True, "new-1"
    )
    with qtbot.waitSignal(editor.sig_saved, timeout=10_000) as saved:
        editor.save()
    assert saved.args[0]["version"] == before["version"] + 1
    assert saved.args[0]["items"][-1]["requires_photo"] is True
    qtbot.waitUntil(
        lambda: (
            sum(
                1
                for t in editor.templates
                if t["industry"] == before["industry"]
                and t["inspection_type"] == before["inspection_type"]
            )
            >= 2
        ),
        timeout=10_000,
    )
