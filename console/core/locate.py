"""Which district, grid, grid officer and nearest squads a point belongs to.

The dispatcher's first question for every complaint, alarm and position report. A
``Locator`` is built once per world and answers one point in well under a millisecond or a
batch of a million points in about a second on a small machine:

- a coarse raster over the grids' extent records, per cell, the one grid that properly
  contains it (most cells), "outside" (no grid touches it) or "mixed" (a grid edge crosses
  it, classified with the grids' STRtree); only points in mixed cells are tested exactly,
  against the prepared polygons of the few grids that touch their cell;
- per block of 4 x 4 raster cells, a table lists the few squads that can be nearest to any
  point of the block (in projected metres), so the nearest squad costs a handful of
  distances per point.

Containment is tested in lon/lat, where the grids are defined. A point on an edge shared by
two grids goes to the grid listed first in the world (lowest index), in both the single and
the batch path. Distances are Euclidean in the CGCS2000 Gauss-Krüger zone of the world; ties
go to the squad listed first.
"""

from __future__ import annotations

import itertools
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely import STRtree

from console.core.geo import Datum, FloatArray, Projector, convert, validate_lonlat
from console.core.model import District, DutyStatus, Grid, Officer, OfficerRole, Squad, World

IntArray = npt.NDArray[np.int64]

OUTSIDE = -1
_MIXED = -2
# Raster size: about this many cells per grid, within these bounds (memory ~ 20 bytes/cell).
_CELLS_PER_GRID = 256
_MIN_CELLS = 4096
_MAX_CELLS = 1 << 20
# The squad candidate test pads projected block boxes for the curvature of projected block
# edges: this many metres plus this share of the block's size (the sagitta of an edge of
# length L on a curve of radius R is L^2 / 8R, a small fraction of L for any block size).
_CELL_MARGIN_M = 1.0
_CELL_MARGIN_SHARE = 0.01
# Extent and cell padding in degrees (about 0.1 mm): guards the raster against float rounding.
_EDGE_PAD_DEG = 1e-9
# Raster cells classified per GEOS call (see Locator._classify).
_CLASSIFY_BLOCK = 65_536
# Batches at least this large are split over threads.
_PARALLEL_MIN_POINTS = 100_000
# Side, in raster cells, of the blocks that share one list of candidate squads.
_SQUAD_BLOCK = 4
# Rows per chunk when building the squad candidate table (bounds memory to cells x squads).
_BUILD_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class SquadDistance:
    squad: Squad
    distance_m: float  # projected metres, rounded to 0.1 m


@dataclass(frozen=True, slots=True)
class OfficerDistance:
    """A grid officer and the distance from a point to the officer's grid (0 inside it)."""

    officer: Officer
    grid: Grid
    distance_m: float


@dataclass(frozen=True, slots=True)
class LocateResult:
    """One located point; ``lon``/``lat`` are WGS84 whatever datum the caller used."""

    lon: float
    lat: float
    district: District
    grid: Grid
    grid_officer: Officer | None
    squads: tuple[SquadDistance, ...]

    def to_json(self) -> dict[str, Any]:
        officer = self.grid_officer
        return {
            "district": {"name": self.district.name, "adcode": self.district.adcode},
            "grid": {"id": self.grid.id, "name": self.grid.name},
            "grid_officer": None
            if officer is None
            else {
                "id": officer.id,
                "name": officer.name,
                "phone": officer.phone,
                "duty": officer.duty.value,
            },
            "squads": [
                {
                    "id": s.squad.id,
                    "name": s.squad.name,
                    "distance_m": s.distance_m,
                    "available": s.squad.available,
                }
                for s in self.squads
            ],
            "point": {"lon": self.lon, "lat": self.lat},
        }


@dataclass(frozen=True, slots=True, eq=False)
class BatchLocation:
    """Indices into the locator's ``districts``/``grids``/``officers``/``squads``; -1 = none.

    ``officer`` is -1 also inside the jurisdiction when the grid has no officer;
    ``squad_distance_m`` is NaN outside.
    """

    district: IntArray
    grid: IntArray
    officer: IntArray
    squad: IntArray
    squad_distance_m: FloatArray

    @property
    def inside(self) -> npt.NDArray[np.bool_]:
        inside: npt.NDArray[np.bool_] = self.grid != OUTSIDE
        return inside

    def __len__(self) -> int:
        return len(self.grid)


