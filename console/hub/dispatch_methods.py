"""Console-link methods of dispatch: complaints, tasks, the board, district figures, audit.

Scope: a complaint is visible when its district is in the caller's scope; a task when its
district is and its owning organisation is the caller's organisation or below it, so a
hand-over up the tree takes the task off the county's board. The state machine is
``console.core.tasks``; storage and its transactions are ``console.store.dispatch_repo``.
Events ``complaint.created`` and ``task.updated`` carry the district for scope filtering.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any

import msgspec

from console.core.complaints import (
    Category,
    Channel,
    Complaint,
    DuplicateReason,
    Urgency,
    find_duplicates,
    mask_name,
    mask_phone,
)
from console.core.geo import Datum
from console.core.locate import LocateResult, Locator
from console.core.model import Officer, OfficerRole, Role, World
from console.core.sla import SlaPolicy, clock_running, is_overdue
from console.core.tasks import (
    OUTBOX_ASSIGNED,
    OUTBOX_CANCELLED,
    Action,
    Actor,
    ActorRole,
    Forbidden,
    IllegalTransition,
    InvalidPayload,
    TaskDraft,
    TaskEvent,
    TaskKind,
    allowed_actions,
)
from console.hub.events import EventBus
from console.hub.protocol import ErrorCode
from console.hub.registry import ALL_ROLES, MethodError, NoParams, method
from console.hub.scope import Scope
from console.hub.state import CallContext, HubState, utc_now
from console.store.dispatch_repo import (
    AuditEntry,
    DispatchRepo,
    OutboxDraft,
    OutboxEntry,
    StaleTask,
    TaskRecord,
)
from console.store.field_repo import FieldRepo

COMPLAINT_CREATED = "complaint.created"
TASK_UPDATED = "task.updated"
OUTBOX_NEW = "outbox.new"
"""Internal: wakes the field link's delivery for an officer (``{officer_id}``)."""
TASK_OVERDUE = "task.overdue"

NEAREST_SQUADS = 3
BOARD_QUEUES = ("new", "awaiting_ack", "in_progress", "overdue", "closed_today", "all")
# "Today" for the figures is the centre's calendar day (China Standard Time).
CENTRE_TZ = timezone(timedelta(hours=8))
REVEAL_ROLES = frozenset({Role.ADMIN, Role.DISPATCHER, Role.COMMANDER})
DISPATCH_ROLES = frozenset({Role.ADMIN, Role.DISPATCHER, Role.COMMANDER})
_DUPLICATE_REASONS = {
    DuplicateReason.NEARBY_SAME_CATEGORY: "nearby_same_category",
    DuplicateReason.SAME_ENTERPRISE_OPEN_CASE: "same_enterprise_open",
}

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]
ShortText = Annotated[str, msgspec.Meta(max_length=200)]


# --- helpers shared with the SLA watcher and the intake API --------------------------------------


def new_id(prefix: str, at: datetime) -> str:
    """Readable, unique without coordination between hub processes: C20261128-093012-a1b2c3."""
    return f"{prefix}{at.astimezone(CENTRE_TZ):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def task_json(record: TaskRecord, now: datetime) -> dict[str, Any]:
    task = record.task
    return {
        "id": task.id,
        "kind": task.kind.value,
        "state": task.state.value,
        "version": task.version,
        "complaint_id": task.complaint_id,
        "enterprise_id": task.enterprise_id,
        "assignee_officer_id": task.assignee_officer_id,
        "assignee_squad_id": task.assignee_squad_id,
        "owner_org_id": task.owner_org_id,
        "district_adcode": task.district_adcode,
        "grid_id": record.grid_id,
        "urgency": task.urgency.value,
        "category": task.category.value,
        "title": task.title,
        "created_at": task.created_at.isoformat(),
        "deadline": task.deadline.isoformat(),
        "overdue": is_overdue(task, now),
        "lon": record.lon,
        "lat": record.lat,
        "substitute": task.substitute,
        "parent_task_id": task.parent_task_id,
        "delivered_at": _iso(record.delivered_at),
        "acked_at": _iso(record.acked_at),
        "findings": task.findings,
        "updated_at": _iso(task.updated_at),
        "allowed_actions": [a.value for a in allowed_actions(task.kind, task.state)],
    }


