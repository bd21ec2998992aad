"""Task events: who receives them (district and owning organisation) and what a report adds.

Real hub on 127.0.0.1, real console clients (a county dispatcher and a city dispatcher) and a
real field device.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from console.core.sla import SlaPolicy
from console.core.tasks import Actor, ActorRole
from console.hub.field_protocol import FIELD_PATH, FieldLimits
from console.hub.server import Hub
from console.hub.state import HubConfig
from console.store import Store
from console.store.dispatch_repo import DispatchRepo
from console.store.field_repo import FieldRepo
from tests.hub.support import IN_331002, IN_331003, logged_in, run, seed_store, small_world

FAST = FieldLimits(hello_timeout_s=2.0, position_flush_s=0.05, moved_coalesce_s=0.05)
OFFICER = "officer-331002-0001"
TASK_TOPICS = ["task.updated", "task.overdue"]


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('event-scope') / 'hub.sqlite3'}"
    seed_store(url, small_world())
    return url


def complaint(point: tuple[float, float], text: str) -> dict[str, Any]:
    return {
        "channel": "hotline_12369",
        "category": "water",
        "urgency": "urgent",
        "reporter_name": "王五",
        "reporter_phone": "13900000002",
        "description": text,
        "lon": point[0],
        "lat": point[1],
    }


async def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def recv_type(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next device message of ``kind`` (pushes may interleave with answers)."""
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if message["type"] == kind:
            return message


def task_events(events: list[dict[str, Any]], task_id: str) -> list[tuple[str, str, int]]:
    return [
        (e["topic"], e["data"]["task"]["state"], e["data"]["task"]["version"])
        for e in events
        if e["topic"] in TASK_TOPICS and e["data"]["task"]["id"] == task_id
    ]


def test_hand_over_up_stops_the_county_receiving_the_task_events(db_url: str) -> None:
    policy = SlaPolicy.from_dict({"verification": {"urgent": "2s"}})

    async def scenario() -> None:
        hub = await Hub.start(
            HubConfig(db_url=db_url, port=0, monitoring=None, sla=policy, sla_check_interval_s=0.1)
        )
        county_events: list[dict[str, Any]] = []
        city_events: list[dict[str, Any]] = []
        county = await logged_in(hub.url, "county", "county-seat", county_events.append)
        city = await logged_in(hub.url, "dispatcher", "city-seat", city_events.append)
        try:
            await county.subscribe(TASK_TOPICS)
            await city.subscribe(TASK_TOPICS)
            created = await county.request("complaint.create", **complaint(IN_331002, "黑水"))
            task = (await county.request("task.dispatch", complaint_id=created["complaint"]["id"]))[
                "task"
            ]
            assert task["owner_org_id"] == "org-331002"
            # Another district's task never reaches the county (the district rule).
            elsewhere = await city.request("complaint.create", **complaint(IN_331003, "异味"))
            foreign = (
                await city.request("task.dispatch", complaint_id=elsewhere["complaint"]["id"])
            )["task"]
            await wait_for(
                lambda: len(task_events(city_events, foreign["id"])) == 1, 5, "city sees foreign"
            )
            assert task_events(county_events, foreign["id"]) == []
            # Both see the county-owned task.
            await wait_for(
                lambda: (
                    task_events(county_events, task["id"]) == [("task.updated", "assigned", 1)]
                    and task_events(city_events, task["id"]) == [("task.updated", "assigned", 1)]
                ),
                5,
                "both consoles to see the dispatch",
            )

            up = await county.request(
                "task.action",
                task_id=task["id"],
                action="hand_over",
                expected_version=1,
                payload={"reason": "跨区域案件", "to_org_id": "org-331000", "direction": "up"},
            )
            assert up["task"]["owner_org_id"] == "org-331000"
            await city.request(
                "task.action",
                task_id=task["id"],
                action="reassign",
                expected_version=2,
                payload={"reason": "市局指派", "to": "officer-331002-0002"},
            )
            # The city hears of the hand-over, the reassignment and, 2 s after dispatch, the
            # missed deadline; the county hears nothing more, as task.get refuses it too.
            await wait_for(
                lambda: ("task.overdue", "assigned", 3) in task_events(city_events, task["id"]),
                10,
                "the city to receive task.overdue",
            )
            assert task_events(city_events, task["id"]) == [
                ("task.updated", "assigned", 1),
                ("task.updated", "assigned", 2),
                ("task.updated", "assigned", 3),
                ("task.overdue", "assigned", 3),
            ]
            await asyncio.sleep(0.3)  # more SLA rounds: still nothing for the county
            assert task_events(county_events, task["id"]) == [("task.updated", "assigned", 1)]
            with pytest.raises(Exception, match="outside your scope"):
                await county.request("task.get", task_id=task["id"])

            # Handed back down, the county receives the task's events again.
            await city.request(
                "task.action",
                task_id=task["id"],
                action="hand_over",
                expected_version=3,
                payload={"reason": "退回属地", "to_org_id": "org-331002", "direction": "down"},
            )
            await wait_for(
                lambda: ("task.updated", "assigned", 4) in task_events(county_events, task["id"]),
                5,
                "the county to receive the task again",
            )
        finally:
            await county.close()
            await city.close()
            await hub.stop()

    run(scenario, timeout=60)


