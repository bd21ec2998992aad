"""Dispatch tasks and their explicit state machine.

A verification task (核查) goes to the grid officer, an enforcement task (执法) to the squad.
Every change is an action applied through :func:`apply`, which checks, in this order, the
optimistic-concurrency version, the transition table, the actor's role and the payload, then
returns the new immutable :class:`Task` (version + 1) and the :class:`TaskEvent` to store.
The table :data:`TRANSITIONS` is the single source of truth: the UI asks it which buttons
to enable and the tests enumerate it exhaustively.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from console.core.complaints import Category, Urgency, require_aware


class TaskKind(StrEnum):
    VERIFICATION = "verification"  # 核查, for the grid officer
    ENFORCEMENT = "enforcement"  # 执法, for the squad


class TaskState(StrEnum):
    ASSIGNED = "assigned"
    DELIVERED = "delivered"  # the officer's device acknowledged receipt
    ACCEPTED = "accepted"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    VERIFIED_CONFIRMED = "verified_confirmed"
    VERIFIED_UNFOUNDED = "verified_unfounded"
    PROCEDURE_COMPLETE = "procedure_complete"
    CLOSED = "closed"
    ARCHIVED = "archived"
    CANCELLED = "cancelled"


class Action(StrEnum):
    """Events that move a task. Verification has two actions so the table stays a function."""

    DELIVER = "deliver"
    ACCEPT = "accept"
    DEPART = "depart"
    ARRIVE = "arrive"
    VERIFY_CONFIRMED = "verify_confirmed"
    VERIFY_UNFOUNDED = "verify_unfounded"
    COMPLETE_PROCEDURE = "complete_procedure"
    CLOSE = "close"
    ARCHIVE = "archive"
    CANCEL = "cancel"
    REOPEN = "reopen"
    REASSIGN = "reassign"
    HAND_OVER = "hand_over"
    ESCALATE = "escalate"


def verify_action(confirmed: bool) -> Action:
    """The action for an officer's verification result."""
    return Action.VERIFY_CONFIRMED if confirmed else Action.VERIFY_UNFOUNDED


class ActorRole(StrEnum):
    """Who acts on a task: the console roles (same values as ``model.Role``) plus the officer."""

    ADMIN = "admin"
    DISPATCHER = "dispatcher"
    COMMANDER = "commander"
    LEADER = "leader"
    OFFICER = "officer"


class HandOverDirection(StrEnum):
    UP = "up"  # county -> city -> province
    DOWN = "down"  # province -> city -> county


_V, _E = TaskKind.VERIFICATION, TaskKind.ENFORCEMENT
_S, _A = TaskState, Action


