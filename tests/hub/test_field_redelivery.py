"""At-least-once delivery survives ``kill -9`` of the hub, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from console.hub.client import HubError
from tests.hub.support import IN_331002, logged_in, run, seed_store, small_world
from tests.hub.test_field_link import OFFICER, issue

pytestmark = pytest.mark.slow


class HubProcess:
    """``python -m console hub`` as a real child process."""

    def __init__(self, db_url: str, home: Path) -> None:
        env = {**os.environ, "ENFORCEMENT_CONSOLE_HOME": str(home)}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "console",
                "hub",
                "--db",
                db_url,
                "--port",
                "0",
                "--no-hj212",
                "--log-level",
                "WARNING",
            ],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        self.url: str = json.loads(line)["listening"]

    @property
    def field_url(self) -> str:
        return self.url.replace("/ws/console", "/ws/field")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_url")
    seed_store(url, small_world())
    return url


async def _dispatch(url: str, count: int, dispatched: list[str]) -> None:
    client = await logged_in(url, "dispatcher")
    try:
        for number in range(count):
            created = await client.request(
                "complaint.create",
                channel="hotline_12369",
                category="air",
                urgency="normal",
                reporter_name="李四",
                reporter_phone="13900000001",
                description=f"异味 {number}",
                lon=IN_331002[0] + number * 1e-4,
                lat=IN_331002[1],
            )
            result = await client.request(
                "task.dispatch", complaint_id=created["complaint"]["id"], officer_id=OFFICER
            )
            dispatched.append(result["task"]["id"])
    except (HubError, OSError):
        pass  # the hub was killed under us
    finally:
        await client.close()


async def _receive(
    field_url: str, token: str, last_seq: int, quiet_s: float
) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    async with connect(field_url) as ws:
        hello = {"type": "hello", "token": token, "device": {"id": "p"}, "last_seq": last_seq}
        await ws.send(json.dumps(hello))
        assert json.loads(await ws.recv())["type"] == "welcome"
        try:
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), quiet_s))
                if message["type"] == "task.assigned":
                    got.append(message)
        except TimeoutError:
            pass
    return got


def test_every_task_arrives_after_kill_9(db_url: str, tmp_path: Path) -> None:
    token = issue(db_url)
    home = tmp_path / "home-hub"
    home.mkdir()
    dispatched: list[str] = []

    async def scenario() -> None:
        hub = HubProcess(db_url, home)
        try:
            await _dispatch(hub.url, 3, dispatched)
            first = await _receive(hub.field_url, token, 0, 1.0)
            assert [m["task"]["id"] for m in first] == dispatched
            # Keep dispatching while the device streams, then kill -9 mid-way.
            stream = asyncio.create_task(_receive(hub.field_url, token, 0, 2.0))
            more = asyncio.create_task(_dispatch(hub.url, 20, dispatched))
            await asyncio.sleep(1.0)
            hub.kill()
            await asyncio.gather(more, stream, return_exceptions=True)
        finally:
            hub.stop()
        hub = HubProcess(db_url, home)
        try:
            after = await _receive(hub.field_url, token, 0, 1.5)
        finally:
            hub.stop()
        ids = [m["task"]["id"] for m in after]
        assert set(dispatched) <= set(ids)
        seqs = [m["seq"] for m in after]
        assert seqs == sorted(seqs)
        assert len(dispatched) > 3

    run(scenario, timeout=90)
