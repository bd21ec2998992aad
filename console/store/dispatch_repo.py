"""Complaints, tasks, their timeline, the officers' outbox, the audit log and intake keys.

Every change that belongs together is one transaction: a new task, its first event, its
outbox entry and the audit entry; an action's task update, event, outbox entries, audit
entry and follow-up task. Task updates are ``UPDATE … WHERE id = ? AND version = ?``: a
second writer (another seat, another hub process on the same PostgreSQL) that read the same
version updates no row and gets :class:`StaleTask` with the current task, never a lost update.
The state machine itself is ``console.core.tasks.apply``; this module only stores its results.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import and_, case, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from console.core.complaints import Category, Channel, Complaint, Urgency
from console.core.tasks import (
    CLOCK_STOPPED_STATES,
    OUTBOX_ASSIGNED,
    OUTBOX_CANCELLED,
    Action,
    Actor,
    Task,
    TaskDraft,
    TaskEvent,
    TaskKind,
    TaskState,
    VersionConflict,
    apply,
    create_task,
)
from console.store import Store
from console.store.schema import OfficerRow
from console.store.schema_dispatch import (
    ApiKeyRow,
    AuditRow,
    ComplaintRow,
    IntakeRequestRow,
    OutboxRow,
    TaskEventRow,
    TaskRow,
)

T = TypeVar("T")

CREATE_ACTION = "dispatch"
"""Action name of a task's first timeline entry (creation is not a state-machine action)."""

_NOTE_KIND = re.compile(r"^[a-z][a-z_]{0,31}$")
_RESERVED_KINDS = frozenset({CREATE_ACTION, *(a.value for a in Action)})

_STOPPED: dict[str, frozenset[str]] = {
    kind.value: frozenset(s.value for s in states) for kind, states in CLOCK_STOPPED_STATES.items()
}
_ALL_STOPPED = frozenset().union(*_STOPPED.values())
# States in which the SLA clock runs for every kind (open work).
_RUNNING_EVERYWHERE = frozenset(s.value for s in TaskState) - _ALL_STOPPED


class StaleTask(VersionConflict):
    """The task changed since the caller read it; ``current`` is what it is now."""

    def __init__(self, current: TaskRecord, expected: int) -> None:
        super().__init__(current.task.id, expected, current.task.version)
        self.current = current


class _LostRace(Exception):  # noqa: N818 (internal signal)
    """Our conditional UPDATE matched no row: another writer changed the task first."""


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """A stored task with what the board shows beside the domain fields."""

    task: Task
    lon: float | None = None
    lat: float | None = None
    grid_id: str | None = None
    delivered_at: datetime | None = None
    acked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    user: str
    seat: str
    action: str
    task_id: str | None = None
    complaint_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: int
    officer_id: str
    seq: int
    task_id: str
    kind: str
    payload: dict[str, Any]
    created_at: datetime
    delivered_at: datetime | None
    acked_at: datetime | None


@dataclass(frozen=True, slots=True)
class OutboxDraft:
    """An outbox message to write in the same transaction as the task change."""

    officer_id: str
    kind: str
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    record: TaskRecord
    event: TaskEvent
    follow_up: TaskRecord | None
    outbox: tuple[OutboxEntry, ...]


@dataclass(frozen=True, slots=True)
class ApiKey:
    name: str
    created_at: datetime
    revoked: bool


@dataclass(frozen=True, slots=True)
class DistrictFigures:
    """One district's work in hand (see ``DispatchRepo.district_figures``).

    ``open`` and ``overdue`` count tasks, as the dispatch board lists them. A case is a
    complaint with all its tasks (verification, then enforcement), or a task without a
    complaint with its follow-ups (an inspection of a draw): ``open_cases`` counts those
    whose task clock still runs plus the complaints still awaiting their first task, so
    that a leader never reads "received 1, closed 0, open 0".
    """

    adcode: str
    by_state: dict[str, int]
    open: int
    overdue: int
    median_verification_s: float | None
    complaints_today: int
    awaiting_dispatch: int
    open_cases: int
    overdue_cases: int


# --- row conversion ---------------------------------------------------------------------------


def _complaint(row: ComplaintRow) -> Complaint:
    return Complaint(
        id=row.id,
        channel=Channel(row.channel),
        category=Category(row.category),
        urgency=Urgency(row.urgency),
        reporter_name=row.reporter_name,
        reporter_phone=row.reporter_phone,
        description=row.description,
        lon=row.lon,
        lat=row.lat,
        received_at=row.received_at,
        enterprise_id=row.enterprise_id,
        district_adcode=row.district_adcode,
        grid_id=row.grid_id,
        merged_into=row.merged_into,
        external_ref=row.external_ref,
    )


def _complaint_values(complaint: Complaint, created_by: str) -> dict[str, Any]:
    return {
        "id": complaint.id,
        "channel": complaint.channel.value,
        "category": complaint.category.value,
        "urgency": complaint.urgency.value,
        "reporter_name": complaint.reporter_name,
        "reporter_phone": complaint.reporter_phone,
        "description": complaint.description,
        "lon": complaint.lon,
        "lat": complaint.lat,
        "received_at": complaint.received_at,
        "enterprise_id": complaint.enterprise_id,
        "district_adcode": complaint.district_adcode,
        "grid_id": complaint.grid_id,
        "merged_into": complaint.merged_into,
        "external_ref": complaint.external_ref,
        "created_by": created_by,
    }