def _build_transitions() -> dict[tuple[TaskKind, TaskState, Action], TaskState]:
    table: dict[tuple[TaskKind, TaskState, Action], TaskState] = {
        (_V, _S.ASSIGNED, _A.DELIVER): _S.DELIVERED,
        (_V, _S.DELIVERED, _A.ACCEPT): _S.ACCEPTED,
        (_V, _S.ACCEPTED, _A.DEPART): _S.EN_ROUTE,
        (_V, _S.EN_ROUTE, _A.ARRIVE): _S.ON_SITE,
        (_V, _S.ON_SITE, _A.VERIFY_CONFIRMED): _S.VERIFIED_CONFIRMED,
        (_V, _S.ON_SITE, _A.VERIFY_UNFOUNDED): _S.VERIFIED_UNFOUNDED,
        (_V, _S.VERIFIED_CONFIRMED, _A.CLOSE): _S.CLOSED,
        (_V, _S.VERIFIED_UNFOUNDED, _A.CLOSE): _S.CLOSED,
        # Escalating hands the case to the squad; the verification task is done.
        (_V, _S.VERIFIED_CONFIRMED, _A.ESCALATE): _S.CLOSED,
        (_E, _S.ASSIGNED, _A.DELIVER): _S.DELIVERED,
        (_E, _S.DELIVERED, _A.ACCEPT): _S.ACCEPTED,
        (_E, _S.ACCEPTED, _A.ARRIVE): _S.ON_SITE,
        (_E, _S.ON_SITE, _A.COMPLETE_PROCEDURE): _S.PROCEDURE_COMPLETE,
        (_E, _S.PROCEDURE_COMPLETE, _A.CLOSE): _S.CLOSED,
    }
    before_site = {
        _V: (_S.ASSIGNED, _S.DELIVERED, _S.ACCEPTED, _S.EN_ROUTE),
        _E: (_S.ASSIGNED, _S.DELIVERED, _S.ACCEPTED),
    }
    reopenable = {
        _V: (_S.VERIFIED_CONFIRMED, _S.VERIFIED_UNFOUNDED, _S.CLOSED, _S.CANCELLED),
        _E: (_S.CLOSED, _S.CANCELLED),
    }
    for kind in TaskKind:
        table[(kind, _S.CLOSED, _A.ARCHIVE)] = _S.ARCHIVED
        for state in before_site[kind]:
            table[(kind, state, _A.REASSIGN)] = _S.ASSIGNED
            table[(kind, state, _A.HAND_OVER)] = _S.ASSIGNED
        for state in (*before_site[kind], _S.ON_SITE):
            table[(kind, state, _A.CANCEL)] = _S.CANCELLED
        for state in reopenable[kind]:
            table[(kind, state, _A.REOPEN)] = _S.ASSIGNED
    return table


TRANSITIONS: Mapping[tuple[TaskKind, TaskState, Action], TaskState] = MappingProxyType(
    _build_transitions()
)
"""(kind, state, action) -> next state. A pair not in the table is illegal."""

STATES: Mapping[TaskKind, frozenset[TaskState]] = MappingProxyType(
    {
        kind: frozenset(
            {s for (k, s, _), t in TRANSITIONS.items() if k is kind}
            | {t for (k, _, _), t in TRANSITIONS.items() if k is kind}
        )
        for kind in TaskKind
    }
)
"""The states a task of each kind can be in."""

CLOCK_STOPPED_STATES: Mapping[TaskKind, frozenset[TaskState]] = MappingProxyType(
    {
        _V: frozenset(
            {_S.VERIFIED_CONFIRMED, _S.VERIFIED_UNFOUNDED, _S.CLOSED, _S.ARCHIVED, _S.CANCELLED}
        ),
        _E: frozenset({_S.PROCEDURE_COMPLETE, _S.CLOSED, _S.ARCHIVED, _S.CANCELLED}),
    }
)
"""States in which the SLA clock no longer runs: the work it measures is done."""

OUTBOX_ASSIGNED = "task.assigned"
"""Kind of the message that puts a task on the assignee's phone."""
OUTBOX_CANCELLED = "task.cancelled"
"""Kind of the message that takes a task off a phone (cancelled, or reassigned away)."""

ROLE_ACTIONS: Mapping[ActorRole, frozenset[Action]] = MappingProxyType(
    {
        ActorRole.DISPATCHER: frozenset(Action),
        ActorRole.COMMANDER: frozenset(
            {_A.CLOSE, _A.CANCEL, _A.REOPEN, _A.REASSIGN, _A.HAND_OVER, _A.ESCALATE}
        ),
        ActorRole.ADMIN: frozenset(
            {_A.CLOSE, _A.ARCHIVE, _A.CANCEL, _A.REOPEN, _A.REASSIGN, _A.HAND_OVER}
        ),
        ActorRole.LEADER: frozenset(),
        # Only the assignee: checked against the task in :func:`apply`.
        ActorRole.OFFICER: frozenset(
            {
                _A.DELIVER,
                _A.ACCEPT,
                _A.DEPART,
                _A.ARRIVE,
                _A.VERIFY_CONFIRMED,
                _A.VERIFY_UNFOUNDED,
                _A.COMPLETE_PROCEDURE,
            }
        ),
    }
)
"""Which role may perform which action (the transition table decides when)."""


