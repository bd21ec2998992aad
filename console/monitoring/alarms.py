"""Alarm rules: a pure, deterministic engine fed with accepted packets and a clock.

The engine holds the state of each rule per station and code and returns ``alarm.raised`` /
``alarm.cleared`` events; it does no I/O, so the hub decides where events go and tests drive it
with an injected clock. Rules (see :class:`AlarmConfig` for the numbers):

- **exceedance**: a valid (flag N) value above the permit limit, or below the lower limit for
  pH. Flue gas is judged on the O₂-converted ``Zs`` value when the station sends one.
- **sustained_exceedance**: at least ``sustained_count`` of the last ``sustained_window``
  valid values exceed.
- **instrument_flag**: a value flagged D, B, T, S, M, C, F …; each flag has a severity. T means
  above the instrument's measuring range, not an emission exceedance, so it never raises one.
- **offline**: no packet nor heartbeat for ``offline_after``, checked by :meth:`AlarmEngine.tick`.
- **quota_warning / quota_exceeded**: the year's summed ``-Cou`` of hourly packets against the
  outlet's annual quota, at 80 % and 100 %; **monthly_quota_warning / monthly_quota_exceeded**
  the same for the Beijing calendar month and the monthly quota. A new period clears them.
- **clock_drift**: reported by the receiver.

Exceedances clear with hysteresis: only after ``clear_count`` consecutive valid values back
inside the limit by ``clear_margin``, so a value hovering at the limit does not flap.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal

from console.core.model import OutletKind, PermitLimit
from console.monitoring.receiver import CHINA_TZ, ClockDrift, Reading, StationInfo

__all__ = [
    "DEFAULT_FLAG_SEVERITY",
    "Alarm",
    "AlarmConfig",
    "AlarmEngine",
    "AlarmEvent",
    "AlarmKind",
    "Severity",
]

Severity = Literal["info", "warning", "critical"]
AlarmKind = Literal[
    "exceedance",
    "sustained_exceedance",
    "offline",
    "instrument_flag",
    "quota_warning",
    "quota_exceeded",
    "monthly_quota_warning",
    "monthly_quota_exceeded",
    "clock_drift",
]

DEFAULT_FLAG_SEVERITY: Mapping[str, Severity] = MappingProxyType(
    {
        "D": "critical",  # instrument fault
        "B": "warning",  # communication fault
        "T": "warning",  # above the measuring range
        "S": "warning",  # value set by hand
        "F": "info",  # stopped
        "M": "info",  # maintenance
        "C": "info",  # calibration
    }
)
_ALARM_NAMESPACE = uuid.UUID("5b0d4a52-7a4c-4d55-9a8e-2f6b1c1a2120")


@dataclass(frozen=True, slots=True)
class AlarmConfig:
    source_cns: frozenset[str] = frozenset({"2011"})
    """Uploads whose values the exceedance and flag rules judge (real-time by default)."""
    sustained_count: int = 4
    sustained_window: int = 6
    clear_margin: float = 0.05
    """A value must be this share inside the limit to count towards clearing."""
    clear_count: int = 2
    offline_after: timedelta = timedelta(minutes=10)
    flag_severity: Mapping[str, Severity] = field(default_factory=lambda: DEFAULT_FLAG_SEVERITY)
    unknown_flag_severity: Severity = "warning"
    quota_cn: str = "2061"
    quota_warning_share: float = 0.8

    def __post_init__(self) -> None:
        if not 1 <= self.sustained_count <= self.sustained_window:
            raise ValueError(
                f"need 1 <= sustained_count ({self.sustained_count}) <= sustained_window "
                f"({self.sustained_window})"
            )
        if self.clear_count < 1:
            raise ValueError(f"clear_count must be at least 1, got {self.clear_count}")
        if not 0.0 <= self.clear_margin < 1.0:
            raise ValueError(f"clear_margin must be in [0, 1), got {self.clear_margin}")
        if self.offline_after <= timedelta(0):
            raise ValueError("offline_after must be positive")
        if not 0.0 < self.quota_warning_share < 1.0:
            raise ValueError(
                f"quota_warning_share must be in (0, 1), got {self.quota_warning_share}"
            )


@dataclass(frozen=True, slots=True)
class Alarm:
    """An alarm in the contract's shape (``alarm.raised`` / ``alarm.cleared``)."""

    id: str
    kind: AlarmKind
    severity: Severity
    enterprise_id: str
    outlet_id: str
    mn: str
    pollutant: str | None
    value: float | None
    limit: float | None
    flag: str | None
    started_at: datetime
    district_adcode: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "severity": self.severity,
            "enterprise_id": self.enterprise_id,
            "outlet_id": self.outlet_id,
            "mn": self.mn,
            "pollutant": self.pollutant,
            "value": self.value,
            "limit": self.limit,
            "flag": self.flag,
            "started_at": self.started_at.isoformat(),
            "district_adcode": self.district_adcode,
            "detail": dict(self.detail),
        }


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    topic: Literal["alarm.raised", "alarm.cleared"]
    alarm: Alarm
    at: datetime
    """When it was raised (= started_at) or cleared."""

    def to_dict(self) -> dict[str, Any]:
        """The event body; a cleared alarm also says when it cleared."""
        body = self.alarm.to_dict()
        if self.topic == "alarm.cleared":
            body["cleared_at"] = self.at.isoformat()
        return body


