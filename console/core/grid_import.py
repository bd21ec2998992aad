"""Validate a user's own grid layer (GeoJSON) against the stored world before it replaces grids.

A centre that already has its 网格 drawn (in a GIS, or exported from Amap/Baidu tools) imports
them instead of the synthetic demo lattice. Everything here is pure: parse the file, decide its
datum, check every grid, and produce a :class:`GridImportPlan` that the store writes in one
transaction. Nothing is written unless the whole layer passes, so a bad file never leaves half
a grid layer behind.

Checks, each naming the feature (index and id): JSON and GeoJSON structure, Polygon or
MultiPolygon geometry, coordinate range, polygon validity (GEOS ``explain_validity``), unique
ids, one district per grid (largest overlap; straddling beyond a tolerance is an error),
pairwise overlaps (STRtree), named officers that exist, are grid officers of that district and
hold only one grid. Gaps (district area no grid covers) are warnings, or errors on request.

Datum: Chinese web maps draw in GCJ-02 (Amap, Tencent) or BD-09 (Baidu), about 500 m away
from WGS84. The layer's fit is the share of its area that falls inside each grid's best
district; the datum whose conversion fits the stored (WGS84) district boundaries best wins.
A declared datum that fits clearly worse than another is refused, naming the better one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from console.core.geo import PRECISION_DEG, Datum, FloatArray, convert
from console.core.model import Grid, OfficerRole, World

# Two grids may overlap by this much (float noise of converted shared edges), no more.
OVERLAP_TOLERANCE_M2: Final = 10.0
# A grid may reach this share of its area into other districts (boundary sources differ by
# tens of metres); beyond it the grid straddles districts and must be split.
STRADDLE_TOLERANCE: Final = 0.05
# A grid with more than this share of its area outside every district is reported.
OUTSIDE_WARNING_SHARE: Final = 0.05
# District area left uncovered by the layer is reported above this many m² (1 ha).
GAP_TOLERANCE_M2: Final = 10_000.0
# A declared datum is refused when its misfit (share of area outside the grids' districts)
# exceeds the best datum's by this much and is at least twice as large.
DATUM_MISFIT_MARGIN: Final = 0.01
# With --datum auto, fits closer than this cannot tell datums apart: WGS84 is preferred.
DATUM_AMBIGUITY: Final = 0.002
# Below this fit the layer is not for this world at all, whatever its datum.
MIN_FIT: Final = 0.5
# Errors and listed ids shown to a person, at most (the count of the rest is given).
MAX_LISTED: Final = 20
MAX_ID_LENGTH: Final = 64
MAX_NAME_LENGTH: Final = 200

_M_PER_DEG_LAT: Final = 110_574.0
_M_PER_DEG_LON_EQUATOR: Final = 111_320.0
# Order of preference when fits tie: the stored datum first.
_DATUM_ORDER: Final = (Datum.WGS84, Datum.GCJ02, Datum.BD09)
_POLYGONAL: Final = ("Polygon", "MultiPolygon")

ObjectArray = npt.NDArray[np.object_]


class GridImportError(ValueError):
    """The layer cannot be imported; ``problems`` lists every reason, each naming its feature."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        shown = list(self.problems[:MAX_LISTED])
        if len(self.problems) > MAX_LISTED:
            shown.append(f"... and {len(self.problems) - MAX_LISTED} more problems")
        super().__init__("\n".join(shown))


@dataclass(frozen=True, slots=True)
class GridFeature:
    """One parsed feature; ``geometry`` is still in the file's datum."""

    index: int
    id: str
    name: str
    officer_id: str | None
    geometry: BaseGeometry

    @property
    def label(self) -> str:
        return _label(self.index, self.id)


@dataclass(frozen=True, slots=True)
class DistrictCover:
    """How the layer covers one district."""

    adcode: str
    name: str
    grids: int
    uncovered_m2: float
    uncovered_share: float