def allowed_actions(kind: TaskKind, state: TaskState) -> tuple[Action, ...]:
    """Legal actions from ``state``, in declaration order (for messages and UI buttons)."""
    return tuple(a for a in Action if (kind, state, a) in TRANSITIONS)


class TaskError(Exception):
    """Base of the rule violations :func:`apply` reports."""


class IllegalTransition(TaskError):  # noqa: N818 (names the hub and UI code against)
    def __init__(self, kind: TaskKind, state: TaskState, action: Action) -> None:
        self.kind, self.state, self.action = kind, state, action
        allowed = ", ".join(allowed_actions(kind, state)) or "none"
        super().__init__(f"cannot '{action}' a {kind} task that is '{state}'; allowed: {allowed}")


class VersionConflict(TaskError):  # noqa: N818 (names the hub and UI code against)
    """Someone else changed the task since the caller read it: reload and retry."""

    def __init__(self, task_id: str, expected: int, actual: int) -> None:
        self.task_id, self.expected, self.actual = task_id, expected, actual
        super().__init__(
            f"task {task_id} is at version {actual}, not {expected}: "
            "it was changed by someone else; reload it"
        )


class Forbidden(TaskError):  # noqa: N818 (names the hub and UI code against)
    def __init__(self, actor: Actor, action: Action, why: str) -> None:
        self.actor, self.action = actor, action
        super().__init__(f"{actor.role} '{actor.user}' may not '{action}': {why}")


class InvalidPayload(TaskError, ValueError):  # noqa: N818 (names the hub and UI code against)
    """The action is legal but its data is missing or wrong."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performs an action and from which seat (console seat or officer device).

    For officers ``user`` is the officer id and ``squad_id`` their squad, which is how an
    enforcement task's assignee is matched.
    """

    user: str
    seat: str
    role: ActorRole
    squad_id: str | None = None


@dataclass(frozen=True, slots=True)
class TaskDraft:
    """A task the store should create (e.g. the enforcement follow-up of a verification)."""

    kind: TaskKind
    owner_org_id: str
    district_adcode: str
    urgency: Urgency
    category: Category
    title: str
    complaint_id: str | None = None
    enterprise_id: str | None = None
    assignee_officer_id: str | None = None
    assignee_squad_id: str | None = None
    parent_task_id: str | None = None
    substitute: bool = False


@dataclass(frozen=True, slots=True)
class Task:
    """A dispatch task. Immutable: :func:`apply` returns a new one with ``version`` + 1.

    ``clock_stopped_at`` is when the task entered a :data:`CLOCK_STOPPED_STATES` state (the
    SLA clock stops there); ``updated_at`` is the time of the latest event.
    """

    id: str
    kind: TaskKind
    state: TaskState
    version: int
    owner_org_id: str
    district_adcode: str
    urgency: Urgency
    category: Category
    created_at: datetime
    deadline: datetime
    title: str
    complaint_id: str | None = None
    enterprise_id: str | None = None
    assignee_officer_id: str | None = None
    assignee_squad_id: str | None = None
    parent_task_id: str | None = None
    substitute: bool = False  # the grid officer was off duty; someone else verifies
    findings: str | None = None
    updated_at: datetime | None = None
    clock_stopped_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("task id must not be empty")
        if self.state not in STATES[self.kind]:
            raise ValueError(f"task {self.id}: a {self.kind} task cannot be '{self.state}'")
        if self.version < 1:
            raise ValueError(f"task {self.id}: version must be >= 1, got {self.version}")
        if self.kind is TaskKind.VERIFICATION and self.assignee_squad_id is not None:
            raise ValueError(f"task {self.id}: a verification task is assigned to an officer")
        if self.kind is TaskKind.ENFORCEMENT and self.assignee_officer_id is not None:
            raise ValueError(f"task {self.id}: an enforcement task is assigned to a squad")
        if self.kind is TaskKind.ENFORCEMENT and self.substitute:
            raise ValueError(f"task {self.id}: only verification tasks have substitutes")
        for name in ("created_at", "deadline", "updated_at", "clock_stopped_at"):
            value = getattr(self, name)
            if value is not None:
                require_aware(value, f"task {self.id}: {name}")
        stopped = self.state in CLOCK_STOPPED_STATES[self.kind]
        if stopped != (self.clock_stopped_at is not None):
            raise ValueError(
                f"task {self.id}: clock_stopped_at must be set exactly in clock-stopped states"
            )

    @property
    def assignee_id(self) -> str | None:
        """The officer (verification) or squad (enforcement) the task is assigned to."""
        if self.kind is TaskKind.VERIFICATION:
            return self.assignee_officer_id
        return self.assignee_squad_id

    @property
    def last_change(self) -> datetime:
        return self.updated_at if self.updated_at is not None else self.created_at


