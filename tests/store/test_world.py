"""The world round-trips through both engines, replaces atomically, and is fast to save."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import pytest
from shapely.geometry import box
from sqlalchemy import text

from console.core.model import Grid, World
from console.store import Store, StoreError
from console.store.grid_repo import replace_grids
from tests.store.worlds import small_world


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    yield opened
    opened.close()


_PLACEHOLDER = box(0, 0, 1, 1)


def _without_geometry(world: World) -> World:
    return dataclasses.replace(
        world,
        districts=tuple(dataclasses.replace(d, boundary=_PLACEHOLDER) for d in world.districts),
        grids=tuple(dataclasses.replace(g, geometry=_PLACEHOLDER) for g in world.grids),
    )


def assert_same_world(loaded: World, expected: World) -> None:
    """Equal field by field; geometries equal within 1e-9 degrees and of the same type."""
    assert _without_geometry(loaded) == _without_geometry(expected)
    pairs = [
        (a.boundary, b.boundary) for a, b in zip(loaded.districts, expected.districts, strict=True)
    ]
    pairs += [(a.geometry, b.geometry) for a, b in zip(loaded.grids, expected.grids, strict=True)]
    for got, want in pairs:
        assert got.geom_type == want.geom_type
        assert got.equals_exact(want, 1e-9)


def test_empty_store_has_no_world(store: Store) -> None:
    assert not store.has_world()
    with pytest.raises(StoreError, match="no world: run seed"):
        store.load_world()


def test_world_round_trip(store: Store) -> None:
    world = small_world()
    store.save_world(world)
    assert store.has_world()
    loaded = store.load_world()
    assert_same_world(loaded, world)
    assert loaded.summary() == world.summary()
    assert loaded.meta == {"seed": "7", "generator": "hand-built"}
    ph = loaded.enterprises[0].outlets[0].limits[1]
    assert (ph.code, ph.lower_limit, ph.limit) == ("w01001", 6.0, 9.0)


def test_every_world_write_gets_a_new_revision(store: Store) -> None:
    """Seeding and importing grids change the revision the hub polls; nothing else is changed
    by it (it is not part of the world's meta)."""
    assert store.world_revision() is None  # no world yet
    world = small_world()
    store.save_world(world)
    first = store.world_revision()
    assert first is not None
    store.save_world(world)
    second = store.world_revision()
    assert second not in (None, first)
    with store.session() as session:
        replace_grids(
            session, world.grids, {e.id: e.grid_id for e in world.enterprises}, source="test"
        )
    assert store.world_revision() not in (None, first, second)
    assert store.load_world().meta == {**world.meta, "grids_source": "test"}


def test_reopened_store_sees_the_world(store_url: str) -> None:
    world = small_world()
    first = Store.open(store_url)
    first.save_world(world)
    first.close()
    second = Store.open(store_url)
    try:
        assert_same_world(second.load_world(), world)
    finally:
        second.close()


def test_save_replaces_the_world(store: Store) -> None:
    store.save_world(small_world(city_name="旧", grid_rows=3))
    replacement = small_world(city_name="新", grid_rows=2)
    store.save_world(replacement)
    loaded = store.load_world()
    assert loaded.city_name == "新"
    assert len(loaded.grids) == 8
    assert_same_world(loaded, replacement)


def test_failed_save_keeps_the_previous_world(store: Store) -> None:
    world = small_world()
    store.save_world(world)
    orphan = Grid("g-orphan", "孤儿网格", "999999", box(0, 0, 1, 1), None)
    broken = dataclasses.replace(small_world(city_name="坏"), grids=(orphan,))
    with pytest.raises(StoreError, match="world rejected by the database"):
        store.save_world(broken)
    assert store.load_world().city_name == world.city_name


def test_organisation_cycle_is_refused(store: Store) -> None:
    world = small_world()
    looped = tuple(
        dataclasses.replace(o, parent_id="org-squad-a") if o.id == "org-province" else o
        for o in world.organisations
    )
    with pytest.raises(StoreError, match="organisation parents form a cycle"):
        store.save_world(dataclasses.replace(world, organisations=looped))


def test_five_thousand_grids_save_quickly(store: Store) -> None:
    world = small_world(grid_rows=50)
    assert len(world.grids) == 5000
    started = time.perf_counter()
    store.save_world(world)
    elapsed = time.perf_counter() - started
    if store.dialect == "sqlite":  # the embedded store's budget; PostgreSQL is shared hardware
        assert elapsed < 5.0, f"saving 5,000 grids took {elapsed:.2f} s"
    assert len(store.load_world().grids) == 5000


@pytest.mark.postgres
def test_postgis_sees_valid_geometries(pg_url: str) -> None:
    store = Store.open(pg_url)
    try:
        store.save_world(small_world())
        with store.engine.connect() as conn:
            grids = conn.execute(
                text(
                    "SELECT count(*) AS n, bool_and(ST_IsValid(geometry)) AS valid, "
                    "min(ST_SRID(geometry)) AS lo, max(ST_SRID(geometry)) AS hi FROM grids"
                )
            ).one()
            hole = conn.execute(
                text("SELECT ST_NumInteriorRings(boundary) FROM districts WHERE adcode = '331002'")
            ).scalar()
            # The GiST-indexed point column answers a real spatial query.
            near = conn.execute(
                text(
                    "SELECT id FROM squads ORDER BY location <-> "
                    "ST_SetSRID(ST_MakePoint(121.12, 28.12), 4326) LIMIT 1"
                )
            ).scalar()
            inside = conn.execute(
                text(
                    "SELECT g.id FROM grids g JOIN enterprises e "
                    "ON ST_Contains(g.geometry, e.location) WHERE e.id = 'e-1'"
                )
            ).scalar()
    finally:
        store.close()
    assert (grids.n, grids.valid, grids.lo, grids.hi) == (8, True, 4326, 4326)
    assert hole == 1
    assert near == "s-a"
    assert inside == "g-331002-0-0"