def _record(row: TaskRow) -> TaskRecord:
    task = Task(
        id=row.id,
        kind=TaskKind(row.kind),
        state=TaskState(row.state),
        version=row.version,
        owner_org_id=row.owner_org_id,
        district_adcode=row.district_adcode,
        urgency=Urgency(row.urgency),
        category=Category(row.category),
        created_at=row.created_at,
        deadline=row.deadline,
        title=row.title,
        complaint_id=row.complaint_id,
        enterprise_id=row.enterprise_id,
        assignee_officer_id=row.assignee_officer_id,
        assignee_squad_id=row.assignee_squad_id,
        parent_task_id=row.parent_task_id,
        substitute=row.substitute,
        findings=row.findings,
        updated_at=row.updated_at,
        clock_stopped_at=row.clock_stopped_at,
    )
    return TaskRecord(task, row.lon, row.lat, row.grid_id, row.delivered_at, row.acked_at)


def _task_values(task: Task) -> dict[str, Any]:
    """The domain fields of a task as column values (not lon/lat/grid/delivery)."""
    return {
        "kind": task.kind.value,
        "state": task.state.value,
        "version": task.version,
        "owner_org_id": task.owner_org_id,
        "district_adcode": task.district_adcode,
        "urgency": task.urgency.value,
        "category": task.category.value,
        "title": task.title,
        "created_at": task.created_at,
        "deadline": task.deadline,
        "complaint_id": task.complaint_id,
        "enterprise_id": task.enterprise_id,
        "assignee_officer_id": task.assignee_officer_id,
        "assignee_squad_id": task.assignee_squad_id,
        "parent_task_id": task.parent_task_id,
        "substitute": task.substitute,
        "findings": task.findings,
        "updated_at": task.updated_at,
        "clock_stopped_at": task.clock_stopped_at,
    }


def _event(row: TaskEventRow) -> dict[str, Any]:
    return {
        "task_id": row.task_id,
        "version": row.version,
        "action": row.action,
        "from_state": row.from_state,
        "to_state": row.to_state,
        "user": row.user,
        "seat": row.seat,
        "role": row.role,
        "at": row.at.isoformat(),
        "payload": row.payload,
    }


def _outbox(row: OutboxRow) -> OutboxEntry:
    return OutboxEntry(
        id=row.id,
        officer_id=row.officer_id,
        seq=row.seq,
        task_id=row.task_id,
        kind=row.kind,
        payload=dict(row.payload),
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        acked_at=row.acked_at,
    )


def _audit(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        at=row.at,
        user=row.user,
        seat=row.seat,
        action=row.action,
        task_id=row.task_id,
        complaint_id=row.complaint_id,
        detail=dict(row.detail),
        id=row.id,
    )


# --- writes inside a caller's transaction --------------------------------------------------------


def add_audit(session: Session, entry: AuditEntry) -> None:
    session.add(
        AuditRow(
            at=entry.at,
            user=entry.user,
            seat=entry.seat,
            action=entry.action,
            task_id=entry.task_id,
            complaint_id=entry.complaint_id,
            detail=dict(entry.detail),
        )
    )


def add_outbox(session: Session, draft: OutboxDraft, task_id: str, at: datetime) -> OutboxEntry:
    """Append to the officer's outbox with the next per-officer sequence number.

    Two writers picking the same number collide on the (officer_id, seq) unique key; the
    losing transaction fails as a whole and is retried by :meth:`DispatchRepo._retrying`.
    """
    last = session.scalar(
        select(func.max(OutboxRow.seq)).where(OutboxRow.officer_id == draft.officer_id)
    )
    row = OutboxRow(
        officer_id=draft.officer_id,
        seq=(last or 0) + 1,
        task_id=task_id,
        kind=draft.kind,
        payload=dict(draft.payload),
        created_at=at,
        attempts=0,
    )
    session.add(row)
    session.flush()
    return _outbox(row)


def squad_payload(record: TaskRecord, note: str | None = None) -> dict[str, Any]:
    """What a squad member's device needs about an enforcement task (as for officers)."""
    task = record.task
    return {
        "task_id": task.id,
        "kind": task.kind.value,
        "title": task.title,
        "category": task.category.value,
        "urgency": task.urgency.value,
        "lon": record.lon,
        "lat": record.lat,
        "enterprise_id": task.enterprise_id,
        "deadline": task.deadline.isoformat(),
        "squad_id": task.assignee_squad_id,
        "note": note,
    }


def add_squad_outbox(
    session: Session,
    squad_id: str,
    kind: str,
    payload: Mapping[str, Any],
    task_id: str,
    at: datetime,
) -> list[OutboxEntry]:
    """One outbox entry per member of the squad, in the caller's transaction.

    Every member gets it, enrolled device or not: a member who enrols a tablet later still
    receives the squad's open tasks (pending entries wait for the first hello), and nobody
    has to re-send when a token is issued. Each member's device acks its own entry; the
    task's delivered/acked times are set by the first member (``OutboxRepo._mark``).
    """
    members = session.scalars(
        select(OfficerRow.id).where(OfficerRow.squad_id == squad_id).order_by(OfficerRow.id)
    )
    return [
        add_outbox(session, OutboxDraft(member, kind, payload), task_id, at) for member in members
    ]