def create_task(draft: TaskDraft, task_id: str, created_at: datetime, deadline: datetime) -> Task:
    """A new task at version 1 in state ``assigned``; the deadline comes from the SLA policy."""
    require_aware(created_at, "created_at")
    require_aware(deadline, "deadline")
    if deadline <= created_at:
        raise ValueError(f"task {task_id}: deadline {deadline} is not after {created_at}")
    return Task(
        id=task_id,
        kind=draft.kind,
        state=TaskState.ASSIGNED,
        version=1,
        owner_org_id=draft.owner_org_id,
        district_adcode=draft.district_adcode,
        urgency=draft.urgency,
        category=draft.category,
        created_at=created_at,
        deadline=deadline,
        title=draft.title,
        complaint_id=draft.complaint_id,
        enterprise_id=draft.enterprise_id,
        assignee_officer_id=draft.assignee_officer_id,
        assignee_squad_id=draft.assignee_squad_id,
        parent_task_id=draft.parent_task_id,
        substitute=draft.substitute,
        updated_at=created_at,
    )


PayloadValue = str | bool


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """One entry of a task's timeline: who did what, when, from which seat.

    ``version`` is the task's version after the event. ``payload`` holds the validated
    action data (datetimes as ISO strings). ``follow_up`` is set by ``escalate``: the
    enforcement task the store must create in the same transaction.
    """

    task_id: str
    version: int
    action: Action
    from_state: TaskState
    to_state: TaskState
    user: str
    seat: str
    role: ActorRole
    at: datetime
    payload: Mapping[str, PayloadValue]
    follow_up: TaskDraft | None = None


# action -> (required payload keys, optional payload keys)
_PAYLOAD_KEYS: Mapping[Action, tuple[frozenset[str], frozenset[str]]] = MappingProxyType(
    {
        _A.DELIVER: (frozenset(), frozenset({"note"})),
        _A.ACCEPT: (frozenset(), frozenset({"note"})),
        _A.DEPART: (frozenset(), frozenset({"note"})),
        _A.ARRIVE: (frozenset(), frozenset({"note"})),
        _A.VERIFY_CONFIRMED: (frozenset({"findings"}), frozenset()),
        _A.VERIFY_UNFOUNDED: (frozenset({"findings"}), frozenset()),
        _A.COMPLETE_PROCEDURE: (frozenset(), frozenset({"findings"})),
        _A.CLOSE: (frozenset(), frozenset({"note"})),
        _A.ARCHIVE: (frozenset(), frozenset()),
        _A.CANCEL: (frozenset({"reason"}), frozenset()),
        _A.REOPEN: (frozenset({"reason", "to"}), frozenset({"substitute", "deadline"})),
        _A.REASSIGN: (frozenset({"reason", "to"}), frozenset({"substitute"})),
        _A.HAND_OVER: (frozenset({"reason", "to_org_id", "direction"}), frozenset({"to"})),
        _A.ESCALATE: (frozenset({"squad_id"}), frozenset({"title"})),
    }
)


