"""Complaint intake (信访登记): a keyboard-first form that sends ``complaint.create``.

The location is given one of three ways: coordinates typed in any datum (WGS84, GCJ-02 from
Amap/Tencent, BD-09 from Baidu; the hub converts), an enterprise picked from a completer over
the snapshot's enterprises, or a point chosen on the map (``Session.sig_new_complaint_at``).
Validation runs before anything is sent and puts its message under the offending field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.core.complaints import Category, Channel, Urgency, mask_phone
from console.core.geo import Datum
from console.dispatch.attachments import ComplaintFiles
from console.dispatch.labels import category_label, channel_label, urgency_label
from console.hub.client import HubError
from console.shell.hub_errors import error_text
from console.shell.i18n import tr
from console.shell.session import Session

CREATE_METHOD = "complaint.create"
ERROR_STYLE = "color: #b3261e;"
MAX_DESCRIPTION = 4000


def datum_label(datum: Datum) -> str:
    labels = {
        Datum.WGS84: tr("WGS84 (GPS)"),
        Datum.GCJ02: tr("GCJ-02 (Amap/Tencent)"),
        Datum.BD09: tr("BD-09 (Baidu)"),
    }
    return labels[datum]


@dataclass(frozen=True, slots=True)
class EnterpriseChoice:
    """What the enterprise completer resolves a name to."""

    id: str
    name: str
    lon: float
    lat: float


def enterprise_key(enterprise: Mapping[str, Any]) -> str:
    """The completer text of an enterprise: its name, and its address to tell twins apart."""
    address = enterprise.get("address") or ""
    return f"{enterprise['name']} · {address}" if address else str(enterprise["name"])


def check_phone(phone: str) -> str | None:
    """Why ``phone`` is not acceptable (translated), or None; empty means anonymous."""
    if not phone.strip():
        return None
    try:
        mask_phone(phone)
    except ValueError:
        return tr("Use digits, spaces, '-', '+' and parentheses only.")
    digits = sum(ch.isdigit() for ch in phone)
    if not 7 <= digits <= 15:
        return tr("A phone number has 7 to 15 digits.")
    return None


def parse_coordinate(text: str, low: float, high: float) -> float | None:
    """A finite number in [low, high], or None."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and low <= value <= high else None