def _squad_outbox_for(
    session: Session, before: TaskRecord, after: TaskRecord, event: TaskEvent, at: datetime
) -> list[OutboxEntry]:
    """Enforcement tasks reach their squad: cancelled, moved to another squad, reopened."""
    if after.task.kind is not TaskKind.ENFORCEMENT:
        return []
    old, new = before.task.assignee_squad_id, after.task.assignee_squad_id
    reason = event.payload.get("reason")
    cancelled = {"task_id": after.task.id, "reason": reason}
    entries: list[OutboxEntry] = []
    if event.action is Action.CANCEL and old is not None:
        entries += add_squad_outbox(session, old, OUTBOX_CANCELLED, cancelled, after.task.id, at)
    elif event.action in (Action.REASSIGN, Action.REOPEN, Action.HAND_OVER):
        if old is not None and old != new and before.task.state is not TaskState.CANCELLED:
            entries += add_squad_outbox(
                session, old, OUTBOX_CANCELLED, cancelled, after.task.id, at
            )
        if new is not None:
            payload = squad_payload(after, reason if isinstance(reason, str) else None)
            entries += add_squad_outbox(session, new, OUTBOX_ASSIGNED, payload, after.task.id, at)
    return entries


def _insert_task(
    session: Session, task: Task, lon: float | None, lat: float | None, grid_id: str | None
) -> None:
    session.execute(
        insert(TaskRow).values(id=task.id, lon=lon, lat=lat, grid_id=grid_id, **_task_values(task))
    )


def _insert_event(session: Session, event: TaskEvent, from_state: TaskState | None) -> None:
    session.add(
        TaskEventRow(
            task_id=event.task_id,
            version=event.version,
            action=event.action.value,
            from_state=None if from_state is None else from_state.value,
            to_state=event.to_state.value,
            user=event.user,
            seat=event.seat,
            role=event.role.value,
            at=event.at,
            payload=dict(event.payload),
        )
    )


def _creation_event(task: Task, actor: Actor, note: str | None) -> TaskEventRow:
    return TaskEventRow(
        task_id=task.id,
        version=task.version,
        action=CREATE_ACTION,
        from_state=None,
        to_state=task.state.value,
        user=actor.user,
        seat=actor.seat,
        role=actor.role.value,
        at=task.created_at,
        payload={} if note is None else {"note": note},
    )


def insert_new_task(
    session: Session,
    task: Task,
    actor: Actor,
    *,
    lon: float | None,
    lat: float | None,
    grid_id: str | None,
    outbox: OutboxDraft | None,
    audit: AuditEntry,
    note: str | None = None,
) -> tuple[TaskRecord, OutboxEntry | None]:
    """The task, its first event, outbox entries and audit entry, in the caller's transaction."""
    _insert_task(session, task, lon, lat, grid_id)
    session.add(_creation_event(task, actor, note))
    entry = None if outbox is None else add_outbox(session, outbox, task.id, task.created_at)
    record = TaskRecord(task, lon, lat, grid_id)
    if task.kind is TaskKind.ENFORCEMENT and task.assignee_squad_id is not None:
        add_squad_outbox(
            session,
            task.assignee_squad_id,
            OUTBOX_ASSIGNED,
            squad_payload(record, note),
            task.id,
            task.created_at,
        )
    add_audit(session, audit)
    return record, entry


# --- the repository ---------------------------------------------------------------------------


