"""The dispatch task state machine: every (kind, state, action) pair, roles, versions, payloads."""

from __future__ import annotations

import itertools
from collections import deque
from datetime import UTC, datetime, timedelta

import pytest

from console.core.complaints import Category, Urgency
from console.core.model import Role
from console.core.tasks import (
    CLOCK_STOPPED_STATES,
    ROLE_ACTIONS,
    STATES,
    TRANSITIONS,
    Action,
    Actor,
    ActorRole,
    Forbidden,
    IllegalTransition,
    InvalidPayload,
    Task,
    TaskKind,
    TaskState,
    VersionConflict,
    allowed_actions,
    apply,
    create_task,
    verify_action,
)

T0 = datetime(2025, 6, 3, 8, 0, tzinfo=UTC)
ORG_PARENTS: dict[str, str | None] = {
    "zj": None,
    "tz": "zj",
    "jj": "tz",
    "hy": "tz",
}
OFFICER_ID = "officer-1"
SQUAD_ID = "squad-1"
DISPATCHER = Actor("disp01", "seat-3", ActorRole.DISPATCHER)
OFFICER = Actor(OFFICER_ID, "device-77", ActorRole.OFFICER)
LEADER = Actor("boss", "laptop", ActorRole.LEADER)
SQUAD_MEMBER = Actor("officer-9", "device-12", ActorRole.OFFICER, squad_id=SQUAD_ID)


def make_task(kind: TaskKind, state: TaskState = TaskState.ASSIGNED, **changes: object) -> Task:
    fields: dict[str, object] = {
        "id": "task-1",
        "kind": kind,
        "state": state,
        "version": 3,
        "owner_org_id": "jj",
        "district_adcode": "331002",
        "urgency": Urgency.URGENT,
        "category": Category.WATER,
        "created_at": T0,
        "deadline": T0 + timedelta(hours=1),
        "title": "印染厂排口黑水",
        "complaint_id": "c-1",
        "enterprise_id": "e-1",
        "updated_at": T0,
        "clock_stopped_at": T0 if state in CLOCK_STOPPED_STATES[kind] else None,
    }
    if kind is TaskKind.VERIFICATION:
        fields["assignee_officer_id"] = OFFICER_ID
    else:
        fields["assignee_squad_id"] = SQUAD_ID
        fields["parent_task_id"] = "task-0"
    fields.update(changes)
    return Task(**fields)  # type: ignore[arg-type]


def valid_payload(kind: TaskKind, action: Action) -> dict[str, object]:
    """A payload every action accepts (with the dispatcher, who may do everything)."""
    to = OFFICER_ID if kind is TaskKind.VERIFICATION else SQUAD_ID
    return {
        Action.VERIFY_CONFIRMED: {"findings": "排口有黑色废水外排"},
        Action.VERIFY_UNFOUNDED: {"findings": "现场未见异常"},
        Action.CANCEL: {"reason": "重复投诉"},
        Action.REOPEN: {"reason": "群众再次投诉", "to": to},
        Action.REASSIGN: {"reason": "网格员请假", "to": to},
        Action.HAND_OVER: {
            "reason": "跨区案件",
            "to_org_id": "tz",
            "direction": "up",
            "org_parents": ORG_PARENTS,
        },
        Action.ESCALATE: {"squad_id": SQUAD_ID},
    }.get(action, {})


ALL_PAIRS = [
    (kind, state, action)
    for kind in TaskKind
    for state in sorted(STATES[kind])
    for action in Action
]


@pytest.mark.parametrize(("kind", "state", "action"), ALL_PAIRS)
def test_every_pair_follows_the_table(kind: TaskKind, state: TaskState, action: Action) -> None:
    task = make_task(kind, state)
    at = T0 + timedelta(minutes=5)
    target = TRANSITIONS.get((kind, state, action))
    payload = valid_payload(kind, action)
    if target is None:
        with pytest.raises(IllegalTransition) as info:
            apply(task, action, DISPATCHER, at, expected_version=3, **payload)
        assert (info.value.kind, info.value.state, info.value.action) == (kind, state, action)
        return
    new, event = apply(task, action, DISPATCHER, at, expected_version=3, **payload)
    assert new.state is target
    assert new.version == 4
    assert (event.from_state, event.to_state, event.action) == (state, target, action)
    assert (event.user, event.seat, event.role, event.at) == ("disp01", "seat-3", "dispatcher", at)
    assert (task.state, task.version) == (state, 3)  # the input is untouched
    assert (new.clock_stopped_at is not None) == (target in CLOCK_STOPPED_STATES[kind])


