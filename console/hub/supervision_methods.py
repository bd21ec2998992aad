"""Console-link methods of supervision intelligence (registered on import; supervision_contract).

One file per enterprise (一企一档), the data-authenticity ranking with the inspection outcomes
that re-fit its weights, targeted inspections, double-random draws and the leaders' district
figures. Leaders read everything in their scope; dispatchers, commanders and admins also act
(record outcomes, create inspection tasks, run draws). Tasks are always written through the
dispatch repository's task insertion (``DispatchRepo.create_task``, or ``insert_new_task`` in a
draw's single transaction) so that they get their timeline, outbox entries and audit entry.

Authenticity scores are computed from the stored hourly aggregates of every outlet in the
caller's scope as one numpy batch (``console.monitoring.authenticity``) and cached per
enterprise in the database for ``SCORE_TTL``: a scope's ranking is served from that cache
while every enterprise of the scope has a fresh score made with the current weights.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
import numpy as np

from console.core.complaints import Category, Urgency
from console.core.draw import (
    DrawError,
    DrawPlan,
    DrawRecord,
    canonical_json,
    run_draw,
    verify,
)
from console.core.geo import Datum
from console.core.model import Enterprise, Officer, OutletKind, World
from console.core.tasks import OUTBOX_ASSIGNED, TaskDraft, TaskKind, create_task
from console.hub.dispatch_methods import (
    DISPATCH_ROLES,
    TASK_UPDATED,
    actor_of,
    audit_entry,
    locate_point,
    new_id,
    publish_task,
    recommend,
    task_json,
    task_visible,
)
from console.hub.protocol import ErrorCode
from console.hub.registry import MethodError, NoParams, method
from console.hub.scope import Scope, scope_for
from console.hub.state import CallContext, HubState, utc_now
from console.monitoring.aggregate import daily_rates
from console.monitoring.authenticity import (
    CHINA_TZ,
    FLAG_CODES,
    AuthenticityConfig,
    Reason,
    SeriesBatch,
    WeightSet,
    refit_weights,
    score_batch,
    score_enterprises,
)
from console.store import camera_repo
from console.store.dispatch_repo import DispatchRepo, OutboxDraft
from console.store.supervision_repo import DrawTask, HourlyRow, SupervisionRepo
from console.store.timeseries import TimeSeriesStore

SCORE_TTL = timedelta(minutes=5)
"""How long a computed score is served from the cache."""
REFIT_EVERY = 5
"""After the first fit, re-fit once this many new outcomes have been recorded."""
FILE_DAYS = 7
"""Days of transmission rates in the enterprise file (today and the six before)."""
DASHBOARD_RANKING = 10

# Operating parameters of an outlet (HJ 212-2017 codes): they explain concentrations, they
# are not scored themselves.
FLOW_CODES = {OutletKind.WATER: "w00000", OutletKind.GAS: "a00000"}
O2_CODE = "a19001"
TEMPERATURE_CODE = "a01012"
_PARAMETER_CODES = frozenset({*FLOW_CODES.values(), O2_CODE, TEMPERATURE_CODE})


# --- scoring ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Series:
    enterprise: Enterprise
    outlet_id: str
    outlet_kind: OutletKind
    code: str
    label: str
    limit: float


def _scored_series(enterprises: Sequence[Enterprise]) -> list[_Series]:
    """Every (outlet, pollutant) with an upper permit limit; pH-like ranges are not scored."""
    series = []
    for enterprise in enterprises:
        codes = [
            limit.code
            for outlet in enterprise.outlets
            for limit in outlet.limits
            if limit.code not in _PARAMETER_CODES
        ]
        for outlet in enterprise.outlets:
            for limit in outlet.limits:
                if limit.code in _PARAMETER_CODES or limit.lower_limit is not None:
                    continue
                if not limit.limit > 0:
                    continue
                label = limit.code if codes.count(limit.code) == 1 else f"{limit.code}@{outlet.id}"
                series.append(
                    _Series(enterprise, outlet.id, outlet.kind, limit.code, label, limit.limit)
                )
    return series


def score_hourly(
    enterprises: Sequence[Enterprise],
    rows: Sequence[HourlyRow],
    start: datetime,
    hours: int,
    days: int,
    weights: WeightSet,
    now: datetime,
    config: AuthenticityConfig | None = None,
) -> list[dict[str, Any]]:
    """Score stored hourly rows of ``enterprises`` on one hour axis from ``start``.

    Returns one cache entry per enterprise; those without any stored value of a limited
    pollutant get ``worst_pollutant`` None (nothing to rank on).
    """
    series = _scored_series(enterprises)
    index = {(s.outlet_id, s.code): i for i, s in enumerate(series)}
    outlets = sorted({s.outlet_id for s in series})
    outlet_index = {o: i for i, o in enumerate(outlets)}
    n = len(series)
    value = np.full((n, hours), np.nan)
    zs = np.full((n, hours), np.nan)
    flag = np.zeros((n, hours), dtype=np.uint8)
    params = {code: np.full((len(outlets), hours), np.nan) for code in _PARAMETER_CODES}
    start_s = int(start.timestamp())
    seen = np.zeros(n, dtype=bool)
    for outlet_id, moment, code, avg, zs_avg, flag_code in rows:
        column = (int(moment.timestamp()) - start_s) // 3600
        if not 0 <= column < hours:
            continue
        i = index.get((outlet_id, code))
        if i is not None:
            value[i, column] = np.nan if avg is None else avg
            zs[i, column] = np.nan if zs_avg is None else zs_avg
            flag[i, column] = FLAG_CODES.get(flag_code, 0)
            seen[i] = seen[i] or avg is not None
        elif code in _PARAMETER_CODES and outlet_id in outlet_index and avg is not None:
            params[code][outlet_index[outlet_id], column] = avg
    rows_of_outlet = np.array([outlet_index[s.outlet_id] for s in series], dtype=np.int64)
    flow = np.full((n, hours), np.nan)
    for kind, code in FLOW_CODES.items():
        mask = np.array([s.outlet_kind is kind for s in series], dtype=bool)
        if mask.any():
            flow[mask] = params[code][rows_of_outlet[mask]]
    gas = np.array([s.outlet_kind is OutletKind.GAS for s in series], dtype=bool)
    o2 = np.full((n, hours), np.nan)
    temperature = np.full((n, hours), np.nan)
    if gas.any():
        o2[gas] = params[O2_CODE][rows_of_outlet[gas]]
        temperature[gas] = params[TEMPERATURE_CODE][rows_of_outlet[gas]]
    keep = np.flatnonzero(seen)
    by_enterprise: dict[str, list[_Series]] = {}
    for k in keep.tolist():
        by_enterprise.setdefault(series[k].enterprise.id, []).append(series[k])
    results: dict[str, dict[str, Any]] = {}
    if keep.size:
        batch = SeriesBatch(
            enterprise=tuple(series[i].enterprise.id for i in keep),
            pollutant=tuple(series[i].label for i in keep),
            start=np.full(keep.size, start_s, dtype=np.int64),
            value=value[keep],
            limit=np.array([series[i].limit for i in keep], dtype=np.float64),
            zs=zs[keep] if np.isfinite(zs[keep]).any() else None,
            flow=flow[keep] if np.isfinite(flow[keep]).any() else None,
            o2=o2[keep] if np.isfinite(o2[keep]).any() else None,
            temperature=temperature[keep] if np.isfinite(temperature[keep]).any() else None,
            flag=flag[keep],
        )
        scored = score_batch(batch, config, weights.weights)
        for result in score_enterprises(scored):
            worst = min(result.pollutants.values(), key=lambda p: (p.score, p.pollutant))
            item = next(x for x in by_enterprise[result.enterprise] if x.label == worst.pollutant)
            results[result.enterprise] = {
                "score": round(result.score, 1),
                "checks": {name: round(v, 1) for name, v in result.checks.items()},
                "reasons": list(result.reasons),
                "worst_pollutant": item.code,
                "outlet_id": item.outlet_id,
                "evidence": evidence_spans(worst.findings),
                "findings": [finding.to_json() for finding in result.findings],
                "hours": worst.hours,
            }
    entries = []
    for enterprise in enterprises:
        found = results.get(enterprise.id)
        entries.append(
            {
                "enterprise_id": enterprise.id,
                "days": days,
                "district_adcode": enterprise.district_adcode,
                "weight_version": weights.version,
                "scored_at": now.isoformat(),
                **(
                    found
                    if found is not None
                    else {
                        "score": 100.0,
                        "checks": {},
                        "reasons": [],
                        "worst_pollutant": None,
                        "outlet_id": None,
                        "evidence": [],
                        "findings": [],
                        "hours": 0,
                    }
                ),
            }
        )
    return entries


def evidence_spans(findings: Sequence[Reason]) -> list[dict[str, str]]:
    """The hour ranges the findings point at, as UTC ISO [start, end), without repeats.

    Each flagged rule carries its longest run of offending hours or one example hour (see
    ``Reason.hours``); those are the hours an inspector should look at first.
    """
    spans: dict[tuple[str, str], dict[str, str]] = {}
    for finding in findings:
        for begin, end in finding.hours:
            span = {
                "start": begin.astimezone(UTC).isoformat(),
                "end": end.astimezone(UTC).isoformat(),
            }
            spans.setdefault((span["start"], span["end"]), span)
    return list(spans.values())


def _in_scope(world: World, scope: Scope) -> list[Enterprise]:
    return [e for e in world.enterprises if scope.covers(e.district_adcode)]


async def scope_scores(
    hub: HubState, enterprises: Sequence[Enterprise], days: int
) -> dict[str, dict[str, Any]]:
    """Cached scores of ``enterprises`` over ``days``; computed (and cached) when any is stale."""
    repo = SupervisionRepo(hub.store)
    weights = await hub.db.run(repo.current_weights)
    now = utc_now()
    ids = [e.id for e in enterprises]
    cached = await hub.db.run(repo.cached_scores, ids, days, now - SCORE_TTL, weights.version)
    if len(cached) == len(ids):
        return cached
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(days=days)
    outlet_ids = [o.id for e in enterprises for o in e.outlets]
    rows = await hub.db.run(repo.hourly_rows, outlet_ids, start, end)
    loop = asyncio.get_running_loop()
    entries = await loop.run_in_executor(
        None, lambda: score_hourly(enterprises, rows, start, days * 24, days, weights, now)
    )
    await hub.db.run(repo.save_scores, entries)
    return {entry["enterprise_id"]: entry for entry in entries}


def _ranked(
    enterprises: Sequence[Enterprise], scores: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    names = {e.id: e.name for e in enterprises}
    ranked = [
        {
            "enterprise_id": eid,
            "name": names[eid],
            "district_adcode": entry["district_adcode"],
            "score": entry["score"],
            "checks": entry["checks"],
            "reasons": entry["reasons"],
            "worst_pollutant": entry["worst_pollutant"],
            "outlet_id": entry["outlet_id"],
            "evidence": entry["evidence"],
            "findings": entry["findings"],
            "hours": entry["hours"],
            "weight_version": entry["weight_version"],
            "scored_at": entry["scored_at"],
        }
        for eid, entry in scores.items()
        if eid in names and entry["worst_pollutant"] is not None
    ]
    ranked.sort(key=lambda item: (item["score"], item["enterprise_id"]))
    return ranked


# --- helpers ---------------------------------------------------------------------------------


def _world(hub: HubState) -> World:
    if hub.world is None:
        raise MethodError(ErrorCode.NOT_FOUND, "the hub has no world: run 'python -m console seed'")
    return hub.world


def _enterprise(ctx: CallContext, enterprise_id: str) -> Enterprise:
    world = _world(ctx.hub)
    enterprise = next((e for e in world.enterprises if e.id == enterprise_id), None)
    if enterprise is None:
        raise MethodError(ErrorCode.NOT_FOUND, f"no enterprise {enterprise_id!r}")
    if not ctx.principal.scope.covers(enterprise.district_adcode):
        raise MethodError(
            ErrorCode.OUT_OF_SCOPE,
            f"enterprise {enterprise_id} is outside your organisation's scope",
        )
    return enterprise


def _category(enterprise: Enterprise) -> Category:
    kinds = {o.kind for o in enterprise.outlets}
    if kinds == {OutletKind.GAS}:
        return Category.AIR
    return Category.WATER if OutletKind.WATER in kinds else Category.OTHER


# --- enterprise file -------------------------------------------------------------------------


class EnterpriseParams(msgspec.Struct, forbid_unknown_fields=True):
    enterprise_id: str


@method("enterprise.file", params=EnterpriseParams)
async def enterprise_file(ctx: CallContext, params: EnterpriseParams) -> dict[str, Any]:
    """一企一档: register entry, outlets, credit history, monitoring, cases, documents."""
    enterprise = _enterprise(ctx, params.enterprise_id)
    hub = ctx.hub
    repo = SupervisionRepo(hub.store)
    series_store = TimeSeriesStore(hub.store.engine)
    outlet_ids = [o.id for o in enterprise.outlets]
    today = utc_now().astimezone(CHINA_TZ).date()
    days = [today - timedelta(days=back) for back in range(FILE_DAYS - 1, -1, -1)]
    enterprise_of = dict.fromkeys(outlet_ids, enterprise.id)

    def monitoring() -> tuple[list[dict[str, Any]], int, datetime | None]:
        rates = []
        for day in days:
            observations = series_store.rate_observations(day, enterprise_of)
            rate = daily_rates(observations, day, {enterprise.id: outlet_ids})[0]
            rates.append(
                {
                    "date": day.isoformat(),
                    "transmission_rate": rate.transmission_rate,
                    "effective_rate": rate.effective_rate,
                    "transmission_effective_rate": rate.transmission_effective_rate,
                }
            )
        alarms = series_store.list_alarms(
            open_only=True, districts=[enterprise.district_adcode], limit=10_000
        )
        open_alarms = sum(1 for a in alarms if a["enterprise_id"] == enterprise.id)
        return rates, open_alarms, repo.last_data_at(outlet_ids)

    def quota() -> dict[str, Any]:
        """Total-quantity control (刷卡排污): this year's and this month's discharge so far."""
        now = utc_now().astimezone(CHINA_TZ)
        year = series_store.quota_usage(now.year, outlet_ids)
        month = series_store.quota_usage_month(now.year, now.month, outlet_ids)
        used_year = {(outlet, code): kg for outlet, code, kg in year}
        used_month = {(outlet, code): kg for outlet, code, kg in month}
        items = [
            {
                "outlet_id": o.id,
                "outlet_name": o.name,
                "code": limit.code,
                "name": limit.name,
                "annual_quota_kg": limit.annual_quota_kg,
                "used_year_kg": used_year.get((o.id, limit.code), 0.0),
                "monthly_quota_kg": limit.monthly_quota_kg,
                "used_month_kg": used_month.get((o.id, limit.code), 0.0),
            }
            for o in enterprise.outlets
            for limit in o.limits
            if limit.annual_quota_kg is not None or limit.monthly_quota_kg is not None
        ]
        return {"year": now.year, "month": now.month, "items": items}

    def cameras() -> list[dict[str, Any]]:
        with hub.store.session() as session:
            return [
                {"id": c.id, "name": c.name, "online": c.online}
                for c in camera_repo.list_cameras(session)
                if c.enterprise_id == enterprise.id
            ]

    rates, open_alarms, last_data = await hub.db.run(monitoring) if outlet_ids else ([], 0, None)
    score = await hub.db.run(repo.latest_score, enterprise.id)
    scope = ctx.principal.scope
    tasks = [
        {"id": t["id"], "kind": t["kind"], "state": t["state"], "created_at": t["created_at"]}
        for t in await hub.db.run(repo.tasks_of, enterprise.id)
        if scope.sees(t["district_adcode"], t["owner_org_id"])
    ]
    complaints = [
        {k: c[k] for k in ("id", "received_at", "category", "status")}
        for c in await hub.db.run(repo.complaints_of, enterprise.id)
        if c["district_adcode"] is not None and scope.covers(c["district_adcode"])
    ]
    return {
        "enterprise": {
            "id": enterprise.id,
            "name": enterprise.name,
            "credit_code": enterprise.credit_code,
            "legal_representative": enterprise.legal_representative,
            "industry": enterprise.industry.value,
            "district_adcode": enterprise.district_adcode,
            "grid_id": enterprise.grid_id,
            "lon": enterprise.lon,
            "lat": enterprise.lat,
            "address": enterprise.address,
            "credit_rating": enterprise.credit_rating.value,
            "is_key": enterprise.is_key,
            "permit_no": enterprise.permit_no,
        },
        "outlets": [
            {
                "id": o.id,
                "name": o.name,
                "kind": o.kind.value,
                "mn": o.mn,
                "lon": o.lon,
                "lat": o.lat,
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
                    for limit in o.limits
                ],
            }
            for o in enterprise.outlets
        ],
        "credit_history": await hub.db.run(repo.credit_history, enterprise.id),
        "monitoring": {
            "days": rates,
            "open_alarms": open_alarms,
            "last_data_at": None if last_data is None else last_data.isoformat(),
        },
        "quota": await hub.db.run(quota),
        "authenticity": (
            None
            if score is None or score["worst_pollutant"] is None
            else {
                "score": score["score"],
                "checks": score["checks"],
                "reasons": score["reasons"],
                "findings": score["findings"],
                "scored_at": score["scored_at"],
            }
        ),
        "cameras": await hub.db.run(cameras),
        "complaints": complaints,
        "tasks": tasks,
        "documents": [
            {k: d[k] for k in ("id", "kind", "title", "issued_at")}
            for d in await hub.db.run(repo.documents, enterprise.id)
        ],
    }


# --- authenticity ----------------------------------------------------------------------------


class RankingParams(msgspec.Struct, forbid_unknown_fields=True):
    days: Annotated[int, msgspec.Meta(ge=1, le=366)] = 30
    limit: Annotated[int, msgspec.Meta(ge=1, le=5000)] = 50


@method("authenticity.ranking", params=RankingParams)
async def authenticity_ranking(ctx: CallContext, params: RankingParams) -> list[dict[str, Any]]:
    """Enterprises in scope with stored hourly data, most suspicious (lowest score) first."""
    enterprises = _in_scope(_world(ctx.hub), ctx.principal.scope)
    scores = await scope_scores(ctx.hub, enterprises, params.days)
    return _ranked(enterprises, scores)[: params.limit]


class OutcomeParams(msgspec.Struct, forbid_unknown_fields=True):
    enterprise_id: str
    falsification_confirmed: bool
    task_id: str | None = None


@method("authenticity.outcome", params=OutcomeParams, roles=DISPATCH_ROLES)
async def authenticity_outcome(ctx: CallContext, params: OutcomeParams) -> dict[str, Any]:
    """Record what an inspection found; re-fit the weights once enough outcomes are stored."""
    enterprise = _enterprise(ctx, params.enterprise_id)
    hub = ctx.hub
    if params.task_id is not None:
        record = await hub.db.run(DispatchRepo(hub.store).get_task, params.task_id)
        if record is None:
            raise MethodError(ErrorCode.NOT_FOUND, f"no task {params.task_id!r}")
        if not task_visible(ctx.principal.scope, record):
            raise MethodError(
                ErrorCode.OUT_OF_SCOPE, f"task {params.task_id} is outside your scope"
            )
        if record.task.enterprise_id != enterprise.id:
            raise MethodError(
                ErrorCode.BAD_REQUEST,
                f"task {params.task_id} is about {record.task.enterprise_id}, not {enterprise.id}",
            )
    repo = SupervisionRepo(hub.store)
    score = await hub.db.run(repo.latest_score, enterprise.id)
    if score is None:
        score = (await scope_scores(hub, [enterprise], 30))[enterprise.id]
    if score["worst_pollutant"] is None:
        raise MethodError(
            ErrorCode.BAD_REQUEST,
            f"enterprise {enterprise.id} has no stored hourly data to score: an outcome needs "
            "the sub-scores that sent the inspectors there",
        )
    now = utc_now()
    outcome_id = await hub.db.run(
        lambda: repo.add_outcome(
            enterprise.id,
            params.falsification_confirmed,
            params.task_id,
            score["checks"],
            score["score"],
            score["weight_version"],
            ctx.principal.user.username,
            now,
        )
    )
    outcomes = await hub.db.run(repo.outcomes)
    current = await hub.db.run(repo.current_weights)
    config = AuthenticityConfig()
    refit: dict[str, Any] = {"refitted": False, "version": current.version, "reason": ""}
    due = len(outcomes) - current.n_samples >= (
        REFIT_EVERY if current.n_samples else config.refit_min_samples
    )
    if due:
        result = refit_weights(outcomes, current, config, now)
        if result.refitted:
            await hub.db.run(repo.add_weight_set, result, now)
        refit = {
            "refitted": result.refitted,
            "version": result.weights.version,
            "reason": result.reason,
        }
    else:
        refit["reason"] = (
            f"{len(outcomes)} outcomes stored; version {current.version} was fitted on "
            f"{current.n_samples}: no re-fit due"
        )
    return {"outcome_id": outcome_id, "outcomes": len(outcomes), "refit": refit}


@method("authenticity.weights", params=NoParams)
async def authenticity_weights(ctx: CallContext, params: NoParams) -> list[dict[str, Any]]:
    """Every weight set, newest (the one in force) first; earlier ones kept for audit."""
    return await ctx.hub.db.run(SupervisionRepo(ctx.hub.store).weight_history)


# --- targeted inspection ---------------------------------------------------------------------


class EvidenceSpan(msgspec.Struct, forbid_unknown_fields=True):
    start: str
    end: str


class InspectionParams(msgspec.Struct, forbid_unknown_fields=True):
    enterprise_id: str
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    evidence: list[EvidenceSpan] | None = None


@method("inspection.create", params=InspectionParams, roles=DISPATCH_ROLES)
async def inspection_create(ctx: CallContext, params: InspectionParams) -> dict[str, Any]:
    """A targeted verification task for the enterprise's grid officer (or on-duty substitute)."""
    enterprise = _enterprise(ctx, params.enterprise_id)
    hub = ctx.hub
    locator = await hub.locator()
    if locator is None:
        raise MethodError(ErrorCode.NOT_FOUND, "the hub has no world: run 'python -m console seed'")
    found = locate_point(locator, enterprise.lon, enterprise.lat, Datum.WGS84)
    officer = recommend(locator, found, ctx.principal.scope)["grid_officer"]
    if officer is None:
        raise MethodError(
            ErrorCode.BAD_REQUEST,
            f"no on-duty grid officer in district {found.district.adcode} for {enterprise.id}",
        )
    evidence = [{"start": e.start, "end": e.end} for e in params.evidence or []]
    now = utc_now()
    draft = TaskDraft(
        kind=TaskKind.VERIFICATION,
        owner_org_id=found.district.org_id,
        district_adcode=found.district.adcode,
        urgency=Urgency.NORMAL,
        category=_category(enterprise),
        title=f"数据真实性核查：{enterprise.name}"[:200],
        enterprise_id=enterprise.id,
        assignee_officer_id=officer["id"],
        substitute=officer["substitute"],
    )
    deadline = hub.config.sla.deadline_for(draft.kind, draft.category, draft.urgency, now)
    task_id = new_id("T", now)
    outbox = OutboxDraft(
        officer_id=officer["id"],
        kind=OUTBOX_ASSIGNED,
        payload={
            "task_id": task_id,
            "kind": draft.kind.value,
            "title": draft.title,
            "category": draft.category.value,
            "urgency": draft.urgency.value,
            "description": params.reason,
            "lon": enterprise.lon,
            "lat": enterprise.lat,
            "enterprise_id": enterprise.id,
            "deadline": deadline.isoformat(),
            "substitute": draft.substitute,
            "note": params.reason,
            "evidence": evidence,
        },
    )
    audit = audit_entry(
        ctx,
        now,
        "inspection.create",
        task_id=task_id,
        detail={"reason": params.reason, "evidence": evidence},
    )
    repo = DispatchRepo(hub.store)
    record, _entry = await hub.db.run(
        lambda: repo.create_task(
            draft,
            task_id,
            now,
            deadline,
            actor_of(ctx),
            lon=enterprise.lon,
            lat=enterprise.lat,
            grid_id=found.grid.id,
            outbox=outbox,
            audit=audit,
            note=params.reason,
        )
    )
    publish_task(hub, TASK_UPDATED, record)
    return {"task": task_json(record, now)}


