"""Console-link methods of emergency incidents: open, link, task, order, ack, close, get, list.

Roles (``console.core.incident.roles_with``): commanders and admins act (open, order,
acknowledge, close), dispatchers may add (link members, create tasks for the incident),
leaders read. Scope: an incident belongs to the district it was opened in; a console sees
it, and its ``incident.updated`` events, only when that district is in its scope. Members are
checked against the caller's scope when linked. New tasks go through
``DispatchRepo.create_task`` - the same transaction (task, first event, outbox, audit) as
``task.dispatch`` - and are then linked, so an incident never creates tasks another way.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from console.core.complaints import Category, Urgency
from console.core.geo import Datum
from console.core.incident import (
    DEFAULT_CAMERA_RADIUS_M,
    MAX_ORDER_TEXT,
    MAX_SUMMARY,
    MAX_TITLE,
    Incident,
    IncidentClosedError,
    IncidentDetail,
    IncidentError,
    IncidentLevel,
    IncidentStatus,
    MemberKind,
    Permission,
    check_title,
    parse_level,
    parse_member_kind,
    propose_cameras,
    require_open,
    roles_with,
    timeline,
)
from console.core.model import OfficerRole, World
from console.core.tasks import OUTBOX_ASSIGNED, Actor, ActorRole, TaskDraft, TaskKind
from console.hub.dispatch_methods import (
    TASK_UPDATED,
    locate_point,
    new_id,
    publish_task,
    task_json,
    task_visible,
)
from console.hub.protocol import ErrorCode
from console.hub.registry import MethodError, method
from console.hub.state import CallContext, HubState, utc_now
from console.store import StoreError, camera_repo
from console.store.camera_repo import Camera
from console.store.dispatch_repo import (
    AuditEntry,
    DispatchRepo,
    OutboxDraft,
    TaskRecord,
)
from console.store.incident_repo import IncidentRepo, UnknownIncidentError

INCIDENT_UPDATED = "incident.updated"

READERS = roles_with(Permission.READ)
ADDERS = roles_with(Permission.ADD)
ACTORS = roles_with(Permission.ACT)

# A more serious incident makes its tasks more urgent (and their SLA deadlines shorter).
_TASK_URGENCY = {
    IncidentLevel.GENERAL: Urgency.URGENT,
    IncidentLevel.LARGER: Urgency.CRITICAL,
    IncidentLevel.MAJOR: Urgency.CRITICAL,
    IncidentLevel.ESPECIALLY_MAJOR: Urgency.CRITICAL,
}

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TITLE)]
Lon = Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)]
Lat = Annotated[float, msgspec.Meta(ge=-90.0, le=90.0)]


class OpenParams(msgspec.Struct, forbid_unknown_fields=True):
    title: Title
    level: str
    lon: Lon
    lat: Lat
    crs: str = Datum.WGS84.value
    address: Annotated[str, msgspec.Meta(max_length=200)] = ""


class IncidentIdParams(msgspec.Struct, forbid_unknown_fields=True):
    incident_id: str


class ListParams(msgspec.Struct, forbid_unknown_fields=True):
    status: str = "open"


class LinkParams(msgspec.Struct, forbid_unknown_fields=True):
    incident_id: str
    kind: str
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class TaskParams(msgspec.Struct, forbid_unknown_fields=True):
    incident_id: str
    title: Title
    squad_id: str | None = None
    officer_id: str | None = None
    category: str = Category.OTHER.value
    enterprise_id: str | None = None
    note: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class OrderParams(msgspec.Struct, forbid_unknown_fields=True):
    incident_id: str
    to: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ORDER_TEXT)]


class AckParams(msgspec.Struct, forbid_unknown_fields=True):
    incident_id: str
    seq: Annotated[int, msgspec.Meta(ge=1)]


class CloseParams(msgspec.Struct, forbid_unknown_fields=True):
    incident_id: str
    summary: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SUMMARY)]


# --- helpers ----------------------------------------------------------------------------------


def _world(hub: HubState) -> World:
    if hub.world is None:
        raise MethodError(ErrorCode.NOT_FOUND, "the hub has no world: run 'python -m console seed'")
    return hub.world


def _rule_error(exc: IncidentError) -> MethodError:
    if isinstance(exc, IncidentClosedError):
        return MethodError(ErrorCode.CONFLICT, str(exc))
    return MethodError(ErrorCode.BAD_REQUEST, str(exc))


async def _store(hub: HubState, fn: Any, *args: Any) -> Any:
    """Run a repository call; rule and store errors become method errors with their reason."""
    try:
        return await hub.db.run(fn, *args)
    except IncidentError as exc:
        raise _rule_error(exc) from None
    except UnknownIncidentError as exc:
        raise MethodError(ErrorCode.NOT_FOUND, str(exc)) from None
    except StoreError as exc:
        raise MethodError(ErrorCode.BAD_REQUEST, str(exc)) from None


async def _visible(ctx: CallContext, incident_id: str) -> IncidentDetail:
    hub = ctx.hub
    detail: IncidentDetail | None = await hub.db.run(IncidentRepo(hub.store).get, incident_id)
    if detail is None:
        raise MethodError(ErrorCode.NOT_FOUND, f"no incident {incident_id!r}")
    if not ctx.principal.scope.covers(detail.incident.district_adcode):
        raise MethodError(
            ErrorCode.OUT_OF_SCOPE,
            f"incident {incident_id} lies in a district outside your organisation's scope",
        )
    return detail


def _load_cameras(hub: HubState) -> Any:
    store = hub.store

    def read() -> list[Camera]:
        with store.session() as session:
            return camera_repo.list_cameras(session)

    return hub.db.run(read)


async def detail_json(ctx: CallContext, detail: IncidentDetail) -> dict[str, Any]:
    """The incident for the board: members with names, orders, timeline, proposed cameras."""
    hub = ctx.hub
    scope = ctx.principal.scope
    world = hub.world
    cameras: list[Camera] = await _load_cameras(hub)
    visible_cameras = [c for c in cameras if scope.covers(c.district_adcode)]
    camera_by_id = {c.id: c for c in cameras}
    linked_cameras = detail.member_ids(MemberKind.CAMERA)
    distances = {
        p.camera_id: p.distance_m
        for p in propose_cameras(
            detail.incident.lon,
            detail.incident.lat,
            [(c.id, c.lon, c.lat) for c in cameras if c.id in linked_cameras],
            radius_m=float("inf"),
            limit=len(linked_cameras),
        )
    }
    task_ids = detail.member_ids(MemberKind.TASK)
    repo = DispatchRepo(hub.store)
    tasks: dict[str, TaskRecord | None] = {
        task_id: await hub.db.run(repo.get_task, task_id) for task_id in task_ids
    }
    officers = {} if world is None else {o.id: o for o in world.officers}
    squads = {} if world is None else {s.id: s for s in world.squads}
    now = utc_now()
    members: list[dict[str, Any]] = []
    for member in detail.members:
        row = member.to_json()
        if member.kind is MemberKind.TASK:
            record = tasks.get(member.member_id)
            visible = record is not None and task_visible(scope, record)
            row["name"] = record.task.title if record is not None and visible else member.member_id
            row["task"] = task_json(record, now) if record is not None and visible else None
        elif member.kind is MemberKind.SQUAD:
            squad = squads.get(member.member_id)
            row["name"] = squad.name if squad is not None else member.member_id
        elif member.kind is MemberKind.OFFICER:
            officer = officers.get(member.member_id)
            row["name"] = officer.name if officer is not None else member.member_id
            row["squad_id"] = None if officer is None else officer.squad_id
        else:
            camera = camera_by_id.get(member.member_id)
            row["name"] = camera.name if camera is not None else member.member_id
            row["online"] = None if camera is None else camera.online
            row["enterprise_id"] = None if camera is None else camera.enterprise_id
            row["distance_m"] = distances.get(member.member_id)
        members.append(row)
    proposals = (
        []
        if detail.incident.status is IncidentStatus.CLOSED
        else propose_cameras(
            detail.incident.lon,
            detail.incident.lat,
            [(c.id, c.lon, c.lat) for c in visible_cameras],
            radius_m=DEFAULT_CAMERA_RADIUS_M,
            exclude=linked_cameras,
        )
    )
    return {
        "incident": detail.incident.to_json(),
        "members": members,
        "orders": [o.to_json() for o in detail.orders],
        "timeline": timeline(detail),
        "proposed_cameras": [
            {
                "id": p.camera_id,
                "name": camera_by_id[p.camera_id].name,
                "enterprise_id": camera_by_id[p.camera_id].enterprise_id,
                "distance_m": p.distance_m,
            }
            for p in proposals
        ],
    }


def _publish(hub: HubState, incident: Incident, change: dict[str, Any]) -> None:
    """``incident.updated`` to the consoles whose scope covers the incident's district."""
    hub.bus.publish(
        INCIDENT_UPDATED,
        {"incident": incident.to_json(), "change": change},
        district_adcode=incident.district_adcode,
    )


