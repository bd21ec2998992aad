"""Video-wall layouts and tour pages, without Qt so they can be checked and stored anywhere.

A layout is a grid of ``rows`` x ``cols`` cells covered by tiles; a tile may span cells (one
big tile plus small ones is the usual alarm layout). Text forms: ``"1"``, ``"4"``, ``"9"``,
``"16"`` (square grids), ``"2x3"`` (rows x cols), or JSON
``{"rows": 3, "cols": 3, "tiles": [[0, 0, 2, 2], [0, 2], ...]}`` with ``[row, col, rowspan,
colspan]`` (spans default to 1).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_CELLS = 64
PRESETS = ("1", "4", "9", "16")
"""Layouts on the keys 1-4 of the wall."""

_GRID_RE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


class LayoutError(ValueError):
    """A layout text or spec that cannot describe a wall."""


@dataclass(frozen=True, slots=True)
class TileSpec:
    row: int
    col: int
    row_span: int = 1
    col_span: int = 1


@dataclass(frozen=True, slots=True)
class WallLayout:
    rows: int
    cols: int
    tiles: tuple[TileSpec, ...]

    @property
    def capacity(self) -> int:
        return len(self.tiles)

    def to_spec(self) -> dict[str, Any]:
        """The JSON form, as saved in the hub or the data dir."""
        return {
            "rows": self.rows,
            "cols": self.cols,
            "tiles": [[t.row, t.col, t.row_span, t.col_span] for t in self.tiles],
        }


def grid_layout(rows: int, cols: int) -> WallLayout:
    if rows < 1 or cols < 1 or rows * cols > MAX_CELLS:
        raise LayoutError(f"a wall grid needs 1..{MAX_CELLS} cells, got {rows}x{cols}")
    return WallLayout(rows, cols, tuple(TileSpec(r, c) for r in range(rows) for c in range(cols)))


def parse_layout(text: str) -> WallLayout:
    """A layout from its text form (see the module docstring)."""
    text = text.strip()
    if text.startswith("{"):
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LayoutError(f"layout JSON is invalid: {exc}") from None
        return layout_from_spec(spec)
    match = _GRID_RE.match(text)
    if match:
        return grid_layout(int(match.group(1)), int(match.group(2)))
    if text.isdigit():
        count = int(text)
        side = math.isqrt(count)
        if side * side != count:
            raise LayoutError(f"{count} tiles is not a square grid: use ROWSxCOLS, e.g. 2x3")
        return grid_layout(side, side)
    raise LayoutError(
        f"unknown layout {text!r}: use 1, 4, 9, 16, ROWSxCOLS (e.g. 2x3) or a JSON spec"
    )


def layout_from_spec(spec: Any) -> WallLayout:
    """Validate a JSON spec: tiles inside the grid, no overlaps, at least one tile."""
    if not isinstance(spec, dict) or "rows" not in spec or "cols" not in spec:
        raise LayoutError('a layout spec is an object with "rows", "cols" and optional "tiles"')
    rows, cols = spec["rows"], spec["cols"]
    if not isinstance(rows, int) or not isinstance(cols, int):
        raise LayoutError('"rows" and "cols" must be integers')
    grid = grid_layout(rows, cols)
    raw_tiles = spec.get("tiles")
    if raw_tiles is None:
        return grid
    if not isinstance(raw_tiles, list) or not raw_tiles:
        raise LayoutError('"tiles" must be a non-empty list of [row, col, rowspan, colspan]')
    tiles = []
    taken: set[tuple[int, int]] = set()
    for item in raw_tiles:
        if (
            not isinstance(item, list)
            or not 2 <= len(item) <= 4
            or not all(isinstance(v, int) for v in item)
        ):
            raise LayoutError(f"tile {item!r} must be [row, col] or [row, col, rowspan, colspan]")
        tile = TileSpec(*item)
        if tile.row_span < 1 or tile.col_span < 1:
            raise LayoutError(f"tile {item!r} has a span below 1")
        if (
            tile.row < 0
            or tile.col < 0
            or tile.row + tile.row_span > rows
            or tile.col + tile.col_span > cols
        ):
            raise LayoutError(f"tile {item!r} does not fit a {rows}x{cols} grid")
        cells = {
            (r, c)
            for r in range(tile.row, tile.row + tile.row_span)
            for c in range(tile.col, tile.col + tile.col_span)
        }
        if cells & taken:
            raise LayoutError(f"tile {item!r} overlaps another tile")
        taken |= cells
        tiles.append(tile)
    return WallLayout(rows, cols, tuple(tiles))


def tour_pages(cameras: Sequence[dict[str, Any]], capacity: int) -> list[list[str]]:
    """Camera ids per page: each group (in first-seen order) fills its own pages."""
    if capacity < 1:
        raise LayoutError("a layout needs at least one tile")
    groups: dict[str, list[str]] = {}
    for camera in cameras:
        groups.setdefault(str(camera.get("group") or ""), []).append(str(camera["id"]))
    pages: list[list[str]] = []
    for ids in groups.values():
        pages += [ids[i : i + capacity] for i in range(0, len(ids), capacity)]
    return pages