# --- double-random draws ---------------------------------------------------------------------


def _register_and_pool(world: World, scope: Scope) -> tuple[list[Enterprise], list[Officer]]:
    return (
        _in_scope(world, scope),
        [o for o in world.officers if scope.covers(o.district_adcode)],
    )


class DrawRunParams(msgspec.Struct, forbid_unknown_fields=True):
    plan: dict[str, Any]


@method("draw.run", params=DrawRunParams, roles=DISPATCH_ROLES)
async def draw_run(ctx: CallContext, params: DrawRunParams) -> dict[str, Any]:
    """Draw over the scope's register and inspector pool; one inspection task per selection.

    The record and all its tasks are stored in one transaction: all of them or none.

    The inspectors of each enterprise's latest draw by the same organisation are added to the
    plan's ``previous`` (they may not go twice running), so the record replays exactly.
    """
    hub = ctx.hub
    world = _world(hub)
    scope = ctx.principal.scope
    try:
        plan = DrawPlan.from_json(params.plan)
    except DrawError as exc:
        raise MethodError(ErrorCode.BAD_REQUEST, str(exc)) from None
    outside = sorted(set(plan.pool_districts) - scope.districts)
    if outside:
        raise MethodError(
            ErrorCode.OUT_OF_SCOPE,
            f"pool districts {outside} are outside your organisation's scope",
        )
    repo = SupervisionRepo(hub.store)
    previous = await hub.db.run(repo.previous_assignments, scope.org_id)
    plan = plan.with_previous(previous)
    register, pool = _register_and_pool(world, scope)
    now = utc_now()
    try:
        record = run_draw(plan, register, pool, now=now)
    except DrawError as exc:
        raise MethodError(ErrorCode.BAD_REQUEST, str(exc)) from None
    by_id = {e.id: e for e in register}
    officers = {o.id: o for o in world.officers}
    districts = {d.adcode: d for d in world.districts}
    squads = {s.id: s for s in world.squads}
    draw_id = new_id("D", now)
    policy = hub.config.sla
    actor = actor_of(ctx)
    tasks = []
    for selection in record.selections:
        enterprise = by_id[selection.enterprise_id]
        squad_id = next(
            (
                officers[i.officer_id].squad_id
                for i in selection.inspectors
                if officers[i.officer_id].squad_id in squads
            ),
            None,
        )
        draft = TaskDraft(
            kind=TaskKind.ENFORCEMENT,
            owner_org_id=districts[enterprise.district_adcode].org_id,
            district_adcode=enterprise.district_adcode,
            urgency=Urgency.NORMAL,
            category=_category(enterprise),
            title=f"双随机检查：{enterprise.name}"[:200],
            enterprise_id=enterprise.id,
            assignee_squad_id=squad_id,
        )
        task_id = new_id("T", now)
        deadline = policy.deadline_for(draft.kind, draft.category, draft.urgency, now)
        inspectors = [i.officer_id for i in selection.inspectors]
        tasks.append(
            DrawTask(
                task=create_task(draft, task_id, now, deadline),
                actor=actor,
                lon=enterprise.lon,
                lat=enterprise.lat,
                grid_id=enterprise.grid_id,
                audit=audit_entry(
                    ctx,
                    now,
                    "draw.run",
                    task_id=task_id,
                    detail={"draw_id": draw_id, "inspectors": inspectors},
                ),
                note=f"{record.plan.name}: {', '.join(inspectors)}",
            )
        )
    record_json = record.to_json()
    stored = await hub.db.run(
        lambda: repo.add_draw(
            draw_id, record_json, scope.org_id, ctx.principal.user.username, now, tasks
        )
    )
    for task_record in stored:
        publish_task(hub, TASK_UPDATED, task_record)
    task_ids = [t.task.id for t in tasks]
    return {"draw_id": draw_id, "record": record_json, "tasks": task_ids}


