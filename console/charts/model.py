"""Qt-free data behind the monitoring charts: ring buffers, series models, event application.

The widgets only draw what these classes hold, so the data logic (which events count, how
flags become shaded spans, which outlets have open alarms) is tested without a display.
Everything here is plain Python + numpy; importing it never pulls in Qt.

Event and request shapes are those of notes/monitoring_contract.md: ``monitoring.data``,
``alarm.raised`` / ``alarm.cleared`` events and the ``monitoring.series`` reply.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
CodeArray = npt.NDArray[np.uint8]

DATA_TOPIC = "monitoring.data"
ALARM_RAISED = "alarm.raised"
ALARM_CLEARED = "alarm.cleared"
TOPICS = (DATA_TOPIC, ALARM_RAISED, ALARM_CLEARED)

REALTIME = "realtime"
MINUTE_24H = "minute_24h"
HOURLY_30D = "hourly_30d"
WINDOWS = (REALTIME, MINUTE_24H, HOURLY_30D)
# Which HJ 212 command's values feed each window (2011 real-time, 2051 minute, 2061 hourly).
WINDOW_CN = {REALTIME: "2011", MINUTE_24H: "2051", HOURLY_30D: "2061"}
# Span of time a window shows when it follows the newest data, seconds.
WINDOW_SPAN_S = {REALTIME: 2 * 3600.0, MINUTE_24H: 24 * 3600.0, HOURLY_30D: 30 * 86400.0}
# Ring capacity per window: the span at the command's nominal interval, with head room.
WINDOW_CAPACITY = {REALTIME: 8 * 3600 // 5, MINUTE_24H: 2 * 1440, HOURLY_30D: 2 * 720}

# HJ 212 data flags; index 0 is normal. Unknown flags are kept as "?" and shaded too.
FLAGS = "NFMSDCTB?"
NORMAL = 0
UNKNOWN_FLAG = FLAGS.index("?")
_FLAG_INDEX = {flag: i for i, flag in enumerate(FLAGS)}

SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


def flag_index(flag: str | None) -> int:
    """Index of an HJ 212 flag in ``FLAGS``; a missing flag means normal."""
    if not flag:
        return NORMAL
    return _FLAG_INDEX.get(flag.upper(), UNKNOWN_FLAG)


def parse_time(text: str) -> float:
    """Epoch seconds of an ISO-8601 timestamp; one without an offset is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def check_window(window: str) -> str:
    if window not in WINDOWS:
        raise ValueError(f"unknown chart window {window!r}; expected one of {', '.join(WINDOWS)}")
    return window