# --- methods ----------------------------------------------------------------------------------


@method("incident.open", params=OpenParams, roles=ACTORS)
async def incident_open(ctx: CallContext, params: OpenParams) -> dict[str, Any]:
    """Open an incident at a point; its district (and so its audience) comes from the point."""
    hub = ctx.hub
    try:
        title = check_title(params.title)
        level = parse_level(params.level)
    except IncidentError as exc:
        raise _rule_error(exc) from None
    try:
        datum = Datum(params.crs.lower())
    except ValueError:
        known = ", ".join(d.value for d in Datum)
        raise MethodError(
            ErrorCode.BAD_REQUEST, f"unknown crs {params.crs!r}; expected one of: {known}"
        ) from None
    locator = await hub.locator()
    if locator is None:
        raise MethodError(ErrorCode.NOT_FOUND, "the hub has no world: run 'python -m console seed'")
    found = locate_point(locator, params.lon, params.lat, datum)
    if not ctx.principal.scope.covers(found.district.adcode):
        raise MethodError(
            ErrorCode.OUT_OF_SCOPE, "the point lies in a district outside your organisation's scope"
        )
    now = utc_now()
    incident = Incident(
        id=new_id("E", now),
        title=title,
        level=level,
        lon=found.lon,
        lat=found.lat,
        address=params.address.strip(),
        district_adcode=found.district.adcode,
        status=IncidentStatus.OPEN,
        opened_at=now,
        opened_by=ctx.principal.user.username,
    )
    detail: IncidentDetail = await _store(hub, IncidentRepo(hub.store).open, incident)
    _publish(hub, incident, {"kind": "opened", "by": incident.opened_by})
    return await detail_json(ctx, detail)