def complaint_json(complaint: Complaint, reveal: bool = False) -> dict[str, Any]:
    """A complaint for consoles; reporter name and phone masked unless ``reveal``."""
    return {
        "id": complaint.id,
        "channel": complaint.channel.value,
        "category": complaint.category.value,
        "urgency": complaint.urgency.value,
        "reporter_name": (
            complaint.reporter_name if reveal else mask_name(complaint.reporter_name)
        ),
        "reporter_phone": (
            complaint.reporter_phone if reveal else _mask_phone(complaint.reporter_phone)
        ),
        "description": complaint.description,
        "lon": complaint.lon,
        "lat": complaint.lat,
        "received_at": complaint.received_at.isoformat(),
        "enterprise_id": complaint.enterprise_id,
        "district_adcode": complaint.district_adcode,
        "grid_id": complaint.grid_id,
        "merged_into": complaint.merged_into,
        "external_ref": complaint.external_ref,
    }


def publish_complaint(bus: EventBus, complaint: Complaint) -> None:
    """Tell the consoles of the complaint's district about a new complaint (contact masked)."""
    bus.publish(
        COMPLAINT_CREATED,
        {"complaint": complaint_json(complaint)},
        district_adcode=complaint.district_adcode,
    )


def _mask_phone(phone: str) -> str:
    try:
        return mask_phone(phone)
    except ValueError:  # not a phone number (free text from an intake system): hide it all
        return "*" * len(phone)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def task_visible(scope: Scope, task: TaskRecord) -> bool:
    """The same rule as for task events (``Scope.sees``): district and owning organisation."""
    return scope.sees(task.task.district_adcode, task.task.owner_org_id)


def publish_task(
    hub: HubState, topic: str, record: TaskRecord, note: Mapping[str, Any] | None = None
) -> None:
    """Tell the consoles that may see the task; ``note``: a timeline entry that left the
    version unchanged (an officer's report), so timelines know to reload."""
    data: dict[str, Any] = {"task": task_json(record, utc_now())}
    if note is not None:
        data["note"] = dict(note)
    hub.bus.publish(
        topic,
        data,
        district_adcode=record.task.district_adcode,
        owner_org_id=record.task.owner_org_id,
    )


def locate_point(locator: Locator, lon: float, lat: float, datum: Datum) -> LocateResult:
    try:
        found = locator.locate(lon, lat, datum=datum, squads=len(locator.squads))
    except ValueError as exc:
        raise MethodError(ErrorCode.BAD_REQUEST, str(exc)) from None
    if found is None:
        raise MethodError(
            ErrorCode.BAD_REQUEST, "the point lies outside the jurisdiction (no grid contains it)"
        )
    return found


def recommend(locator: Locator, found: LocateResult, scope: Scope | None) -> dict[str, Any]:
    """The grid officer (or the nearest on-duty substitute) and the nearest squads."""
    officer = found.grid_officer
    grid_officer: dict[str, Any] | None = None
    if officer is not None and officer.duty.value == "on_duty":
        grid_officer = _officer_json(officer, substitute=False, distance_m=0.0)
    else:
        nearest = locator.nearest_on_duty_grid_officer(found.lon, found.lat, found.district.adcode)
        if nearest is not None:
            grid_officer = _officer_json(
                nearest.officer, substitute=True, distance_m=nearest.distance_m
            )
    squads = [s for s in found.squads if scope is None or scope.covers(s.squad.district_adcode)][
        :NEAREST_SQUADS
    ]
    return {
        "grid_officer": grid_officer,
        "squads": [
            {
                "id": s.squad.id,
                "name": s.squad.name,
                "distance_m": s.distance_m,
                "available": s.squad.available,
            }
            for s in squads
        ],
    }


def _officer_json(officer: Officer, *, substitute: bool, distance_m: float) -> dict[str, Any]:
    return {
        "id": officer.id,
        "name": officer.name,
        "phone": officer.phone,
        "duty": officer.duty.value,
        "substitute": substitute,
        "distance_m": distance_m,
    }


async def _locator(hub: HubState) -> Locator:
    locator = await hub.locator()
    if locator is None:
        raise MethodError(ErrorCode.NOT_FOUND, "the hub has no world: run 'python -m console seed'")
    return locator


