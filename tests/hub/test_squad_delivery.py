"""Enforcement tasks reach every device of the squad, over a real hub and real field clients.

A complaint is verified by its grid officer's device and escalated from a console; the
enforcement task that escalation creates is pushed to both squad members' tablets (one online
at the time, one enrolling afterwards), each member acks its own entry (duplicates harmless),
the first receipt marks the task delivered and acked, and a cancel reaches both again.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from console.core.model import Officer, OfficerRole
from console.hub.client import HubClient
from console.hub.field_protocol import FIELD_PATH
from console.hub.server import Hub
from console.hub.state import HubConfig
from console.store import Store
from console.store.field_repo import FieldRepo
from tests.hub.support import logged_in, run, seed_store, small_world

SQUAD = "squad-331002-1"
MEMBERS = ("squad-331002-1-a", "squad-331002-1-b")
GRID_OFFICER = "officer-331002-0001"
SITE = (121.01, 28.02)  # ent-331002
NEAR = (121.0104, 28.0202)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    world = small_world()
    members = tuple(
        Officer(oid, f"队员{n}", OfficerRole.SQUAD_MEMBER, SQUAD, "331002", squad_id=SQUAD)
        for n, oid in enumerate(MEMBERS, start=1)
    )
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    seed_store(url, replace(world, officers=world.officers + members))
    return url


def issue_token(url: str, officer_id: str) -> str:
    store = Store.open(url)
    try:
        return FieldRepo(store.engine).issue_token(officer_id, datetime.now(UTC)).token
    finally:
        store.close()


class Device:
    """One field device: keeps every pushed outbox message, answers requests by msg_id."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.pushed: list[dict[str, Any]] = []
        self.n = 0

    @classmethod
    async def open(cls, hub: Hub, token: str, last_seq: int = 0) -> Device:
        ws = await connect(hub.url.replace("/ws/console", FIELD_PATH))
        hello = {"type": "hello", "token": token, "device": {"id": "tab"}, "last_seq": last_seq}
        await ws.send(json.dumps(hello))
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome", welcome
        return cls(ws)

    async def _next(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
        if message["type"] in ("task.assigned", "task.cancelled"):
            self.pushed.append(message)
        return message

    async def pushed_for(self, task_id: str, kind: str) -> dict[str, Any]:
        """The pushed ``kind`` message about ``task_id`` (already received or the next ones)."""
        while True:
            for message in self.pushed:
                if message["type"] == kind and message["task"]["id"] == task_id:
                    return message
            await self._next()

    async def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        self.n += 1
        msg_id = f"m{self.n}"
        await self.ws.send(json.dumps({**message, "msg_id": msg_id}))
        while True:
            answer = await self._next()
            if answer.get("ref") == msg_id:
                return answer

    async def ack(self, seq: int) -> None:
        await self.ws.send(json.dumps({"type": "task.ack", "seq": seq}))


async def verified_and_escalated(hub: Hub, url: str, console: HubClient) -> str:
    """A complaint verified on site by the grid officer's device, escalated to the squad."""
    created = await console.request(
        "complaint.create",
        channel="hotline_12369",
        category="water",
        urgency="urgent",
        reporter_name="张三",
        reporter_phone="13900000000",
        description="河道发黑发臭",
        lon=SITE[0],
        lat=SITE[1],
        enterprise_id="ent-331002",
    )
    dispatched = await console.request(
        "task.dispatch", complaint_id=created["complaint"]["id"], officer_id=GRID_OFFICER
    )
    task_id = dispatched["task"]["id"]
    grid = await Device.open(hub, issue_token(url, GRID_OFFICER))
    pushed = await grid.pushed_for(task_id, "task.assigned")
    await grid.ack(pushed["seq"])
    await until(  # the hub applies "deliver" on receipt; act after it, not racing it
        lambda: console.request("task.get", task_id=task_id),
        lambda got: got["task"]["state"] == "delivered",
    )
    for action, extra in (
        ("accept", {}),
        ("depart", {}),
        ("arrive", {"lat": NEAR[1], "lon": NEAR[0], "accuracy": 8}),
        ("verify_confirmed", {"findings": "排口黑水外排"}),
    ):
        answer = await grid.ask(
            {"type": "task.status", "task_id": task_id, "action": action, **extra}
        )
        assert answer["type"] == "task.status.ok", answer
    await grid.ws.close()
    task = (await console.request("task.get", task_id=task_id))["task"]
    escalated = await console.request(
        "task.action",
        task_id=task_id,
        action="escalate",
        expected_version=task["version"],
        payload={"squad_id": SQUAD},
    )
    follow_up: str = escalated["follow_up"]["id"]
    return follow_up


async def until(read: Any, done: Any, timeout: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await read()
        if done(value):
            return value
        assert asyncio.get_running_loop().time() < deadline, f"condition not met: {value!r}"
        await asyncio.sleep(0.05)


def test_escalated_task_reaches_every_squad_member(db_url: str) -> None:
    async def scenario() -> None:
        hub = await Hub.start(HubConfig(db_url=db_url, port=0, monitoring=None))
        try:
            console = await logged_in(hub.url, "dispatcher")
            first = await Device.open(hub, issue_token(db_url, MEMBERS[0]))
            task_id = await verified_and_escalated(hub, db_url, console)

            # The online member gets it pushed; the entry is delivered at once.
            got_a = await first.pushed_for(task_id, "task.assigned")
            assert got_a["task"]["kind"] == "enforcement"
            assert got_a["task"]["enterprise"]["id"] == "ent-331002"
            assert got_a["task"]["note"] == "排口黑水外排"  # the grid officer's findings
            details = await until(
                lambda: console.request("task.get", task_id=task_id),
                lambda got: got["task"]["state"] == "delivered",
            )
            entries = {e["officer_id"]: e for e in details["outbox"]}
            assert set(entries) == set(MEMBERS)
            assert entries[MEMBERS[0]]["delivered_at"] is not None
            assert entries[MEMBERS[1]]["delivered_at"] is None  # no device yet

            # Acks are per member and idempotent; the first one acks the task.
            await first.ack(got_a["seq"])
            await first.ack(got_a["seq"])
            details = await until(
                lambda: console.request("task.get", task_id=task_id),
                lambda got: all(
                    e["acked_at"] for e in got["outbox"] if e["officer_id"] == MEMBERS[0]
                ),
            )
            assert [e["officer_id"] for e in details["outbox"]].count(MEMBERS[0]) == 1

            # The second member enrols afterwards and still receives the open task.
            second = await Device.open(hub, issue_token(db_url, MEMBERS[1]))
            got_b = await second.pushed_for(task_id, "task.assigned")
            assert got_b["outbox_id"] != got_a["outbox_id"]
            await second.ack(got_b["seq"])
            await second.ack(got_b["seq"])
            details = await until(
                lambda: console.request("task.get", task_id=task_id),
                lambda got: all(e["acked_at"] for e in got["outbox"]),
            )
            assert len(details["outbox"]) == 2
            delivers = [e for e in details["events"] if e["action"] == "deliver"]
            assert len(delivers) == 1  # one task, delivered once

            # Either member may act on the squad's task.
            accepted = await second.ask(
                {"type": "task.status", "task_id": task_id, "action": "accept"}
            )
            assert accepted["state"] == "accepted", accepted

            # A redelivery after reconnect is only for what is unacked: nothing here.
            await first.ws.close()
            again = await Device.open(hub, issue_token(db_url, MEMBERS[0]))
            await again.ws.send(json.dumps({"type": "pong"}))
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(again.ws.recv(), 0.5)

            # Cancelling reaches both devices.
            task = (await console.request("task.get", task_id=task_id))["task"]
            await console.request(
                "task.action",
                task_id=task_id,
                action="cancel",
                expected_version=task["version"],
                payload={"reason": "企业已停产"},
            )
            for device in (again, second):
                while True:
                    message = await device._next()
                    if message["type"] == "task.cancelled":
                        assert message["task"]["id"] == task_id
                        await device.ack(message["seq"])
                        break
            await again.ws.close()
            await second.ws.close()
            await console.close()
        finally:
            await hub.stop()

    run(scenario, timeout=60)