@method("incident.get", params=IncidentIdParams, roles=READERS)
async def incident_get(ctx: CallContext, params: IncidentIdParams) -> dict[str, Any]:
    return await detail_json(ctx, await _visible(ctx, params.incident_id))


@method("incident.list", params=ListParams, roles=READERS)
async def incident_list(ctx: CallContext, params: ListParams) -> list[dict[str, Any]]:
    """Incidents in the caller's scope, newest first; status "open" (default), "closed", "all"."""
    if params.status not in ("open", "closed", "all"):
        raise MethodError(
            ErrorCode.BAD_REQUEST,
            f"unknown status {params.status!r}; expected one of: open, closed, all",
        )
    status = None if params.status == "all" else IncidentStatus(params.status)
    hub = ctx.hub
    scope = ctx.principal.scope
    incidents: list[Incident] = await hub.db.run(
        lambda: IncidentRepo(hub.store).list(status, scope.districts)
    )
    return [incident.to_json() for incident in incidents]


@method("incident.link", params=LinkParams, roles=ADDERS)
async def incident_link(ctx: CallContext, params: LinkParams) -> dict[str, Any]:
    """Link a task, squad, officer or camera (each must be in the caller's scope)."""
    try:
        kind = parse_member_kind(params.kind)
    except IncidentError as exc:
        raise _rule_error(exc) from None
    await _visible(ctx, params.incident_id)
    await _check_member(ctx, kind, params.id)
    return await _link(ctx, params.incident_id, kind, params.id)


