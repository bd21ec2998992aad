"""PDF of a case file laid out like the paper forms 现场检查笔录 and 询问笔录.

The console renders the PDF itself from the ``case.get`` answer (the contract lets the hub
or the console do it): the console already has the fonts and Qt's PDF engine, and the hub
stays free of Qt. The forms are legal documents in Chinese whatever the UI language, so
their wording is fixed here and not passed through ``tr``.

Layout: a QTextDocument (boxed tables, numbered rows, signature images as document
resources) printed to a QPdfWriter. Qt's PDF engine embeds a subset of every font it uses,
so the file shows the same Chinese text on a machine without Noto CJK.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMarginsF, QSizeF, QUrl
from PySide6.QtGui import (
    QFont,
    QImage,
    QPageLayout,
    QPageSize,
    QPdfWriter,
    QTextDocument,
)

from console.dispatch.board_model import parse_time
from console.shell.i18n import tr

FORM_FONT_FAMILIES = ["Noto Sans CJK SC", "Noto Serif CJK SC", "sans-serif"]
PDF_RESOLUTION_DPI = 300
RESULT_TEXT = {"compliant": "符合", "non_compliant": "不符合", "not_applicable": "不适用"}
ROLE_TEXT = {"party": "被检查单位（当事人）", "officer": "执法人员"}
INDUSTRY_TEXT = {
    "dyeing": "印染",
    "electroplating": "电镀",
    "pharma_chemical": "医化",
    "plastic_pellets": "塑料造粒",
    "boiler_power": "锅炉/电厂",
    "wastewater_plant": "污水处理厂",
}
INSPECTION_TEXT = {"routine": "日常检查", "complaint": "信访投诉核查"}


# ---- reading a ``case.get`` answer ---------------------------------------------------------


def step_record(case: Mapping[str, Any], step: str) -> Mapping[str, Any]:
    """The record of ``step`` (status, times, reason, data); empty when not reached."""
    for record in case.get("steps") or []:
        if isinstance(record, Mapping) and record.get("step") == step:
            return record
    return {}


def step_data(case: Mapping[str, Any], step: str) -> Mapping[str, Any]:
    """The payload the device sent for ``step`` (``steps[].data`` or ``data[step]``)."""
    data = step_record(case, step).get("data")
    if isinstance(data, Mapping):
        return data
    by_step = case.get("data")
    if isinstance(by_step, Mapping) and isinstance(by_step.get(step), Mapping):
        result: Mapping[str, Any] = by_step[step]
        return result
    return {}


def enterprise_facts(case: Mapping[str, Any]) -> dict[str, str]:
    """The enterprise file with the corrections confirmed on site (企业信息核实) applied."""
    facts = {
        str(k): "" if v is None else str(v) for k, v in dict(case.get("enterprise") or {}).items()
    }
    corrections = step_data(case, "verify_info").get("corrections") or {}
    facts.update({str(k): str(v) for k, v in dict(corrections).items()})
    return facts


def chain_head(case: Mapping[str, Any]) -> str:
    """The hash-chain head of the case file, wherever the hub put it."""
    chain = case.get("chain")
    if isinstance(chain, Mapping) and chain.get("head"):
        return str(chain["head"])
    for key in ("chain_head", "head_hash"):
        if case.get(key):
            return str(case[key])
    return ""


@dataclass(frozen=True, slots=True)
class Signature:
    """One signature of the ``sign`` step with its decoded image and hash check."""

    role: str
    name: str
    officer_id: str
    image: QImage
    hash_ok: bool


def signatures(
    case: Mapping[str, Any], images: Mapping[str, tuple[QImage, str]] | None = None
) -> list[Signature]:
    """Decode the signatures of the ``sign`` step.

    The device sends ``png_base64``; the hub files the PNG as an attachment and keeps only
    ``attachment_id`` + ``sha256``, so those images come from ``images`` (attachment id ->
    (image, SHA-256 of the downloaded bytes)). ``hash_ok`` says whether the bytes match.
    """
    images = images or {}
    result = []
    for item in step_data(case, "sign").get("signatures") or []:
        expected = str(item.get("sha256", "")).lower()
        image, actual = QImage(), ""
        if item.get("png_base64"):
            try:
                png = base64.b64decode(str(item["png_base64"]), validate=True)
            except (binascii.Error, ValueError):
                png = b""
            image = QImage.fromData(png, "PNG") if png else QImage()
            actual = hashlib.sha256(png).hexdigest() if png else ""
        elif str(item.get("attachment_id", "")) in images:
            image, actual = images[str(item["attachment_id"])]
        result.append(
            Signature(
                role=str(item.get("role", "")),
                name=str(item.get("name", "")),
                officer_id=str(item.get("officer_id") or ""),
                image=image,
                hash_ok=bool(actual) and actual == expected,
            )
        )
    return result


def checklist_rows(case: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Template items joined with the inspection results, in template order."""
    template = case.get("template") or {}
    results = {
        str(r.get("id")): r
        for r in step_data(case, "inspect").get("items") or []
        if isinstance(r, Mapping)
    }
    rows = []
    for item in template.get("items") or []:
        result = results.pop(str(item.get("id")), {})
        rows.append({**dict(item), **{k: v for k, v in result.items() if k != "id"}})
    rows.extend(dict(r) for r in results.values())  # results for items no longer in the template
    return rows


