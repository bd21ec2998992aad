"""Grid-layer import checks against two real districts of the Taizhou demo world.

The layers are the demo world's own grids written out as GeoJSON (optionally shifted to
GCJ-02/BD-09, or broken on purpose), so the right answer is known exactly.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from console.core.geo import PRECISION_DEG, Datum, convert
from console.core.grid_import import (
    GridImportError,
    GridImportPlan,
    parse_datum,
    parse_grid_layer,
    plan_grid_import,
)
from console.core.locate import Locator
from console.core.model import Grid, World

# 椒江区 and 路桥区: neighbours, about 830 grids together, coast and islands included.
DISTRICTS = ("331002", "331004")


def two_district_world(world: World) -> World:
    """``world`` cut down to DISTRICTS (organisations kept: they are only referenced)."""
    keep = set(DISTRICTS)
    return replace(
        world,
        districts=tuple(d for d in world.districts if d.adcode in keep),
        grids=tuple(g for g in world.grids if g.district_adcode in keep),
        officers=tuple(o for o in world.officers if o.district_adcode in keep),
        squads=tuple(s for s in world.squads if s.district_adcode in keep),
        enterprises=tuple(e for e in world.enterprises if e.district_adcode in keep),
    )


def shifted(geometry: BaseGeometry, datum: Datum) -> BaseGeometry:
    """``geometry`` (WGS84) as a map drawn in ``datum`` would have it."""

    def _shift(xy: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return np.column_stack(convert(xy[:, 0], xy[:, 1], Datum.WGS84, datum))

    result: BaseGeometry = shapely.transform(geometry, _shift)
    return result


def feature(grid: Grid, datum: Datum = Datum.WGS84) -> dict[str, Any]:
    geometry = grid.geometry if datum is Datum.WGS84 else shifted(grid.geometry, datum)
    return {
        "type": "Feature",
        "properties": {"id": grid.id, "name": grid.name, "officer_id": grid.officer_id},
        "geometry": mapping(geometry),
    }


def collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def layer(world: World, datum: Datum = Datum.WGS84) -> dict[str, Any]:
    """The world's own grids as a GeoJSON FeatureCollection in ``datum``."""
    # Through JSON text: plain lists, as a test would get from reading a file.
    data: dict[str, Any] = json.loads(
        json.dumps(collection([feature(g, datum) for g in world.grids]))
    )
    return data


def adjacent_pair(world: World, across_districts: bool) -> tuple[Grid, Grid]:
    """Two grids sharing an edge, in different districts or in the same one."""
    geoms = np.asarray([g.geometry for g in world.grids], dtype=object)
    left, right = shapely.STRtree(geoms).query(geoms, predicate="touches")
    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        ga, gb = world.grids[a], world.grids[b]
        differ = ga.district_adcode != gb.district_adcode
        shared = shapely.length(shapely.intersection(ga.geometry, gb.geometry))
        if a < b and differ == across_districts and shared > 1e-3:
            return ga, gb
    raise AssertionError("the test world has no such pair of grids")


def same_shapes(a: BaseGeometry, b: BaseGeometry) -> bool:
    """Equal up to vertex order and the snapping precision."""
    return bool(shapely.equals_exact(shapely.normalize(a), shapely.normalize(b), 2 * PRECISION_DEG))


def plan(world: World, data: dict[str, Any], **kwargs: Any) -> GridImportPlan:
    return plan_grid_import(parse_grid_layer(json.dumps(data)), world, **kwargs)


def problems(world: World, data: dict[str, Any] | str, **kwargs: Any) -> str:
    text = data if isinstance(data, str) else json.dumps(data)
    with pytest.raises(GridImportError) as caught:
        plan_grid_import(parse_grid_layer(text), world, **kwargs)
    return str(caught.value)


@pytest.fixture(scope="module")
def world(demo_world: World) -> World:
    return two_district_world(demo_world)


@pytest.mark.parametrize("datum", list(Datum))
def test_the_same_layer_in_any_datum_imports_to_the_same_grids(world: World, datum: Datum) -> None:
    result = plan(world, layer(world, datum))
    assert result.datum is datum
    assert result.declared_datum is None
    assert result.fits[datum] > 0.999
    # A 500 m shift moves several percent of the area out of its district.
    assert all(result.fits[d] < 0.97 for d in Datum if d is not datum)
    assert [g.id for g in result.grids] == [g.id for g in world.grids]
    for new, old in zip(result.grids, world.grids, strict=True):
        assert new.district_adcode == old.district_adcode
        assert new.officer_id == old.officer_id
        assert same_shapes(new.geometry, old.geometry), new.id
    assert result.warnings == ()
    assert all(c.uncovered_m2 < 1.0 for c in result.covers)
    assert dict(result.enterprise_grids) == {e.id: e.grid_id for e in world.enterprises}


