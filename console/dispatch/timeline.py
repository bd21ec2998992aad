"""The selected task's timeline and the actions a dispatcher may take on it.

Everything comes from ``task.get`` (task, events, complaint, outbox, attachments) and is
reloaded when a ``task.updated`` event for the shown task carries a newer version. Action
buttons are exactly ``allowed_actions(kind, state)`` that the user's role may do
(``console.core.tasks``: the single source of truth). Every action sends the version the
dispatcher was looking at; when someone else changed the task first the hub answers
``conflict``, the panel says so and shows the current task instead of guessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.core.tasks import ROLE_ACTIONS, Action, ActorRole, TaskKind, TaskState, allowed_actions
from console.dispatch.attachments import AttachmentList
from console.dispatch.board_model import parse_time
from console.dispatch.labels import (
    action_label,
    kind_label,
    outbox_label,
    state_label,
    urgency_label,
)
from console.hub.client import HubError
from console.shell.hub_errors import error_text
from console.shell.i18n import format_datetime, tr
from console.shell.session import Session

GET_METHOD = "task.get"
ACTION_METHOD = "task.action"
CONFLICT = "conflict"

# action -> payload fields the dialog asks for: (key, required)
ACTION_FIELDS: Mapping[Action, tuple[tuple[str, bool], ...]] = {
    Action.DELIVER: (("note", False),),
    Action.ACCEPT: (("note", False),),
    Action.DEPART: (("note", False),),
    Action.ARRIVE: (("note", False),),
    Action.VERIFY_CONFIRMED: (("findings", True),),
    Action.VERIFY_UNFOUNDED: (("findings", True),),
    Action.COMPLETE_PROCEDURE: (("findings", False),),
    Action.CLOSE: (("note", False),),
    Action.ARCHIVE: (),
    Action.CANCEL: (("reason", True),),
    Action.REOPEN: (("reason", True), ("to", True)),
    Action.REASSIGN: (("reason", True), ("to", True)),
    Action.HAND_OVER: (("reason", True), ("to_org_id", True)),
    Action.ESCALATE: (("squad_id", True),),
}


def field_label(key: str) -> str:
    labels = {
        "note": tr("Note"),
        "findings": tr("Findings"),
        "reason": tr("Reason"),
        "to": tr("New assignee"),
        "to_org_id": tr("Hand over to"),
        "squad_id": tr("Squad"),
    }
    return labels[key]


def format_time(value: object) -> str:
    parsed = parse_time(value)
    return "" if parsed is None else format_datetime(parsed, seconds=True)


def actions_for(task: Mapping[str, Any], role: str) -> list[Action]:
    """The actions the UI offers: legal from the task's state and allowed for ``role``."""
    try:
        kind, state, actor = TaskKind(task["kind"]), TaskState(task["state"]), ActorRole(role)
    except (KeyError, ValueError):
        return []
    return [a for a in allowed_actions(kind, state) if a in ROLE_ACTIONS[actor]]


