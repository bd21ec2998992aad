"""The dispatch board (调度看板): queues as tabs over ``TaskBoardModel``, live countdowns.

One 1 s timer drives every countdown through ``TaskBoardModel.tick`` (it repaints only the
countdown column). ``task.updated``/``task.overdue`` events arrive in the session's batches
and are upserted; the hub sends ``task.overdue`` only to the owning organisation's seats,
so every one that arrives here raises the alarm: a status message, the alarm sound (as set
in the settings) and a flash.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTabBar,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from console.core.complaints import Urgency
from console.dispatch.board_model import (
    TASK_ROLE,
    Clock,
    Column,
    Queue,
    TaskBoardFilter,
    TaskBoardModel,
    queue_label,
    utc_now,
)
from console.dispatch.labels import urgency_label
from console.hub.client import HubError
from console.shell.alarm_sound import AlarmSound
from console.shell.hub_errors import error_text
from console.shell.i18n import tr
from console.shell.session import Session

BOARD_METHOD = "tasks.board"
BOARD_LIMIT = 1000
TASK_TOPICS = ("task.updated", "task.overdue")
FLASH_STYLE = "QTableView { border: 3px solid #c62828; }"
FLASH_TIMES = 6


class DispatchBoard(QWidget):
    """Tabs, search, urgency filter and the task table; selecting a row focuses the task."""

    sig_overdue_alarm = Signal(object)
    """A ``task.overdue`` event for this seat arrived; carries the task dict."""

    sig_message = Signal(str)
    """A status message for the window's status bar."""

    def __init__(
        self, session: Session, clock: Clock = utc_now, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.model = TaskBoardModel(clock, self)
        self.alarm_sound = AlarmSound(self)
        self.proxy = TaskBoardFilter(self.model, self)
        self.tabs = QTabBar()
        self.tabs.setObjectName("dispatch.board.tabs")
        for queue in Queue:
            self.tabs.addTab(queue_label(queue))
            self.tabs.setTabData(self.tabs.count() - 1, queue.value)
        self.search = QLineEdit()
        self.search.setPlaceholderText(tr("Search tasks (title, assignee, district, id)…"))
        self.search.setClearButtonEnabled(True)
        self.urgency = QComboBox()
        self.urgency.addItem(tr("All urgencies"), "")
        for urgency in Urgency:
            self.urgency.addItem(urgency_label(urgency), urgency.value)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(Column.LEFT, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(Column.TITLE, QHeaderView.ResizeMode.Stretch)
        self.count_label = QLabel()

        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.urgency)
        top.addWidget(self.count_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tabs)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)

        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self.tick)
        self._flash_timer = QTimer(self)
        self._flash_timer.setInterval(250)
        self._flash_timer.timeout.connect(self._flash_step)
        self._flashes_left = 0

        self.tabs.currentChanged.connect(self._on_tab)
        self.search.textChanged.connect(self.proxy.set_search)
        self.urgency.currentIndexChanged.connect(
            lambda _: self.proxy.set_urgency(str(self.urgency.currentData()))
        )
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row)
        self.table.activated.connect(self._on_activated)
        for signal in (self.proxy.rowsInserted, self.proxy.rowsRemoved, self.proxy.modelReset):
            signal.connect(self._update_count)
        session.sig_snapshot_changed.connect(self.model.set_directory)
        session.sig_events.connect(self.apply_events)
        session.sig_task_changed.connect(self.show_task)
        if session.snapshot:
            self.model.set_directory(session.snapshot)
        self._update_count()
        self.timer.start()

    # ---- public -----------------------------------------------------------------------

    def refresh(self) -> None:
        """Reload every task from the hub (after login or reconnect)."""
        if self.session.hub is None:
            return
        self.session.hub.request(
            BOARD_METHOD,
            {"queue": "all", "limit": BOARD_LIMIT},
            on_result=self._on_board,
            on_error=self._on_error,
        )

    def set_queue(self, queue: Queue) -> None:
        self.tabs.setCurrentIndex(list(Queue).index(queue))

    def tick(self) -> None:
        """Advance the countdowns; re-filter when a task crossed its deadline."""
        if self.model.tick():
            self.proxy.refilter()
            self._update_count()
        if self.table.isVisible():
            self.table.viewport().update()  # the countdowns are computed when painted

    def apply_events(self, events: list[dict[str, Any]]) -> None:
        """Upsert the tasks of ``task.updated``/``task.overdue`` events of one batch."""
        for event in events:
            topic = event.get("topic")
            if topic not in TASK_TOPICS:
                continue
            task = (event.get("data") or {}).get("task")
            if not isinstance(task, dict):
                continue
            self.model.upsert(task)
            if topic == "task.overdue":
                self.raise_overdue_alarm(task)
        self._update_count()

    def raise_overdue_alarm(self, task: dict[str, Any]) -> None:
        """Tell the dispatcher a task is overdue: message, beep and a flashing board."""
        self.sig_message.emit(
            tr(
                "Task overdue: {title} ({assignee})",
                title=task.get("title") or task["id"],
                assignee=self.model.assignee_name(task),
            )
        )
        self.alarm_sound.play("warning")
        self._flashes_left = FLASH_TIMES
        self._flash_timer.start()
        self.sig_overdue_alarm.emit(task)

    def visible_task_ids(self) -> list[str]:
        """Ids of the rows shown now, in display order."""
        return [
            str(self.proxy.index(row, 0).data(TASK_ROLE)["id"])
            for row in range(self.proxy.rowCount())
        ]

    def show_task(self, task_id: str) -> None:
        """Select the row of ``task_id`` if it is visible (the session's current task)."""
        row = self.model.row_of(task_id)
        if row < 0:
            return
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if index.isValid() and self.table.currentIndex().row() != index.row():
            self.table.setCurrentIndex(index)

    # ---- private ----------------------------------------------------------------------

    def _on_board(self, tasks: list[dict[str, Any]]) -> None:
        self.model.set_tasks(tasks)
        self._update_count()

    def _on_error(self, error: HubError) -> None:
        self.sig_message.emit(error_text(error))

    def _on_tab(self, index: int) -> None:
        self.proxy.set_queue(Queue(self.tabs.tabData(index)))
        self._update_count()

    def _on_current_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        task = current.data(TASK_ROLE) if current.isValid() else None
        if task is not None:
            self.session.set_current_task(str(task["id"]))
            self.session.select("task", str(task["id"]))

    def _on_activated(self, index: QModelIndex) -> None:
        self._on_current_row(index, QModelIndex())

    def _update_count(self) -> None:
        self.count_label.setText(
            tr("{shown} of {total}", shown=self.proxy.rowCount(), total=self.model.rowCount())
        )

    def _flash_step(self) -> None:
        self._flashes_left -= 1
        on = self._flashes_left % 2 == 1
        self.table.setStyleSheet(FLASH_STYLE if on else "")
        if self._flashes_left <= 0:
            self._flash_timer.stop()
            self.table.setStyleSheet("")