def _enum(enum: type[Any], value: str, what: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        known = ", ".join(m.value for m in enum)
        raise MethodError(
            ErrorCode.BAD_REQUEST, f"unknown {what} {value!r}; expected one of: {known}"
        ) from None


def _since(value: str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise MethodError(
            ErrorCode.BAD_REQUEST, f"{what} must be an ISO 8601 time, got {value!r}"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _day_start(now: datetime) -> datetime:
    local = now.astimezone(CENTRE_TZ)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def actor_of(ctx: CallContext) -> Actor:
    """The calling console user as the state machine's actor."""
    user = ctx.principal.user
    return Actor(user=user.username, seat=ctx.principal.seat, role=ActorRole(user.role.value))


def audit_entry(ctx: CallContext, at: datetime, action: str, **fields: Any) -> AuditEntry:
    """An audit-log entry for what the calling console user did."""
    return AuditEntry(
        at=at, user=ctx.principal.user.username, seat=ctx.principal.seat, action=action, **fields
    )


async def visible_complaint(ctx: CallContext, complaint_id: str) -> Complaint:
    """The complaint, if it exists and lies in the caller's scope (else a method error)."""
    hub = ctx.hub
    complaint = await hub.db.run(DispatchRepo(hub.store).get_complaint, complaint_id)
    if complaint is None:
        raise MethodError(ErrorCode.NOT_FOUND, f"no complaint {complaint_id!r}")
    if complaint.district_adcode is None or not ctx.principal.scope.covers(
        complaint.district_adcode
    ):
        raise MethodError(
            ErrorCode.OUT_OF_SCOPE, f"complaint {complaint_id} is outside your organisation's scope"
        )
    return complaint


async def _visible_task(ctx: CallContext, task_id: str) -> TaskRecord:
    hub = ctx.hub
    record = await hub.db.run(DispatchRepo(hub.store).get_task, task_id)
    if record is None:
        raise MethodError(ErrorCode.NOT_FOUND, f"no task {task_id!r}")
    if not task_visible(ctx.principal.scope, record):
        raise MethodError(
            ErrorCode.OUT_OF_SCOPE, f"task {task_id} belongs to an organisation outside your scope"
        )
    return record


# --- complaints ---------------------------------------------------------------------------


class ComplaintCreateParams(msgspec.Struct, forbid_unknown_fields=True):
    channel: str
    category: str
    urgency: str
    reporter_name: ShortText
    reporter_phone: Annotated[str, msgspec.Meta(max_length=32)]
    description: Text
    lon: Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)]
    lat: Annotated[float, msgspec.Meta(ge=-90.0, le=90.0)]
    crs: str = Datum.WGS84.value
    enterprise_id: str | None = None
    external_ref: Annotated[str, msgspec.Meta(max_length=100)] | None = None


async def create_complaint(
    hub: HubState,
    *,
    channel: Channel,
    category: Category,
    urgency: Urgency,
    reporter_name: str,
    reporter_phone: str,
    description: str,
    lon: float,
    lat: float,
    datum: Datum,
    enterprise_id: str | None,
    external_ref: str | None,
    scope: Scope | None,
) -> tuple[Complaint, LocateResult]:
    """Locate and build a complaint (not stored yet); scope None means no scope check."""
    locator = await _locator(hub)
    found = locate_point(locator, lon, lat, datum)
    if scope is not None and not scope.covers(found.district.adcode):
        raise MethodError(
            ErrorCode.OUT_OF_SCOPE, "the point lies in a district outside your organisation's scope"
        )
    world = hub.world
    if (
        enterprise_id is not None
        and world is not None
        and not any(e.id == enterprise_id for e in world.enterprises)
    ):
        raise MethodError(ErrorCode.BAD_REQUEST, f"unknown enterprise {enterprise_id!r}")
    now = utc_now()
    complaint = Complaint(
        id=new_id("C", now),
        channel=channel,
        category=category,
        urgency=urgency,
        reporter_name=reporter_name.strip(),
        reporter_phone=reporter_phone.strip(),
        description=description.strip(),
        lon=found.lon,
        lat=found.lat,
        received_at=now,
        enterprise_id=enterprise_id,
        district_adcode=found.district.adcode,
        grid_id=found.grid.id,
        external_ref=external_ref,
    )
    return complaint, found


@method("complaint.create", params=ComplaintCreateParams, roles=DISPATCH_ROLES)
async def complaint_create(ctx: CallContext, params: ComplaintCreateParams) -> dict[str, Any]:
    """Record a complaint; answer where it is, whom to send and which cases it may repeat."""
    hub = ctx.hub
    scope = ctx.principal.scope
    if params.reporter_phone.strip():
        try:
            mask_phone(params.reporter_phone)
        except ValueError as exc:
            raise MethodError(ErrorCode.BAD_REQUEST, str(exc)) from None
    complaint, found = await create_complaint(
        hub,
        channel=_enum(Channel, params.channel, "channel"),
        category=_enum(Category, params.category, "category"),
        urgency=_enum(Urgency, params.urgency, "urgency"),
        reporter_name=params.reporter_name,
        reporter_phone=params.reporter_phone,
        description=params.description,
        lon=params.lon,
        lat=params.lat,
        datum=_enum(Datum, params.crs.lower(), "crs"),
        enterprise_id=params.enterprise_id,
        external_ref=params.external_ref,
        scope=scope,
    )
    locator = await _locator(hub)
    duplicates = await _duplicates(hub, locator, complaint, scope)
    repo = DispatchRepo(hub.store)
    audit = audit_entry(
        ctx,
        complaint.received_at,
        "complaint.create",
        complaint_id=complaint.id,
        detail={"duplicates": [d["complaint_id"] for d in duplicates]},
    )
    await hub.db.run(repo.add_complaint, complaint, ctx.principal.user.username, audit)
    publish_complaint(hub.bus, complaint)
    location = found.to_json()
    location["squads"] = recommend(locator, found, scope)["squads"]
    return {
        "complaint": complaint_json(complaint),
        "location": location,
        "recommendation": recommend(locator, found, scope),
        "duplicates": duplicates,
    }


async def _duplicates(
    hub: HubState, locator: Locator, complaint: Complaint, scope: Scope
) -> list[dict[str, Any]]:
    rule = hub.config.duplicate_rule
    repo = DispatchRepo(hub.store)
    pool, open_ids, status = await hub.db.run(
        repo.duplicate_pool, complaint.received_at - rule.window, complaint.enterprise_id
    )
    visible = [c for c in pool if scope.covers(c.district_adcode) and c.district_adcode]
    by_id = {c.id: c for c in visible}
    found = find_duplicates(complaint, visible, rule, locator.projector.to_xy, open_ids)
    return [
        {
            "complaint_id": d.complaint_id,
            "distance_m": round(d.distance_m, 1),
            "reason": _DUPLICATE_REASONS[d.reason],
            "received_at": by_id[d.complaint_id].received_at.isoformat(),
            "status": status[d.complaint_id],
        }
        for d in found
    ]


class MergeParams(msgspec.Struct, forbid_unknown_fields=True):
    complaint_id: str
    into_complaint_id: str


@method("complaint.merge", params=MergeParams, roles=DISPATCH_ROLES)
async def complaint_merge(ctx: CallContext, params: MergeParams) -> dict[str, Any]:
    """Fold a repeated report into the case it repeats ("also reported by")."""
    await visible_complaint(ctx, params.complaint_id)
    await visible_complaint(ctx, params.into_complaint_id)
    hub = ctx.hub
    repo = DispatchRepo(hub.store)
    audit = audit_entry(
        ctx,
        utc_now(),
        "complaint.merge",
        complaint_id=params.complaint_id,
        detail={"into": params.into_complaint_id},
    )
    try:
        target = await hub.db.run(
            repo.merge_complaint, params.complaint_id, params.into_complaint_id, audit
        )
    except LookupError as exc:
        raise MethodError(ErrorCode.NOT_FOUND, str(exc)) from None
    except ValueError as exc:
        raise MethodError(ErrorCode.BAD_REQUEST, str(exc)) from None
    also = await hub.db.run(repo.also_reported_by, target.id)
    return {
        "complaint": {
            **complaint_json(target),
            "also_reported_by": [complaint_json(c) for c in also],
        }
    }


class ComplaintGetParams(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    reveal_contact: bool = False


@method("complaint.get", params=ComplaintGetParams)
async def complaint_get(ctx: CallContext, params: ComplaintGetParams) -> dict[str, Any]:
    """One complaint with the reports merged into it; contact shown only on audited request."""
    complaint = await visible_complaint(ctx, params.id)
    hub = ctx.hub
    repo = DispatchRepo(hub.store)
    reveal = params.reveal_contact
    if reveal:
        if ctx.principal.user.role not in REVEAL_ROLES:
            raise MethodError(
                ErrorCode.FORBIDDEN,
                f"a {ctx.principal.user.role.value} may not see reporters' contact details",
            )
        await hub.db.run(
            repo.audit,
            audit_entry(ctx, utc_now(), "complaint.reveal_contact", complaint_id=complaint.id),
        )
    also = await hub.db.run(repo.also_reported_by, complaint.id)
    tasks = await hub.db.run(repo.tasks_for_complaint, complaint.id)
    now = utc_now()
    return {
        **complaint_json(complaint, reveal),
        "also_reported_by": [complaint_json(c, reveal) for c in also],
        "tasks": [task_json(t, now) for t in tasks if task_visible(ctx.principal.scope, t)],
        # Files uploaded with complaint.attachment.* (their task_id column holds the complaint id).
        "attachments": [
            a.to_json()
            for a in await hub.db.run(
                FieldRepo(hub.store.engine).attachments_for_task, complaint.id
            )
        ],
    }


class ComplaintsListParams(msgspec.Struct, forbid_unknown_fields=True):
    status: str = "open"
    since: str | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=2000)] = 500