def test_declared_datum_is_used_when_it_fits(world: World) -> None:
    result = plan(world, layer(world, Datum.GCJ02), datum=parse_datum("gcj02"))
    assert result.datum is Datum.GCJ02
    assert result.declared_datum is Datum.GCJ02
    assert parse_datum("cgcs2000") is Datum.WGS84
    assert parse_datum("auto") is None
    with pytest.raises(ValueError, match="unknown datum 'utm'"):
        parse_datum("utm")


@pytest.mark.parametrize(
    ("actual", "declared"), [(Datum.GCJ02, Datum.WGS84), (Datum.WGS84, Datum.BD09)]
)
def test_a_wrongly_declared_datum_is_refused_naming_the_right_one(
    world: World, actual: Datum, declared: Datum
) -> None:
    message = problems(world, layer(world, actual), datum=declared)
    assert f"as {declared.value}" in message
    assert "500 m" in message
    assert f"--datum {actual.value}" in message


def test_a_layer_of_another_area_is_refused(world: World) -> None:
    far = [
        feature(replace(g, geometry=shapely.affinity.translate(g.geometry, xoff=-5.0)))
        for g in world.grids[:20]
    ]
    message = problems(world, collection(far))
    assert "does not lie within the stored world's districts" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not GeoJSON"),
        (json.dumps({"type": "Feature", "geometry": None}), "wrap it in a FeatureCollection"),
        (json.dumps({"type": "FeatureCollection"}), "'features' array"),
        (json.dumps({"type": "FeatureCollection", "features": []}), "no features"),
    ],
)
def test_files_that_are_not_a_feature_collection(world: World, text: str, expected: str) -> None:
    assert expected in problems(world, text)


def _broken(world: World, index: int, **changes: Any) -> dict[str, Any]:
    """The layer with feature ``index`` changed: geometry (GeoJSON) or properties."""
    data = layer(world)
    target = data["features"][index]
    if "geometry" in changes:
        target["geometry"] = changes.pop("geometry")
    target["properties"].update(changes)
    return data


def test_points_and_lines_are_not_grids(world: World) -> None:
    data = layer(world)
    data["features"][3]["geometry"] = {"type": "Point", "coordinates": [121.4, 28.6]}
    line = {"type": "LineString", "coordinates": [[121.4, 28.6], [121.5, 28.7]]}
    data["features"][7]["geometry"] = line
    message = problems(world, data)
    assert f"feature 3 (id '{world.grids[3].id}'): geometry is a Point" in message
    assert f"feature 7 (id '{world.grids[7].id}'): geometry is a LineString" in message


def test_self_intersecting_polygon_is_named_with_the_reason(world: World) -> None:
    x0, y0, x1, y1 = world.grids[5].geometry.bounds
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[x0, y0], [x1, y1], [x1, y0], [x0, y1], [x0, y0]]],
    }
    message = problems(world, _broken(world, 5, geometry=bowtie))
    assert f"feature 5 (id '{world.grids[5].id}'): invalid polygon: Self-intersection" in message


def test_coordinates_out_of_range_are_named(world: World) -> None:
    projected = {
        "type": "Polygon",
        "coordinates": [
            [[500000, 3100000], [501000, 3100000], [501000, 3101000], [500000, 3100000]]
        ],
    }
    message = problems(world, _broken(world, 2, geometry=projected))
    assert f"feature 2 (id '{world.grids[2].id}'): coordinate (500000, 3.1e+06)" in message
    assert "not a longitude/latitude" in message


def test_duplicate_and_missing_ids_are_named(world: World) -> None:
    data = _broken(world, 9, id=world.grids[4].id)
    del data["features"][11]["properties"]["id"]
    message = problems(world, data)
    assert (
        f"feature 9 (id '{world.grids[4].id}'): duplicate id, already used by feature 4" in message
    )
    assert "feature 11: no grid id" in message


def test_overlapping_grids_are_named_in_pairs(world: World) -> None:
    a, b = adjacent_pair(world, across_districts=False)
    index = world.grids.index(a)
    grown = mapping(shapely.buffer(a.geometry, 0.001, join_style="mitre"))
    message = problems(world, _broken(world, index, geometry=grown))
    assert f"feature {index} (id '{a.id}') overlaps" in message
    assert f"(id '{b.id}')" in message
    assert "m²" in message


