"""Dispatch storage on SQLite and PostgreSQL: one transaction per change, no lost update."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select

from console.core.complaints import Category, Channel, Complaint, Urgency
from console.core.tasks import (
    OUTBOX_ASSIGNED,
    Action,
    Actor,
    ActorRole,
    TaskDraft,
    TaskKind,
    TaskState,
)
from console.store import Store
from console.store.dispatch_repo import (
    AuditEntry,
    DispatchRepo,
    OutboxDraft,
    OutboxRepo,
    StaleTask,
)
from console.store.schema_dispatch import AuditRow, OutboxRow, TaskEventRow, TaskRow

T0 = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
DISPATCHER = Actor("disp", "seat-1", ActorRole.DISPATCHER)
OFFICER = Actor("o-1", "phone", ActorRole.OFFICER)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store.open(store_url)
    yield store
    store.close()


def complaint(complaint_id: str = "C1") -> Complaint:
    return Complaint(
        complaint_id,
        Channel.HOTLINE_12369,
        Category.WATER,
        Urgency.URGENT,
        "张三",
        "13812345678",
        "河水发黑",
        121.05,
        28.05,
        T0,
        district_adcode="331002",
        grid_id="g-1",
    )


def draft(complaint_id: str = "C1") -> TaskDraft:
    return TaskDraft(
        TaskKind.VERIFICATION,
        "org-a",
        "331002",
        Urgency.URGENT,
        Category.WATER,
        "河水发黑",
        complaint_id=complaint_id,
        assignee_officer_id="o-1",
    )


def create(repo: DispatchRepo, task_id: str = "T1") -> None:
    repo.create_task(
        draft(),
        task_id,
        T0,
        T0 + timedelta(hours=1),
        DISPATCHER,
        lon=121.05,
        lat=28.05,
        grid_id="g-1",
        outbox=OutboxDraft("o-1", OUTBOX_ASSIGNED, {"task_id": task_id}),
        audit=AuditEntry(T0, "disp", "seat-1", "task.dispatch", task_id=task_id),
    )


def counts(store: Store) -> dict[str, int]:
    with store.session() as session:
        return {
            row.__tablename__: session.scalar(select(func.count()).select_from(row)) or 0
            for row in (TaskRow, TaskEventRow, OutboxRow, AuditRow)
        }


def act(repo: DispatchRepo, action: Action, actor: Actor, version: int, **payload: Any) -> Any:
    return repo.apply_action(
        "T1",
        action,
        actor,
        T0 + timedelta(minutes=version),
        expected_version=version,
        payload=payload,
        org_parents={"org-a": "org-city", "org-city": None},
        follow_up_deadline=lambda d, at: at + timedelta(hours=8),
        outbox_for=lambda before, after, ev: [],
        new_task_id=lambda: f"T-follow-{version}",
    )


def test_create_writes_task_event_outbox_and_audit_together(store: Store) -> None:
    repo = DispatchRepo(store)
    repo.add_complaint(complaint(), "disp", AuditEntry(T0, "disp", "seat-1", "complaint.create"))
    create(repo)
    assert counts(store) == {"tasks": 1, "task_events": 1, "outbox": 1, "audit_log": 2}
    record = repo.get_task("T1")
    assert record is not None
    assert record.task.state is TaskState.ASSIGNED
    assert record.task.deadline == T0 + timedelta(hours=1)
    assert record.task.created_at.tzinfo is not None
    [entry] = OutboxRepo(store).pending("o-1")
    assert (entry.seq, entry.kind, entry.payload) == (1, OUTBOX_ASSIGNED, {"task_id": "T1"})


def test_failure_after_task_insert_leaves_nothing(store: Store) -> None:
    repo = DispatchRepo(store)
    repo.add_complaint(complaint(), "disp", AuditEntry(T0, "disp", "seat-1", "complaint.create"))

    def refuse_outbox(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO OUTBOX"):
            raise RuntimeError("disk full while writing the outbox")

    event.listen(store.engine, "before_cursor_execute", refuse_outbox)
    try:
        with pytest.raises(RuntimeError, match="disk full"):
            create(repo)
    finally:
        event.remove(store.engine, "before_cursor_execute", refuse_outbox)
    assert counts(store) == {"tasks": 0, "task_events": 0, "outbox": 0, "audit_log": 1}


def test_stale_version_is_a_conflict_and_nothing_is_lost(store: Store) -> None:
    repo = DispatchRepo(store)
    repo.add_complaint(complaint(), "disp", AuditEntry(T0, "disp", "seat-1", "complaint.create"))
    create(repo)
    outcome = act(repo, Action.DELIVER, OFFICER, 1)
    assert outcome.record.task.version == 2
    assert outcome.record.delivered_at is not None
    with pytest.raises(StaleTask) as caught:
        act(repo, Action.CANCEL, DISPATCHER, 1, reason="duplicate")
    assert caught.value.current.task.state is TaskState.DELIVERED
    assert caught.value.current.task.version == 2
    assert [e["action"] for e in repo.task_events("T1")] == ["dispatch", "deliver"]


def test_concurrent_writers_one_wins(store: Store) -> None:
    """Two threads (two connections) act on version 1 at once: exactly one succeeds."""
    repo = DispatchRepo(store)
    repo.add_complaint(complaint(), "disp", AuditEntry(T0, "disp", "seat-1", "complaint.create"))
    create(repo)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def worker(action: Action, actor: Actor, **payload: Any) -> None:
        barrier.wait()
        try:
            act(DispatchRepo(store), action, actor, 1, **payload)
            results.append("ok")
        except StaleTask:
            results.append("conflict")

    threads = [
        threading.Thread(target=worker, args=(Action.DELIVER, OFFICER)),
        threading.Thread(target=worker, args=(Action.CANCEL, DISPATCHER), kwargs={"reason": "dup"}),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["conflict", "ok"]
    record = repo.get_task("T1")
    assert record is not None
    assert record.task.version == 2
    assert len(repo.task_events("T1")) == 2


def test_escalate_creates_the_follow_up_in_the_same_transaction(store: Store) -> None:
    repo = DispatchRepo(store)
    repo.add_complaint(complaint(), "disp", AuditEntry(T0, "disp", "seat-1", "complaint.create"))
    create(repo)
    for version, action in enumerate(
        (Action.DELIVER, Action.ACCEPT, Action.DEPART, Action.ARRIVE), start=1
    ):
        act(repo, action, OFFICER, version)
    act(repo, Action.VERIFY_CONFIRMED, OFFICER, 5, findings="黑水直排")
    outcome = act(repo, Action.ESCALATE, DISPATCHER, 6, squad_id="s-a")
    assert outcome.follow_up is not None
    follow = repo.get_task(outcome.follow_up.task.id)
    assert follow is not None
    assert follow.task.kind is TaskKind.ENFORCEMENT
    assert follow.task.parent_task_id == "T1"
    assert follow.task.assignee_squad_id == "s-a"


def test_district_figures_count_cases_and_complaints_awaiting_a_task(store: Store) -> None:
    """Tasks are counted as the board lists them; cases once, however many tasks they have."""
    repo = DispatchRepo(store)
    for complaint_id in ("C1", "C2"):
        repo.add_complaint(
            complaint(complaint_id), "disp", AuditEntry(T0, "disp", "seat-1", "complaint.create")
        )
    create(repo)  # C1's verification, due at T0 + 1 h
    for version, action in enumerate(
        (Action.DELIVER, Action.ACCEPT, Action.DEPART, Action.ARRIVE), start=1
    ):
        act(repo, action, OFFICER, version)
    act(repo, Action.VERIFY_CONFIRMED, OFFICER, 5, findings="黑水直排")
    act(repo, Action.ESCALATE, DISPATCHER, 6, squad_id="s-a")  # C1's enforcement, running
    inspection = dataclasses.replace(draft(), complaint_id=None, title="双随机检查")
    for task_id in ("T-draw", "T-draw-2"):  # the same case: the second follows the first
        repo.create_task(
            inspection
            if task_id == "T-draw"
            else dataclasses.replace(inspection, parent_task_id="T-draw"),
            task_id,
            T0,
            T0 + timedelta(hours=1),
            DISPATCHER,
            lon=None,
            lat=None,
            grid_id=None,
            outbox=None,
            audit=AuditEntry(T0, "disp", "seat-1", "inspection.create", task_id=task_id),
        )

    (figures,) = repo.district_figures(["331002"], ["org-a"], T0 + timedelta(hours=2), T0)

    assert figures.open == 3  # C1's enforcement and both inspection tasks
    assert figures.overdue == 2  # the inspection tasks; C1's enforcement has 8 h
    assert figures.awaiting_dispatch == 1  # C2
    assert figures.open_cases == 3  # C1, the inspection, C2
    assert figures.overdue_cases == 1
    assert figures.complaints_today == 2


def test_outbox_sequence_delivery_and_ack_are_idempotent(store: Store) -> None:
    repo = DispatchRepo(store)
    repo.add_complaint(complaint(), "disp", AuditEntry(T0, "disp", "seat-1", "complaint.create"))
    create(repo, "T1")
    create(repo, "T2")
    outbox = OutboxRepo(store)
    assert [e.seq for e in outbox.pending("o-1")] == [1, 2]
    assert outbox.mark_delivered("o-1", 1, T0) is True
    assert outbox.mark_delivered("o-1", 1, T0) is False
    assert outbox.mark_acked("o-1", 1, T0) is True
    assert outbox.mark_acked("o-1", 1, T0) is False
    assert outbox.mark_acked("o-1", 99, T0) is False
    assert [e.seq for e in outbox.pending("o-1")] == [2]
    assert [e.seq for e in outbox.pending("o-1", after_seq=2)] == []
    record = repo.get_task("T1")
    assert record is not None
    assert record.acked_at == T0
    assert record.delivered_at == T0


def test_intake_request_is_stored_once(store: Store) -> None:
    repo = DispatchRepo(store)
    answer = [{"service_request_id": "C1", "service_notice": "received"}]
    first = repo.add_intake_complaint(complaint("C1"), "12369", "key-1", answer, T0)
    second = repo.add_intake_complaint(
        complaint("C2"), "12369", "key-1", [{"service_request_id": "C2"}], T0
    )
    assert first == (answer, True)
    assert second == (answer, False)
    assert repo.get_complaint("C2") is None
    # Another system may use the same key.
    assert repo.add_intake_complaint(complaint("C3"), "wechat", "key-1", answer, T0)[1]


def test_api_keys(store: Store) -> None:
    repo = DispatchRepo(store)
    repo.add_api_key("12369", "h" * 64, T0)
    with pytest.raises(ValueError, match="already exists"):
        repo.add_api_key("12369", "x" * 64, T0)
    key = repo.api_key_by_hash("h" * 64)
    assert key is not None
    assert not key.revoked
    assert repo.revoke_api_key("12369") is True
    assert repo.revoke_api_key("nobody") is False
    assert [(k.name, k.revoked) for k in repo.list_api_keys()] == [("12369", True)]
