"""Supervision storage on SQLite and PostgreSQL: weights with history, outcomes, the score
cache, demo credit history and documents, draw records, and the dashboard's SQL figures."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from console.core.complaints import Category, Urgency
from console.core.model import Officer, OfficerRole
from console.core.tasks import Actor, ActorRole, TaskDraft, TaskKind, create_task
from console.monitoring.authenticity import DEFAULT_WEIGHT_SET, refit_weights
from console.monitoring.hj212 import decode, encode_packet
from console.monitoring.receiver import ReceivedPacket, StationInfo, format_hj212_time
from console.store import Store
from console.store.dispatch_repo import AuditEntry, DispatchRepo, OutboxRepo
from console.store.schema import PermitLimitRow
from console.store.supervision_repo import DrawTask, SupervisionRepo, seed_demo_supervision
from console.store.timeseries import TimeSeriesStore
from tests.hub.support import small_world

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
SQUAD = "squad-331002-1"
CHECKS = {"exceedance": 100.0, "fluctuation": 20.0, "zero": 100.0, "box": 90.0, "condition": 100.0}


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    opened.save_world(small_world())
    yield opened
    opened.close()


def test_weights_start_at_the_default_and_keep_every_version(store: Store) -> None:
    repo = SupervisionRepo(store)
    assert repo.current_weights() == DEFAULT_WEIGHT_SET
    assert [w["version"] for w in repo.weight_history()] == [1]
    for n in range(20):
        confirmed = n % 2 == 0
        checks = {**CHECKS, "fluctuation": 10.0 if confirmed else 95.0}
        repo.add_outcome("ent-331002", confirmed, None, checks, 50.0, 1, "dispatcher", NOW)
    outcomes = repo.outcomes()
    assert len(outcomes) == 20
    assert outcomes[0].falsification_confirmed
    result = refit_weights(outcomes, repo.current_weights(), now=NOW)
    assert result.refitted
    repo.add_weight_set(result, NOW)
    current = repo.current_weights()
    assert current.version == 2
    assert current.previous_version == 1
    assert current.weights == result.weights.weights
    history = repo.weight_history()
    assert [(w["version"], w["current"]) for w in history] == [(2, True), (1, False)]
    assert history[1]["weights"] == DEFAULT_WEIGHT_SET.weights.as_dict()


def _score(enterprise_id: str, at: datetime, version: int = 1) -> dict[str, Any]:
    return {
        "enterprise_id": enterprise_id,
        "days": 30,
        "district_adcode": "331002",
        "score": 42.5,
        "checks": CHECKS,
        "reasons": ["w01018 fluctuation (20): flat"],
        "worst_pollutant": "w01018",
        "outlet_id": "outlet-331002",
        "evidence": [{"start": at.isoformat(), "end": (at + timedelta(hours=12)).isoformat()}],
        "findings": [{"rule": "periodic", "params": {"lag": 24, "r": "0.95", "free": "0.30"}}],
        "hours": 700,
        "weight_version": version,
        "scored_at": at.isoformat(),
    }


def test_score_cache_is_fresh_per_window_and_weights(store: Store) -> None:
    repo = SupervisionRepo(store)
    repo.save_scores([_score("ent-331002", NOW - timedelta(minutes=10))])
    repo.save_scores([_score("ent-331002", NOW)])  # replaces, no duplicate key
    fresh = repo.cached_scores(["ent-331002"], 30, NOW - timedelta(minutes=5), 1)
    assert fresh["ent-331002"]["score"] == 42.5
    assert fresh["ent-331002"]["evidence"][0]["start"] == NOW.isoformat()
    assert fresh["ent-331002"]["findings"][0]["params"]["lag"] == 24
    assert repo.cached_scores(["ent-331002"], 30, NOW + timedelta(seconds=1), 1) == {}
    assert repo.cached_scores(["ent-331002"], 30, NOW - timedelta(minutes=5), 2) == {}
    assert repo.cached_scores(["ent-331002"], 90, NOW - timedelta(minutes=5), 1) == {}
    latest = repo.latest_score("ent-331002")
    assert latest is not None
    assert latest["scored_at"] == NOW.isoformat()
    assert repo.latest_score("ent-331003") is None


def test_demo_credit_history_and_documents_are_replaced(store: Store) -> None:
    world = small_world()
    repo = SupervisionRepo(store)
    written = seed_demo_supervision(store, world, seed=1, now=NOW)
    first = {e.id: repo.credit_history(e.id) for e in world.enterprises}
    assert written == sum(len(h) for h in first.values()) + sum(
        len(repo.documents(e.id)) for e in world.enterprises
    )
    for enterprise in world.enterprises:
        history = first[enterprise.id]
        assert 2 <= len(history) <= 4
        assert history[-1]["rating"] == enterprise.credit_rating.value
        assert all(
            NOW - timedelta(days=3 * 365) <= datetime.fromisoformat(h["at"]) for h in history
        )
        kinds = [d["kind"] for d in repo.documents(enterprise.id)]
        assert kinds.count("permit") == 1
        assert "eia" in kinds
    repo.add_credit_change("ent-331002", NOW, world.enterprises[0].credit_rating, "复核")
    seed_demo_supervision(store, world, seed=1, now=NOW)  # a re-seed keeps real entries
    again = repo.credit_history("ent-331002")
    assert [h for h in again if h["reason"] != "复核"] == first["ent-331002"]
    assert sum(h["reason"] == "复核" for h in again) == 1


def _with_squad_member(store: Store) -> None:
    """The small world plus one member of squad-331002-1, who receives the squad's tasks."""
    world = small_world()
    member = Officer(
        "m1", "队员一", OfficerRole.SQUAD_MEMBER, SQUAD, "331002", squad_id=SQUAD, badge_no="1"
    )
    store.save_world(replace(world, officers=(*world.officers, member)))