def test_every_state_is_reachable_from_assigned() -> None:
    for kind in TaskKind:
        seen = {TaskState.ASSIGNED}
        queue = deque(seen)
        while queue:
            state = queue.popleft()
            for (k, s, _), target in TRANSITIONS.items():
                if k is kind and s is state and target not in seen:
                    seen.add(target)
                    queue.append(target)
        assert seen == STATES[kind]
    assert TaskState.EN_ROUTE not in STATES[TaskKind.ENFORCEMENT]
    assert TaskState.PROCEDURE_COMPLETE not in STATES[TaskKind.VERIFICATION]


def test_archived_is_final_and_message_lists_allowed_actions() -> None:
    assert allowed_actions(TaskKind.VERIFICATION, TaskState.ARCHIVED) == ()
    task = make_task(TaskKind.VERIFICATION)
    with pytest.raises(IllegalTransition) as info:
        apply(task, Action.ACCEPT, OFFICER, T0, expected_version=3)
    assert str(info.value) == (
        "cannot 'accept' a verification task that is 'assigned'; "
        "allowed: deliver, cancel, reassign, hand_over"
    )
    archived = make_task(TaskKind.ENFORCEMENT, TaskState.ARCHIVED)
    with pytest.raises(IllegalTransition, match="allowed: none"):
        apply(archived, Action.REOPEN, DISPATCHER, T0, expected_version=3, reason="x", to="s")


def test_verification_walkthrough_records_who_when_and_seat() -> None:
    task = make_task(TaskKind.VERIFICATION, version=1)
    steps: list[tuple[Action, dict[str, object]]] = [
        (Action.DELIVER, {}),
        (Action.ACCEPT, {"note": "收到"}),
        (Action.DEPART, {}),
        (Action.ARRIVE, {}),
        (verify_action(confirmed=True), {"findings": "雨水口排放黄色废水"}),
    ]
    events = []
    for minute, (action, payload) in enumerate(steps, start=1):
        task, event = apply(
            task,
            action,
            OFFICER,
            T0 + timedelta(minutes=minute),
            expected_version=task.version,
            **payload,
        )
        events.append(event)
    assert task.state is TaskState.VERIFIED_CONFIRMED
    assert task.version == 6
    assert task.findings == "雨水口排放黄色废水"
    assert task.clock_stopped_at == T0 + timedelta(minutes=5)
    assert [e.version for e in events] == [2, 3, 4, 5, 6]
    assert {(e.user, e.seat, e.role) for e in events} == {(OFFICER_ID, "device-77", "officer")}
    assert [e.at for e in events] == [T0 + timedelta(minutes=m) for m in range(1, 6)]
    assert dict(events[1].payload) == {"note": "收到"}

    later = T0 + timedelta(hours=3)
    closed, _ = apply(task, Action.CLOSE, DISPATCHER, later, expected_version=6)
    assert closed.clock_stopped_at == T0 + timedelta(minutes=5)  # stays where it stopped
    assert closed.updated_at == later


def test_enforcement_walkthrough_by_a_squad_member() -> None:
    task = make_task(TaskKind.ENFORCEMENT, version=1)
    for minute, action in enumerate(
        (Action.DELIVER, Action.ACCEPT, Action.ARRIVE, Action.COMPLETE_PROCEDURE), start=1
    ):
        task, _ = apply(
            task,
            action,
            SQUAD_MEMBER,
            T0 + timedelta(minutes=minute),
            expected_version=task.version,
        )
    assert task.state is TaskState.PROCEDURE_COMPLETE
    assert task.findings is None
    with pytest.raises(IllegalTransition):
        apply(task, Action.DEPART, SQUAD_MEMBER, T0 + timedelta(hours=1), expected_version=5)


def test_verify_unfounded_keeps_findings() -> None:
    task = make_task(TaskKind.VERIFICATION, TaskState.ON_SITE)
    new, event = apply(
        task, verify_action(confirmed=False), OFFICER, T0, expected_version=3, findings=" 无异味 "
    )
    assert new.state is TaskState.VERIFIED_UNFOUNDED
    assert new.findings == "无异味"
    assert event.payload["findings"] == "无异味"


