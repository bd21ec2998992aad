"""Minute, hour and day aggregates of monitoring values, and daily transmission rates.

The flag of an aggregate follows HJ 212: for **water** any abnormal value makes the aggregate
abnormal; for **flue gas** the aggregate is normal only if at least 75 % of its values are
normal. Min/avg/max are taken over the normal values when there are any (abnormal values are
not measurements of normal operation), otherwise over all values, so an abnormal period still
shows what was sent. Periods are aligned on Beijing time, so a day is a Beijing calendar day.

Aggregates a station sent itself (2051 minute, 2061 hourly, 2031 daily) are kept "as sent"
through :func:`as_sent`; :func:`aggregate_series` computes them from real-time values.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt

from console.core.model import OutletKind
from console.monitoring.receiver import CHINA_TZ, ReceivedPacket

__all__ = [
    "DAY",
    "FLOW_CODES",
    "GAS_NORMAL_SHARE",
    "HOUR",
    "MINUTE",
    "Aggregate",
    "DailyRate",
    "RateObservation",
    "aggregate_flag",
    "aggregate_packets",
    "aggregate_series",
    "as_sent",
    "daily_rates",
    "expected_count",
]

MINUTE = 60
HOUR = 3600
DAY = 86400
GAS_NORMAL_SHARE = 0.75
"""Flue gas: share of normal values an aggregate needs to be normal."""
FLOW_CODES = {OutletKind.WATER: "w00000", OutletKind.GAS: "a00000"}
"""Water flow in L/s, flue-gas flow in m³/s (HJ 212-2017 codes)."""
_MG_TO_KG = 1e-6
# Flow volume per (flow unit x second) in m³: water L/s, flue gas m³/s.
_FLOW_TO_M3 = {OutletKind.WATER: 1e-3, OutletKind.GAS: 1.0}
_PERIOD_OFFSET = int(timedelta(hours=8).total_seconds())  # Beijing time alignment
# Which abnormal flag names a period when several occur equally often: the gravest first.
_FLAG_PRIORITY = "DBTCMFS"
_AS_SENT_CNS = {"2051": 0, "2061": HOUR, "2031": DAY}

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Aggregate:
    """One code over one period."""

    code: str
    start: datetime
    """Period start, UTC (the DataTime of an HJ 212 aggregate packet)."""
    period_seconds: int
    count: int
    normal: int
    min: float | None
    avg: float | None
    max: float | None
    flag: str
    zs_avg: float | None = None
    cou: float | None = None
    """Cumulative amount: kg for pollutants, m³ for flow."""
    source: Literal["computed", "sent"] = "computed"


def aggregate_flag(flags: Sequence[str], kind: OutletKind) -> str:
    """The standard's flag rule: water any-abnormal, flue gas >= 75 % normal."""
    if not flags:
        return "N"
    abnormal = Counter(flag for flag in flags if flag != "N")
    if not abnormal:
        return "N"
    if kind is OutletKind.GAS and (len(flags) - abnormal.total()) / len(flags) >= GAS_NORMAL_SHARE:
        return "N"
    most = max(abnormal.values())
    tied = [flag for flag, n in abnormal.items() if n == most]
    return min(tied, key=_flag_rank)


def _flag_rank(flag: str) -> tuple[int, str]:
    return (_FLAG_PRIORITY.index(flag) if flag in _FLAG_PRIORITY else len(_FLAG_PRIORITY), flag)