@method("complaints.list", params=ComplaintsListParams)
async def complaints_list(ctx: CallContext, params: ComplaintsListParams) -> list[dict[str, Any]]:
    if params.status not in ("open", "merged", "all"):
        raise MethodError(
            ErrorCode.BAD_REQUEST,
            f"unknown status {params.status!r}; expected one of: open, merged, all",
        )
    hub = ctx.hub
    complaints = await hub.db.run(
        DispatchRepo(hub.store).list_complaints,
        sorted(ctx.principal.scope.districts),
        params.status,
        _since(params.since, "since"),
        params.limit,
    )
    return [complaint_json(c) for c in complaints]


# --- tasks --------------------------------------------------------------------------------


class DispatchParams(msgspec.Struct, forbid_unknown_fields=True):
    complaint_id: str
    officer_id: str | None = None
    note: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


@method("task.dispatch", params=DispatchParams, roles=DISPATCH_ROLES)
async def task_dispatch(ctx: CallContext, params: DispatchParams) -> dict[str, Any]:
    """Send a verification task for a complaint to a grid officer (default: the recommended)."""
    hub = ctx.hub
    complaint = await visible_complaint(ctx, params.complaint_id)
    if complaint.merged_into is not None:
        raise MethodError(
            ErrorCode.BAD_REQUEST,
            f"complaint {complaint.id} was merged into {complaint.merged_into}: dispatch that one",
        )
    repo = DispatchRepo(hub.store)
    existing = await hub.db.run(repo.tasks_for_complaint, complaint.id)
    running = [t for t in existing if clock_running(t.task)]
    if running:
        raise MethodError(
            ErrorCode.BAD_REQUEST,
            f"complaint {complaint.id} already has open task {running[0].task.id}",
        )
    locator = await _locator(hub)
    found = locate_point(locator, complaint.lon, complaint.lat, Datum.WGS84)
    now = utc_now()
    recommended = recommend(locator, found, ctx.principal.scope)["grid_officer"]
    officer = _pick_officer(hub.world, params.officer_id, recommended, ctx.principal.scope)
    own = found.grid_officer
    substitute = own is None or own.id != officer.id
    draft = TaskDraft(
        kind=TaskKind.VERIFICATION,
        owner_org_id=found.district.org_id,
        district_adcode=found.district.adcode,
        urgency=complaint.urgency,
        category=complaint.category,
        title=_title(complaint),
        complaint_id=complaint.id,
        enterprise_id=complaint.enterprise_id,
        assignee_officer_id=officer.id,
        substitute=substitute,
    )
    policy: SlaPolicy = hub.config.sla
    deadline = policy.deadline_for(draft.kind, draft.category, draft.urgency, now)
    task_id = new_id("T", now)
    outbox = OutboxDraft(
        officer_id=officer.id,
        kind=OUTBOX_ASSIGNED,
        payload=_device_payload(task_id, draft, complaint, deadline, params.note),
    )
    audit = audit_entry(
        ctx,
        now,
        "task.dispatch",
        task_id=task_id,
        complaint_id=complaint.id,
        detail={"officer_id": officer.id, "substitute": substitute, "note": params.note},
    )
    record, _entry = await hub.db.run(
        lambda: repo.create_task(
            draft,
            task_id,
            now,
            deadline,
            actor_of(ctx),
            lon=complaint.lon,
            lat=complaint.lat,
            grid_id=found.grid.id,
            outbox=outbox,
            audit=audit,
            note=params.note,
        )
    )
    publish_task(hub, TASK_UPDATED, record)
    return {"task": task_json(record, now)}


