"""Datum conversions, Gauss-Krüger zones and coordinate validation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod, Transformer

from console.core.geo import (
    Datum,
    Projector,
    bd09_to_gcj02,
    bd09_to_wgs84,
    convert,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    gk_zone_epsg,
    in_china_box,
    validate_lonlat,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

GEOD = Geod(ellps="WGS84")
# Mainland China, well inside the GCJ-02 box.
china_lon = st.floats(min_value=73.7, max_value=134.7)
china_lat = st.floats(min_value=18.2, max_value=53.5)


def metres_between(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def test_known_gcj02_value() -> None:
    lon, lat = wgs84_to_gcj02(116.404, 39.915)
    assert (lon, lat) == pytest.approx((116.41024449916938, 39.91640428150164), abs=1e-12)
    assert type(lon) is float
    assert type(lat) is float


def test_arrays_are_converted_elementwise() -> None:
    lons = np.array([116.404, 121.42, 2.35])
    lats = np.array([39.915, 28.66, 48.85])
    gx, gy = wgs84_to_gcj02(lons, lats)
    assert isinstance(gx, np.ndarray)
    assert gx.shape == (3,)
    for i in range(3):
        assert (gx[i], gy[i]) == wgs84_to_gcj02(float(lons[i]), float(lats[i]))


def test_offset_at_taizhou_is_about_half_a_kilometre() -> None:
    gx, gy = wgs84_to_gcj02(121.42, 28.66)
    assert 300 < metres_between(121.42, 28.66, gx, gy) < 700


@pytest.mark.parametrize(("lon", "lat"), [(2.35, 48.85), (-74.0, 40.7), (139.7, 35.7), (100, 0.5)])
def test_gcj02_is_identity_outside_china(lon: float, lat: float) -> None:
    assert not in_china_box(lon, lat)
    assert wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert gcj02_to_wgs84(lon, lat) == (lon, lat)


def test_in_china_box_is_vectorised() -> None:
    inside = in_china_box(np.array([121.4, 2.35]), np.array([28.6, 48.85]))
    assert isinstance(inside, np.ndarray)
    assert inside.tolist() == [True, False]


@settings(max_examples=300, deadline=None)
@given(china_lon, china_lat)
def test_gcj02_round_trip_is_sub_centimetre(lon: float, lat: float) -> None:
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert metres_between(lon, lat, *back) < 0.01


@settings(max_examples=300, deadline=None)
@given(china_lon, china_lat)
def test_bd09_round_trips_are_sub_centimetre(lon: float, lat: float) -> None:
    assert metres_between(lon, lat, *bd09_to_wgs84(*wgs84_to_bd09(lon, lat))) < 0.01
    assert metres_between(lon, lat, *bd09_to_gcj02(*gcj02_to_bd09(lon, lat))) < 0.01


def test_one_step_inverse_would_not_be_enough() -> None:
    """Guards the iteration: the naive inverse (subtract the forward offset) errs by metres."""
    lon, lat = 121.42, 28.66
    gx, gy = wgs84_to_gcj02(lon, lat)
    ox, oy = wgs84_to_gcj02(gx, gy)
    naive = (gx - (ox - gx), gy - (oy - gy))
    assert metres_between(lon, lat, *naive) > 0.05
    assert metres_between(lon, lat, *gcj02_to_wgs84(gx, gy)) < 0.001


def test_bd09_known_relation_to_gcj02() -> None:
    # BD-09 is GCJ-02 shifted by roughly (+0.0065, +0.006) degrees.
    bx, by = gcj02_to_bd09(116.41024449916938, 39.91640428150164)
    assert 0.005 < bx - 116.41024449916938 < 0.008
    assert 0.004 < by - 39.91640428150164 < 0.008


@pytest.mark.parametrize(("src", "dst"), list(itertools.product(Datum, Datum)))
def test_convert_between_all_datums_round_trips(src: Datum, dst: Datum) -> None:
    lons = np.array([121.42, 120.9, 116.404])
    lats = np.array([28.66, 28.1, 39.915])
    x, y = convert(lons, lats, src, dst)
    bx, by = convert(x, y, dst, src)
    assert np.allclose(bx, lons, atol=1e-9, rtol=0)
    assert np.allclose(by, lats, atol=1e-9, rtol=0)
    if src == dst:
        assert np.array_equal(x, lons)
    else:
        assert not np.allclose(x, lons, atol=1e-4, rtol=0)


def test_convert_matches_the_direct_functions() -> None:
    assert convert(121.42, 28.66, Datum.WGS84, Datum.BD09) == wgs84_to_bd09(121.42, 28.66)
    assert convert(121.42, 28.66, Datum.BD09, Datum.GCJ02) == bd09_to_gcj02(121.42, 28.66)
    assert convert(121.42, 28.66, "gcj02", "wgs84") == gcj02_to_wgs84(121.42, 28.66)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mars"):
        convert(121.42, 28.66, "mars", Datum.WGS84)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("lon", "epsg"),
    [(121.4, 4549), (121.6, 4550), (121.5, 4550), (120.0, 4549), (75.0, 4534), (135.0, 4554)],
)
def test_gk_zone_epsg(lon: float, epsg: int) -> None:
    assert gk_zone_epsg(lon) == epsg


@pytest.mark.parametrize("lon", [60.0, 137.0, -120.0])
def test_gk_zone_outside_china_is_rejected(lon: float) -> None:
    with pytest.raises(ValueError, match="3-degree zones"):
        gk_zone_epsg(lon)


def test_projector_matches_pyproj_and_inverts() -> None:
    projector = Projector.for_lon(121.4)
    assert projector.epsg == 4549
    reference = Transformer.from_crs("EPSG:4490", "EPSG:4549", always_xy=True)
    lons, lats = np.array([121.4, 120.1, 121.7]), np.array([28.6, 29.0, 28.2])
    x, y = projector.to_xy(lons, lats)
    rx, ry = reference.transform(lons, lats)
    assert np.allclose(x, rx)
    assert np.allclose(y, ry)
    # Central meridian 120E maps to the false easting.
    assert projector.to_xy(120.0, 28.0)[0] == pytest.approx(500_000.0)
    back = projector.to_lonlat(x, y)
    assert np.allclose(back[0], lons, atol=1e-9)
    assert np.allclose(back[1], lats, atol=1e-9)


def test_projected_distance_agrees_with_geodesic() -> None:
    projector = Projector(4549)
    (x1, y1), (x2, y2) = projector.to_xy(121.40, 28.60), projector.to_xy(121.45, 28.64)
    assert math.hypot(x2 - x1, y2 - y1) == pytest.approx(
        metres_between(121.40, 28.60, 121.45, 28.64), rel=5e-4
    )


def test_projector_for_region_uses_the_centroid() -> None:
    west = shapely.box(120.6, 28.0, 121.4, 29.0)
    east = shapely.box(121.4, 28.0, 122.0, 29.0)
    assert Projector.for_region(west).epsg == 4549
    assert Projector.for_region(east).epsg == 4550
    with pytest.raises(ValueError, match="empty"):
        Projector.for_region(shapely.Polygon())


def test_projector_projects_geometries_in_metres() -> None:
    square = shapely.box(121.0, 28.5, 121.01, 28.51)
    projected = Projector(4549).project(square)
    # 0.01 degree at 28.5N is about 1108 m north-south and 977 m east-west.
    assert projected.area == pytest.approx(1108 * 977, rel=0.01)


def test_projector_rejects_other_epsg_codes() -> None:
    with pytest.raises(ValueError, match="EPSG:4326"):
        Projector(4326)


@pytest.mark.parametrize(
    ("lon", "lat", "message"),
    [
        (math.nan, 28.0, "longitude"),
        (121.0, math.inf, "latitude"),
        (181.0, 28.0, r"longitude must be a finite number in \[-180, 180\], got 181.0"),
        (121.0, -90.5, "latitude"),
    ],
)
def test_validate_lonlat_rejects_impossible_points(lon: float, lat: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_lonlat(lon, lat)


def test_validate_lonlat_arrays() -> None:
    validate_lonlat(np.array([121.0, -180.0, 180.0]), np.array([28.0, -90.0, 90.0]))
    with pytest.raises(ValueError, match=r"got nan \(2 bad values\)"):
        validate_lonlat(np.array([np.nan, 121.0, 500.0]), np.zeros(3))
    with pytest.raises(ValueError, match="same shape"):
        validate_lonlat(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="must be a number"):
        validate_lonlat(np.array(["a"]), np.zeros(1))
