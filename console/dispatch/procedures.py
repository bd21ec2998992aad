"""Live progress of every on-site procedure (现场执法流程): current step and time per step.

Rows come from ``procedures.active``. A ``procedure.updated`` event moves a known row on
at once (the finished step's time is fixed at the event's ``at``, the next step's clock
starts there); an event for a procedure the table does not know, or a reconnect, refetches
the whole list. A one-second timer only repaints the running clocks, it never asks the hub.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtWidgets import QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from console.dispatch.board_model import parse_time
from console.hub.client import HubError
from console.shell.hub_errors import error_text
from console.shell.i18n import tr
from console.shell.session import Session

ACTIVE_METHOD = "procedures.active"
UPDATED_TOPIC = "procedure.updated"
TICK_MS = 1000
REFRESH_DELAY_MS = 500

STEPS = ("checkin", "notify", "verify_info", "inspect", "interview", "sign", "archive")
"""The fixed order of the standardised on-site procedure (see the case-file contract)."""


def step_label(step: str) -> str:
    labels = {
        "checkin": tr("Check-in"),
        "notify": tr("Show ID and notify"),
        "verify_info": tr("Verify enterprise info"),
        "inspect": tr("Inspection and sampling"),
        "interview": tr("Interview record"),
        "sign": tr("Print and sign"),
        "archive": tr("Electronic archive"),
    }
    return labels.get(step, step)


def step_abbreviation(step: str) -> str:
    """Short names for the per-step column, where seven full names do not fit."""
    labels = {
        "checkin": tr("Check-in"),
        "notify": tr("Notify"),
        "verify_info": tr("Verify"),
        "inspect": tr("Inspect"),
        "interview": tr("Interview"),
        "sign": tr("Sign"),
        "archive": tr("Archive"),
    }
    return labels.get(step, step)


def format_elapsed(seconds: float) -> str:
    """``m:ss`` below an hour, ``h:mm:ss`` above; negative values (clock skew) show as 0."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _name(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(value.get("name") or value.get("id") or "")
    return "" if value is None else str(value)


@dataclass
class ProcedureRow:
    """One running procedure; ``step_times`` holds finished steps, the clock the current one."""

    task_id: str
    case_id: str
    enterprise: str
    officers: str
    current_step: str
    step_times: dict[str, float]
    current_started: datetime
    started_at: datetime | None
    skipped: set[str] = field(default_factory=set)

    @classmethod
    def from_json(cls, item: Mapping[str, Any], now: datetime) -> ProcedureRow:
        step_times = {str(k): float(v) for k, v in dict(item.get("step_times") or {}).items()}
        current = str(item.get("current_step") or "")
        started_at = parse_time(item.get("started_at"))
        if current in step_times:  # a hub that reports the running step's time so far
            current_started = now - timedelta(seconds=step_times.pop(current))
        elif started_at is not None:  # steps follow each other: it began when the last ended
            current_started = started_at + timedelta(seconds=sum(step_times.values()))
        else:
            current_started = now
        officers = item.get("officers") or []
        return cls(
            task_id=str(item["task_id"]),
            case_id=str(item.get("case_id") or ""),
            enterprise=_name(item.get("enterprise")),
            officers="、".join(_name(o) for o in officers) if isinstance(officers, list) else "",
            current_step=current,
            step_times=step_times,
            current_started=current_started,
            started_at=started_at,
        )

    def elapsed_current(self, now: datetime) -> float:
        return (now - self.current_started).total_seconds()

    def total(self, now: datetime) -> float:
        return sum(self.step_times.values()) + self.elapsed_current(now)

    def apply(self, event: Mapping[str, Any]) -> None:
        """Apply a ``procedure.updated`` event: close ``step`` at ``at``, start the next one."""
        at = parse_time(event.get("at")) or datetime.now(UTC)
        step = str(event.get("step") or "")
        if step and step == self.current_step:
            self.step_times[step] = max(0.0, (at - self.current_started).total_seconds())
            self.current_started = at
        if event.get("status") == "skipped" and step:
            self.skipped.add(step)
        self.current_step = str(event.get("current_step") or "")


