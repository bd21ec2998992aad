"""The dispatch panels against a REAL hub (loopback websocket, seeded SQLite store).

What counts as a user action in the keyboard test: a command — a shortcut (Ctrl+N,
Ctrl+Enter) or Enter/click that makes something happen. Filling a field (typing, arrow keys
in a drop-down, Tab between fields, picking from the completer) is not an action.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QInputMethodEvent
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

import console
from console.core.tasks import Action
from console.dispatch import DispatchFeature, install
from console.dispatch.board_model import Queue
from console.dispatch.intake import enterprise_key
from console.dispatch.timeline import TaskTimeline
from tests.ui.conftest import copy_db
from tests.ui.test_shell import Shell, ThreadedHub, log_in, make_shell

SCREENSHOT = Path(console.__file__).parent.parent / "docs" / "screenshots" / "dispatch.png"
MAX_ACTIONS = 5


@pytest.fixture(scope="module")
def county_hub(
    tmp_path_factory: pytest.TempPathFactory, county_db_template: Path
) -> Iterator[ThreadedHub]:
    """One hub on the one-district world, shared by this module's tests."""
    hub = ThreadedHub(copy_db(county_db_template, tmp_path_factory.mktemp("dispatch-hub")))
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture
def dispatcher(qtbot: QtBot, county_hub: ThreadedHub) -> Iterator[tuple[Shell, DispatchFeature]]:
    shell = make_shell(qtbot, county_hub.url)
    feature = install(shell.window, shell.session)
    yield shell, feature
    shell.link.close()


def call(qtbot: QtBot, shell: Shell, method: str, params: dict[str, Any]) -> Any:
    """A raw hub request from a test, waited for on the GUI thread."""
    answers: list[Any] = []
    errors: list[Any] = []
    shell.link.request(method, params, on_result=answers.append, on_error=errors.append)
    qtbot.waitUntil(lambda: bool(answers or errors), timeout=10_000)
    assert not errors, errors
    return answers[0]


def type_text(widget: QWidget, text: str) -> None:
    """Type Chinese the way an input method does: one committed string.

    (QTest.keyClicks only knows Latin-1 keys and aborts on anything else.)
    """
    event = QInputMethodEvent()
    event.setCommitString(text)
    QApplication.sendEvent(widget, event)


def first_enterprise(shell: Shell) -> dict[str, Any]:
    return sorted(shell.session.snapshot["enterprises"], key=lambda e: e["id"])[0]


