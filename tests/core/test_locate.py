"""The locator against independent brute-force shapely and pyproj answers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from console.core.geo import Datum, convert
from console.core.locate import OUTSIDE, Locator
from console.core.model import (
    District,
    DutyStatus,
    Grid,
    Officer,
    OfficerRole,
    Squad,
    World,
)

# Hand-built world: 2 x 2 square districts of 0.2 degrees near Taizhou (all in EPSG:4549),
# each cut into 3 x 3 grids; plus one irregular district cut into Voronoi cells.
ORIGIN_LON, ORIGIN_LAT, DISTRICT_DEG = 121.0, 28.4, 0.2
GRID_DEG = DISTRICT_DEG / 3


def build_world() -> World:
    districts: list[District] = []
    grids: list[Grid] = []
    officers: list[Officer] = []
    for di in range(2):
        for dj in range(2):
            adcode = f"33100{di * 2 + dj + 1}"
            x0 = ORIGIN_LON + di * DISTRICT_DEG
            y0 = ORIGIN_LAT + dj * DISTRICT_DEG
            boundary = shapely.box(x0, y0, x0 + DISTRICT_DEG, y0 + DISTRICT_DEG)
            districts.append(District(adcode, f"区{adcode}", f"org-{adcode}", boundary))
            for gi in range(3):
                for gj in range(3):
                    n = len(grids)
                    gx0, gy0 = x0 + gi * GRID_DEG, y0 + gj * GRID_DEG
                    geometry = shapely.box(gx0, gy0, gx0 + GRID_DEG, gy0 + GRID_DEG)
                    officer_id = None if n % 11 == 5 else f"officer-{n}"
                    grids.append(Grid(f"grid-{n}", f"网格{n}", adcode, geometry, officer_id))
                    if officer_id is not None:
                        duty = DutyStatus.OFF_DUTY if n % 4 == 0 else DutyStatus.ON_DUTY
                        officers.append(
                            Officer(
                                officer_id,
                                f"网格员{n}",
                                OfficerRole.GRID_OFFICER,
                                f"org-{adcode}",
                                adcode,
                                grid_id=f"grid-{n}",
                                phone=f"1380000{n:04d}",
                                duty=duty,
                            )
                        )
    # An irregular district east of the squares, sharing their eastern edge.
    east = shapely.Polygon([(121.4, 28.4), (121.48, 28.43), (121.45, 28.7), (121.4, 28.8)])
    districts.append(District("331099", "东区", "org-331099", east))
    rng = np.random.default_rng(7)
    seeds = shapely.multipoints(
        np.column_stack([rng.uniform(121.4, 121.48, 12), rng.uniform(28.4, 28.8, 12)])
    )
    for cell in shapely.voronoi_polygons(seeds, extend_to=east).geoms:
        piece = cell.intersection(east)
        if piece.area > 0:
            n = len(grids)
            grids.append(Grid(f"grid-{n}", f"网格{n}", "331099", piece, None))
    squads = tuple(
        Squad(f"squad-{i}", f"中队{i}", "org", "331001", lon, lat, available=i != 2)
        for i, (lon, lat) in enumerate(
            [(121.05, 28.45), (121.3, 28.5), (121.1, 28.75), (121.35, 28.72), (121.44, 28.6)]
        )
    )
    return World(
        districts=tuple(districts), grids=tuple(grids), officers=tuple(officers), squads=squads
    )


WORLD = build_world()
GK = Transformer.from_crs("EPSG:4490", "EPSG:4549", always_xy=True)


@pytest.fixture(scope="module", params=[None, 64], ids=["default-raster", "coarse-raster"])
def locator(request: pytest.FixtureRequest) -> Locator:
    """The default raster, and a coarse one where most points take the exact path."""
    return Locator(WORLD, raster_cells=request.param)


def brute_grid(lon: float, lat: float) -> int:
    point = shapely.Point(lon, lat)
    hits = [i for i, g in enumerate(WORLD.grids) if g.geometry.intersects(point)]
    return min(hits) if hits else OUTSIDE


def brute_squad_distances(lon: float, lat: float) -> np.ndarray:
    x, y = GK.transform(lon, lat)
    sx, sy = GK.transform([s.lon for s in WORLD.squads], [s.lat for s in WORLD.squads])
    return np.hypot(np.asarray(sx) - x, np.asarray(sy) - y)


def random_points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(120.95, 121.52, n), rng.uniform(28.35, 28.85, n)


def edge_points() -> tuple[np.ndarray, np.ndarray]:
    """Points exactly on grid edges and corners, where several grids touch."""
    lons = ORIGIN_LON + GRID_DEG * np.arange(7)
    lats = ORIGIN_LAT + GRID_DEG * np.arange(7)
    lon, lat = np.meshgrid(lons, lats)
    mid_lon, mid_lat = np.meshgrid(lons + GRID_DEG / 2, lats)
    return np.concatenate([lon.ravel(), mid_lon.ravel()]), np.concatenate(
        [lat.ravel(), mid_lat.ravel()]
    )


def test_batch_matches_brute_force(locator: Locator) -> None:
    lon, lat = random_points(3000, seed=1)
    edge_lon, edge_lat = edge_points()
    lon, lat = np.concatenate([lon, edge_lon]), np.concatenate([lat, edge_lat])
    batch = locator.locate_batch(lon, lat)
    expected = np.array([brute_grid(a, b) for a, b in zip(lon, lat, strict=True)])
    assert np.array_equal(batch.grid, expected)
    assert 0 < batch.inside.sum() < len(lon)
    inside = batch.inside
    district_of = {d.adcode: i for i, d in enumerate(WORLD.districts)}
    officer_of = {o.id: i for i, o in enumerate(WORLD.officers)}
    for k in np.flatnonzero(inside):
        grid = WORLD.grids[batch.grid[k]]
        assert batch.district[k] == district_of[grid.district_adcode]
        assert batch.officer[k] == (
            OUTSIDE if grid.officer_id is None else officer_of[grid.officer_id]
        )
        distances = brute_squad_distances(lon[k], lat[k])
        assert batch.squad[k] == int(np.argmin(distances))
        assert batch.squad_distance_m[k] == pytest.approx(distances.min(), abs=1e-6)
    assert np.all(batch.district[~inside] == OUTSIDE)
    assert np.all(batch.officer[~inside] == OUTSIDE)
    assert np.all(batch.squad[~inside] == OUTSIDE)
    assert np.all(np.isnan(batch.squad_distance_m[~inside]))


def test_shared_edges_go_to_the_first_grid(locator: Locator) -> None:
    # The corner where four grids of district 331001 meet, and its inner edge midpoint.
    corner = (ORIGIN_LON + GRID_DEG, ORIGIN_LAT + GRID_DEG)
    result = locator.locate(*corner)
    assert result is not None
    assert result.grid.id == "grid-0"
    on_edge = locator.locate(ORIGIN_LON + GRID_DEG, ORIGIN_LAT + GRID_DEG / 2)
    assert on_edge is not None
    assert on_edge.grid.id == "grid-0"


def test_single_matches_batch(locator: Locator) -> None:
    lon, lat = random_points(400, seed=2)
    batch = locator.locate_batch(lon, lat)
    for k in range(len(lon)):
        result = locator.locate(lon[k], lat[k], squads=len(WORLD.squads))
        if batch.grid[k] == OUTSIDE:
            assert result is None
            continue
        assert result is not None
        assert result.grid is WORLD.grids[batch.grid[k]]
        assert result.district is WORLD.districts[batch.district[k]]
        assert result.squads[0].squad is WORLD.squads[batch.squad[k]]
        assert result.squads[0].distance_m == round(batch.squad_distance_m[k], 1)
        distances = [s.distance_m for s in result.squads]
        assert distances == sorted(distances)
        assert distances == pytest.approx(sorted(brute_squad_distances(lon[k], lat[k])), abs=0.051)


def test_parallel_batch_equals_serial(locator: Locator) -> None:
    lon, lat = random_points(20_000, seed=3)
    serial = locator.locate_batch(lon, lat, workers=1)
    parallel = locator.locate_batch(lon, lat, workers=3)
    for name in ("district", "grid", "officer", "squad"):
        assert np.array_equal(getattr(serial, name), getattr(parallel, name))
    assert np.array_equal(serial.squad_distance_m, parallel.squad_distance_m, equal_nan=True)
    with pytest.raises(ValueError, match="workers"):
        locator.locate_batch(lon, lat, workers=0)


def test_to_json_shape(locator: Locator) -> None:
    result = locator.locate(121.03, 28.43)
    assert result is not None
    data = result.to_json()
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    assert data["district"] == {"name": "区331001", "adcode": "331001"}
    assert data["grid"] == {"id": "grid-0", "name": "网格0"}
    assert data["grid_officer"] == {
        "id": "officer-0",
        "name": "网格员0",
        "phone": "13800000000",
        "duty": "off_duty",
    }
    assert [s["id"] for s in data["squads"]] == ["squad-0", "squad-1", "squad-2"]
    assert set(data["squads"][0]) == {"id", "name", "distance_m", "available"}
    assert data["squads"][2]["available"] is False
    assert all(round(s["distance_m"], 1) == s["distance_m"] for s in data["squads"])
    assert data["point"] == {"lon": 121.03, "lat": 28.43}


def test_grid_without_officer(locator: Locator) -> None:
    grid = WORLD.grids[5]
    assert grid.officer_id is None
    centre = grid.geometry.centroid
    result = locator.locate(centre.x, centre.y, squads=0)
    assert result is not None
    assert result.grid is grid
    assert result.grid_officer is None
    assert result.squads == ()
    assert result.to_json()["grid_officer"] is None


def test_outside_point(locator: Locator) -> None:
    assert locator.locate(120.5, 28.5) is None
    assert locator.locate(2.35, 48.85) is None
    batch = locator.locate_batch([120.5, 2.35], [28.5, 48.85])
    assert batch.grid.tolist() == [OUTSIDE, OUTSIDE]
    assert not batch.inside.any()


@pytest.mark.parametrize("datum", [Datum.GCJ02, Datum.BD09])
def test_other_datums_are_converted_first(locator: Locator, datum: Datum) -> None:
    lon, lat = random_points(200, seed=4)
    mlon, mlat = convert(lon, lat, Datum.WGS84, datum)
    plain = locator.locate_batch(lon, lat)
    shifted = locator.locate_batch(mlon, mlat, datum=datum)
    assert np.array_equal(plain.grid, shifted.grid)
    assert np.allclose(plain.squad_distance_m, shifted.squad_distance_m, atol=0.01, equal_nan=True)
    k = int(np.flatnonzero(plain.inside)[0])
    result = locator.locate(float(mlon[k]), float(mlat[k]), datum=datum)
    assert result is not None
    assert result.grid is WORLD.grids[plain.grid[k]]
    assert result.lon == pytest.approx(lon[k], abs=1e-9)


def test_bad_input_is_rejected(locator: Locator) -> None:
    with pytest.raises(ValueError, match="latitude"):
        locator.locate(121.0, float("nan"))
    with pytest.raises(ValueError, match="longitude"):
        locator.locate_batch([121.0, 400.0], [28.5, 28.5])
    with pytest.raises(ValueError, match="squads"):
        locator.locate(121.03, 28.43, squads=-1)
    with pytest.raises(ValueError, match="1-d"):
        locator.locate_batch([[121.0]], [[28.5]])


def test_nearest_on_duty_grid_officer(locator: Locator) -> None:
    # grid-0's officer is off duty: the substitute is a neighbour's officer.
    inside_grid_0 = (ORIGIN_LON + 0.01, ORIGIN_LAT + 0.01)
    match = locator.nearest_on_duty_grid_officer(*inside_grid_0, "331001")
    assert match is not None
    assert match.officer.duty == DutyStatus.ON_DUTY
    # East neighbour: a degree of longitude is shorter on the ground than one of latitude.
    assert match.grid.id == "grid-3"
    assert match.officer.id == "officer-3"
    edge_x, edge_y = GK.transform([ORIGIN_LON + GRID_DEG] * 2, [ORIGIN_LAT, ORIGIN_LAT + GRID_DEG])
    edge = shapely.LineString(list(zip(edge_x, edge_y, strict=True)))
    expected = edge.distance(shapely.Point(GK.transform(*inside_grid_0)))
    assert match.distance_m == pytest.approx(expected, abs=0.051)
    # Inside an on-duty officer's own grid the distance is zero.
    own = locator.nearest_on_duty_grid_officer(
        ORIGIN_LON + 0.01, ORIGIN_LAT + GRID_DEG + 0.01, "331001"
    )
    assert own is not None
    assert own.grid.id == "grid-1"
    assert own.distance_m == 0.0
    # The irregular district has no grid officers at all.
    assert locator.nearest_on_duty_grid_officer(121.44, 28.6, "331099") is None
    with pytest.raises(ValueError, match="unknown district"):
        locator.nearest_on_duty_grid_officer(121.44, 28.6, "999999")


def test_inconsistent_worlds_are_rejected() -> None:
    grid = WORLD.grids[0]
    with pytest.raises(ValueError, match="without grids"):
        Locator(World(districts=WORLD.districts))
    with pytest.raises(ValueError, match="unknown district"):
        Locator(World(grids=(grid,)))
    with pytest.raises(ValueError, match="unknown officer"):
        Locator(World(districts=WORLD.districts, grids=(grid,)))


def test_world_without_squads() -> None:
    locator = Locator(World(districts=WORLD.districts, grids=WORLD.grids, officers=WORLD.officers))
    result = locator.locate(121.03, 28.43)
    assert result is not None
    assert result.squads == ()
    batch = locator.locate_batch([121.03], [28.43])
    assert batch.squad.tolist() == [OUTSIDE]
    assert batch.grid.tolist() == [0]


# -- the real demo world (Taizhou, 11k grids) ---------------------------------------------


@pytest.fixture(scope="module", params=[None, 4096], ids=["default-raster", "cli-raster"])
def demo_locator(request: pytest.FixtureRequest, demo_world: World) -> Locator:
    """The default raster, and the small one the CLI uses (large blocks, many candidates)."""
    return Locator(demo_world, raster_cells=request.param)


@pytest.mark.slow
def test_demo_world_matches_brute_force(demo_world: World, demo_locator: Locator) -> None:
    rng = np.random.default_rng(5)
    x0, y0, x1, y1 = shapely.total_bounds([d.boundary for d in demo_world.districts])
    lon, lat = rng.uniform(x0, x1, 3000), rng.uniform(y0, y1, 3000)
    # Also the vertices of a few grids: points on shared edges.
    vertices = shapely.get_coordinates([g.geometry for g in demo_world.grids[:40]])
    lon, lat = np.concatenate([lon, vertices[:, 0]]), np.concatenate([lat, vertices[:, 1]])
    batch = demo_locator.locate_batch(lon, lat)
    geometries = np.array([g.geometry for g in demo_world.grids], dtype=object)
    tree = shapely.STRtree(geometries)
    point_idx, grid_idx = tree.query(shapely.points(lon, lat), predicate="intersects")
    expected = np.full(len(lon), OUTSIDE)
    for p, g in zip(point_idx, grid_idx, strict=True):
        expected[p] = g if expected[p] == OUTSIDE else min(expected[p], g)
    assert np.array_equal(batch.grid, expected)
    assert batch.inside.sum() > 1000
    epsg = demo_locator.projector.epsg
    assert epsg == 4549
    sx, sy = GK.transform([s.lon for s in demo_world.squads], [s.lat for s in demo_world.squads])
    px, py = GK.transform(lon[batch.inside], lat[batch.inside])
    distances = np.hypot(
        np.asarray(sx)[None, :] - px[:, None], np.asarray(sy)[None, :] - py[:, None]
    )
    assert np.array_equal(batch.squad[batch.inside], distances.argmin(axis=1))
    for k in np.flatnonzero(batch.inside)[:300]:
        result = demo_locator.locate(lon[k], lat[k])
        assert result is not None
        assert result.grid is demo_world.grids[batch.grid[k]]
        assert result.squads[0].squad is demo_world.squads[batch.squad[k]]
        assert result.district.adcode == result.grid.district_adcode