def _title(complaint: Complaint) -> str:
    first_line = complaint.description.splitlines()[0] if complaint.description else ""
    return first_line[:80] or complaint.id


def _device_payload(
    task_id: str, draft: TaskDraft, complaint: Complaint, deadline: datetime, note: str | None
) -> dict[str, Any]:
    """What the officer's device needs to go and verify; no reporter contact details."""
    return {
        "task_id": task_id,
        "kind": draft.kind.value,
        "title": draft.title,
        "category": draft.category.value,
        "urgency": draft.urgency.value,
        "description": complaint.description,
        "lon": complaint.lon,
        "lat": complaint.lat,
        "enterprise_id": complaint.enterprise_id,
        "deadline": deadline.isoformat(),
        "substitute": draft.substitute,
        "note": note,
    }


def _pick_officer(
    world: World | None,
    officer_id: str | None,
    recommended: Mapping[str, Any] | None,
    scope: Scope,
) -> Officer:
    if world is None:
        raise MethodError(ErrorCode.NOT_FOUND, "the hub has no world: run 'python -m console seed'")
    if officer_id is None:
        if recommended is None:
            raise MethodError(
                ErrorCode.BAD_REQUEST,
                "no on-duty grid officer in this district: name one with officer_id",
            )
        officer_id = str(recommended["id"])
    officer = next((o for o in world.officers if o.id == officer_id), None)
    if officer is None:
        raise MethodError(ErrorCode.BAD_REQUEST, f"unknown officer {officer_id!r}")
    if officer.role is not OfficerRole.GRID_OFFICER:
        raise MethodError(
            ErrorCode.BAD_REQUEST,
            f"{officer_id} is a {officer.role.value}: verification tasks go to grid officers",
        )
    if not scope.covers(officer.district_adcode):
        raise MethodError(ErrorCode.OUT_OF_SCOPE, f"officer {officer_id} is outside your scope")
    return officer


