"""A world written while the hub runs (grid import, re-seed) is served without a restart."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import weakref
from pathlib import Path

from shapely.geometry import box

from console.core.model import World
from console.hub.server import Hub
from console.store import Store
from console.store.grid_repo import replace_grids
from tests.hub.support import IN_331002, logged_in, run, seed_store
from tests.hub.test_monitoring import (
    COD_LIMIT,
    MN_A,
    PW,
    Inbox,
    Station,
    config,
    frame,
    monitored_world,
)

NEW_PW = "rotated-pw"


def regridded(world: World) -> World:
    """331002's two grids renamed, and the password of its station rotated."""
    grids = tuple(
        dataclasses.replace(g, name=f"新{g.name}") if g.district_adcode == "331002" else g
        for g in world.grids
    )
    enterprises = tuple(
        dataclasses.replace(
            e, outlets=tuple(dataclasses.replace(o, password=NEW_PW) for o in e.outlets)
        )
        if e.district_adcode == "331002"
        else e
        for e in world.enterprises
    )
    return dataclasses.replace(world, grids=grids, enterprises=enterprises)


def save(url: str, world: World) -> None:
    store = Store.open(url)
    try:
        store.save_world(world)
    finally:
        store.close()


def test_a_reseeded_world_reaches_consoles_locate_and_the_ingest_workers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    world = monitored_world()
    seed_store(url, world)

    async def scenario() -> None:
        hub = await Hub.start(dataclasses.replace(config(url, workers=2), world_poll_s=0.1))
        inbox = Inbox()
        county = await logged_in(hub.url, "county", on_event=inbox)  # scope: 331002
        try:
            await county.subscribe(["world.changed"])
            before = await county.request("world.snapshot")
            assert {g["name"] for g in before["grids"]} == {"网格331002-0001", "网格331002-0002"}
            located = await county.request("locate", lon=IN_331002[0], lat=IN_331002[1])
            assert located["grid"]["name"] == "网格331002-0001"
            service = hub.state.monitoring
            assert service is not None
            station = await Station.connect(service.port)
            assert b"CN=9014" in (await station.send(frame(MN_A, 10.0)) or b"")

            await asyncio.to_thread(save, url, regridded(world))  # another process's write

            _, changed = await inbox.wait_for("world.changed", within=10)
            assert changed["revision"] == hub.state.world_revision
            assert changed["summary"]["grids"] == len(world.grids)
            after = await county.request("world.snapshot")
            assert {g["name"] for g in after["grids"]} == {"新网格331002-0001", "新网格331002-0002"}
            located = await county.request("locate", lon=IN_331002[0], lat=IN_331002[1])
            assert located["grid"]["name"] == "新网格331002-0001"
            # Both workers judge with the new password: the old one is quarantined now.
            for _ in range(4):  # new connections: spread over the workers
                fresh = await Station.connect(service.port)
                assert b"CN=9014" in (await fresh.send(frame(MN_A, 11.0, pw=NEW_PW)) or b"")
                await fresh.send(frame(MN_A, 12.0, pw=PW), reply=False)
                await fresh.close()
            await station.close()

            def bad_passwords() -> int:
                return int(service.status()["receiver"]["quarantined"].get("bad_password", 0))

            deadline = asyncio.get_running_loop().time() + 10
            while bad_passwords() < 4:
                assert asyncio.get_running_loop().time() < deadline, service.status()
                await asyncio.sleep(0.1)
            assert hub.world_watch.reloads == 1
            assert not await hub.world_watch.check()  # nothing new: nothing loaded
        finally:
            await county.close()
            await hub.stop()

    run(scenario, timeout=90)


