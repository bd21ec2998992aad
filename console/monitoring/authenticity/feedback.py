"""Inspection outcomes correct the weights (the seed's 第四步): a deterministic logistic re-fit.

This layer is pure: outcomes arrive as values and a new ``WeightSet`` leaves as a value; the
store persists both later. The procedure is written down in ``docs/authenticity.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from console.monitoring.authenticity.config import (
    CHECKS,
    AuthenticityConfig,
    Weights,
    WeightSet,
)


@dataclass(frozen=True, slots=True)
class InspectionOutcome:
    """What an on-site inspection found, with the sub-scores that sent the inspectors there."""

    enterprise: str
    falsification_confirmed: bool
    checks: Mapping[str, float]
    inspected_at: datetime | None = None

    def __post_init__(self) -> None:
        missing = [name for name in CHECKS if name not in self.checks]
        extra = sorted(set(self.checks) - set(CHECKS))
        if missing or extra:
            raise ValueError(
                f"outcome for {self.enterprise!r} needs sub-scores for exactly {list(CHECKS)}; "
                f"missing {missing}, unknown {extra}"
            )
        for name in CHECKS:
            value = float(self.checks[name])
            if not 0.0 <= value <= 100.0:
                raise ValueError(f"sub-score {name}={value} of {self.enterprise!r} not in 0..100")


@dataclass(slots=True)
class OutcomeLog:
    """Outcomes recorded in order; the store will persist them, this keeps them in memory."""

    outcomes: list[InspectionOutcome] = field(default_factory=list)

    def record(
        self,
        enterprise: str,
        falsification_confirmed: bool,
        checks: Mapping[str, float],
        inspected_at: datetime | None = None,
    ) -> InspectionOutcome:
        outcome = InspectionOutcome(enterprise, falsification_confirmed, dict(checks), inspected_at)
        self.outcomes.append(outcome)
        return outcome


@dataclass(frozen=True, slots=True)
class RefitResult:
    """The weights to use from now on (``weights``) and why; ``previous`` kept for audit."""

    weights: WeightSet
    previous: WeightSet
    refitted: bool
    reason: str
    coefficients: dict[str, float] = field(default_factory=dict)  # logistic, incl. intercept


def refit_weights(
    outcomes: Sequence[InspectionOutcome],
    previous: WeightSet,
    config: AuthenticityConfig | None = None,
    now: datetime | None = None,
) -> RefitResult:
    """Fit P(confirmed) = sigmoid(b + sum beta_i * suspicion_i) and turn beta into weights.

    suspicion_i = (100 - sub_score_i) / 100. Weights are max(beta_i, 0) rescaled to the sum of
    the previous weights, so the new score ranks like the fitted model on the checks that raise
    the odds of a confirmed forgery. Fewer than ``refit_min_samples`` outcomes, or only one
    class, keeps ``previous``.
    """
    config = config or AuthenticityConfig()
    n = len(outcomes)
    confirmed = sum(1 for o in outcomes if o.falsification_confirmed)
    if n < config.refit_min_samples:
        return _keep(previous, f"{n} labelled outcomes, need {config.refit_min_samples}")
    if confirmed in (0, n):
        return _keep(previous, f"all {n} outcomes have the same label: nothing to separate")
    features = np.array(
        [[(100.0 - float(o.checks[name])) / 100.0 for name in CHECKS] for o in outcomes]
    )
    labels = np.array([1.0 if o.falsification_confirmed else 0.0 for o in outcomes])
    beta = _logistic_irls(features, labels, config.refit_l2, config.refit_max_iterations)
    coefficients = {"intercept": float(beta[0])} | {
        name: float(b) for name, b in zip(CHECKS, beta[1:], strict=True)
    }
    positive = np.maximum(beta[1:], 0.0)
    if float(positive.sum()) <= 1e-9:
        return _keep(
            previous,
            "no check raises the odds of a confirmed forgery in these outcomes",
            coefficients,
        )
    scale = sum(previous.weights.as_tuple()) / float(positive.sum())
    weights = Weights(**{name: float(w) * scale for name, w in zip(CHECKS, positive, strict=True)})
    fitted = WeightSet(
        version=previous.version + 1,
        weights=weights,
        fitted_at=now or datetime.now(UTC),
        n_samples=n,
        previous_version=previous.version,
    )
    reason = f"fitted on {n} outcomes ({confirmed} confirmed forgeries)"
    return RefitResult(fitted, previous, True, reason, coefficients)


def _keep(
    previous: WeightSet, reason: str, coefficients: dict[str, float] | None = None
) -> RefitResult:
    return RefitResult(
        previous, previous, False, f"kept version {previous.version}: {reason}", coefficients or {}
    )


def _logistic_irls(
    features: NDArray[np.float64], labels: NDArray[np.float64], l2: float, iterations: int
) -> NDArray[np.float64]:
    """Newton/IRLS for L2-penalised logistic regression (intercept not penalised); deterministic."""
    design = np.hstack([np.ones((features.shape[0], 1)), features])
    penalty = np.full(design.shape[1], l2)
    penalty[0] = 0.0
    beta = np.zeros(design.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(design @ beta)))
        weight = p * (1.0 - p)
        hessian = (
            design.T @ (design * weight[:, None]) + np.diag(penalty) + 1e-9 * np.eye(len(beta))
        )
        gradient = design.T @ (labels - p) - penalty * beta
        step = np.linalg.solve(hessian, gradient)
        beta = beta + step
        if float(np.max(np.abs(step))) < 1e-10:
            break
    return beta