async def _link(
    ctx: CallContext, incident_id: str, kind: MemberKind, member_id: str
) -> dict[str, Any]:
    hub = ctx.hub
    user = ctx.principal.user.username
    detail, added = await _store(
        hub, IncidentRepo(hub.store).link, incident_id, kind, member_id, utc_now(), user
    )
    if added:
        _publish(
            hub,
            detail.incident,
            {"kind": "linked", "by": user, "member_kind": kind.value, "member_id": member_id},
        )
    return await detail_json(ctx, detail)


async def _check_member(ctx: CallContext, kind: MemberKind, member_id: str) -> None:
    hub = ctx.hub
    scope = ctx.principal.scope
    district: str | None
    if kind is MemberKind.TASK:
        record = await hub.db.run(DispatchRepo(hub.store).get_task, member_id)
        if record is None:
            raise MethodError(ErrorCode.NOT_FOUND, f"no task {member_id!r}")
        if not task_visible(scope, record):
            raise MethodError(ErrorCode.OUT_OF_SCOPE, f"task {member_id} is outside your scope")
        return
    if kind is MemberKind.CAMERA:
        store = hub.store

        def read() -> Camera | None:
            with store.session() as session:
                return camera_repo.get_camera(session, member_id)

        camera = await hub.db.run(read)
        # Out of scope answers like unknown, as camera.* does: ids must not leak.
        if camera is None or not scope.covers(camera.district_adcode):
            raise MethodError(ErrorCode.NOT_FOUND, f"no camera {member_id!r}")
        return
    world = _world(hub)
    if kind is MemberKind.SQUAD:
        squad = next((s for s in world.squads if s.id == member_id), None)
        if squad is None:
            raise MethodError(ErrorCode.NOT_FOUND, f"no squad {member_id!r}")
        district = squad.district_adcode
    else:
        officer = next((o for o in world.officers if o.id == member_id), None)
        if officer is None:
            raise MethodError(ErrorCode.NOT_FOUND, f"no officer {member_id!r}")
        district = officer.district_adcode
    if not scope.covers(district):
        raise MethodError(ErrorCode.OUT_OF_SCOPE, f"{kind.value} {member_id} is outside your scope")


