"""Synthetic hourly monitoring data with known forgery patterns, for tests, the benchmark, demos.

Honest series: a diurnal cycle around 30–55 % of the limit with multiplicative noise, flow with
its own cycle, flue-gas O2 at 8–12 %, all flagged N. Each forgery pattern rewrites part of an
honest series the way the seed's checks expect to catch it. Everything derives from one seed.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np

from console.monitoring.authenticity.scoring import SeriesBatch

START = 1767196800  # 2026-01-01 00:00 Asia/Shanghai


class Pattern(StrEnum):
    CLEAN = "clean"
    FLAT = "flat"  # values within 2 % of range for days
    ZEROS = "zeros"  # zeros / detection limit while flow shows the plant running
    HUGGING = "hugging"  # held in a narrow band just under the limit
    O2_AIR = "o2_air"  # flue-gas O2 ≈ 20.9 % while declared running
    COPY_PASTE = "copy_paste"  # one day's values pasted again and again


POLLUTANTS = ("a21026", "a21002", "a34013", "w01018", "w21003")
LIMITS = {"a21026": 35.0, "a21002": 50.0, "a34013": 10.0, "w01018": 50.0, "w21003": 5.0}


def make_batch(
    patterns: list[Pattern],
    hours: int = 720,
    seed: int = 0,
    enterprises: list[str] | None = None,
    pollutants: list[str] | None = None,
) -> SeriesBatch:
    """One series per entry of ``patterns`` (same hour axis), reproducible from ``seed``."""
    size = len(patterns)
    rng = np.random.default_rng(seed)
    codes = pollutants or [POLLUTANTS[i % len(POLLUTANTS)] for i in range(size)]
    names = enterprises or [f"E{i:05d}" for i in range(size)]
    limit = np.array([LIMITS.get(code, 100.0) for code in codes])
    t = np.arange(hours)[None, :]
    phase = rng.uniform(0, 24, (size, 1))
    level = rng.uniform(0.30, 0.55, (size, 1)) * limit[:, None]
    swing = rng.uniform(0.05, 0.25, (size, 1))
    cycle = 1.0 + swing * np.sin(2 * np.pi * (t - phase) / 24)
    value = np.round(level * cycle * rng.lognormal(0.0, 0.12, (size, hours)), 3)
    flow_level = rng.uniform(5.0, 60.0, (size, 1))
    flow = np.round(flow_level * (1 + 0.1 * np.sin(2 * np.pi * (t - phase) / 24)), 2)
    flow = np.round(flow * rng.lognormal(0.0, 0.05, (size, hours)), 2)
    o2 = np.round(rng.uniform(8.0, 12.0, (size, 1)) + rng.normal(0, 0.4, (size, hours)), 2)
    range_max = np.where(rng.random(size) < 0.5, 2.5 * limit, np.nan)
    kinds = np.array([str(p) for p in patterns])
    for pattern in Pattern:
        rows = np.flatnonzero(kinds == pattern.value)
        if pattern is Pattern.CLEAN or rows.size == 0:
            continue
        # the forged stretch: 50–100 % of the period, at a random place
        length = (hours * rng.uniform(0.5, 1.0, rows.size)).astype(np.int64)
        begin = (rng.random(rows.size) * (hours - length + 1)).astype(np.int64)
        inside = (t >= begin[:, None]) & (t < (begin + length)[:, None])
        lim = limit[rows, None]
        if pattern is Pattern.FLAT:
            constant = rng.uniform(0.3, 0.6, (rows.size, 1)) * lim
            jitter = rng.uniform(-0.004, 0.004, (rows.size, hours)) * lim
            forged = np.round(constant + jitter, 3)
        elif pattern is Pattern.ZEROS:
            at_limit = rng.random((rows.size, 1)) < 0.5
            forged = np.where(at_limit, np.round(0.005 * lim, 3), 0.0) * np.ones((1, hours))
        elif pattern is Pattern.HUGGING:
            forged = np.round(rng.uniform(0.86, 0.99, (rows.size, hours)) * lim, 3)
        elif pattern is Pattern.COPY_PASTE:
            day = value[rows, :24]
            forged = np.tile(day, (1, hours // 24 + 1))[:, :hours]
        else:  # O2_AIR: concentrations stay plausible, O2 shows ambient air
            air = np.round(20.9 + rng.normal(0, 0.05, (rows.size, hours)), 2)
            o2[rows] = np.where(inside, air, o2[rows])
            continue
        value[rows] = np.where(inside, forged, value[rows])
    return SeriesBatch(
        enterprise=tuple(names),
        pollutant=tuple(codes),
        start=np.full(size, START, dtype=np.int64),
        value=value,
        limit=limit,
        range_max=range_max,
        flow=flow,
        o2=o2,
        flag=np.zeros((size, hours), dtype=np.uint8),
    )