class Locator:
    """Answers "which district / grid / grid officer / nearest squads" for a world."""

    def __init__(self, world: World, *, raster_cells: int | None = None) -> None:
        if not world.grids:
            raise ValueError("cannot locate in a world without grids")
        self.districts: tuple[District, ...] = world.districts
        self.grids: tuple[Grid, ...] = world.grids
        self.officers: tuple[Officer, ...] = world.officers
        self.squads: tuple[Squad, ...] = world.squads

        district_index = {d.adcode: i for i, d in enumerate(self.districts)}
        officer_index = {o.id: i for i, o in enumerate(self.officers)}
        self._district_index = district_index
        # One extra trailing OUTSIDE entry: indexing with grid index -1 (outside) yields it.
        self._grid_district = np.full(len(self.grids) + 1, OUTSIDE, dtype=np.int64)
        self._grid_officer = np.full(len(self.grids) + 1, OUTSIDE, dtype=np.int64)
        for i, grid in enumerate(self.grids):
            if grid.district_adcode not in district_index:
                raise ValueError(
                    f"grid {grid.id} refers to unknown district {grid.district_adcode}"
                )
            self._grid_district[i] = district_index[grid.district_adcode]
            if grid.officer_id is not None:
                if grid.officer_id not in officer_index:
                    raise ValueError(f"grid {grid.id} refers to unknown officer {grid.officer_id}")
                self._grid_officer[i] = officer_index[grid.officer_id]

        geometries = np.array([g.geometry for g in self.grids], dtype=object)
        shapely.prepare(geometries)
        self._geometries = geometries
        self._tree = STRtree(geometries)
        x0, y0, x1, y1 = (float(v) for v in shapely.total_bounds(geometries))
        self.projector = Projector.for_region(shapely.GeometryCollection(list(geometries)))
        self._projected_grids: npt.NDArray[np.object_] | None = None

        self._squad_x = np.empty(0)
        self._squad_y = np.empty(0)
        if self.squads:
            sx, sy = self.projector.to_xy(
                np.array([s.lon for s in self.squads]), np.array([s.lat for s in self.squads])
            )
            self._squad_x, self._squad_y = sx, sy

        self._build_raster(x0, y0, x1, y1, raster_cells or self._default_cells())

    def _default_cells(self) -> int:
        return min(_MAX_CELLS, max(_MIN_CELLS, _CELLS_PER_GRID * len(self.grids)))

    def _build_raster(self, x0: float, y0: float, x1: float, y1: float, cells: int) -> None:
        """Classify raster cells against the grids and list candidate squads per cell."""
        # Pad the extent so points on the grids' outermost edges fall inside the raster.
        x0, y0, x1, y1 = (
            x0 - _EDGE_PAD_DEG,
            y0 - _EDGE_PAD_DEG,
            x1 + _EDGE_PAD_DEG,
            y1 + _EDGE_PAD_DEG,
        )
        width, height = x1 - x0, y1 - y0
        # Square-ish cells on the ground: a degree of longitude is cos(lat) of one of latitude.
        aspect = width * math.cos(math.radians((y0 + y1) / 2.0)) / height
        nx = max(1, round(math.sqrt(cells * aspect)))
        ny = max(1, round(cells / nx))
        self._x0, self._y0 = x0, y0
        self._nx, self._ny = nx, ny
        self._dx, self._dy = width / nx, height / ny

        col, row = np.meshgrid(np.arange(nx), np.arange(ny))
        cx0: FloatArray = x0 + col.ravel().astype(np.float64) * self._dx
        cy0: FloatArray = y0 + row.ravel().astype(np.float64) * self._dy
        cx1 = cx0 + self._dx
        cy1 = cy0 + self._dy
        cell_grid, cell_idx, grid_idx = self._classify(cx0, cy0, cx1, cy1)
        self._cell_grid = cell_grid
        # Candidate grids of mixed cells, as a CSR table in ascending grid order per cell.
        order = np.lexsort((grid_idx, cell_idx))
        pair_cell, pair_grid = cell_idx[order], grid_idx[order]
        keep = cell_grid[pair_cell] == _MIXED
        self._mixed_grids = pair_grid[keep].astype(np.int64)
        self._mixed_count = np.bincount(pair_cell[keep], minlength=nx * ny).astype(np.int64)
        self._mixed_start = np.cumsum(self._mixed_count) - self._mixed_count
        # Squad candidates per block of cells: supersets of the per-cell lists, far cheaper.
        self._bnx = -(-nx // _SQUAD_BLOCK)
        self._cell_block = (row.ravel() // _SQUAD_BLOCK) * self._bnx + col.ravel() // _SQUAD_BLOCK
        bcol, brow = np.meshgrid(np.arange(self._bnx), np.arange(-(-ny // _SQUAD_BLOCK)))
        bx0: FloatArray = x0 + bcol.ravel().astype(np.float64) * (self._dx * _SQUAD_BLOCK)
        by0: FloatArray = y0 + brow.ravel().astype(np.float64) * (self._dy * _SQUAD_BLOCK)
        self._squad_candidates = self._squad_candidate_table(
            bx0, by0, bx0 + self._dx * _SQUAD_BLOCK, by0 + self._dy * _SQUAD_BLOCK
        )

    def _classify(
        self, cx0: FloatArray, cy0: FloatArray, cx1: FloatArray, cy1: FloatArray
    ) -> tuple[IntArray, IntArray, IntArray]:
        """Each cell's grid (OUTSIDE, or _MIXED when it touches several or a grid's edge), and
        every (cell, grid) pair that intersects.

        Cells go through GEOS in blocks: a million boxes at once peaked at about 400 MB that
        glibc then kept for the life of the hub.
        """
        cells = len(cx0)
        cell_grid = np.full(cells, _MIXED, dtype=np.int64)
        cell_parts: list[IntArray] = []
        grid_parts: list[IntArray] = []
        for lo in range(0, cells, _CLASSIFY_BLOCK):
            hi = min(cells, lo + _CLASSIFY_BLOCK)
            # Slightly enlarged cells, so rounding in _cells() can never move a point across a
            # grid edge that a cell merely comes close to.
            boxes = shapely.box(
                cx0[lo:hi] - _EDGE_PAD_DEG,
                cy0[lo:hi] - _EDGE_PAD_DEG,
                cx1[lo:hi] + _EDGE_PAD_DEG,
                cy1[lo:hi] + _EDGE_PAD_DEG,
            )
            cell_idx, grid_idx = self._tree.query(boxes, predicate="intersects")
            counts = np.bincount(cell_idx, minlength=hi - lo)
            block = cell_grid[lo:hi]  # a view: assignments land in cell_grid
            block[counts == 0] = OUTSIDE
            single = counts[cell_idx] == 1
            single_cells, single_grids = cell_idx[single], grid_idx[single]
            proper = shapely.contains_properly(self._geometries[single_grids], boxes[single_cells])
            block[single_cells[proper]] = single_grids[proper]
            cell_parts.append(cell_idx.astype(np.int64) + lo)
            grid_parts.append(grid_idx.astype(np.int64))
        empty = np.empty(0, dtype=np.int64)
        return (
            cell_grid,
            np.concatenate(cell_parts) if cell_parts else empty,
            np.concatenate(grid_parts) if grid_parts else empty,
        )

    def _squad_candidate_table(
        self, cx0: FloatArray, cy0: FloatArray, cx1: FloatArray, cy1: FloatArray
    ) -> IntArray:
        """Per block, the squads that may be nearest to some point of it, padded to equal width.

        A squad qualifies if its distance to the block's projected box is no more than the
        smallest farthest-corner distance of any squad, which the true nearest squad of every
        point in the block satisfies.
        """
        n_cells = len(cx0)
        n_squads = len(self.squads)
        if n_squads == 0:
            return np.zeros((n_cells, 0), dtype=np.int64)
        corners_x, corners_y = self.projector.to_xy(
            np.concatenate([cx0, cx1, cx0, cx1]), np.concatenate([cy0, cy0, cy1, cy1])
        )
        px = corners_x.reshape(4, n_cells)
        py = corners_y.reshape(4, n_cells)
        bx0, bx1 = px.min(axis=0), px.max(axis=0)
        by0, by1 = py.min(axis=0), py.max(axis=0)
        margin = _CELL_MARGIN_M + _CELL_MARGIN_SHARE * np.maximum(bx1 - bx0, by1 - by0)
        bx0, bx1, by0, by1 = bx0 - margin, bx1 + margin, by0 - margin, by1 + margin
        parts: list[IntArray] = []
        sx, sy = self._squad_x[None, :], self._squad_y[None, :]
        for start in range(0, n_cells, _BUILD_CHUNK):
            part = slice(start, start + _BUILD_CHUNK)
            lo_x, hi_x = bx0[part, None], bx1[part, None]
            lo_y, hi_y = by0[part, None], by1[part, None]
            near_x = np.maximum(np.maximum(lo_x - sx, sx - hi_x), 0.0)
            near_y = np.maximum(np.maximum(lo_y - sy, sy - hi_y), 0.0)
            far_x = np.maximum(np.abs(sx - lo_x), np.abs(sx - hi_x))
            far_y = np.maximum(np.abs(sy - lo_y), np.abs(sy - hi_y))
            qualifies = near_x * near_x + near_y * near_y <= (far_x * far_x + far_y * far_y).min(
                axis=1, keepdims=True
            )
            count = qualifies.sum(axis=1)
            # Qualifying squads first, each row in ascending squad order (stable sort).
            order = np.argsort(~qualifies, axis=1, kind="stable")[:, : int(count.max())]
            # Pad with the lowest candidate: a repeated index never changes the argmin.
            columns = np.arange(order.shape[1])[None, :]
            parts.append(np.where(columns < count[:, None], order, order[:, :1]))
        width = max(p.shape[1] for p in parts)
        return np.concatenate(
            [np.pad(p, ((0, 0), (0, width - p.shape[1])), mode="edge") for p in parts]
        ).astype(np.int64)

    # -- lookups -------------------------------------------------------------------------

    def _cells(self, lon: FloatArray, lat: FloatArray) -> IntArray:
        col = np.floor((lon - self._x0) / self._dx)
        row = np.floor((lat - self._y0) / self._dy)
        in_raster = (col >= 0) & (col < self._nx) & (row >= 0) & (row < self._ny)
        cells = np.where(in_raster, row * self._nx + col, -1).astype(np.int64)
        return cells

    def _assign_grids(self, lon: FloatArray, lat: FloatArray, cells: IntArray) -> IntArray:
        grid = np.where(cells >= 0, self._cell_grid[cells], OUTSIDE)
        mixed = np.flatnonzero(grid == _MIXED)
        if not len(mixed):
            return grid
        grid[mixed] = OUTSIDE
        # Expand every mixed point into (point, candidate grid) pairs from its cell's list.
        mixed_cells = cells[mixed]
        count = self._mixed_count[mixed_cells]
        pair_point = np.repeat(np.arange(len(mixed)), count)
        first_pair = np.cumsum(count) - count
        within = np.arange(len(pair_point)) - np.repeat(first_pair, count)
        pair_grid = self._mixed_grids[np.repeat(self._mixed_start[mixed_cells], count) + within]
        hit = shapely.intersects_xy(
            self._geometries[pair_grid], lon[mixed][pair_point], lat[mixed][pair_point]
        )
        hit_point, hit_grid = pair_point[hit], pair_grid[hit]
        # Candidates are in ascending grid order per point, so the first hit is the lowest
        # index: the tie-break for points on an edge shared by two grids.
        first = np.ones(len(hit_point), dtype=bool)
        first[1:] = hit_point[1:] != hit_point[:-1]
        grid[mixed[hit_point[first]]] = hit_grid[first]
        return grid

    def locate_batch(
        self,
        lons: npt.ArrayLike,
        lats: npt.ArrayLike,
        datum: Datum = Datum.WGS84,
        *,
        workers: int | None = None,
    ) -> BatchLocation:
        """Locate many points at once; see ``BatchLocation`` for the result arrays.

        Large batches are split over ``workers`` threads (default: one per CPU); numpy,
        shapely and PROJ release the GIL, so the threads run in parallel.
        """
        lon = np.atleast_1d(np.asarray(lons, dtype=np.float64))
        lat = np.atleast_1d(np.asarray(lats, dtype=np.float64))
        if lon.ndim != 1:
            raise ValueError(f"expected 1-d coordinate arrays, got shape {lon.shape}")
        validate_lonlat(lon, lat)
        datum = Datum(datum)
        if workers is None:
            workers = (os.cpu_count() or 1) if len(lon) >= _PARALLEL_MIN_POINTS else 1
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if workers == 1:
            return self._locate_chunk(lon, lat, datum)
        bounds = np.linspace(0, len(lon), workers + 1).astype(int)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(
                pool.map(
                    lambda part: self._locate_chunk(lon[part], lat[part], datum),
                    [slice(a, b) for a, b in itertools.pairwise(bounds)],
                )
            )
        return BatchLocation(
            *(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(BatchLocation))
        )

    def _locate_chunk(self, lon: FloatArray, lat: FloatArray, datum: Datum) -> BatchLocation:
        if datum != Datum.WGS84:
            lon, lat = convert(lon, lat, datum, Datum.WGS84)
        cells = self._cells(lon, lat)
        grid = self._assign_grids(lon, lat, cells)
        # The lookup tables end with an OUTSIDE entry, which grid index -1 picks.
        district = self._grid_district[grid]
        officer = self._grid_officer[grid]
        squad = np.full(len(lon), OUTSIDE, dtype=np.int64)
        distance = np.full(len(lon), np.nan)
        inside_idx = np.flatnonzero(grid != OUTSIDE)
        # Most batches lie wholly inside: a slice avoids copying every array.
        inside: IntArray | slice = slice(None) if len(inside_idx) == len(lon) else inside_idx
        if len(inside_idx) and self.squads:
            x, y = self.projector.to_xy(lon[inside], lat[inside])
            candidates = self._squad_candidates[self._cell_block[cells[inside]]]
            dx = self._squad_x[candidates] - x[:, None]
            dy = self._squad_y[candidates] - y[:, None]
            squared = dx * dx + dy * dy
            # Equal distances: candidates are sorted, so argmin keeps the lowest squad index.
            pick = squared.argmin(axis=1)
            rows = np.arange(len(inside_idx))
            squad[inside] = candidates[rows, pick]
            distance[inside] = np.sqrt(squared[rows, pick])
        return BatchLocation(district, grid, officer, squad, distance)

    def locate(
        self, lon: float, lat: float, datum: Datum = Datum.WGS84, squads: int = 3
    ) -> LocateResult | None:
        """Locate one point; None when it lies outside every grid of the jurisdiction."""
        if squads < 0:
            raise ValueError(f"squads must be >= 0, got {squads}")
        validate_lonlat(lon, lat)
        wlon, wlat = convert(float(lon), float(lat), Datum(datum), Datum.WGS84)
        lon_arr, lat_arr = np.array([wlon]), np.array([wlat])
        grid_index = int(self._assign_grids(lon_arr, lat_arr, self._cells(lon_arr, lat_arr))[0])
        if grid_index == OUTSIDE:
            return None
        officer_index = int(self._grid_officer[grid_index])
        nearest: tuple[SquadDistance, ...] = ()
        if squads and self.squads:
            x, y = self.projector.to_xy(lon_arr, lat_arr)
            dx = self._squad_x - x[0]
            dy = self._squad_y - y[0]
            squared = dx * dx + dy * dy
            order = np.argsort(squared, kind="stable")[:squads]
            nearest = tuple(
                SquadDistance(self.squads[i], round(float(np.sqrt(squared[i])), 1)) for i in order
            )
        return LocateResult(
            lon=wlon,
            lat=wlat,
            district=self.districts[int(self._grid_district[grid_index])],
            grid=self.grids[grid_index],
            grid_officer=None if officer_index == OUTSIDE else self.officers[officer_index],
            squads=nearest,
        )

    def nearest_on_duty_grid_officer(
        self, lon: float, lat: float, district_adcode: str, datum: Datum = Datum.WGS84
    ) -> OfficerDistance | None:
        """The on-duty grid officer of the district whose grid is nearest to the point.

        Used to find a substitute when a grid's own officer is off duty or on leave. Ties go
        to the grid listed first. None when the district has no on-duty grid officer.
        """
        if district_adcode not in self._district_index:
            raise ValueError(f"unknown district adcode {district_adcode!r}")
        validate_lonlat(lon, lat)
        wlon, wlat = convert(float(lon), float(lat), Datum(datum), Datum.WGS84)
        on_duty = {
            o.id
            for o in self.officers
            if o.role == OfficerRole.GRID_OFFICER
            and o.duty == DutyStatus.ON_DUTY
            and o.district_adcode == district_adcode
        }
        candidates = [
            i
            for i, g in enumerate(self.grids)
            if g.officer_id in on_duty and g.district_adcode == district_adcode
        ]
        if not candidates:
            return None
        if self._projected_grids is None:
            self._projected_grids = np.array(
                [self.projector.project(g.geometry) for g in self.grids], dtype=object
            )
        x, y = self.projector.to_xy(wlon, wlat)
        distances = shapely.distance(self._projected_grids[candidates], shapely.Point(x, y))
        best = int(np.argmin(distances))
        grid = self.grids[candidates[best]]
        officer = self.officers[int(self._grid_officer[candidates[best]])]
        return OfficerDistance(officer, grid, round(float(distances[best]), 1))