def test_keyboard_from_new_complaint_to_pushed_task_in_three_actions(
    qtbot: QtBot, dispatcher: tuple[Shell, DispatchFeature]
) -> None:
    shell, feature = dispatcher
    window = shell.window
    log_in(qtbot, shell)
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)
    enterprise = first_enterprise(shell)
    actions: list[str] = []
    intake = feature.intake

    actions.append("Ctrl+N")
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert intake.channel.hasFocus()
    # Filling: arrow keys in the drop-downs, Tab between fields, typing.
    qtbot.keyClick(intake.channel, Qt.Key.Key_Down)  # 12369 hotline -> letter
    qtbot.keyClick(intake.channel, Qt.Key.Key_Tab)
    assert intake.category.hasFocus()
    qtbot.keyClick(intake.category, Qt.Key.Key_Down)  # water -> air
    qtbot.keyClick(intake.category, Qt.Key.Key_Tab)
    qtbot.keyClick(intake.urgency, Qt.Key.Key_Down)  # normal -> urgent
    qtbot.keyClick(intake.urgency, Qt.Key.Key_Tab)
    assert intake.reporter_name.hasFocus()
    type_text(intake.reporter_name, "张三丰")
    qtbot.keyClick(intake.reporter_name, Qt.Key.Key_Tab)
    qtbot.keyClicks(intake.reporter_phone, "13812345678")
    qtbot.keyClick(intake.reporter_phone, Qt.Key.Key_Tab)
    assert intake.description.hasFocus()
    type_text(intake.description, "厂区夜间排放刺鼻气体")
    qtbot.keyClick(intake.description, Qt.Key.Key_Tab)
    assert intake.enterprise.hasFocus()
    type_text(intake.enterprise, enterprise_key(enterprise))
    assert intake.enterprise_id == enterprise["id"]
    assert float(intake.lon.text()) == pytest.approx(enterprise["lon"])

    actions.append("Ctrl+Enter")
    qtbot.keyClick(intake.enterprise, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    recommendation = feature.recommendation
    qtbot.waitUntil(lambda: recommendation.result is not None, timeout=10_000)
    complaint_id = recommendation.complaint_id
    assert recommendation.dispatch_button.hasFocus()
    assert recommendation.officer.count() >= 1
    assert recommendation.squads.rowCount() >= 1
    assert intake.description.toPlainText() == ""  # cleared for the next call

    actions.append("Enter")
    qtbot.keyClick(recommendation.dispatch_button, Qt.Key.Key_Return)
    board = feature.board
    qtbot.waitUntil(lambda: recommendation.result is None, timeout=10_000)
    task_id = shell.session.task_id
    assert task_id
    task = board.model.task(task_id)
    assert task is not None
    assert task["complaint_id"] == complaint_id
    assert task["urgency"] == "urgent"
    assert task["category"] == "air"
    assert len(actions) <= MAX_ACTIONS, actions
    assert len(actions) == 3

    board.set_queue(Queue.NEW)
    assert task_id in board.visible_task_ids()
    assert board.table.currentIndex().isValid()  # the new task is the current row
    timeline = feature.timeline
    qtbot.waitUntil(
        lambda: timeline.task is not None and timeline.task["id"] == task_id, timeout=10_000
    )
    assert "厂区夜间排放刺鼻气体" in timeline.complaint.text()
    assert Action.CANCEL in timeline.action_buttons
    # The message to the officer's phone, in words (not its wire kind task.assigned).
    qtbot.waitUntil(lambda: "派单通知" in timeline.delivery.text(), timeout=10_000)
    assert "task." not in timeline.delivery.text()
    feature.board_dock.raise_()
    qtbot.wait(300)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert window.grab().save(str(SCREENSHOT))
    qtbot.waitUntil(
        lambda: sum(r.get("open", 0) for r in feature.districts.model.rows) >= 1,
        timeout=10_000,
    )


def test_intake_validation_messages_are_inline(
    qtbot: QtBot, dispatcher: tuple[Shell, DispatchFeature]
) -> None:
    _shell, feature = dispatcher
    intake = feature.intake
    intake.reporter_phone.setText("138-12a4")
    intake.enterprise.setText("不存在的企业")
    intake.enterprise_id = None
    intake.lon.setText("121.4")
    intake.lat.setText("95")
    assert intake.params() is None
    assert intake.errors["description"].text() == "请填写举报内容。"
    assert intake.errors["reporter_phone"].text() == "只能包含数字、空格、“-”、“+”和括号。"
    assert intake.errors["enterprise"].text() == "请从列表中选择企业，或清空该项。"
    assert "纬度" in intake.errors["location"].text()
    intake.clear()
    intake.description.setPlainText("噪声扰民")
    intake.set_location(121.44, 28.66)
    params = intake.params()
    assert params is not None
    assert params["crs"] == "wgs84"
    assert params["lat"] == 28.66
    assert all(not label.text() for label in intake.errors.values())


def test_duplicate_is_offered_and_merged(
    qtbot: QtBot, dispatcher: tuple[Shell, DispatchFeature]
) -> None:
    shell, feature = dispatcher
    log_in(qtbot, shell)
    enterprise = sorted(shell.session.snapshot["enterprises"], key=lambda e: e["id"])[1]
    intake = feature.intake
    for _ in range(2):
        intake.category.setCurrentIndex(intake.category.findData("noise"))
        intake.description.setPlainText("夜间施工噪声")
        intake.set_location(enterprise["lon"], enterprise["lat"])
        before = feature.recommendation.result
        intake.submit()
        qtbot.waitUntil(
            lambda before=before: feature.recommendation.result not in (None, before),
            timeout=10_000,
        )
    recommendation = feature.recommendation
    assert recommendation.duplicates.rowCount() >= 1
    into = recommendation.duplicates.item(0, 0).text()
    messages: list[str] = []
    recommendation.sig_message.connect(messages.append)
    recommendation.duplicates.cellWidget(0, 4).click()
    qtbot.waitUntil(lambda: bool(messages), timeout=10_000)
    assert messages == [f"已并入案件 {into}。"]
    assert not recommendation.dispatch_button.isEnabled()


def test_conflicting_action_shows_a_message_and_the_current_task(
    qtbot: QtBot, county_hub: ThreadedHub, dispatcher: tuple[Shell, DispatchFeature]
) -> None:
    first, _feature = dispatcher
    log_in(qtbot, first)
    enterprise = first_enterprise(first)
    created = call(
        qtbot,
        first,
        "complaint.create",
        {
            "channel": "web",
            "category": "water",
            "urgency": "normal",
            "reporter_name": "",
            "reporter_phone": "",
            "description": "河道发黑",
            "lon": enterprise["lon"],
            "lat": enterprise["lat"],
        },
    )
    task = call(qtbot, first, "task.dispatch", {"complaint_id": created["complaint"]["id"]})["task"]

    # A second seat whose timeline gets no events (like one whose update is still in flight).
    second = make_shell(qtbot, county_hub.url)
    try:
        log_in(qtbot, second, "commander")
        stale = TaskTimeline(second.session)
        qtbot.addWidget(stale)
        second.session.set_current_task(task["id"])
        qtbot.waitUntil(lambda: stale.task is not None, timeout=10_000)
        assert stale.task is not None
        assert stale.task["version"] == task["version"]

        call(
            qtbot,
            first,
            "task.action",
            {
                "task_id": task["id"],
                "action": "reassign",
                "expected_version": task["version"],
                "payload": {"reason": "换人", "to": task["assignee_officer_id"]},
            },
        )
        stale.perform(Action.CANCEL, {"reason": "重复举报"})
        qtbot.waitUntil(lambda: stale.notice.isVisibleTo(stale), timeout=10_000)
        assert stale.notice.text().startswith("该任务已被他人修改")
        qtbot.waitUntil(
            lambda: stale.task is not None and stale.task["version"] == task["version"] + 1,
            timeout=10_000,
        )
        assert stale.task["state"] == "assigned"
        qtbot.waitUntil(lambda: stale.events.topLevelItemCount() == 2, timeout=10_000)
        actions = [
            stale.events.topLevelItem(i).text(1) for i in range(stale.events.topLevelItemCount())
        ]
        assert actions == ["派单", "改派"]
        when = stale.events.topLevelItem(0).text(0)
        assert stale.events.columnWidth(0) >= stale.events.fontMetrics().horizontalAdvance(when)
        # Now up to date: the same action goes through.
        stale.perform(Action.CANCEL, {"reason": "重复举报"})
        qtbot.waitUntil(
            lambda: stale.task is not None and stale.task["state"] == "cancelled", timeout=10_000
        )
    finally:
        second.link.close()