class DispatchRepo:
    """Dispatch storage on one Store; every public method is one transaction."""

    RETRIES = 5

    def __init__(self, store: Store) -> None:
        self.store = store

    def _read(self, query: Callable[[Session], T]) -> T:
        with self.store.session() as session:
            return query(session)

    def _retrying(self, change: Callable[[Session], T]) -> T:
        """Run ``change`` in a transaction, again if it lost an outbox sequence race."""
        for attempt in range(self.RETRIES):
            try:
                with self.store.session() as session:
                    return change(session)
            except IntegrityError as exc:
                if "outbox" not in str(exc.orig) or attempt == self.RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    # -- complaints ------------------------------------------------------------------------

    def add_complaint(self, complaint: Complaint, created_by: str, audit: AuditEntry) -> None:
        def change(session: Session) -> None:
            session.execute(insert(ComplaintRow).values(**_complaint_values(complaint, created_by)))
            add_audit(session, audit)

        self._retrying(change)

    def add_intake_complaint(
        self,
        complaint: Complaint,
        system: str,
        idempotency_key: str,
        response: list[dict[str, Any]],
        at: datetime,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Store an intake complaint once per (system, key); returns (answer, created).

        A retry, even one racing the first request, gets the first request's answer: the
        unique key makes the database pick one winner, the loser reads the winner's row.
        """

        def change(session: Session) -> None:
            session.execute(insert(ComplaintRow).values(**_complaint_values(complaint, system)))
            session.execute(
                insert(IntakeRequestRow).values(
                    system=system,
                    idempotency_key=idempotency_key,
                    complaint_id=complaint.id,
                    response=response,
                    created_at=at,
                )
            )
            add_audit(
                session,
                AuditEntry(
                    at=at,
                    user=system,
                    seat="intake",
                    action="complaint.intake",
                    complaint_id=complaint.id,
                    detail={"idempotency_key": idempotency_key},
                ),
            )

        try:
            with self.store.session() as session:
                change(session)
            return response, True
        except IntegrityError:
            stored = self.intake_answer(system, idempotency_key)
            if stored is None:
                raise
            return stored, False

    def intake_answer(self, system: str, idempotency_key: str) -> list[dict[str, Any]] | None:
        def query(session: Session) -> list[dict[str, Any]] | None:
            return session.scalar(
                select(IntakeRequestRow.response).where(
                    IntakeRequestRow.system == system,
                    IntakeRequestRow.idempotency_key == idempotency_key,
                )
            )

        return self._read(query)

    def get_complaint(self, complaint_id: str) -> Complaint | None:
        def query(session: Session) -> Complaint | None:
            row = session.get(ComplaintRow, complaint_id)
            return None if row is None else _complaint(row)

        return self._read(query)

    def also_reported_by(self, complaint_id: str) -> list[Complaint]:
        """Complaints merged into this one, oldest first."""
        return self._read(
            lambda session: [
                _complaint(row)
                for row in session.scalars(
                    select(ComplaintRow)
                    .where(ComplaintRow.merged_into == complaint_id)
                    .order_by(ComplaintRow.received_at, ComplaintRow.id)
                )
            ]
        )

    def list_complaints(
        self,
        districts: Collection[str],
        status: str = "open",
        since: datetime | None = None,
        limit: int = 500,
    ) -> list[Complaint]:
        """Newest first; ``open`` = not merged into another case, ``merged``, or ``all``."""

        def query(session: Session) -> list[Complaint]:
            stmt = select(ComplaintRow).where(ComplaintRow.district_adcode.in_(list(districts)))
            if status == "open":
                stmt = stmt.where(ComplaintRow.merged_into.is_(None))
            elif status == "merged":
                stmt = stmt.where(ComplaintRow.merged_into.is_not(None))
            if since is not None:
                stmt = stmt.where(ComplaintRow.received_at >= since)
            stmt = stmt.order_by(ComplaintRow.received_at.desc(), ComplaintRow.id).limit(limit)
            return [_complaint(row) for row in session.scalars(stmt)]

        return self._read(query)

    def duplicate_pool(
        self, since: datetime, enterprise_id: str | None
    ) -> tuple[list[Complaint], set[str], dict[str, str]]:
        """Candidates for duplicate detection, the ids of open cases, and each one's status.

        Candidates: unmerged complaints received since ``since`` plus every unmerged
        complaint about ``enterprise_id``. A case is open while it has no task or a task
        whose SLA clock still runs.
        """

        def query(session: Session) -> tuple[list[Complaint], set[str], dict[str, str]]:
            condition = ComplaintRow.received_at >= since
            if enterprise_id is not None:
                condition = or_(condition, ComplaintRow.enterprise_id == enterprise_id)
            rows = list(
                session.scalars(
                    select(ComplaintRow).where(ComplaintRow.merged_into.is_(None), condition)
                )
            )
            ids = [row.id for row in rows]
            states: dict[str, list[tuple[str, str]]] = {}
            if ids:
                for complaint_id, kind, state in session.execute(
                    select(TaskRow.complaint_id, TaskRow.kind, TaskRow.state).where(
                        TaskRow.complaint_id.in_(ids)
                    )
                ):
                    if complaint_id is not None:
                        states.setdefault(complaint_id, []).append((kind, state))
            open_ids: set[str] = set()
            status: dict[str, str] = {}
            for complaint_id in ids:
                tasks = states.get(complaint_id, [])
                if not tasks:
                    open_ids.add(complaint_id)
                    status[complaint_id] = "new"
                elif any(state not in _STOPPED[kind] for kind, state in tasks):
                    open_ids.add(complaint_id)
                    status[complaint_id] = "in_progress"
                else:
                    status[complaint_id] = "done"
            return [_complaint(row) for row in rows], open_ids, status

        return self._read(query)

    def merge_complaint(self, complaint_id: str, into_id: str, audit: AuditEntry) -> Complaint:
        """Mark ``complaint_id`` as also reported in ``into_id``; ValueError if not possible."""

        def change(session: Session) -> Complaint:
            if complaint_id == into_id:
                raise ValueError("a complaint cannot be merged into itself")
            source = session.get(ComplaintRow, complaint_id, with_for_update=True)
            target = session.get(ComplaintRow, into_id)
            if source is None or target is None:
                missing = complaint_id if source is None else into_id
                raise LookupError(f"no complaint {missing!r}")
            if target.merged_into is not None:
                raise ValueError(
                    f"{into_id} was itself merged into {target.merged_into}: merge into that"
                )
            if source.merged_into is not None:
                raise ValueError(f"{complaint_id} is already merged into {source.merged_into}")
            has_task = session.scalar(
                select(func.count())
                .select_from(TaskRow)
                .where(TaskRow.complaint_id == complaint_id)
            )
            if has_task:
                raise ValueError(f"{complaint_id} already has a task; cancel it before merging")
            # Complaints merged into the source follow it, so no chain forms.
            session.execute(
                update(ComplaintRow)
                .where(ComplaintRow.merged_into == complaint_id)
                .values(merged_into=into_id)
            )
            source.merged_into = into_id
            add_audit(session, audit)
            return _complaint(target)

        return self._retrying(change)

    # -- tasks -----------------------------------------------------------------------------

    def create_task(
        self,
        draft: TaskDraft,
        task_id: str,
        created_at: datetime,
        deadline: datetime,
        actor: Actor,
        *,
        lon: float | None,
        lat: float | None,
        grid_id: str | None,
        outbox: OutboxDraft | None,
        audit: AuditEntry,
        note: str | None = None,
    ) -> tuple[TaskRecord, OutboxEntry | None]:
        """Write the task, its first event, its outbox entry and the audit entry at once."""
        task = create_task(draft, task_id, created_at, deadline)
        return self._retrying(
            lambda session: insert_new_task(
                session,
                task,
                actor,
                lon=lon,
                lat=lat,
                grid_id=grid_id,
                outbox=outbox,
                audit=audit,
                note=note,
            )
        )

    def transaction(self, change: Callable[[Session], T]) -> T:
        """Run ``change`` (which may call :func:`insert_new_task`) as one transaction.

        For callers that store their own rows together with tasks; retried like the
        repository's own writes when it lost an outbox sequence race.
        """
        return self._retrying(change)

    def get_task(self, task_id: str) -> TaskRecord | None:
        def query(session: Session) -> TaskRecord | None:
            row = session.get(TaskRow, task_id)
            return None if row is None else _record(row)

        return self._read(query)

    def apply_action(
        self,
        task_id: str,
        action: Action,
        actor: Actor,
        at: datetime,
        *,
        expected_version: int,
        payload: Mapping[str, object],
        org_parents: Mapping[str, str | None],
        follow_up_deadline: Callable[[TaskDraft, datetime], datetime],
        outbox_for: Callable[[TaskRecord, TaskRecord, TaskEvent], Sequence[OutboxDraft]],
        audit_detail: Mapping[str, Any] | None = None,
        new_task_id: Callable[[], str] | None = None,
    ) -> ActionOutcome:
        """Apply ``action`` through the state machine and store everything it produced.

        Raises StaleTask (version moved on, also when another writer wins the race between
        our read and our update), LookupError for an unknown task, and the core's
        IllegalTransition / Forbidden / InvalidPayload.
        """

        def change(session: Session) -> ActionOutcome:
            row = session.get(TaskRow, task_id)
            if row is None:
                raise LookupError(f"no task {task_id!r}")
            before = _record(row)
            if before.task.version != expected_version:
                raise StaleTask(before, expected_version)
            task, event = apply(
                before.task,
                action,
                actor,
                at,
                expected_version=expected_version,
                org_parents=org_parents,
                **payload,
            )
            values = _task_values(task)
            delivered_at, acked_at = before.delivered_at, before.acked_at
            if action is Action.DELIVER:
                delivered_at = delivered_at or at
            if action in (Action.REASSIGN, Action.REOPEN, Action.HAND_OVER):
                delivered_at = acked_at = None
            result = session.execute(
                update(TaskRow)
                .where(TaskRow.id == task.id, TaskRow.version == before.task.version)
                .values(
                    delivered_at=delivered_at,
                    acked_at=acked_at,
                    overdue_notified_at=(
                        None
                        if action in (Action.REOPEN, Action.REASSIGN)
                        else row.overdue_notified_at
                    ),
                    **values,
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise _LostRace
            after = TaskRecord(task, before.lon, before.lat, before.grid_id, delivered_at, acked_at)
            _insert_event(session, event, before.task.state)
            entries = [
                add_outbox(session, d, task.id, at) for d in outbox_for(before, after, event)
            ]
            entries += _squad_outbox_for(session, before, after, event, at)
            follow_record: TaskRecord | None = None
            if event.follow_up is not None:
                if new_task_id is None:
                    raise ValueError(f"'{action}' creates a task: new_task_id is required")
                draft = event.follow_up
                follow = create_task(draft, new_task_id(), at, follow_up_deadline(draft, at))
                _insert_task(session, follow, before.lon, before.lat, before.grid_id)
                session.add(_creation_event(follow, actor, None))
                follow_record = TaskRecord(follow, before.lon, before.lat, before.grid_id)
                if follow.kind is TaskKind.ENFORCEMENT and follow.assignee_squad_id is not None:
                    add_squad_outbox(
                        session,
                        follow.assignee_squad_id,
                        OUTBOX_ASSIGNED,
                        squad_payload(follow_record, before.task.findings),
                        follow.id,
                        at,
                    )
            detail: dict[str, Any] = {
                "action": action.value,
                "from": before.task.state.value,
                "to": task.state.value,
                "version": task.version,
                "payload": dict(event.payload),
                **(audit_detail or {}),
            }
            if follow_record is not None:
                detail["follow_up_task_id"] = follow_record.task.id
            add_audit(
                session,
                AuditEntry(
                    at=at,
                    user=actor.user,
                    seat=actor.seat,
                    action=f"task.{action.value}",
                    task_id=task.id,
                    complaint_id=task.complaint_id,
                    detail=detail,
                ),
            )
            return ActionOutcome(after, event, follow_record, tuple(entries))

        try:
            return self._retrying(change)
        except _LostRace:
            current = self.get_task(task_id)
            if current is None:
                raise LookupError(f"no task {task_id!r}") from None
            raise StaleTask(current, expected_version) from None

    def add_task_note(
        self,
        task_id: str,
        actor: Actor,
        kind: str,
        payload: Mapping[str, Any],
        at: datetime,
    ) -> tuple[TaskRecord, dict[str, Any]]:
        """Add a timeline entry that changes nothing, e.g. an officer's report (findings,
        notes, attachment ids), and audit it; returns the task and the entry as
        :meth:`task_events` shows it.

        The task's state and version stay as they are: a note never conflicts with an action
        racing it. ``kind`` names the entry and must not look like a state-machine action or
        the creation entry, so a timeline can tell them apart. LookupError for an unknown task.
        """
        if not _NOTE_KIND.match(kind) or kind in _RESERVED_KINDS:
            raise ValueError(
                f"note kind {kind!r} must be a lower-case word (at most 32 characters) that is "
                "not a task action or 'dispatch'"
            )

        def change(session: Session) -> tuple[TaskRecord, dict[str, Any]]:
            row = session.get(TaskRow, task_id)
            if row is None:
                raise LookupError(f"no task {task_id!r}")
            note = TaskEventRow(
                task_id=task_id,
                version=row.version,
                action=kind,
                from_state=row.state,
                to_state=row.state,
                user=actor.user,
                seat=actor.seat,
                role=actor.role.value,
                at=at,
                payload=dict(payload),
            )
            session.add(note)
            add_audit(
                session,
                AuditEntry(
                    at=at,
                    user=actor.user,
                    seat=actor.seat,
                    action=f"task.{kind}",
                    task_id=task_id,
                    complaint_id=row.complaint_id,
                    detail=dict(payload),
                ),
            )
            session.flush()
            return _record(row), _event(note)

        return self._retrying(change)

    def task_events(self, task_id: str) -> list[dict[str, Any]]:
        return self._read(
            lambda session: [
                _event(row)
                for row in session.scalars(
                    select(TaskEventRow)
                    .where(TaskEventRow.task_id == task_id)
                    .order_by(TaskEventRow.id)
                )
            ]
        )

    def task_outbox(self, task_id: str) -> list[OutboxEntry]:
        return self._read(
            lambda session: [
                _outbox(row)
                for row in session.scalars(
                    select(OutboxRow).where(OutboxRow.task_id == task_id).order_by(OutboxRow.id)
                )
            ]
        )

    def tasks_for_complaint(self, complaint_id: str) -> list[TaskRecord]:
        return self._read(
            lambda session: [
                _record(row)
                for row in session.scalars(
                    select(TaskRow)
                    .where(TaskRow.complaint_id == complaint_id)
                    .order_by(TaskRow.created_at, TaskRow.id)
                )
            ]
        )

    def board(
        self,
        queue: str,
        districts: Collection[str],
        owner_orgs: Collection[str],
        now: datetime,
        day_start: datetime,
        search: str | None = None,
        limit: int = 200,
    ) -> list[TaskRecord]:
        """Tasks of one board queue visible to the caller, most urgent deadline first.

        Queues: new (assigned, not yet delivered), awaiting_ack (delivered, not accepted),
        in_progress (accepted … on site, or verified/complete and not yet closed),
        overdue (clock running and past the deadline), closed_today, all.
        """

        def query(session: Session) -> list[TaskRecord]:
            stmt = select(TaskRow).where(
                TaskRow.district_adcode.in_(list(districts)),
                TaskRow.owner_org_id.in_(list(owner_orgs)),
            )
            if queue == "new":
                stmt = stmt.where(TaskRow.state == TaskState.ASSIGNED.value)
            elif queue == "awaiting_ack":
                stmt = stmt.where(TaskRow.state == TaskState.DELIVERED.value)
            elif queue == "in_progress":
                stmt = stmt.where(
                    TaskRow.state.in_(
                        [
                            TaskState.ACCEPTED.value,
                            TaskState.EN_ROUTE.value,
                            TaskState.ON_SITE.value,
                            TaskState.VERIFIED_CONFIRMED.value,
                            TaskState.VERIFIED_UNFOUNDED.value,
                            TaskState.PROCEDURE_COMPLETE.value,
                        ]
                    )
                )
            elif queue == "overdue":
                stmt = stmt.where(_overdue_clause(now))
            elif queue == "closed_today":
                stmt = stmt.where(
                    TaskRow.state.in_([TaskState.CLOSED.value, TaskState.ARCHIVED.value]),
                    TaskRow.updated_at >= day_start,
                )
            elif queue != "all":
                raise ValueError(f"unknown queue {queue!r}")
            if search:
                pattern = f"%{search.lower()}%"
                stmt = stmt.where(
                    or_(
                        func.lower(TaskRow.title).like(pattern),
                        func.lower(TaskRow.id).like(pattern),
                        func.lower(func.coalesce(TaskRow.complaint_id, "")).like(pattern),
                    )
                )
            stmt = stmt.order_by(TaskRow.deadline, TaskRow.id).limit(limit)
            return [_record(row) for row in session.scalars(stmt)]

        return self._read(query)

    def overdue_unannounced(self, now: datetime) -> list[TaskRecord]:
        """Tasks past their deadline with the clock running that nobody announced yet."""
        return self._read(
            lambda session: [
                _record(row)
                for row in session.scalars(
                    select(TaskRow)
                    .where(_overdue_clause(now), TaskRow.overdue_notified_at.is_(None))
                    .order_by(TaskRow.deadline, TaskRow.id)
                )
            ]
        )

    def claim_overdue(self, task_id: str, version: int, now: datetime) -> bool:
        """Mark the task announced; False if another hub (or an update) came first."""

        def change(session: Session) -> bool:
            result = session.execute(
                update(TaskRow)
                .where(
                    TaskRow.id == task_id,
                    TaskRow.version == version,
                    TaskRow.overdue_notified_at.is_(None),
                )
                .values(overdue_notified_at=now)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

        with self.store.session() as session:
            return change(session)

    def district_figures(
        self,
        districts: Collection[str],
        owner_orgs: Collection[str],
        now: datetime,
        day_start: datetime,
    ) -> list[DistrictFigures]:
        """Per district: tasks by state, open, overdue, median verification, complaints today."""

        def query(session: Session) -> list[DistrictFigures]:
            visible = and_(
                TaskRow.district_adcode.in_(list(districts)),
                TaskRow.owner_org_id.in_(list(owner_orgs)),
            )
            by_state: dict[str, dict[str, int]] = {d: {} for d in districts}
            open_count: dict[str, int] = dict.fromkeys(districts, 0)
            for adcode, kind, state, count in session.execute(
                select(TaskRow.district_adcode, TaskRow.kind, TaskRow.state, func.count())
                .where(visible)
                .group_by(TaskRow.district_adcode, TaskRow.kind, TaskRow.state)
            ):
                states = by_state[adcode]
                states[state] = states.get(state, 0) + count
                if state not in _STOPPED[kind]:
                    open_count[adcode] += count
            # Running tasks, once: overdue tasks, and open and overdue cases (distinct keys).
            case_key = func.coalesce(TaskRow.complaint_id, TaskRow.parent_task_id, TaskRow.id)
            late = TaskRow.deadline < now
            overdue: dict[str, int] = {}
            open_cases: dict[str, int] = {}
            overdue_cases: dict[str, int] = {}
            for district, late_tasks, cases, late_cases in session.execute(
                select(
                    TaskRow.district_adcode,
                    func.count(case((late, 1))),  # NULL, not counted, when not late
                    func.count(case_key.distinct()),
                    func.count(case((late, case_key)).distinct()),
                )
                .where(visible, _running_clause())
                .group_by(TaskRow.district_adcode)
            ):
                overdue[district] = late_tasks
                open_cases[district] = cases
                overdue_cases[district] = late_cases
            awaiting: dict[str, int] = {
                adcode: count
                for adcode, count in session.execute(
                    select(ComplaintRow.district_adcode, func.count())
                    .where(
                        ComplaintRow.district_adcode.in_(list(districts)),
                        ComplaintRow.merged_into.is_(None),
                        ~select(TaskRow.id).where(TaskRow.complaint_id == ComplaintRow.id).exists(),
                    )
                    .group_by(ComplaintRow.district_adcode)
                )
                if adcode is not None
            }
            durations: dict[str, list[float]] = {}
            for adcode, created, stopped in session.execute(
                select(TaskRow.district_adcode, TaskRow.created_at, TaskRow.clock_stopped_at).where(
                    visible,
                    TaskRow.kind == TaskKind.VERIFICATION.value,
                    TaskRow.clock_stopped_at.is_not(None),
                    TaskRow.state != TaskState.CANCELLED.value,
                )
            ):
                if stopped is not None:
                    durations.setdefault(adcode, []).append((stopped - created).total_seconds())
            complaints: dict[str, int] = {
                adcode: count
                for adcode, count in session.execute(
                    select(ComplaintRow.district_adcode, func.count())
                    .where(
                        ComplaintRow.district_adcode.in_(list(districts)),
                        ComplaintRow.received_at >= day_start,
                    )
                    .group_by(ComplaintRow.district_adcode)
                )
                if adcode is not None
            }
            return [
                DistrictFigures(
                    adcode=adcode,
                    by_state=by_state[adcode],
                    open=open_count[adcode],
                    overdue=overdue.get(adcode, 0),
                    median_verification_s=(
                        statistics.median(durations[adcode]) if adcode in durations else None
                    ),
                    complaints_today=complaints.get(adcode, 0),
                    awaiting_dispatch=awaiting.get(adcode, 0),
                    open_cases=open_cases.get(adcode, 0) + awaiting.get(adcode, 0),
                    overdue_cases=overdue_cases.get(adcode, 0),
                )
                for adcode in sorted(districts)
            ]

        return self._read(query)

    # -- audit -----------------------------------------------------------------------------

    def audit(self, entry: AuditEntry) -> None:
        with self.store.session() as session:
            add_audit(session, entry)

    def audit_query(
        self,
        *,
        task_id: str | None = None,
        user: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        complaint_ids: Collection[str] | None = None,
        task_ids: Collection[str] | None = None,
        limit: int = 200,
    ) -> list[AuditEntry]:
        """Newest first. ``complaint_ids``/``task_ids`` restrict to entries about those."""

        def query(session: Session) -> list[AuditEntry]:
            stmt = select(AuditRow)
            if task_id is not None:
                stmt = stmt.where(AuditRow.task_id == task_id)
            if user is not None:
                stmt = stmt.where(AuditRow.user == user)
            if since is not None:
                stmt = stmt.where(AuditRow.at >= since)
            if until is not None:
                stmt = stmt.where(AuditRow.at < until)
            if complaint_ids is not None or task_ids is not None:
                stmt = stmt.where(
                    or_(
                        AuditRow.complaint_id.in_(list(complaint_ids or ())),
                        AuditRow.task_id.in_(list(task_ids or ())),
                    )
                )
            stmt = stmt.order_by(AuditRow.id.desc()).limit(limit)
            return [_audit(row) for row in session.scalars(stmt)]

        return self._read(query)

    def visible_ids(
        self, districts: Collection[str], owner_orgs: Collection[str]
    ) -> tuple[set[str], set[str]]:
        """Ids of the complaints and tasks a scope may see (for filtering the audit log)."""

        def query(session: Session) -> tuple[set[str], set[str]]:
            complaints = set(
                session.scalars(
                    select(ComplaintRow.id).where(ComplaintRow.district_adcode.in_(list(districts)))
                )
            )
            tasks = set(
                session.scalars(
                    select(TaskRow.id).where(
                        TaskRow.district_adcode.in_(list(districts)),
                        TaskRow.owner_org_id.in_(list(owner_orgs)),
                    )
                )
            )
            return complaints, tasks

        return self._read(query)

    # -- intake API keys -------------------------------------------------------------------

    def add_api_key(self, name: str, key_hash: str, at: datetime) -> None:
        """Add a key; ValueError if the name is taken."""
        try:
            with self.store.session() as session:
                if session.get(ApiKeyRow, name) is not None:
                    raise ValueError(f"an API key named {name!r} already exists")
                session.add(ApiKeyRow(name=name, key_hash=key_hash, created_at=at, revoked=False))
        except IntegrityError as exc:
            raise ValueError(f"an API key named {name!r} already exists") from exc

    def list_api_keys(self) -> list[ApiKey]:
        return self._read(
            lambda session: [
                ApiKey(row.name, row.created_at, row.revoked)
                for row in session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.name))
            ]
        )

    def revoke_api_key(self, name: str) -> bool:
        """Revoke by name; False if there is no such key."""
        with self.store.session() as session:
            row = session.get(ApiKeyRow, name)
            if row is None:
                return False
            row.revoked = True
            return True

    def api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        def query(session: Session) -> ApiKey | None:
            row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash))
            return None if row is None else ApiKey(row.name, row.created_at, row.revoked)

        return self._read(query)


def _running_clause() -> Any:
    """The task's SLA clock still runs (its state is not a stopping one for its kind)."""
    return or_(
        *(
            and_(TaskRow.kind == kind, TaskRow.state.not_in(sorted(stopped)))
            for kind, stopped in _STOPPED.items()
        )
    )


