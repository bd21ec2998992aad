"""Fixtures of the monitoring tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from console.monitoring.hj212 import SPEEDUPS, without_speedups


@pytest.fixture(scope="module", params=["speedups", "pure_python"])
def codec_implementation(request: pytest.FixtureRequest) -> Iterator[str]:
    """A module whose tests use this runs them with the codec's C speed-ups, then without."""
    if request.param == "speedups":
        if SPEEDUPS is None:
            pytest.fail("the HJ 212 C speed-ups are not built (setup.py needs a C compiler)")
        yield request.param
        return
    with without_speedups():
        yield request.param
