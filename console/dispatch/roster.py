"""The officer roster: who is online, when each officer was last seen, battery, duty, task.

``RosterModel`` holds the rows of ``officers.roster`` and keeps them live from the hub's
``officer.presence``, ``officer.moved`` and ``task.updated`` events (one batch per
``session.sig_events``); ``OfficerRoster`` is the dock's widget around it: search, an
online/offline filter, "last seen" ages that tick every few seconds, double-click to select
the officer (the map follows the selection), and a context menu to enrol a device or revoke
an officer's tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QMenu,
    QMessageBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from console.dispatch.board_model import parse_time
from console.dispatch.enrol import EnrolDialog
from console.hub.client import HubError
from console.shell.hub_errors import error_text
from console.shell.i18n import tr
from console.shell.session import Session

ROSTER_METHOD = "officers.roster"
ENROL_METHOD = "officer.enrol"
REVOKE_METHOD = "officer.revoke"
ROSTER_TOPICS = ("officer.presence", "officer.moved", "task.updated")
AGE_TICK_MS = 5_000
# Task states in which the task is the officer's current job (as the hub ranks them).
CURRENT_STATES = frozenset({"assigned", "delivered", "accepted", "en_route", "on_site"})

Index = QModelIndex | QPersistentModelIndex
Row = dict[str, Any]


def relative_age(then: datetime | None, now: datetime) -> str:
    """ "12 s ago", "5 min ago" …; "never" when the officer was never seen."""
    if then is None:
        return tr("never")
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 5:
        return tr("just now")
    if seconds < 60:
        return tr("{count} s ago", count=seconds)
    if seconds < 3600:
        return tr("{count} min ago", count=seconds // 60)
    if seconds < 86_400:
        return tr("{count} h ago", count=seconds // 3600)
    return tr("{count} d ago", count=seconds // 86_400)


def duty_label(duty: str) -> str:
    labels = {"on_duty": tr("On duty"), "off_duty": tr("Off duty"), "on_leave": tr("On leave")}
    return labels.get(duty, duty)


class RosterModel(QAbstractTableModel):
    """Officer rows keyed by id; see the module docstring."""

    COLUMNS = ("name", "online", "last_seen", "battery", "duty", "current_task_id")

    sig_task_finished = Signal(str)
    """A task shown as someone's current task left the open states (the hub knows the next)."""

    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        super().__init__()
        self._now = now or (lambda: datetime.now(UTC))
        self._rows: list[Row] = []
        self._index: dict[str, int] = {}

    # ---- Qt model ---------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        titles = (
            tr("Officer"),
            tr("Status"),
            tr("Last seen"),
            tr("Battery"),
            tr("Duty"),
            tr("Current task"),
        )
        return titles[section]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = self.COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == Qt.ItemDataRole.UserRole:  # sort key and raw value
            if column == "last_seen":
                seen = parse_time(row.get("last_seen"))
                return 0.0 if seen is None else seen.timestamp()
            if column == "battery":
                return -1.0 if row.get("battery") is None else float(row["battery"])
            value = row.get(column)
            return "" if value is None else str(value)
        if role == Qt.ItemDataRole.ForegroundRole and column == "online":
            return QBrush(QColor("#2e7d32" if row.get("online") else "#757575"))
        if role == Qt.ItemDataRole.ToolTipRole and column == "name":
            return str(row["officer_id"])
        return None

    def _display(self, row: Row, column: str) -> str:
        if column == "name":
            return str(row.get("name") or row["officer_id"])
        if column == "online":
            return tr("Online") if row.get("online") else tr("Offline")
        if column == "last_seen":
            return relative_age(parse_time(row.get("last_seen")), self._now())
        if column == "battery":
            battery = row.get("battery")
            return "" if battery is None else f"{float(battery):.0f}%"
        if column == "duty":
            return duty_label(str(row.get("duty", "")))
        return str(row.get("current_task_id") or "")

    # ---- rows -------------------------------------------------------------------------

    def set_rows(self, rows: list[Row]) -> None:
        """Replace everything with a fresh ``officers.roster`` answer."""
        self.beginResetModel()
        self._rows = [dict(row) for row in rows]
        self._index = {str(row["officer_id"]): i for i, row in enumerate(self._rows)}
        self.endResetModel()

    def row(self, officer_id: str) -> Row | None:
        """A copy of the officer's row (None when not in the roster)."""
        position = self._index.get(officer_id)
        return None if position is None else dict(self._rows[position])

    def officer_id_at(self, row: int) -> str:
        return str(self._rows[row]["officer_id"])

    def apply_events(self, events: list[dict[str, Any]]) -> None:
        """Fold one batch of hub events into the rows."""
        changed: set[int] = set()
        for event in events:
            topic = event.get("topic")
            data = event.get("data") or {}
            if topic == "officer.presence":
                changed |= self._update(
                    str(data.get("officer_id")),
                    {
                        "online": bool(data.get("online")),
                        "last_seen": data.get("last_seen"),
                        **({"battery": data["battery"]} if data.get("battery") is not None else {}),
                    },
                )
            elif topic == "officer.moved":  # a list of moves (older hubs: one move)
                for move in data if isinstance(data, list) else [data]:
                    if isinstance(move, dict):
                        changed |= self._moved(move)
            elif topic == "task.updated":
                changed |= self._task_updated(data.get("task") or {})
        for position in sorted(changed):
            self.dataChanged.emit(
                self.index(position, 0), self.index(position, len(self.COLUMNS) - 1)
            )

    def _update(self, officer_id: str, values: dict[str, Any]) -> set[int]:
        position = self._index.get(officer_id)
        if position is None:
            return set()
        self._rows[position].update(values)
        return {position}

    def _moved(self, data: dict[str, Any]) -> set[int]:
        officer_id = str(data.get("officer_id"))
        position = self._index.get(officer_id)
        if position is None:
            return set()
        row = self._rows[position]
        values: dict[str, Any] = {"lon": data.get("lon"), "lat": data.get("lat")}
        if data.get("battery") is not None:
            values["battery"] = data["battery"]
        if data.get("duty"):
            values["duty"] = data["duty"]
        fix_time, seen = parse_time(data.get("ts")), parse_time(row.get("last_seen"))
        if fix_time is not None and (seen is None or fix_time > seen):
            values["last_seen"] = fix_time.isoformat()
        row.update(values)
        return {position}

    def _task_updated(self, task: dict[str, Any]) -> set[int]:
        task_id = str(task.get("id") or "")
        if not task_id:
            return set()
        changed: set[int] = set()
        if task.get("state") in CURRENT_STATES:
            assignee = task.get("assignee_officer_id")
            if assignee:
                changed |= self._update(str(assignee), {"current_task_id": task_id})
            return changed
        for position, row in enumerate(self._rows):
            if row.get("current_task_id") == task_id:
                row["current_task_id"] = None
                changed.add(position)
        if changed:
            self.sig_task_finished.emit(task_id)
        return changed


