"""Timing of GUI-thread work for the benchmarks: one call plus the event processing it causes."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from PySide6.QtWidgets import QApplication


def median_ms(app: QApplication, tick: Callable[[], object], times: int) -> float:
    """Median wall time of ``tick()`` and the events it posts (repaints, proxy work), in ms."""
    samples = []
    for _ in range(times):
        began = time.perf_counter()
        tick()
        app.processEvents()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples) * 1000
