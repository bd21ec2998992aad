"""The officer roster and the enrolment QR dialog against a real hub and a real field device."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import segno
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot
from websockets.asyncio.client import ClientConnection, connect

from console.dispatch import DispatchFeature, install
from console.dispatch.board_model import parse_time
from console.dispatch.enrol import QUIET_ZONE, EnrolDialog, qr_image, qr_matrix
from console.dispatch.roster import OfficerRoster, RosterModel, relative_age
from console.hub.field_protocol import FIELD_PATH
from console.shell import i18n
from console.shell.session import Session
from console.store import Store
from console.store.field_repo import FieldRepo
from tests.ui.conftest import PaintCounter, copy_db
from tests.ui.test_shell import Shell, ThreadedHub, log_in, make_shell


class FieldDevice:
    """A phone speaking the field protocol on its own thread and event loop."""

    def __init__(self, hub_url: str, token: str) -> None:
        self.url = hub_url.replace("/ws/console", FIELD_PATH)
        self.token = token
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="field-device")
        self.thread.start()
        self.ws: ClientConnection | None = None

    def _run(self, coroutine: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def hello(self) -> dict[str, Any]:
        async def hello() -> dict[str, Any]:
            self.ws = await connect(self.url)
            await self.ws.send(
                json.dumps(
                    {
                        "type": "hello",
                        "token": self.token,
                        "device": {"id": "test-phone", "model": "pytest", "app_version": "1"},
                        "last_seq": 0,
                    }
                )
            )
            answer: dict[str, Any] = json.loads(await self.ws.recv())
            return answer

        result: dict[str, Any] = self._run(hello())
        return result

    def send(self, message: dict[str, Any]) -> None:
        assert self.ws is not None
        self._run(self.ws.send(json.dumps(message)))

    def receive(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        """The next message of type ``kind`` (task pushes may come in between)."""

        async def receive() -> dict[str, Any]:
            assert self.ws is not None
            while True:
                message: dict[str, Any] = json.loads(await self.ws.recv())
                if message["type"] == kind:
                    return message

        result: dict[str, Any] = self._run(receive(), timeout)
        return result

    def close(self) -> None:
        if self.ws is not None:
            self._run(self.ws.close())
            self.ws = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def issue_token(db_url: str, officer_id: str) -> str:
    store = Store.open(db_url)
    try:
        return FieldRepo(store.engine).issue_token(officer_id, datetime.now(UTC)).token
    finally:
        store.close()


@pytest.fixture(scope="module")
def roster_db(tmp_path_factory: pytest.TempPathFactory, county_db_template: Path) -> str:
    return copy_db(county_db_template, tmp_path_factory.mktemp("roster-hub"))


@pytest.fixture(scope="module")
def roster_hub(roster_db: str) -> Iterator[ThreadedHub]:
    hub = ThreadedHub(roster_db)
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture
def dispatcher(qtbot: QtBot, roster_hub: ThreadedHub) -> Iterator[tuple[Shell, DispatchFeature]]:
    shell = make_shell(qtbot, roster_hub.url)
    feature = install(shell.window, shell.session)
    yield shell, feature
    shell.link.close()


# --- pure parts ------------------------------------------------------------------------------


def test_relative_age_counts_up() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    i18n.set_language("en")
    try:
        assert relative_age(None, now) == "never"
        assert relative_age(now - timedelta(seconds=2), now) == "just now"
        assert relative_age(now - timedelta(seconds=42), now) == "42 s ago"
        assert relative_age(now - timedelta(minutes=7), now) == "7 min ago"
        assert relative_age(now - timedelta(hours=3), now) == "3 h ago"
        assert relative_age(now - timedelta(days=2), now) == "2 d ago"
    finally:
        i18n.set_language(i18n.DEFAULT_LANGUAGE)


def test_model_folds_presence_moves_and_tasks(qtbot: QtBot) -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    model = RosterModel(now=lambda: now)
    model.set_rows(
        [
            {"officer_id": "a", "name": "甲", "online": False, "last_seen": None, "battery": None,
             "duty": "on_duty", "current_task_id": "t1"},
            {"officer_id": "b", "name": "乙", "online": False, "last_seen": None, "battery": None,
             "duty": "on_duty", "current_task_id": None},
        ]
    )  # fmt: skip
    finished: list[str] = []
    model.sig_task_finished.connect(finished.append)
    model.apply_events(
        [
            {"topic": "officer.presence", "data": {"officer_id": "a", "online": True,
             "last_seen": now.isoformat(), "battery": 80}},
            {"topic": "officer.moved", "data": {"officer_id": "b", "lon": 121.4, "lat": 28.6,
             "battery": 33.0, "ts": (now - timedelta(seconds=30)).isoformat()}},
            {"topic": "task.updated", "data": {"task": {"id": "t2", "state": "accepted",
             "assignee_officer_id": "b"}}},
            {"topic": "task.updated", "data": {"task": {"id": "t1", "state": "closed",
             "assignee_officer_id": "a"}}},
            {"topic": "officer.moved", "data": {"officer_id": "stranger", "lon": 1, "lat": 2}},
        ]
    )  # fmt: skip
    a, b = model.row("a"), model.row("b")
    assert a is not None
    assert b is not None
    assert (a["online"], a["battery"], a["current_task_id"]) == (True, 80, None)
    assert (b["lon"], b["battery"], b["current_task_id"]) == (121.4, 33.0, "t2")
    assert finished == ["t1"]
    i18n.set_language("en")
    try:
        column = RosterModel.COLUMNS.index("last_seen")
        assert model.data(model.index(1, column)) == "30 s ago"
        assert model.data(model.index(1, RosterModel.COLUMNS.index("battery"))) == "33%"
    finally:
        i18n.set_language(i18n.DEFAULT_LANGUAGE)
    # The hub sends one officer.moved event per district and tick: a list of moves.
    model.apply_events(
        [{"topic": "officer.moved", "data": [
            {"officer_id": "a", "lon": 121.1, "lat": 28.1, "battery": 70.0,
             "ts": now.isoformat()},
            {"officer_id": "stranger", "lon": 1, "lat": 2},
            {"officer_id": "b", "lon": 121.5, "lat": 28.7, "battery": 32.0,
             "ts": now.isoformat()},
        ]}]
    )  # fmt: skip
    assert (model.row("a") or {}).get("lon") == 121.1
    assert (model.row("b") or {}).get("battery") == 32.0


def test_ages_tick_by_repainting_the_visible_cells_only(qtbot: QtBot) -> None:
    """No model signal per tick: with a city's officers that made every row be re-examined."""
    clock = [datetime(2026, 1, 1, 12, 0, tzinfo=UTC)]
    roster = OfficerRoster(Session(), now=lambda: clock[0])
    qtbot.addWidget(roster)
    roster.stop()
    seen = (clock[0] - timedelta(seconds=30)).isoformat()
    roster.model.set_rows(
        [{"officer_id": "a", "name": "甲", "online": True, "last_seen": seen, "battery": 90,
          "duty": "on_duty", "current_task_id": None}]
    )  # fmt: skip
    signals: list[str] = []
    roster.model.dataChanged.connect(lambda *_: signals.append("model"))
    roster.proxy.dataChanged.connect(lambda *_: signals.append("proxy"))
    counter = PaintCounter(roster.table.viewport())
    roster.repaint_ages()  # hidden: nothing to draw
    qtbot.wait(50)
    assert counter.paints == 0
    roster.show()
    qtbot.waitExposed(roster)
    qtbot.wait(50)
    counter.paints = 0
    cell = roster.proxy.index(0, RosterModel.COLUMNS.index("last_seen"))
    before = cell.data()
    clock[0] += timedelta(minutes=7)
    roster.repaint_ages()
    qtbot.waitUntil(lambda: counter.paints > 0, timeout=5_000)
    assert signals == []
    assert before == relative_age(parse_time(seen), clock[0] - timedelta(minutes=7))
    assert cell.data() == relative_age(parse_time(seen), clock[0])  # what the repaint drew
    assert cell.data() != before