def test_version_conflict_is_checked_first() -> None:
    task = make_task(TaskKind.VERIFICATION)
    with pytest.raises(VersionConflict) as info:
        apply(task, Action.ARCHIVE, LEADER, T0, expected_version=2)
    assert (info.value.task_id, info.value.expected, info.value.actual) == ("task-1", 2, 3)
    assert "version 3, not 2" in str(info.value)


LEGAL = sorted(TRANSITIONS)


@pytest.mark.parametrize("role", list(ActorRole))
def test_role_matrix_over_every_legal_transition(role: ActorRole) -> None:
    for kind, state, action in LEGAL:
        task = make_task(kind, state)
        if role is ActorRole.OFFICER:
            actor = OFFICER if kind is TaskKind.VERIFICATION else SQUAD_MEMBER
        else:
            actor = Actor("u", "seat", role)
        payload = valid_payload(kind, action)
        if action in ROLE_ACTIONS[role]:
            new, _ = apply(task, action, actor, T0, expected_version=3, **payload)
            assert new.state is TRANSITIONS[(kind, state, action)]
        else:
            with pytest.raises(Forbidden, match=f"may not '{action}'"):
                apply(task, action, actor, T0, expected_version=3, **payload)


def test_leader_may_do_nothing_and_dispatcher_everything() -> None:
    assert ROLE_ACTIONS[ActorRole.LEADER] == frozenset()
    assert ROLE_ACTIONS[ActorRole.DISPATCHER] == frozenset(Action)
    for action in (Action.ACCEPT, Action.DEPART, Action.ARRIVE):
        allowed = {role for role, actions in ROLE_ACTIONS.items() if action in actions}
        assert allowed == {ActorRole.DISPATCHER, ActorRole.OFFICER}


def test_only_the_assignee_officer_may_act() -> None:
    task = make_task(TaskKind.VERIFICATION, TaskState.DELIVERED)
    stranger = Actor("officer-2", "device-2", ActorRole.OFFICER)
    with pytest.raises(Forbidden, match="not assigned to them"):
        apply(task, Action.ACCEPT, stranger, T0, expected_version=3)
    enforcement = make_task(TaskKind.ENFORCEMENT, TaskState.DELIVERED)
    other_squad = Actor("officer-9", "device-12", ActorRole.OFFICER, squad_id="squad-2")
    with pytest.raises(Forbidden, match="not assigned to them"):
        apply(enforcement, Action.ACCEPT, other_squad, T0, expected_version=3)
    no_squad = Actor("officer-9", "device-12", ActorRole.OFFICER)
    with pytest.raises(Forbidden):
        apply(enforcement, Action.ACCEPT, no_squad, T0, expected_version=3)


def test_reopen_gives_a_new_assignment_and_restarts_the_clock() -> None:
    task = make_task(
        TaskKind.VERIFICATION, TaskState.CLOSED, findings="无异常", clock_stopped_at=T0
    )
    at = T0 + timedelta(days=2)
    deadline = at + timedelta(hours=1)
    new, event = apply(
        task,
        Action.REOPEN,
        Actor("cmd", "wall", ActorRole.COMMANDER),
        at,
        expected_version=3,
        reason="群众再次投诉",
        to="officer-5",
        substitute=True,
        deadline=deadline,
    )
    assert new.state is TaskState.ASSIGNED
    assert (new.assignee_officer_id, new.substitute, new.findings) == ("officer-5", True, None)
    assert new.deadline == deadline
    assert new.clock_stopped_at is None
    assert event.payload == {
        "reason": "群众再次投诉",
        "to": "officer-5",
        "substitute": True,
        "deadline": deadline.isoformat(),
    }
    with pytest.raises(InvalidPayload, match="not after"):
        apply(
            task,
            Action.REOPEN,
            DISPATCHER,
            at,
            expected_version=3,
            reason="r",
            to="o",
            deadline=at - timedelta(minutes=1),
        )
    with pytest.raises(InvalidPayload, match="needs reason"):
        apply(task, Action.REOPEN, DISPATCHER, at, expected_version=3, to="o")


