"""The five authenticity checks over many hourly series at once.

All series of a batch share one hour axis: arrays are ``(series, hours)`` and NaN marks a
missing hour, so one numpy expression scores every series. Each check is made of parts (the
fluctuation check, e.g., of flat windows, periodic changes, exact repeats and jumps); a part
yields a sub-score per series, a sentence that names the hours and numbers behind it, and the
same hours as data (:class:`Reason`) so that callers never parse the sentence. The formulas
are written down in ``docs/authenticity.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from console.monitoring.authenticity.config import CHECKS, AuthenticityConfig, Ramp, Weights
from console.monitoring.authenticity.phrases import Param, phrase, render

Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]

CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
"""Naive timestamps are Beijing time; China has had no daylight saving since 1991."""

FLAG_CODES: dict[str, int] = {"N": 0, "F": 1, "M": 2, "S": 3, "D": 4, "C": 5, "T": 6, "B": 7}
"""HJ 212 data flags as stored in ``SeriesBatch.flag``; a missing flag is stored as N."""


@dataclass(frozen=True, slots=True)
class SeriesBatch:
    """Hourly series of one or more (enterprise, pollutant) pairs on a common hour axis.

    ``start[i]`` is the Unix time (s) of hour 0 of series ``i``; column ``j`` is hour ``j`` after
    it. ``value`` is the measured concentration, ``zs`` the O2-converted one (gas, optional),
    ``flow``/``o2``/``temperature`` the operating parameters of the same outlet and hour.
    NaN = no data. ``range_max`` NaN = unknown instrument range.
    """

    enterprise: tuple[str, ...]
    pollutant: tuple[str, ...]
    start: NDArray[np.int64]
    value: Floats
    limit: Floats
    range_max: Floats | None = None
    zs: Floats | None = None
    flow: Floats | None = None
    o2: Floats | None = None
    temperature: Floats | None = None
    flag: NDArray[np.uint8] | None = None

    def __post_init__(self) -> None:
        if self.value.ndim != 2:
            raise ValueError(f"value must be (series, hours), got shape {self.value.shape}")
        n = self.value.shape[0]
        if len(self.enterprise) != n or len(self.pollutant) != n:
            raise ValueError("enterprise and pollutant need one entry per series")
        for name in ("start", "limit", "range_max"):
            array = getattr(self, name)
            if array is not None and array.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {array.shape}")
        for name in ("zs", "flow", "o2", "temperature", "flag"):
            array = getattr(self, name)
            if array is not None and array.shape != self.value.shape:
                raise ValueError(f"{name} must have shape {self.value.shape}, got {array.shape}")
        if not bool(np.all(self.limit > 0)):
            raise ValueError("every limit must be positive")

    @property
    def size(self) -> int:
        return int(self.value.shape[0])


Span = tuple[datetime, datetime]
"""A half-open hour range [start, end), timezone-aware (Beijing time)."""

COVERAGE = "coverage"
"""``Reason.check`` of the note that too few hours were valid (not one of the five checks)."""


@dataclass(frozen=True, slots=True)
class Reason:
    """One flagged finding as data: the check and rule, the sentence, the hours behind it.

    ``text`` is the readable sentence (as in ``reasons``); ``hours`` are the rule's longest
    run of offending hours or one example hour - where an inspector should look first - and
    are empty for findings about the series as a whole (a period, too little data).
    ``score`` is the rule's sub-score, None for the coverage note. ``text`` is English;
    ``params`` fill the rule's phrase in any language (``phrases.render``).
    """

    pollutant: str
    check: str
    rule: str
    score: float | None
    text: str
    hours: tuple[Span, ...] = ()
    params: Mapping[str, Param] = field(default_factory=dict)
    """The values of the rule's sentence (``phrases.PHRASES[rule]``), for other languages."""

    def to_json(self) -> dict[str, object]:
        return {
            "pollutant": self.pollutant,
            "check": self.check,
            "rule": self.rule,
            "score": None if self.score is None else _round(self.score),
            "text": self.text,
            "hours": [[start.isoformat(), end.isoformat()] for start, end in self.hours],
            "params": dict(self.params),
        }