class RingBuffer:
    """Fixed-capacity time series (time, value, flag) held in numpy arrays.

    Each sample is written twice, at ``i`` and ``i + capacity``, so the contents are always
    one contiguous slice: reading for ``setData`` never concatenates or copies.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"ring buffer capacity must be positive, got {capacity}")
        self.capacity = capacity
        self._t = np.zeros(2 * capacity, dtype=np.float64)
        self._v = np.full(2 * capacity, np.nan, dtype=np.float64)
        self._f = np.zeros(2 * capacity, dtype=np.uint8)
        self._start = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def clear(self) -> None:
        self._start = 0
        self._size = 0

    def extend(
        self,
        times: Sequence[float] | FloatArray,
        values: Sequence[float] | FloatArray,
        flags: Sequence[int] | CodeArray,
    ) -> None:
        """Append samples in time order; the oldest fall out once the buffer is full."""
        t = np.asarray(times, dtype=np.float64)
        v = np.asarray(values, dtype=np.float64)
        f = np.asarray(flags, dtype=np.uint8)
        if not t.shape == v.shape == f.shape or t.ndim != 1:
            raise ValueError("times, values and flags must be 1-d and of equal length")
        n = len(t)
        if n == 0:
            return
        cap = self.capacity
        if n >= cap:
            self._start, self._size = 0, 0
            t, v, f = t[-cap:], v[-cap:], f[-cap:]
            n = cap
        positions = (self._start + self._size + np.arange(n)) % cap
        for array, data in ((self._t, t), (self._v, v), (self._f, f)):
            array[positions] = data
            array[positions + cap] = data
        overflow = max(0, self._size + n - cap)
        self._start = (self._start + overflow) % cap
        self._size = min(cap, self._size + n)

    @property
    def times(self) -> FloatArray:
        return self._t[self._start : self._start + self._size]

    @property
    def values(self) -> FloatArray:
        return self._v[self._start : self._start + self._size]

    @property
    def flags(self) -> CodeArray:
        return self._f[self._start : self._start + self._size]

    @property
    def last_time(self) -> float:
        """Time of the newest sample, -inf when empty."""
        return float(self._t[self._start + self._size - 1]) if self._size else -math.inf


@dataclass(frozen=True, slots=True)
class FlagSpan:
    """A run of samples sharing one abnormal flag, from its first sample to the next sample."""

    start: float
    end: float
    flag: str


def flag_spans(times: FloatArray, flags: CodeArray) -> list[FlagSpan]:
    """Contiguous runs of non-normal flags; a run ends where the next sample starts.

    The last run ends one median sampling step after its last sample so that a single
    flagged sample still has a visible width.
    """
    n = len(times)
    if n == 0:
        return []
    abnormal = flags != NORMAL
    if not abnormal.any():
        return []
    step = float(np.median(np.diff(times))) if n > 1 else 60.0
    # Run boundaries: where the flag changes.
    change = np.flatnonzero(np.diff(flags.astype(np.int16))) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [n]))
    spans = []
    for first, stop in zip(starts.tolist(), ends.tolist(), strict=True):
        if not abnormal[first]:
            continue
        end = float(times[stop]) if stop < n else float(times[n - 1]) + step
        spans.append(FlagSpan(float(times[first]), end, FLAGS[int(flags[first])]))
    return spans


@dataclass(slots=True)
class PollutantSeries:
    """One pollutant of one outlet: its samples and its permit limits."""

    code: str
    buffer: RingBuffer
    name: str = ""
    unit: str = ""
    limit: float | None = None
    lower_limit: float | None = None

    @property
    def label(self) -> str:
        name = self.name or self.code
        return f"{name} ({self.unit})" if self.unit else name

    def sample_at(self, t: float) -> tuple[float, float, str] | None:
        """The sample nearest to time ``t``: (time, value, flag), None when empty."""
        times = self.buffer.times
        if not len(times):
            return None
        i = int(np.searchsorted(times, t))
        if i >= len(times) or (i > 0 and t - times[i - 1] < times[i] - t):
            i -= 1
        return float(times[i]), float(self.buffer.values[i]), FLAGS[int(self.buffer.flags[i])]


def _value(item: Any) -> float:
    value = item.get("value") if isinstance(item, Mapping) else None
    return float(value) if isinstance(value, int | float) else math.nan


def _flag(item: Any) -> str | None:
    flag = item.get("flag") if isinstance(item, Mapping) else None
    return flag if isinstance(flag, str) else None


def _data_points(
    events: Iterable[Mapping[str, Any]], accept: Any
) -> dict[str, dict[str, list[tuple[float, float, int]]]]:
    """Packets of monitoring.data events accepted by ``accept(packet)`` -> {outlet: {code:
    [(t, v, flag)]}}. Each event carries one receiver flush of a district: ``{"items": [...]}``.
    """
    points: dict[str, dict[str, list[tuple[float, float, int]]]] = {}
    for event in events:
        if event.get("topic") != DATA_TOPIC:
            continue
        data = event.get("data")
        items = data.get("items") if isinstance(data, Mapping) else None
        if not isinstance(items, Sequence):
            continue
        for packet in items:
            if not isinstance(packet, Mapping) or not accept(packet):
                continue
            values = packet.get("values")
            if not isinstance(values, Mapping):
                continue
            t = parse_time(str(packet.get("data_time")))
            per_code = points.setdefault(str(packet.get("outlet_id")), {})
            for code, item in values.items():
                per_code.setdefault(code, []).append((t, _value(item), flag_index(_flag(item))))
    return points


def _append_new(buffer: RingBuffer, samples: list[tuple[float, float, int]]) -> int:
    """Append the samples newer than the buffer's last one; returns how many were appended.

    Older or repeated times are dropped: a station resending after a reconnect must not
    make the line run backwards.
    """
    last = buffer.last_time
    fresh: list[tuple[float, float, int]] = []
    for sample in sorted(samples, key=lambda s: s[0]):
        if sample[0] > last:
            fresh.append(sample)
            last = sample[0]
    if fresh:
        t, v, f = zip(*fresh, strict=True)
        buffer.extend(t, v, f)
    return len(fresh)


class OutletSeriesModel:
    """All pollutants of one outlet in one window; fed by a series reply and live events."""

    def __init__(self, outlet_id: str, window: str = REALTIME, enterprise_id: str = "") -> None:
        self.outlet_id = outlet_id
        self.enterprise_id = enterprise_id
        self.window = check_window(window)
        self.series: dict[str, PollutantSeries] = {}
        self.dropped = 0  # samples ignored because they were not newer than the last one

    @property
    def capacity(self) -> int:
        return WINDOW_CAPACITY[self.window]

    def codes(self) -> list[str]:
        return list(self.series)

    def pollutant(self, code: str) -> PollutantSeries:
        """The series of ``code``, created empty on first use."""
        series = self.series.get(code)
        if series is None:
            series = PollutantSeries(code, RingBuffer(self.capacity))
            self.series[code] = series
        return series

    def set_limits(
        self, limits: Mapping[str, Mapping[str, Any]] | Iterable[Mapping[str, Any]]
    ) -> None:
        """Take limits as the series reply's ``{code: {...}}`` or the snapshot's list of dicts."""
        entries = (
            [dict(entry, code=code) for code, entry in limits.items()]
            if isinstance(limits, Mapping)
            else list(limits)
        )
        for entry in entries:
            series = self.pollutant(str(entry["code"]))
            series.name = str(entry.get("name") or series.name)
            series.unit = str(entry.get("unit") or series.unit)
            limit, lower = entry.get("limit"), entry.get("lower_limit")
            series.limit = float(limit) if isinstance(limit, int | float) else None
            series.lower_limit = float(lower) if isinstance(lower, int | float) else None

    def load(self, reply: Mapping[str, Any]) -> None:
        """Replace the samples with a ``monitoring.series`` reply for this outlet and window."""
        if reply.get("outlet_id") != self.outlet_id or reply.get("window") != self.window:
            raise ValueError(
                f"series reply for {reply.get('outlet_id')!r}/{reply.get('window')!r} does not "
                f"match the chart's {self.outlet_id!r}/{self.window!r}"
            )
        limits = reply.get("limits") or {}
        self.set_limits(limits)
        for code, data in (reply.get("series") or {}).items():
            times = data.get("t") or []
            values = [math.nan if v is None else float(v) for v in data.get("v") or []]
            flags = [flag_index(f) for f in data.get("flag") or []]
            if not len(times) == len(values) == len(flags):
                raise ValueError(f"series {code!r}: t, v and flag differ in length")
            buffer = self.pollutant(code).buffer
            buffer.clear()
            order = np.argsort(np.asarray(times, dtype=np.float64), kind="stable")
            buffer.extend(
                np.asarray(times, dtype=np.float64)[order],
                np.asarray(values, dtype=np.float64)[order],
                np.asarray(flags, dtype=np.uint8)[order],
            )

    def apply_events(self, events: Iterable[Mapping[str, Any]]) -> set[str]:
        """Append this outlet's ``monitoring.data`` values of this window; returns changed codes."""
        cn = WINDOW_CN[self.window]
        points = _data_points(
            events, lambda d: d.get("outlet_id") == self.outlet_id and str(d.get("cn")) == cn
        )
        changed: set[str] = set()
        for code, samples in points.get(self.outlet_id, {}).items():
            appended = _append_new(self.pollutant(code).buffer, samples)
            self.dropped += len(samples) - appended
            if appended:
                changed.add(code)
        return changed

    def time_range(self) -> tuple[float, float] | None:
        """Earliest and latest sample time over all pollutants."""
        bounds = [
            (float(s.buffer.times[0]), s.buffer.last_time)
            for s in self.series.values()
            if len(s.buffer)
        ]
        if not bounds:
            return None
        return min(b[0] for b in bounds), max(b[1] for b in bounds)