@dataclass(frozen=True, slots=True)
class GridImportPlan:
    """A checked layer, ready to replace the world's grids (see ``apply``)."""

    grids: tuple[Grid, ...]
    datum: Datum
    declared_datum: Datum | None  # None: decided automatically
    fits: Mapping[Datum, float]  # share of the layer's area inside its grids' districts
    covers: tuple[DistrictCover, ...]
    enterprise_grids: Mapping[str, str | None]  # enterprise id -> new grid id
    warnings: tuple[str, ...]

    @property
    def grids_without_officer(self) -> tuple[str, ...]:
        return tuple(g.id for g in self.grids if g.officer_id is None)

    def apply(self, world: World) -> World:
        """``world`` with these grids, officers' grid links and enterprises' grids."""
        officer_grid = {g.officer_id: g.id for g in self.grids if g.officer_id is not None}
        officers = tuple(
            replace(o, grid_id=officer_grid.get(o.id)) if o.grid_id or o.id in officer_grid else o
            for o in world.officers
        )
        enterprises = tuple(
            replace(e, grid_id=self.enterprise_grids.get(e.id)) for e in world.enterprises
        )
        return replace(world, grids=self.grids, officers=officers, enterprises=enterprises)

    def summary(self, world: World) -> dict[str, Any]:
        """JSON-ready summary of what the import does to ``world``."""
        linked = {g.officer_id for g in self.grids if g.officer_id is not None}
        unlinked = [o.id for o in world.officers if o.grid_id is not None and o.id not in linked]
        outside = [eid for eid, gid in self.enterprise_grids.items() if gid is None]
        return {
            "datum": self.datum.value,
            "datum_declared": self.declared_datum.value if self.declared_datum else "auto",
            "datum_fit": {d.value: round(f, 4) for d, f in self.fits.items()},
            "grids": len(self.grids),
            "replaced_grids": len(world.grids),
            "districts": [
                {
                    "adcode": c.adcode,
                    "name": c.name,
                    "grids": c.grids,
                    "uncovered_km2": round(c.uncovered_m2 / 1e6, 4),
                }
                for c in self.covers
            ],
            "officers_linked": len(linked),
            "grids_without_officer": list(self.grids_without_officer),
            "officers_without_grid": unlinked,
            "enterprises_outside_grids": outside,
            "warnings": list(self.warnings),
        }


# --------------------------------------------------------------------------- parsing


def _label(index: int, feature_id: object) -> str:
    return f"feature {index}" + (f" (id {feature_id!r})" if feature_id not in (None, "") else "")


