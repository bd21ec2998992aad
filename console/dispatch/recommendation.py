"""What to do with a registered complaint: whom to send, which cases it may duplicate.

Shows the hub's recommendation from the ``complaint.create`` answer: the grid officer (marked
when a substitute stands in for an off-duty one), the three nearest squads with distance and
availability, and duplicate candidates, each with a "merge" action (``complaint.merge``).
The dispatch button has the focus when a recommendation arrives, so Enter pushes the task
(``task.dispatch``) to the officer chosen in the drop-down (the recommended one by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.dispatch.board_model import parse_time
from console.dispatch.labels import category_label, urgency_label
from console.hub.client import HubError
from console.shell.hub_errors import error_text
from console.shell.i18n import format_datetime, tr
from console.shell.session import Session

DISPATCH_METHOD = "task.dispatch"
MERGE_METHOD = "complaint.merge"


def format_distance(metres: object) -> str:
    """``850 m`` or ``3.2 km``; a dash when the hub gave no distance."""
    if not isinstance(metres, int | float):
        return "—"
    return f"{metres:.0f} m" if metres < 1000 else f"{metres / 1000:.1f} km"


def reason_label(reason: str) -> str:
    labels = {
        "nearby_same_category": tr("Same category nearby"),
        "same_enterprise_open": tr("Open case on the same enterprise"),
        "same_enterprise_open_case": tr("Open case on the same enterprise"),
    }
    return labels.get(reason, reason)


class RecommendationPanel(QWidget):
    """See the module docstring; ``show_result`` takes a ``complaint.create`` answer."""

    sig_dispatched = Signal(object)
    """``task.dispatch`` answered; carries the new task dict."""

    sig_message = Signal(str)
    """A status message for the window's status bar."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.result: dict[str, Any] | None = None
        self.busy = False
        self.heading = QLabel(tr("Register a complaint to see whom to send."))
        self.heading.setWordWrap(True)
        self.officer_label = QLabel()
        self.officer_label.setWordWrap(True)
        self.officer = QComboBox()
        self.note = QLineEdit()
        self.note.setPlaceholderText(tr("Optional note for the officer"))
        self.squads = QTableWidget(0, 3)
        self.squads.setHorizontalHeaderLabels([tr("Squad"), tr("Distance"), tr("Available")])
        self.duplicates = QTableWidget(0, 5)
        self.duplicates.setHorizontalHeaderLabels(
            [tr("Complaint"), tr("Distance"), tr("Why"), tr("Received"), tr("Merge")]
        )
        for table in (self.squads, self.duplicates):
            table.verticalHeader().hide()
            table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
            table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            table.setMaximumHeight(130)
        self.duplicates_label = QLabel()
        self.dispatch_button = QPushButton(tr("Dispatch (Enter)"))
        self.dispatch_button.setAutoDefault(True)
        self.dispatch_button.setEnabled(False)
        self.error = QLabel()
        self.error.setStyleSheet("color: #b3261e;")
        self.error.setWordWrap(True)
        self.error.hide()

        form = QFormLayout()
        form.addRow(tr("Grid officer"), self.officer_label)
        form.addRow(tr("Send to"), self.officer)
        form.addRow(tr("Note"), self.note)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.dispatch_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addLayout(form)
        layout.addWidget(QLabel(tr("Nearest squads")))
        layout.addWidget(self.squads)
        layout.addWidget(self.duplicates_label)
        layout.addWidget(self.duplicates)
        layout.addWidget(self.error)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.dispatch_button.clicked.connect(self.dispatch)
        self.note.returnPressed.connect(self.dispatch)

    # ---- public -----------------------------------------------------------------------

    @property
    def complaint_id(self) -> str:
        return "" if self.result is None else str(self.result["complaint"]["id"])

    def show_result(self, result: dict[str, Any]) -> None:
        """Show a ``complaint.create`` answer and give the dispatch button the focus."""
        self.result = result
        self.busy = False
        self.error.hide()
        complaint = result["complaint"]
        location = result.get("location") or {}
        district = (location.get("district") or {}).get("name", "")
        grid = (location.get("grid") or {}).get("name", "")
        self.heading.setText(
            tr(
                "Complaint {id}: {category}, {urgency}. {district} {grid}",
                id=complaint["id"],
                category=category_label(str(complaint.get("category", ""))),
                urgency=urgency_label(str(complaint.get("urgency", ""))),
                district=district,
                grid=grid,
            )
        )
        recommendation = result.get("recommendation") or {}
        officer = recommendation.get("grid_officer")
        self.officer.clear()
        if officer:
            self.officer_label.setText(self._officer_text(officer))
            self.officer.addItem(self._officer_text(officer), officer["id"])
        else:
            self.officer_label.setText(tr("No grid officer found for this point."))
        self._add_other_officers(complaint, officer)
        self._fill_squads(recommendation.get("squads") or [])
        self._fill_duplicates(result.get("duplicates") or [])
        self.dispatch_button.setEnabled(self.officer.count() > 0)
        self.dispatch_button.setFocus(Qt.FocusReason.OtherFocusReason)

    def dispatch(self) -> None:
        """Push the verification task to the chosen officer (``task.dispatch``)."""
        if self.result is None or self.busy or not self.dispatch_button.isEnabled():
            return
        if self.session.hub is None:
            return
        params: dict[str, Any] = {"complaint_id": self.complaint_id}
        officer_id = self.officer.currentData()
        if officer_id:
            params["officer_id"] = officer_id
        if self.note.text().strip():
            params["note"] = self.note.text().strip()
        self.busy = True
        self.dispatch_button.setEnabled(False)
        self.session.hub.request(
            DISPATCH_METHOD, params, on_result=self._on_dispatched, on_error=self._on_error
        )

    def merge(self, into_complaint_id: str) -> None:
        """Merge the shown complaint into an earlier case ("also reported by")."""
        if self.result is None or self.session.hub is None:
            return
        self.session.hub.request(
            MERGE_METHOD,
            {"complaint_id": self.complaint_id, "into_complaint_id": into_complaint_id},
            on_result=lambda _: self._on_merged(into_complaint_id),
            on_error=self._on_error,
        )

    # ---- private ----------------------------------------------------------------------

    def _officer_text(self, officer: Mapping[str, Any]) -> str:
        text = tr(
            "{name}, {distance} away",
            name=officer.get("name", officer.get("id", "")),
            distance=format_distance(officer.get("distance_m")),
        )
        if officer.get("substitute"):
            text += " " + tr("(substitute: the grid officer is off duty)")
        return text

    def _add_other_officers(
        self, complaint: Mapping[str, Any], recommended: Mapping[str, Any] | None
    ) -> None:
        """Let the dispatcher overrule the recommendation with another officer of the district."""
        district = complaint.get("district_adcode")
        skip = recommended.get("id") if recommended else None
        for item in self.session.snapshot.get("officers", []):
            if item.get("district_adcode") == district and item["id"] != skip:
                self.officer.addItem(str(item.get("name", item["id"])), item["id"])

    def _fill_squads(self, squads: list[dict[str, Any]]) -> None:
        self.squads.setRowCount(len(squads))
        for row, squad in enumerate(squads):
            available = tr("Yes") if squad.get("available") else tr("No")
            for column, text in enumerate(
                (
                    str(squad.get("name", squad.get("id"))),
                    format_distance(squad.get("distance_m")),
                    available,
                )
            ):
                self.squads.setItem(row, column, QTableWidgetItem(text))

    def _fill_duplicates(self, duplicates: list[dict[str, Any]]) -> None:
        self.duplicates.setRowCount(len(duplicates))
        self.duplicates_label.setText(
            tr("Possible duplicates: {count}", count=len(duplicates))
            if duplicates
            else tr("No possible duplicates.")
        )
        self.duplicates.setVisible(bool(duplicates))
        for row, duplicate in enumerate(duplicates):
            received = parse_time(duplicate.get("received_at"))
            texts = (
                str(duplicate["complaint_id"]),
                format_distance(duplicate.get("distance_m")),
                reason_label(str(duplicate.get("reason", ""))),
                "" if received is None else format_datetime(received),
            )
            for column, text in enumerate(texts):
                self.duplicates.setItem(row, column, QTableWidgetItem(text))
            button = QPushButton(tr("Merge into this case"))
            button.setAutoDefault(True)
            target = str(duplicate["complaint_id"])
            button.clicked.connect(lambda _=False, target=target: self.merge(target))
            self.duplicates.setCellWidget(row, 4, button)

    def _on_dispatched(self, result: dict[str, Any]) -> None:
        self.busy = False
        task = result["task"]
        self.result = None
        self.note.clear()
        self.heading.setText(tr("Task {id} pushed.", id=task["id"]))
        self.sig_message.emit(tr("Task {id} pushed.", id=task["id"]))
        self.sig_dispatched.emit(task)

    def _on_merged(self, into_complaint_id: str) -> None:
        self.result = None
        self.dispatch_button.setEnabled(False)
        message = tr("Merged into case {id}.", id=into_complaint_id)
        self.heading.setText(message)
        self.sig_message.emit(message)

    def _on_error(self, error: HubError) -> None:
        self.busy = False
        self.dispatch_button.setEnabled(self.result is not None)
        self.error.setText(error_text(error))
        self.error.show()
