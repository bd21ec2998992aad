"""The dispatch board's table model and its queue/search filter.

Rows are the hub's task JSON dicts (``tasks.board`` answers, ``task.updated`` events),
upserted by id. Time comes from an injected clock so tests can move it; ``tick()`` is called
once a second and only touches the countdown column, plus whole rows whose overdue state
flipped (their highlight changes). Queues are classified here from the task's own fields,
so a ``task.updated`` event moves a row between tabs without asking the hub again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor

from console.core.sla import countdown
from console.core.tasks import CLOCK_STOPPED_STATES, TaskKind, TaskState
from console.dispatch.labels import (
    category_label,
    format_countdown,
    kind_label,
    state_label,
    urgency_label,
)
from console.shell.i18n import format_datetime, tr

Clock = Callable[[], datetime]
AnyIndex = QModelIndex | QPersistentModelIndex

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
"""Role giving a column's sort key (numbers for urgency and time left)."""
TASK_ROLE = Qt.ItemDataRole.UserRole + 2
"""Role giving the row's task dict."""

OVERDUE_BACKGROUND = QColor("#fde0dc")
OVERDUE_FOREGROUND = QColor("#b3261e")
URGENCY_RANK = {"normal": 0, "urgent": 1, "critical": 2}


def utc_now() -> datetime:
    return datetime.now(UTC)


class Queue(StrEnum):
    """The board's tabs, in display order."""

    NEW = "new"  # assigned, not yet on the officer's device
    AWAITING_ACK = "awaiting_ack"  # on the device, not yet accepted
    IN_PROGRESS = "in_progress"  # accepted and working (until closed)
    OVERDUE = "overdue"  # open and past its deadline
    CLOSED_TODAY = "closed_today"  # closed, archived or cancelled today (local date)
    ALL = "all"


def queue_label(queue: Queue) -> str:
    labels = {
        Queue.NEW: tr("New"),
        Queue.AWAITING_ACK: tr("Awaiting delivery/ack"),
        Queue.IN_PROGRESS: tr("In progress"),
        Queue.OVERDUE: tr("Overdue"),
        Queue.CLOSED_TODAY: tr("Closed today"),
        Queue.ALL: tr("All"),
    }
    return labels[queue]


_FINISHED = frozenset({TaskState.CLOSED, TaskState.ARCHIVED, TaskState.CANCELLED})


def parse_time(value: object) -> datetime | None:
    """An aware datetime from the hub's ISO text (naive text is taken as UTC)."""
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def clock_running(task: Mapping[str, Any]) -> bool:
    """Whether the SLA clock still runs (``console.core.tasks.CLOCK_STOPPED_STATES``)."""
    try:
        kind = TaskKind(task.get("kind", "verification"))
        state = TaskState(task.get("state", ""))
    except ValueError:
        return False
    return state not in CLOCK_STOPPED_STATES[kind]


def seconds_left(task: Mapping[str, Any], now: datetime) -> float | None:
    """Seconds until the deadline (negative when late); None without a running clock."""
    deadline = parse_time(task.get("deadline"))
    if deadline is None or not clock_running(task):
        return None
    return (deadline - now).total_seconds()


def is_overdue(task: Mapping[str, Any], now: datetime) -> bool:
    """Open and past its deadline: the same rule as ``console.core.sla.is_overdue``."""
    left = seconds_left(task, now)
    return left is not None and left < 0


def in_queue(task: Mapping[str, Any], queue: Queue, now: datetime) -> bool:
    """Whether ``task`` belongs on the ``queue`` tab at ``now``."""
    state = task.get("state")
    if queue is Queue.ALL:
        return True
    if queue is Queue.OVERDUE:
        return is_overdue(task, now)
    if queue is Queue.NEW:
        return state == TaskState.ASSIGNED and not task.get("delivered_at")
    if queue is Queue.AWAITING_ACK:
        return state == TaskState.DELIVERED or (
            state == TaskState.ASSIGNED and bool(task.get("delivered_at"))
        )
    if queue is Queue.IN_PROGRESS:
        return state not in _FINISHED and state not in (TaskState.ASSIGNED, TaskState.DELIVERED)
    changed = parse_time(task.get("updated_at")) or parse_time(task.get("created_at"))
    return (
        state in _FINISHED
        and changed is not None
        and changed.astimezone().date() == now.astimezone().date()
    )


