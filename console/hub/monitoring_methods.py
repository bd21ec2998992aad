"""Console-link methods of online monitoring (registered on import; see monitoring_contract).

Every answer is cut to the caller's scope: an outlet, alarm or enterprise in a district the
caller's organisation does not cover is not theirs to see.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec

from console.core.complaints import Category, Channel, Urgency
from console.core.geo import Datum
from console.core.model import Outlet, OutletKind, Role, World
from console.hub.dispatch_methods import (
    DISPATCH_ROLES,
    DispatchParams,
    create_complaint,
    publish_complaint,
    task_dispatch,
)
from console.hub.monitoring_service import MonitoringService
from console.hub.protocol import ErrorCode
from console.hub.registry import MethodError, method
from console.hub.state import CallContext, utc_now
from console.monitoring.aggregate import daily_rates
from console.monitoring.receiver import CHINA_TZ
from console.store.dispatch_repo import AuditEntry, DispatchRepo

Window = Literal["realtime", "minute_24h", "hourly_30d"]

WINDOWS: dict[str, tuple[str, timedelta]] = {
    "realtime": ("2011", timedelta(hours=2)),
    "minute_24h": ("2051", timedelta(hours=24)),
    "hourly_30d": ("2061", timedelta(days=30)),
}
"""Window -> (the HJ 212 upload it shows, how far back it reaches)."""


def _service(ctx: CallContext) -> MonitoringService:
    service = ctx.hub.monitoring
    if service is None:
        raise MethodError(
            ErrorCode.NOT_FOUND, "online monitoring is off in this hub (started with --no-hj212)"
        )
    return service


def _parse_time(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise MethodError(
            ErrorCode.BAD_REQUEST, f"{name} must be an ISO-8601 time, got {text!r}"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class SeriesParams(msgspec.Struct, forbid_unknown_fields=True):
    outlet_id: str
    window: Window = "realtime"
    codes: list[str] | None = None


@method("monitoring.series", params=SeriesParams)
async def monitoring_series(ctx: CallContext, params: SeriesParams) -> dict[str, Any]:
    """One outlet's values over a window, with its permit limits for the limit lines."""
    service = _service(ctx)
    station = service.registry.by_outlet.get(params.outlet_id)
    if station is None:
        raise MethodError(ErrorCode.NOT_FOUND, f"no monitored outlet {params.outlet_id!r}")
    if not ctx.principal.scope.covers(station.district_adcode):
        raise MethodError(ErrorCode.OUT_OF_SCOPE, "the outlet is outside your organisation's scope")
    cn, span = WINDOWS[params.window]
    since = datetime.now(UTC) - span
    store = service.series_store
    series = await ctx.hub.db.run(store.series, params.outlet_id, cn, since, params.codes)
    wanted = None if params.codes is None else set(params.codes)
    limits = {
        limit.code: {
            "limit": limit.limit,
            "lower_limit": limit.lower_limit,
            "unit": limit.unit,
            "name": limit.name,
        }
        for limit in station.limits
        if wanted is None or limit.code in wanted
    }
    return {
        "outlet_id": params.outlet_id,
        "window": params.window,
        "series": series,
        "limits": limits,
    }


class AlarmsParams(msgspec.Struct, forbid_unknown_fields=True):
    open_only: bool = False
    since: str | None = None
    limit: int = 1000


@method("alarms.list", params=AlarmsParams)
async def alarms_list(ctx: CallContext, params: AlarmsParams) -> list[dict[str, Any]]:
    """Stored alarms in the caller's districts, newest first (``cleared_at`` null: open)."""
    service = _service(ctx)
    if not 1 <= params.limit <= 10_000:
        raise MethodError(ErrorCode.BAD_REQUEST, f"limit must be 1..10000, got {params.limit}")
    since = None if params.since is None else _parse_time(params.since, "since")
    store = service.series_store
    districts = sorted(ctx.principal.scope.districts)
    return await ctx.hub.db.run(
        lambda: store.list_alarms(
            open_only=params.open_only, since=since, districts=districts, limit=params.limit
        )
    )


class RatesParams(msgspec.Struct, forbid_unknown_fields=True):
    date: str


@method("monitoring.rates", params=RatesParams)
async def monitoring_rates(ctx: CallContext, params: RatesParams) -> list[dict[str, Any]]:
    """传输率 / 有效率 / 传输有效率 per enterprise in scope for a Beijing day, from hourly data."""
    service = _service(ctx)
    try:
        day = date.fromisoformat(params.date)
    except ValueError:
        raise MethodError(
            ErrorCode.BAD_REQUEST, f"date must be YYYY-MM-DD, got {params.date!r}"
        ) from None
    registry = service.registry
    scope = ctx.principal.scope
    outlets = {
        enterprise_id: outlet_ids
        for enterprise_id, outlet_ids in registry.outlets_of.items()
        if outlet_ids and scope.covers(registry.by_outlet[outlet_ids[0]].district_adcode)
    }
    enterprise_of = {o: e for e, ids in outlets.items() for o in ids}
    store = service.series_store
    observations = await ctx.hub.db.run(store.rate_observations, day, enterprise_of)
    return [rate.as_dict() for rate in daily_rates(observations, day, outlets)]


class QuarantineParams(msgspec.Struct, forbid_unknown_fields=True):
    since: str | None = None
    limit: int = 500