def test_device_report_is_a_timeline_note_that_keeps_the_version(db_url: str) -> None:
    store = Store.open(db_url)
    try:
        token = FieldRepo(store.engine).issue_token(OFFICER, datetime.now(UTC)).token
    finally:
        store.close()

    async def scenario() -> None:
        hub = await Hub.start(HubConfig(db_url=db_url, port=0, monitoring=None, field_limits=FAST))
        events: list[dict[str, Any]] = []
        county = await logged_in(hub.url, "county", "county-seat", events.append)
        device = await connect(hub.url.replace("/ws/console", FIELD_PATH))
        try:
            await county.subscribe(["task.updated"])
            await device.send(
                json.dumps(
                    {
                        "type": "hello",
                        "token": token,
                        "device": {"id": "phone"},
                        "last_seq": 0,
                    }
                )
            )
            assert json.loads(await device.recv())["type"] == "welcome"
            created = await county.request("complaint.create", **complaint(IN_331002, "排污"))
            task = (
                await county.request(
                    "task.dispatch", complaint_id=created["complaint"]["id"], officer_id=OFFICER
                )
            )["task"]
            # The other test's hand-overs left pushes for this officer in the outbox.
            while True:
                pushed = await recv_type(device, "task.assigned")
                if pushed["task"]["id"] == task["id"]:
                    break
            await wait_for(
                lambda: any(
                    e["data"]["task"]["state"] == "delivered"
                    for e in events
                    if e["data"]["task"]["id"] == task["id"]
                ),
                5,
                "the delivery",
            )
            version = (await county.request("task.get", task_id=task["id"]))["task"]["version"]
            await device.send(
                json.dumps(
                    {
                        "type": "report",
                        "task_id": task["id"],
                        "findings": "排口有黑水",
                        "notes": "已拍照",
                        "attachment_ids": ["att-1"],
                        "msg_id": 41,
                    }
                )
            )
            answer = await recv_type(device, "report.ok")
            assert answer == {"type": "report.ok", "task_id": task["id"], "ref": 41}
            await wait_for(
                lambda: any("note" in e["data"] for e in events), 5, "task.updated with the note"
            )
            event = next(e for e in events if "note" in e["data"])
            assert event["data"]["task"]["version"] == version
            note = event["data"]["note"]
            assert note["action"] == "report"
            assert note["payload"] == {
                "findings": "排口有黑水",
                "notes": "已拍照",
                "attachment_ids": ["att-1"],
            }
            assert note["user"] == OFFICER
            assert note["role"] == "officer"

            details = await county.request("task.get", task_id=task["id"])
            assert details["task"]["version"] == version
            assert details["task"]["state"] == "delivered"
            assert details["events"][-1] == note
            audit = await county.request("audit.query", task_id=task["id"])
            assert audit[0]["action"] == "task.report"

            # A report on someone else's task is refused and stores nothing.
            await device.send(
                json.dumps({"type": "report", "task_id": "T-nope", "findings": "x", "msg_id": 42})
            )
            error = await recv_type(device, "error")
            assert (error["type"], error["code"], error["ref"]) == ("error", "unknown_task", 42)
        finally:
            await device.close()
            await county.close()
            await hub.stop()

    run(scenario, timeout=60)


def test_add_task_note_refuses_action_names_and_unknown_tasks(db_url: str) -> None:
    store = Store.open(db_url)
    try:
        repo = DispatchRepo(store)
        actor = Actor(user=OFFICER, seat="field", role=ActorRole.OFFICER)
        now = datetime.now(UTC)
        for kind in ("accept", "dispatch", "Report", ""):
            with pytest.raises(ValueError, match="note kind"):
                repo.add_task_note("T-any", actor, kind, {}, now)
        with pytest.raises(LookupError, match="no task 'T-missing'"):
            repo.add_task_note("T-missing", actor, "report", {"findings": "x"}, now)
    finally:
        store.close()
