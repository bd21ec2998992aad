"""Camera register and video-wall layouts on the console link.

Consoles see cameras without credentials (``cameras.list``, the snapshot's "cameras", the
``camera.changed`` events); a player asks ``camera.stream_url`` for the URL with them, which
only roles that watch video may do. A camera's district decides who sees it: the enterprise's
district, else the district its location falls in (None outside every district: global).
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Annotated, Any

import msgspec

from console.core.model import Role
from console.hub.protocol import ErrorCode
from console.hub.registry import MethodError, NoParams, method
from console.hub.state import CallContext, HubState
from console.store import Store, StoreError, camera_repo
from console.store.camera_repo import Camera

CAMERA_CHANGED = "camera.changed"
WATCHING_ROLES = frozenset({Role.ADMIN, Role.DISPATCHER, Role.COMMANDER})
"""Roles that may get playable (credential-bearing) stream URLs."""

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Lon = Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)]
Lat = Annotated[float, msgspec.Meta(ge=-90.0, le=90.0)]
Secret = Annotated[str, msgspec.Meta(max_length=200)]


def load_cameras(store: Store) -> list[Camera]:
    with store.session() as session:
        return camera_repo.list_cameras(session)


def snapshot_records(store: Store) -> list[dict[str, Any]]:
    """The snapshot's "cameras": {id, name, lon, lat, enterprise_id, online, district_adcode,
    group}; no stream URL and no credentials."""
    return [
        {
            key: value
            for key, value in camera.public_json().items()
            if key not in ("stream_url", "has_credentials")
        }
        for camera in load_cameras(store)
    ]


class CameraAddParams(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    stream_url: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    enterprise_id: str | None = None
    lon: Lon | None = None
    lat: Lat | None = None
    username: Secret = ""
    password: Secret = ""
    group: Annotated[str, msgspec.Meta(max_length=200)] = ""
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None


class CameraUpdateParams(msgspec.Struct, forbid_unknown_fields=True):
    camera_id: str
    name: Name | msgspec.UnsetType = msgspec.UNSET
    stream_url: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    enterprise_id: str | msgspec.UnsetType | None = msgspec.UNSET
    lon: Lon | msgspec.UnsetType = msgspec.UNSET
    lat: Lat | msgspec.UnsetType = msgspec.UNSET
    username: Secret | msgspec.UnsetType = msgspec.UNSET
    password: Secret | msgspec.UnsetType = msgspec.UNSET
    group: Annotated[str, msgspec.Meta(max_length=200)] | msgspec.UnsetType = msgspec.UNSET


class CameraIdParams(msgspec.Struct, forbid_unknown_fields=True):
    camera_id: str


class CameraStatusParams(msgspec.Struct, forbid_unknown_fields=True):
    camera_id: str
    online: bool


class LayoutSaveParams(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    spec: dict[str, Any]


class LayoutNameParams(msgspec.Struct, forbid_unknown_fields=True):
    name: Name


@method("cameras.list", params=NoParams)
async def cameras_list(ctx: CallContext, params: NoParams) -> list[dict[str, Any]]:
    """Cameras in the caller's scope, without credentials."""
    cameras = await ctx.hub.db.run(load_cameras, ctx.hub.store)
    scope = ctx.principal.scope
    return [c.public_json() for c in cameras if scope.covers(c.district_adcode)]


@method("camera.add", params=CameraAddParams, roles={Role.ADMIN})
async def camera_add(ctx: CallContext, params: CameraAddParams) -> dict[str, Any]:
    lon, lat, district = await _place(ctx, params.enterprise_id, params.lon, params.lat)
    camera = Camera(
        id=params.id or f"cam-{secrets.token_hex(6)}",
        name=params.name,
        stream_url=params.stream_url,
        lon=lon,
        lat=lat,
        enterprise_id=params.enterprise_id,
        district_adcode=district,
        username=params.username,
        password=params.password,
        group=params.group,
    )
    await _write(ctx.hub, camera_repo.add_camera, camera)
    _announce(ctx.hub, "added", camera)
    return camera.public_json()


@method("camera.update", params=CameraUpdateParams, roles={Role.ADMIN})
async def camera_update(ctx: CallContext, params: CameraUpdateParams) -> dict[str, Any]:
    """Change the given fields; a new enterprise or location moves the camera's district."""
    camera = await _visible_camera(ctx, params.camera_id)
    changes = {
        field: getattr(params, field)
        for field in ("name", "stream_url", "username", "password", "group")
        if getattr(params, field) is not msgspec.UNSET
    }
    moved = any(
        getattr(params, field) is not msgspec.UNSET for field in ("enterprise_id", "lon", "lat")
    )
    if moved:
        enterprise_id = (
            camera.enterprise_id if params.enterprise_id is msgspec.UNSET else params.enterprise_id
        )
        lon = None if params.lon is msgspec.UNSET else params.lon
        lat = None if params.lat is msgspec.UNSET else params.lat
        if enterprise_id is None and (lon is None or lat is None):
            lon, lat = (camera.lon if lon is None else lon), (camera.lat if lat is None else lat)
        lon, lat, district = await _place(ctx, enterprise_id, lon, lat)
        changes.update(enterprise_id=enterprise_id, lon=lon, lat=lat, district_adcode=district)
    updated = replace(camera, **changes)
    await _write(ctx.hub, camera_repo.replace_camera, updated)
    _announce(ctx.hub, "updated", updated, previous_district=camera.district_adcode)
    return updated.public_json()


