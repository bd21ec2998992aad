"""Built-in request methods of the console link (registered on import)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Annotated, Any

import msgspec

from console.core.geo import Datum
from console.core.model import Role
from console.hub.camera_methods import snapshot_records
from console.hub.events import check_topic
from console.hub.protocol import PROTOCOL_VERSION, ErrorCode
from console.hub.registry import REGISTRY, MethodError, NoParams, Reply, method
from console.hub.snapshot import build_snapshot, scoped_summary
from console.hub.state import CallContext, utc_now

_encoder = msgspec.json.Encoder()

NEAREST_SQUADS = 3


@method("hub.info", params=NoParams)
async def hub_info(ctx: CallContext, params: NoParams) -> dict[str, Any]:
    """Versions, uptime, the caller's methods and a summary of the world in their scope."""
    hub = ctx.hub
    return {
        "version": hub.version,
        "protocol": PROTOCOL_VERSION,
        "db": hub.db_kind,
        "world": (
            scoped_summary(hub.world, ctx.principal.scope) if hub.world is not None else None
        ),
        "uptime_s": hub.uptime_s(),
        "server_time": utc_now().isoformat(),
        "consoles": hub.connections,
        "methods": REGISTRY.names_for(ctx.principal.user.role),
    }


@method("world.snapshot", params=NoParams)
async def world_snapshot(ctx: CallContext, params: NoParams) -> msgspec.Raw:
    """The scoped world, encoded once per distinct scope and served from memory afterwards."""
    hub = ctx.hub
    if hub.world is None:
        raise MethodError(ErrorCode.NOT_FOUND, "the hub has no world: run 'python -m console seed'")
    key = ctx.principal.scope.key
    lock = hub.snapshot_locks.setdefault(key, asyncio.Lock())
    async with lock:
        cached = hub.snapshot_cache.get(key)
        if cached is None:
            world, scope = hub.world, ctx.principal.scope
            cameras = await hub.db.run(snapshot_records, hub.store)
            loop = asyncio.get_running_loop()
            cached = await loop.run_in_executor(
                None, lambda: _encoder.encode(build_snapshot(world, scope, cameras))
            )
            hub.snapshot_cache[key] = cached
    return msgspec.Raw(cached)


class LocateParams(msgspec.Struct, forbid_unknown_fields=True):
    lon: Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)]
    lat: Annotated[float, msgspec.Meta(ge=-90.0, le=90.0)]
    crs: str = Datum.WGS84.value


@method("locate", params=LocateParams)
async def locate(ctx: CallContext, params: LocateParams) -> Reply | dict[str, Any]:
    """District, grid, grid officer and nearest squads of a point in the caller's scope."""
    try:
        datum = Datum(params.crs.lower())
    except ValueError:
        known = ", ".join(d.value for d in Datum)
        raise MethodError(
            ErrorCode.BAD_REQUEST, f"unknown crs {params.crs!r}; expected one of: {known}"
        ) from None
    locator = await ctx.hub.locator()
    if locator is None:
        return Reply(None, "no_world")
    scope = ctx.principal.scope
    try:
        # Rank every squad, then keep the nearest ones the caller may see.
        found = locator.locate(params.lon, params.lat, datum=datum, squads=len(locator.squads))
    except ValueError as exc:
        raise MethodError(ErrorCode.BAD_REQUEST, str(exc)) from None
    if found is None:
        return Reply(None, "outside_jurisdiction")
    if not scope.covers(found.district.adcode):
        raise MethodError(
            ErrorCode.OUT_OF_SCOPE, "the point lies in a district outside your organisation's scope"
        )
    squads = tuple(s for s in found.squads if scope.covers(s.squad.district_adcode))
    result: dict[str, Any] = replace(found, squads=squads[:NEAREST_SQUADS]).to_json()
    return result


class SubscribeParams(msgspec.Struct, forbid_unknown_fields=True):
    topics: list[str]


@method("events.subscribe", params=SubscribeParams)
async def events_subscribe(ctx: CallContext, params: SubscribeParams) -> dict[str, Any]:
    """Replace the connection's topics; events outside the caller's scope are never sent."""
    try:
        topics = frozenset(check_topic(topic) for topic in params.topics)
    except ValueError as exc:
        raise MethodError(ErrorCode.BAD_REQUEST, str(exc)) from None
    ctx.connection.set_topics(topics)
    return {"topics": sorted(topics)}


@method("users.list", params=NoParams, roles={Role.ADMIN})
async def users_list(ctx: CallContext, params: NoParams) -> list[dict[str, Any]]:
    users = await ctx.hub.db.run(ctx.hub.store.list_users)
    return [
        {
            "username": user.username,
            "display_name": user.display_name,
            "role": user.role.value,
            "org_id": user.org_id,
            "active": user.active,
        }
        for user in users
    ]


@method("seats.list", params=NoParams)
async def seats_list(ctx: CallContext, params: NoParams) -> list[dict[str, str]]:
    """Seats of the caller's organisation, the ones above it and the ones below it."""
    visible = ctx.principal.scope.org_ids
    return [seat for seat in ctx.hub.seats_json() if seat["org_id"] in visible]