class ComparisonModel:
    """One pollutant across several outlets (same window)."""

    def __init__(self, code: str, outlet_ids: Sequence[str], window: str = REALTIME) -> None:
        if not outlet_ids:
            raise ValueError("a comparison needs at least one outlet")
        self.code = code
        self.window = check_window(window)
        self.buffers = {oid: RingBuffer(WINDOW_CAPACITY[window]) for oid in outlet_ids}
        self.limits: dict[str, float | None] = dict.fromkeys(outlet_ids)

    def load(self, reply: Mapping[str, Any]) -> None:
        """Replace one outlet's samples from its ``monitoring.series`` reply."""
        outlet_id = reply.get("outlet_id")
        if outlet_id not in self.buffers or reply.get("window") != self.window:
            raise ValueError(f"series reply for {outlet_id!r}/{reply.get('window')!r} not expected")
        single = OutletSeriesModel(str(outlet_id), self.window)
        single.load(reply)
        series = single.series.get(self.code)
        buffer = self.buffers[str(outlet_id)]
        buffer.clear()
        if series is not None:
            buffer.extend(series.buffer.times, series.buffer.values, series.buffer.flags)
            self.limits[str(outlet_id)] = series.limit

    def apply_events(self, events: Iterable[Mapping[str, Any]]) -> set[str]:
        """Append the pollutant's new values; returns the outlets that changed."""
        cn = WINDOW_CN[self.window]
        points = _data_points(
            events, lambda d: d.get("outlet_id") in self.buffers and str(d.get("cn")) == cn
        )
        changed = set()
        for outlet_id, per_code in points.items():
            samples = per_code.get(self.code)
            if samples and _append_new(self.buffers[outlet_id], samples):
                changed.add(outlet_id)
        return changed