@dataclass(frozen=True, slots=True)
class SeriesScore:
    """Result for one enterprise and pollutant: combined score, sub-scores, findings."""

    enterprise: str
    pollutant: str
    score: float
    checks: dict[str, float]
    findings: tuple[Reason, ...]
    hours: int  # valid hours of normal operation the statistics rest on

    @property
    def reasons(self) -> tuple[str, ...]:
        """The findings as readable sentences, most suspicious first."""
        return tuple(f.text for f in self.findings)

    def to_dict(self) -> dict[str, object]:
        return {"score": _round(self.score), "checks": _rounded(self.checks)}


@dataclass(frozen=True, slots=True)
class EnterpriseScore:
    """An enterprise's result: its worst pollutant decides the score and the ``checks``."""

    enterprise: str
    score: float
    checks: dict[str, float]
    pollutants: dict[str, SeriesScore]
    findings: tuple[Reason, ...]

    @property
    def reasons(self) -> tuple[str, ...]:
        """The findings of all pollutants as readable sentences, worst pollutant first."""
        return tuple(f.text for f in self.findings)

    def to_dict(self) -> dict[str, object]:
        return {
            "enterprise": self.enterprise,
            "score": _round(self.score),
            "checks": _rounded(self.checks),
            "pollutants": {code: s.to_dict() for code, s in sorted(self.pollutants.items())},
            "reasons": list(self.reasons),
        }


def combine(checks: Floats, weights: Weights) -> Floats:
    """Combined score ``100 * (1 - min(1, sum_i w_i * (100 - s_i) / 100))``; checks is (n, 5)."""
    suspicion = (100.0 - checks) / 100.0
    total = suspicion @ np.asarray(weights.as_tuple(), dtype=np.float64)
    return np.asarray(100.0 * (1.0 - np.minimum(1.0, total)), dtype=np.float64)


def score_batch(
    batch: SeriesBatch,
    config: AuthenticityConfig | None = None,
    weights: Weights | None = None,
) -> list[SeriesScore]:
    """Score every series of ``batch``; results are in the batch's order."""
    config = config or AuthenticityConfig()
    weights = weights or Weights()
    ctx = _Context(batch, config)
    parts = [
        *_exceedance(ctx),
        *_fluctuation(ctx),
        *_zero(ctx),
        *_box(ctx),
        *_condition(ctx),
    ]
    checks = np.full((batch.size, len(CHECKS)), 100.0)
    for part in parts:
        column = CHECKS.index(part.check)
        checks[:, column] = np.minimum(checks[:, column], part.score)
    combined = combine(checks, weights)
    results = []
    for i in range(batch.size):
        flagged = sorted(
            (p for p in parts if p.score[i] < config.reason_below),
            key=lambda p: (float(p.score[i]), p.check),
        )
        pollutant = batch.pollutant[i]
        findings = []
        for p in flagged:
            params = p.describe(i)
            findings.append(
                Reason(
                    pollutant=pollutant,
                    check=p.check,
                    rule=p.rule,
                    score=float(p.score[i]),
                    text=f"{pollutant} {p.check} ({p.score[i]:.0f}): {render(p.rule, params)}",
                    hours=ctx.spans(i, p.span(i)),
                    params=params,
                )
            )
        hours = int(ctx.n[i])
        if hours < config.min_hours:
            params = {"hours": hours, "minimum": config.min_hours}
            findings.append(
                Reason(
                    pollutant=pollutant,
                    check=COVERAGE,
                    rule=COVERAGE,
                    score=None,
                    text=f"{pollutant} {COVERAGE}: {render(COVERAGE, params)}",
                    params=params,
                )
            )
        results.append(
            SeriesScore(
                enterprise=batch.enterprise[i],
                pollutant=pollutant,
                score=float(combined[i]),
                checks={name: float(checks[i, k]) for k, name in enumerate(CHECKS)},
                findings=tuple(findings),
                hours=hours,
            )
        )
    return results


