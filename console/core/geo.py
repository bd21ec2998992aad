"""Coordinate datums of Chinese web maps and the projected zone we measure distances in.

Phones and web maps in China report GCJ-02 (Amap, Tencent) or BD-09 (Baidu); our world is
stored in WGS84/CGCS2000. Every conversion is vectorised so a whole batch of complaints or
position reports is converted in one numpy pass. Distances are measured in the CGCS2000
3-degree Gauss-Krüger zone of the region (metres), never in degrees.
"""

from __future__ import annotations

import functools
import math
from enum import StrEnum
from typing import Any, Final, TypeVar, overload

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

# Stored boundaries and grids are snapped to this lon/lat precision (about 1 cm), so
# neighbouring polygons computed separately share exactly the same vertices.
PRECISION_DEG: Final = 1e-7

FloatArray = npt.NDArray[np.float64]
Coord = TypeVar("Coord", float, FloatArray)

# GCJ-02 ("Mars coordinates"): Krasovsky 1940 ellipsoid, offsets computed from (lng-105, lat-35).
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
# The obfuscation is only applied inside this box around China.
_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)
# BD-09 is a further rotation/scaling of GCJ-02.
_BD_X_PI = math.pi * 3000.0 / 180.0
# Inverses iterate until the forward transform reproduces the input to this many degrees
# (1e-10 degrees is about 0.01 mm), so a round trip is far below a centimetre.
_INVERSE_TOLERANCE_DEG = 1e-10
_INVERSE_MAX_ITERATIONS = 30

# CGCS2000 geographic and its 3-degree Gauss-Krüger zones without zone prefix (CM 75E..135E).
CGCS2000_EPSG = 4490
_GK3_FIRST_EPSG = 4534
_GK3_FIRST_CM = 75
_GK3_LAST_CM = 135