@method("camera.remove", params=CameraIdParams, roles={Role.ADMIN})
async def camera_remove(ctx: CallContext, params: CameraIdParams) -> dict[str, Any]:
    camera = await _visible_camera(ctx, params.camera_id)
    await _write(ctx.hub, camera_repo.remove_camera, camera.id)
    _announce(ctx.hub, "removed", camera)
    return {"removed": camera.id}


@method("camera.stream_url", params=CameraIdParams, roles=WATCHING_ROLES)
async def camera_stream_url(ctx: CallContext, params: CameraIdParams) -> dict[str, Any]:
    """The URL a player opens, credentials included: for the player, never for display."""
    camera = await _visible_camera(ctx, params.camera_id)
    return {"camera_id": camera.id, "url": camera.playable_url()}


@method("camera.status", params=CameraStatusParams, roles=WATCHING_ROLES)
async def camera_status(ctx: CallContext, params: CameraStatusParams) -> dict[str, Any]:
    """A console reports that a stream plays (online) or has no signal; shown on the map."""
    camera = await _visible_camera(ctx, params.camera_id)
    changed = await _write(ctx.hub, camera_repo.set_online, camera.id, params.online)
    if changed:
        _announce(ctx.hub, "status", replace(camera, online=params.online))
    return {"camera_id": camera.id, "online": params.online}


@method("wall.layouts", params=NoParams)
async def wall_layouts(ctx: CallContext, params: NoParams) -> list[dict[str, Any]]:
    """Saved video-wall layouts, shared by every wall of the centre."""
    store = ctx.hub.store

    def read() -> list[dict[str, Any]]:
        with store.session() as session:
            return camera_repo.list_layouts(session)

    return await ctx.hub.db.run(read)


@method("wall.layout.save", params=LayoutSaveParams, roles=WATCHING_ROLES)
async def wall_layout_save(ctx: CallContext, params: LayoutSaveParams) -> dict[str, Any]:
    await _write(
        ctx.hub, camera_repo.save_layout, params.name, params.spec, ctx.principal.user.username
    )
    return {"name": params.name}


@method("wall.layout.delete", params=LayoutNameParams, roles=WATCHING_ROLES)
async def wall_layout_delete(ctx: CallContext, params: LayoutNameParams) -> dict[str, Any]:
    removed = await _write(ctx.hub, camera_repo.delete_layout, params.name)
    if not removed:
        raise MethodError(ErrorCode.NOT_FOUND, f"no wall layout {params.name!r}")
    return {"removed": params.name}


async def _place(
    ctx: CallContext, enterprise_id: str | None, lon: float | None, lat: float | None
) -> tuple[float, float, str | None]:
    """Position and district of a camera at an enterprise or a location, scope-checked."""
    world = ctx.hub.world
    district: str | None
    if enterprise_id is not None:
        enterprise = next(
            (e for e in (world.enterprises if world else ()) if e.id == enterprise_id), None
        )
        if enterprise is None:
            raise MethodError(ErrorCode.NOT_FOUND, f"no enterprise {enterprise_id!r}")
        lon = enterprise.lon if lon is None else lon
        lat = enterprise.lat if lat is None else lat
        district = enterprise.district_adcode
    elif lon is None or lat is None:
        raise MethodError(
            ErrorCode.BAD_REQUEST, "a camera needs an enterprise_id or a location (lon and lat)"
        )
    else:
        locator = await ctx.hub.locator()
        found = None if locator is None else locator.locate(lon, lat, squads=0)
        district = None if found is None else found.district.adcode
    if district is not None and not ctx.principal.scope.covers(district):
        raise MethodError(
            ErrorCode.OUT_OF_SCOPE, "the camera would lie outside your organisation's scope"
        )
    return lon, lat, district


async def _visible_camera(ctx: CallContext, camera_id: str) -> Camera:
    store = ctx.hub.store

    def read() -> Camera | None:
        with store.session() as session:
            return camera_repo.get_camera(session, camera_id)

    camera = await ctx.hub.db.run(read)
    # Out of scope answers like unknown: the caller must not learn which ids exist.
    if camera is None or not ctx.principal.scope.covers(camera.district_adcode):
        raise MethodError(ErrorCode.NOT_FOUND, f"no camera {camera_id!r}")
    return camera


async def _write(hub: HubState, fn: Any, *args: Any) -> Any:
    """Run a repository write in one transaction; store errors become bad_request."""
    store = hub.store

    def write() -> Any:
        with store.session() as session:
            return fn(session, *args)

    try:
        return await hub.db.run(write)
    except StoreError as exc:
        raise MethodError(ErrorCode.BAD_REQUEST, str(exc)) from None


def _announce(
    hub: HubState, action: str, camera: Camera, previous_district: str | None = None
) -> None:
    """Publish ``camera.changed`` (no credentials) and drop cached snapshots holding cameras."""
    hub.snapshot_cache.clear()
    if previous_district != camera.district_adcode and action == "updated":
        # Consoles that saw the camera in its old district learn that it left (first, so a
        # console seeing both districts ends with the update).
        hub.bus.publish(
            CAMERA_CHANGED, {"action": "removed", "camera": {"id": camera.id}}, previous_district
        )
    hub.bus.publish(
        CAMERA_CHANGED, {"action": action, "camera": camera.public_json()}, camera.district_adcode
    )