def score_enterprises(series: Iterable[SeriesScore]) -> list[EnterpriseScore]:
    """Group by enterprise, most suspicious first (ties by enterprise id, for reproducibility).

    The enterprise score and checks are those of its worst pollutant (an inspection is due if
    any one series looks forged); the reasons of all its pollutants are kept, worst first.
    """
    grouped: dict[str, dict[str, SeriesScore]] = {}
    for item in series:
        grouped.setdefault(item.enterprise, {})[item.pollutant] = item
    results = []
    for enterprise, pollutants in grouped.items():
        ordered = sorted(pollutants.values(), key=lambda s: (s.score, s.pollutant))
        worst = ordered[0]
        results.append(
            EnterpriseScore(
                enterprise=enterprise,
                score=worst.score,
                checks=dict(worst.checks),
                pollutants=pollutants,
                findings=tuple(f for s in ordered for f in s.findings),
            )
        )
    results.sort(key=lambda e: (e.score, e.enterprise))
    return results


# --- internals -----------------------------------------------------------------------------


Cells = tuple[int, int] | None
"""(first hour column, number of hours) a part points at for one series, or None."""


@dataclass(frozen=True, slots=True)
class _Part:
    check: str
    rule: str
    score: Floats
    describe: Callable[[int], dict[str, Param]]
    """The values of the rule's sentence for series ``i`` (``phrases.PHRASES[rule]``)."""
    span: Callable[[int], Cells]


def _run_span(runs: tuple[NDArray[np.int64], NDArray[np.int64]]) -> Callable[[int], Cells]:
    """The longest run of a series (the one ``_Context.run`` names)."""

    def span(i: int) -> Cells:
        length = int(runs[0][i])
        return (int(runs[1][i]), length) if length > 0 else None

    return span


def _first_span(first: NDArray[np.int64], count: NDArray[np.int64]) -> Callable[[int], Cells]:
    """The first offending hour (the one a "first at" sentence names)."""

    def span(i: int) -> Cells:
        return (int(first[i]), 1) if count[i] > 0 else None

    return span


def _no_span(i: int) -> Cells:
    return None


class _Context:
    """Masks and references that several checks share, computed once per batch."""

    def __init__(self, batch: SeriesBatch, config: AuthenticityConfig) -> None:
        self.batch = batch
        self.config = config
        x = batch.value
        self.x = x
        # The values compared with the limit (exceedance, hugging): Zs where sent, else x.
        self.judged = x if batch.zs is None else np.where(np.isfinite(batch.zs), batch.zs, x)
        self.limit = batch.limit
        rng = batch.range_max
        default_range = config.default_range_factor * batch.limit
        if rng is None:
            self.range = default_range
            self.range_given = np.zeros(batch.size, dtype=bool)
        else:
            self.range_given = np.isfinite(rng) & (rng > 0)
            self.range = np.where(self.range_given, rng, default_range)
        flag = batch.flag if batch.flag is not None else np.zeros(x.shape, dtype=np.uint8)
        excluded = [FLAG_CODES[c] for c in config.excluded_flags]
        self.stop = flag == FLAG_CODES["F"]
        self.abnormal = np.isin(flag, [c for c in excluded if c != FLAG_CODES["F"]])
        self.measured = np.isfinite(x) & ~self.stop & ~self.abnormal
        flow = batch.flow
        if flow is None:
            self.flow_known = np.zeros(x.shape, dtype=bool)
            self.flow_running = self.flow_known
            self.flow_zero = self.flow_known
            self.flow_ref = np.full(batch.size, np.nan)
        else:
            self.flow_known = np.isfinite(flow)
            positive = self.flow_known & (flow > 0)
            self.flow_ref = _quantiles(flow, positive, (0.5,))[0]
            ref = self.flow_ref[:, None]
            with np.errstate(invalid="ignore"):
                self.flow_running = self.flow_known & (flow > config.flow_running_fraction * ref)
                self.flow_zero = self.flow_known & (
                    (flow <= 0) | (flow <= config.flow_zero_fraction * ref)
                )
        self.operating = ~self.stop & (self.flow_running | ~self.flow_known)
        self.m = self.measured & self.operating
        self.n = self.m.sum(axis=1)
        # hour-to-hour changes, defined where both hours are valid operating hours
        self.d = np.diff(x, axis=1)
        self.dm = self.m[:, 1:] & self.m[:, :-1]

    def hour(self, i: int, index: int) -> str:
        moment = datetime.fromtimestamp(int(self.batch.start[i]) + 3600 * index, CHINA_TZ)
        return moment.strftime("%Y-%m-%d %H:%M")

    def spans(self, i: int, cells: Cells) -> tuple[Span, ...]:
        """The hour columns ``cells`` of series ``i`` as a Beijing-time [start, end) range."""
        if cells is None:
            return ()
        first, length = cells
        start = datetime.fromtimestamp(int(self.batch.start[i]) + 3600 * first, CHINA_TZ)
        return ((start, start + timedelta(hours=length)),)

    def run(self, i: int, runs: tuple[NDArray[np.int64], NDArray[np.int64]]) -> Param:
        """The longest run of hours, as the end of a sentence."""
        length, start = int(runs[0][i]), int(runs[1][i])
        if length <= 0:
            return phrase("run_none")
        if length == 1:
            return phrase("run_one", at=self.hour(i, start))
        last = start + length - 1
        return phrase(
            "run_longest", hours=length, start=self.hour(i, start), end=self.hour(i, last)
        )

    def range_of(self, i: int) -> Param:
        """The instrument range the rule compared with, or the one assumed from the limit."""
        if self.range_given[i]:
            return phrase("range_instrument", range=_num(self.range[i]))
        factor = self.config.default_range_factor
        return phrase("range_assumed", range=_num(self.range[i]), factor=f"{factor:g}")