def aggregate_series(
    code: str,
    kind: OutletKind,
    times: Sequence[float] | FloatArray,
    values: Sequence[float | None] | FloatArray,
    flags: Sequence[str],
    period_seconds: int,
    *,
    zs: Sequence[float | None] | FloatArray | None = None,
    amounts: Sequence[float | None] | FloatArray | None = None,
) -> list[Aggregate]:
    """Aggregate one code's real-time values (epoch seconds, any order) into periods.

    ``amounts`` are per-value cumulative contributions (kg or m³), summed into ``cou``.
    Missing values are ``None``/NaN and count neither as values nor as normal.
    """
    if period_seconds < 1:
        raise ValueError(f"period_seconds must be at least 1, got {period_seconds}")
    t = np.asarray(times, dtype=np.float64)
    v = _floats(values)
    f = np.asarray(flags, dtype=object)
    if not (len(t) == len(v) == len(f)):
        raise ValueError(f"times, values and flags differ in length: {len(t)}, {len(v)}, {len(f)}")
    z = None if zs is None else _floats(zs)
    a = None if amounts is None else _floats(amounts)
    for name, extra in (("zs", z), ("amounts", a)):
        if extra is not None and len(extra) != len(t):
            raise ValueError(f"{name} has {len(extra)} items, times has {len(t)}")
    if len(t) == 0:
        return []
    order = np.argsort(t, kind="stable")
    t, v, f = t[order], v[order], f[order]
    bucket = np.floor((t + _PERIOD_OFFSET) / period_seconds).astype(np.int64)
    starts_idx = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    present = np.isfinite(v)
    normal = present & (f == "N")
    # Per period: statistics over the normal values, or over all values if none is normal.
    n_all = np.add.reduceat(present.astype(np.int64), starts_idx)
    n_normal = np.add.reduceat(normal.astype(np.int64), starts_idx)
    use = np.where(np.repeat(n_normal > 0, np.diff(np.r_[starts_idx, len(t)])), normal, present)
    chosen = np.where(use, v, np.nan)
    n_used = np.add.reduceat(use.astype(np.int64), starts_idx)
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.add.reduceat(np.where(use, v, 0.0), starts_idx) / n_used
        zs_avg = (
            None if z is None else _masked_mean(z[order], use & np.isfinite(z[order]), starts_idx)
        )
    lo = np.fmin.reduceat(chosen, starts_idx)
    hi = np.fmax.reduceat(chosen, starts_idx)
    cou = None
    if a is not None:
        a_sorted = a[order]
        cou = np.add.reduceat(np.nan_to_num(a_sorted, nan=0.0), starts_idx)
        has_amount = np.add.reduceat(np.isfinite(a_sorted).astype(np.int64), starts_idx) > 0
        cou = np.where(has_amount, cou, np.nan)
    ends = np.r_[starts_idx[1:], len(t)]
    result = []
    for i, (s, e) in enumerate(zip(starts_idx, ends, strict=True)):
        period_flags = [str(flag) for flag in f[s:e]]
        start = bucket[s] * period_seconds - _PERIOD_OFFSET
        result.append(
            Aggregate(
                code=code,
                start=datetime.fromtimestamp(int(start), UTC),
                period_seconds=period_seconds,
                count=int(n_all[i]),
                normal=int(n_normal[i]),
                min=_opt(lo[i]),
                avg=_opt(avg[i]),
                max=_opt(hi[i]),
                flag=aggregate_flag(period_flags, kind),
                zs_avg=None if zs_avg is None else _opt(zs_avg[i]),
                cou=None if cou is None else _opt(cou[i]),
            )
        )
    return result


def aggregate_packets(
    packets: Iterable[ReceivedPacket], period_seconds: int, *, interval_seconds: float = 30.0
) -> dict[str, list[Aggregate]]:
    """Aggregate real-time (2011) packets per outlet and code; other CNs are ignored.

    ``cou`` of a pollutant is concentration x flow x ``interval_seconds`` (the real-time
    interval), summed, in kg; ``cou`` of the flow itself is the volume in m³. Returns
    outlet_id -> aggregates ordered by code and start.
    """
    rows: dict[str, list[ReceivedPacket]] = defaultdict(list)
    for item in packets:
        if item.packet.cn == "2011":
            rows[item.station.outlet_id].append(item)
    result: dict[str, list[Aggregate]] = {}
    for outlet_id, items in rows.items():
        kind = items[0].station.kind
        times = np.array([item.data_time.timestamp() for item in items])
        flow_code = FLOW_CODES[kind]
        flow = np.array([_field(item, flow_code, "Rtd") for item in items], dtype=np.float64)
        codes = sorted({code for item in items for code in item.packet.values})
        out: list[Aggregate] = []
        for code in codes:
            values = np.array([_field(item, code, "Rtd") for item in items], dtype=np.float64)
            flags = [_flag(item, code) for item in items]
            zs = np.array([_field(item, code, "ZsRtd") for item in items], dtype=np.float64)
            if code == flow_code:
                amounts = values * interval_seconds * _FLOW_TO_M3[kind]
            elif code in _COU_CODES:
                amounts = values * flow * interval_seconds * _MG_TO_KG  # mg/L·L/s or mg/m³·m³/s
            else:
                amounts = None
            out.extend(
                aggregate_series(
                    code,
                    kind,
                    times,
                    values,
                    flags,
                    period_seconds,
                    zs=zs if np.isfinite(zs).any() else None,
                    amounts=amounts,
                )
            )
        result[outlet_id] = out
    return result


# Pollutants whose emitted amount is accumulated (not pH, O₂, temperature …).
_COU_CODES = frozenset(
    {"w01018", "w21003", "w21001", "w21011", "a21026", "a21002", "a34013", "a24088"}
)


