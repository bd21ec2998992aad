"""Online-monitoring data authenticity scoring (在线监控反欺诈): five checks, one score.

Sub-scores and the combined score run 0–100: 100 = looks authentic, lower = more suspicious.
``score_batch`` scores many hourly series at once (numpy, ``(series, hours)`` arrays);
``score_enterprises`` ranks enterprises by their worst pollutant; each finding is a
:class:`Reason` (check, rule, sentence, hours); ``refit_weights`` learns new
weights from inspection outcomes. Formulas: ``docs/authenticity.md``.
"""

from console.monitoring.authenticity.config import (
    CHECKS,
    DEFAULT_WEIGHT_SET,
    AuthenticityConfig,
    Ramp,
    Weights,
    WeightSet,
)
from console.monitoring.authenticity.feedback import (
    InspectionOutcome,
    OutcomeLog,
    RefitResult,
    refit_weights,
)
from console.monitoring.authenticity.scoring import (
    CHINA_TZ,
    COVERAGE,
    FLAG_CODES,
    EnterpriseScore,
    Reason,
    SeriesBatch,
    SeriesScore,
    Span,
    combine,
    score_batch,
    score_enterprises,
)
from console.monitoring.authenticity.table import (
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    HourlyTable,
    TableError,
    read_hourly_csv,
)

__all__ = [
    "CHECKS",
    "CHINA_TZ",
    "COVERAGE",
    "DEFAULT_WEIGHT_SET",
    "FLAG_CODES",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "AuthenticityConfig",
    "EnterpriseScore",
    "HourlyTable",
    "InspectionOutcome",
    "OutcomeLog",
    "Ramp",
    "Reason",
    "RefitResult",
    "SeriesBatch",
    "SeriesScore",
    "Span",
    "TableError",
    "WeightSet",
    "Weights",
    "combine",
    "read_hourly_csv",
    "refit_weights",
    "score_batch",
    "score_enterprises",
]
