"""On-site enforcement procedure (现场执法程序): steps, their order, checklists and interviews.

The procedure is a fixed sequence of seven steps; an officer may skip a step only with a
recorded reason (the case file must show why a legally expected step is missing), and a step
can be recorded only when every earlier one is done or skipped. Archiving cannot be skipped:
it is what seals the case file. Checklist templates are per industry and inspection type and
carry the legal basis of every item so the record can cite it. Pure rules, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from console.core.complaints import require_aware
from console.core.model import Industry

GENERAL_INDUSTRY = "general"
"""Industry key of the fallback checklist (a site that is not a known key enterprise)."""


class Step(StrEnum):
    CHECKIN = "checkin"  # 定位签到
    NOTIFY = "notify"  # 亮证告知
    VERIFY_INFO = "verify_info"  # 企业信息核实
    INSPECT = "inspect"  # 现场检查(采样)
    INTERVIEW = "interview"  # 笔录制作
    SIGN = "sign"  # 打印签名
    ARCHIVE = "archive"  # 电子归档


STEP_ORDER: tuple[Step, ...] = tuple(Step)
UNSKIPPABLE: frozenset[Step] = frozenset({Step.ARCHIVE})


class StepStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    SKIPPED = "skipped"


class InspectionType(StrEnum):
    ROUTINE = "routine"  # 日常检查 (双随机)
    COMPLAINT = "complaint"  # 信访投诉核查


class ItemResult(StrEnum):
    COMPLIANT = "compliant"
    NON_COMPLIANT = "non_compliant"
    NOT_APPLICABLE = "not_applicable"


class SignatureRole(StrEnum):
    PARTY = "party"  # 当事人
    OFFICER = "officer"  # 执法人员


class ProcedureError(Exception):
    """Base of the rule violations; ``code`` is the field protocol's error code."""

    code = "schema"


class StepOutOfOrder(ProcedureError):  # noqa: N818 (protocol code step_out_of_order)
    code = "step_out_of_order"


class SkipNeedsReason(ProcedureError):  # noqa: N818 (protocol code skip_needs_reason)
    code = "skip_needs_reason"


class CaseSealed(ProcedureError):  # noqa: N818 (protocol code case_sealed)
    code = "case_sealed"


class InvalidStepData(ProcedureError):  # noqa: N818 (protocol code schema)
    code = "schema"


# --- templates ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    id: str
    text: str
    legal_basis: str
    requires_photo: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "legal_basis": self.legal_basis,
            "requires_photo": self.requires_photo,
        }


@dataclass(frozen=True, slots=True)
class ChecklistTemplate:
    """One version of the checklist for an industry and inspection type; never edited."""

    industry: str
    inspection_type: InspectionType
    version: int
    items: tuple[ChecklistItem, ...]

    @property
    def id(self) -> str:
        return f"{self.industry}.{self.inspection_type}.v{self.version}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "industry": self.industry,
            "inspection_type": str(self.inspection_type),
            "items": [item.to_json() for item in self.items],
        }


@dataclass(frozen=True, slots=True)
class InterviewQuestion:
    id: str
    text: str
    required: bool = True


@dataclass(frozen=True, slots=True)
class InterviewTemplate:
    id: str
    version: int
    questions: tuple[InterviewQuestion, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "questions": [
                {"id": q.id, "text": q.text, "required": q.required} for q in self.questions
            ],
        }


_EPL = "《中华人民共和国环境保护法》"
_WPL = "《中华人民共和国水污染防治法》"
_APL = "《中华人民共和国大气污染防治法》"
_SWL = "《中华人民共和国固体废物污染环境防治法》"
_PERMIT = "《排污许可管理条例》"
_EIA = "《中华人民共和国环境影响评价法》"

