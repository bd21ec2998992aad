"""The officer simulator against a real hub: real /ws/field clients, a real console client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from shapely.geometry import Point

from console.core.model import Officer, OfficerRole, World
from console.hub.field_protocol import FieldLimits
from console.hub.officer_sim import OfficerSimConfig, OfficerSimulator, field_url, issue_tokens
from console.hub.server import Hub
from console.hub.state import HubConfig
from tests.hub.support import IN_331002, logged_in, run, seed_store, small_world

FAST = FieldLimits(hello_timeout_s=2.0, position_flush_s=0.05, moved_coalesce_s=0.05)
TASK_OFFICER = "officer-331002-0001"


def five_officer_world() -> World:
    """The small world (four grid officers) plus a second officer in grid 331003-0002."""
    world = small_world()
    extra = Officer(
        "officer-331003-0002b",
        "网格员5",
        OfficerRole.GRID_OFFICER,
        "org-331003",
        "331003",
        grid_id="331003-0002",
        phone="13800000005",
    )
    return replace(world, officers=(*world.officers, extra))


@pytest.fixture(scope="module")
def sim_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, World]:
    world = five_officer_world()
    url = f"sqlite:///{tmp_path_factory.mktemp('officer-sim') / 'hub.sqlite3'}"
    seed_store(url, world)
    return url, world


async def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def test_five_officers_move_verify_and_reconnect(sim_db: tuple[str, World]) -> None:
    db_url, world = sim_db

    async def scenario() -> None:
        hub = await Hub.start(HubConfig(db_url=db_url, port=0, monitoring=None, field_limits=FAST))
        events: list[dict[str, Any]] = []
        console = await logged_in(hub.url, "dispatcher", on_event=events.append)
        sim_task: asyncio.Task[dict[str, Any]] | None = None
        try:
            await console.subscribe(
                ["officer.moved", "officer.presence", "task.updated", "outbox.acked"]
            )
            officer_ids = sorted(o.id for o in world.officers)
            config = OfficerSimConfig(
                field_url=field_url(hub.url),
                officers=5,
                seed=7,
                speed=400.0,
                drops_per_hour=0.0,
            )
            simulator = OfficerSimulator(world, issue_tokens(db_url, officer_ids), config)
            assert sorted(simulator.officers) == officer_ids
            sim_task = asyncio.create_task(simulator.run())

            def moves() -> list[dict[str, Any]]:
                return [m for e in events if e["topic"] == "officer.moved" for m in e["data"]]

            await wait_for(
                lambda: {m["officer_id"] for m in moves()} == set(officer_ids),
                10,
                "officer.moved from all five",
            )
            grids = {g.id: g.geometry for g in world.grids}
            for data in moves():
                officer = simulator.officers[data["officer_id"]].officer
                grid = grids[str(officer.grid_id)]
                # Positions arrive in WGS84 (GCJ-02 devices converted by the hub),
                # inside the grid give or take the GPS jitter.
                assert grid.buffer(0.001).contains(Point(data["lon"], data["lat"]))

            created = await console.request(
                "complaint.create",
                channel="hotline_12369",
                category="water",
                urgency="urgent",
                reporter_name="李四",
                reporter_phone="13900000001",
                description="河道有污水直排",
                lon=IN_331002[0],
                lat=IN_331002[1],
            )
            dispatched = await console.request(
                "task.dispatch",
                complaint_id=created["complaint"]["id"],
                officer_id=TASK_OFFICER,
            )
            task_id = dispatched["task"]["id"]

            def state() -> str | None:
                states = [
                    e["data"]["task"]["state"]
                    for e in events
                    if e["topic"] == "task.updated" and e["data"]["task"]["id"] == task_id
                ]
                return states[-1] if states else None

            await wait_for(
                lambda: state() in ("verified_confirmed", "verified_unfounded"),
                30,
                "the simulated officer to verify the task",
            )
            details = await console.request("task.get", task_id=task_id)
            actions = [e["action"] for e in details["events"]]
            assert actions[:5] == ["dispatch", "deliver", "accept", "depart", "arrive"]
            assert "report" in actions
            assert actions[-1] in ("verify_confirmed", "verify_unfounded")
            report = details["events"][actions.index("report")]
            assert report["payload"]["findings"]
            assert report["from_state"] == report["to_state"] == "on_site"
            assert details["task"]["findings"] == report["payload"]["findings"]
            assert details["outbox"][0]["acked_at"] is not None
            assert any(
                e["topic"] == "outbox.acked" and e["data"]["task_id"] == task_id for e in events
            )
            # The arrival was checked against the geofence and passed.
            arrive = details["events"][actions.index("arrive")]
            assert arrive["role"] == "officer"

            # A forced network drop: the hub sees the officer go offline, then back online,
            # and the device resumes with the seq it processed.
            sim = simulator.officers[TASK_OFFICER]
            assert sim.last_seq == details["outbox"][0]["seq"]
            connects = simulator.stats.connects

            def presence() -> list[bool]:
                return [
                    e["data"]["online"]
                    for e in events
                    if e["topic"] == "officer.presence" and e["data"]["officer_id"] == TASK_OFFICER
                ]

            before = len(presence())
            simulator.drop(TASK_OFFICER)
            await wait_for(
                lambda: presence()[before:] == [False, True], 10, "offline then online presence"
            )
            assert simulator.stats.connects == connects + 1
            assert simulator.stats.drops == 1
            assert simulator.stats.resumed == 1
            # Nothing is redelivered after the resume: the one task was acked once.
            await asyncio.sleep(0.3)
            assert simulator.stats.tasks == 1
            assert simulator.stats.errors == {}
        finally:
            if sim_task is not None:
                sim_task.cancel()
                await asyncio.gather(sim_task, return_exceptions=True)
            await console.close()
            await hub.stop()

    run(scenario, timeout=90)


def test_config_and_url_errors_are_clear() -> None:
    assert field_url("ws://127.0.0.1:8765/ws/console") == "ws://127.0.0.1:8765/ws/field"
    assert field_url("wss://hub.example:443") == "wss://hub.example:443/ws/field"
    with pytest.raises(ValueError, match="ws://host:port"):
        field_url("http://127.0.0.1:8765")
    with pytest.raises(ValueError, match="officers must be at least 1"):
        OfficerSimConfig(field_url="ws://127.0.0.1:1/ws/field", officers=0)
    with pytest.raises(ValueError, match="4 on-duty grid officers, 9 requested"):
        OfficerSimulator(
            small_world(), {}, OfficerSimConfig(field_url="ws://127.0.0.1:1/ws/field", officers=9)
        )