# --- against the hub -------------------------------------------------------------------------


def test_roster_fills_from_the_hub_and_follows_a_real_field_device(
    qtbot: QtBot,
    roster_db: str,
    roster_hub: ThreadedHub,
    dispatcher: tuple[Shell, DispatchFeature],
) -> None:
    shell, feature = dispatcher
    roster = feature.roster
    log_in(qtbot, shell)
    officers = shell.session.snapshot["officers"]
    qtbot.waitUntil(lambda: roster.model.rowCount() == len(officers), timeout=10_000)
    officer_id = sorted(o["id"] for o in officers)[0]
    row = roster.model.row(officer_id)
    assert row is not None
    assert row["online"] is False

    device = FieldDevice(roster_hub.url, issue_token(roster_db, officer_id))
    try:
        assert device.hello()["type"] == "welcome"
        qtbot.waitUntil(lambda: (roster.model.row(officer_id) or {})["online"], timeout=10_000)
        lon, lat = officers[0].get("lon") or 121.43, officers[0].get("lat") or 28.66
        device.send(
            {
                "type": "position",
                "lat": lat,
                "lon": lon,
                "accuracy": 5,
                "battery": 57,
                "ts": int(datetime.now(UTC).timestamp() * 1000),
            }
        )
        qtbot.waitUntil(
            lambda: (roster.model.row(officer_id) or {}).get("battery") == 57, timeout=10_000
        )
        assert (roster.model.row(officer_id) or {})["lon"] == pytest.approx(lon)

        # Search narrows to the officer; double-click selects them in the session.
        roster.search.setText(officer_id)
        assert roster.proxy.rowCount() == 1
        roster.presence.setCurrentIndex(roster.presence.findData(False))
        assert roster.proxy.rowCount() == 0  # the officer is online
        roster.presence.setCurrentIndex(roster.presence.findData(True))
        assert roster.proxy.rowCount() == 1
        index = roster.proxy.index(0, 0)
        roster.table.doubleClicked.emit(index)
        assert shell.session.selection == ("officer", officer_id)
    finally:
        device.close()
    qtbot.waitUntil(lambda: not (roster.model.row(officer_id) or {})["online"], timeout=10_000)
    assert roster.proxy.rowCount() == 0  # still filtered to online officers


