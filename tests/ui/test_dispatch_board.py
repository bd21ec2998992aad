"""Dispatch board model: queues, search, sorting, countdowns and overdue highlighting.

Time is an injected clock the tests move by hand; the tasks are hub-shaped task dicts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QSignalSpy
from pytestqt.qtbot import QtBot

from console.core.tasks import Action
from console.dispatch.board import DispatchBoard
from console.dispatch.board_model import (
    OVERDUE_BACKGROUND,
    Column,
    Queue,
    TaskBoardFilter,
    TaskBoardModel,
    in_queue,
)
from console.dispatch.timeline import ActionDialog, actions_for
from console.shell.session import Session
from tests.ui.conftest import PaintCounter

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


class ManualClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def task(
    task_id: str, state: str = "assigned", minutes_left: float = 60, **extra: Any
) -> dict[str, Any]:
    return {
        "id": task_id,
        "kind": "verification",
        "state": state,
        "version": 1,
        "title": f"核查 {task_id}",
        "urgency": "normal",
        "category": "water",
        "district_adcode": "331002",
        "assignee_officer_id": "off-1",
        "assignee_squad_id": None,
        "created_at": (T0 - timedelta(hours=1)).isoformat(),
        "deadline": (T0 + timedelta(minutes=minutes_left)).isoformat(),
        "substitute": False,
        "delivered_at": None,
        **extra,
    }


SNAPSHOT = {
    "officers": [{"id": "off-1", "name": "王网格"}, {"id": "off-2", "name": "李网格"}],
    "squads": [],
    "districts": [{"adcode": "331002", "name": "椒江区"}, {"adcode": "331003", "name": "黄岩区"}],
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def board(clock: ManualClock) -> tuple[TaskBoardModel, TaskBoardFilter]:
    model = TaskBoardModel(clock)
    model.set_directory(SNAPSHOT)
    proxy = TaskBoardFilter(model)
    model.set_tasks(
        [
            task("t-new", minutes_left=90),
            task("t-delivered", "delivered", minutes_left=30, urgency="critical"),
            task("t-pushed", "assigned", minutes_left=45, delivered_at=T0.isoformat()),
            task(
                "t-site",
                "on_site",
                minutes_left=-5,
                district_adcode="331003",
                assignee_officer_id="off-2",
                urgency="urgent",
            ),
            task("t-closed", "closed", minutes_left=-600, updated_at=T0.isoformat()),
            task(
                "t-old",
                "cancelled",
                minutes_left=10,
                updated_at=(T0 - timedelta(days=3)).isoformat(),
            ),
        ]
    )
    return model, proxy


def shown(proxy: TaskBoardFilter) -> list[str]:
    return [
        proxy.index(row, 0).data(Qt.ItemDataRole.ToolTipRole) for row in range(proxy.rowCount())
    ]


def test_queues_classify_tasks_from_their_own_fields(
    board: tuple[TaskBoardModel, TaskBoardFilter],
) -> None:
    _, proxy = board
    expected = {
        Queue.NEW: {"t-new"},
        Queue.AWAITING_ACK: {"t-delivered", "t-pushed"},
        Queue.IN_PROGRESS: {"t-site"},
        Queue.OVERDUE: {"t-site"},  # a closed task is never overdue: its clock stopped
        Queue.CLOSED_TODAY: {"t-closed"},
        Queue.ALL: {"t-new", "t-delivered", "t-pushed", "t-site", "t-closed", "t-old"},
    }
    for queue, ids in expected.items():
        proxy.set_queue(queue)
        assert set(shown(proxy)) == ids, queue


def test_search_urgency_filter_and_sorting(board: tuple[TaskBoardModel, TaskBoardFilter]) -> None:
    model, proxy = board
    proxy.set_search("黄岩")  # district name, not the adcode
    assert shown(proxy) == ["t-site"]
    proxy.set_search("李网格")  # assignee name from the snapshot
    assert shown(proxy) == ["t-site"]
    proxy.set_search("T-PUSHED")  # ids, case-insensitive
    assert shown(proxy) == ["t-pushed"]
    proxy.set_search("")
    proxy.set_urgency("critical")
    assert shown(proxy) == ["t-delivered"]
    proxy.set_urgency("")
    proxy.set_queue(Queue.ALL)
    proxy.sort(Column.LEFT, Qt.SortOrder.AscendingOrder)
    # Running clocks by time left; stopped clocks (closed, cancelled) last.
    assert shown(proxy)[:4] == ["t-site", "t-delivered", "t-pushed", "t-new"]
    assert set(shown(proxy)[4:]) == {"t-closed", "t-old"}
    proxy.sort(Column.URGENCY, Qt.SortOrder.DescendingOrder)
    assert shown(proxy)[:2] == ["t-delivered", "t-site"]
    assert model.index(model.row_of("t-site"), Column.DISTRICT).data() == "黄岩区"
    assert model.index(model.row_of("t-new"), Column.ASSIGNEE).data() == "王网格"


def test_countdown_ticks_without_model_signals_until_a_deadline_passes(
    board: tuple[TaskBoardModel, TaskBoardFilter], clock: ManualClock
) -> None:
    model, proxy = board
    row = model.row_of("t-delivered")
    left = model.index(row, Column.LEFT)
    assert left.data() == "00:30:00"
    assert left.data(Qt.ItemDataRole.BackgroundRole) is None
    late = model.index(model.row_of("t-site"), Column.TITLE)
    assert late.data(Qt.ItemDataRole.BackgroundRole).color() == OVERDUE_BACKGROUND
    assert model.index(model.row_of("t-site"), Column.LEFT).data() == "-00:05:00"
    assert model.index(model.row_of("t-closed"), Column.LEFT).data() == "—"

    spy = QSignalSpy(model.dataChanged)
    clock.now = T0 + timedelta(seconds=61)
    assert model.tick() == []
    assert spy.count() == 0  # countdowns are repainted by the view, not announced
    assert left.data() == "00:28:59"

    proxy.set_queue(Queue.OVERDUE)
    assert shown(proxy) == ["t-site"]
    clock.now = T0 + timedelta(minutes=30, seconds=1)
    assert model.tick() == ["t-delivered"]  # crossed its deadline: whole row announced
    assert spy.count() == 1
    top_left, bottom_right = spy.at(0)[0], spy.at(0)[1]
    assert (top_left.row(), bottom_right.row()) == (row, row)
    assert (top_left.column(), bottom_right.column()) == (0, Column.COUNT - 1)
    assert left.data() == "-00:00:01"
    assert model.index(row, Column.STATE).data(Qt.ItemDataRole.BackgroundRole) is not None
    proxy.refilter()
    assert set(shown(proxy)) == {"t-site", "t-delivered"}


def test_upsert_moves_rows_between_queues_and_ignores_stale_versions(
    board: tuple[TaskBoardModel, TaskBoardFilter],
) -> None:
    model, proxy = board
    proxy.set_queue(Queue.NEW)
    assert shown(proxy) == ["t-new"]
    model.upsert(task("t-new", "accepted", minutes_left=90, version=3))
    assert shown(proxy) == []
    model.upsert(task("t-new", "assigned", minutes_left=90, version=2))  # late, older event
    assert model.task("t-new")["state"] == "accepted"
    model.upsert(task("t-fresh", minutes_left=20))
    assert shown(proxy) == ["t-fresh"]
    assert model.rowCount() == 7


def test_in_queue_closed_today_uses_the_local_date() -> None:
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    closed = task("c", "closed", updated_at=now.isoformat())
    assert in_queue(closed, Queue.CLOSED_TODAY, now)
    assert not in_queue(closed, Queue.CLOSED_TODAY, now + timedelta(days=1))


def test_overdue_event_raises_the_alarm(qtbot: QtBot, clock: ManualClock) -> None:
    session = Session()
    board = DispatchBoard(session, clock)
    qtbot.addWidget(board)
    messages: list[str] = []
    board.sig_message.connect(messages.append)
    late = task("t-late", "accepted", minutes_left=-1, title="核查 异味")
    with qtbot.waitSignal(board.sig_overdue_alarm, timeout=1000) as alarm:
        session.publish_events([{"topic": "task.overdue", "seq": 1, "data": {"task": late}}])
    assert alarm.args == [late]
    assert messages == ["任务超时：核查 异味（off-1）"]
    assert board.visible_task_ids() == ["t-late"]
    qtbot.waitUntil(lambda: board.table.styleSheet() != "", timeout=1000)  # flashing
    qtbot.waitUntil(lambda: not board._flash_timer.isActive(), timeout=3000)
    assert board.table.styleSheet() == ""
    board.set_queue(Queue.OVERDUE)
    assert board.visible_task_ids() == ["t-late"]
    assert board.count_label.text() == "显示 1 / 共 1"


def test_the_shown_board_repaints_its_countdowns_each_second(
    qtbot: QtBot, clock: ManualClock
) -> None:
    board = DispatchBoard(Session(), clock)
    qtbot.addWidget(board)
    board.timer.stop()  # ticked by hand
    board.model.set_tasks([task("t-1", "accepted", minutes_left=30)])
    counter = PaintCounter(board.table.viewport())
    board.show()
    qtbot.waitExposed(board)
    qtbot.wait(50)
    counter.paints = 0
    clock.now = T0 + timedelta(seconds=1)
    board.tick()
    qtbot.waitUntil(lambda: counter.paints > 0, timeout=5_000)
    left = board.proxy.index(0, Column.LEFT)
    assert left.data() == "00:29:59"  # what the repaint drew


def test_action_dialog_asks_for_required_fields(qtbot: QtBot) -> None:
    current = task("t-1", "delivered")
    assert actions_for(current, "dispatcher") == [
        Action.ACCEPT,
        Action.CANCEL,
        Action.REASSIGN,
        Action.HAND_OVER,
    ]
    assert actions_for(current, "leader") == []
    snapshot = {
        **SNAPSHOT,
        "officers": [
            {"id": "off-1", "name": "王网格", "district_adcode": "331002"},
            {"id": "off-9", "name": "外区", "district_adcode": "331003"},
        ],
    }
    dialog = ActionDialog(Action.REASSIGN, current, snapshot)
    qtbot.addWidget(dialog)
    assert dialog.windowTitle() == "改派"
    to = dialog.fields["to"]
    assert [to.itemText(i) for i in range(to.count())] == ["王网格"]  # same district only
    assert dialog.payload() is None
    assert dialog.error.text() == "原因为必填项。"
    dialog.fields["reason"].setText("  原网格员请假 ")
    assert dialog.payload() == {"reason": "原网格员请假", "to": "off-1"}