def _draw_task(task_id: str) -> DrawTask:
    draft = TaskDraft(
        kind=TaskKind.ENFORCEMENT,
        owner_org_id="org-331002",
        district_adcode="331002",
        urgency=Urgency.NORMAL,
        category=Category.WATER,
        title="双随机检查：某某印染有限公司331002",
        enterprise_id="ent-331002",
        assignee_squad_id=SQUAD,
    )
    return DrawTask(
        task=create_task(draft, task_id, NOW, NOW + timedelta(days=7)),
        actor=Actor(user="dispatcher", seat="seat-1", role=ActorRole.DISPATCHER),
        lon=121.01,
        lat=28.02,
        grid_id="331002-0001",
        audit=AuditEntry(
            at=NOW, user="dispatcher", seat="seat-1", action="draw.run", task_id=task_id
        ),
        note="抽查: m1, m2",
    )


def _draw(digest: str, inspectors: list[str]) -> dict[str, Any]:
    return {
        "record_digest": digest,
        "plan": {"name": "抽查"},
        "selections": [
            {
                "enterprise_id": "ent-331002",
                "inspectors": [{"officer_id": o} for o in inspectors],
            }
        ],
    }


def test_draw_records_and_previous_assignments(store: Store) -> None:
    _with_squad_member(store)
    repo = SupervisionRepo(store)
    earlier = NOW - timedelta(days=30)
    stored = repo.add_draw(
        "D1", _draw("a" * 64, ["m1", "m2"]), "org-331000", "dispatcher", earlier, [_draw_task("T1")]
    )
    assert [r.task.id for r in stored] == ["T1"]
    repo.add_draw(
        "D2", _draw("b" * 64, ["m3", "m4"]), "org-331000", "dispatcher", NOW, [_draw_task("T2")]
    )
    assert repo.previous_assignments("org-331000") == {"ent-331002": ["m3", "m4"]}
    assert repo.previous_assignments("org-331002") == {}
    found = repo.draw_by_digest("a" * 64)
    assert found is not None
    assert found["id"] == "D1"
    assert found["task_ids"] == ["T1"]
    assert repo.draw_by_digest("c" * 64) is None
    # The tasks were written like any other: first event, the squad member's outbox entry.
    dispatch = DispatchRepo(store)
    assert [e["action"] for e in dispatch.task_events("T1")] == ["dispatch"]
    assert [e.task_id for e in OutboxRepo(store).pending("m1")] == ["T1", "T2"]


def test_a_failed_draw_stores_no_task_and_no_record(store: Store) -> None:
    _with_squad_member(store)
    repo = SupervisionRepo(store)
    repo.add_draw(
        "D1", _draw("a" * 64, ["m1"]), "org-331000", "dispatcher", NOW, [_draw_task("T1")]
    )
    # The second task's id is taken: the insert fails after the first task was written.
    tasks = [_draw_task("T2"), _draw_task("T1"), _draw_task("T3")]
    with pytest.raises(IntegrityError):
        repo.add_draw("D2", _draw("b" * 64, ["m2"]), "org-331000", "dispatcher", NOW, tasks)
    dispatch = DispatchRepo(store)
    assert dispatch.get_task("T2") is None
    assert dispatch.get_task("T3") is None
    assert dispatch.task_events("T2") == []
    assert repo.draw_by_digest("b" * 64) is None
    assert [e.task_id for e in OutboxRepo(store).pending("m1")] == ["T1"]
    assert [a.task_id for a in dispatch.audit_query() if a.action == "draw.run"] == ["T1"]


def test_dashboard_sql_figures(store: Store) -> None:
    station = StationInfo(
        mn="MN1", enterprise_id="ent-331002", outlet_id="outlet-331002",
        district_adcode="331002", password="pw", kind=small_world().enterprises[0].outlets[0].kind,
    )  # fmt: skip
    start = NOW - timedelta(hours=10)
    packets = []
    for hour in range(10):
        at = start + timedelta(hours=hour)
        frame = encode_packet(
            cn="2061",
            mn="MN1",
            pw="pw",
            data_time=format_hj212_time(at),
            values={"w01018": {"Avg": 150.0 if hour < 2 else 40.0, "Flag": "N"}},
        )
        packets.append(ReceivedPacket(decode(frame), station, at, "127.0.0.1:1"))
    TimeSeriesStore(store.engine).insert_packets(packets)
    with store.engine.begin() as conn:
        conn.execute(
            PermitLimitRow.__table__.insert(),
            [
                {
                    "outlet_id": "outlet-331002",
                    "code": "w01018",
                    "seq": 0,
                    "name": "COD",
                    "unit": "mg/L",
                    "limit_value": 100.0,
                    "lower_limit": None,
                    "annual_quota_kg": None,
                }
            ],
        )
    repo = SupervisionRepo(store)
    figures, trend = repo.district_dashboard(["331002", "331003"], NOW - timedelta(days=1), NOW)
    by_district = {f.adcode: f for f in figures}
    assert by_district["331002"].transmission_rate == pytest.approx(10 / 24)
    assert by_district["331002"].compliance_rate == pytest.approx(8 / 10)
    assert by_district["331003"].transmission_rate == 0.0
    assert by_district["331003"].compliance_rate is None
    assert by_district["331002"].complaints_received == 0
    assert by_district["331002"].median_closure_s is None
    assert [d["date"] for d in trend] == ["2026-11-27", "2026-11-28"]
    rows = repo.hourly_rows(["outlet-331002"], start, NOW)
    assert len(rows) == 10
    assert rows[0][1].tzinfo is not None
    assert repo.last_data_at(["outlet-331002"]) == NOW - timedelta(hours=1)
