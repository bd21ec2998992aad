"""Case-file viewer (电子案卷): every step with its data, evidence, signatures and hash chain.

The file comes from ``case.get``. Photos are fetched like the task timeline's attachments:
``attachment.url`` gives a short-lived signed path on the hub's HTTP side, downloaded with
QNetworkAccessManager (never blocking the GUI) and shown as thumbnails. "Verify" asks the
hub's ``case.verify``; a hub without that method gets the chain head shown instead, which
the ``verify-case`` command line can check against the store.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QImage, QTextDocument
from PySide6.QtNetwork import QNetworkAccessManager, QNetworkReply, QNetworkRequest
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from console.dispatch.casefile_pdf import (
    chain_head,
    checklist_rows,
    enterprise_facts,
    interview_pairs,
    signatures,
    step_data,
    write_case_pdf,
)
from console.dispatch.procedures import STEPS, step_label
from console.dispatch.timeline import format_time
from console.hub.client import HubError
from console.shell.domain_labels import (
    enterprise_field_label,
    industry_label,
    inspection_type_label,
)
from console.shell.hub_errors import error_text
from console.shell.i18n import tr
from console.shell.session import Session

GET_METHOD = "case.get"
VERIFY_METHOD = "case.verify"
ATTACHMENT_URL_METHOD = "attachment.url"
UNKNOWN_METHOD = "unknown_method"
THUMBNAIL_PX = 120
PDF_PHOTO_PX = 480


def result_label(result: str) -> str:
    labels = {
        "compliant": tr("Compliant"),
        "non_compliant": tr("Non-compliant"),
        "not_applicable": tr("Not applicable"),
    }
    return labels.get(result, tr("Not checked"))


def status_label(status: str) -> str:
    labels = {"pending": tr("Pending"), "done": tr("Done"), "skipped": tr("Skipped")}
    return labels.get(status, status)


def http_base(hub_url: str) -> str:
    """``ws://host:port/ws/console`` -> ``http://host:port`` (the hub serves both)."""
    parts = urlsplit(hub_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"not a hub websocket URL: {hub_url!r}")
    return f"{scheme}://{parts.netloc}"


def problem_text(problem: object) -> str:
    """One alteration of a ``case.verify`` report (``{where, what, detail}``) as a line."""
    if isinstance(problem, Mapping):
        return f"{problem.get('where', '')} {problem.get('what', '')}: {problem.get('detail', '')}"
    return str(problem)


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    table = '<table border="1" cellspacing="0" cellpadding="3" width="100%">'
    return f"{table}<tr>{head}</tr>{body}</table>"