def _score(value: Floats, ramp: Ramp) -> Floats:
    """100 at or below ``ramp.free``, 0 at or above ``ramp.full``, linear between."""
    return np.asarray(100.0 * (1.0 - _rise(value, ramp)), dtype=np.float64)


def _rise(value: Floats, ramp: Ramp) -> Floats:
    return np.asarray(np.clip((value - ramp.free) / (ramp.full - ramp.free), 0.0, 1.0))


def _share(hits: Bools, base: Bools) -> tuple[Floats, NDArray[np.int64], NDArray[np.int64]]:
    count = hits.sum(axis=1)
    total = base.sum(axis=1)
    share = np.where(total > 0, count / np.maximum(total, 1), 0.0)
    return np.asarray(share, dtype=np.float64), count, total


def _longest_run(mask: Bools) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Length and start index of each row's longest run of True."""
    if mask.shape[1] == 0:
        zeros = np.zeros(mask.shape[0], dtype=np.int64)
        return zeros, zeros
    count = np.cumsum(mask, axis=1, dtype=np.int64)
    base = np.maximum.accumulate(np.where(mask, 0, count), axis=1)
    run = count - base
    end = run.argmax(axis=1)
    length = run[np.arange(mask.shape[0]), end]
    return length, end - length + 1


def _quantiles(x: Floats, mask: Bools, qs: Sequence[float]) -> list[Floats]:
    """Linear-interpolated quantiles of each row's masked values (NaN for an empty row)."""
    ordered = np.sort(np.where(mask, x, np.inf), axis=1)
    n = mask.sum(axis=1)
    rows = np.arange(x.shape[0])
    result = []
    for q in qs:
        position = q * np.maximum(n - 1, 0)
        low = np.floor(position).astype(np.int64)
        high = np.minimum(low + 1, np.maximum(n - 1, 0))
        frac = position - low
        low_v = ordered[rows, low] if x.shape[1] else np.full(x.shape[0], np.inf)
        high_v = ordered[rows, high] if x.shape[1] else low_v
        with np.errstate(invalid="ignore"):
            value = low_v + (high_v - low_v) * frac
        value = np.where(frac == 0, low_v, value)
        result.append(np.asarray(np.where(n > 0, value, np.nan), dtype=np.float64))
    return result