class Datum(StrEnum):
    """Datum of a longitude/latitude pair. CGCS2000 is treated as WGS84 (sub-metre apart)."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"


def _as_array(value: float | FloatArray | Any) -> FloatArray:
    return np.asarray(value, dtype=np.float64)


@overload
def _restore(template: float, *values: FloatArray) -> tuple[float, ...]: ...
@overload
def _restore(template: FloatArray, *values: FloatArray) -> tuple[FloatArray, ...]: ...
def _restore(template: Any, *values: FloatArray) -> tuple[Any, ...]:
    """Give back plain floats for scalar input so callers keep the type they passed."""
    if np.ndim(template) == 0:
        return tuple(float(v) for v in values)
    return values


def in_china_box(lon: Coord, lat: Coord) -> npt.NDArray[np.bool_] | bool:
    """True where GCJ-02 obfuscation applies (China's bounding box)."""
    if isinstance(lon, float) and isinstance(lat, float):  # one point: numpy costs ~5 µs
        return _CHINA_LON[0] <= lon <= _CHINA_LON[1] and _CHINA_LAT[0] <= lat <= _CHINA_LAT[1]
    x, y = _as_array(lon), _as_array(lat)
    inside = (
        (x >= _CHINA_LON[0]) & (x <= _CHINA_LON[1]) & (y >= _CHINA_LAT[0]) & (y <= _CHINA_LAT[1])
    )
    return bool(inside) if inside.ndim == 0 else inside


def _gcj_offset(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 offset in degrees at WGS84 (x, y); zero outside China's box."""
    dx, dy = x - 105.0, y - 35.0
    abs_dx = np.sqrt(np.abs(dx))
    six_pi_x = np.sin(6.0 * math.pi * dx)
    two_pi_x = np.sin(2.0 * math.pi * dx)
    d_lat = -100.0 + 2.0 * dx + 3.0 * dy + 0.2 * dy * dy + 0.1 * dx * dy + 0.2 * abs_dx
    d_lat += (20.0 * six_pi_x + 20.0 * two_pi_x) * 2.0 / 3.0
    d_lat += (20.0 * np.sin(dy * math.pi) + 40.0 * np.sin(dy / 3.0 * math.pi)) * 2.0 / 3.0
    d_lat += (160.0 * np.sin(dy / 12.0 * math.pi) + 320.0 * np.sin(dy * math.pi / 30.0)) * 2.0 / 3.0
    d_lon = 300.0 + dx + 2.0 * dy + 0.1 * dx * dx + 0.1 * dx * dy + 0.1 * abs_dx
    d_lon += (20.0 * six_pi_x + 20.0 * two_pi_x) * 2.0 / 3.0
    d_lon += (20.0 * np.sin(dx * math.pi) + 40.0 * np.sin(dx / 3.0 * math.pi)) * 2.0 / 3.0
    d_lon += (150.0 * np.sin(dx / 12.0 * math.pi) + 300.0 * np.sin(dx / 30.0 * math.pi)) * 2.0 / 3.0
    rad_lat = y / 180.0 * math.pi
    magic = 1.0 - _KRASOVSKY_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / (
        (_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * math.pi
    )
    d_lon = (d_lon * 180.0) / (_KRASOVSKY_A / sqrt_magic * np.cos(rad_lat) * math.pi)
    outside = ~np.asarray(in_china_box(x, y))
    d_lon = np.where(outside, 0.0, d_lon)
    d_lat = np.where(outside, 0.0, d_lat)
    return d_lon, d_lat


def wgs84_to_gcj02(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """WGS84 -> GCJ-02; identity outside China's bounding box."""
    x, y = _as_array(lon), _as_array(lat)
    d_lon, d_lat = _gcj_offset(x, y)
    return _restore(lon, x + d_lon, y + d_lat)  # type: ignore[return-value]


def gcj02_to_wgs84(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """GCJ-02 -> WGS84 by fixed-point iteration (a one-step inverse errs by up to ~5 m)."""
    gx, gy = _as_array(lon), _as_array(lat)
    x, y = gx.copy(), gy.copy()
    for _ in range(_INVERSE_MAX_ITERATIONS):
        d_lon, d_lat = _gcj_offset(x, y)
        err_x, err_y = x + d_lon - gx, y + d_lat - gy
        x, y = x - err_x, y - err_y
        if max(np.max(np.abs(err_x), initial=0.0), np.max(np.abs(err_y), initial=0.0)) < (
            _INVERSE_TOLERANCE_DEG
        ):
            break
    return _restore(lon, x, y)  # type: ignore[return-value]


def _bd_forward(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _BD_X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def gcj02_to_bd09(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """GCJ-02 -> BD-09 (Baidu applies it everywhere, not only inside China)."""
    bx, by = _bd_forward(_as_array(lon), _as_array(lat))
    return _restore(lon, bx, by)  # type: ignore[return-value]


def bd09_to_gcj02(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """BD-09 -> GCJ-02: the published closed-form inverse, refined by fixed-point iteration.

    The closed form alone is off by up to a few decimetres; iterating makes round trips exact.
    """
    bx, by = _as_array(lon), _as_array(lat)
    x0, y0 = bx - 0.0065, by - 0.006
    z = np.sqrt(x0 * x0 + y0 * y0) - 0.00002 * np.sin(y0 * _BD_X_PI)
    theta = np.arctan2(y0, x0) - 0.000003 * np.cos(x0 * _BD_X_PI)
    x, y = z * np.cos(theta), z * np.sin(theta)
    for _ in range(_INVERSE_MAX_ITERATIONS):
        fx, fy = _bd_forward(x, y)
        err_x, err_y = fx - bx, fy - by
        x, y = x - err_x, y - err_y
        if max(np.max(np.abs(err_x), initial=0.0), np.max(np.abs(err_y), initial=0.0)) < (
            _INVERSE_TOLERANCE_DEG
        ):
            break
    return _restore(lon, x, y)  # type: ignore[return-value]


def wgs84_to_bd09(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """WGS84 -> BD-09 through GCJ-02."""
    gx, gy = wgs84_to_gcj02(lon, lat)
    return gcj02_to_bd09(gx, gy)


def bd09_to_wgs84(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """BD-09 -> WGS84 through GCJ-02."""
    gx, gy = bd09_to_gcj02(lon, lat)
    return gcj02_to_wgs84(gx, gy)


_CONVERSIONS = {
    (Datum.WGS84, Datum.GCJ02): wgs84_to_gcj02,
    (Datum.GCJ02, Datum.WGS84): gcj02_to_wgs84,
    (Datum.GCJ02, Datum.BD09): gcj02_to_bd09,
    (Datum.BD09, Datum.GCJ02): bd09_to_gcj02,
    (Datum.WGS84, Datum.BD09): wgs84_to_bd09,
    (Datum.BD09, Datum.WGS84): bd09_to_wgs84,
}


def convert(lon: Coord, lat: Coord, src: Datum, dst: Datum) -> tuple[Coord, Coord]:
    """Convert between any two datums; floats in, floats out; arrays in, arrays out."""
    src, dst = Datum(src), Datum(dst)
    if src == dst:
        return _restore(lon, _as_array(lon).copy(), _as_array(lat).copy())  # type: ignore[return-value]
    return _CONVERSIONS[src, dst](lon, lat)


def validate_lonlat(lon: float | FloatArray, lat: float | FloatArray) -> None:
    """Reject NaN, infinities and impossible coordinates with a message naming the bad value."""
    x, y = np.asarray(lon), np.asarray(lat)
    if x.shape != y.shape:
        raise ValueError(
            f"longitude and latitude must have the same shape, got {x.shape} and {y.shape}"
        )
    for name, values, limit in (("longitude", x, 180.0), ("latitude", y, 90.0)):
        if not np.issubdtype(values.dtype, np.number):
            raise ValueError(f"{name} must be a number, got {values.dtype}")
        values = values.astype(np.float64, copy=False)
        bad = ~np.isfinite(values) | (np.abs(values) > limit)
        if np.any(bad):
            first = float(values[bad].flat[0]) if values.ndim else float(values)
            count = int(np.count_nonzero(bad))
            raise ValueError(
                f"{name} must be a finite number in [-{limit:g}, {limit:g}], got {first!r}"
                + (f" ({count} bad values)" if count > 1 else "")
            )


def gk_zone_epsg(lon: float) -> int:
    """EPSG code of the CGCS2000 3-degree Gauss-Krüger zone (no zone prefix) holding ``lon``.

    CM = 3 * round(lon / 3), halves rounded east: 121.4E -> CM 120 (EPSG:4549),
    121.5E and 121.6E -> CM 123 (EPSG:4550).
    """
    validate_lonlat(lon, 0.0)
    cm = 3 * math.floor(float(lon) / 3.0 + 0.5)
    if not _GK3_FIRST_CM <= cm <= _GK3_LAST_CM:
        raise ValueError(
            f"longitude {lon} is outside the CGCS2000 3-degree zones "
            f"(central meridians {_GK3_FIRST_CM}E..{_GK3_LAST_CM}E)"
        )
    return _GK3_FIRST_EPSG + (cm - _GK3_FIRST_CM) // 3


@functools.lru_cache(maxsize=32)
def _transformers(epsg: int) -> tuple[Transformer, Transformer]:
    forward = Transformer.from_crs(CGCS2000_EPSG, epsg, always_xy=True)
    inverse = Transformer.from_crs(epsg, CGCS2000_EPSG, always_xy=True)
    return forward, inverse


class Projector:
    """Projects WGS84/CGCS2000 lon/lat into one Gauss-Krüger zone, in metres (x east, y north)."""

    __slots__ = ("_forward", "_inverse", "epsg")

    def __init__(self, epsg: int) -> None:
        last = _GK3_FIRST_EPSG + (_GK3_LAST_CM - _GK3_FIRST_CM) // 3
        if not _GK3_FIRST_EPSG <= epsg <= last:
            raise ValueError(
                f"EPSG:{epsg} is not a CGCS2000 3-degree Gauss-Krüger zone "
                f"(EPSG:{_GK3_FIRST_EPSG}..{last})"
            )
        self.epsg = epsg
        self._forward, self._inverse = _transformers(epsg)

    @classmethod
    def for_lon(cls, lon: float) -> Projector:
        return cls(gk_zone_epsg(lon))

    @classmethod
    def for_region(cls, geometry: BaseGeometry) -> Projector:
        """The zone of the region's centroid, so one zone serves a whole city."""
        if geometry.is_empty:
            raise ValueError("cannot choose a projection zone for an empty geometry")
        return cls.for_lon(geometry.centroid.x)

    def to_xy(self, lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
        x, y = self._forward.transform(_as_array(lon), _as_array(lat))
        return _restore(lon, _as_array(x), _as_array(y))  # type: ignore[return-value]

    def to_lonlat(self, x: Coord, y: Coord) -> tuple[Coord, Coord]:
        lon, lat = self._inverse.transform(_as_array(x), _as_array(y))
        return _restore(x, _as_array(lon), _as_array(lat))  # type: ignore[return-value]

    def project(self, geometry: BaseGeometry) -> BaseGeometry:
        """The geometry with every vertex projected to metres."""

        def _project_coords(coords: FloatArray) -> FloatArray:
            x, y = self._forward.transform(coords[:, 0], coords[:, 1])
            return np.column_stack([x, y])

        projected: BaseGeometry = shapely.transform(geometry, _project_coords)
        return projected

    def __repr__(self) -> str:
        return f"Projector(epsg={self.epsg})"
