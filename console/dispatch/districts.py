"""District status mini-table (区县态势): tasks by state, overdue, median time to verification.

Rows come from ``district.status``. Task events only mark the table stale; one single-shot
timer refetches at most every ``REFRESH_DELAY_MS`` however many events a burst brings.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
)
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import QHeaderView, QTableView, QVBoxLayout, QWidget

from console.core.tasks import TaskState
from console.dispatch.board_model import OVERDUE_BACKGROUND
from console.hub.client import HubError
from console.shell.hub_errors import error_text
from console.shell.i18n import tr
from console.shell.session import Session

STATUS_METHOD = "district.status"
REFRESH_DELAY_MS = 2000

_WORKING = (TaskState.ACCEPTED, TaskState.EN_ROUTE, TaskState.ON_SITE)
_VERIFIED = (
    TaskState.VERIFIED_CONFIRMED,
    TaskState.VERIFIED_UNFOUNDED,
    TaskState.PROCEDURE_COMPLETE,
)
_DONE = (TaskState.CLOSED, TaskState.ARCHIVED)


def format_duration(seconds: object) -> str:
    """``1 h 05 min`` / ``12 min``; a dash when there is no median yet."""
    if not isinstance(seconds, int | float):
        return "—"
    minutes = int(seconds // 60)
    hours, minutes = divmod(minutes, 60)
    return tr("{h} h {m:02d} min", h=hours, m=minutes) if hours else tr("{m} min", m=minutes)


class DistrictStatusModel(QAbstractTableModel):
    """One row per district of the ``district.status`` answer."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[dict[str, Any]] = []
        self._titles = [
            tr("District"),
            tr("Complaints today"),
            tr("Awaiting dispatch"),
            tr("Open"),
            tr("Overdue"),
            tr("Assigned"),
            tr("Delivered"),
            tr("Working"),
            tr("Verified"),
            tr("Closed"),
            tr("Median to verification"),
        ]

    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

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
        if role == Qt.ItemDataRole.BackgroundRole and index.column() == 4 and row.get("overdue"):
            return QBrush(OVERDUE_BACKGROUND)
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        by_state: dict[str, int] = row.get("by_state") or {}

        def count(states: tuple[TaskState, ...]) -> int:
            return sum(int(by_state.get(state, 0)) for state in states)

        values: list[Any] = [
            row.get("name") or row.get("adcode", ""),
            row.get("complaints_today", 0),
            row.get("awaiting_dispatch", 0),
            row.get("open", 0),
            row.get("overdue", 0),
            count((TaskState.ASSIGNED,)),
            count((TaskState.DELIVERED,)),
            count(_WORKING),
            count(_VERIFIED),
            count(_DONE),
            format_duration(row.get("median_verification_s")),
        ]
        return values[index.column()]


class DistrictStatusTable(QWidget):
    """The mini-table; refreshed on login and (throttled) on task events."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.model = DistrictStatusModel(self)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.verticalHeader().hide()
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.view)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_DELAY_MS)
        self._refresh_timer.timeout.connect(self.refresh)
        session.sig_events.connect(self.apply_events)

    def refresh(self) -> None:
        if self.session.hub is None:
            return
        self.session.hub.request(
            STATUS_METHOD, {}, on_result=self.model.set_rows, on_error=self._on_error
        )

    def apply_events(self, events: list[dict[str, Any]]) -> None:
        relevant = any(str(e.get("topic", "")).startswith(("task.", "complaint.")) for e in events)
        if relevant and not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _on_error(self, error: HubError) -> None:
        # The table keeps its last rows; the next event or login tries again.
        self.view.setToolTip(error_text(error))