@method("incident.task", params=TaskParams, roles=ADDERS)
async def incident_task(ctx: CallContext, params: TaskParams) -> dict[str, Any]:
    """Create a task for the incident through the dispatch repository and link it.

    A squad gets an enforcement task; a grid officer gets a verification task pushed to
    their device (outbox) like ``task.dispatch`` does. The task lies at the incident.
    """
    hub = ctx.hub
    if (params.squad_id is None) == (params.officer_id is None):
        raise MethodError(
            ErrorCode.BAD_REQUEST, "name exactly one assignee: squad_id or officer_id"
        )
    try:
        category = Category(params.category)
    except ValueError:
        known = ", ".join(c.value for c in Category)
        raise MethodError(
            ErrorCode.BAD_REQUEST, f"unknown category {params.category!r}; expected one of: {known}"
        ) from None
    detail = await _visible(ctx, params.incident_id)
    try:
        title = check_title(params.title)
        require_open(detail.incident)
    except IncidentError as exc:
        raise _rule_error(exc) from None
    incident = detail.incident
    world = _world(hub)
    assignee = params.squad_id or params.officer_id or ""
    kind = TaskKind.ENFORCEMENT if params.squad_id is not None else TaskKind.VERIFICATION
    await _check_member(
        ctx, MemberKind.SQUAD if kind is TaskKind.ENFORCEMENT else MemberKind.OFFICER, assignee
    )
    if kind is TaskKind.VERIFICATION:
        officer = next(o for o in world.officers if o.id == assignee)
        if officer.role is not OfficerRole.GRID_OFFICER:
            raise MethodError(
                ErrorCode.BAD_REQUEST,
                f"{assignee} is a {officer.role.value}: give the task to their squad instead",
            )
    district = next(d for d in world.districts if d.adcode == incident.district_adcode)
    locator = await hub.locator()
    found = (
        None
        if locator is None
        else locator.locate(incident.lon, incident.lat, datum=Datum.WGS84, squads=0)
    )
    now = utc_now()
    urgency = _TASK_URGENCY[incident.level]
    draft = TaskDraft(
        kind=kind,
        owner_org_id=district.org_id,
        district_adcode=district.adcode,
        urgency=urgency,
        category=category,
        title=title,
        enterprise_id=params.enterprise_id,
        assignee_officer_id=assignee if kind is TaskKind.VERIFICATION else None,
        assignee_squad_id=assignee if kind is TaskKind.ENFORCEMENT else None,
    )
    deadline = hub.config.sla.deadline_for(kind, category, urgency, now)
    task_id = new_id("T", now)
    outbox = (
        OutboxDraft(
            officer_id=assignee,
            kind=OUTBOX_ASSIGNED,
            payload={
                "task_id": task_id,
                "kind": kind.value,
                "title": draft.title,
                "category": category.value,
                "urgency": urgency.value,
                "description": f"{incident.title} ({incident.address})".strip(),
                "lon": incident.lon,
                "lat": incident.lat,
                "enterprise_id": params.enterprise_id,
                "deadline": deadline.isoformat(),
                "substitute": False,
                "note": params.note,
                "incident_id": incident.id,
            },
        )
        if kind is TaskKind.VERIFICATION
        else None
    )
    audit = AuditEntry(
        at=now,
        user=ctx.principal.user.username,
        seat=ctx.principal.seat,
        action="incident.task",
        task_id=task_id,
        detail={"incident_id": incident.id, "assignee": assignee, "note": params.note},
    )
    user = ctx.principal.user
    actor = Actor(user=user.username, seat=ctx.principal.seat, role=ActorRole(user.role.value))
    repo = DispatchRepo(hub.store)
    record, _entry = await hub.db.run(
        lambda: repo.create_task(
            draft,
            task_id,
            now,
            deadline,
            actor,
            lon=incident.lon,
            lat=incident.lat,
            grid_id=None if found is None else found.grid.id,
            outbox=outbox,
            audit=audit,
            note=params.note,
        )
    )
    publish_task(hub, TASK_UPDATED, record)
    result: dict[str, Any] = await _link(ctx, incident.id, MemberKind.TASK, task_id)
    result["task"] = task_json(record, now)
    return result


@method("incident.order", params=OrderParams, roles=ACTORS)
async def incident_order(ctx: CallContext, params: OrderParams) -> dict[str, Any]:
    """Give an order to "all" or a linked squad/officer ("squad:<id>", "officer:<id>")."""
    hub = ctx.hub
    await _visible(ctx, params.incident_id)
    user = ctx.principal.user.username
    detail, order = await _store(
        hub,
        IncidentRepo(hub.store).add_order,
        params.incident_id,
        params.to,
        params.text,
        utc_now(),
        user,
        ctx.principal.seat,
    )
    _publish(hub, detail.incident, {"kind": "order", "by": user, "order": order.to_json()})
    return await detail_json(ctx, detail)


@method("incident.ack", params=AckParams, roles=ACTORS)
async def incident_ack(ctx: CallContext, params: AckParams) -> dict[str, Any]:
    """Record that order ``seq`` was acknowledged (by the calling user, once)."""
    hub = ctx.hub
    await _visible(ctx, params.incident_id)
    user = ctx.principal.user.username
    detail, added = await _store(
        hub, IncidentRepo(hub.store).ack, params.incident_id, params.seq, utc_now(), user
    )
    if added:
        _publish(hub, detail.incident, {"kind": "ack", "by": user, "seq": params.seq})
    return await detail_json(ctx, detail)


@method("incident.close", params=CloseParams, roles=ACTORS)
async def incident_close(ctx: CallContext, params: CloseParams) -> dict[str, Any]:
    """Close with a summary; afterwards the incident is a read-only record."""
    hub = ctx.hub
    await _visible(ctx, params.incident_id)
    user = ctx.principal.user.username
    detail: IncidentDetail = await _store(
        hub, IncidentRepo(hub.store).close, params.incident_id, params.summary, utc_now(), user
    )
    _publish(hub, detail.incident, {"kind": "closed", "by": user})
    return await detail_json(ctx, detail)