class CaseFileViewer(QWidget):
    """See the module docstring; ``load`` shows a case, ``export_pdf`` writes the forms."""

    sig_message = Signal(str)
    """A status message for the window's status bar."""

    sig_loaded = Signal(str)
    """A case file (this case id) was loaded and shown."""

    sig_verified = Signal(object)
    """The hash-chain check finished: the hub's answer, or None when it cannot verify."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.case: dict[str, Any] = {}
        self.images: dict[str, tuple[QImage, str]] = {}  # attachment id -> (image, sha256)
        self._requested_photos: set[str] = set()
        self._network = QNetworkAccessManager(self)
        self.header = QLabel(tr("Open a procedure to see its case file."))
        self.header.setWordWrap(True)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.chain = QLabel()
        self.chain.setWordWrap(True)
        self.chain.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.refresh_button = QPushButton(tr("Refresh"))
        self.verify_button = QPushButton(tr("Verify chain"))
        self.export_button = QPushButton(tr("Export PDF…"))
        for button in (self.refresh_button, self.verify_button, self.export_button):
            button.setEnabled(False)
        self.browser = QTextBrowser()
        self.browser.setOpenLinks(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.verify_button)
        buttons.addWidget(self.export_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.header)
        layout.addLayout(buttons)
        layout.addWidget(self.browser, 1)
        layout.addWidget(self.chain)
        self.refresh_button.clicked.connect(self.reload)
        self.verify_button.clicked.connect(self.verify)
        self.export_button.clicked.connect(self._ask_export)
        session.sig_events.connect(self.apply_events)

    # ---- loading ---------------------------------------------------------------------------

    def load(self, case_id: str = "", task_id: str = "") -> None:
        """Fetch and show the case file of ``case_id`` (or of the task's procedure)."""
        if self.session.hub is None:
            return
        if not case_id and not task_id:
            raise ValueError("load() needs a case_id or a task_id")
        params = {"case_id": case_id} if case_id else {"task_id": task_id}
        self.session.hub.request(
            GET_METHOD, params, on_result=self.show_case, on_error=self._on_error
        )

    def reload(self) -> None:
        if self.case:
            self.load(str(self.case.get("case_id") or ""), str(self.case.get("task_id") or ""))

    def apply_events(self, events: list[dict[str, Any]]) -> None:
        """Reload when the shown procedure moved on (at most once per batch)."""
        shown = self.case.get("case_id"), self.case.get("task_id")
        for event in events:
            data = event.get("data") or {}
            if event.get("topic") == "procedure.updated" and (
                (data.get("case_id") and data.get("case_id") == shown[0])
                or (data.get("task_id") and data.get("task_id") == shown[1])
            ):
                self.reload()
                return

    def show_case(self, case: dict[str, Any]) -> None:
        if not isinstance(case, dict) or not (case.get("case_id") or case.get("task_id")):
            self._show_problem(tr("The hub sent no case file."))
            return
        if case.get("case_id") != self.case.get("case_id"):
            self.images.clear()
            self._requested_photos.clear()
        self.case = case
        facts = enterprise_facts(case)
        sealed = tr("sealed") if case.get("sealed") else tr("open")
        self.header.setText(
            tr(
                "Case {case_id} · {enterprise} · {state}",
                case_id=case.get("case_id", ""),
                enterprise=facts.get("name", ""),
                state=sealed,
            )
        )
        head = chain_head(case)
        self.chain.setText(tr("Hash-chain head: {head}", head=head or "—"))
        for button in (self.refresh_button, self.verify_button, self.export_button):
            button.setEnabled(True)
        self._render()
        self._fetch_photos()
        self.sig_loaded.emit(str(case.get("case_id", "")))

    # ---- rendering -------------------------------------------------------------------------

    def _render(self) -> None:
        case = self.case
        document = self.browser.document()
        signs = signatures(case, self.images)
        for index, signature in enumerate(signs):
            if not signature.image.isNull():
                document.addResource(
                    QTextDocument.ResourceType.ImageResource,
                    QUrl(f"signature:{index}"),
                    signature.image.scaledToHeight(60, Qt.TransformationMode.SmoothTransformation),
                )
        for attachment_id, (image, _digest) in self.images.items():
            document.addResource(
                QTextDocument.ResourceType.ImageResource,
                QUrl(f"photo:{attachment_id}"),
                image.scaled(
                    THUMBNAIL_PX,
                    THUMBNAIL_PX,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                ),
            )
        parts = [
            self._steps_html(),
            self._enterprise_html(),
            self._checklist_html(),
            self._samples_html(),
            self._interview_html(),
            self._signatures_html(signs),
        ]
        position = self.browser.verticalScrollBar().value()
        self.browser.setHtml("".join(parts))
        self.browser.verticalScrollBar().setValue(position)

    def _steps_html(self) -> str:
        by_step = {r.get("step"): r for r in self.case.get("steps") or [] if isinstance(r, Mapping)}
        rows = []
        for number, step in enumerate(STEPS, start=1):
            record = by_step.get(step, {})
            rows.append(
                [
                    str(number),
                    _e(step_label(step)),
                    _e(status_label(str(record.get("status", "pending")))),
                    _e(format_time(record.get("started_at"))),
                    _e(format_time(record.get("finished_at"))),
                    _e(record.get("reason") or ""),
                ]
            )
        checkin = step_data(self.case, "checkin")
        where = ""
        if "lat" in checkin and "lon" in checkin:
            where = _e(
                tr(
                    "Check-in at longitude {lon:.5f}, latitude {lat:.5f} (±{accuracy} m)",
                    lat=float(checkin["lat"]),
                    lon=float(checkin["lon"]),
                    accuracy=checkin.get("accuracy", "?"),
                )
            )
        return (
            f"<h3>{_e(tr('Procedure steps'))}</h3>"
            + _table(
                ["#", tr("Step"), tr("Status"), tr("Started"), tr("Finished"), tr("Reason")], rows
            )
            + (f"<p>{where}</p>" if where else "")
        )

    def _enterprise_html(self) -> str:
        facts = enterprise_facts(self.case)
        data = step_data(self.case, "verify_info")
        corrections = dict(data.get("corrections") or {})
        officers = "、".join(
            f"{o.get('name', '')} ({o.get('badge_no', '')})"
            for o in self.case.get("officers") or []
        )
        rows = [
            [_e(tr("Enterprise")), _e(facts.get("name"))],
            [_e(tr("Address")), _e(facts.get("address"))],
            [_e(tr("Legal representative")), _e(facts.get("legal_representative"))],
            [_e(tr("Officers")), _e(officers)],
        ]
        if data:
            confirmed = tr("Confirmed") if data.get("confirmed") else tr("Not confirmed")
            rows.append([_e(tr("Verification")), _e(confirmed)])
        for key, value in corrections.items():
            label = enterprise_field_label(key)
            rows.append([_e(tr("Corrected: {field}", field=label)), _e(value)])
        return f"<h3>{_e(tr('Enterprise and officers'))}</h3>" + _table(
            [tr("Item"), tr("Value")], rows
        )

    def _checklist_html(self) -> str:
        template = self.case.get("template") or {}
        rows = []
        for number, item in enumerate(checklist_rows(self.case), start=1):
            photos = "".join(
                f'<img src="photo:{_e(a)}"> '
                if str(a) in self.images
                else _e(tr("[photo {id}]", id=a)) + " "
                for a in item.get("attachment_ids") or []
            )
            if item.get("requires_photo") and not item.get("attachment_ids"):
                photos = (
                    f'<span style="color:#b3261e">{_e(tr("Photo required but missing"))}</span>'
                )
            rows.append(
                [
                    str(number),
                    _e(item.get("text")),
                    _e(item.get("legal_basis")),
                    _e(result_label(str(item.get("result", "")))),
                    _e(item.get("note") or ""),
                    photos,
                ]
            )
        title = tr(
            "Checklist {industry} / {kind}, version {version}",
            industry=industry_label(str(template.get("industry", ""))),
            kind=inspection_type_label(str(template.get("inspection_type", ""))),
            version=template.get("version", ""),
        )
        return f"<h3>{_e(title)}</h3>" + _table(
            ["#", tr("Item"), tr("Legal basis"), tr("Result"), tr("Note"), tr("Photos")], rows
        )

    def _samples_html(self) -> str:
        rows = [
            [
                _e(s.get("sample_id")),
                _e(s.get("point")),
                _e("、".join(map(str, s.get("pollutants") or []))),
                _e(format_time(s.get("taken_at"))),
            ]
            for s in step_data(self.case, "inspect").get("samples") or []
        ]
        body = (
            _table([tr("Sample"), tr("Sampling point"), tr("Pollutants"), tr("Taken at")], rows)
            if rows
            else f"<p>{_e(tr('No samples taken.'))}</p>"
        )
        return f"<h3>{_e(tr('Samples'))}</h3>{body}"

    def _interview_html(self) -> str:
        interviewee = step_data(self.case, "interview").get("interviewee") or {}
        who = tr(
            "Interviewee: {name}, {position}",
            name=interviewee.get("name", ""),
            position=interviewee.get("position", ""),
        )
        pairs = "".join(
            f"<p><b>{_e(tr('Q'))}{n}:</b> {_e(q)}<br><b>{_e(tr('A'))}{n}:</b> {_e(a)}</p>"
            for n, (q, a) in enumerate(interview_pairs(self.case), start=1)
        )
        return f"<h3>{_e(tr('Interview record'))}</h3><p>{_e(who)}</p>{pairs}"

    def _signatures_html(self, signs: list[Any]) -> str:
        cells = []
        for index, signature in enumerate(signs):
            role = tr("Party") if signature.role == "party" else tr("Officer")
            check = tr("hash matches") if signature.hash_ok else tr("HASH MISMATCH")
            image = f'<img src="signature:{index}"><br>' if not signature.image.isNull() else ""
            cells.append(
                f"<td>{image}{_e(role)}: {_e(signature.name)}<br><small>{_e(check)}</small></td>"
            )
        body = (
            f'<table border="1" cellspacing="0" cellpadding="4"><tr>{"".join(cells)}</tr></table>'
            if cells
            else f"<p>{_e(tr('Not signed yet.'))}</p>"
        )
        return f"<h3>{_e(tr('Signatures'))}</h3>{body}"

    # ---- photos ----------------------------------------------------------------------------

    def _fetch_photos(self) -> None:
        hub = self.session.hub
        if hub is None:
            return
        photos = {
            str(a)
            for item in step_data(self.case, "inspect").get("items") or []
            for a in item.get("attachment_ids") or []
        }
        filed_signatures = {
            str(s["attachment_id"])
            for s in step_data(self.case, "sign").get("signatures") or []
            if s.get("attachment_id")
        }
        wanted = (photos | filed_signatures) - self._requested_photos
        for attachment_id in sorted(wanted):
            self._requested_photos.add(attachment_id)
            hub.request(
                ATTACHMENT_URL_METHOD,
                {"attachment_id": attachment_id},
                on_result=lambda answer, a=attachment_id: self._download(a, answer),
                on_error=self._on_error,
            )

    def _download(self, attachment_id: str, answer: dict[str, Any]) -> None:
        """Fetch one attachment from the hub's HTTP side (signed, short-lived path)."""
        hub = self.session.hub
        if hub is None or not str(answer.get("mime", "image/")).startswith("image/"):
            return
        url = QUrl(http_base(hub.url) + str(answer["path"]))
        reply = self._network.get(QNetworkRequest(url))
        reply.finished.connect(lambda: self._on_downloaded(attachment_id, reply))

    def _on_downloaded(self, attachment_id: str, reply: QNetworkReply) -> None:
        reply.deleteLater()
        if reply.error() != QNetworkReply.NetworkError.NoError:
            self.sig_message.emit(
                tr(
                    "Photo {id} could not be fetched: {error}",
                    id=attachment_id,
                    error=reply.errorString(),
                )
            )
            return
        content = bytes(reply.readAll().data())
        image = QImage.fromData(content)
        if image.isNull():
            return
        self.images[attachment_id] = (
            image.scaled(
                PDF_PHOTO_PX,
                PDF_PHOTO_PX,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            ),
            hashlib.sha256(content).hexdigest(),
        )
        self._render()

    # ---- chain and export ------------------------------------------------------------------

    def verify(self) -> None:
        """Ask the hub to re-check the hash chain; without ``case.verify``, show the head."""
        if self.session.hub is None or not self.case:
            return
        self.chain.setText(tr("Verifying…"))
        self.session.hub.request(
            VERIFY_METHOD,
            {"case_id": self.case.get("case_id")},
            on_result=self._on_verified,
            on_error=self._on_verify_error,
        )

    def _on_verified(self, answer: dict[str, Any]) -> None:
        head = answer.get("head") or chain_head(self.case)
        if answer.get("ok"):
            text = tr(
                "Chain intact ({count} entries), head {head}",
                count=answer.get("entries", "?"),
                head=head,
            )
            self.chain.setStyleSheet("color: #1b5e20;")
        else:
            listed = [problem_text(p) for p in answer.get("problems") or []]
            problems = "; ".join(listed) or tr("unknown")
            text = tr("Chain ALTERED: {problems}", problems=problems)
            self.chain.setStyleSheet("color: #b3261e; font-weight: bold;")
        self.chain.setText(text)
        self.sig_verified.emit(answer)

    def _on_verify_error(self, error: HubError) -> None:
        if error.code == UNKNOWN_METHOD:
            self.chain.setText(
                tr(
                    "The hub cannot verify chains; head {head} (check with verify-case).",
                    head=chain_head(self.case) or "—",
                )
            )
            self.chain.setStyleSheet("")
            self.sig_verified.emit(None)
            return
        self._on_error(error)

    def export_pdf(self, path: str | Path) -> Path:
        """Write the shown case file as 现场检查笔录 + 询问笔录 to ``path``."""
        if not self.case:
            raise ValueError("no case file is shown")
        written = write_case_pdf(self.case, path, self.images)
        self.sig_message.emit(tr("Case file exported to {path}", path=str(written)))
        return written

    def _ask_export(self) -> None:
        name = f"{self.case.get('case_id') or self.case.get('task_id')}.pdf"
        path, _filter = QFileDialog.getSaveFileName(self, tr("Export PDF…"), name, "PDF (*.pdf)")
        if path:
            try:
                self.export_pdf(path)
            except OSError as exc:
                self._show_problem(tr("Export failed: {error}", error=str(exc)))

    def _on_error(self, error: HubError) -> None:
        self._show_problem(error_text(error))

    def _show_problem(self, text: str) -> None:
        self.sig_message.emit(text)
        self.chain.setText(text)
        self.chain.setStyleSheet("color: #b3261e;")