class DrawVerifyParams(msgspec.Struct, forbid_unknown_fields=True):
    record: dict[str, Any]


@method("draw.verify", params=DrawVerifyParams)
async def draw_verify(ctx: CallContext, params: DrawVerifyParams) -> dict[str, Any]:
    """Re-run a record on the register and pool it was drawn from; list every disagreement.

    A record this hub published is replayed over the scope of the organisation that ran it
    (the caller must see all of it) and compared with the stored copy; any other record over
    the caller's scope.
    """
    hub = ctx.hub
    world = _world(hub)
    try:
        record = DrawRecord.from_json(params.record)
    except DrawError as exc:
        raise MethodError(ErrorCode.BAD_REQUEST, str(exc)) from None
    stored = await hub.db.run(SupervisionRepo(hub.store).draw_by_digest, record.record_digest)
    scope = ctx.principal.scope
    if stored is not None:
        scope = scope_for(world, stored["org_id"])
        if not scope.districts <= ctx.principal.scope.districts:
            raise MethodError(
                ErrorCode.OUT_OF_SCOPE,
                f"draw {stored['id']} was run for districts outside your organisation's scope",
            )
    register, pool = _register_and_pool(world, scope)
    result = verify(record, register, pool)
    differences = [d.to_json() for d in result.differences]
    if stored is not None and canonical_json(stored["record"]) != canonical_json(params.record):
        differences.append(
            {
                "field": "published",
                "detail": (
                    f"differs from draw {stored['id']} as published on {stored['created_at']}"
                ),
            }
        )
    return {
        "equal": not differences,
        "differences": differences,
        "draw_id": None if stored is None else stored["id"],
    }