class TaskActionParams(msgspec.Struct, forbid_unknown_fields=True):
    task_id: str
    action: str
    expected_version: int
    payload: dict[str, Any] = msgspec.field(default_factory=dict)


@method("task.action", params=TaskActionParams, roles=ALL_ROLES)
async def task_action(ctx: CallContext, params: TaskActionParams) -> dict[str, Any]:
    """Move a task through the state machine; a stale version answers "conflict"."""
    hub = ctx.hub
    action: Action = _enum(Action, params.action, "action")
    before = await _visible_task(ctx, params.task_id)
    payload = _action_payload(hub, action, before, params.payload)
    world = hub.world
    org_parents = {} if world is None else {o.id: o.parent_id for o in world.organisations}
    policy: SlaPolicy = hub.config.sla
    repo = DispatchRepo(hub.store)
    now = utc_now()
    try:
        outcome = await hub.db.run(
            lambda: repo.apply_action(
                params.task_id,
                action,
                actor_of(ctx),
                now,
                expected_version=params.expected_version,
                payload=payload,
                org_parents=org_parents,
                follow_up_deadline=lambda d, at: policy.deadline_for(
                    d.kind, d.category, d.urgency, at
                ),
                outbox_for=_outbox_for,
                new_task_id=lambda: new_id("T", now),
            )
        )
    except StaleTask as exc:
        raise MethodError(
            ErrorCode.CONFLICT, str(exc), data={"task": task_json(exc.current, now)}
        ) from None
    except IllegalTransition as exc:
        raise MethodError(
            ErrorCode.ILLEGAL_TRANSITION,
            str(exc),
            data={"allowed": [a.value for a in allowed_actions(exc.kind, exc.state)]},
        ) from None
    except Forbidden as exc:
        raise MethodError(ErrorCode.FORBIDDEN, str(exc)) from None
    except InvalidPayload as exc:
        raise MethodError(ErrorCode.BAD_REQUEST, str(exc)) from None
    except LookupError as exc:
        raise MethodError(ErrorCode.NOT_FOUND, str(exc)) from None
    publish_task(hub, TASK_UPDATED, outcome.record)
    # task.updated wakes the new assignee's delivery; the officer a task was taken from (a
    # cancellation) is not in it, so every officer with a new entry is woken by name.
    task = outcome.record.task
    for officer_id in dict.fromkeys(entry.officer_id for entry in outcome.outbox):
        hub.bus.publish(
            OUTBOX_NEW, {"officer_id": officer_id}, task.district_adcode, task.owner_org_id
        )
    result: dict[str, Any] = {
        "task": task_json(outcome.record, now),
        "event": event_json(outcome.event),
    }
    if outcome.follow_up is not None:
        publish_task(hub, TASK_UPDATED, outcome.follow_up)
        result["follow_up"] = task_json(outcome.follow_up, now)
    return result