_COMMON: tuple[ChecklistItem, ...] = (
    ChecklistItem("permit", "是否持有有效排污许可证并按证排污", f"{_PERMIT}第二条、第十七条"),
    ChecklistItem("eia", "建设项目环评批复及竣工验收手续是否齐全", f"{_EIA}第二十五条"),
    ChecklistItem(
        "facilities",
        "污染防治设施是否正常运行，有无擅自拆除或闲置",
        f"{_EPL}第四十一条",
        requires_photo=True,
    ),
    ChecklistItem(
        "outlet_sign",
        "排污口是否规范设置并有标志牌",
        f"{_WPL}第二十二条",
        requires_photo=True,
    ),
    ChecklistItem(
        "online_monitoring",
        "自动监测设备是否正常运行、联网，有无篡改伪造监测数据",
        f"{_EPL}第四十二条、第六十三条",
    ),
    ChecklistItem(
        "hazardous_waste",
        "危险废物是否规范贮存、转移联单是否齐全",
        f"{_SWL}第七十七条至第八十二条",
        requires_photo=True,
    ),
    ChecklistItem("ledger", "环境管理台账是否完整、如实记录", f"{_PERMIT}第二十一条"),
)

_INDUSTRY_ITEMS: dict[str, tuple[ChecklistItem, ...]] = {
    Industry.ELECTROPLATING: (
        ChecklistItem(
            "plating_heavy_metal",
            "含铬、镍等重金属废水是否分质分流、车间排口达标",
            f"{_WPL}第四十五条；GB 21900-2008",
            requires_photo=True,
        ),
        ChecklistItem(
            "plating_acid_mist",
            "酸雾收集处理设施是否运行",
            f"{_APL}第四十五条；GB 21900-2008",
            requires_photo=True,
        ),
    ),
    Industry.DYEING: (
        ChecklistItem(
            "dyeing_wastewater",
            "印染废水预处理设施是否运行，出水COD、色度是否达标",
            f"{_WPL}第三十九条；GB 4287-2012",
            requires_photo=True,
        ),
        ChecklistItem(
            "dyeing_sludge",
            "印染污泥是否按规定处置并有记录",
            f"{_SWL}第三十六条",
        ),
    ),
    Industry.PHARMA_CHEMICAL: (
        ChecklistItem(
            "pharma_vocs",
            "挥发性有机物收集处理设施是否运行、无组织排放是否控制",
            f"{_APL}第四十五条、第四十八条；GB 37823-2019",
            requires_photo=True,
        ),
        ChecklistItem(
            "pharma_ldar",
            "是否开展泄漏检测与修复(LDAR)",
            f"{_APL}第四十七条",
        ),
    ),
    Industry.PLASTIC_PELLETS: (
        ChecklistItem(
            "pellet_exhaust",
            "造粒废气收集处理设施是否运行",
            f"{_APL}第四十五条；GB 31572-2015",
            requires_photo=True,
        ),
        ChecklistItem(
            "pellet_washwater",
            "清洗废水是否经处理后排放或回用",
            f"{_WPL}第三十九条",
        ),
    ),
    Industry.BOILER_POWER: (
        ChecklistItem(
            "boiler_desulfurisation",
            "脱硫脱硝除尘设施是否正常运行",
            f"{_APL}第四十三条；GB 13271-2014",
            requires_photo=True,
        ),
        ChecklistItem(
            "boiler_fuel",
            "燃料是否符合要求，有无使用高污染燃料",
            f"{_APL}第三十八条",
        ),
    ),
    Industry.WASTEWATER_PLANT: (
        ChecklistItem(
            "wwtp_effluent",
            "出水水质是否达到 GB 18918-2002 排放标准",
            f"{_WPL}第四十九条；GB 18918-2002",
            requires_photo=True,
        ),
        ChecklistItem(
            "wwtp_bypass",
            "有无超越、旁路排放",
            f"{_WPL}第三十九条、第八十三条",
            requires_photo=True,
        ),
        ChecklistItem(
            "wwtp_sludge",
            "污泥处理处置是否合规并有转运记录",
            f"{_WPL}第五十一条",
        ),
    ),
    GENERAL_INDUSTRY: (),
}

_COMPLAINT_ITEM = ChecklistItem(
    "complaint_issue",
    "投诉反映的问题是否属实",
    f"{_EPL}第五十七条",
    requires_photo=True,
)