SPARKLINE_CAPACITY = 240


@dataclass(slots=True)
class AlarmCard:
    """An outlet with open alarms, as one card of the alarm wall."""

    outlet_id: str
    enterprise_id: str
    alarms: dict[str, dict[str, Any]] = field(default_factory=dict)
    sparkline: RingBuffer = field(default_factory=lambda: RingBuffer(SPARKLINE_CAPACITY))

    @property
    def code(self) -> str | None:
        """The pollutant the sparkline shows: that of the most severe alarm naming one."""
        for alarm in self.ordered_alarms():
            if alarm.get("pollutant"):
                return str(alarm["pollutant"])
        return None

    @property
    def severity(self) -> str:
        alarms = self.ordered_alarms()
        return str(alarms[0].get("severity", "info")) if alarms else "info"

    @property
    def limit(self) -> float | None:
        code = self.code
        for alarm in self.ordered_alarms():
            if alarm.get("pollutant") == code and isinstance(alarm.get("limit"), int | float):
                return float(alarm["limit"])
        return None

    def ordered_alarms(self) -> list[dict[str, Any]]:
        """Most severe first, then the oldest."""
        return sorted(
            self.alarms.values(),
            key=lambda a: (SEVERITY_RANK.get(str(a.get("severity")), 3), str(a.get("started_at"))),
        )