def _pct(share: float) -> str:
    return f"{100.0 * share:.1f} %"


def _num(value: float) -> str:
    return f"{value:.4g}"


def _counted(count: NDArray[Any], total: NDArray[Any], share: Floats, i: int) -> dict[str, Param]:
    """ "count of total (share)", the start of most sentences."""
    return {"count": int(count[i]), "total": int(total[i]), "share": _pct(share[i])}


def _round(value: float) -> float:
    return round(float(value), 1)


def _rounded(checks: dict[str, float]) -> dict[str, float]:
    return {name: _round(checks[name]) for name in CHECKS}


def _exceedance(ctx: _Context) -> list[_Part]:
    batch, config = ctx.batch, ctx.config
    compared = ctx.judged
    converted = np.zeros(batch.size, dtype=bool)
    if batch.zs is not None:
        converted = (np.isfinite(batch.zs) & ctx.m).any(axis=1)
    hits = ctx.m & (compared > ctx.limit[:, None])
    share, count, total = _share(hits, ctx.m)
    peak = np.where(hits, compared, -np.inf)
    peak_at = peak.argmax(axis=1) if peak.shape[1] else np.zeros(batch.size, dtype=np.int64)
    runs = _longest_run(hits)

    def describe(i: int) -> dict[str, Param]:
        return {
            **_counted(count, total, share, i),
            "basis": phrase("basis_zs" if converted[i] else "basis_values"),
            "limit": _num(ctx.limit[i]),
            "peak": _num(peak[i, peak_at[i]]),
            "peak_at": ctx.hour(i, int(peak_at[i])),
            "run": ctx.run(i, runs),
        }

    return [
        _Part(
            "exceedance", "exceedance", _score(share, config.exceedance), describe, _run_span(runs)
        )
    ]


def _fluctuation(ctx: _Context) -> list[_Part]:
    return [_flat(ctx), *_periodic(ctx), _jumps(ctx)]


def _flat(ctx: _Context) -> _Part:
    """Windows of ``w`` hours whose values all stay within 2 % of the instrument range."""
    config, x, m = ctx.config, ctx.x, ctx.m
    size, hours = x.shape
    w = config.flat_window_hours
    tolerance = config.flat_fraction_of_range * ctx.range
    covered = np.zeros(x.shape, dtype=bool)
    if hours >= w:
        high = sliding_window_view(np.where(m, x, -np.inf), w, axis=1).max(axis=2)
        low = sliding_window_view(np.where(m, x, np.inf), w, axis=1).min(axis=2)
        filled = np.concatenate([np.zeros((size, 1), np.int64), np.cumsum(m, axis=1)], axis=1)
        valid = filled[:, w:] - filled[:, :-w]
        with np.errstate(invalid="ignore"):
            flat_start = (valid >= np.ceil(config.flat_min_coverage * w)) & (
                high - low <= tolerance[:, None]
            )
        # an hour is covered when any flat window starting in [t - w + 1, t] contains it
        starts = np.concatenate(
            [np.zeros((size, 1), np.int64), np.cumsum(flat_start, axis=1)], axis=1
        )
        t = np.arange(hours)
        last = np.minimum(t, hours - w)
        first = np.maximum(t - w + 1, 0)
        covered = (starts[:, last + 1] - starts[:, first]) > 0
    hits = covered & m
    share, count, total = _share(hits, m)
    runs = _longest_run(covered)

    def describe(i: int) -> dict[str, Param]:
        return {
            **_counted(count, total, share, i),
            "window": w,
            "fraction": _pct(config.flat_fraction_of_range),
            "range": ctx.range_of(i),
            "tolerance": _num(tolerance[i]),
            "run": ctx.run(i, runs),
        }

    return _Part("fluctuation", "flat", _score(share, config.flat), describe, _run_span(runs))