def default_checklists() -> tuple[ChecklistTemplate, ...]:
    """Version 1 of every industry x inspection type (what a new store is seeded with)."""
    templates = []
    for industry, specific in _INDUSTRY_ITEMS.items():
        for inspection_type in InspectionType:
            extra = (_COMPLAINT_ITEM,) if inspection_type is InspectionType.COMPLAINT else ()
            templates.append(
                ChecklistTemplate(str(industry), inspection_type, 1, (*extra, *_COMMON, *specific))
            )
    return tuple(templates)


INTERVIEW_TEMPLATE = InterviewTemplate(
    "interview.v1",
    1,
    (
        InterviewQuestion("identity", "请说明您的姓名、职务及与被检查单位的关系。"),
        InterviewQuestion("informed", "我们已出示执法证件并告知您的权利义务，您是否听清楚？"),
        InterviewQuestion("recusal", "您是否申请执法人员回避？"),
        InterviewQuestion("production", "单位目前的生产情况、主要产品和产量如何？"),
        InterviewQuestion("facilities", "污染防治设施的运行情况如何？"),
        InterviewQuestion("findings", "对现场检查发现的问题，您有何陈述和申辩？"),
        InterviewQuestion("other", "您还有什么需要补充的？", required=False),
        InterviewQuestion("confirm", "以上笔录您是否看过，与您所说的是否一致？"),
    ),
)

NOTICE_TEXT = (
    "我们是生态环境保护综合行政执法人员，现出示执法证件，依法对你单位进行现场检查。"
    "根据《中华人民共和国环境保护法》第二十四条，你单位应当如实反映情况，提供必要的资料。"
    "你单位有陈述、申辩的权利；如认为执法人员与本案有利害关系，有申请回避的权利。"
)


def validate_template_items(items: Sequence[ChecklistItem]) -> None:
    """A checklist is usable only with items that have text, a legal basis and unique ids."""
    if not items:
        raise InvalidStepData("a checklist needs at least one item")
    seen: set[str] = set()
    for item in items:
        if not item.id or item.id in seen:
            raise InvalidStepData(f"checklist item ids must be unique and non-empty: {item.id!r}")
        seen.add(item.id)
        if not item.text.strip():
            raise InvalidStepData(f"checklist item {item.id!r} has no text")
        if not item.legal_basis.strip():
            raise InvalidStepData(f"checklist item {item.id!r} has no legal basis")


# --- progress ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepRecord:
    step: Step
    status: StepStatus = StepStatus.PENDING
    started_at: datetime | None = None
    finished_at: datetime | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "step": str(self.step),
            "status": str(self.status),
            "started_at": None if self.started_at is None else self.started_at.isoformat(),
            "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a procedure stands; a step starts when the previous one finished."""

    started_at: datetime
    steps: tuple[StepRecord, ...]
    sealed: bool = False

    @property
    def current_step(self) -> Step | None:
        """The first pending step; None once everything is recorded."""
        for record in self.steps:
            if record.status is StepStatus.PENDING:
                return record.step
        return None

    def record(self, step: Step) -> StepRecord:
        return self.steps[STEP_ORDER.index(step)]

    def step_times(self) -> dict[str, float]:
        """Seconds spent on each finished step (for the console's progress panel)."""
        return {
            str(r.step): (r.finished_at - r.started_at).total_seconds()
            for r in self.steps
            if r.started_at is not None and r.finished_at is not None
        }


def new_progress(started_at: datetime) -> Progress:
    require_aware(started_at, "started_at")
    return Progress(started_at, tuple(StepRecord(step) for step in STEP_ORDER))