def parse_grid_layer(
    text: str,
    *,
    id_field: str = "id",
    name_field: str = "name",
    officer_field: str = "officer_id",
) -> tuple[GridFeature, ...]:
    """Parse a GeoJSON FeatureCollection of grid polygons; GridImportError lists every problem.

    The id comes from ``properties[id_field]``, else the feature's own ``id``; a missing name
    becomes the id; a missing or null officer means the grid has none yet.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GridImportError(
            [f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
        ) from None
    if not isinstance(data, dict) or "type" not in data:
        raise GridImportError(["not GeoJSON: expected an object with a 'type' member"])
    if data["type"] != "FeatureCollection":
        hint = " (wrap it in a FeatureCollection)" if data["type"] == "Feature" else ""
        raise GridImportError([f"not a GeoJSON FeatureCollection: type is {data['type']!r}{hint}"])
    raw_features = data.get("features")
    if not isinstance(raw_features, list):
        raise GridImportError(["not GeoJSON: a FeatureCollection needs a 'features' array"])
    if not raw_features:
        raise GridImportError(["the FeatureCollection has no features"])
    problems: list[str] = []
    features: list[GridFeature] = []
    first_of: dict[str, int] = {}
    for index, raw in enumerate(raw_features):
        feature = _parse_feature(index, raw, id_field, name_field, officer_field, problems)
        if feature is None:
            continue
        if feature.id in first_of:
            problems.append(
                f"{feature.label}: duplicate id, already used by feature {first_of[feature.id]}"
            )
            continue
        first_of[feature.id] = index
        features.append(feature)
    if problems:
        raise GridImportError(problems)
    return tuple(features)


def _parse_feature(
    index: int,
    raw: object,
    id_field: str,
    name_field: str,
    officer_field: str,
    problems: list[str],
) -> GridFeature | None:
    """One feature, or None after appending why it is unusable."""
    if not isinstance(raw, dict) or raw.get("type") != "Feature":
        problems.append(f"{_label(index, None)}: not a GeoJSON Feature object")
        return None
    properties = raw.get("properties") or {}
    if not isinstance(properties, dict):
        problems.append(f"{_label(index, None)}: 'properties' must be an object")
        return None
    raw_id = properties.get(id_field, raw.get("id"))
    label = _label(index, raw_id)
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or str(raw_id).strip() == "":
        problems.append(
            f"{label}: no grid id: set properties.{id_field} (text or integer) "
            "or choose the id property with --id-field"
        )
        return None
    grid_id = str(raw_id).strip()
    if len(grid_id) > MAX_ID_LENGTH:
        problems.append(f"{label}: id is longer than {MAX_ID_LENGTH} characters")
        return None
    raw_name = properties.get(name_field)
    name = grid_id if raw_name is None else str(raw_name).strip() or grid_id
    if len(name) > MAX_NAME_LENGTH:
        problems.append(f"{label}: name is longer than {MAX_NAME_LENGTH} characters")
        return None
    raw_officer = properties.get(officer_field)
    if raw_officer is not None and (
        isinstance(raw_officer, bool) or not isinstance(raw_officer, str | int)
    ):
        problems.append(f"{label}: {officer_field} must be text, got {raw_officer!r}")
        return None
    officer_id = str(raw_officer).strip() or None if raw_officer is not None else None
    geometry = _parse_geometry(label, raw.get("geometry"), problems)
    if geometry is None:
        return None
    return GridFeature(index, grid_id, name, officer_id, geometry)


def _parse_geometry(label: str, raw: object, problems: list[str]) -> BaseGeometry | None:
    if raw is None:
        problems.append(f"{label}: has no geometry")
        return None
    if not isinstance(raw, dict):
        problems.append(f"{label}: geometry must be a GeoJSON object")
        return None
    kind = raw.get("type")
    if kind not in _POLYGONAL:
        problems.append(f"{label}: geometry is a {kind}: a grid must be a Polygon or MultiPolygon")
        return None
    coords = raw.get("coordinates")
    try:
        flat = np.asarray(_positions(coords), dtype=np.float64)
        geometry: BaseGeometry = shapely.force_2d(shape(raw))
    except (TypeError, ValueError, AttributeError, IndexError, shapely.errors.ShapelyError) as exc:
        problems.append(f"{label}: malformed {kind} coordinates ({exc})")
        return None
    if flat.size == 0 or geometry.is_empty:
        problems.append(f"{label}: empty {kind}")
        return None
    bad = ~np.isfinite(flat).all(axis=1) | (np.abs(flat[:, 0]) > 180) | (np.abs(flat[:, 1]) > 90)
    if np.any(bad):
        lon, lat = flat[bad][0]
        problems.append(
            f"{label}: coordinate ({lon:g}, {lat:g}) is not a longitude/latitude in degrees "
            "(projected coordinates must be converted to lon/lat first)"
        )
        return None
    if not geometry.is_valid:
        problems.append(f"{label}: invalid polygon: {shapely.is_valid_reason(geometry)}")
        return None
    return geometry


def _positions(coords: object) -> list[list[float]]:
    """Every position of nested GeoJSON coordinates, as [lon, lat] pairs."""
    if not isinstance(coords, list):
        raise TypeError("coordinates must be nested arrays")
    if coords and not isinstance(coords[0], list):
        if len(coords) < 2 or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in coords
        ):
            raise ValueError(f"a position must be 2 or 3 numbers, got {coords!r}")
        return [[float(coords[0]), float(coords[1])]]
    out: list[list[float]] = []
    for part in coords:
        out.extend(_positions(part))
    return out


# --------------------------------------------------------------------------- planning


def plan_grid_import(
    features: Sequence[GridFeature],
    world: World,
    *,
    datum: Datum | None = None,
    require_cover: bool = False,
) -> GridImportPlan:
    """Check ``features`` against ``world`` and plan the replacement of its grids.

    ``datum`` None decides between WGS84, GCJ-02 and BD-09 by fit. Raises GridImportError
    with every problem found, each naming its feature.
    """
    if not world.districts:
        raise GridImportError(["the stored world has no districts: run seed first"])
    if not features:
        raise GridImportError(["the layer has no features"])
    boundaries = np.asarray([d.boundary for d in world.districts], dtype=object)
    shapely.prepare(boundaries)
    tree = shapely.STRtree(boundaries)
    source = np.asarray([f.geometry for f in features], dtype=object)

    converted: dict[Datum, ObjectArray] = {}
    overlaps: dict[Datum, FloatArray] = {}
    fits: dict[Datum, float] = {}
    for candidate in _DATUM_ORDER:
        geoms = _to_wgs84(source, candidate)
        overlap = _overlap_matrix(geoms, boundaries, tree)
        converted[candidate], overlaps[candidate] = geoms, overlap
        fits[candidate] = _fit(geoms, overlap)
    chosen, warnings = _choose_datum(fits, datum, world)

    geoms, overlap = converted[chosen], overlaps[chosen]
    problems: list[str] = []
    collapsed = shapely.is_empty(geoms) | ~shapely.is_valid(geoms)
    for k in np.flatnonzero(collapsed).tolist():
        problems.append(
            f"{features[k].label}: collapses at {PRECISION_DEG:g}° precision (too small)"
        )
    areas = shapely.area(geoms)
    district_of = np.argmax(overlap, axis=1)
    best = overlap[np.arange(len(features)), district_of]
    outside_share: list[tuple[str, float]] = []
    for i, feature in enumerate(features):
        if collapsed[i]:
            continue
        if best[i] <= 0:
            problems.append(
                f"{feature.label}: lies outside every district of the stored world "
                f"({world.city_name or world.city_adcode})"
            )
            continue
        in_others = float(overlap[i].sum() - best[i]) / areas[i]
        if in_others > STRADDLE_TOLERANCE:
            problems.append(
                f"{feature.label}: straddles districts: "
                f"{_shares(overlap[i], areas[i], world)}; split it at the district boundary"
            )
        outside = 1.0 - float(overlap[i].sum()) / areas[i]
        if outside > OUTSIDE_WARNING_SHARE:
            outside_share.append((feature.id, outside))

    grids = tuple(
        Grid(
            id=f.id,
            name=f.name,
            district_adcode=world.districts[int(district_of[i])].adcode,
            geometry=geoms[i],
            officer_id=f.officer_id,
        )
        for i, f in enumerate(features)
    )
    problems.extend(_officer_problems(features, grids, world))
    valid = ~collapsed
    problems.extend(_overlap_problems(features, geoms, valid))
    covers = _covers(grids, world, valid)
    for cover in covers:
        if cover.uncovered_m2 <= GAP_TOLERANCE_M2:
            continue
        gap = (
            f"district {cover.name} ({cover.adcode}): {cover.uncovered_m2 / 1e6:.3f} km² "
            f"({cover.uncovered_share:.1%}) is covered by no grid"
        )
        if require_cover:
            problems.append(gap + " (--require-cover)")
        else:
            warnings.append(gap)
    if problems:
        raise GridImportError(problems)

    for grid_id, share in outside_share[:MAX_LISTED]:
        warnings.append(f"grid {grid_id!r}: {share:.1%} of its area lies outside every district")
    if len(outside_share) > MAX_LISTED:
        warnings.append(
            f"... and {len(outside_share) - MAX_LISTED} more grids partly outside every district"
        )
    without = [g.id for g in grids if g.officer_id is None]
    if without:
        warnings.append(f"{len(without)} grids have no grid officer: {_listed(without)}")
    enterprise_grids = _enterprise_grids(grids, world)
    lost = [eid for eid, gid in enterprise_grids.items() if gid is None]
    if lost:
        warnings.append(f"{len(lost)} enterprises lie in no grid: {_listed(lost)}")
    return GridImportPlan(
        grids=grids,
        datum=chosen,
        declared_datum=datum,
        fits=fits,
        covers=covers,
        enterprise_grids=enterprise_grids,
        warnings=tuple(warnings),
    )


def _listed(ids: Sequence[str]) -> str:
    head = ", ".join(ids[:MAX_LISTED])
    return head + (f", ... ({len(ids) - MAX_LISTED} more)" if len(ids) > MAX_LISTED else "")


def _to_wgs84(geoms: ObjectArray, datum: Datum) -> ObjectArray:
    """Every vertex converted to WGS84 in one pass, then snapped to the working precision."""

    def _convert(xy: FloatArray) -> FloatArray:
        lon, lat = convert(xy[:, 0], xy[:, 1], datum, Datum.WGS84)
        return np.column_stack((lon, lat))

    out: ObjectArray = shapely.set_precision(shapely.transform(geoms, _convert), PRECISION_DEG)
    return out


def _overlap_matrix(
    geoms: ObjectArray, boundaries: ObjectArray, tree: shapely.STRtree
) -> FloatArray:
    """Area (deg²) of each grid inside each district; grids x districts."""
    matrix = np.zeros((len(geoms), len(boundaries)))
    grid_idx, district_idx = tree.query(geoms, predicate="intersects")
    if len(grid_idx) == 0:
        return matrix
    areas = shapely.area(geoms[grid_idx])
    inside = shapely.contains(boundaries[district_idx], geoms[grid_idx])
    edge = ~inside
    areas[edge] = shapely.area(
        shapely.intersection(geoms[grid_idx[edge]], boundaries[district_idx[edge]])
    )
    np.add.at(matrix, (grid_idx, district_idx), areas)
    return matrix


def _fit(geoms: ObjectArray, overlap: FloatArray) -> float:
    total = float(np.sum(shapely.area(geoms)))
    return float(np.max(overlap, axis=1).sum()) / total if total > 0 else 0.0


def _choose_datum(
    fits: Mapping[Datum, float], declared: Datum | None, world: World
) -> tuple[Datum, list[str]]:
    """The datum to import with, and any warning about the choice."""
    ranked = sorted(_DATUM_ORDER, key=lambda d: (-fits[d], _DATUM_ORDER.index(d)))
    best = ranked[0]
    described = ", ".join(f"{d.value} {fits[d]:.1%}" for d in _DATUM_ORDER)
    if fits[best] < MIN_FIT:
        raise GridImportError(
            [
                f"the layer does not lie within the stored world's districts "
                f"({world.city_name or world.city_adcode}) in any datum (share of grid area "
                f"inside a district: {described}): is it a layer for another area?"
            ]
        )
    if declared is not None:
        misfit, best_misfit = 1.0 - fits[declared], 1.0 - fits[best]
        if misfit > best_misfit + DATUM_MISFIT_MARGIN and misfit > 2 * best_misfit:
            raise GridImportError(
                [
                    f"the layer does not fit the stored district boundaries as {declared.value}: "
                    f"only {fits[declared]:.1%} of its area falls inside its districts, "
                    f"{fits[best]:.1%} as {best.value} ({described}). Maps drawn on Amap or "
                    "Tencent are in GCJ-02 and on Baidu in BD-09, shifted about 500 m from "
                    f"WGS84/CGCS2000; re-run with --datum {best.value} (or --datum auto)"
                ]
            )
        return declared, []
    tied = [d for d in _DATUM_ORDER if fits[best] - fits[d] <= DATUM_AMBIGUITY]
    if len(tied) > 1:
        return tied[0], [
            f"datum could not be told apart by fit ({described}): assumed {tied[0].value}; "
            "pass --datum if that is wrong"
        ]
    return best, []


def _shares(row: FloatArray, area: float, world: World) -> str:
    order = np.argsort(-row)
    return ", ".join(
        f"{row[j] / area:.0%} in {world.districts[j].name} ({world.districts[j].adcode})"
        for j in order
        if row[j] > 0
    )


def _m2(geoms: ObjectArray | Sequence[BaseGeometry]) -> FloatArray:
    """Approximate areas in m² (degree areas scaled at each geometry's latitude)."""
    arr = np.asarray(geoms, dtype=object)
    lat = shapely.get_y(shapely.centroid(arr))
    scale = _M_PER_DEG_LAT * _M_PER_DEG_LON_EQUATOR * np.cos(np.radians(np.nan_to_num(lat)))
    return np.asarray(shapely.area(arr) * scale, dtype=np.float64)


def _overlap_problems(
    features: Sequence[GridFeature], geoms: ObjectArray, valid: npt.NDArray[np.bool_]
) -> list[str]:
    """Pairs of grids overlapping by more than the tolerance, each pair named once."""
    index = np.flatnonzero(valid)
    if len(index) < 2:
        return []
    subset = geoms[index]
    left, right = shapely.STRtree(subset).query(subset, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    # Most pairs only share an edge: a DE-9IM test is cheaper than overlaying every pair.
    interiors_meet = shapely.relate_pattern(subset[left], subset[right], "T********")
    left, right = left[interiors_meet], right[interiors_meet]
    if len(left) == 0:
        return []
    shared = _m2(shapely.intersection(subset[left], subset[right]))
    problems = []
    for a, b, m2 in zip(left, right, shared, strict=True):
        if m2 > OVERLAP_TOLERANCE_M2:
            fa, fb = features[int(index[a])], features[int(index[b])]
            problems.append(f"{fa.label} overlaps {fb.label} by {m2:,.0f} m²")
    return problems


def _officer_problems(
    features: Sequence[GridFeature], grids: Sequence[Grid], world: World
) -> list[str]:
    """Named officers must exist, be grid officers of the grid's district, and hold one grid."""
    officers = {o.id: o for o in world.officers}
    names = {d.adcode: d.name for d in world.districts}
    holder: dict[str, GridFeature] = {}
    problems = []
    for feature, grid in zip(features, grids, strict=True):
        if feature.officer_id is None:
            continue
        officer = officers.get(feature.officer_id)
        if officer is None:
            problems.append(
                f"{feature.label}: officer {feature.officer_id!r} is not in the stored world"
            )
        elif officer.role is not OfficerRole.GRID_OFFICER:
            problems.append(
                f"{feature.label}: officer {officer.id!r} is a {officer.role.value}, "
                "not a grid officer"
            )
        elif officer.district_adcode != grid.district_adcode:
            problems.append(
                f"{feature.label}: officer {officer.id!r} works in "
                f"{names.get(officer.district_adcode, officer.district_adcode)} "
                f"({officer.district_adcode}) but the grid lies in "
                f"{names[grid.district_adcode]} ({grid.district_adcode})"
            )
        elif officer.id in holder:
            problems.append(
                f"{feature.label}: officer {officer.id!r} already holds the grid of "
                f"{holder[officer.id].label}"
            )
        else:
            holder[officer.id] = feature
    return problems


def _covers(
    grids: Sequence[Grid], world: World, valid: npt.NDArray[np.bool_]
) -> tuple[DistrictCover, ...]:
    """Per district: its grids and the area no grid covers."""
    geoms = np.asarray([g.geometry for g in grids], dtype=object)[valid]
    tree = shapely.STRtree(geoms)
    covers = []
    for district in world.districts:
        hits = tree.query(district.boundary, predicate="intersects")
        covered = shapely.union_all(geoms[hits], grid_size=PRECISION_DEG)
        left = shapely.difference(district.boundary, covered, grid_size=PRECISION_DEG)
        uncovered = float(_m2([left])[0]) if not left.is_empty else 0.0
        total = float(_m2([district.boundary])[0])
        covers.append(
            DistrictCover(
                adcode=district.adcode,
                name=district.name,
                grids=sum(1 for g in grids if g.district_adcode == district.adcode),
                uncovered_m2=uncovered,
                uncovered_share=uncovered / total if total > 0 else 0.0,
            )
        )
    return tuple(covers)


def _enterprise_grids(grids: Sequence[Grid], world: World) -> dict[str, str | None]:
    """The new grid of every enterprise (the first grid containing it), None outside all."""
    if not world.enterprises:
        return {}
    geoms = np.asarray([g.geometry for g in grids], dtype=object)
    points = shapely.points(
        np.asarray([e.lon for e in world.enterprises]),
        np.asarray([e.lat for e in world.enterprises]),
    )
    point_idx, grid_idx = shapely.STRtree(geoms).query(points, predicate="intersects")
    found: dict[int, int] = {}
    for p, g in sorted(zip(point_idx.tolist(), grid_idx.tolist(), strict=True)):
        found.setdefault(p, g)
    return {
        e.id: (grids[found[i]].id if i in found else None) for i, e in enumerate(world.enterprises)
    }


def datum_names() -> Iterable[str]:
    """Names accepted for --datum: the datums plus cgcs2000 (treated as WGS84)."""
    return ("auto", *(d.value for d in _DATUM_ORDER), "cgcs2000")


def parse_datum(name: str) -> Datum | None:
    """``auto`` -> None; ``cgcs2000`` -> WGS84 (sub-metre apart); else the datum."""
    key = name.strip().lower()
    if key == "auto":
        return None
    if key == "cgcs2000":
        return Datum.WGS84
    try:
        return Datum(key)
    except ValueError:
        raise ValueError(
            f"unknown datum {name!r}: choose one of {', '.join(datum_names())}"
        ) from None