class ProceduresModel(QAbstractTableModel):
    """The table behind the dock: one row per active procedure."""

    ENTERPRISE, OFFICERS, CURRENT, CURRENT_ELAPSED, STEP_TIMES, TOTAL = range(6)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[ProcedureRow] = []
        self.now = datetime.now(UTC)
        self._titles = [
            tr("Enterprise"),
            tr("Officers"),
            tr("Current step"),
            tr("In this step"),
            tr("Time per step"),
            tr("Total"),
        ]

    def set_rows(self, items: list[dict[str, Any]]) -> None:
        self.now = datetime.now(UTC)
        self.beginResetModel()
        self.rows = [ProcedureRow.from_json(item, self.now) for item in items]
        self.rows.sort(key=lambda row: (row.started_at or self.now, row.task_id))
        self.endResetModel()

    def row_of(self, task_id: str) -> int:
        return next((i for i, row in enumerate(self.rows) if row.task_id == task_id), -1)

    def apply_event(self, event: Mapping[str, Any]) -> bool:
        """Update the row of the event's task; False when the task is not in the table."""
        index = self.row_of(str(event.get("task_id", "")))
        if index < 0:
            return False
        row = self.rows[index]
        row.apply(event)
        if not row.current_step:  # archived: the case is sealed, the procedure is over
            self.beginRemoveRows(QModelIndex(), index, index)
            del self.rows[index]
            self.endRemoveRows()
        else:
            self.dataChanged.emit(self.index(index, 0), self.index(index, len(self._titles) - 1))
        return True

    def tick(self) -> None:
        """Advance the clocks: only the time columns change."""
        self.now = datetime.now(UTC)
        if self.rows:
            self.dataChanged.emit(
                self.index(0, self.CURRENT_ELAPSED), self.index(len(self.rows) - 1, self.TOTAL)
            )

    def step_times_text(self, row: ProcedureRow) -> str:
        parts = []
        for step in STEPS:
            if step == row.current_step:
                parts.append(
                    f"▶{step_abbreviation(step)} {format_elapsed(row.elapsed_current(self.now))}"
                )
                break
            if step in row.skipped:
                parts.append(f"{step_abbreviation(step)} {tr('skipped')}")
            elif step in row.step_times:
                parts.append(f"{step_abbreviation(step)} {format_elapsed(row.step_times[step])}")
        return " · ".join(parts)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._titles)

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self._titles[section]
        return None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.UserRole:
            return row.case_id or row.task_id
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (
            self.CURRENT_ELAPSED,
            self.TOTAL,
        ):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if column == self.ENTERPRISE:
            return row.enterprise
        if column == self.OFFICERS:
            return row.officers
        if column == self.CURRENT:
            position = STEPS.index(row.current_step) + 1 if row.current_step in STEPS else 0
            return f"{position}/{len(STEPS)} {step_label(row.current_step)}"
        if column == self.CURRENT_ELAPSED:
            return format_elapsed(row.elapsed_current(self.now))
        if column == self.STEP_TIMES:
            return self.step_times_text(row)
        return format_elapsed(row.total(self.now))


class ProceduresPanel(QWidget):
    """The dock's widget; double-clicking a row asks to open that case file."""

    sig_open_case = Signal(str, str)
    """Open the case file of (case_id, task_id); case_id may be "" before the hub made one."""

    sig_message = Signal(str)
    """A status message for the window's status bar."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.model = ProceduresModel(self)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.verticalHeader().hide()
        self.view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(ProceduresModel.STEP_TIMES, QHeaderView.ResizeMode.Stretch)
        self.status = QLabel()
        self.status.setStyleSheet("color: #b3261e;")
        self.status.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.view)
        layout.addWidget(self.status)
        self._clock = QTimer(self)
        self._clock.setInterval(TICK_MS)
        self._clock.timeout.connect(self.model.tick)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_DELAY_MS)
        self._refresh_timer.timeout.connect(self.refresh)
        self.view.doubleClicked.connect(self._on_double_click)
        session.sig_events.connect(self.apply_events)

    def refresh(self) -> None:
        if self.session.hub is None:
            return
        self.session.hub.request(
            ACTIVE_METHOD, {}, on_result=self._on_rows, on_error=self._on_error
        )

    def apply_events(self, events: list[dict[str, Any]]) -> None:
        unknown = False
        for event in events:
            if event.get("topic") != UPDATED_TOPIC:
                continue
            data = event.get("data") or {}
            if not self.model.apply_event(data):
                unknown = True
        if unknown and not self._refresh_timer.isActive():
            self._refresh_timer.start()
        self._update_clock()

    def hideEvent(self, event: Any) -> None:  # noqa: N802
        self._clock.stop()  # nothing to repaint while hidden (and no timer outlives the dock)
        super().hideEvent(event)

    def showEvent(self, event: Any) -> None:  # noqa: N802
        super().showEvent(event)
        self._update_clock()

    def _update_clock(self) -> None:
        if self.model.rows and self.isVisible():
            if not self._clock.isActive():
                self._clock.start()
        else:
            self._clock.stop()

    def _on_rows(self, rows: list[dict[str, Any]]) -> None:
        self.status.hide()
        self.model.set_rows(rows)
        self._update_clock()

    def _on_error(self, error: HubError) -> None:
        self.status.setText(error_text(error))
        self.status.show()

    def _on_double_click(self, index: QModelIndex) -> None:
        row = self.model.rows[index.row()]
        self.sig_open_case.emit(row.case_id, row.task_id)
