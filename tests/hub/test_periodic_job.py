"""The hub's periodic jobs (SLA watch, world watch, HJ 212 upkeep) survive a failed round."""

from __future__ import annotations

import asyncio
import logging

import pytest

from console.hub.state import PeriodicJob
from tests.hub.support import run


def test_a_failed_round_is_logged_and_the_job_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    rounds: list[float] = []

    async def job() -> None:
        rounds.append(asyncio.get_running_loop().time())
        if len(rounds) == 1:
            raise RuntimeError("database is locked")

    async def scenario() -> None:
        periodic = PeriodicJob("test-job", 0.02, job, immediately=True)
        periodic.start()
        with pytest.raises(RuntimeError, match="already running"):
            periodic.start()
        while len(rounds) < 3:
            await asyncio.sleep(0.01)
        await periodic.stop()
        stopped_at = len(rounds)
        await asyncio.sleep(0.1)
        assert len(rounds) == stopped_at  # stopped means stopped
        await periodic.stop()  # twice is harmless

    with caplog.at_level(logging.ERROR, logger="console.hub.state"):
        run(scenario, timeout=10)
    assert [r.getMessage() for r in caplog.records] == ["test-job failed; next round in 0.02 s"]
    assert "database is locked" in caplog.text


def test_the_first_round_waits_one_interval_unless_asked_not_to() -> None:
    async def first_round(immediately: bool) -> float:
        started = asyncio.get_running_loop().time()
        ran = asyncio.Event()

        async def job() -> None:
            ran.set()

        periodic = PeriodicJob("test-job", 0.3, job, immediately=immediately)
        periodic.start()
        await ran.wait()
        await periodic.stop()
        return asyncio.get_running_loop().time() - started

    assert run(lambda: first_round(True)) < 0.2
    assert run(lambda: first_round(False)) >= 0.29


def test_an_interval_must_be_positive() -> None:
    async def nothing() -> None:
        return None

    with pytest.raises(ValueError, match="must be positive"):
        PeriodicJob("test-job", 0, nothing)