def event_json(event: TaskEvent) -> dict[str, Any]:
    return {
        "task_id": event.task_id,
        "version": event.version,
        "action": event.action.value,
        "from_state": event.from_state.value,
        "to_state": event.to_state.value,
        "user": event.user,
        "seat": event.seat,
        "role": event.role.value,
        "at": event.at.isoformat(),
        "payload": dict(event.payload),
    }


def _action_payload(
    hub: HubState, action: Action, record: TaskRecord, given: Mapping[str, Any]
) -> dict[str, object]:
    """Wire payload -> the core's: ISO deadline to datetime, the SLA deadline for a reopen."""
    payload: dict[str, object] = dict(given)
    deadline = payload.get("deadline")
    if isinstance(deadline, str):
        payload["deadline"] = _since(deadline, "payload.deadline")
    task = record.task
    if action is Action.REOPEN and payload.get("deadline") is None:
        policy: SlaPolicy = hub.config.sla
        payload["deadline"] = policy.deadline_for(task.kind, task.category, task.urgency, utc_now())
    world = hub.world
    if world is not None:
        to = payload.get("to")
        if isinstance(to, str) and action in (Action.REASSIGN, Action.REOPEN, Action.HAND_OVER):
            known = (
                {o.id for o in world.officers}
                if task.kind is TaskKind.VERIFICATION
                else {s.id for s in world.squads}
            )
            if to not in known:
                raise MethodError(ErrorCode.BAD_REQUEST, f"unknown assignee {to!r}")
        squad = payload.get("squad_id")
        if isinstance(squad, str) and squad not in {s.id for s in world.squads}:
            raise MethodError(ErrorCode.BAD_REQUEST, f"unknown squad {squad!r}")
    return payload


def _outbox_for(before: TaskRecord, after: TaskRecord, event: TaskEvent) -> Sequence[OutboxDraft]:
    """Messages to officers' devices caused by an action (verification tasks go to officers)."""
    if after.task.kind is not TaskKind.VERIFICATION:
        return []
    old, new = before.task.assignee_officer_id, after.task.assignee_officer_id
    drafts: list[OutboxDraft] = []
    reason = event.payload.get("reason")
    if event.action is Action.CANCEL and old is not None:
        drafts.append(
            OutboxDraft(old, OUTBOX_CANCELLED, {"task_id": after.task.id, "reason": reason})
        )
    elif event.action in (Action.REASSIGN, Action.REOPEN, Action.HAND_OVER):
        if old is not None and old != new and before.task.state != "cancelled":
            drafts.append(
                OutboxDraft(old, OUTBOX_CANCELLED, {"task_id": after.task.id, "reason": reason})
            )
        if new is not None:
            task = after.task
            drafts.append(
                OutboxDraft(
                    new,
                    OUTBOX_ASSIGNED,
                    {
                        "task_id": task.id,
                        "kind": task.kind.value,
                        "title": task.title,
                        "category": task.category.value,
                        "urgency": task.urgency.value,
                        "lon": after.lon,
                        "lat": after.lat,
                        "enterprise_id": task.enterprise_id,
                        "deadline": task.deadline.isoformat(),
                        "substitute": task.substitute,
                        "note": reason,
                    },
                )
            )
    return drafts


class TaskGetParams(msgspec.Struct, forbid_unknown_fields=True):
    task_id: str


@method("task.get", params=TaskGetParams)
async def task_get(ctx: CallContext, params: TaskGetParams) -> dict[str, Any]:
    """A task with its timeline, complaint (masked) and what its outbox delivered."""
    record = await _visible_task(ctx, params.task_id)
    hub = ctx.hub
    repo = DispatchRepo(hub.store)
    events = await hub.db.run(repo.task_events, record.task.id)
    outbox: list[OutboxEntry] = await hub.db.run(repo.task_outbox, record.task.id)
    complaint = (
        None
        if record.task.complaint_id is None
        else await hub.db.run(repo.get_complaint, record.task.complaint_id)
    )
    attachments = await hub.db.run(FieldRepo(hub.store.engine).attachments_for_task, record.task.id)
    if record.task.complaint_id is not None:  # files that came with the complaint
        attachments += await hub.db.run(
            FieldRepo(hub.store.engine).attachments_for_task, record.task.complaint_id
        )
    return {
        "task": task_json(record, utc_now()),
        "events": events,
        "complaint": None if complaint is None else complaint_json(complaint),
        "outbox": [
            {
                "seq": e.seq,
                "officer_id": e.officer_id,
                "kind": e.kind,
                "created_at": e.created_at.isoformat(),
                "delivered_at": _iso(e.delivered_at),
                "acked_at": _iso(e.acked_at),
            }
            for e in outbox
        ],
        # Photos and voice notes uploaded over the field link.
        "attachments": [a.to_json() for a in attachments],
    }


