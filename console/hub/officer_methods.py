"""Console-link methods about field officers: the live roster, enrolment and revocation.

The roster joins three sources the hub already has: the world (who the officers are and
their duty), the field link (who is connected right now, the freshest fixes not yet
flushed) and the store (latest stored fix, token use, open tasks). Enrolment issues the
token through ``FieldRepo.issue_token``, the same function ``python -m console officer
token`` uses, and wraps it in the ``/field/#token=…`` link the phone opens from a QR code.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Annotated, Any, Protocol, runtime_checkable
from urllib.parse import quote, urlsplit

import msgspec
from websockets.asyncio.server import ServerConnection

from console.core.model import Officer, Role
from console.core.tasks import TaskState
from console.hub.field_link import FIELD_LINKS, FieldLink
from console.hub.protocol import ErrorCode
from console.hub.registry import MethodError, NoParams, method
from console.hub.state import CallContext, HubState, utc_now
from console.hub.static import FIELD_PREFIX
from console.store.dispatch_repo import DispatchRepo, TaskRecord
from console.store.field_repo import Fix, TokenInfo, UnknownOfficerError

MAX_TTL_DAYS = 3650
# Open task queues of the board whose tasks can be an officer's current job.
OPEN_QUEUES = ("new", "awaiting_ack", "in_progress")
OPEN_TASKS_LIMIT = 100_000
# An officer's current task is the one furthest along (on site beats en route …).
CURRENT_TASK_ORDER: dict[TaskState, int] = {
    TaskState.ON_SITE: 0,
    TaskState.EN_ROUTE: 1,
    TaskState.ACCEPTED: 2,
    TaskState.DELIVERED: 3,
    TaskState.ASSIGNED: 4,
}


@runtime_checkable
class _WebsocketConnection(Protocol):
    """A console connection that exposes its socket (the hub's ``ConsoleConnection``)."""

    websocket: ServerConnection


def _field_link(hub: HubState) -> FieldLink:
    link = FIELD_LINKS.get(id(hub))
    if link is None:
        raise MethodError(ErrorCode.NOT_FOUND, "this hub has no field link")
    return link


def _officer_in_scope(ctx: CallContext, officer_id: str) -> Officer:
    world = ctx.hub.world
    officer = (
        None if world is None else next((o for o in world.officers if o.id == officer_id), None)
    )
    if officer is None:
        raise MethodError(ErrorCode.NOT_FOUND, f"no officer {officer_id!r} in the hub's world")
    if not ctx.principal.scope.covers(officer.district_adcode):
        raise MethodError(ErrorCode.OUT_OF_SCOPE, f"officer {officer_id!r} is outside your scope")
    return officer


# --- officers.roster -------------------------------------------------------------------------


def current_tasks(records: Iterable[TaskRecord], officers: Iterable[Officer]) -> dict[str, str]:
    """officer id -> the open task they are most likely working on now.

    A task assigned to an officer counts for that officer; a squad task counts for every
    member of the squad who has no task of their own.
    """
    best: dict[str, tuple[int, datetime, str]] = {}
    by_squad: dict[str, tuple[int, datetime, str]] = {}
    for record in records:
        task = record.task
        rank = CURRENT_TASK_ORDER.get(task.state)
        if rank is None:
            continue
        key = (rank, task.deadline, task.id)
        if task.assignee_officer_id is not None:
            _keep_best(best, task.assignee_officer_id, key)
        elif task.assignee_squad_id is not None:
            _keep_best(by_squad, task.assignee_squad_id, key)
    result = {officer_id: key[2] for officer_id, key in best.items()}
    for officer in officers:
        if officer.id not in result and officer.squad_id in by_squad:
            result[officer.id] = by_squad[officer.squad_id][2]
    return result


def _keep_best(
    best: dict[str, tuple[int, datetime, str]], owner: str, key: tuple[int, datetime, str]
) -> None:
    current = best.get(owner)
    if current is None or key < current:
        best[owner] = key


def roster_rows(
    officers: Iterable[Officer],
    online: dict[str, float | None],
    fixes: dict[str, Fix],
    tokens: Iterable[TokenInfo],
    tasks: dict[str, str],
    now: datetime,
) -> list[dict[str, Any]]:
    """One row per officer; ``online`` maps connected officers to their last battery level."""
    token_use: dict[str, datetime] = {}
    for info in tokens:
        used = info.last_used_at
        if used is not None and (
            info.officer_id not in token_use or used > token_use[info.officer_id]
        ):
            token_use[info.officer_id] = used
    rows = []
    for officer in sorted(officers, key=lambda o: o.id):
        fix = fixes.get(officer.id)
        seen = [t for t in (fix.ts if fix else None, token_use.get(officer.id)) if t is not None]
        is_online = officer.id in online
        last_seen = now if is_online else max(seen, default=None)
        battery = online.get(officer.id) if is_online else None
        if battery is None and fix is not None:
            battery = fix.battery
        rows.append(
            {
                "officer_id": officer.id,
                "name": officer.name,
                "role": officer.role.value,
                "district_adcode": officer.district_adcode,
                "grid_id": officer.grid_id,
                "squad_id": officer.squad_id,
                "duty": officer.duty.value,
                "online": is_online,
                "last_seen": None if last_seen is None else last_seen.isoformat(),
                "battery": battery,
                "lon": None if fix is None else fix.lon,
                "lat": None if fix is None else fix.lat,
                "current_task_id": tasks.get(officer.id),
            }
        )
    return rows


@method("officers.roster", params=NoParams)
async def officers_roster(ctx: CallContext, params: NoParams) -> list[dict[str, Any]]:
    """Every officer in the caller's scope with presence, last fix, battery and current task."""
    hub = ctx.hub
    if hub.world is None:
        raise MethodError(ErrorCode.NOT_FOUND, "the hub has no world: run 'python -m console seed'")
    link = _field_link(hub)
    scope = ctx.principal.scope
    officers = [o for o in hub.world.officers if scope.covers(o.district_adcode)]
    districts = sorted(scope.districts)
    owners = sorted(scope.owned)
    now = utc_now()
    dispatch = DispatchRepo(hub.store)

    def load() -> tuple[list[Fix], list[TokenInfo], list[TaskRecord]]:
        records = [
            record
            for queue in OPEN_QUEUES
            for record in dispatch.board(queue, districts, owners, now, now, limit=OPEN_TASKS_LIMIT)
        ]
        return link.repo.latest_positions(), link.repo.list_tokens(), records

    stored, tokens, records = await hub.db.run(load)
    fixes = {fix.officer_id: fix for fix in stored}
    for officer_id, fix in link.latest.items():  # received but maybe not flushed yet
        if officer_id not in fixes or fix.ts >= fixes[officer_id].ts:
            fixes[officer_id] = fix
    online = {officer_id: entry.battery for officer_id, entry in link.online.items()}
    return roster_rows(officers, online, fixes, tokens, current_tasks(records, officers), now)


# --- officer.enrol / officer.revoke ----------------------------------------------------------


class EnrolParams(msgspec.Struct, forbid_unknown_fields=True):
    officer_id: str
    ttl_days: Annotated[int, msgspec.Meta(ge=1, le=MAX_TTL_DAYS)] | None = None
    # The address phones use to reach the hub (e.g. "https://10.0.0.5:8765"); default: the
    # address this console used.
    base_url: str | None = None


def _base_url(ctx: CallContext, given: str | None) -> str:
    """``scheme://host[:port]`` of the hub as phones should open it."""
    if given is not None:
        parts = urlsplit(given)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise MethodError(
                ErrorCode.BAD_REQUEST,
                f"base_url must look like https://host:port, got {given!r}",
            )
        return f"{parts.scheme}://{parts.netloc}"
    scheme = "http" if ctx.hub.config.tls is None else "https"
    connection = ctx.connection
    host: str | None = None
    if isinstance(connection, _WebsocketConnection) and connection.websocket.request is not None:
        host = connection.websocket.request.headers.get("Host")
    if not host:
        config = ctx.hub.config
        host = f"[{config.host}]" if ":" in config.host else config.host
        if config.port:
            host = f"{host}:{config.port}"
    return f"{scheme}://{host}"


@method("officer.enrol", params=EnrolParams, roles={Role.ADMIN, Role.DISPATCHER})
async def officer_enrol(ctx: CallContext, params: EnrolParams) -> dict[str, Any]:
    """A new device token for an officer in scope, with the link a phone enrols from."""
    officer = _officer_in_scope(ctx, params.officer_id)
    base = _base_url(ctx, params.base_url)
    repo = _field_link(ctx.hub).repo
    ttl = None if params.ttl_days is None else timedelta(days=params.ttl_days)
    try:
        issued = await ctx.hub.db.run(repo.issue_token, officer.id, utc_now(), ttl)
    except UnknownOfficerError as exc:
        raise MethodError(ErrorCode.NOT_FOUND, str(exc)) from None
    result: dict[str, Any] = {
        "officer_id": issued.officer_id,
        "token_id": issued.token_id,
        "token": issued.token,
        "expires_at": None if issued.expires_at is None else issued.expires_at.isoformat(),
        "enrol_url": f"{base}{FIELD_PREFIX}#token={quote(issued.token, safe='')}",
    }
    fingerprint = ctx.hub.config.tls_fingerprint_sha256
    if ctx.hub.config.tls is not None and fingerprint:
        result["tls_fingerprint_sha256"] = fingerprint
    return result


class RevokeParams(msgspec.Struct, forbid_unknown_fields=True):
    officer_id: str


@method("officer.revoke", params=RevokeParams, roles={Role.ADMIN})
async def officer_revoke(ctx: CallContext, params: RevokeParams) -> dict[str, Any]:
    """Revoke every token of an officer in scope; their devices are refused from now on and
    their open connections close (4401) at once."""
    officer = _officer_in_scope(ctx, params.officer_id)
    link = _field_link(ctx.hub)
    repo = link.repo
    revoked = await ctx.hub.db.run(lambda: repo.revoke(utc_now(), officer_id=officer.id))
    link.revoked(revoked)
    return {"officer_id": officer.id, "revoked": revoked}
