"""The world as a console sees it: plain JSON-ready dicts, filtered to one scope.

Geometries become GeoJSON with coordinates rounded to 6 decimals (~0.1 m), which is far
below map precision and keeps the ~10k-grid snapshot small. Outlet passwords (HJ 212 PW)
are secrets of the monitoring link and never leave the hub.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from console.core.model import Enterprise, Officer, Squad, World
from console.hub.scope import Scope

COORDINATE_DECIMALS = 6


def geojson_geometries(geometries: Sequence[BaseGeometry]) -> list[dict[str, Any]]:
    """GeoJSON geometry objects with coordinates rounded to ``COORDINATE_DECIMALS``."""
    if not geometries:
        return []
    rounded = shapely.transform(
        np.asarray(geometries, dtype=object),
        lambda coords: np.round(coords, COORDINATE_DECIMALS),
    )
    return [dict(mapping(geometry)) for geometry in rounded]


def officer_json(officer: Officer) -> dict[str, Any]:
    return {
        "id": officer.id,
        "name": officer.name,
        "role": officer.role.value,
        "org_id": officer.org_id,
        "district_adcode": officer.district_adcode,
        "grid_id": officer.grid_id,
        "squad_id": officer.squad_id,
        "phone": officer.phone,
        "badge_no": officer.badge_no,
        "duty": officer.duty.value,
    }


def squad_json(squad: Squad) -> dict[str, Any]:
    return {
        "id": squad.id,
        "name": squad.name,
        "org_id": squad.org_id,
        "district_adcode": squad.district_adcode,
        "lon": round(squad.lon, COORDINATE_DECIMALS),
        "lat": round(squad.lat, COORDINATE_DECIMALS),
        "available": squad.available,
    }


def enterprise_json(enterprise: Enterprise) -> dict[str, Any]:
    return {
        "id": enterprise.id,
        "name": enterprise.name,
        "credit_code": enterprise.credit_code,
        "industry": enterprise.industry.value,
        "district_adcode": enterprise.district_adcode,
        "grid_id": enterprise.grid_id,
        "lon": round(enterprise.lon, COORDINATE_DECIMALS),
        "lat": round(enterprise.lat, COORDINATE_DECIMALS),
        "address": enterprise.address,
        "credit_rating": enterprise.credit_rating.value,
        "is_key": enterprise.is_key,
        "permit_no": enterprise.permit_no,
        "synthetic": enterprise.synthetic,
        "outlets": [
            {
                "id": outlet.id,
                "name": outlet.name,
                "kind": outlet.kind.value,
                "mn": outlet.mn,
                "lon": round(outlet.lon, COORDINATE_DECIMALS),
                "lat": round(outlet.lat, COORDINATE_DECIMALS),
                "limits": [
                    {
                        "code": limit.code,
                        "name": limit.name,
                        "unit": limit.unit,
                        "limit": limit.limit,
                        "lower_limit": limit.lower_limit,
                        "annual_quota_kg": limit.annual_quota_kg,
                        "monthly_quota_kg": limit.monthly_quota_kg,
                    }
                    for limit in outlet.limits
                ],
            }
            for outlet in enterprise.outlets
        ],
    }


def build_snapshot(
    world: World, scope: Scope | None = None, cameras: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    """Everything in ``world`` visible in ``scope`` (None: the whole world, for tools and tests).

    Shape: {"city": {"adcode", "name"}, "meta", "organisations", "districts", "grids",
    "officers", "squads", "enterprises", "cameras"}; districts and grids carry a GeoJSON
    "geometry".
    """

    def visible(adcode: str) -> bool:
        return scope is None or adcode in scope.districts

    districts = [d for d in world.districts if visible(d.adcode)]
    grids = [g for g in world.grids if visible(g.district_adcode)]
    organisations = [
        o
        for o in world.organisations
        if scope is None or o.id in scope.org_ids or (o.adcode is not None and visible(o.adcode))
    ]
    district_geometries = geojson_geometries([d.boundary for d in districts])
    grid_geometries = geojson_geometries([g.geometry for g in grids])
    return {
        "city": {"adcode": world.city_adcode, "name": world.city_name},
        "meta": dict(world.meta),
        "organisations": [
            {
                "id": o.id,
                "name": o.name,
                "level": o.level.value,
                "parent_id": o.parent_id,
                "adcode": o.adcode,
            }
            for o in organisations
        ],
        "districts": [
            {"adcode": d.adcode, "name": d.name, "org_id": d.org_id, "geometry": geometry}
            for d, geometry in zip(districts, district_geometries, strict=True)
        ],
        "grids": [
            {
                "id": g.id,
                "name": g.name,
                "district_adcode": g.district_adcode,
                "officer_id": g.officer_id,
                "geometry": geometry,
            }
            for g, geometry in zip(grids, grid_geometries, strict=True)
        ],
        "officers": [officer_json(o) for o in world.officers if visible(o.district_adcode)],
        "squads": [squad_json(s) for s in world.squads if visible(s.district_adcode)],
        "enterprises": [
            enterprise_json(e) for e in world.enterprises if visible(e.district_adcode)
        ],
        # Credential-free records (console.hub.camera_methods.snapshot_records); a camera
        # outside every district (district_adcode None) is visible to every scope.
        "cameras": [
            c for c in cameras if c.get("district_adcode") is None or visible(c["district_adcode"])
        ],
    }


def scoped_summary(world: World, scope: Scope) -> dict[str, int | str]:
    """``World.summary()`` counting only what ``scope`` may see."""

    def count(adcodes: list[str]) -> int:
        return sum(1 for adcode in adcodes if adcode in scope.districts)

    return {
        **world.summary(),
        "organisations": sum(1 for o in world.organisations if o.id in scope.org_ids),
        "districts": count([d.adcode for d in world.districts]),
        "grids": count([g.district_adcode for g in world.grids]),
        "officers": count([o.district_adcode for o in world.officers]),
        "squads": count([s.district_adcode for s in world.squads]),
        "enterprises": count([e.district_adcode for e in world.enterprises]),
    }