def advance(
    progress: Progress, step: Step, at: datetime, *, skip_reason: str | None = None
) -> Progress:
    """Record ``step`` as done (or skipped with a reason); refuses anything out of order.

    A step already recorded may be recorded again (corrections before sealing) only while
    it is the last recorded one, so a later step never rests on data changed under it.
    """
    require_aware(at, "at")
    check_can_record(progress, step, skip_reason)
    index = STEP_ORDER.index(step)
    skipping = skip_reason is not None
    previous_finish = progress.started_at if index == 0 else progress.steps[index - 1].finished_at
    record = StepRecord(
        step,
        StepStatus.SKIPPED if skipping else StepStatus.DONE,
        started_at=previous_finish,
        finished_at=at,
        reason=skip_reason.strip() if skip_reason is not None else None,
    )
    steps = list(progress.steps)
    steps[index] = record
    return replace(progress, steps=tuple(steps), sealed=step is Step.ARCHIVE)


def check_can_record(progress: Progress, step: Step, skip_reason: str | None = None) -> None:
    """Raise unless ``step`` may be recorded now (checked before any data is looked at)."""
    if progress.sealed:
        raise CaseSealed("the case file is sealed: no more changes")
    index = STEP_ORDER.index(step)
    current = progress.current_step
    current_index = len(STEP_ORDER) if current is None else STEP_ORDER.index(current)
    if index != current_index and index != current_index - 1:
        expected = "nothing (the procedure is complete)" if current is None else f"'{current}'"
        raise StepOutOfOrder(f"cannot record '{step}' now: the next step is {expected}")
    if skip_reason is not None and step in UNSKIPPABLE:
        raise SkipNeedsReason(f"'{step}' cannot be skipped")
    if skip_reason is not None and not skip_reason.strip():
        raise SkipNeedsReason(f"skipping '{step}' needs a reason")


# --- step payloads -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignatureImage:
    role: SignatureRole
    name: str
    officer_id: str | None
    png: bytes
    sha256: str


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidStepData(message)


