"""Field-link persistence under load paths: batched positions and the link's sweep query,
on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from console.store import Store
from console.store.field_repo import FieldRepo, Fix
from tests.store.worlds import small_world


@pytest.fixture
def world_store(store_url: str) -> Iterator[Store]:
    store = Store.open(store_url)
    store.save_world(small_world())
    yield store
    store.close()


def _officers(store: Store) -> list[str]:
    return sorted(o.id for o in store.load_world().officers)[:2]


def test_positions_keep_every_fix_and_the_latest_never_moves_back(world_store: Store) -> None:
    repo = FieldRepo(world_store.engine)
    first, second = _officers(world_store)
    t0 = datetime(2025, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)
    repo.save_positions(
        [
            Fix(first, t0, 121.01, 28.01, 5.0, 1.5, 90.0, 77.0),
            Fix(first, t0 + timedelta(seconds=2), 121.02, 28.02, 5.0),
            Fix(second, t0, 121.11, 28.11, 9.0, battery=50.0),
        ],
        t0 + timedelta(seconds=3),
    )
    repo.save_positions([Fix(first, t0 + timedelta(seconds=1), 121.5, 28.5, 5.0)], t0)  # late
    track = repo.track(first)
    assert [fix.ts for fix in track] == [t0 + timedelta(seconds=s) for s in (0, 1, 2)]
    assert track[0] == Fix(first, t0, 121.01, 28.01, 5.0, 1.5, 90.0, 77.0)
    latest = {fix.officer_id: fix for fix in repo.latest_positions()}
    assert latest[first].lon == pytest.approx(121.02)  # the late fix went to the track only
    assert latest[first].ts == t0 + timedelta(seconds=2)
    assert latest[second].battery == 50.0
    assert repo.track_count() == 4


def test_sweep_reports_inactive_tokens_and_newest_unacked_seq(world_store: Store) -> None:
    repo = FieldRepo(world_store.engine)
    first, second = _officers(world_store)
    now = datetime.now(UTC)
    active = repo.issue_token(first, now)
    revoked = repo.issue_token(first, now)
    expired = repo.issue_token(second, now - timedelta(hours=2), timedelta(hours=1))
    repo.revoke(now, token_id=revoked.token_id)
    inactive, newest = repo.sweep(
        {active.token_id, revoked.token_id, expired.token_id, "no-such-token"},
        {first, second},
        now,
    )
    assert inactive == {revoked.token_id, expired.token_id, "no-such-token"}
    assert newest == {}  # no outbox entries yet (the hub tests cover pending ones)
