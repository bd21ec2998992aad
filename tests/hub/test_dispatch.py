"""Dispatch over the console link: real hub on 127.0.0.1, real websocket clients."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from console.core.model import DutyStatus, World
from console.core.sla import SlaPolicy
from console.hub.client import HubError
from console.hub.server import Hub
from console.hub.state import HubConfig
from console.store.schema_dispatch import ComplaintRow, OutboxRow, TaskRow
from tests.hub.support import IN_331002, IN_331003, logged_in, run, seed_store, small_world

OFF_DUTY = "officer-331002-0001"  # grid 331002-0001 (121.00-121.05) has an off-duty officer
IN_OFF_DUTY_GRID = (121.02, 28.05)


def dispatch_world() -> World:
    world = small_world()
    officers = tuple(
        dataclasses.replace(o, duty=DutyStatus.OFF_DUTY) if o.id == OFF_DUTY else o
        for o in world.officers
    )
    return dataclasses.replace(world, officers=officers)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'dispatch.sqlite3'}"
    seed_store(url, dispatch_world())
    return url


def with_hub(
    db_url: str,
    scenario: Callable[[Hub], Awaitable[Any]],
    **config: Any,
) -> Any:
    async def main() -> Any:
        hub = await Hub.start(HubConfig(db_url=db_url, port=0, **config))
        try:
            return await scenario(hub)
        finally:
            await hub.stop()

    return run(main)


def complaint_params(point: tuple[float, float], **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "channel": "hotline_12369",
        "category": "water",
        "urgency": "urgent",
        "reporter_name": "张三丰",
        "reporter_phone": "13812345678",
        "description": "河水发黑发臭",
        "lon": point[0],
        "lat": point[1],
    }
    params.update(extra)
    return params


async def wait_for(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def test_create_recommends_substitute_finds_duplicates_and_merges(db_url: str) -> None:
    async def scenario(hub: Hub) -> None:
        county = await logged_in(hub.url, "county")
        try:
            first = await county.request("complaint.create", **complaint_params(IN_OFF_DUTY_GRID))
            rec = first["recommendation"]
            assert rec["grid_officer"]["id"] == "officer-331002-0002"
            assert rec["grid_officer"]["substitute"] is True
            assert rec["grid_officer"]["distance_m"] > 0
            assert [s["id"] for s in rec["squads"]] == ["squad-331002-1"]
            assert first["location"]["grid"]["id"] == "331002-0001"
            assert first["complaint"]["reporter_phone"] == "138****5678"
            assert first["complaint"]["reporter_name"] == "张*丰"
            assert first["duplicates"] == []

            near = (IN_OFF_DUTY_GRID[0] + 0.001, IN_OFF_DUTY_GRID[1])
            second = await county.request("complaint.create", **complaint_params(near))
            [dup] = second["duplicates"]
            assert dup["complaint_id"] == first["complaint"]["id"]
            assert dup["reason"] == "nearby_same_category"
            assert 50 < dup["distance_m"] < 150
            assert dup["status"] == "new"
            own = await county.request("complaint.create", **complaint_params((121.07, 28.05)))
            assert own["recommendation"]["grid_officer"]["substitute"] is False

            merged = await county.request(
                "complaint.merge",
                complaint_id=second["complaint"]["id"],
                into_complaint_id=first["complaint"]["id"],
            )
            also = merged["complaint"]["also_reported_by"]
            assert [c["id"] for c in also] == [second["complaint"]["id"]]
            listed = await county.request("complaints.list", status="open")
            assert second["complaint"]["id"] not in {c["id"] for c in listed}
            revealed = await county.request(
                "complaint.get", id=first["complaint"]["id"], reveal_contact=True
            )
            assert revealed["reporter_phone"] == "13812345678"
            audit = await county.request("audit.query")
            assert {"complaint.create", "complaint.merge", "complaint.reveal_contact"} <= {
                e["action"] for e in audit
            }
        finally:
            await county.close()

    with_hub(db_url, scenario)


def test_lifecycle_conflict_illegal_and_multi_seat(db_url: str) -> None:
    async def scenario(hub: Hub) -> None:
        seen: list[dict[str, Any]] = []
        county = await logged_in(hub.url, "county", seat="seat-1")
        other = await logged_in(hub.url, "dispatcher", seat="seat-2", on_event=seen.append)
        try:
            await other.subscribe(["task.updated", "complaint.created"])
            created = await county.request("complaint.create", **complaint_params(IN_331002))
            complaint_id = created["complaint"]["id"]
            task = (await county.request("task.dispatch", complaint_id=complaint_id))["task"]
            assert task["assignee_officer_id"] == "officer-331002-0002"
            assert task["substitute"] is True  # the grid's own officer is off duty
            assert (task["state"], task["version"]) == ("assigned", 1)
            started = time.monotonic()
            await wait_for(
                lambda: any(
                    e["topic"] == "task.updated" and e["data"]["task"]["id"] == task["id"]
                    for e in seen
                ),
                timeout=1.0,
            )
            assert time.monotonic() - started < 1.0

            with hub.state.store.session() as session:
                assert (
                    session.scalar(
                        select(func.count())
                        .select_from(OutboxRow)
                        .where(OutboxRow.task_id == task["id"])
                    )
                    == 1
                )

            with pytest.raises(HubError) as illegal:
                await county.request(
                    "task.action",
                    task_id=task["id"],
                    action="close",
                    expected_version=1,
                    payload={},
                )
            assert illegal.value.code == "illegal_transition"
            assert "deliver" in illegal.value.data["allowed"]

            version = 1
            for action, payload in (
                ("deliver", {}),
                ("accept", {}),
                ("depart", {}),
                ("arrive", {}),
                ("verify_unfounded", {"findings": "未发现异常"}),
            ):
                answer = await county.request(
                    "task.action",
                    task_id=task["id"],
                    action=action,
                    expected_version=version,
                    payload=payload,
                )
                version = answer["task"]["version"]
                assert answer["event"]["action"] == action

            # Two seats act on the same version: the second gets "conflict" + the task.
            first = await county.request(
                "task.action",
                task_id=task["id"],
                action="close",
                expected_version=version,
                payload={"note": "结案"},
            )
            with pytest.raises(HubError) as conflict:
                await other.request(
                    "task.action",
                    task_id=task["id"],
                    action="reopen",
                    expected_version=version,
                    payload={"reason": "再查", "to": "officer-331002-0002"},
                )
            assert conflict.value.code == "conflict"
            assert conflict.value.data["task"]["state"] == "closed"
            assert conflict.value.data["task"]["version"] == first["task"]["version"]

            detail = await other.request("task.get", task_id=task["id"])
            assert [e["action"] for e in detail["events"]] == [
                "dispatch",
                "deliver",
                "accept",
                "depart",
                "arrive",
                "verify_unfounded",
                "close",
            ]
            assert detail["outbox"][0]["kind"] == "task.assigned"
            closed = await county.request("tasks.board", queue="closed_today")
            assert [t["id"] for t in closed] == [task["id"]]

            leader = await logged_in(hub.url, "leader", seat="wall")
            try:
                with pytest.raises(HubError) as forbidden:
                    await leader.request(
                        "task.action",
                        task_id=task["id"],
                        action="archive",
                        expected_version=first["task"]["version"],
                    )
            finally:
                await leader.close()
            assert forbidden.value.code == "forbidden"
        finally:
            await county.close()
            await other.close()

    with_hub(db_url, scenario)


def test_scope_and_hand_over_move_visibility(db_url: str) -> None:
    async def scenario(hub: Hub) -> None:
        county = await logged_in(hub.url, "county")
        city = await logged_in(hub.url, "dispatcher")
        try:
            other_county = await city.request("complaint.create", **complaint_params(IN_331003))
            foreign = await city.request(
                "task.dispatch", complaint_id=other_county["complaint"]["id"]
            )
            for call in (
                county.request("task.get", task_id=foreign["task"]["id"]),
                county.request("complaint.get", id=other_county["complaint"]["id"]),
                county.request("complaint.create", **complaint_params(IN_331003)),
            ):
                with pytest.raises(HubError) as refused:
                    await call
                assert refused.value.code == "out_of_scope"
            assert await county.request("tasks.board", queue="all") == []

            own = await county.request("complaint.create", **complaint_params(IN_331002))
            task = (await county.request("task.dispatch", complaint_id=own["complaint"]["id"]))[
                "task"
            ]
            assert task["owner_org_id"] == "org-331002"
            up = await county.request(
                "task.action",
                task_id=task["id"],
                action="hand_over",
                expected_version=1,
                payload={"reason": "跨区", "to_org_id": "org-331000", "direction": "up"},
            )
            assert up["task"]["owner_org_id"] == "org-331000"
            with pytest.raises(HubError) as gone:
                await county.request("task.get", task_id=task["id"])
            assert gone.value.code == "out_of_scope"
            city_board = {t["id"] for t in await city.request("tasks.board")}
            assert city_board == {task["id"], foreign["task"]["id"]}
            down = await city.request(
                "task.action",
                task_id=task["id"],
                action="hand_over",
                expected_version=2,
                payload={"reason": "退回", "to_org_id": "org-331002", "direction": "down"},
            )
            assert down["task"]["owner_org_id"] == "org-331002"
            assert (await county.request("task.get", task_id=task["id"]))["task"]["id"]

            waiting = await city.request("complaint.create", **complaint_params(IN_331002))
            status = {d["adcode"]: d for d in await city.request("district.status")}
            assert status["331002"]["awaiting_dispatch"] == 1, waiting
            with hub.state.store.session() as session:
                for adcode in ("331002", "331003"):
                    tasks = session.scalar(
                        select(func.count())
                        .select_from(TaskRow)
                        .where(TaskRow.district_adcode == adcode)
                    )
                    complaints = session.scalar(
                        select(func.count())
                        .select_from(ComplaintRow)
                        .where(ComplaintRow.district_adcode == adcode)
                    )
                    assert sum(status[adcode]["by_state"].values()) == tasks
                    assert status[adcode]["open"] == tasks
                    assert status[adcode]["complaints_today"] == complaints
                    undispatched = session.scalar(
                        select(func.count())
                        .select_from(ComplaintRow)
                        .where(
                            ComplaintRow.district_adcode == adcode,
                            ComplaintRow.id.not_in(
                                select(TaskRow.complaint_id).where(
                                    TaskRow.complaint_id.is_not(None)
                                )
                            ),
                        )
                    )
                    assert status[adcode]["awaiting_dispatch"] == undispatched
            county_status = await county.request("district.status")
            assert [d["adcode"] for d in county_status] == ["331002"]
        finally:
            await county.close()
            await city.close()

    with_hub(db_url, scenario)


def test_overdue_is_announced_once(db_url: str) -> None:
    policy = SlaPolicy.from_dict({"verification": {"urgent": "1s"}})

    async def scenario(hub: Hub) -> None:
        events: list[dict[str, Any]] = []
        county = await logged_in(hub.url, "county", on_event=events.append)
        try:
            await county.subscribe(["task.overdue"])
            created = await county.request("complaint.create", **complaint_params(IN_331002))
            task = (await county.request("task.dispatch", complaint_id=created["complaint"]["id"]))[
                "task"
            ]
            await wait_for(lambda: len(events) >= 1, timeout=5.0)
            await asyncio.sleep(0.5)  # several more watcher rounds
            assert [e["data"]["task"]["id"] for e in events] == [task["id"]]
            assert events[0]["data"]["task"]["overdue"] is True
            overdue = await county.request("tasks.board", queue="overdue")
            assert [t["id"] for t in overdue] == [task["id"]]
            assert (await county.request("sla.policy"))["deadlines"]["verification"][
                "urgent"
            ] == 1.0
        finally:
            await county.close()

    with_hub(db_url, scenario, sla=policy, sla_check_interval_s=0.1)