def _text(action: Action, key: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidPayload(f"'{action}': {key} must be a non-empty string, got {value!r}")
    return value.strip()


def _check_payload(
    task: Task, action: Action, given: Mapping[str, object]
) -> dict[str, PayloadValue]:
    """Validate keys and types; return the normalised payload recorded in the event.

    A key given as None counts as absent (wire formats send null for "not set").
    """
    payload = {key: value for key, value in given.items() if value is not None}
    required, optional = _PAYLOAD_KEYS[action]
    missing = sorted(required - payload.keys())
    if missing:
        raise InvalidPayload(f"'{action}' needs {', '.join(missing)}")
    unknown = sorted(payload.keys() - required - optional)
    if unknown:
        raise InvalidPayload(
            f"'{action}' does not take {', '.join(unknown)}; "
            f"it takes {', '.join(sorted(required | optional)) or 'nothing'}"
        )
    clean: dict[str, PayloadValue] = {}
    for key, value in payload.items():
        if key == "substitute":
            if not isinstance(value, bool):
                raise InvalidPayload(f"'{action}': substitute must be true or false")
            if value and task.kind is TaskKind.ENFORCEMENT:
                raise InvalidPayload(f"'{action}': only verification tasks have substitutes")
            clean[key] = value
        elif key == "deadline":
            if not isinstance(value, datetime):
                raise InvalidPayload(f"'{action}': deadline must be a datetime, got {value!r}")
            try:
                require_aware(value, "deadline")
            except ValueError as exc:
                raise InvalidPayload(f"'{action}': {exc}") from None
            clean[key] = value.isoformat()
        elif key == "direction":
            try:
                clean[key] = str(HandOverDirection(str(value)))
            except ValueError:
                raise InvalidPayload(
                    f"'{action}': direction must be 'up' or 'down', got {value!r}"
                ) from None
        else:
            clean[key] = _text(action, key, value)
    return clean


def _check_role(task: Task, action: Action, actor: Actor) -> None:
    if action not in ROLE_ACTIONS[actor.role]:
        allowed = ", ".join(a for a in Action if a in ROLE_ACTIONS[actor.role]) or "nothing"
        raise Forbidden(actor, action, f"a {actor.role} may do: {allowed}")
    if actor.role is ActorRole.OFFICER:
        if task.kind is TaskKind.VERIFICATION:
            is_assignee = task.assignee_officer_id is not None and (
                actor.user == task.assignee_officer_id
            )
        else:
            is_assignee = task.assignee_squad_id is not None and (
                actor.squad_id == task.assignee_squad_id
            )
        if not is_assignee:
            raise Forbidden(actor, action, f"task {task.id} is not assigned to them")


def _check_hand_over(
    task: Task, to_org_id: str, direction: str, org_parents: Mapping[str, str | None] | None
) -> None:
    """Hand-over moves one level along the organisation tree: to the parent or a child."""
    if org_parents is None:
        raise InvalidPayload("'hand_over' needs the organisation tree (org_parents)")
    for org in (task.owner_org_id, to_org_id):
        if org not in org_parents:
            raise InvalidPayload(f"'hand_over': unknown organisation {org!r}")
    if direction == HandOverDirection.UP:
        if org_parents[task.owner_org_id] != to_org_id:
            raise InvalidPayload(
                f"'hand_over' up: {to_org_id!r} is not the parent of {task.owner_org_id!r}"
            )
    elif org_parents[to_org_id] != task.owner_org_id:
        raise InvalidPayload(
            f"'hand_over' down: {to_org_id!r} is not a child of {task.owner_org_id!r}"
        )


def _assignee_fields(task: Task, assignee: str | None) -> dict[str, str | None]:
    if task.kind is TaskKind.VERIFICATION:
        return {"assignee_officer_id": assignee}
    return {"assignee_squad_id": assignee}


def apply(
    task: Task,
    action: Action,
    actor: Actor,
    at: datetime,
    *,
    expected_version: int,
    org_parents: Mapping[str, str | None] | None = None,
    **payload: object,
) -> tuple[Task, TaskEvent]:
    """Apply ``action`` to ``task`` and return the new task and the event to record.

    Payload by action: verify_* ``findings``; complete_procedure ``findings`` (optional);
    cancel ``reason``; reopen ``reason``, ``to`` (new assignee), optional ``substitute``
    and ``deadline`` (the SLA deadline of the new assignment); reassign ``reason``, ``to``,
    optional ``substitute``; hand_over ``reason``, ``to_org_id``, ``direction`` ('up' to
    the parent, 'down' to a child, checked against ``org_parents``: org id -> parent id),
    optional ``to`` (else the receiving organisation assigns it); escalate ``squad_id``,
    optional ``title``; deliver/accept/depart/arrive/close an optional ``note``.
    Raises VersionConflict, IllegalTransition, Forbidden or InvalidPayload.
    """
    if expected_version != task.version:
        raise VersionConflict(task.id, expected_version, task.version)
    target = TRANSITIONS.get((task.kind, task.state, action))
    if target is None:
        raise IllegalTransition(task.kind, task.state, action)
    _check_role(task, action, actor)
    require_aware(at, "event time")
    if at < task.last_change:
        raise InvalidPayload(
            f"'{action}' at {at.isoformat()} is before the task's last change "
            f"{task.last_change.isoformat()}"
        )
    clean = _check_payload(task, action, payload)

    changes: dict[str, Any] = {}
    follow_up: TaskDraft | None = None
    if action is Action.DELIVER and task.assignee_id is None:
        raise InvalidPayload(f"task {task.id} has no assignee to deliver to; reassign it first")
    if "findings" in clean:  # verify_* (required) and complete_procedure (optional)
        changes["findings"] = clean["findings"]
    elif action in (Action.REASSIGN, Action.REOPEN):
        changes.update(_assignee_fields(task, str(clean["to"])))
        if task.kind is TaskKind.VERIFICATION:
            changes["substitute"] = bool(clean.get("substitute", False))
        if action is Action.REOPEN:
            changes["findings"] = None
            deadline = payload.get("deadline")  # type-checked by _check_payload
            if isinstance(deadline, datetime):
                if deadline <= at:
                    raise InvalidPayload(f"'reopen': deadline {deadline} is not after {at}")
                changes["deadline"] = deadline
    elif action is Action.HAND_OVER:
        to_org_id = str(clean["to_org_id"])
        if to_org_id == task.owner_org_id:
            raise InvalidPayload(f"'hand_over': task {task.id} already belongs to {to_org_id!r}")
        _check_hand_over(task, to_org_id, str(clean["direction"]), org_parents)
        changes["owner_org_id"] = to_org_id
        assignee = clean.get("to")
        changes.update(_assignee_fields(task, None if assignee is None else str(assignee)))
        changes["substitute"] = False
    elif action is Action.ESCALATE:
        follow_up = TaskDraft(
            kind=TaskKind.ENFORCEMENT,
            owner_org_id=task.owner_org_id,
            district_adcode=task.district_adcode,
            urgency=task.urgency,
            category=task.category,
            title=str(clean.get("title", task.title)),
            complaint_id=task.complaint_id,
            enterprise_id=task.enterprise_id,
            assignee_squad_id=str(clean["squad_id"]),
            parent_task_id=task.id,
        )

    was_stopped = task.state in CLOCK_STOPPED_STATES[task.kind]
    now_stopped = target in CLOCK_STOPPED_STATES[task.kind]
    if now_stopped and not was_stopped:
        changes["clock_stopped_at"] = at
    elif not now_stopped:
        changes["clock_stopped_at"] = None

    new_task = dataclasses.replace(
        task, state=target, version=task.version + 1, updated_at=at, **changes
    )
    event = TaskEvent(
        task_id=task.id,
        version=new_task.version,
        action=action,
        from_state=task.state,
        to_state=target,
        user=actor.user,
        seat=actor.seat,
        role=actor.role,
        at=at,
        payload=MappingProxyType(clean),
        follow_up=follow_up,
    )
    return new_task, event