def _text(data: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    _require(isinstance(value, str), f"{where}.{key} must be a string")
    assert isinstance(value, str)
    _require(not required or bool(value.strip()), f"{where}.{key} must not be empty")
    return value


def check_inspect(data: Mapping[str, Any], template: ChecklistTemplate) -> None:
    """Every checklist item answered once; non-compliance on a photo item needs a photo."""
    items = data.get("items")
    _require(isinstance(items, list), "inspect.items must be a list")
    assert isinstance(items, list)
    known = {item.id: item for item in template.items}
    answered: set[str] = set()
    for n, entry in enumerate(items):
        where = f"inspect.items[{n}]"
        _require(isinstance(entry, dict), f"{where} must be an object")
        item_id = _text(entry, "id", where)
        _require(item_id in known, f"{where}: {item_id!r} is not in checklist {template.id}")
        _require(item_id not in answered, f"{where}: {item_id!r} is answered twice")
        answered.add(item_id)
        result = entry.get("result")
        _require(
            result in set(ItemResult), f"{where}.result must be one of {', '.join(ItemResult)}"
        )
        _text(entry, "note", where, required=False)
        ids = entry.get("attachment_ids", [])
        _require(
            isinstance(ids, list) and all(isinstance(i, str) for i in ids),
            f"{where}.attachment_ids must be a list of ids",
        )
        if result == ItemResult.NON_COMPLIANT and known[item_id].requires_photo:
            _require(bool(ids), f"{where}: '{item_id}' is non-compliant and needs photo evidence")
    missing = [item.id for item in template.items if item.id not in answered]
    _require(not missing, f"inspect: checklist items not answered: {', '.join(missing)}")
    samples = data.get("samples", [])
    _require(isinstance(samples, list), "inspect.samples must be a list")
    for n, sample in enumerate(samples):
        where = f"inspect.samples[{n}]"
        _require(isinstance(sample, dict), f"{where} must be an object")
        _text(sample, "sample_id", where)
        _text(sample, "point", where)
        _text(sample, "taken_at", where)
        pollutants = sample.get("pollutants")
        _require(
            isinstance(pollutants, list)
            and bool(pollutants)
            and all(isinstance(p, str) and p for p in pollutants),
            f"{where}.pollutants must be a non-empty list of names",
        )


def inspect_attachment_ids(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(item id, attachment id) pairs of a checked inspect payload."""
    return [
        (str(entry["id"]), str(attachment_id))
        for entry in data.get("items", [])
        for attachment_id in entry.get("attachment_ids", [])
    ]


def check_interview(data: Mapping[str, Any], template: InterviewTemplate) -> None:
    """The interviewee is named and every required question has an answer."""
    interviewee = data.get("interviewee")
    _require(isinstance(interviewee, dict), "interview.interviewee must be an object")
    assert isinstance(interviewee, dict)
    _text(interviewee, "name", "interview.interviewee")
    _text(interviewee, "position", "interview.interviewee")
    _text(interviewee, "id_no", "interview.interviewee", required=False)
    answers = data.get("answers")
    _require(isinstance(answers, list), "interview.answers must be a list")
    assert isinstance(answers, list)
    given: dict[str, str] = {}
    known = {q.id for q in template.questions}
    for n, entry in enumerate(answers):
        where = f"interview.answers[{n}]"
        _require(isinstance(entry, dict), f"{where} must be an object")
        question_id = _text(entry, "question_id", where)
        _require(question_id in known, f"{where}: unknown question {question_id!r}")
        given[question_id] = _text(entry, "answer", where, required=False)
    missing = [q.id for q in template.questions if q.required and not given.get(q.id, "").strip()]
    _require(not missing, f"interview: required questions not answered: {', '.join(missing)}")


def check_signatures(data: Mapping[str, Any]) -> list[SignatureImage]:
    """Decoded signatures: a party and at least one officer, each PNG matching its SHA-256."""
    raw = data.get("signatures")
    _require(isinstance(raw, list) and bool(raw), "sign.signatures must be a non-empty list")
    assert isinstance(raw, list)
    images: list[SignatureImage] = []
    for n, entry in enumerate(raw):
        where = f"sign.signatures[{n}]"
        _require(isinstance(entry, dict), f"{where} must be an object")
        role = entry.get("role")
        _require(role in set(SignatureRole), f"{where}.role must be 'party' or 'officer'")
        name = _text(entry, "name", where)
        officer_id = entry.get("officer_id")
        _require(officer_id is None or isinstance(officer_id, str), f"{where}.officer_id: a string")
        encoded = _text(entry, "png_base64", where)
        try:
            png = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidStepData(f"{where}.png_base64 is not base64") from None
        _require(png.startswith(b"\x89PNG\r\n\x1a\n"), f"{where}: the image is not a PNG")
        digest = hashlib.sha256(png).hexdigest()
        claimed = _text(entry, "sha256", where)
        _require(digest == claimed, f"{where}: SHA-256 of the image is {digest}, not {claimed}")
        images.append(SignatureImage(SignatureRole(str(role)), name, officer_id, png, digest))
    roles = {image.role for image in images}
    _require(SignatureRole.PARTY in roles, "sign: the party (当事人) must sign")
    _require(SignatureRole.OFFICER in roles, "sign: at least one officer must sign")
    return images


def check_notify(data: Mapping[str, Any], officer_ids: Sequence[str]) -> None:
    """Two officers' credentials are shown (law: at least two enforcement officers)."""
    _require(data.get("confirmed") is True, "notify.confirmed must be true")
    shown = data.get("officer_ids")
    _require(
        isinstance(shown, list) and all(isinstance(i, str) for i in shown),
        "notify.officer_ids must be a list of officer ids",
    )
    assert isinstance(shown, list)
    unknown = [i for i in shown if i not in officer_ids]
    _require(not unknown, f"notify: not officers of this case: {', '.join(unknown)}")
    _require(len(set(shown)) >= min(2, len(officer_ids)), "notify: two officers must be shown")


def check_verify_info(data: Mapping[str, Any]) -> None:
    _require(isinstance(data.get("confirmed"), bool), "verify_info.confirmed must be a boolean")
    corrections = data.get("corrections", {})
    _require(
        isinstance(corrections, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in corrections.items()),
        "verify_info.corrections must map field names to strings",
    )