class RosterFilter(QSortFilterProxyModel):
    """Search text (name, id, grid, task) and an online/offline/all filter."""

    def __init__(self, model: RosterModel) -> None:
        super().__init__()
        self.roster = model
        self.text = ""
        self.presence: bool | None = None  # True online only, False offline only
        self.setSourceModel(model)
        self.setSortRole(Qt.ItemDataRole.UserRole)

    def set_text(self, text: str) -> None:
        self.beginFilterChange()
        self.text = text.strip().lower()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_presence(self, presence: bool | None) -> None:
        self.beginFilterChange()
        self.presence = presence
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:  # noqa: N802
        row = self.roster.row(self.roster.officer_id_at(source_row)) or {}
        if self.presence is not None and bool(row.get("online")) != self.presence:
            return False
        if not self.text:
            return True
        fields = ("name", "officer_id", "grid_id", "squad_id", "current_task_id")
        return any(self.text in str(row.get(key) or "").lower() for key in fields)


class OfficerRoster(QWidget):
    """The roster dock's widget; see the module docstring."""

    sig_message = Signal(str)
    """A status message for the window's status bar."""

    def __init__(
        self,
        session: Session,
        parent: QWidget | None = None,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.model = RosterModel(now)
        self.proxy = RosterFilter(self.model)
        self.search = QLineEdit()
        self.search.setPlaceholderText(tr("Search officers (name, id, grid, task)…"))
        self.search.setClearButtonEnabled(True)
        self.presence = QComboBox()
        self.presence.addItem(tr("All officers"), None)
        self.presence.addItem(tr("Online"), True)
        self.presence.addItem(tr("Offline"), False)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.dialog: EnrolDialog | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(AGE_TICK_MS)
        self._timer.timeout.connect(self.repaint_ages)
        self._refresh_pending = QTimer(self)
        self._refresh_pending.setSingleShot(True)
        self._refresh_pending.setInterval(500)
        self._refresh_pending.timeout.connect(self.refresh)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.presence)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self.search.textChanged.connect(self.proxy.set_text)
        self.presence.currentIndexChanged.connect(
            lambda _i: self.proxy.set_presence(self.presence.currentData())
        )
        self.table.doubleClicked.connect(self._on_double_click)
        self.table.customContextMenuRequested.connect(self._on_context_menu)
        self.model.sig_task_finished.connect(lambda _task: self._refresh_pending.start())
        session.sig_events.connect(self.model.apply_events)
        self._timer.start()

    # ---- public -----------------------------------------------------------------------

    def refresh(self) -> None:
        """Reload the whole roster from the hub (after login and every reconnect)."""
        if self.session.hub is not None:
            self.session.hub.request(ROSTER_METHOD, {}, self.model.set_rows, self._on_error)

    def select_officer(self, officer_id: str) -> None:
        """Make ``officer_id`` the session's selection: the map follows and highlights it."""
        self.session.select("officer", officer_id)

    def enrol(self, officer_id: str) -> None:
        """Issue a device token and show it as a QR code."""
        if self.session.hub is None:
            return
        self.session.hub.request(
            ENROL_METHOD, {"officer_id": officer_id}, self._show_enrolment, self._on_error
        )

    def revoke(self, officer_id: str) -> None:
        """Revoke every device token of the officer (asks first)."""
        row = self.model.row(officer_id) or {}
        answer = QMessageBox.question(
            self,
            tr("Revoke devices"),
            tr(
                "Revoke every device token of {name}? Their phones must be enrolled again.",
                name=row.get("name") or officer_id,
            ),
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.revoke_now(officer_id)

    def revoke_now(self, officer_id: str) -> None:
        if self.session.hub is not None:
            self.session.hub.request(
                REVOKE_METHOD, {"officer_id": officer_id}, self._on_revoked, self._on_error
            )

    def repaint_ages(self) -> None:
        """Redraw the "last seen" ages: time moved on, the data did not.

        Ages are computed when a cell is painted, so repainting the visible cells is enough.
        A dataChanged over the whole column instead made the filter proxy and the header
        look at every row: 1.1-1.3 s of the GUI thread every 5 s with the city's 11,164
        officers, shown or not; the repaint takes 8-14 ms (bench/roster_ages.py).
        """
        if self.table.isVisible():
            self.table.viewport().update()

    def stop(self) -> None:
        """Stop the ticking timers (the widget is going away)."""
        self._timer.stop()
        self._refresh_pending.stop()

    # ---- private ----------------------------------------------------------------------

    def _officer_at(self, index: QModelIndex) -> str:
        return self.model.officer_id_at(self.proxy.mapToSource(index).row())

    def _on_double_click(self, index: QModelIndex) -> None:
        if index.isValid():
            self.select_officer(self._officer_at(index))

    def _on_context_menu(self, point: QPoint) -> None:
        index = self.table.indexAt(point)
        if not index.isValid():
            return
        officer_id = self._officer_at(index)
        role = str((self.session.user or {}).get("role", ""))
        menu = QMenu(self)
        enrol = menu.addAction(tr("Issue enrolment token (QR code)…"))
        enrol.setEnabled(role in ("admin", "dispatcher"))
        enrol.triggered.connect(lambda: self.enrol(officer_id))
        revoke = menu.addAction(tr("Revoke device tokens…"))
        revoke.setEnabled(role == "admin")
        revoke.triggered.connect(lambda: self.revoke(officer_id))
        call = menu.addAction(tr("Video call"))
        call.setEnabled(bool((self.model.row(officer_id) or {}).get("online")))
        call.triggered.connect(lambda: self.session.request_call(officer_id))
        menu.exec(self.table.viewport().mapToGlobal(point))
        menu.deleteLater()

    def _show_enrolment(self, enrolment: dict[str, Any]) -> None:
        row = self.model.row(str(enrolment["officer_id"])) or {}
        if self.dialog is not None:
            self.dialog.close()
            self.dialog.deleteLater()
        self.dialog = EnrolDialog(enrolment, str(row.get("name") or enrolment["officer_id"]), self)
        self.dialog.show()

    def _on_revoked(self, result: dict[str, Any]) -> None:
        self.sig_message.emit(
            tr(
                "Revoked {count} device token(s) of {officer}.",
                count=len(result.get("revoked", [])),
                officer=result.get("officer_id", ""),
            )
        )

    def _on_error(self, error: HubError) -> None:
        self.sig_message.emit(error_text(error))
