"""Turn the hub's world snapshot and officer moves into the page's operations (plain dicts).

Kept free of Qt so the shape of what crosses the bridge is testable on its own; label points
are computed here with shapely because the page has no geometry library.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shapely.geometry import shape

ENTERPRISE_STATES = ("normal", "warning", "exceeding", "offline", "inspecting")
LAYERS = ("districts", "grids", "grid_labels", "enterprises", "squads", "officers", "heat")


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
    return out


def world_op(snapshot: Mapping[str, Any], *, fit: bool = True) -> dict[str, Any]:
    """The ``world`` operation that (re)builds every layer from a ``world.snapshot`` dict."""
    enterprises = []
    for e in snapshot.get("enterprises", []):
        lon, lat = _position(e, "enterprise")
        enterprise_state = e.get("state", "normal")
        if enterprise_state not in ENTERPRISE_STATES:
            raise ValueError(f"enterprise {e.get('id')!r} has unknown state {enterprise_state!r}")
        enterprises.append(
            {
                "id": str(e["id"]),
                "name": e.get("name", ""),
                "lon": lon,
                "lat": lat,
                "state": enterprise_state,
            }
        )
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
                "geometry": g["geometry"],
                "label": _label_point(g["geometry"]),
            }
            for g in snapshot.get("grids", [])
        ],
        "squads": squads,
        "enterprises": enterprises,
        "officers": [officer_record(o) for o in snapshot.get("officers", [])],
    }


def move_items(moves: Iterable[Mapping[str, Any]]) -> list[tuple[str, list[Any]]]:
    """``(id, [id, lon, lat, heading|None])`` per move; compact rows keep 10k moves small."""
    rows = []
    for move in moves:
        lon, lat = _position(move, "officer move")
        heading = move.get("heading")
        officer_id = str(move["id"])
        rows.append(
            (officer_id, [officer_id, lon, lat, None if heading is None else float(heading)])
        )
    return rows


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