def as_sent(item: ReceivedPacket) -> list[Aggregate]:
    """The aggregates of a 2051/2061/2031 packet exactly as the station sent them."""
    cn = item.packet.cn
    if cn not in _AS_SENT_CNS:
        raise ValueError(f"CN {cn} is not an aggregate upload (2051, 2061 or 2031)")
    period = _AS_SENT_CNS[cn] or 60 * int(item.packet.params.get("MinInterval", 10))
    result = []
    for code, fields in sorted(item.packet.values.items()):
        flag = fields.get("Flag")
        result.append(
            Aggregate(
                code=code,
                start=item.data_time,
                period_seconds=period,
                count=0,
                normal=0,
                min=_number(fields.get("Min")),
                avg=_number(fields.get("Avg")),
                max=_number(fields.get("Max")),
                flag=flag if isinstance(flag, str) else "N",
                zs_avg=_number(fields.get("ZsAvg")),
                cou=_number(fields.get("Cou")),
                source="sent",
            )
        )
    return result


# -- transmission rates ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateObservation:
    """One received data record (e.g. one hourly packet of an outlet)."""

    enterprise_id: str
    outlet_id: str
    data_time: datetime
    valid: bool
    """All of the record's values flagged N."""


@dataclass(frozen=True, slots=True)
class DailyRate:
    """传输率, 有效率 and 传输有效率 of one enterprise on one Beijing calendar day."""

    enterprise_id: str
    day: date
    expected: int
    received: int
    valid: int
    transmission_rate: float
    effective_rate: float
    transmission_effective_rate: float

    def as_dict(self) -> dict[str, object]:
        return {
            "enterprise_id": self.enterprise_id,
            "date": self.day.isoformat(),
            "expected": self.expected,
            "received": self.received,
            "valid": self.valid,
            "transmission_rate": self.transmission_rate,
            "effective_rate": self.effective_rate,
            "transmission_effective_rate": self.transmission_effective_rate,
        }


def expected_count(interval_seconds: int) -> int:
    """Records an outlet should send per day at this interval."""
    if not 1 <= interval_seconds <= DAY:
        raise ValueError(f"interval_seconds must be 1..{DAY}, got {interval_seconds}")
    return DAY // interval_seconds


def daily_rates(
    observations: Iterable[RateObservation],
    day: date,
    outlets: Mapping[str, Sequence[str]],
    *,
    interval_seconds: int = HOUR,
) -> list[DailyRate]:
    """Rates per enterprise for ``day`` (Beijing), from records at ``interval_seconds``.

    ``outlets`` is enterprise_id -> its outlet ids, so that an enterprise that sent nothing
    shows 0 % rather than being missing. A record counts once per outlet and period however
    often it was retransmitted; transmission = received / expected, effective = valid /
    received, 传输有效率 = transmission x effective.
    """
    per_outlet = expected_count(interval_seconds)
    start = datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ)
    end = start + timedelta(days=1)
    seen: dict[str, dict[tuple[str, int], bool]] = defaultdict(dict)
    for obs in observations:
        if obs.enterprise_id not in outlets or not start <= obs.data_time < end:
            continue
        slot = int((obs.data_time - start).total_seconds()) // interval_seconds
        key = (obs.outlet_id, slot)
        records = seen[obs.enterprise_id]
        records[key] = records.get(key, False) or obs.valid
    result = []
    for enterprise_id, outlet_ids in sorted(outlets.items()):
        expected = per_outlet * len(outlet_ids)
        records = seen.get(enterprise_id, {})
        received = len(records)
        valid = sum(records.values())
        transmission = received / expected if expected else 0.0
        effective = valid / received if received else 0.0
        result.append(
            DailyRate(
                enterprise_id=enterprise_id,
                day=day,
                expected=expected,
                received=received,
                valid=valid,
                transmission_rate=transmission,
                effective_rate=effective,
                transmission_effective_rate=transmission * effective,
            )
        )
    return result


# -- helpers -------------------------------------------------------------------------------------


def _floats(values: Sequence[float | None] | FloatArray) -> FloatArray:
    if isinstance(values, np.ndarray):
        return values.astype(np.float64)
    return np.array([np.nan if x is None else x for x in values], dtype=np.float64)


def _masked_mean(
    values: FloatArray, mask: npt.NDArray[np.bool_], starts: npt.NDArray[np.intp]
) -> FloatArray:
    sums = np.add.reduceat(np.where(mask, values, 0.0), starts)
    counts = np.add.reduceat(mask.astype(np.int64), starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(sums / counts, dtype=np.float64)


def _opt(x: float | np.floating[npt.NBitBase]) -> float | None:
    number = float(x)
    return number if np.isfinite(number) else None


def _number(value: object) -> float | None:
    return value if isinstance(value, float) else None


def _field(item: ReceivedPacket, code: str, suffix: str) -> float:
    value = item.packet.values.get(code, {}).get(suffix)
    return value if isinstance(value, float) else np.nan


def _flag(item: ReceivedPacket, code: str) -> str:
    flag = item.packet.values.get(code, {}).get("Flag")
    return flag if isinstance(flag, str) else "N"