def _periodic(ctx: _Context) -> list[_Part]:
    """Autocorrelation of the hour-to-hour changes, and exact repeats at the strongest lag.

    Changes, not levels: an honest diurnal cycle or a slow drift makes levels autocorrelated,
    but its changes are dominated by measurement noise; a copied day repeats its changes too.
    """
    config, x = ctx.config, ctx.x
    size, hours = x.shape
    d, dm = ctx.d, ctx.dm
    count = dm.sum(axis=1)
    mean = np.where(dm, d, 0.0).sum(axis=1) / np.maximum(count, 1)
    centred = np.where(dm, d - mean[:, None], 0.0)
    max_lag = min(config.periodic_max_lag, hours - 2)
    best_r = np.full(size, np.nan)
    best_lag = np.full(size, 24, dtype=np.int64)
    if max_lag >= config.periodic_min_lag:
        n_fft = 1 << int(2 * max(hours - 1, 1) - 1).bit_length()
        spectrum = np.fft.rfft(centred, n_fft, axis=1)
        cov = np.fft.irfft(spectrum * spectrum.conj(), n_fft, axis=1)[:, : max_lag + 1]
        mask_spectrum = np.fft.rfft(dm.astype(np.float64), n_fft, axis=1)
        pair_count = np.fft.irfft(np.abs(mask_spectrum) ** 2, n_fft, axis=1)[:, : max_lag + 1]
        pairs = np.rint(pair_count)
        variance = cov[:, 0] / np.maximum(pairs[:, 0], 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (cov / np.maximum(pairs, 1)) / variance[:, None]
        usable = (pairs >= config.periodic_min_pairs) & (variance[:, None] > 1e-12)
        usable[:, : config.periodic_min_lag] = False
        r = np.where(usable, r, -np.inf)
        lag = r.argmax(axis=1)
        peak = r[np.arange(size), lag]
        has = np.isfinite(peak)
        best_r = np.where(has, peak, np.nan)
        best_lag = np.where(has, lag, 24).astype(np.int64)
    periodic_score = np.where(
        np.isfinite(best_r), _score(np.nan_to_num(best_r), config.periodic), 100.0
    )

    # exact repeats of a value (that is not a plain continuation of the previous hour)
    t = np.arange(hours)
    source = t[None, :] - best_lag[:, None]
    inside = source >= 0
    source = np.clip(source, 0, None)
    rows = np.arange(size)[:, None]
    m = ctx.m
    paired = m & inside & m[rows, source]
    changed = np.concatenate([np.zeros((size, 1), bool), ctx.d != 0], axis=1)
    with np.errstate(invalid="ignore"):
        repeats = paired & changed & (x == x[rows, source])
    share, repeated, total = _share(repeats, paired & changed)
    runs = _longest_run(repeats)

    def describe_periodic(i: int) -> dict[str, Param]:
        return {
            "lag": int(best_lag[i]),
            "r": f"{best_r[i]:.2f}",
            "free": f"{config.periodic.free:.2f}",
        }

    def describe_repeats(i: int) -> dict[str, Param]:
        return {
            **_counted(repeated, total, share, i),
            "lag": int(best_lag[i]),
            "run": ctx.run(i, runs),
        }

    return [
        _Part(
            "fluctuation",
            "periodic",
            np.asarray(periodic_score, dtype=np.float64),
            describe_periodic,
            _no_span,
        ),
        _Part(
            "fluctuation",
            "repeats",
            _score(share, config.repeat),
            describe_repeats,
            _run_span(runs),
        ),
    ]


def _jumps(ctx: _Context) -> _Part:
    config = ctx.config
    threshold = config.jump_fraction_of_range * ctx.range
    with np.errstate(invalid="ignore"):
        hits = ctx.dm & (np.abs(ctx.d) > threshold[:, None])
    share, count, total = _share(hits, ctx.dm)
    first = hits.argmax(axis=1) if hits.shape[1] else np.zeros(ctx.batch.size, np.int64)

    def describe(i: int) -> dict[str, Param]:
        return {
            **_counted(count, total, share, i),
            "fraction": _pct(config.jump_fraction_of_range),
            "range": ctx.range_of(i),
            "first_at": ctx.hour(i, int(first[i]) + 1),
        }

    return _Part(
        "fluctuation", "jumps", _score(share, config.jump), describe, _first_span(first + 1, count)
    )


def _zero(ctx: _Context) -> list[_Part]:
    """Zeros or values at the detection limit while flow (else O2, else the flag) says running."""
    batch, config, x = ctx.batch, ctx.config, ctx.x
    evidence = np.where(ctx.flow_known, ctx.flow_running, ~ctx.stop)
    kind = np.where(ctx.flow_known.any(axis=1), "evidence_flow", "evidence_flag")
    if batch.o2 is not None:
        o2_known = np.isfinite(batch.o2) & ~ctx.flow_known
        evidence = np.where(o2_known, batch.o2 < config.o2_air_percent, evidence)
        uses_o2 = o2_known.any(axis=1) & ~ctx.flow_known.any(axis=1)
        kind = np.where(uses_o2, "evidence_o2", kind)
    base = ctx.measured & evidence
    level = config.zero_fraction_of_limit * ctx.limit
    hits = base & (x <= level[:, None])
    share, count, total = _share(hits, base)
    runs = _longest_run(hits)

    def describe(i: int) -> dict[str, Param]:
        shown_by = str(kind[i])
        return {
            **_counted(count, total, share, i),
            "level": _num(level[i]),
            "fraction": _pct(config.zero_fraction_of_limit),
            "limit": _num(ctx.limit[i]),
            "evidence": (
                phrase(shown_by, o2=f"{config.o2_air_percent:g}")
                if shown_by == "evidence_o2"
                else phrase(shown_by)
            ),
            "run": ctx.run(i, runs),
        }

    return [_Part("zero", "zero", _score(share, config.zero), describe, _run_span(runs))]


def _box(ctx: _Context) -> list[_Part]:
    config, x, m = ctx.config, ctx.x, ctx.m
    q1, median, q3 = _quantiles(x, m, (0.25, 0.5, 0.75))
    iqr = q3 - q1
    low, high = config.hug_band
    limit = ctx.limit[:, None]
    judged = ctx.judged  # a forger keeps under the limit the value that is judged
    with np.errstate(invalid="ignore"):
        band = m & (judged >= low * limit) & (judged < high * limit)
        above = (m & (judged >= high * limit)).sum(axis=1)
    share, count, total = _share(band, m)
    # honest data that often reaches the band also crosses the limit now and then
    crossing = above / np.maximum(count, 1)
    truncated = 1.0 - _rise(crossing, config.hug_crossing)
    hug_score = 100.0 * (1.0 - _rise(share, config.hug_share) * truncated)
    runs = _longest_run(band)

    def describe_hug(i: int) -> dict[str, Param]:
        return {
            **_counted(count, total, share, i),
            "low": f"{low:g}",
            "high": f"{high:g}",
            "band_low": _num(low * ctx.limit[i]),
            "band_high": _num(high * ctx.limit[i]),
            "above": int(above[i]),
            "run": ctx.run(i, runs),
        }

    fence = config.iqr_fence
    with np.errstate(invalid="ignore"):
        outside = m & ((x < (q1 - fence * iqr)[:, None]) | (x > (q3 + fence * iqr)[:, None]))
    out_share, out_count, out_total = _share(outside, m)
    first = outside.argmax(axis=1) if outside.shape[1] else np.zeros(ctx.batch.size, np.int64)

    def describe_outliers(i: int) -> dict[str, Param]:
        return {
            **_counted(out_count, out_total, out_share, i),
            "fence": f"{fence:g}",
            "lower": _num(q1[i] - fence * iqr[i]),
            "upper": _num(q3[i] + fence * iqr[i]),
            "median": _num(median[i]),
            "first_at": ctx.hour(i, int(first[i])),
        }

    return [
        _Part("box", "hug", np.asarray(hug_score, dtype=np.float64), describe_hug, _run_span(runs)),
        _Part(
            "box",
            "outliers",
            _score(out_share, config.outliers),
            describe_outliers,
            _first_span(first, out_count),
        ),
    ]


def _condition(ctx: _Context) -> list[_Part]:
    batch = ctx.batch
    parts: list[_Part] = []
    if batch.o2 is not None:
        parts.append(_o2_air(ctx, batch.o2))
    if batch.flow is not None:
        parts.append(_flow_zero_moving(ctx))
    parts.append(_stop_emitting(ctx))
    if batch.temperature is not None:
        parts.append(_hot_flue_gas(ctx, batch.temperature))
    return parts


def _o2_air(ctx: _Context, o2: Floats) -> _Part:
    config = ctx.config
    declared_running = ~ctx.stop & ~ctx.abnormal & (ctx.flow_running | ~ctx.flow_known)
    base = np.isfinite(o2) & declared_running
    air = base & (o2 >= config.o2_air_percent)
    share, count, total = _share(air, base)
    runs = _longest_run(air)

    def describe(i: int) -> dict[str, Param]:
        return {
            **_counted(count, total, share, i),
            "o2": f"{config.o2_air_percent:g}",
            "run": ctx.run(i, runs),
        }

    return _Part("condition", "o2_air", _score(share, config.o2_air), describe, _run_span(runs))


def _flow_zero_moving(ctx: _Context) -> _Part:
    config, x = ctx.config, ctx.x
    base = ctx.flow_known & ~ctx.stop
    valid_now = np.isfinite(x) & ~ctx.stop & ~ctx.abnormal
    pair = valid_now[:, 1:] & valid_now[:, :-1]
    step = config.moving_fraction_of_range * ctx.range
    with np.errstate(invalid="ignore"):
        moving = pair & (np.abs(ctx.d) > step[:, None])
    moving = np.concatenate([np.zeros((ctx.batch.size, 1), bool), moving], axis=1)
    hits = base & ctx.flow_zero & moving
    share, count, total = _share(hits, base)
    runs = _longest_run(hits)

    def describe(i: int) -> dict[str, Param]:
        return {
            **_counted(count, total, share, i),
            "fraction": _pct(config.flow_zero_fraction),
            "flow": _num(ctx.flow_ref[i]),
            "step": _num(step[i]),
            "run": ctx.run(i, runs),
        }

    return _Part(
        "condition",
        "flow_zero_moving",
        _score(share, config.flow_zero_moving),
        describe,
        _run_span(runs),
    )


def _stop_emitting(ctx: _Context) -> _Part:
    """Hours flagged F (stopped) with flow, or without flow data with clearly non-zero values."""
    config, x = ctx.config, ctx.x
    level = config.stop_emission_fraction_of_limit * ctx.limit
    emitting = np.where(ctx.flow_known, ctx.flow_running, x > level[:, None])
    has_value = np.isfinite(x)
    hits = ctx.stop & has_value & emitting
    share, count, total = _share(hits, has_value)
    stops = (ctx.stop & has_value).sum(axis=1)
    runs = _longest_run(hits)

    def describe(i: int) -> dict[str, Param]:
        return {
            **_counted(count, total, share, i),
            "stops": int(stops[i]),
            "sign": (
                phrase("sign_flow")
                if ctx.flow_known[i].any()
                else phrase("sign_values", level=_num(level[i]))
            ),
            "run": ctx.run(i, runs),
        }

    return _Part(
        "condition", "stop_emitting", _score(share, config.stop_emitting), describe, _run_span(runs)
    )


def _hot_flue_gas(ctx: _Context, temperature: Floats) -> _Part:
    config = ctx.config
    base = np.isfinite(temperature) & ctx.m
    hot = base & (temperature > config.wet_fgd_max_temperature)
    share, count, total = _share(hot, base)
    runs = _longest_run(hot)

    def describe(i: int) -> dict[str, Param]:
        return {
            **_counted(count, total, share, i),
            "temperature": f"{config.wet_fgd_max_temperature:g}",
            "run": ctx.run(i, runs),
        }

    return _Part(
        "condition", "hot_flue_gas", _score(share, config.hot_flue_gas), describe, _run_span(runs)
    )