class Column:
    TITLE, KIND, STATE, URGENCY, CATEGORY, ASSIGNEE, DISTRICT, DEADLINE, LEFT = range(9)
    COUNT = 9


def column_titles() -> list[str]:
    return [
        tr("Task"),
        tr("Kind"),
        tr("State"),
        tr("Urgency"),
        tr("Category"),
        tr("Assignee"),
        tr("District"),
        tr("Deadline"),
        tr("Time left"),
    ]


class TaskBoardModel(QAbstractTableModel):
    """Tasks by id, in arrival order; see the module docstring."""

    def __init__(self, clock: Clock = utc_now, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.clock = clock
        self._tasks: list[dict[str, Any]] = []
        self._rows: dict[str, int] = {}
        self._overdue: list[bool] = []
        self._names: dict[str, str] = {}  # officer/squad/district id -> display name
        self._titles = column_titles()

    # ---- feeding ----------------------------------------------------------------------

    def set_directory(self, snapshot: Mapping[str, Any]) -> None:
        """Names of officers, squads and districts from the world snapshot."""
        names: dict[str, str] = {}
        for key, id_key in (("officers", "id"), ("squads", "id"), ("districts", "adcode")):
            for item in snapshot.get(key, []):
                names[str(item[id_key])] = str(item.get("name", item[id_key]))
        self._names = names
        if self._tasks:
            self._emit_columns(Column.ASSIGNEE, Column.DISTRICT)

    def set_tasks(self, tasks: Iterable[Mapping[str, Any]]) -> None:
        """Replace every row (a fresh ``tasks.board`` answer)."""
        self.beginResetModel()
        self._tasks = [dict(task) for task in tasks]
        self._rows = {str(task["id"]): row for row, task in enumerate(self._tasks)}
        now = self.clock()
        self._overdue = [is_overdue(task, now) for task in self._tasks]
        self.endResetModel()

    def upsert(self, task: Mapping[str, Any]) -> None:
        """Insert a new task or replace a known one; an older version never wins."""
        task_id = str(task["id"])
        row = self._rows.get(task_id)
        now = self.clock()
        if row is None:
            row = len(self._tasks)
            self.beginInsertRows(QModelIndex(), row, row)
            self._tasks.append(dict(task))
            self._rows[task_id] = row
            self._overdue.append(is_overdue(task, now))
            self.endInsertRows()
            return
        if int(task.get("version", 0)) < int(self._tasks[row].get("version", 0)):
            return
        self._tasks[row] = dict(task)
        self._overdue[row] = is_overdue(task, now)
        self.dataChanged.emit(self.index(row, 0), self.index(row, Column.COUNT - 1))

    def task(self, task_id: str) -> dict[str, Any] | None:
        row = self._rows.get(task_id)
        return None if row is None else self._tasks[row]

    def row_of(self, task_id: str) -> int:
        """The row of ``task_id``, -1 when unknown."""
        return self._rows.get(task_id, -1)

    def tick(self) -> list[str]:
        """Find the tasks that just became (or stopped being) late; returns their ids.

        Those rows are announced whole (highlight, overdue queue, sort). The countdowns of
        the others are computed when painted and keep their order (every running clock loses
        the same second), so the view repaints them without a model signal: a signal for the
        whole column made the filter proxy re-examine and re-sort every row, 0.9-1.2 s of the
        GUI thread per second with a full board of 1,000 tasks; now 34 ms
        (bench/board_tick.py).
        """
        if not self._tasks:
            return []
        now = self.clock()
        flipped: list[str] = []
        for row, task in enumerate(self._tasks):
            late = is_overdue(task, now)
            if late != self._overdue[row]:
                self._overdue[row] = late
                flipped.append(str(task["id"]))
                self.dataChanged.emit(self.index(row, 0), self.index(row, Column.COUNT - 1))
        return flipped

    # ---- Qt model API -----------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._tasks)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else Column.COUNT

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self._titles[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        task = self._tasks[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(task, column)
        if role == SORT_ROLE:
            return self._sort_key(task, column)
        if role == TASK_ROLE:
            return task
        if role == Qt.ItemDataRole.BackgroundRole and self._overdue[index.row()]:
            return QBrush(OVERDUE_BACKGROUND)
        if role == Qt.ItemDataRole.ForegroundRole and self._overdue[index.row()]:
            return QBrush(OVERDUE_FOREGROUND)
        if role == Qt.ItemDataRole.ToolTipRole and column == Column.TITLE:
            return str(task.get("id", ""))
        return None

    def is_row_overdue(self, row: int) -> bool:
        return self._overdue[row]

    # ---- helpers ----------------------------------------------------------------------

    def _display(self, task: Mapping[str, Any], column: int) -> str:
        if column == Column.TITLE:
            return str(task.get("title") or task.get("id", ""))
        if column == Column.KIND:
            return kind_label(str(task.get("kind", "")))
        if column == Column.STATE:
            return state_label(str(task.get("state", "")))
        if column == Column.URGENCY:
            return urgency_label(str(task.get("urgency", "")))
        if column == Column.CATEGORY:
            return category_label(str(task.get("category", "")))
        if column == Column.ASSIGNEE:
            return self.assignee_name(task)
        if column == Column.DISTRICT:
            adcode = str(task.get("district_adcode") or "")
            return self._names.get(adcode, adcode)
        if column == Column.DEADLINE:
            deadline = parse_time(task.get("deadline"))
            return "" if deadline is None else format_datetime(deadline)
        left = seconds_left(task, self.clock())
        if left is None:
            return "—"
        deadline = parse_time(task.get("deadline"))
        assert deadline is not None
        return format_countdown(countdown(deadline - self.clock()))

    def assignee_name(self, task: Mapping[str, Any]) -> str:
        assignee = task.get("assignee_officer_id") or task.get("assignee_squad_id") or ""
        name = self._names.get(str(assignee), str(assignee))
        return tr("{name} (substitute)", name=name) if task.get("substitute") else name

    def _sort_key(self, task: Mapping[str, Any], column: int) -> Any:
        if column == Column.URGENCY:
            return URGENCY_RANK.get(str(task.get("urgency")), -1)
        if column == Column.DEADLINE:
            return str(task.get("deadline") or "")
        if column == Column.LEFT:
            left = seconds_left(task, self.clock())
            return float("inf") if left is None else left
        return self._display(task, column)

    def _emit_columns(self, *columns: int) -> None:
        last = len(self._tasks) - 1
        for column in columns:
            self.dataChanged.emit(self.index(0, column), self.index(last, column))


class TaskBoardFilter(QSortFilterProxyModel):
    """Shows one queue, optionally narrowed by a search text and an urgency."""

    def __init__(self, source: TaskBoardModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._board = source
        self.queue = Queue.ALL
        self.search = ""
        self.urgency = ""
        self.setSourceModel(source)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

    def set_queue(self, queue: Queue) -> None:
        self.beginFilterChange()
        self.queue = queue
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_search(self, text: str) -> None:
        self.beginFilterChange()
        self.search = text.strip().casefold()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_urgency(self, urgency: str) -> None:
        """Show only this urgency ("" for all)."""
        self.beginFilterChange()
        self.urgency = urgency
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def refilter(self) -> None:
        """Re-run the filter after time moved a task between queues (e.g. into overdue)."""
        self.beginFilterChange()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:  # noqa: N802
        task = self._board.index(source_row, 0, source_parent).data(TASK_ROLE)
        if task is None:
            return False
        if self.urgency and task.get("urgency") != self.urgency:
            return False
        if not in_queue(task, self.queue, self._board.clock()):
            return False
        if not self.search:
            return True
        haystack = " ".join(
            str(self._board.index(source_row, column, source_parent).data() or "")
            for column in (Column.TITLE, Column.ASSIGNEE, Column.DISTRICT)
        )
        haystack += " " + " ".join(
            str(task.get(key) or "") for key in ("id", "complaint_id", "enterprise_id")
        )
        return self.search in haystack.casefold()
