"""Event delivery, scope filtering, slow consoles, login throttling and hub lifecycles."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from console.__main__ import main
from console.core.model import Role, User
from console.core.passwords import hash_password
from console.hub.client import HubClient, HubError
from console.hub.embedded import EmbeddedHub
from console.hub.server import Hub
from console.hub.state import HubConfig
from console.store import Store
from tests.hub.support import PASSWORD, logged_in, run


def test_events_are_filtered_by_scope_and_topic(seeded_sqlite_url: str) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        hub = await Hub.start(HubConfig(db_url=seeded_sqlite_url, port=0))
        county_events: list[dict[str, Any]] = []
        city_events: list[dict[str, Any]] = []
        try:
            county = await logged_in(hub.url, "county", on_event=county_events.append)
            city = await logged_in(hub.url, "dispatcher", on_event=city_events.append)
            await county.subscribe(["officer.moved", "alarm.raised"])
            await city.subscribe(["officer.moved"])
            bus = hub.state.bus
            bus.publish("officer.moved", {"id": "o1"}, district_adcode="331002")
            bus.publish("officer.moved", {"id": "o2"}, district_adcode="331003")
            bus.publish("alarm.raised", {"id": "a1"}, district_adcode="331002")
            bus.publish("alarm.raised", {"id": "global"})
            bus.publish("task.updated", {"id": "t1"}, district_adcode="331002")
            while len(county_events) < 3 or len(city_events) < 2:
                await asyncio.sleep(0.01)
            await county.close()
            await city.close()
        finally:
            await hub.stop()
        return county_events, city_events

    county, city = run(scenario)
    assert [(e["topic"], e["data"]["id"]) for e in county] == [
        ("officer.moved", "o1"),
        ("alarm.raised", "a1"),
        ("alarm.raised", "global"),
    ]
    assert [e["seq"] for e in county] == [1, 2, 3]
    assert [e["data"]["id"] for e in city] == ["o1", "o2"]


async def drain(websocket: ClientConnection) -> None:
    while True:
        await websocket.recv()


def test_slow_console_is_dropped_with_a_clear_reason(seeded_sqlite_url: str) -> None:
    limit = 50

    async def scenario() -> tuple[int | None, str | None, HubError]:
        hub = await Hub.start(HubConfig(db_url=seeded_sqlite_url, port=0, event_queue_limit=limit))
        try:
            # A raw client that stops reading: its socket and the hub's queue fill up.
            slow = await connect(hub.url, max_queue=1, compression=None)
            login = {"type": "login", "id": 1, "username": "dispatcher"}
            await slow.send(json.dumps({**login, "password": PASSWORD, "seat": "slow"}))
            assert json.loads(await slow.recv())["type"] == "login.ok"
            await slow.send(
                json.dumps(
                    {
                        "type": "request",
                        "id": 2,
                        "method": "events.subscribe",
                        "params": {"topics": ["officer.moved"]},
                    }
                )
            )
            assert json.loads(await slow.recv())["type"] == "response"
            healthy = await logged_in(hub.url, "leader")  # unaffected by the slow one
            payload = {"blob": "x" * 20_000}  # the slow client has compression off
            for _ in range(2_000):
                hub.state.bus.publish("officer.moved", payload, district_adcode="331002")
                await asyncio.sleep(0)
            info = await healthy.request("hub.info")
            assert info["version"]
            # Read what is left so the close frame arrives.
            with pytest.raises(ConnectionClosed):
                await drain(slow)
            await healthy.close()
            with pytest.raises(HubError) as closed:
                await healthy.request("hub.info")
            return slow.close_code, slow.close_reason, closed.value
        finally:
            await hub.stop()

    code, reason, after_close = run(scenario, timeout=60)
    assert code == 1013
    assert reason == f"console too slow: more than {limit} events waiting"
    assert after_close.code == "connection_closed"


def test_repeated_login_failures_are_throttled_then_dropped(seeded_sqlite_url: str) -> None:
    config = HubConfig(
        db_url=seeded_sqlite_url,
        port=0,
        login_free_failures=1,
        login_delay_s=0.2,
        login_max_failures=3,
    )

    async def scenario() -> tuple[list[float], str | None]:
        hub = await Hub.start(config)
        closed: list[str] = []
        try:
            client = HubClient(on_closed=closed.append)
            await client.connect(hub.url)
            loop = asyncio.get_running_loop()
            durations = []
            for _ in range(3):
                started = loop.time()
                with pytest.raises(HubError):
                    await client.login("county", "wrong-password", "seat")
                durations.append(loop.time() - started)
            await client.close()
            return durations, closed[0] if closed else None
        finally:
            await hub.stop()

    durations, closed = run(scenario)
    assert durations[1] >= 0.2
    assert durations[2] >= 0.4
    assert closed == "1008 too many failed logins"


def test_embedded_hub_start_stop_leaves_no_threads(seeded_sqlite_url: str) -> None:
    before = set(threading.enumerate())
    hub = EmbeddedHub(seeded_sqlite_url)
    url = hub.start()
    assert url.startswith("ws://127.0.0.1:")

    async def use() -> dict[str, Any]:
        client = await logged_in(url, "dispatcher")
        try:
            result: dict[str, Any] = await client.request("hub.info")
            return result
        finally:
            await client.close()

    assert run(use)["db"] == "sqlite"
    hub.stop()
    assert set(threading.enumerate()) - before == set()


def test_embedded_hub_reports_a_bad_database() -> None:
    hub = EmbeddedHub("nosuchdb://nowhere")
    with pytest.raises(RuntimeError, match="embedded hub failed to start"):
        hub.start()
    hub.stop()


def children_of(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_hub_command_serves_until_stopped_and_takes_its_workers_along(
    seeded_sqlite_url: str, stop: signal.Signals
) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "console",
            "hub",
            "--db",
            seeded_sqlite_url,
            "--port",
            "0",
            "--hj212-port",
            "0",
            "--hj212-workers",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        started = json.loads(first_line)
        health_url = started["listening"].replace("ws://", "http://").replace("/ws/console", "")
        with urllib.request.urlopen(health_url + "/healthz", timeout=10) as response:
            health = json.load(response)
        assert health["status"] == "ok"
        assert health["world"]["districts"] == 2
        assert health["monitoring"]["workers"] == 2
        assert health["monitoring"]["worker_restarts"] == 0
        assert health["monitoring"]["receiver"]["connections_open"] == 0
        workers = children_of(process.pid)
        assert len(workers) >= 2  # the ingest workers (and multiprocessing's tracker)
        process.send_signal(stop)
        assert process.wait(timeout=20) == (0 if stop == signal.SIGTERM else -signal.SIGKILL)
        deadline = time.monotonic() + 15  # killed, the hub cannot stop them: they notice
        while any(map(alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(map(alive, workers))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.close()
        process.stderr.close()


def test_hub_command_rejects_a_bad_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hub", "--port", "70000"]) == 2
    assert "--port must be 0..65535" in capsys.readouterr().err
    assert main(["hub", "--hj212-workers", "-1"]) == 2
    assert "HJ 212 workers must be 0..64, got -1" in capsys.readouterr().err


def test_hub_without_a_world_still_serves_logins(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    store = Store.open(url)
    store.add_user(User("admin", "管理员", Role.ADMIN, "org-331000", hash_password(PASSWORD)))
    store.close()

    async def scenario() -> tuple[dict[str, Any], HubError, tuple[Any, str | None]]:
        hub = await Hub.start(HubConfig(db_url=url, port=0))
        try:
            assert hub.health()["world"] is None
            admin = await logged_in(hub.url, "admin")
            info = await admin.request("hub.info")
            with pytest.raises(HubError) as no_snapshot:
                await admin.request("world.snapshot")
            located = await admin.request_with_reason("locate", lon=121.4, lat=28.6)
            await admin.close()
            return info, no_snapshot.value, located
        finally:
            await hub.stop()

    info, no_snapshot, located = run(scenario)
    assert info["world"] is None
    assert no_snapshot.code == "not_found"
    assert "seed" in no_snapshot.detail
    assert located == (None, "no_world")
