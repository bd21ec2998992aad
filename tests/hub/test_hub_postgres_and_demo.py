"""The hub on PostgreSQL+PostGIS, and the world snapshot of the real demo city."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from shapely.geometry import shape

from console.core.model import World
from console.hub.scope import scope_for
from console.hub.server import Hub
from console.hub.snapshot import build_snapshot
from console.hub.state import HubConfig
from tests.hub.support import IN_331003, logged_in, run, seed_store, small_world


@pytest.mark.postgres
def test_hub_serves_from_postgresql(pg_url: str) -> None:
    seed_store(pg_url, small_world())

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], Any]:
        hub = await Hub.start(HubConfig(db_url=pg_url, port=0))
        try:
            county = await logged_in(hub.url, "county")
            admin = await logged_in(hub.url, "admin")
            info = await county.request("hub.info")
            snapshot = await county.request("world.snapshot")
            located = await admin.request("locate", lon=IN_331003[0], lat=IN_331003[1])
            users = await admin.request("users.list")
            await county.close()
            await admin.close()
            return info, snapshot, located, users
        finally:
            await hub.stop()

    info, snapshot, located, users = run(scenario)
    assert info["db"] == "postgresql"
    assert info["world"]["districts"] == 1  # counted in the county's scope
    assert info["world"]["grids"] == 2
    assert [d["adcode"] for d in snapshot["districts"]] == ["331002"]
    assert located["district"]["adcode"] == "331003"
    assert "county" in {u["username"] for u in users}


@pytest.mark.slow
def test_demo_world_snapshot_is_scoped_rounded_and_cached(demo_world: World, tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    seed_store(url, demo_world)
    county_org = "org-331002"
    expected_grids = sum(1 for g in demo_world.grids if g.district_adcode == "331002")

    async def scenario() -> tuple[int, dict[str, Any], dict[str, Any], int]:
        hub = await Hub.start(HubConfig(db_url=url, port=0))
        try:
            city = await logged_in(hub.url, "dispatcher")
            city_snapshot = await city.request("world.snapshot")
            again = await city.request("world.snapshot")
            assert again == city_snapshot
            county = await logged_in(hub.url, "county")
            county_snapshot = await county.request("world.snapshot")
            cache = hub.state.snapshot_cache
            await city.close()
            await county.close()
            return max(len(b) for b in cache.values()), city_snapshot, county_snapshot, len(cache)
        finally:
            await hub.stop()

    encoded_size, city, county, cached = run(scenario, timeout=120)
    assert cached == 2  # one encoding per distinct scope, reused for the second request
    assert len(city["grids"]) == len(demo_world.grids)
    assert len(city["districts"]) == len(demo_world.districts)
    assert {d["adcode"] for d in county["districts"]} == {"331002"}
    assert len(county["grids"]) == expected_grids
    assert {e["district_adcode"] for e in county["enterprises"]} == {"331002"}
    # GeoJSON coordinates carry at most 6 decimals and still describe the same shapes.
    grid = next(g for g in demo_world.grids if g.id == county["grids"][0]["id"])
    assert shape(county["grids"][0]["geometry"]).hausdorff_distance(grid.geometry) < 1e-6
    ring = county["districts"][0]["geometry"]["coordinates"][0]
    coordinates = ring[0] if isinstance(ring[0][0], list) else ring
    assert all(round(value, 6) == value for point in coordinates for value in point)
    assert encoded_size < 20_000_000
    # The hub's snapshot is the pure function the map tests can call directly.
    scope = scope_for(demo_world, county_org)
    direct = msgspec.json.decode(msgspec.json.encode(build_snapshot(demo_world, scope)))
    assert direct == county


def test_demo_users_scopes(demo_world: World) -> None:
    city_org = next(o.id for o in demo_world.organisations if o.adcode == demo_world.city_adcode)
    city = scope_for(demo_world, city_org)
    assert city.districts == {d.adcode for d in demo_world.districts}
    county = scope_for(demo_world, "org-331002")
    assert county.districts == {"331002"}
    assert scope_for(demo_world, "squad-331002-1").districts == {"331002"}