def test_reassign_only_before_on_site() -> None:
    accepted = make_task(TaskKind.VERIFICATION, TaskState.ACCEPTED)
    new, event = apply(
        accepted, Action.REASSIGN, DISPATCHER, T0, expected_version=3, reason="请假", to="o-2"
    )
    assert (new.state, new.assignee_officer_id, new.substitute) == (
        TaskState.ASSIGNED,
        "o-2",
        False,
    )
    assert event.payload["reason"] == "请假"
    for kind in TaskKind:
        on_site = make_task(kind, TaskState.ON_SITE)
        with pytest.raises(IllegalTransition):
            apply(on_site, Action.REASSIGN, DISPATCHER, T0, expected_version=3, reason="r", to="x")
    enforcement = make_task(TaskKind.ENFORCEMENT, TaskState.DELIVERED)
    moved, _ = apply(
        enforcement, Action.REASSIGN, DISPATCHER, T0, expected_version=3, reason="r", to="sq-2"
    )
    assert (moved.assignee_squad_id, moved.assignee_officer_id) == ("sq-2", None)
    with pytest.raises(InvalidPayload, match="substitutes"):
        apply(
            enforcement,
            Action.REASSIGN,
            DISPATCHER,
            T0,
            expected_version=3,
            reason="r",
            to="sq-2",
            substitute=True,
        )


def hand_over(task: Task, to_org_id: str, direction: str, **extra: object) -> Task:
    new, _ = apply(
        task,
        Action.HAND_OVER,
        DISPATCHER,
        T0,
        expected_version=task.version,
        org_parents=ORG_PARENTS,
        reason="跨级流转",
        to_org_id=to_org_id,
        direction=direction,
        **extra,
    )
    return new


def test_hand_over_moves_one_level_along_the_org_tree() -> None:
    county = make_task(TaskKind.VERIFICATION, TaskState.DELIVERED, substitute=True)
    city = hand_over(county, "tz", "up")
    assert (city.owner_org_id, city.state, city.assignee_officer_id) == ("tz", "assigned", None)
    assert city.substitute is False
    province = hand_over(city, "zj", "up")
    assert province.owner_org_id == "zj"
    back = hand_over(province, "tz", "down")
    sibling = hand_over(back, "hy", "down", to="officer-hy")
    assert (sibling.owner_org_id, sibling.assignee_officer_id) == ("hy", "officer-hy")

    with pytest.raises(InvalidPayload, match="not the parent"):
        hand_over(county, "zj", "up")  # skips the city
    with pytest.raises(InvalidPayload, match="not a child"):
        hand_over(province, "jj", "down")  # skips the city
    with pytest.raises(InvalidPayload, match="not a child"):
        hand_over(county, "hy", "down")  # a sibling is not a child
    with pytest.raises(InvalidPayload, match="already belongs"):
        hand_over(county, "jj", "up")
    with pytest.raises(InvalidPayload, match="unknown organisation"):
        hand_over(county, "nowhere", "up")
    with pytest.raises(InvalidPayload, match="'up' or 'down'"):
        hand_over(county, "tz", "sideways")
    with pytest.raises(InvalidPayload, match="org_parents"):
        apply(
            county,
            Action.HAND_OVER,
            DISPATCHER,
            T0,
            expected_version=3,
            reason="r",
            to_org_id="tz",
            direction="up",
        )


def test_a_handed_over_task_needs_an_assignee_before_delivery() -> None:
    city = hand_over(make_task(TaskKind.ENFORCEMENT), "tz", "up")
    assert city.assignee_squad_id is None
    with pytest.raises(InvalidPayload, match="no assignee"):
        apply(city, Action.DELIVER, DISPATCHER, T0, expected_version=city.version)
    with pytest.raises(Forbidden):
        apply(city, Action.DELIVER, SQUAD_MEMBER, T0, expected_version=city.version)
    assigned, _ = apply(
        city, Action.REASSIGN, DISPATCHER, T0, expected_version=city.version, reason="r", to="s-9"
    )
    delivered, _ = apply(
        assigned, Action.DELIVER, DISPATCHER, T0, expected_version=city.version + 1
    )
    assert delivered.state is TaskState.DELIVERED