class ActionDialog(QDialog):
    """Asks for the payload of one action (reason, new assignee …); empty ones are left out."""

    def __init__(
        self,
        action: Action,
        task: Mapping[str, Any],
        snapshot: Mapping[str, Any],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.action = action
        self.setWindowTitle(action_label(action))
        self.fields: dict[str, QLineEdit | QComboBox] = {}
        self.required = {key for key, required in ACTION_FIELDS[action] if required}
        form = QFormLayout()
        for key, _required in ACTION_FIELDS[action]:
            widget = self._field(key, task, snapshot)
            self.fields[key] = widget
            form.addRow(field_label(key), widget)
        self.error = QLabel()
        self.error.setStyleSheet("color: #b3261e;")
        self.error.hide()
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def payload(self) -> dict[str, Any] | None:
        """The payload, or None (with a message) when a required field is empty."""
        payload: dict[str, Any] = {}
        for key, widget in self.fields.items():
            value = widget.currentData() if isinstance(widget, QComboBox) else widget.text()
            value = str(value or "").strip()
            if value:
                payload[key] = value
            elif key in self.required:
                self.error.setText(tr("{field} is required.", field=field_label(key)))
                self.error.show()
                return None
        return payload

    def accept(self) -> None:
        if self.payload() is not None:
            super().accept()

    def _field(
        self, key: str, task: Mapping[str, Any], snapshot: Mapping[str, Any]
    ) -> QLineEdit | QComboBox:
        if key == "to":
            combo = QComboBox()
            if task.get("kind") == TaskKind.ENFORCEMENT:
                people = snapshot.get("squads", [])
            else:
                people = [
                    o
                    for o in snapshot.get("officers", [])
                    if o.get("district_adcode") == task.get("district_adcode")
                ]
            for item in people:
                combo.addItem(str(item.get("name", item["id"])), item["id"])
            return combo
        if key == "squad_id":
            combo = QComboBox()
            for item in snapshot.get("squads", []):
                combo.addItem(str(item.get("name", item["id"])), item["id"])
            return combo
        if key == "to_org_id":
            combo = QComboBox()
            organisations = {o["id"]: o for o in snapshot.get("organisations", [])}
            owner = organisations.get(task.get("owner_org_id"))
            parent_id = owner.get("parent_id") if owner else None
            for org in organisations.values():
                if org["id"] == parent_id or org.get("parent_id") == task.get("owner_org_id"):
                    combo.addItem(str(org["name"]), org["id"])
            return combo
        return QLineEdit()


class TaskTimeline(QWidget):
    """See the module docstring. ``perform(action, payload)`` is what the buttons call."""

    sig_message = Signal(str)
    """A status message for the window's status bar."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.task: dict[str, Any] | None = None
        self.details: dict[str, Any] = {}
        self.header = QLabel(tr("Select a task on the board."))
        self.header.setWordWrap(True)
        self.complaint = QLabel()
        self.complaint.setWordWrap(True)
        self.notice = QLabel()
        self.notice.setStyleSheet("color: #b26a00; font-weight: bold;")
        self.notice.setWordWrap(True)
        self.notice.hide()
        self.events = QTreeWidget()
        self.events.setHeaderLabels(
            [tr("Time"), tr("Action"), tr("State"), tr("By"), tr("Details")]
        )
        self.events.setRootIsDecorated(False)
        self.delivery = QLabel()
        self.delivery.setWordWrap(True)
        self.attachments = AttachmentList(session)
        self.attachments.sig_message.connect(self.sig_message)
        self.buttons = QHBoxLayout()
        self.action_buttons: dict[Action, QPushButton] = {}
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(self.complaint)
        layout.addWidget(self.notice)
        layout.addLayout(self.buttons)
        layout.addWidget(self.events, 1)
        layout.addWidget(self.delivery)
        layout.addWidget(QLabel(tr("Attachments")))
        layout.addWidget(self.attachments)
        session.sig_task_changed.connect(self.load)
        session.sig_events.connect(self.apply_events)

    # ---- public -----------------------------------------------------------------------

    def load(self, task_id: str) -> None:
        """Show ``task_id`` (``task.get``); "" clears the panel."""
        if not task_id:
            self.task = None
            self.details = {}
            self.header.setText(tr("Select a task on the board."))
            self._rebuild()
            return
        if self.session.hub is None:
            return
        self.session.hub.request(
            GET_METHOD, {"task_id": task_id}, on_result=self._on_details, on_error=self._on_error
        )

    def reload(self) -> None:
        if self.task is not None:
            self.load(str(self.task["id"]))

    def perform(self, action: Action, payload: dict[str, Any]) -> None:
        """Send ``action`` with the version on screen; a conflict refreshes the view."""
        if self.task is None or self.session.hub is None:
            return
        self.notice.hide()
        self.session.hub.request(
            ACTION_METHOD,
            {
                "task_id": self.task["id"],
                "action": action.value,
                "expected_version": int(self.task["version"]),
                "payload": payload,
            },
            on_result=self._on_action_done,
            on_error=self._on_action_error,
        )

    def ask_and_perform(self, action: Action) -> None:
        """Ask for the action's payload (if it has fields), then perform it."""
        if self.task is None:
            return
        if not ACTION_FIELDS[action]:
            self.perform(action, {})
            return
        dialog = ActionDialog(action, self.task, self.session.snapshot, self)
        try:
            if dialog.exec() == QDialog.DialogCode.Accepted:
                payload = dialog.payload()
                if payload is not None:
                    self.perform(action, self._complete(action, payload))
        finally:
            dialog.deleteLater()

    def apply_events(self, events: list[dict[str, Any]]) -> None:
        """Reload when the shown task changed elsewhere (a newer version arrived, or a
        note such as an officer's report was added without changing the version)."""
        if self.task is None:
            return
        for event in events:
            if event.get("topic") not in ("task.updated", "task.overdue"):
                continue
            data = event.get("data") or {}
            task = data.get("task") or {}
            if task.get("id") == self.task["id"] and (
                int(task.get("version", 0)) > int(self.task["version"]) or "note" in data
            ):
                self.reload()
                return

    # ---- private ----------------------------------------------------------------------

    def _complete(self, action: Action, payload: dict[str, Any]) -> dict[str, Any]:
        """Add what the dialog derives rather than asks: the hand-over direction."""
        if action is Action.HAND_OVER and self.task is not None:
            organisations = {o["id"]: o for o in self.session.snapshot.get("organisations", [])}
            owner = organisations.get(self.task.get("owner_org_id")) or {}
            up = owner.get("parent_id") == payload.get("to_org_id")
            payload["direction"] = "up" if up else "down"
        return payload

    def _on_details(self, details: dict[str, Any]) -> None:
        self.details = details
        self.task = details["task"]
        self._rebuild()

    def _show_task(self, task: dict[str, Any]) -> None:
        self.task = task
        self._rebuild()

    def _rebuild(self) -> None:
        task = self.task
        self.events.clear()
        for button in self.action_buttons.values():
            self.buttons.removeWidget(button)
            button.deleteLater()
        self.action_buttons = {}
        if task is None:
            self.complaint.clear()
            self.delivery.clear()
            self.attachments.set_attachments("", [])
            return
        self.header.setText(
            tr(
                "{title} · {kind} · {state} · {urgency} · due {deadline} · version {version}",
                title=task.get("title") or task["id"],
                kind=kind_label(str(task.get("kind", ""))),
                state=state_label(str(task.get("state", ""))),
                urgency=urgency_label(str(task.get("urgency", ""))),
                deadline=format_time(task.get("deadline")),
                version=task.get("version", ""),
            )
        )
        complaint = self.details.get("complaint") or {}
        self.complaint.setText(
            tr(
                "Complaint {id}: {description}",
                id=complaint.get("id", ""),
                description=complaint.get("description", ""),
            )
            if complaint
            else ""
        )
        for event in self.details.get("events", []):
            payload = event.get("payload") or {}
            by = " / ".join(str(event.get(k) or "") for k in ("user", "seat") if event.get(k))
            item = QTreeWidgetItem(
                [
                    format_time(event.get("at")),
                    action_label(str(event.get("action", ""))),
                    state_label(str(event.get("to_state", ""))),
                    by,
                    "; ".join(f"{k}: {v}" for k, v in payload.items()),
                ]
            )
            self.events.addTopLevelItem(item)
        for column in range(self.events.columnCount() - 1):  # details take what is left
            self.events.resizeColumnToContents(column)
        deliveries = [
            tr(
                "#{seq} {kind}: delivered {delivered}, acknowledged {acked}",
                seq=entry.get("seq", ""),
                kind=outbox_label(str(entry.get("kind", ""))),
                delivered=format_time(entry.get("delivered_at")) or tr("not yet"),
                acked=format_time(entry.get("acked_at")) or tr("not yet"),
            )
            for entry in self.details.get("outbox", [])
        ]
        self.delivery.setText("\n".join(deliveries))
        self.attachments.set_attachments(str(task["id"]), self.details.get("attachments", []))
        role = str((self.session.user or {}).get("role", ""))
        for action in actions_for(task, role):
            button = QPushButton(action_label(action))
            button.clicked.connect(lambda _=False, action=action: self.ask_and_perform(action))
            self.buttons.addWidget(button)
            self.action_buttons[action] = button

    def _on_action_done(self, result: dict[str, Any]) -> None:
        self._show_task(result["task"])
        self.sig_message.emit(
            tr(
                "Task {id}: {state}.",
                id=result["task"]["id"],
                state=state_label(str(result["task"].get("state", ""))),
            )
        )
        self.reload()  # the timeline gains the new event

    def _on_action_error(self, error: HubError) -> None:
        if error.code == CONFLICT:
            current = error.data.get("task") if isinstance(error.data, dict) else None
            if isinstance(current, dict):
                self._show_task(current)
            self.notice.setText(
                tr(
                    "Someone else changed this task first; showing its current state. "
                    "Check it and try again."
                )
            )
            self.notice.show()
            self.reload()
            return
        self._on_error(error)

    def _on_error(self, error: HubError) -> None:
        self.notice.setText(error_text(error))
        self.notice.show()