def _overdue_clause(now: datetime) -> Any:
    """Clock running (per kind) and deadline passed."""
    return and_(_running_clause(), TaskRow.deadline < now)


class OutboxRepo:
    """The field link's view of the outbox: what to send an officer, and what came back."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def pending(self, officer_id: str, after_seq: int = 0, limit: int = 100) -> list[OutboxEntry]:
        """Entries after ``after_seq`` not yet acknowledged, in sequence order."""
        with self.store.session() as session:
            return [
                _outbox(row)
                for row in session.scalars(
                    select(OutboxRow)
                    .where(
                        OutboxRow.officer_id == officer_id,
                        OutboxRow.seq > after_seq,
                        OutboxRow.acked_at.is_(None),
                    )
                    .order_by(OutboxRow.seq)
                    .limit(limit)
                )
            ]

    def mark_delivered(self, officer_id: str, seq: int, at: datetime) -> bool:
        """Record the device's receipt; True the first time, False if already recorded/unknown."""
        return self._mark(officer_id, seq, at, OutboxRow.delivered_at, TaskRow.delivered_at)

    def mark_acked(self, officer_id: str, seq: int, at: datetime) -> bool:
        """Record the officer's acknowledgement; False if already acked or unknown."""
        return self._mark(officer_id, seq, at, OutboxRow.acked_at, TaskRow.acked_at)

    def _mark(self, officer_id: str, seq: int, at: datetime, column: Any, task_column: Any) -> bool:
        with self.store.session() as session:
            values: dict[str, Any] = {column.key: at}
            if column.key == "acked_at":
                values["delivered_at"] = func.coalesce(OutboxRow.delivered_at, at)
            result = session.execute(
                update(OutboxRow)
                .where(OutboxRow.officer_id == officer_id, OutboxRow.seq == seq, column.is_(None))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return False
            task_id = session.scalar(
                select(OutboxRow.task_id).where(
                    OutboxRow.officer_id == officer_id, OutboxRow.seq == seq
                )
            )
            session.execute(
                update(TaskRow)
                .where(TaskRow.id == task_id, task_column.is_(None))
                .values({task_column.key: at})
                .execution_options(synchronize_session=False)
            )
            return True