def test_a_grid_import_is_picked_up_and_a_world_without_revision_is_left_alone(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    world = monitored_world()
    seed_store(url, world)

    def import_one_grid() -> None:
        store = Store.open(url)
        try:
            whole = world.grids[0]
            merged = dataclasses.replace(
                whole, name="合并网格", geometry=box(121.0, 28.0, 121.1, 28.1)
            )
            with store.session() as session:
                replace_grids(
                    session,
                    [merged, *world.grids[2:]],
                    {e.id: merged.id if e.district_adcode == "331002" else e.grid_id
                     for e in world.enterprises},
                    source="test layer",
                )  # fmt: skip
        finally:
            store.close()

    async def scenario() -> None:
        hub = await Hub.start(dataclasses.replace(config(url), world_poll_s=0))  # no poller
        try:
            revision = hub.state.world_revision
            assert revision is not None
            assert not await hub.world_watch.check()
            served = await hub.state.locator()
            assert served is not None
            old_locator = weakref.ref(served)
            del served
            await asyncio.to_thread(import_one_grid)
            assert await hub.world_watch.check()
            gc.collect()
            assert old_locator() is None  # nothing holds the old world's locator any more
            assert hub.state.world is not None
            assert hub.state.world_revision not in (None, revision)
            assert [g.name for g in hub.state.world.grids][:1] == ["合并网格"]
            assert len(hub.state.world.grids) == len(world.grids) - 1
            assert hub.field.officers.keys() == {o.id for o in world.officers}
            locator = await hub.state.locator()
            assert locator is not None
            found = locator.locate(121.08, 28.05)  # was the second grid of 331002
            assert found is not None
            assert found.grid is not None
            assert found.grid.name == "合并网格"
        finally:
            await hub.stop()

    run(scenario, timeout=60)


def without_station(world: World, mn: str) -> World:
    """The world with the outlet of this MN taken off the register."""
    enterprises = tuple(
        dataclasses.replace(e, outlets=tuple(o for o in e.outlets if o.mn != mn))
        for e in world.enterprises
    )
    return dataclasses.replace(world, enterprises=enterprises)


def test_alarms_of_a_station_that_left_the_register_are_cleared(tmp_path: Path) -> None:
    """On a reload, and at start for a station removed while the hub was down."""
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    world = monitored_world()
    seed_store(url, world)

    async def raise_alarm(hub: Hub, inbox: Inbox) -> dict[str, object]:
        service = hub.state.monitoring
        assert service is not None
        station = await Station.connect(service.port)
        try:
            assert b"CN=9014" in (await station.send(frame(MN_A, 3 * COD_LIMIT)) or b"")
        finally:
            await station.close()
        _, raised = await inbox.wait_for("alarm.raised", lambda d: d["kind"] == "exceedance")
        return raised

    async def on_reload() -> None:
        hub = await Hub.start(dataclasses.replace(config(url), world_poll_s=0))
        inbox = Inbox()
        admin = await logged_in(hub.url, "admin", on_event=inbox)
        try:
            await admin.subscribe(["alarm.raised", "alarm.cleared"])
            raised = await raise_alarm(hub, inbox)
            await asyncio.to_thread(save, url, without_station(world, MN_A))
            assert await hub.world_watch.check()
            _, cleared = await inbox.wait_for("alarm.cleared", lambda d: d["id"] == raised["id"])
            assert cleared["mn"] == MN_A
            service = hub.state.monitoring
            assert service is not None
            assert service.engine.open_alarms == []
            assert await service.ingest.run(service.series_store.open_alarms) == []
        finally:
            await admin.close()
            await hub.stop()

    async def open_one() -> None:
        hub = await Hub.start(dataclasses.replace(config(url), world_poll_s=0))
        inbox = Inbox()
        admin = await logged_in(hub.url, "admin", on_event=inbox)
        try:
            await admin.subscribe(["alarm.raised"])
            await raise_alarm(hub, inbox)
        finally:
            await admin.close()
            await hub.stop()

    async def after_restart() -> None:
        hub = await Hub.start(dataclasses.replace(config(url), world_poll_s=0))
        try:
            service = hub.state.monitoring
            assert service is not None
            assert service.engine.open_alarms == []
            assert await service.ingest.run(service.series_store.open_alarms) == []
        finally:
            await hub.stop()

    run(on_reload, timeout=60)
    save(url, world)  # the station is back, and raises a new alarm
    run(open_one, timeout=60)
    save(url, without_station(world, MN_A))  # removed while no hub runs
    run(after_restart, timeout=60)