class BoardParams(msgspec.Struct, forbid_unknown_fields=True):
    queue: str = "all"
    search: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=2000)] = 200


@method("tasks.board", params=BoardParams)
async def tasks_board(ctx: CallContext, params: BoardParams) -> list[dict[str, Any]]:
    if params.queue not in BOARD_QUEUES:
        raise MethodError(
            ErrorCode.BAD_REQUEST,
            f"unknown queue {params.queue!r}; expected one of: {', '.join(BOARD_QUEUES)}",
        )
    hub = ctx.hub
    scope = ctx.principal.scope
    now = utc_now()
    records = await hub.db.run(
        lambda: DispatchRepo(hub.store).board(
            params.queue,
            sorted(scope.districts),
            sorted(scope.owned),
            now,
            _day_start(now),
            params.search,
            params.limit,
        )
    )
    return [task_json(r, now) for r in records]


@method("district.status", params=NoParams)
async def district_status(ctx: CallContext, params: NoParams) -> list[dict[str, Any]]:
    """Per district in scope: tasks by state, open, overdue, median verification, complaints."""
    hub = ctx.hub
    scope = ctx.principal.scope
    now = utc_now()
    figures = await hub.db.run(
        DispatchRepo(hub.store).district_figures,
        sorted(scope.districts),
        sorted(scope.owned),
        now,
        _day_start(now),
    )
    names = {} if hub.world is None else {d.adcode: d.name for d in hub.world.districts}
    return [
        {
            "adcode": f.adcode,
            "name": names.get(f.adcode, f.adcode),
            "by_state": f.by_state,
            "open": f.open,
            "overdue": f.overdue,
            "median_verification_s": f.median_verification_s,
            "complaints_today": f.complaints_today,
            "awaiting_dispatch": f.awaiting_dispatch,
        }
        for f in figures
    ]


class AuditParams(msgspec.Struct, forbid_unknown_fields=True):
    task_id: str | None = None
    user: str | None = None
    since: str | None = None
    until: str | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=5000)] = 200


@method(
    "audit.query",
    params=AuditParams,
    roles={Role.ADMIN, Role.COMMANDER, Role.LEADER, Role.DISPATCHER},
)
async def audit_query(ctx: CallContext, params: AuditParams) -> list[dict[str, Any]]:
    """Dispatch audit entries about complaints and tasks in the caller's scope, newest first."""
    hub = ctx.hub
    scope = ctx.principal.scope
    repo = DispatchRepo(hub.store)
    complaint_ids, task_ids = await hub.db.run(
        repo.visible_ids, sorted(scope.districts), sorted(scope.owned)
    )
    entries = await hub.db.run(
        lambda: repo.audit_query(
            task_id=params.task_id,
            user=params.user,
            since=_since(params.since, "since"),
            until=_since(params.until, "until"),
            complaint_ids=complaint_ids,
            task_ids=task_ids,
            limit=params.limit,
        )
    )
    return [
        {
            "id": e.id,
            "at": e.at.isoformat(),
            "user": e.user,
            "seat": e.seat,
            "action": e.action,
            "task_id": e.task_id,
            "complaint_id": e.complaint_id,
            "detail": dict(e.detail),
        }
        for e in entries
    ]


@method("sla.policy", params=NoParams)
async def sla_policy(ctx: CallContext, params: NoParams) -> dict[str, Any]:
    """The effective deadlines in seconds, for countdowns on the board."""
    policy: SlaPolicy = ctx.hub.config.sla
    deadlines: dict[str, dict[str, float]] = {}
    for (kind, urgency), duration in policy.deadlines.items():
        deadlines.setdefault(kind.value, {})[urgency.value] = duration.total_seconds()
    overrides: dict[str, dict[str, dict[str, float]]] = {}
    for (kind, category, urgency), duration in policy.overrides.items():
        overrides.setdefault(kind.value, {}).setdefault(category.value, {})[urgency.value] = (
            duration.total_seconds()
        )
    return {"deadlines": deadlines, "overrides": overrides}