class IntakePanel(QWidget):
    """The intake form; see the module docstring. ``submit()`` is bound to Ctrl+Enter."""

    sig_created = Signal(object)
    """``complaint.create`` answered: the result dict (complaint, location, recommendation …)."""

    sig_message = Signal(str)
    """A status message for the window's status bar."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._enterprises: dict[str, EnterpriseChoice] = {}
        self.enterprise_id: str | None = None
        self.busy = False

        self.channel = QComboBox()
        for channel in Channel:
            self.channel.addItem(channel_label(channel), channel.value)
        self.category = QComboBox()
        for category in Category:
            self.category.addItem(category_label(category), category.value)
        self.urgency = QComboBox()
        for urgency in Urgency:
            self.urgency.addItem(urgency_label(urgency), urgency.value)
        self.reporter_name = QLineEdit()
        self.reporter_name.setPlaceholderText(tr("Leave empty if anonymous"))
        self.reporter_phone = QLineEdit()
        self.reporter_phone.setPlaceholderText(tr("e.g. 138 1234 5678"))
        self.description = QPlainTextEdit()
        self.description.setTabChangesFocus(True)
        self.description.setPlaceholderText(tr("What, where, since when"))
        self.description.setMaximumHeight(90)
        self.enterprise = QLineEdit()
        self.enterprise.setPlaceholderText(tr("Type an enterprise name…"))
        self._names = QStringListModel(self)
        self.completer = QCompleter(self._names, self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.enterprise.setCompleter(self.completer)
        self.datum = QComboBox()
        for datum in Datum:
            self.datum.addItem(datum_label(datum), datum.value)
        self.lon = QLineEdit()
        self.lon.setPlaceholderText(tr("Longitude"))
        self.lat = QLineEdit()
        self.lat.setPlaceholderText(tr("Latitude"))
        self.submit_button = QPushButton(tr("Submit (Ctrl+Enter)"))
        self.clear_button = QPushButton(tr("Clear"))
        self.form_error = QLabel()
        self.form_error.setStyleSheet(ERROR_STYLE)
        self.form_error.setWordWrap(True)
        self.form_error.hide()
        self.files = ComplaintFiles(session)
        self.files.sig_uploaded.connect(self._on_file_uploaded)

        self.errors: dict[str, QLabel] = {}
        form = QFormLayout()
        form.addRow(tr("Channel"), self.channel)
        form.addRow(tr("Category"), self.category)
        form.addRow(tr("Urgency"), self.urgency)
        form.addRow(tr("Reporter"), self._with_error("reporter_name", self.reporter_name))
        form.addRow(tr("Phone"), self._with_error("reporter_phone", self.reporter_phone))
        form.addRow(tr("Description"), self._with_error("description", self.description))
        form.addRow(tr("Enterprise"), self._with_error("enterprise", self.enterprise))
        coordinates = QHBoxLayout()
        coordinates.addWidget(self.datum)
        coordinates.addWidget(self.lon)
        coordinates.addWidget(self.lat)
        holder = QWidget()
        holder.setLayout(coordinates)
        coordinates.setContentsMargins(0, 0, 0, 0)
        form.addRow(tr("Coordinates"), self._with_error("location", holder))
        form.addRow(tr("Files"), self.files)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.clear_button)
        buttons.addWidget(self.submit_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.form_error)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.setTabOrder(self.lat, self.submit_button)

        for key in ("Ctrl+Return", "Ctrl+Enter"):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(self.submit)
        self.submit_button.clicked.connect(self.submit)
        self.clear_button.clicked.connect(self.clear)
        self.completer.activated.connect(self._choose_enterprise)
        self.enterprise.textEdited.connect(self._enterprise_edited)
        session.sig_snapshot_changed.connect(self.set_snapshot)
        if session.snapshot:
            self.set_snapshot(session.snapshot)

    # ---- public -----------------------------------------------------------------------

    def set_snapshot(self, snapshot: Mapping[str, Any]) -> None:
        """Offer the snapshot's enterprises in the completer."""
        choices: dict[str, EnterpriseChoice] = {}
        for item in snapshot.get("enterprises", []):
            choices[enterprise_key(item)] = EnterpriseChoice(
                str(item["id"]), str(item["name"]), float(item["lon"]), float(item["lat"])
            )
        self._enterprises = choices
        self._names.setStringList(sorted(choices))

    def start(self) -> None:
        """Begin a new complaint: focus the first field (Ctrl+N)."""
        self.channel.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def set_location(self, lon: float, lat: float, datum: Datum = Datum.WGS84) -> None:
        """Fill the coordinates (e.g. from the map's "new complaint here")."""
        self.datum.setCurrentIndex(list(Datum).index(datum))
        self.lon.setText(format(lon, ".6f"))
        self.lat.setText(format(lat, ".6f"))

    def choose_enterprise(self, key: str) -> bool:
        """Pick the enterprise shown as ``key`` in the completer; False if there is none."""
        choice = self._enterprises.get(key)
        if choice is None:
            return False
        self.enterprise.setText(key)
        self.enterprise_id = choice.id
        self.set_location(choice.lon, choice.lat, Datum.WGS84)
        return True

    def params(self) -> dict[str, Any] | None:
        """The ``complaint.create`` params, or None after showing what is wrong."""
        self._clear_errors()
        ok = True
        description = self.description.toPlainText().strip()
        if not description:
            ok = self._fail("description", tr("Describe what is being reported."))
        elif len(description) > MAX_DESCRIPTION:
            ok = self._fail("description", tr("At most {count} characters.", count=MAX_DESCRIPTION))
        phone_problem = check_phone(self.reporter_phone.text())
        if phone_problem is not None:
            ok = self._fail("reporter_phone", phone_problem)
        if self.enterprise.text().strip() and self.enterprise_id is None:
            ok = self._fail("enterprise", tr("Choose an enterprise from the list, or clear it."))
        lon = parse_coordinate(self.lon.text(), -180.0, 180.0)
        lat = parse_coordinate(self.lat.text(), -90.0, 90.0)
        if not self.lon.text().strip() and not self.lat.text().strip():
            ok = self._fail(
                "location", tr("Give coordinates, pick an enterprise or choose a point on the map.")
            )
        elif lon is None or lat is None:
            ok = self._fail(
                "location", tr("Longitude must be -180…180 and latitude -90…90 (decimal degrees).")
            )
        if not ok or lon is None or lat is None:
            return None
        params: dict[str, Any] = {
            "channel": self.channel.currentData(),
            "category": self.category.currentData(),
            "urgency": self.urgency.currentData(),
            "reporter_name": self.reporter_name.text().strip(),
            "reporter_phone": self.reporter_phone.text().strip(),
            "description": description,
            "lon": lon,
            "lat": lat,
            "crs": self.datum.currentData(),
        }
        if self.enterprise_id is not None:
            params["enterprise_id"] = self.enterprise_id
        return params

    def submit(self) -> None:
        """Validate and send ``complaint.create`` (Ctrl+Enter)."""
        if self.busy:
            return
        params = self.params()
        if params is None or self.session.hub is None:
            return
        self.busy = True
        self.submit_button.setEnabled(False)
        self.session.hub.request(
            CREATE_METHOD, params, on_result=self._on_created, on_error=self._on_error
        )

    def clear(self) -> None:
        """Empty the form for the next complaint (the drop-downs keep their choice)."""
        for edit in (self.reporter_name, self.reporter_phone, self.enterprise, self.lon, self.lat):
            edit.clear()
        self.description.clear()
        self.enterprise_id = None
        self.datum.setCurrentIndex(0)
        self.files.clear()
        self._clear_errors()

    # ---- private ----------------------------------------------------------------------

    def _with_error(self, name: str, field: QWidget) -> QWidget:
        """``field`` with an (initially hidden) error line under it."""
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(1)
        layout.addWidget(field)
        label = QLabel()
        label.setStyleSheet(ERROR_STYLE)
        label.setWordWrap(True)
        label.hide()
        layout.addWidget(label)
        self.errors[name] = label
        return box

    def _fail(self, name: str, message: str) -> bool:
        self.errors[name].setText(message)
        self.errors[name].show()
        return False

    def _clear_errors(self) -> None:
        for label in (*self.errors.values(), self.form_error):
            label.clear()
            label.hide()

    def _choose_enterprise(self, key: str) -> None:
        self.choose_enterprise(key)

    def _enterprise_edited(self, text: str) -> None:
        # Typing after a choice invalidates it until a new one is picked.
        self.enterprise_id = None
        exact = self._enterprises.get(text)
        if exact is not None:
            self.choose_enterprise(text)

    def _on_created(self, result: dict[str, Any]) -> None:
        self.busy = False
        self.submit_button.setEnabled(True)
        complaint = result.get("complaint", {})
        self.files.upload(str(complaint.get("id", "")))  # before clear(): it keeps them then
        self.clear()
        self.sig_message.emit(tr("Complaint {id} registered.", id=complaint.get("id", "")))
        self.sig_created.emit(result)

    def _on_file_uploaded(self, attachment: dict[str, Any]) -> None:
        self.sig_message.emit(
            tr(
                "File {name} attached to complaint {id}.",
                name=attachment.get("name", ""),
                id=attachment.get("complaint_id", ""),
            )
        )

    def _on_error(self, error: HubError) -> None:
        self.busy = False
        self.submit_button.setEnabled(True)
        self.form_error.setText(
            tr("The hub refused the complaint: {reason}", reason=error_text(error))
        )
        self.form_error.show()
