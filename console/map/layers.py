"""Turn the hub's snapshot, events and records into the page's operations (plain dicts).

Kept free of Qt so the shape of what crosses the bridge is testable on its own; label points
are computed here with shapely because the page has no geometry library. Every coordinate
sent to the page is WGS84/CGCS2000; the page shifts it into the basemap's datum itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from shapely.geometry import shape

from console.core.geo import Datum, bd09_to_gcj02, gcj02_to_wgs84
from console.core.model import DutyStatus

ENTERPRISE_STATES = ("normal", "alarm", "offline", "inspecting")
LAYERS = (
    "districts",
    "grids",
    "grid_labels",
    "enterprises",
    "complaints",
    "tasks",
    "officers",
    "squads",
    "cameras",
    "heat",
)
URGENCIES = ("normal", "urgent", "critical")
URGENCY_HEAT_WEIGHT = {"normal": 1.0, "urgent": 2.0, "critical": 3.0}


def _label_point(geometry: Mapping[str, Any]) -> list[float]:
    point = shape(geometry).representative_point()
    return [round(point.x, 6), round(point.y, 6)]


def _position(record: Mapping[str, Any], what: str) -> tuple[float, float]:
    try:
        lon, lat = float(record["lon"]), float(record["lat"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{what} {record.get('id')!r} has no valid lon/lat: {exc}") from exc
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise ValueError(f"{what} {record.get('id')!r} is off the globe: lon={lon}, lat={lat}")
    return lon, lat


def timestamp(value: Any) -> float | None:
    """Seconds since the epoch from a number or an ISO 8601 string (naive means UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError(f"not a timestamp: {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def officer_record(officer: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a snapshot officer the page uses; lon/lat only when known."""
    out: dict[str, Any] = {
        "id": str(officer["id"]),
        "name": officer.get("name", ""),
        "role": officer.get("role", ""),
        "duty": officer.get("duty", "on_duty"),
    }
    if officer.get("lon") is not None and officer.get("lat") is not None:
        out["lon"], out["lat"] = _position(officer, "officer")
        if officer.get("heading") is not None:
            out["heading"] = float(officer["heading"])
        out["ts"] = timestamp(officer.get("ts"))
    return out


def enterprise_record(e: Mapping[str, Any]) -> dict[str, Any]:
    lon, lat = _position(e, "enterprise")
    enterprise_state = e.get("state", "normal")
    if enterprise_state not in ENTERPRISE_STATES:
        raise ValueError(
            f"enterprise {e.get('id')!r} has unknown state {enterprise_state!r}; "
            f"expected one of {', '.join(ENTERPRISE_STATES)}"
        )
    return {
        "id": str(e["id"]),
        "name": e.get("name", ""),
        "industry": e.get("industry", ""),
        "lon": lon,
        "lat": lat,
        "state": enterprise_state,
    }


def world_op(snapshot: Mapping[str, Any], *, fit: bool = True) -> dict[str, Any]:
    """The ``world`` operation that (re)builds the static layers from a ``world.snapshot``."""
    squads = []
    for s in snapshot.get("squads", []):
        lon, lat = _position(s, "squad")
        squads.append(
            {
                "id": str(s["id"]),
                "name": s.get("name", ""),
                "lon": lon,
                "lat": lat,
                "available": bool(s.get("available", True)),
            }
        )
    return {
        "op": "world",
        "fit": fit,
        "districts": [
            {
                "adcode": str(d["adcode"]),
                "name": d.get("name", ""),
                "geometry": d["geometry"],
                "label": _label_point(d["geometry"]),
            }
            for d in snapshot.get("districts", [])
        ],
        "grids": [
            {
                "id": str(g["id"]),
                "name": g.get("name", ""),
                "officer_id": g.get("officer_id"),
                "geometry": g["geometry"],
                "label": _label_point(g["geometry"]),
            }
            for g in snapshot.get("grids", [])
        ],
        "squads": squads,
        "enterprises": [enterprise_record(e) for e in snapshot.get("enterprises", [])],
        "officers": [officer_record(o) for o in snapshot.get("officers", [])],
    }


DUTY_WIRE_CODES: dict[str | None, int] = {
    DutyStatus.ON_DUTY: 0,
    DutyStatus.OFF_DUTY: 1,
    DutyStatus.ON_LEAVE: 2,
    None: 255,
}
"""Duty state -> the number the page's officer layer uses (map.js ``DUTY_CODES``); 255 keeps it."""


def officer_moves(
    moves: Iterable[Mapping[str, Any]],
) -> tuple[list[str], dict[str, npt.NDArray[Any]]]:
    """Officer ids and columns for ``packing.PackedRows``, checked before anything is queued.

    ``lon``/``lat`` (float64, WGS84), ``heading`` (float32 degrees, NaN: no heading),
    ``duty`` (uint8, ``DUTY_WIRE_CODES``) and ``ts`` (float64 epoch seconds, NaN: keep the
    last). Column-wise with numpy because a 10,000-officer batch row by row took ~16 ms of
    the GUI thread; a bad row is then looked up one by one to name it and say what is wrong.
    """
    rows = moves if isinstance(moves, Sequence) else list(moves)
    try:
        ids = [str(m["id"]) for m in rows]
        lon = np.array([m["lon"] for m in rows], dtype=np.float64)
        lat = np.array([m["lat"] for m in rows], dtype=np.float64)
        raw_heading = [m.get("heading") for m in rows]
        heading = np.array(raw_heading, dtype=np.float64)
        duty = np.array([DUTY_WIRE_CODES.get(m.get("duty"), -1) for m in rows], dtype=np.int16)
    except (KeyError, TypeError, ValueError):
        raise _move_error(rows) from None
    on_globe = (lon >= -180.0) & (lon <= 180.0) & (lat >= -90.0) & (lat <= 90.0)  # NaN: False
    no_heading = ~np.isfinite(heading)
    if (
        not on_globe.all()
        or (duty < 0).any()
        or any(raw_heading[i] is not None for i in np.flatnonzero(no_heading))
    ):
        raise _move_error(rows)
    raw_ts = [m.get("ts") for m in rows]
    try:
        ts = np.array(raw_ts, dtype=np.float64)  # None -> NaN
    except (TypeError, ValueError):  # ISO 8601 strings: parse them one by one
        ts = np.array([_move_timestamp(m) for m in rows], dtype=np.float64)
    if np.isinf(ts).any():
        raise _move_error(rows)
    return ids, {
        "lon": lon,
        "lat": lat,
        "heading": heading.astype(np.float32),
        "duty": duty.astype(np.uint8),
        "ts": ts,
    }


def _move_timestamp(move: Mapping[str, Any]) -> float:
    try:
        ts = timestamp(move.get("ts"))
    except ValueError as exc:
        raise ValueError(f"officer move {move.get('id')!r} has a bad ts: {exc}") from None
    if ts is None:
        return math.nan
    if not math.isfinite(ts):
        raise ValueError(f"officer move {move.get('id')!r} has a ts that is not finite: {ts}")
    return ts


def _check_move(move: Any) -> None:
    """Raise ``ValueError`` saying what is wrong with one officer move (row by row)."""
    if not isinstance(move, Mapping) or "id" not in move:
        raise ValueError(f"officer move {move!r} has no id")
    _position(move, "officer move")
    heading = move.get("heading")
    if heading is not None:
        try:
            degrees = float(heading)
        except (TypeError, ValueError):
            degrees = math.nan
        if not math.isfinite(degrees):
            raise ValueError(
                f"officer move {move['id']!r} has a bad heading {heading!r}; "
                "expected degrees or none"
            )
    duty = move.get("duty")
    try:
        known = duty in DUTY_WIRE_CODES
    except TypeError:  # unhashable
        known = False
    if not known:
        raise ValueError(
            f"officer move {move['id']!r} has unknown duty {duty!r}; "
            f"expected one of {', '.join(DutyStatus)}"
        )
    _move_timestamp(move)


def _move_error(rows: Sequence[Any]) -> ValueError:
    """The first bad move's problem in words, once the column-wise check has failed."""
    for move in rows:
        try:
            _check_move(move)
        except ValueError as exc:
            return exc
    return ValueError("officer moves hold values that are not numbers")


def _urgency(record: Mapping[str, Any], what: str) -> str:
    urgency = str(record.get("urgency", "normal"))
    if urgency not in URGENCIES:
        raise ValueError(
            f"{what} {record.get('id')!r} has unknown urgency {urgency!r}; "
            f"expected one of {', '.join(URGENCIES)}"
        )
    return urgency


def complaint_record(c: Mapping[str, Any]) -> dict[str, Any]:
    """complaint {id, lon, lat, category, urgency, status, received_at} for the page."""
    lon, lat = _position(c, "complaint")
    return {
        "id": str(c["id"]),
        "lon": lon,
        "lat": lat,
        "category": str(c.get("category", "")),
        "urgency": _urgency(c, "complaint"),
        "status": str(c.get("status", "new")),
        "received_at": timestamp(c.get("received_at")),
    }


def task_record(t: Mapping[str, Any]) -> dict[str, Any]:
    """A task for the page: position, state, urgency, grid, assignee, squads, overdue."""
    lon, lat = _position(t, "task")
    assignee = t.get("assignee_officer_id")
    return {
        "id": str(t["id"]),
        "kind": str(t.get("kind", "")),
        "state": str(t.get("state", "assigned")),
        "urgency": _urgency(t, "task"),
        "lon": lon,
        "lat": lat,
        "grid_id": None if t.get("grid_id") is None else str(t["grid_id"]),
        "assignee_officer_id": None if assignee is None else str(assignee),
        "squad_ids": [str(s) for s in t.get("squad_ids") or []],
        "overdue": bool(t.get("overdue", False)),
    }


def camera_record(c: Mapping[str, Any]) -> dict[str, Any]:
    """camera {id, name, lon, lat, enterprise_id, online} for the page."""
    lon, lat = _position(c, "camera")
    return {
        "id": str(c["id"]),
        "name": str(c.get("name", "")),
        "lon": lon,
        "lat": lat,
        "enterprise_id": c.get("enterprise_id"),
        "online": bool(c.get("online", True)),
    }


def heat_points(
    complaints: Iterable[Mapping[str, Any]], since: float, until: float | None = None
) -> list[list[float]]:
    """(lon, lat, weight) of complaints received in [since, until]; urgent ones weigh more."""
    points = []
    for c in complaints:
        received = c.get("received_at")
        if received is None or received < since or (until is not None and received > until):
            continue
        points.append([c["lon"], c["lat"], URGENCY_HEAT_WEIGHT[c.get("urgency", "normal")]])
    return points


def layer_op(layer: str, visible: bool) -> dict[str, Any]:
    if layer not in LAYERS:
        raise ValueError(f"unknown map layer {layer!r}; choose one of {', '.join(LAYERS)}")
    return {"op": "layer.visible", "layer": layer, "visible": visible}


def enterprise_state_items(states: Mapping[str, str]) -> list[tuple[str, list[str]]]:
    rows = []
    for enterprise_id, value in states.items():
        if value not in ENTERPRISE_STATES:
            raise ValueError(f"enterprise {enterprise_id!r}: unknown state {value!r}")
        rows.append((str(enterprise_id), [str(enterprise_id), value]))
    return rows


# ---- search ---------------------------------------------------------------------------------

_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_COORDINATES = re.compile(
    rf"^\s*({_NUMBER})\s*[,，\s]\s*({_NUMBER})\s*(wgs84|cgcs2000|gcj02|bd09)?\s*$", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """What a search found; lon/lat (WGS84) are None for an officer without a position."""

    kind: str  # coordinates, enterprise, grid, officer, district
    id: str
    name: str
    lon: float | None
    lat: float | None


def parse_coordinates(text: str) -> tuple[float, float] | None:
    """``"121.42, 28.65 gcj02"`` -> WGS84 (lon, lat); lat-first input is recognised too."""
    match = _COORDINATES.match(text)
    if match is None:
        return None
    a, b = float(match.group(1)), float(match.group(2))
    lon, lat = (b, a) if abs(a) <= 90 < abs(b) else (a, b)
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValueError(f"coordinates out of range: lon={lon}, lat={lat}")
    datum = Datum((match.group(3) or "wgs84").lower().replace("cgcs2000", "wgs84"))
    if datum is Datum.BD09:
        lon, lat = bd09_to_gcj02(lon, lat)
        datum = Datum.GCJ02
    if datum is Datum.GCJ02:
        lon, lat = gcj02_to_wgs84(lon, lat)
    return lon, lat


def search(snapshot: Mapping[str, Any], text: str) -> SearchHit | None:
    """Coordinates (any datum), else the first enterprise, grid, officer or district by name/id."""
    text = text.strip()
    if not text:
        return None
    point = parse_coordinates(text)
    if point is not None:
        return SearchHit("coordinates", "", text, point[0], point[1])
    needle = text.lower()

    def matches(record: Mapping[str, Any], *keys: str) -> bool:
        return any(needle in str(record.get(key, "")).lower() for key in keys)

    for e in snapshot.get("enterprises", []):
        if matches(e, "name", "id", "credit_code"):
            return SearchHit("enterprise", str(e["id"]), e.get("name", ""), e["lon"], e["lat"])
    for g in snapshot.get("grids", []):
        if matches(g, "name", "id"):
            x, y = _label_point(g["geometry"])
            return SearchHit("grid", str(g["id"]), g.get("name", ""), x, y)
    for o in snapshot.get("officers", []):
        if matches(o, "name", "id", "badge_no"):
            return SearchHit("officer", str(o["id"]), o.get("name", ""), o.get("lon"), o.get("lat"))
    for d in snapshot.get("districts", []):
        if matches(d, "name", "adcode"):
            x, y = _label_point(d["geometry"])
            return SearchHit("district", str(d["adcode"]), d.get("name", ""), x, y)
    return None