def test_a_grid_straddling_two_districts_is_refused(world: World) -> None:
    a, b = adjacent_pair(world, across_districts=True)
    data = layer(world)
    index_a, index_b = world.grids.index(a), world.grids.index(b)
    merged = shapely.union(a.geometry, b.geometry)
    data["features"][index_a]["geometry"] = mapping(merged)
    data["features"][index_a]["properties"]["officer_id"] = None
    del data["features"][index_b]
    message = problems(world, data)
    assert f"feature {index_a} (id '{a.id}'): straddles districts" in message
    assert "椒江区 (331002)" in message
    assert "路桥区 (331004)" in message


def test_gaps_are_warnings_or_errors_on_request(world: World) -> None:
    data = layer(world)
    dropped = next(i for i, g in enumerate(world.grids) if g.district_adcode == "331004")
    del data["features"][dropped]
    result = plan(world, data)
    cover = {c.adcode: c for c in result.covers}
    assert cover["331004"].uncovered_m2 > 10_000
    assert cover["331002"].uncovered_m2 < 1.0
    assert any("路桥区 (331004)" in w and "covered by no grid" in w for w in result.warnings)
    message = problems(world, data, require_cover=True)
    assert "路桥区 (331004)" in message
    assert "--require-cover" in message


def test_officers_must_exist_belong_to_the_district_and_hold_one_grid(world: World) -> None:
    a, b = adjacent_pair(world, across_districts=True)
    data = layer(world)
    ia, ib = world.grids.index(a), world.grids.index(b)
    data["features"][0]["properties"]["officer_id"] = "go-nobody"
    data["features"][ia]["properties"]["officer_id"] = b.officer_id  # other district's officer
    same_district = next(
        i for i, g in enumerate(world.grids) if g.district_adcode == b.district_adcode and i != ib
    )
    data["features"][same_district]["properties"]["officer_id"] = b.officer_id
    squad_member = next(o for o in world.officers if o.squad_id is not None)
    data["features"][1]["properties"]["officer_id"] = squad_member.id
    message = problems(world, data)
    assert f"feature 0 (id '{world.grids[0].id}'): officer 'go-nobody' is not in" in message
    assert f"feature {ia} (id '{a.id}'): officer '{b.officer_id}' works in 路桥区" in message
    assert f"officer '{b.officer_id}' already holds the grid of feature" in message
    assert "is a squad_member, not a grid officer" in message


def test_grids_without_officer_are_reported_and_their_officers_unlinked(world: World) -> None:
    data = layer(world)
    data["features"][0]["properties"]["officer_id"] = None
    result = plan(world, data)
    assert result.grids_without_officer == (world.grids[0].id,)
    assert any("1 grids have no grid officer" in w for w in result.warnings)
    summary = result.summary(world)
    assert summary["officers_without_grid"] == [world.grids[0].officer_id]
    applied = result.apply(world)
    officer = next(o for o in applied.officers if o.id == world.grids[0].officer_id)
    assert officer.grid_id is None


def test_locator_answers_with_the_imported_grids(world: World) -> None:
    a, b = adjacent_pair(world, across_districts=False)
    data = layer(world)
    for item in data["features"]:
        item["properties"]["id"] = "new-" + item["properties"]["id"]
    ia, ib = world.grids.index(a), world.grids.index(b)
    data["features"][ia]["geometry"] = mapping(shapely.union(a.geometry, b.geometry))
    data["features"][ia]["properties"].update(id="merged", name="合并网格")
    del data["features"][ib]
    result = plan(world, data)
    imported = result.apply(world)
    locator = Locator(imported)
    inside_b = shapely.point_on_surface(b.geometry)
    located = locator.locate(inside_b.x, inside_b.y)
    assert located is not None
    assert located.grid.id == "merged"
    assert located.grid.name == "合并网格"
    assert located.grid_officer is not None
    assert located.grid_officer.id == a.officer_id
    assert located.grid_officer.grid_id == "merged"
    # The same point in GCJ-02 finds the same grid.
    gx, gy = convert(inside_b.x, inside_b.y, Datum.WGS84, Datum.GCJ02)
    again = locator.locate(gx, gy, datum=Datum.GCJ02)
    assert again is not None
    assert again.grid.id == "merged"
    assert all(g.id.startswith("new-") or g.id == "merged" for g in imported.grids)
    for enterprise in imported.enterprises:
        assert enterprise.grid_id is not None
        assert enterprise.grid_id.startswith("new-") or enterprise.grid_id == "merged"