def test_enrolment_dialog_shows_a_decodable_qr_code(
    qtbot: QtBot, roster_hub: ThreadedHub, dispatcher: tuple[Shell, DispatchFeature]
) -> None:
    shell, feature = dispatcher
    roster = feature.roster
    log_in(qtbot, shell)
    qtbot.waitUntil(lambda: roster.model.rowCount() > 0, timeout=10_000)
    officer_id = roster.model.officer_id_at(0)
    roster.enrol(officer_id)
    qtbot.waitUntil(lambda: roster.dialog is not None and roster.dialog.isVisible(), timeout=10_000)
    dialog = roster.dialog
    assert isinstance(dialog, EnrolDialog)
    url = dialog.url.text()
    token = dialog.token.text()
    assert url.endswith(f"/field/#token={token}")
    assert url.startswith("http://127.0.0.1:")
    assert dialog.fingerprint is None  # a plain-ws hub has no certificate

    # The painted pixmap, read back module by module, is exactly segno's matrix.
    expected = [[bool(m) for m in row] for row in segno.make_qr(url, error="m").matrix]
    pixmap = dialog.qr.pixmap()
    image = pixmap.toImage()
    modules = len(expected) + 2 * QUIET_ZONE
    assert image.width() == image.height()
    assert image.width() % modules == 0
    assert read_modules(image, modules) == expected
    assert qr_matrix(url) == expected

    # The token in the dialog authenticates a device.
    device = FieldDevice(roster_hub.url, token)
    try:
        assert device.hello()["officer"]["id"] == officer_id
    finally:
        device.close()

    QTest.mouseClick(dialog.copy_token, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == token
    dialog.close()


def read_modules(image: QImage, modules: int) -> list[list[bool]]:
    """Sample each module's centre; asserts the quiet zone is white."""
    step = image.width() // modules
    grid = [
        [image.pixelColor(x * step + step // 2, y * step + step // 2).lightness() < 128
         for x in range(modules)]
        for y in range(modules)
    ]  # fmt: skip
    assert not any(any(row) for row in grid[:QUIET_ZONE] + grid[-QUIET_ZONE:])
    assert not any(any(row[:QUIET_ZONE] + row[-QUIET_ZONE:]) for row in grid)
    return [row[QUIET_ZONE:-QUIET_ZONE] for row in grid[QUIET_ZONE:-QUIET_ZONE]]


def test_qr_image_refuses_a_zero_module_size() -> None:
    with pytest.raises(ValueError, match="module_px must be at least 1"):
        qr_image([[True]], module_px=0)