# --- leader dashboard ------------------------------------------------------------------------


class DashboardParams(msgspec.Struct, forbid_unknown_fields=True):
    days: Literal[30, 90] = 30


@method("dashboard.districts", params=DashboardParams)
async def dashboard_districts(ctx: CallContext, params: DashboardParams) -> dict[str, Any]:
    """Per district in scope over the last ``days``: cases, speed, data quality; daily trend."""
    hub = ctx.hub
    world = _world(hub)
    scope = ctx.principal.scope
    now = utc_now()
    since = now - timedelta(days=params.days)
    districts = sorted(scope.districts)
    repo = SupervisionRepo(hub.store)
    figures, trend = await hub.db.run(repo.district_dashboard, districts, since, now)
    day_start = now.astimezone(CHINA_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    tasks = await hub.db.run(
        DispatchRepo(hub.store).district_figures,
        districts,
        sorted(scope.owned),
        now,
        day_start.astimezone(UTC),
    )
    task_figures = {f.adcode: f for f in tasks}
    names = {d.adcode: d.name for d in world.districts}
    enterprises = _in_scope(world, scope)
    ranking = _ranked(enterprises, await scope_scores(hub, enterprises, 30))
    return {
        "generated_at": now.isoformat(),
        "days": params.days,
        "districts": [
            {
                "adcode": f.adcode,
                "name": names.get(f.adcode, f.adcode),
                "complaints_received": f.complaints_received,
                "complaints_closed": f.complaints_closed,
                "open": task_figures[f.adcode].open_cases,
                "overdue": task_figures[f.adcode].overdue_cases,
                "median_verification_s": task_figures[f.adcode].median_verification_s,
                "median_closure_s": f.median_closure_s,
                "by_category": f.by_category,
                "transmission_rate": f.transmission_rate,
                "compliance_rate": f.compliance_rate,
            }
            for f in figures
        ],
        "trend": trend,
        "enterprise_ranking": [
            {"enterprise_id": r["enterprise_id"], "name": r["name"], "score": r["score"]}
            for r in ranking[:DASHBOARD_RANKING]
        ],
    }
