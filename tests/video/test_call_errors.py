"""Call signalling errors in the hub, without a browser: real hub, real console and field
sockets (a field device here is a plain websocket speaking the field protocol)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from console.hub.call_signalling import CALL_TOPICS
from console.hub.client import HubClient, HubError
from console.hub.embedded import EmbeddedHub
from tests.field.conftest import FieldHub
from tests.hub.support import IN_331002, logged_in, run, seed_store, small_world

OFFICER = "officer-331002-0001"
OTHER_DISTRICT_OFFICER = "officer-331003-0001"
OFFLINE_OFFICER = "officer-331002-0002"
SDP = "v=0\r\n"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FieldHub]:
    root: Path = tmp_path_factory.mktemp("call-hub")
    db_url = f"sqlite:///{root / 'hub.sqlite3'}"
    seed_store(db_url, small_world())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ENFORCEMENT_CONSOLE_HOME", str(root / "home"))
        embedded = EmbeddedHub(db_url)
        url = embedded.start()
    base = url.removeprefix("ws://").split("/", 1)[0]
    yield FieldHub(base_url=f"http://{base}", console_url=url, db_url=db_url)
    embedded.stop()


async def _console(hub: FieldHub, username: str, events: list[dict[str, Any]]) -> HubClient:
    client = await logged_in(
        hub.console_url, username, seat=f"seat-{username}", on_event=events.append
    )
    await client.subscribe(list(CALL_TOPICS))
    return client


async def _device(hub: FieldHub, officer_id: str) -> ClientConnection:
    ws = await connect(hub.console_url.replace("/ws/console", "/ws/field"))
    hello = {"type": "hello", "token": hub.issue_token(officer_id), "device": {"id": "d1"}}
    await ws.send(json.dumps(hello))
    assert json.loads(await ws.recv())["type"] == "welcome"
    return ws


async def _next(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The device's next message of this type (task pushes and the like are skipped)."""
    async with asyncio.timeout(10):
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            if message["type"] == kind:
                return message


async def _error(request: Any) -> HubError:
    with pytest.raises(HubError) as caught:
        await request
    return caught.value


async def _until(events: list[dict[str, Any]], state: str, call_id: str) -> None:
    async with asyncio.timeout(10):
        while not any(
            e["topic"] == "call.state"
            and e["data"]["call_id"] == call_id
            and e["data"]["state"] == state
            for e in events
        ):
            await asyncio.sleep(0.02)


def test_start_errors(hub: FieldHub) -> None:
    async def scenario() -> None:
        events: list[dict[str, Any]] = []
        console = await _console(hub, "dispatcher", events)
        unsubscribed = await logged_in(hub.console_url, "admin", seat="seat-unsubscribed")
        try:
            offline = await _error(console.request("call.start", officer_id=OFFLINE_OFFICER))
            assert offline.code == "not_found"
            assert "not online" in offline.detail
            unknown = await _error(console.request("call.start", officer_id="officer-nobody"))
            assert unknown.code == "not_found"
            assert "officer-nobody" in unknown.detail
            device = await _device(hub, OFFICER)
            try:
                missing = await _error(unsubscribed.request("call.start", officer_id=OFFICER))
                assert missing.code == "bad_request"
                assert "subscribe to call.state, call.answer" in missing.detail
                no_task = await _error(
                    console.request("call.start", officer_id=OFFICER, task_id="task-nope")
                )
                assert no_task.code == "not_found"
                for method, params in (
                    ("call.offer", {"sdp": SDP}),
                    ("call.state", {"state": "connected"}),
                    ("call.hangup", {}),
                ):
                    bad = await _error(console.request(method, call_id="f" * 32, **params))
                    assert bad.code == "not_found", method
                    assert "no open call" in bad.detail
            finally:
                await device.close()
        finally:
            await console.close()
            await unsubscribed.close()

    run(scenario)


def test_scope_and_leader_rules(hub: FieldHub) -> None:
    async def scenario() -> None:
        county = await _console(hub, "county", [])
        leader = await _console(hub, "leader", [])
        city = await _console(hub, "dispatcher", [])
        device = await _device(hub, OTHER_DISTRICT_OFFICER)
        try:
            outside = await _error(county.request("call.start", officer_id=OTHER_DISTRICT_OFFICER))
            assert outside.code == "out_of_scope"
            created = await city.request(
                "complaint.create",
                channel="hotline_12369",
                category="water",
                urgency="urgent",
                reporter_name="张三",
                reporter_phone="13900000000",
                description="河道发黑发臭",
                lon=IN_331002[0],
                lat=IN_331002[1],
            )
            task = await city.request("task.dispatch", complaint_id=created["complaint"]["id"])
            evidence = await _error(
                leader.request(
                    "call.start", officer_id=OTHER_DISTRICT_OFFICER, task_id=task["task"]["id"]
                )
            )
            assert evidence.code == "forbidden"
            assert "without task_id" in evidence.detail
            # A leader may still look: a call without a task rings the officer.
            started = await leader.request("call.start", officer_id=OTHER_DISTRICT_OFFICER)
            incoming = await _next(device, "call.incoming")
            assert incoming["call_id"] == started["call_id"]
            assert incoming["from"]["username"] == "leader"
            # Another console cannot touch the leader's call.
            foreign = await _error(city.request("call.hangup", call_id=started["call_id"]))
            assert foreign.code == "not_found"
            no_recording = await _error(
                leader.request(
                    "call.recording.chunk", call_id=started["call_id"], offset=0, data="AA=="
                )
            )
            assert no_recording.code == "bad_request"
            await leader.request("call.hangup", call_id=started["call_id"])
            assert (await _next(device, "call.hangup"))["reason"] == "hangup_console"
        finally:
            await device.close()
            for client in (county, leader, city):
                await client.close()

    run(scenario)


