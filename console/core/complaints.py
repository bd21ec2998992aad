"""Complaints (信访/投诉) as the dispatcher receives them, and the rules applied at intake.

Duplicate detection runs before a task is pushed: the same smell reported ten times in an
evening must become one case, not ten officers sent to the same gate. Distances are measured
in projected metres through a caller-supplied ``project`` function (normally
``console.core.geo.Projector(...).to_xy``), never in degrees. Masking helpers keep reporters'
personal data off wall screens and exports.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
ProjectFn = Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]
"""Vectorised lon/lat (WGS84) -> projected x/y in metres."""


class Channel(StrEnum):
    """How the complaint reached the centre."""

    HOTLINE_12369 = "hotline_12369"  # 12369 环保举报热线
    LETTER = "letter"  # 信访来信
    WEB = "web"
    WECHAT = "wechat"
    MONITORING_ALARM = "monitoring_alarm"  # 在线监控报警
    OTHER = "other"


class Category(StrEnum):
    """Environmental medium the complaint is about; drives SLA and duplicate matching."""

    WATER = "water"
    AIR = "air"
    NOISE = "noise"
    SOLID_WASTE = "solid_waste"
    ODOUR = "odour"
    OTHER = "other"


class Urgency(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"
    CRITICAL = "critical"


def require_aware(value: datetime, name: str) -> None:
    """Reject naive datetimes: deadlines and windows are compared across seats and time zones."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (UTC), got naive {value!r}")


@dataclass(frozen=True, slots=True)
class Complaint:
    """One received complaint; ``merged_into`` points at the case it was merged into."""

    id: str
    channel: Channel
    category: Category
    urgency: Urgency
    reporter_name: str
    reporter_phone: str
    description: str
    lon: float  # WGS84
    lat: float  # WGS84
    received_at: datetime  # timezone-aware, UTC
    enterprise_id: str | None = None
    district_adcode: str | None = None
    grid_id: str | None = None
    merged_into: str | None = None
    external_ref: str | None = None  # e.g. the 12369 platform's case number

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("complaint id must not be empty")
        if not (math.isfinite(self.lon) and -180.0 <= self.lon <= 180.0):
            raise ValueError(f"complaint {self.id}: longitude {self.lon} is out of range")
        if not (math.isfinite(self.lat) and -90.0 <= self.lat <= 90.0):
            raise ValueError(f"complaint {self.id}: latitude {self.lat} is out of range")
        require_aware(self.received_at, f"complaint {self.id}: received_at")
        if self.merged_into == self.id:
            raise ValueError(f"complaint {self.id} cannot be merged into itself")


_PHONE_SEPARATORS = frozenset(" -+()")


def mask_phone(phone: str) -> str:
    """Hide the middle digits: ``13812345678`` -> ``138****5678``.

    Separators (space, ``-``, ``+``, parentheses) are kept in place. Numbers of 11 or more
    digits keep the first 3 and last 4 digits; 7 to 10 digits (landlines) keep 2 and 2;
    shorter numbers keep only the last digit so no short code is shown in full.
    """
    stripped = phone.strip()
    bad = sorted({ch for ch in stripped if not ch.isdigit() and ch not in _PHONE_SEPARATORS})
    if bad:
        raise ValueError(f"not a phone number: {phone!r} contains {''.join(bad)!r}")
    digits = sum(ch.isdigit() for ch in stripped)
    if digits == 0:
        return stripped
    if digits >= 11:
        keep_head, keep_tail = 3, 4
    elif digits >= 7:
        keep_head, keep_tail = 2, 2
    else:
        keep_head, keep_tail = 0, 1
    out: list[str] = []
    index = 0
    for ch in stripped:
        if ch.isdigit():
            visible = index < keep_head or index >= digits - keep_tail
            out.append(ch if visible else "*")
            index += 1
        else:
            out.append(ch)
    return "".join(out)


def mask_name(name: str) -> str:
    """Hide a person's name: ``张三`` -> ``张*``, ``张三丰`` -> ``张*丰``, ``Jo Li`` -> ``J* L*``.

    Chinese names keep the first (surname) and, from three characters on, the last
    character. Space-separated names keep the first letter of each word.
    """
    stripped = name.strip()
    words = stripped.split()
    if len(words) > 1:
        return " ".join(word[0] + "*" * (len(word) - 1) for word in words)
    if len(stripped) <= 1:
        return "*" * len(stripped)
    if len(stripped) == 2:
        return stripped[0] + "*"
    return stripped[0] + "*" * (len(stripped) - 2) + stripped[-1]


@dataclass(frozen=True, slots=True)
class DuplicateRule:
    """When two complaints are probably the same case: same category, this close, this recent."""

    radius_m: float = 500.0
    window: timedelta = timedelta(hours=72)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.radius_m) and self.radius_m > 0):
            raise ValueError(
                f"duplicate radius must be a positive number of metres, got {self.radius_m}"
            )
        if self.window <= timedelta(0):
            raise ValueError(f"duplicate window must be positive, got {self.window}")


class DuplicateReason(StrEnum):
    NEARBY_SAME_CATEGORY = "nearby_same_category"
    SAME_ENTERPRISE_OPEN_CASE = "same_enterprise_open_case"


class DuplicateCandidate(NamedTuple):
    """A possible duplicate of a new complaint; ``distance_m`` in projected metres."""

    complaint_id: str
    distance_m: float
    reason: DuplicateReason


def find_duplicates(
    new: Complaint,
    candidates: Iterable[Complaint],
    rule: DuplicateRule,
    project: ProjectFn,
    open_case_ids: Set[str] = frozenset(),
) -> list[DuplicateCandidate]:
    """Complaints that ``new`` probably duplicates, nearest first.

    A candidate matches when it has the same category, lies within ``rule.radius_m`` and was
    received within ``rule.window`` of ``new`` (both bounds inclusive), or when it concerns
    the same enterprise and its case is still open (its id is in ``open_case_ids``; the
    store knows which cases are open). When both hold the enterprise link is reported, being
    the stronger evidence. Candidates already merged into another case are skipped: the
    case they were merged into is the one to merge with.
    """
    pool = [c for c in candidates if c.id != new.id and c.merged_into is None]
    if not pool:
        return []
    lons = np.array([new.lon, *(c.lon for c in pool)], dtype=np.float64)
    lats = np.array([new.lat, *(c.lat for c in pool)], dtype=np.float64)
    xs, ys = project(lons, lats)
    distances = np.hypot(np.asarray(xs[1:]) - xs[0], np.asarray(ys[1:]) - ys[0])
    found: list[DuplicateCandidate] = []
    for candidate, distance in zip(pool, distances.tolist(), strict=True):
        reason: DuplicateReason | None = None
        if (
            new.enterprise_id is not None
            and candidate.enterprise_id == new.enterprise_id
            and candidate.id in open_case_ids
        ):
            reason = DuplicateReason.SAME_ENTERPRISE_OPEN_CASE
        elif (
            candidate.category == new.category
            and distance <= rule.radius_m
            and abs(candidate.received_at - new.received_at) <= rule.window
        ):
            reason = DuplicateReason.NEARBY_SAME_CATEGORY
        if reason is not None:
            found.append(DuplicateCandidate(candidate.id, float(distance), reason))
    found.sort(key=lambda d: (d.distance_m, d.complaint_id))
    return found