class AlarmWallModel:
    """Outlets with open alarms and a short recent series of each one's alarm pollutant."""

    def __init__(self) -> None:
        self.cards: dict[str, AlarmCard] = {}

    def ordered(self) -> list[AlarmCard]:
        """Cards by severity, then by the start of their oldest alarm."""
        return sorted(
            self.cards.values(),
            key=lambda c: (
                SEVERITY_RANK.get(c.severity, 3),
                min(str(a.get("started_at")) for a in c.alarms.values()),
                c.outlet_id,
            ),
        )

    def load_alarms(self, alarms: Iterable[Mapping[str, Any]]) -> None:
        """Replace the open alarms with an ``alarms.list`` reply; kept outlets keep sparklines."""
        old = self.cards
        self.cards = {}
        for alarm in alarms:
            outlet_id = str(alarm.get("outlet_id"))
            if outlet_id not in self.cards and outlet_id in old:
                card = old[outlet_id]
                card.alarms.clear()
                self.cards[outlet_id] = card
            self._raise(alarm)

    def _raise(self, alarm: Mapping[str, Any]) -> None:
        outlet_id = alarm.get("outlet_id")
        alarm_id = alarm.get("id")
        if not outlet_id or alarm_id is None:
            raise ValueError(f"alarm without outlet_id or id: {dict(alarm)!r}")
        card = self.cards.get(str(outlet_id))
        if card is None:
            card = AlarmCard(str(outlet_id), str(alarm.get("enterprise_id") or ""))
            self.cards[str(outlet_id)] = card
        card.alarms[str(alarm_id)] = dict(alarm)

    def apply_events(self, events: Iterable[Mapping[str, Any]]) -> tuple[bool, set[str]]:
        """Apply alarm and data events; returns (cards added or removed, outlets to redraw)."""
        events = list(events)
        structure_changed = False
        redraw: set[str] = set()
        for event in events:
            topic, data = event.get("topic"), event.get("data")
            if not isinstance(data, Mapping):
                continue
            if topic == ALARM_RAISED:
                self._raise(data)
                structure_changed = True
            elif topic == ALARM_CLEARED:
                card = self.cards.get(str(data.get("outlet_id")))
                if card is not None and card.alarms.pop(str(data.get("id")), None) is not None:
                    structure_changed = True
                    redraw.add(card.outlet_id)
                    if not card.alarms:
                        del self.cards[card.outlet_id]
        points = _data_points(events, lambda d: d.get("outlet_id") in self.cards)
        for outlet_id, per_code in points.items():
            card = self.cards[outlet_id]
            code = card.code
            samples = per_code.get(code) if code else None
            if samples and _append_new(card.sparkline, samples):
                redraw.add(outlet_id)
        return structure_changed, redraw


class OutletDirectory:
    """Enterprise and outlet names and limits from a world snapshot, looked up by id."""

    def __init__(self, snapshot: Mapping[str, Any] | None = None) -> None:
        self.enterprises: dict[str, Mapping[str, Any]] = {}
        self.outlets: dict[str, Mapping[str, Any]] = {}
        self.owner: dict[str, str] = {}  # outlet id -> enterprise id
        for enterprise in (snapshot or {}).get("enterprises", []):
            self.enterprises[str(enterprise["id"])] = enterprise
            for outlet in enterprise.get("outlets", []):
                self.outlets[str(outlet["id"])] = outlet
                self.owner[str(outlet["id"])] = str(enterprise["id"])

    def outlets_of(self, enterprise_id: str) -> list[Mapping[str, Any]]:
        enterprise = self.enterprises.get(enterprise_id)
        return list(enterprise.get("outlets", [])) if enterprise is not None else []

    def pollutant(self, outlet_id: str, code: str) -> tuple[str, str]:
        """(name, unit) of ``code`` in the outlet's permit; the code itself and no unit when
        the permit does not list it."""
        for limit in (self.outlets.get(outlet_id) or {}).get("limits", []):
            if limit.get("code") == code:
                return str(limit.get("name") or code), str(limit.get("unit") or "")
        return code, ""

    def outlet_title(self, outlet_id: str) -> str:
        """ "Enterprise · outlet" for display; the bare id when the snapshot lacks it."""
        outlet = self.outlets.get(outlet_id)
        enterprise = self.enterprises.get(self.owner.get(outlet_id, ""))
        if outlet is None or enterprise is None:
            return outlet_id
        return f"{enterprise.get('name', '')} · {outlet.get('name', outlet_id)}"
