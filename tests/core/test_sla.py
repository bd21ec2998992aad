"""SLA deadlines, overdue arithmetic and the clock that stops when the work is done."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.core.complaints import Category, Urgency
from console.core.sla import (
    Countdown,
    SlaPolicy,
    countdown,
    is_overdue,
    overdue_tasks,
    parse_duration,
    remaining,
)
from console.core.tasks import Action, Actor, ActorRole, Task, TaskKind, TaskState, apply

T0 = datetime(2025, 6, 3, 8, 0, tzinfo=UTC)
DISPATCHER = Actor("disp01", "seat-1", ActorRole.DISPATCHER)


def running_task(
    task_id: str = "t-1",
    deadline: datetime = T0 + timedelta(hours=1),
    kind: TaskKind = TaskKind.VERIFICATION,
    state: TaskState = TaskState.ACCEPTED,
) -> Task:
    return Task(
        id=task_id,
        kind=kind,
        state=state,
        version=1,
        owner_org_id="jj",
        district_adcode="331002",
        urgency=Urgency.URGENT,
        category=Category.AIR,
        created_at=T0,
        deadline=deadline,
        title="异味",
        assignee_officer_id="o-1" if kind is TaskKind.VERIFICATION else None,
        assignee_squad_id="s-1" if kind is TaskKind.ENFORCEMENT else None,
        updated_at=T0,
    )


def test_default_deadlines() -> None:
    policy = SlaPolicy()
    v, e = TaskKind.VERIFICATION, TaskKind.ENFORCEMENT
    expected = {
        (v, Urgency.NORMAL): timedelta(hours=24),
        (v, Urgency.URGENT): timedelta(hours=1),
        (v, Urgency.CRITICAL): timedelta(minutes=30),
        (e, Urgency.NORMAL): timedelta(hours=72),
        (e, Urgency.URGENT): timedelta(hours=8),
        (e, Urgency.CRITICAL): timedelta(hours=2),
    }
    for (kind, urgency), duration in expected.items():
        for category in Category:
            assert policy.duration_for(kind, category, urgency) == duration
    deadline = policy.deadline_for(v, Category.WATER, Urgency.CRITICAL, T0)
    assert deadline == T0 + timedelta(minutes=30)


def test_policy_from_settings_dict() -> None:
    policy = SlaPolicy.from_dict(
        {
            "verification": {"urgent": "45m", "water": {"normal": "12h", "critical": 20}},
            "enforcement": {"normal": "3d"},
        }
    )
    v, e = TaskKind.VERIFICATION, TaskKind.ENFORCEMENT
    assert policy.duration_for(v, Category.AIR, Urgency.URGENT) == timedelta(minutes=45)
    assert policy.duration_for(v, Category.WATER, Urgency.URGENT) == timedelta(minutes=45)
    assert policy.duration_for(v, Category.WATER, Urgency.NORMAL) == timedelta(hours=12)
    assert policy.duration_for(v, Category.NOISE, Urgency.NORMAL) == timedelta(hours=24)
    assert policy.duration_for(v, Category.WATER, Urgency.CRITICAL) == timedelta(minutes=20)
    assert policy.duration_for(e, Category.WATER, Urgency.NORMAL) == timedelta(days=3)
    assert policy.duration_for(e, Category.WATER, Urgency.URGENT) == timedelta(hours=8)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"inspection": {"urgent": "1h"}}, "unknown task kind 'inspection'"),
        ({"verification": {"soon": "1h"}}, "unknown urgency or category 'soon'"),
        ({"verification": {"water": {"asap": "1h"}}}, "unknown urgency 'asap'"),
        ({"verification": {"urgent": "an hour"}}, "verification/urgent: not a duration"),
        ({"verification": {"urgent": 0}}, "must be positive"),
        ({"verification": {"urgent": True}}, "not a duration"),
        ({"verification": "1h"}, "must be a mapping"),
        ({"verification": {"water": "1h"}}, "verification/water must be a mapping"),
    ],
)
def test_bad_settings_are_rejected_clearly(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SlaPolicy.from_dict(settings)


def test_parse_duration() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration(" 2D ") == timedelta(days=2)
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration(1.5) == timedelta(seconds=90)
    for bad in ("", "h", "1x", "-5m", None):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)


def test_incomplete_policy_is_rejected() -> None:
    with pytest.raises(ValueError, match="lacks deadlines for"):
        SlaPolicy(deadlines={(TaskKind.VERIFICATION, Urgency.NORMAL): timedelta(hours=1)})


def test_remaining_and_overdue() -> None:
    task = running_task(deadline=T0 + timedelta(hours=1))
    assert remaining(task, T0 + timedelta(minutes=15)) == timedelta(minutes=45)
    assert not is_overdue(task, T0 + timedelta(hours=1))  # due exactly now is not late yet
    assert remaining(task, T0 + timedelta(hours=2)) == timedelta(hours=-1)
    assert is_overdue(task, T0 + timedelta(hours=1, seconds=1))
    with pytest.raises(ValueError, match="timezone-aware"):
        remaining(task, datetime(2025, 6, 3, 9))


def test_clock_stops_when_verified_late_and_restarts_on_reopen() -> None:
    task = running_task(state=TaskState.ON_SITE, deadline=T0 + timedelta(hours=1))
    verified_at = T0 + timedelta(hours=1, minutes=20)
    done, _ = apply(
        task,
        Action.VERIFY_CONFIRMED,
        DISPATCHER,
        verified_at,
        expected_version=1,
        findings="异味明显",
    )
    for later in (verified_at, verified_at + timedelta(days=30)):
        assert remaining(done, later) == timedelta(minutes=-20)  # late by 20 min, forever
        assert not is_overdue(done, later)
    reopened_at = verified_at + timedelta(days=1)
    reopened, _ = apply(
        done,
        Action.REOPEN,
        DISPATCHER,
        reopened_at,
        expected_version=2,
        reason="再次投诉",
        to="o-2",
        deadline=reopened_at + timedelta(hours=1),
    )
    assert remaining(reopened, reopened_at + timedelta(minutes=10)) == timedelta(minutes=50)


def test_enforcement_clock_stops_at_procedure_complete() -> None:
    task = running_task(kind=TaskKind.ENFORCEMENT, state=TaskState.ON_SITE)
    done, _ = apply(
        task, Action.COMPLETE_PROCEDURE, DISPATCHER, T0 + timedelta(minutes=40), expected_version=1
    )
    assert remaining(done, T0 + timedelta(days=3)) == timedelta(minutes=20)
    assert overdue_tasks([done], T0 + timedelta(days=3)) == []


def test_overdue_tasks_most_overdue_first() -> None:
    now = T0 + timedelta(hours=5)
    tasks = [
        running_task("a", T0 + timedelta(hours=4)),
        running_task("b", T0 + timedelta(hours=6)),  # not yet due
        running_task("c", T0 + timedelta(hours=1)),
        running_task("d", T0 + timedelta(hours=4)),
    ]
    assert [t.id for t in overdue_tasks(tasks, now)] == ["c", "a", "d"]


@pytest.mark.parametrize(
    ("left", "expected"),
    [
        (timedelta(hours=1, minutes=1, seconds=1), Countdown(1, 1, 1, 1)),
        (timedelta(0), Countdown(1, 0, 0, 0)),
        (timedelta(seconds=-0.5), Countdown(-1, 0, 0, 0)),
        (timedelta(minutes=-90, seconds=-5), Countdown(-1, 1, 30, 5)),
        (timedelta(days=3, seconds=59.9), Countdown(1, 72, 0, 59)),
    ],
)
def test_countdown(left: timedelta, expected: Countdown) -> None:
    assert countdown(left) == expected


instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=60, deadline=None)
@given(t1=instants, t2=instants)
def test_remaining_decreases_one_for_one_while_running(t1: datetime, t2: datetime) -> None:
    task = running_task(deadline=datetime(2027, 1, 1, tzinfo=UTC))
    early, late = sorted((t1, t2))
    assert remaining(task, early) - remaining(task, late) == late - early
    assert not is_overdue(task, early) or is_overdue(task, late)


@settings(max_examples=60, deadline=None)
@given(stopped_at=instants, t1=instants, t2=instants)
def test_remaining_is_constant_once_stopped(
    stopped_at: datetime, t1: datetime, t2: datetime
) -> None:
    task = running_task(state=TaskState.ON_SITE, deadline=datetime(2027, 1, 1, tzinfo=UTC))
    done, _ = apply(
        task,
        Action.CANCEL,
        DISPATCHER,
        max(stopped_at, T0),
        expected_version=1,
        reason="撤回",
    )
    assert remaining(done, t1) == remaining(done, t2)
    assert not is_overdue(done, t1)


@settings(max_examples=60, deadline=None)
@given(
    created=instants,
    delay=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
    kind=st.sampled_from(TaskKind),
    category=st.sampled_from(Category),
)
def test_deadlines_move_with_creation_and_tighten_with_urgency(
    created: datetime, delay: timedelta, kind: TaskKind, category: Category
) -> None:
    policy = SlaPolicy()
    normal, urgent, critical = (
        policy.deadline_for(kind, category, u, created)
        for u in (Urgency.NORMAL, Urgency.URGENT, Urgency.CRITICAL)
    )
    assert critical <= urgent <= normal
    later = policy.deadline_for(kind, category, Urgency.URGENT, created + delay)
    assert later - urgent == delay