@method("monitoring.quarantine", params=QuarantineParams, roles={Role.ADMIN})
async def monitoring_quarantine(ctx: CallContext, params: QuarantineParams) -> list[dict[str, Any]]:
    """Rejected input (unknown MN, wrong password, undecodable frames), newest first."""
    service = _service(ctx)
    if not 1 <= params.limit <= 10_000:
        raise MethodError(ErrorCode.BAD_REQUEST, f"limit must be 1..10000, got {params.limit}")
    since = None if params.since is None else _parse_time(params.since, "since")
    await service.flush_quarantine()
    store = service.series_store
    return await ctx.hub.db.run(lambda: store.list_quarantined(since=since, limit=params.limit))


class AlarmToTaskParams(msgspec.Struct, forbid_unknown_fields=True):
    alarm_id: str
    note: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


_ALARM_NAMES = {
    "exceedance": "超标",
    "sustained_exceedance": "持续超标",
    "offline": "离线",
    "instrument_flag": "仪器异常",
    "quota_warning": "排放总量预警",
    "quota_exceeded": "排放总量超限",
    "monthly_quota_warning": "月度排放总量预警",
    "monthly_quota_exceeded": "月度排放总量超限",
    "clock_drift": "时钟偏差",
}


@method("alarms.to_task", params=AlarmToTaskParams, roles=DISPATCH_ROLES)
async def alarms_to_task(ctx: CallContext, params: AlarmToTaskParams) -> dict[str, Any]:
    """Open a case from an alarm and dispatch its verification task (dispatch's own code path).

    The alarm becomes a complaint of channel ``monitoring_alarm`` at the outlet, then
    ``task.dispatch`` sends it to the grid officer. One alarm opens one case only.
    """
    service = _service(ctx)
    hub = ctx.hub
    store = service.series_store
    alarm = await hub.db.run(store.get_alarm, params.alarm_id)
    if alarm is None:
        raise MethodError(ErrorCode.NOT_FOUND, f"no alarm {params.alarm_id!r}")
    if not ctx.principal.scope.covers(alarm["district_adcode"]):
        raise MethodError(ErrorCode.OUT_OF_SCOPE, "the alarm is outside your organisation's scope")
    outlet = _outlet(hub.world, alarm["outlet_id"])
    if outlet is None:
        raise MethodError(ErrorCode.NOT_FOUND, f"outlet {alarm['outlet_id']!r} is not in the world")
    now = utc_now()
    claim = f"alarm:{alarm['id']}"  # placeholder while the case is being opened
    if not await hub.db.run(lambda: store.link_alarm(alarm["id"], claim, expected=None)):
        current = await hub.db.run(store.get_alarm, alarm["id"])
        linked = None if current is None else current["complaint_id"]
        raise MethodError(ErrorCode.CONFLICT, f"alarm {alarm['id']} already opened case {linked}")
    try:
        complaint, _found = await create_complaint(
            hub,
            channel=Channel.MONITORING_ALARM,
            category=Category.WATER if outlet.kind is OutletKind.WATER else Category.AIR,
            urgency=Urgency.URGENT if alarm["severity"] == "critical" else Urgency.NORMAL,
            reporter_name="在线监控",
            reporter_phone="",
            description=_describe(alarm, outlet),
            lon=outlet.lon,
            lat=outlet.lat,
            datum=Datum.WGS84,
            enterprise_id=alarm["enterprise_id"],
            external_ref=claim,
            scope=ctx.principal.scope,
        )
        audit = AuditEntry(
            at=now,
            user=ctx.principal.user.username,
            seat=ctx.principal.seat,
            action="alarms.to_task",
            complaint_id=complaint.id,
            detail={"alarm_id": alarm["id"]},
        )
        repo = DispatchRepo(hub.store)
        await hub.db.run(repo.add_complaint, complaint, ctx.principal.user.username, audit)
    except BaseException:
        await hub.db.run(lambda: store.link_alarm(alarm["id"], None, expected=claim))
        raise
    await hub.db.run(lambda: store.link_alarm(alarm["id"], complaint.id, expected=claim))
    publish_complaint(hub.bus, complaint)
    result = await task_dispatch(ctx, DispatchParams(complaint_id=complaint.id, note=params.note))
    return {"complaint_id": complaint.id, **result}


def _outlet(world: World | None, outlet_id: str) -> Outlet | None:
    for enterprise in world.enterprises if world is not None else ():
        for outlet in enterprise.outlets:
            if outlet.id == outlet_id:
                return outlet
    return None


def _describe(alarm: dict[str, Any], outlet: Outlet) -> str:
    """The case's description: the pollutant by its permit name and unit, time in Beijing."""
    kind = _ALARM_NAMES.get(alarm["kind"], alarm["kind"])
    parts = [f"在线监控报警：{outlet.name} {kind}"]
    limit = next((x for x in outlet.limits if x.code == alarm["pollutant"]), None)
    unit = f" {limit.unit}" if limit is not None and limit.unit else ""
    if alarm["pollutant"]:
        name = alarm["pollutant"] if limit is None else f"{limit.name}（{limit.code}）"
        parts.append(f"因子 {name}")
    if alarm["value"] is not None:
        parts.append(f"监测值 {alarm['value']:g}{unit}")
    if alarm["limit"] is not None:
        parts.append(f"限值 {alarm['limit']:g}{unit}")
    started = datetime.fromisoformat(alarm["started_at"]).astimezone(CHINA_TZ)
    parts.append(f"开始于 {started:%Y-%m-%d %H:%M}（北京时间）")
    return "，".join(parts)