@dataclass(slots=True)
class _Limit:
    """Exceedance state of one station and code."""

    recent: deque[bool]
    clear_streak: int = 0


@dataclass(slots=True)
class _Quota:
    period: tuple[int, int]
    """(year, 0) for the annual quota, (year, month) for the monthly one (Beijing calendar)."""
    used_kg: float = 0.0
    seen: set[datetime] = field(default_factory=set)


QuotaPeriod = Literal["year", "month"]
_QUOTA_KINDS: Mapping[QuotaPeriod, tuple[AlarmKind, AlarmKind]] = MappingProxyType(
    {
        "year": ("quota_warning", "quota_exceeded"),
        "month": ("monthly_quota_warning", "monthly_quota_exceeded"),
    }
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AlarmEngine:
    """Evaluates every rule; all methods return the events they caused, in order."""

    def __init__(
        self, config: AlarmConfig | None = None, *, clock: Callable[[], datetime] = _utc_now
    ) -> None:
        self.config = config or AlarmConfig()
        self._clock = clock
        self._open: dict[tuple[str, str, str | None], Alarm] = {}
        self._limits: dict[tuple[str, str], _Limit] = {}
        self._flags: dict[tuple[str, str], str] = {}
        self._last_seen: dict[str, tuple[StationInfo, datetime]] = {}
        self._quota: dict[tuple[str, str, QuotaPeriod], _Quota] = {}

    @property
    def open_alarms(self) -> list[Alarm]:
        return sorted(self._open.values(), key=lambda a: (a.started_at, a.id))

    # -- inputs --------------------------------------------------------------------------------

    def watch(self, stations: Iterable[StationInfo], since: datetime | None = None) -> None:
        """Expect packets from these stations from ``since`` on (so silent ones go offline)."""
        at = self._clock() if since is None else since
        for station in stations:
            self._last_seen.setdefault(station.mn, (station, at))

    def forget(self, keep: Collection[str], at: datetime | None = None) -> list[AlarmEvent]:
        """Stations whose MN is not in ``keep`` left the register: stop expecting their packets
        (they would otherwise be reported offline) and clear their open alarms, which no rule
        would clear any more."""
        when = self._clock() if at is None else at
        for mn in [mn for mn in self._last_seen if mn not in keep]:
            del self._last_seen[mn]
        for state in (self._limits, self._flags):
            for code_key in [k for k in state if k[0] not in keep]:
                del state[code_key]
        gone = sorted(
            (k for k in self._open if k[0] not in keep), key=lambda k: (*k[:2], k[2] or "")
        )
        events: list[AlarmEvent] = []
        for alarm_key in gone:
            events += self._clear(alarm_key, when)
        return events

    def feed(self, item: Reading) -> list[AlarmEvent]:
        """Judge one accepted packet."""
        events = self._seen(item.station, item.received_at)
        cn = item.cn
        if cn in self.config.source_cns:
            events += self._judge_values(item)
        if cn == self.config.quota_cn:
            events += self._judge_quota(item)
        return events

    def heartbeat(self, station: StationInfo, at: datetime | None = None) -> list[AlarmEvent]:
        """A heartbeat keeps a station online without carrying data."""
        return self._seen(station, self._clock() if at is None else at)

    def tick(self, now: datetime | None = None) -> list[AlarmEvent]:
        """Raise ``offline`` for stations silent for longer than ``offline_after``."""
        at = self._clock() if now is None else now
        events = []
        for station, last in self._last_seen.values():
            key = (station.mn, "offline", None)
            if at - last > self.config.offline_after and key not in self._open:
                silent = (at - last).total_seconds()
                events.append(
                    self._raise(
                        station, "offline", "critical", last, detail={"silent_seconds": silent}
                    )
                )
        return events

    def clock_drift(self, drift: ClockDrift) -> list[AlarmEvent]:
        """Raise or clear ``clock_drift`` as the receiver reports it."""
        key = (drift.mn, "clock_drift", None)
        if drift.drifting:
            if key in self._open:
                return []
            return [
                self._raise(
                    drift.station,
                    "clock_drift",
                    "warning",
                    drift.server_time,
                    value=drift.drift_seconds,
                    detail={"station_time": drift.station_time.isoformat()},
                )
            ]
        return self._clear(key, drift.server_time)

    def restore(self, open_alarms: Iterable[Alarm]) -> None:
        """Take back the alarms the store still has open (after a hub restart).

        They are cleared by the same rules as before the restart and are not raised again
        while their condition lasts; an instrument flag is remembered so that the next normal
        value clears it.
        """
        for alarm in open_alarms:
            self._open[(alarm.mn, alarm.kind, alarm.pollutant)] = alarm
            if alarm.kind == "instrument_flag" and alarm.pollutant and alarm.flag:
                self._flags[(alarm.mn, alarm.pollutant)] = alarm.flag

    def set_quota_usage(
        self, outlet_id: str, code: str, year: int, used_kg: float, month: int | None = None
    ) -> None:
        """Start from what the store has summed so far this year, or this ``month`` of it
        (after a hub restart)."""
        period: QuotaPeriod = "year" if month is None else "month"
        self._quota[(outlet_id, code, period)] = _Quota((year, month or 0), used_kg=used_kg)

    # -- rules ---------------------------------------------------------------------------------

    def _seen(self, station: StationInfo, at: datetime) -> list[AlarmEvent]:
        previous = self._last_seen.get(station.mn)
        if previous is None or at >= previous[1]:
            self._last_seen[station.mn] = (station, at)
        return self._clear((station.mn, "offline", None), at)

    def _judge_values(self, item: Reading) -> list[AlarmEvent]:
        station = item.station
        at = item.data_time
        events: list[AlarmEvent] = []
        for code, fields in item.values.items():
            raw_flag = fields["flag"]
            flag = raw_flag if isinstance(raw_flag, str) and raw_flag else "N"
            plain = fields["value"]
            events += self._judge_flag(station, code, flag, plain, at)
            limit = station.limit(code)
            if limit is None or flag != "N":
                continue  # an abnormal value is no measurement of the emission
            zs = fields["zs"]
            value = zs if station.kind is OutletKind.GAS and isinstance(zs, float) else None
            if value is None:
                value = plain if isinstance(plain, float) else None
            if value is not None:
                events += self._judge_limit(station, limit, value, at, used_zs=value is zs)
        return events

    def _judge_flag(
        self, station: StationInfo, code: str, flag: str, value: object, at: datetime
    ) -> list[AlarmEvent]:
        key = (station.mn, code)
        previous = self._flags.get(key, "N")
        if flag == previous:
            return []
        events = []
        if previous != "N":
            events += self._clear((station.mn, "instrument_flag", code), at)
            del self._flags[key]
        if flag != "N":
            self._flags[key] = flag
            severity = self.config.flag_severity.get(flag, self.config.unknown_flag_severity)
            events.append(
                self._raise(
                    station,
                    "instrument_flag",
                    severity,
                    at,
                    pollutant=code,
                    value=value if isinstance(value, float) else None,
                    flag=flag,
                )
            )
        return events

    def _judge_limit(
        self, station: StationInfo, limit: PermitLimit, value: float, at: datetime, *, used_zs: bool
    ) -> list[AlarmEvent]:
        cfg = self.config
        key = (station.mn, limit.code)
        state = self._limits.get(key)
        if state is None:
            state = self._limits[key] = _Limit(recent=deque(maxlen=cfg.sustained_window))
        low = limit.lower_limit
        exceeds = value > limit.limit or (low is not None and value < low)
        state.recent.append(exceeds)
        detail = {"zs": used_zs, "lower_limit": low, "unit": limit.unit}
        bound = low if low is not None and value < low else limit.limit
        events: list[AlarmEvent] = []
        if exceeds:
            state.clear_streak = 0
            rules: tuple[tuple[AlarmKind, Severity, bool], ...] = (
                ("exceedance", "warning", True),
                ("sustained_exceedance", "critical", sum(state.recent) >= cfg.sustained_count),
            )
            return self._raise_due(station, rules, at, limit.code, value, bound, detail)
        inside = value <= limit.limit * (1 - cfg.clear_margin) and (
            low is None or value >= low + abs(low) * cfg.clear_margin
        )
        state.clear_streak = state.clear_streak + 1 if inside else 0
        if state.clear_streak >= cfg.clear_count:
            for kind in ("exceedance", "sustained_exceedance"):
                events += self._clear((station.mn, kind, limit.code), at)
        return events

    def _judge_quota(self, item: Reading) -> list[AlarmEvent]:
        station = item.station
        at = item.data_time
        local = at.astimezone(CHINA_TZ)
        events: list[AlarmEvent] = []
        for limit in station.limits:
            fields = item.values.get(limit.code)
            cou = None if fields is None else fields["cou"]
            if not isinstance(cou, float):
                continue
            quotas: tuple[tuple[QuotaPeriod, float | None, tuple[int, int]], ...] = (
                ("year", limit.annual_quota_kg, (local.year, 0)),
                ("month", limit.monthly_quota_kg, (local.year, local.month)),
            )
            for period, allowed, current in quotas:
                if allowed is not None:
                    events += self._count_quota(
                        station, limit.code, period, allowed, current, at, cou
                    )
        return events

    def _count_quota(
        self,
        station: StationInfo,
        code: str,
        period: QuotaPeriod,
        allowed: float,
        current: tuple[int, int],
        at: datetime,
        cou: float,
    ) -> list[AlarmEvent]:
        """Add one hour's discharge to its period's usage; warn at 80 % and 100 %."""
        warning, exceeded = _QUOTA_KINDS[period]
        events: list[AlarmEvent] = []
        key = (station.outlet_id, code, period)
        quota = self._quota.get(key)
        if quota is None or quota.period != current:
            if quota is not None and current < quota.period:
                return []  # a late packet of a closed period
            if quota is not None:  # a new period starts from zero
                for kind in (warning, exceeded):
                    events += self._clear((station.mn, kind, code), at)
            quota = self._quota[key] = _Quota(current)
        if at in quota.seen:
            return events  # retransmission: counted already
        quota.seen.add(at)
        quota.used_kg += cou
        share = quota.used_kg / allowed
        year, month = current
        detail: dict[str, Any] = {"year": year, "share": share, "unit": "kg"}
        if month:
            detail["month"] = month
        rules: tuple[tuple[AlarmKind, Severity, bool], ...] = (
            (warning, "warning", share >= self.config.quota_warning_share),
            (exceeded, "critical", share >= 1.0),
        )
        return events + self._raise_due(station, rules, at, code, quota.used_kg, allowed, detail)

    # -- bookkeeping ---------------------------------------------------------------------------

    def _raise_due(
        self,
        station: StationInfo,
        rules: Iterable[tuple[AlarmKind, Severity, bool]],
        at: datetime,
        pollutant: str,
        value: float,
        limit: float,
        detail: Mapping[str, Any],
    ) -> list[AlarmEvent]:
        """Raise each rule that is due and not open already (in order: a warning first)."""
        return [
            self._raise(
                station, kind, severity, at,
                pollutant=pollutant, value=value, limit=limit, detail=detail,
            )
            for kind, severity, due in rules
            if due and (station.mn, kind, pollutant) not in self._open
        ]  # fmt: skip

    def _raise(
        self,
        station: StationInfo,
        kind: AlarmKind,
        severity: Severity,
        started_at: datetime,
        *,
        pollutant: str | None = None,
        value: float | None = None,
        limit: float | None = None,
        flag: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> AlarmEvent:
        name = f"{kind}|{station.mn}|{pollutant or ''}|{flag or ''}|{started_at.isoformat()}"
        alarm = Alarm(
            id=str(uuid.uuid5(_ALARM_NAMESPACE, name)),
            kind=kind,
            severity=severity,
            enterprise_id=station.enterprise_id,
            outlet_id=station.outlet_id,
            mn=station.mn,
            pollutant=pollutant,
            value=value,
            limit=limit,
            flag=flag,
            started_at=started_at,
            district_adcode=station.district_adcode,
            detail=dict(detail or {}),
        )
        self._open[(station.mn, kind, pollutant)] = alarm
        return AlarmEvent("alarm.raised", alarm, started_at)

    def _clear(self, key: tuple[str, str, str | None], at: datetime) -> list[AlarmEvent]:
        alarm = self._open.pop(key, None)
        return [] if alarm is None else [AlarmEvent("alarm.cleared", alarm, at)]