def interview_pairs(case: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(question, answer) in the template's order; unknown question ids keep their id."""
    questions = {
        str(q.get("id")): str(q.get("text", ""))
        for q in (case.get("interview_template") or {}).get("questions") or []
    }
    return [
        (
            questions.get(str(a.get("question_id")), str(a.get("question_id", ""))),
            str(a.get("answer", "")),
        )
        for a in step_data(case, "interview").get("answers") or []
    ]


def officers_text(case: Mapping[str, Any]) -> str:
    return "、".join(
        f"{o.get('name', '')}（执法证号 {o.get('badge_no', '')}）"
        for o in case.get("officers") or []
    )


def form_time(value: object) -> str:
    """``2026年03月05日14时05分`` in local time, as written on the paper forms."""
    parsed = parse_time(value)
    return "" if parsed is None else parsed.astimezone().strftime("%Y年%m月%d日%H时%M分")


# ---- the forms -----------------------------------------------------------------------------

_STYLE = """
body { font-size: 10pt; }
h1 { font-size: 16pt; text-align: center; margin: 0; }
.number { text-align: right; font-size: 9pt; }
table.box { border-collapse: collapse; }
td, th { padding: 3px; vertical-align: middle; }
th { background-color: #f0f0f0; font-weight: bold; }
td.label { width: 22%; font-weight: bold; background-color: #f7f7f7; }
.caption { font-weight: bold; font-size: 11pt; margin-top: 6px; }
.qa { margin: 3px 0; }
.footer { font-size: 8pt; color: #555555; }
"""


def _joined(value: object) -> str:
    return "、".join(map(str, value)) if isinstance(value, list) else str(value)


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _box(rows: Sequence[str], widths: Sequence[int] = ()) -> str:
    columns = "".join(f'<col width="{w}%">' for w in widths)
    body = "".join(rows)
    return (
        '<table class="box" border="1" cellspacing="0" cellpadding="3" width="100%" '
        f'style="border-color: #000000;">{columns}{body}</table>'
    )


def _wide(label: str, value: object) -> str:
    """A header row: label cell and one value cell spanning the rest of the box."""
    return f'<tr><td class="label">{label}</td><td colspan="3">{_e(value)}</td></tr>'


def _pair(label: str, value: object, label2: str, value2: object) -> str:
    """A header row with two label/value pairs."""
    return (
        f'<tr><td class="label">{label}</td><td>{_e(value)}</td>'
        f'<td class="label">{label2}</td><td>{_e(value2)}</td></tr>'
    )


def _signature_block(signs: Sequence[Signature], sealed_at: str) -> str:
    """Signature lines: party and officers side by side, image (or a blank line) over the
    printed name, and the date; one table row so it never breaks across pages."""

    def cell(role: str) -> str:
        people = [
            (f'<img src="signature:{i}" height="40"><br>' if not s.image.isNull() else "")
            + _e(s.name)
            for i, s in enumerate(signs)
            if s.role == role
        ]
        return "<br>".join(people) or "<br><br>____________________"

    return _box(
        [
            f"<tr><th>{ROLE_TEXT['party']}签名</th><th>{ROLE_TEXT['officer']}签名</th>"
            "<th>日期</th></tr>",
            f'<tr><td align="center">{cell("party")}</td><td align="center">{cell("officer")}</td>'
            f'<td align="center">{_e(sealed_at)}</td></tr>',
        ],
        (38, 38, 24),
    )


def inspection_form(
    case: Mapping[str, Any], signs: Sequence[Signature], photo_ids: set[str]
) -> str:
    """现场检查笔录: boxed header, numbered checklist rows, samples, findings, signatures."""
    facts = enterprise_facts(case)
    checkin = step_record(case, "checkin")
    finished = step_record(case, "sign").get("finished_at") or step_record(case, "inspect").get(
        "finished_at"
    )
    template = case.get("template") or {}
    started = form_time(checkin.get("started_at") or checkin.get("finished_at"))
    header = _box(
        [
            _wide("被检查单位", facts.get("name")),
            _wide("地址", facts.get("address")),
            _pair(
                "法定代表人",
                facts.get("legal_representative"),
                "统一社会信用代码",
                facts.get("credit_code"),
            ),
            _wide("检查时间", f"{started} 至 {form_time(finished)}"),
            _wide("检查人员及执法证号", officers_text(case)),
            _wide("告知事项", case.get("notice_text")),
        ],
        (22, 30, 20, 28),
    )
    items = [
        "<tr><th>序号</th><th>检查内容</th><th>法律依据</th><th>检查结果</th><th>情况说明</th></tr>"
    ]
    for number, row in enumerate(checklist_rows(case), start=1):
        result = RESULT_TEXT.get(str(row.get("result", "")), "未检查")
        photos = "".join(
            f'<br><img src="photo:{_e(a)}" height="60">'
            for a in row.get("attachment_ids") or []
            if str(a) in photo_ids
        )
        items.append(
            f'<tr><td align="center">{number}</td><td>{_e(row.get("text"))}</td>'
            f'<td>{_e(row.get("legal_basis"))}</td><td align="center">{result}</td>'
            f"<td>{_e(row.get('note'))}{photos}</td></tr>"
        )
    samples = [
        "<tr><th>序号</th><th>样品编号</th><th>采样点位</th><th>监测项目</th><th>采样时间</th></tr>"
    ]
    for number, sample in enumerate(step_data(case, "inspect").get("samples") or [], start=1):
        pollutants = sample.get("pollutants") or []
        samples.append(
            f'<tr><td align="center">{number}</td><td>{_e(sample.get("sample_id"))}</td>'
            f"<td>{_e(sample.get('point'))}</td>"
            f"<td>{_e(_joined(pollutants))}</td>"
            f"<td>{_e(form_time(sample.get('taken_at')))}</td></tr>"
        )
    findings = [
        f"第{n}项 {row.get('text', '')}：{row.get('note') or '不符合要求'}"
        for n, row in enumerate(checklist_rows(case), start=1)
        if row.get("result") == "non_compliant"
    ]
    findings_text = "；".join(findings) + "。" if findings else "未发现环境违法行为。"
    names = (
        INDUSTRY_TEXT.get(str(template.get("industry")), template.get("industry")),
        INSPECTION_TEXT.get(str(template.get("inspection_type")), template.get("inspection_type")),
    )
    kind = " / ".join(str(name) for name in names if name)
    return (
        "<h1>现场检查笔录</h1>"
        f'<p class="number">案卷编号：{_e(case.get("case_id"))}　'
        f"检查表：{_e(kind)} 第{_e(template.get('version', ''))}版</p>"
        f"{header}"
        '<p class="caption">一、检查情况</p>'
        f"{_box(items, (7, 33, 25, 12, 23))}"
        '<p class="caption">二、现场采样</p>'
        f"{_box(samples, (7, 23, 25, 25, 20)) if len(samples) > 1 else '<p>本次检查未采样。</p>'}"
        '<p class="caption">三、检查发现的问题</p>'
        f"<p>{_e(findings_text)}</p>"
        '<p class="caption">以上笔录经核对无误。</p>'
        f"{_signature_block(signs, form_time(finished))}"
    )


def interview_form(case: Mapping[str, Any], signs: Sequence[Signature]) -> str:
    """询问笔录: boxed header (time, place, interviewer, interviewee), numbered Q/A, signatures."""
    facts = enterprise_facts(case)
    record = step_record(case, "interview")
    interviewee = step_data(case, "interview").get("interviewee") or {}
    officers = case.get("officers") or []
    asker = officers[0].get("name", "") if officers else ""
    writer = officers[1].get("name", "") if len(officers) > 1 else asker
    period = f"{form_time(record.get('started_at'))} 至 {form_time(record.get('finished_at'))}"
    header = _box(
        [
            _wide("询问时间", period),
            _wide("询问地点", f"{facts.get('name', '')} {facts.get('address', '')}"),
            _pair("询问人", asker, "记录人", writer),
            _pair("被询问人", interviewee.get("name"), "职务", interviewee.get("position")),
            _wide("身份证号", interviewee.get("id_no")),
            _wide("工作单位", facts.get("name")),
        ],
        (18, 32, 18, 32),
    )
    pairs = "".join(
        f'<p class="qa"><b>问{n}：</b>{_e(question)}</p>'
        f'<p class="qa"><b>答{n}：</b>{_e(answer)}</p>'
        for n, (question, answer) in enumerate(interview_pairs(case), start=1)
    )
    return (
        '<h1 style="page-break-before: always;">询问笔录</h1>'
        f'<p class="number">案卷编号：{_e(case.get("case_id"))}</p>'
        f"{header}"
        f'<p class="qa">{_e(case.get("notice_text"))}</p>'
        f"{pairs or '<p>（无问答记录）</p>'}"
        '<p class="caption">以上笔录我已看过，与我说的相符。</p>'
        f"{_signature_block(signs, form_time(record.get('finished_at')))}"
    )


def case_document(
    case: Mapping[str, Any], images: Mapping[str, tuple[QImage, str]] | None = None
) -> QTextDocument:
    """Both forms in one document, images registered as resources (for print or preview).

    ``images``: downloaded attachments (photos and filed signatures), id -> (image, SHA-256).
    """
    images = dict(images or {})
    signs = signatures(case, images)
    photos = {a: image for a, (image, _digest) in images.items()}
    document = QTextDocument()
    font = QFont()
    font.setFamilies(FORM_FONT_FAMILIES)
    font.setPointSizeF(10)
    # The Chinese 'locl' forms of Latin digits have no Unicode mapping in the embedded subset,
    # so text extracted from the PDF (search, archive indexing) would lose them.
    font.setFeature(QFont.Tag.fromString("locl"), 0)
    document.setDefaultFont(font)
    document.setDefaultStyleSheet(_STYLE)
    for index, signature in enumerate(signs):
        if not signature.image.isNull():
            document.addResource(
                QTextDocument.ResourceType.ImageResource,
                QUrl(f"signature:{index}"),
                signature.image,
            )
    for attachment_id, image in photos.items():
        document.addResource(
            QTextDocument.ResourceType.ImageResource, QUrl(f"photo:{attachment_id}"), image
        )
    head = chain_head(case)
    footer = f'<p class="footer">电子归档哈希链头：{_e(head)}</p>' if head else ""
    document.setHtml(
        f"<html><body>{inspection_form(case, signs, set(photos))}{footer}"
        f"{interview_form(case, signs)}{footer}</body></html>"
    )
    return document


def write_case_pdf(
    case: Mapping[str, Any],
    path: str | Path,
    images: Mapping[str, tuple[QImage, str]] | None = None,
) -> Path:
    """Write the A4 PDF of ``case`` to ``path``; returns the path."""
    target = Path(path)
    if not case.get("case_id") and not case.get("task_id"):
        raise ValueError("not a case file: it has neither case_id nor task_id")
    writer = QPdfWriter(str(target))
    writer.setResolution(PDF_RESOLUTION_DPI)
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(18, 16, 18, 16),
            QPageLayout.Unit.Millimeter,
        )
    )
    writer.setTitle(tr("Case file {case_id}", case_id=case.get("case_id", "")))
    writer.setCreator("智慧执法指挥调度台")
    document = case_document(case, images)
    # Lay the text out on the page's width in points so fonts keep their printed size.
    page = writer.pageLayout().paintRect(QPageLayout.Unit.Point)
    document.setPageSize(QSizeF(page.width(), page.height()))
    document.print_(writer)
    del writer  # QPdfWriter finishes the file when it is destroyed
    if not target.is_file() or target.stat().st_size == 0:
        raise OSError(f"the PDF {target} could not be written")
    return target