def test_escalate_describes_the_enforcement_follow_up() -> None:
    task = make_task(TaskKind.VERIFICATION, TaskState.VERIFIED_CONFIRMED, findings="黑水")
    new, event = apply(
        task,
        Action.ESCALATE,
        Actor("cmd", "wall", ActorRole.COMMANDER),
        T0 + timedelta(minutes=1),
        expected_version=3,
        squad_id="squad-jj",
    )
    assert new.state is TaskState.CLOSED
    assert new.clock_stopped_at == T0  # stopped when it was verified
    draft = event.follow_up
    assert draft is not None
    assert (draft.kind, draft.parent_task_id, draft.assignee_squad_id) == (
        TaskKind.ENFORCEMENT,
        "task-1",
        "squad-jj",
    )
    assert (draft.complaint_id, draft.enterprise_id, draft.owner_org_id) == ("c-1", "e-1", "jj")
    assert (draft.urgency, draft.category, draft.title) == (
        Urgency.URGENT,
        Category.WATER,
        task.title,
    )
    created = create_task(draft, "task-2", T0 + timedelta(minutes=2), T0 + timedelta(hours=9))
    assert (created.state, created.version, created.parent_task_id) == (
        TaskState.ASSIGNED,
        1,
        "task-1",
    )
    with pytest.raises(ValueError, match="not after"):
        create_task(draft, "task-3", T0, T0)
    unfounded = make_task(TaskKind.VERIFICATION, TaskState.VERIFIED_UNFOUNDED)
    with pytest.raises(IllegalTransition):
        apply(unfounded, Action.ESCALATE, DISPATCHER, T0, expected_version=3, squad_id="s")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "needs reason"),
        ({"reason": "  "}, "non-empty string"),
        ({"reason": 42}, "non-empty string"),
        ({"reason": "r", "why": "x"}, "does not take why; it takes reason"),
    ],
)
def test_payload_is_validated(payload: dict[str, object], message: str) -> None:
    task = make_task(TaskKind.VERIFICATION)
    with pytest.raises(InvalidPayload, match=message):
        apply(task, Action.CANCEL, DISPATCHER, T0, expected_version=3, **payload)


def test_none_counts_as_absent() -> None:
    task = make_task(TaskKind.VERIFICATION)
    new, event = apply(task, Action.DELIVER, OFFICER, T0, expected_version=3, note=None)
    assert new.state is TaskState.DELIVERED
    assert dict(event.payload) == {}


def test_event_time_must_be_aware_and_not_before_the_last_change() -> None:
    task = make_task(TaskKind.VERIFICATION, updated_at=T0 + timedelta(minutes=10))
    with pytest.raises(ValueError, match="timezone-aware"):
        apply(task, Action.DELIVER, OFFICER, datetime(2025, 6, 3, 9), expected_version=3)
    with pytest.raises(InvalidPayload, match="before the task's last change"):
        apply(task, Action.DELIVER, OFFICER, T0 + timedelta(minutes=9), expected_version=3)


def test_task_rejects_inconsistent_fields() -> None:
    with pytest.raises(ValueError, match="cannot be 'en_route'"):
        make_task(TaskKind.ENFORCEMENT, TaskState.EN_ROUTE)
    with pytest.raises(ValueError, match="assigned to a squad"):
        make_task(TaskKind.ENFORCEMENT, assignee_officer_id="o")
    with pytest.raises(ValueError, match="assigned to an officer"):
        make_task(TaskKind.VERIFICATION, assignee_squad_id="s")
    with pytest.raises(ValueError, match="clock_stopped_at"):
        make_task(TaskKind.VERIFICATION, TaskState.CLOSED, clock_stopped_at=None)
    with pytest.raises(ValueError, match="timezone-aware"):
        make_task(TaskKind.VERIFICATION, deadline=datetime(2025, 6, 3, 9))


def test_transition_table_covers_only_known_pairs() -> None:
    kinds_states = {(k, s) for k, s in itertools.product(TaskKind, TaskState) if s in STATES[k]}
    assert {(k, s) for k, s, _ in TRANSITIONS} <= kinds_states
    assert all(target in STATES[k] for (k, _, _), target in TRANSITIONS.items())


def test_console_roles_map_onto_actor_roles() -> None:
    assert {ActorRole(role) for role in Role} == set(ActorRole) - {ActorRole.OFFICER}