def test_hang_up_releases_relay_state(hub: FieldHub) -> None:
    async def scenario() -> None:
        events: list[dict[str, Any]] = []
        console = await _console(hub, "dispatcher", events)
        device = await _device(hub, OFFICER)
        try:
            started = await console.request("call.start", officer_id=OFFICER)
            call_id = started["call_id"]
            assert started["state"] == "ringing"
            await _next(device, "call.incoming")
            early = await _error(console.request("call.offer", call_id=call_id, sdp=SDP))
            assert early.code == "conflict"
            await device.send(json.dumps({"type": "call.accept", "call_id": call_id}))
            await _until(events, "connecting", call_id)
            await console.request("call.offer", call_id=call_id, sdp=SDP)
            assert (await _next(device, "call.offer"))["sdp"] == SDP
            await device.send(json.dumps({"type": "call.answer", "call_id": call_id, "sdp": SDP}))
            async with asyncio.timeout(10):
                while not any(e["topic"] == "call.answer" for e in events):
                    await asyncio.sleep(0.02)
            ended = await console.request("call.hangup", call_id=call_id)
            assert ended == {"call_id": call_id, "state": "ended", "reason": "hangup_console"}
            assert (await _next(device, "call.hangup"))["reason"] == "hangup_console"
            # Idempotent for this console; released for everything else.
            assert (await console.request("call.hangup", call_id=call_id))["state"] == "ended"
            gone = await _error(console.request("call.offer", call_id=call_id, sdp=SDP))
            assert gone.code == "not_found"
            await device.send(json.dumps({"type": "call.answer", "call_id": call_id, "sdp": SDP}))
            assert (await _next(device, "error"))["code"] == "unknown_call"
            # The officer can be called again at once.
            again = await console.request("call.start", officer_id=OFFICER)
            assert again["call_id"] != call_id
            await console.request("call.hangup", call_id=again["call_id"])
        finally:
            await device.close()
            await console.close()

    run(scenario)


def test_officer_going_offline_ends_the_ringing_call(hub: FieldHub) -> None:
    async def scenario() -> None:
        events: list[dict[str, Any]] = []
        console = await _console(hub, "dispatcher", events)
        device = await _device(hub, OFFICER)
        try:
            call_id = (await console.request("call.start", officer_id=OFFICER))["call_id"]
            await _next(device, "call.incoming")
            await device.close()
            await _until(events, "ended", call_id)
            reason = next(
                e["data"]["reason"]
                for e in events
                if e["data"].get("call_id") == call_id and e["data"]["state"] == "ended"
            )
            assert reason == "officer_offline"
            offline = await _error(console.request("call.start", officer_id=OFFICER))
            assert "not online" in offline.detail
        finally:
            await console.close()

    run(scenario)


# --- the console side of the wiring (Qt, no browser) ---------------------------------------------


def test_video_feature_places_calls_and_sends_them_to_the_wall(qtbot: Any) -> None:
    from console import video
    from console.shell.i18n import tr
    from console.shell.main_window import MainWindow
    from console.shell.session import Session
    from console.video.call import CallTile

    session = Session()
    window = MainWindow(session)
    qtbot.addWidget(window)
    panel = video.install(window, session)
    assert panel.calls is not None
    failures: list[tuple[str, str]] = []
    panel.calls.sig_call_failed.connect(lambda officer, text: failures.append((officer, text)))
    # The roster's "视频连线" and the map call session.request_call: without a hub it says so.
    session.request_call(OFFICER)
    assert failures == [(OFFICER, tr("Not connected to the hub"))]
    tile = CallTile("c" * 32, "王五")
    panel.add_call_tile(tile)
    assert panel.call_tiles.indexOf(tile) == 0
    assert tile.wall_button.isVisibleTo(tile)
    with qtbot.waitSignal(tile.sig_send_to_wall):
        tile.wall_button.click()
    wall_window = panel.wall_window
    assert wall_window is not None
    assert tile.parent() is wall_window
    assert panel.call_tiles.indexOf(tile) == -1
    assert not tile.wall_button.isVisibleTo(tile)
    wall_window.close()
    panel.calls.close()
