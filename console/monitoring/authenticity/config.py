"""Thresholds and weights of the authenticity score: frozen and typed, so a score is reproducible.

Every number here is documented in ``docs/authenticity.md``. Sub-scores run from 0 to 100 where
100 = looks authentic and lower = more suspicious; ``Ramp`` turns a measured share into that
scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime

CHECKS: tuple[str, ...] = ("exceedance", "fluctuation", "zero", "box", "condition")
"""The five checks of the seed (超标, 波动, 零值, 箱体, 工况), in output order."""


@dataclass(frozen=True, slots=True)
class Ramp:
    """Maps a share (or other measure) to a sub-score: ``<= free`` -> 100, ``>= full`` -> 0.

    Between the two the score falls linearly, so small amounts of a pattern that also occur in
    honest data cost little and an unmistakable amount costs everything.
    """

    free: float
    full: float

    def __post_init__(self) -> None:
        if not self.full > self.free:
            raise ValueError(f"Ramp needs full > free, got free={self.free}, full={self.full}")


@dataclass(frozen=True, slots=True)
class Weights:
    """Weight of each check's suspicion ``(100 - sub_score) / 100`` in the combined score."""

    exceedance: float = 0.5
    fluctuation: float = 1.0
    zero: float = 1.0
    box: float = 0.8
    condition: float = 1.0

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not value >= 0.0:
                raise ValueError(f"weight {item.name} must be >= 0, got {value}")
        if sum(self.as_tuple()) <= 0.0:
            raise ValueError("at least one weight must be positive")

    def as_tuple(self) -> tuple[float, ...]:
        """Weights in ``CHECKS`` order."""
        return tuple(float(getattr(self, name)) for name in CHECKS)

    def as_dict(self) -> dict[str, float]:
        return dict(zip(CHECKS, self.as_tuple(), strict=True))


@dataclass(frozen=True, slots=True)
class WeightSet:
    """A versioned set of weights; ``previous_version`` links a re-fit to what it replaced."""

    version: int
    weights: Weights
    fitted_at: datetime | None = None
    n_samples: int = 0
    previous_version: int | None = None


DEFAULT_WEIGHT_SET = WeightSet(version=1, weights=Weights())
"""The hand-set weights every installation starts with (not fitted: ``n_samples == 0``)."""


@dataclass(frozen=True, slots=True)
class AuthenticityConfig:
    """All thresholds of the five checks (see docs/authenticity.md for each formula)."""

    # Instrument range when a series has no range_max: this multiple of the permit limit.
    default_range_factor: float = 2.0
    # Data flags (HJ 212) whose hours are not measurements of normal operation.
    excluded_flags: str = "FMDCB"

    # exceedance (超标): share of operating hours above the limit.
    exceedance: Ramp = field(default_factory=lambda: Ramp(0.0, 0.10))

    # fluctuation (波动): flat windows, periodic changes, exact repeats, jumps.
    flat_window_hours: int = 12
    flat_fraction_of_range: float = 0.02  # MEE 2012 on-site inspection guide §7.1: 2 % of range
    flat_min_coverage: float = 0.75  # share of a window's hours that must be valid
    flat: Ramp = field(default_factory=lambda: Ramp(0.0, 0.25))
    periodic_min_lag: int = 2
    periodic_max_lag: int = 168
    periodic_min_pairs: int = 48
    periodic: Ramp = field(default_factory=lambda: Ramp(0.6, 0.9))  # autocorrelation of changes
    repeat: Ramp = field(default_factory=lambda: Ramp(0.02, 0.30))
    jump_fraction_of_range: float = 0.5
    jump: Ramp = field(default_factory=lambda: Ramp(0.002, 0.02))

    # zero (零值): values at or below this fraction of the limit while the plant runs.
    zero_fraction_of_limit: float = 0.01
    zero: Ramp = field(default_factory=lambda: Ramp(0.01, 0.20))

    # box (箱体): share in the narrow band just under the limit that is hardly ever crossed
    # (hours at or above the limit per hour in the band); IQR box-plot outliers.
    hug_band: tuple[float, float] = (0.85, 1.0)
    hug_share: Ramp = field(default_factory=lambda: Ramp(0.25, 0.60))
    hug_crossing: Ramp = field(default_factory=lambda: Ramp(0.05, 0.30))
    iqr_fence: float = 3.0
    outliers: Ramp = field(default_factory=lambda: Ramp(0.02, 0.10))

    # condition (工况): operating parameters that contradict the concentrations.
    flow_running_fraction: float = 0.10  # flow above this share of the median positive flow
    flow_zero_fraction: float = 0.01  # flow at or below this share counts as no flow
    o2_air_percent: float = 19.5  # ambient air is 20.9 % O2
    o2_air: Ramp = field(default_factory=lambda: Ramp(0.02, 0.25))
    moving_fraction_of_range: float = 0.02
    flow_zero_moving: Ramp = field(default_factory=lambda: Ramp(0.02, 0.20))
    stop_emission_fraction_of_limit: float = 0.2  # without flow: "emitting" above this level
    stop_emitting: Ramp = field(default_factory=lambda: Ramp(0.005, 0.05))
    wet_fgd_max_temperature: float = 80.0  # °C; saturated flue gas after wet FGD is ~45-60 °C
    hot_flue_gas: Ramp = field(default_factory=lambda: Ramp(0.02, 0.20))

    # Reasons are written for every part whose score is below this.
    reason_below: float = 90.0
    # Fewer valid operating hours than this: the result carries a "weak evidence" note.
    min_hours: int = 72

    # Re-fit of the weights from inspection outcomes.
    refit_min_samples: int = 20
    refit_l2: float = 1.0
    refit_max_iterations: int = 50

    def __post_init__(self) -> None:
        positive = {
            "default_range_factor": self.default_range_factor,
            "flat_fraction_of_range": self.flat_fraction_of_range,
            "jump_fraction_of_range": self.jump_fraction_of_range,
            "zero_fraction_of_limit": self.zero_fraction_of_limit,
            "iqr_fence": self.iqr_fence,
            "refit_l2": self.refit_l2,
        }
        for name, value in positive.items():
            if not value > 0.0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if self.flat_window_hours < 2:
            raise ValueError(f"flat_window_hours must be >= 2, got {self.flat_window_hours}")
        if not 1 <= self.periodic_min_lag <= self.periodic_max_lag:
            raise ValueError("need 1 <= periodic_min_lag <= periodic_max_lag")
        low, high = self.hug_band
        if not 0.0 < low < high:
            raise ValueError(f"hug_band must be 0 < low < high, got {self.hug_band}")
        if self.refit_min_samples < 2:
            raise ValueError("refit_min_samples must be >= 2")
