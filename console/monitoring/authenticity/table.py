"""Hourly CSV -> ``SeriesBatch``es, reporting each bad row by line number and keeping the rest.

Columns (header required, any order): ``enterprise,pollutant,ts,value,limit`` and optionally
``zs`` (O2-converted value), ``flow``, ``o2``, ``range_max``, ``flag``, ``temperature``.
Timestamps are ISO 8601; naive ones are Asia/Shanghai (UTC+8). Each timestamp is floored to its
hour; a second row for the same enterprise, pollutant and hour is an error.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from console.monitoring.authenticity.scoring import CHINA_TZ, FLAG_CODES, SeriesBatch

REQUIRED_COLUMNS = ("enterprise", "pollutant", "ts", "value", "limit")
OPTIONAL_COLUMNS = ("zs", "flow", "o2", "range_max", "flag", "temperature")
_HOURLY_FIELDS = ("value", "zs", "flow", "o2", "temperature")


class TableError(ValueError):
    """The input cannot be used at all (no header, missing required columns)."""


@dataclass(frozen=True, slots=True)
class HourlyTable:
    batches: tuple[SeriesBatch, ...]
    errors: tuple[str, ...]  # "line N: what is wrong", one per rejected row
    rows: int  # accepted rows
    ignored_columns: tuple[str, ...] = ()


@dataclass(slots=True)
class _Series:
    hours: dict[int, tuple[float, ...]] = field(default_factory=dict)  # _HOURLY_FIELDS + flag
    lines: dict[int, int] = field(default_factory=dict)
    limit: tuple[int, float] = (-1, math.nan)  # (hour, value) of the latest row
    range_max: tuple[int, float] = (-1, math.nan)


class _RowError(ValueError):
    pass


def read_hourly_csv(lines: Iterable[str]) -> HourlyTable:
    """Parse the CSV text; raise ``TableError`` only when nothing can be read."""
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        raise TableError("empty input: a header line is required") from None
    except csv.Error as error:
        raise TableError(f"line 1: unreadable header: {error}") from None
    names = [name.strip().lower() for name in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise TableError(
            f"missing required column(s) {', '.join(missing)}; header has {', '.join(names)}"
        )
    duplicated = sorted({name for name in names if names.count(name) > 1 and name})
    if duplicated:
        raise TableError(f"column(s) {', '.join(duplicated)} appear more than once")
    index = {name: i for i, name in enumerate(names)}
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    ignored = tuple(name for name in names if name not in known)
    present = {name for name in OPTIONAL_COLUMNS if name in index}
    series: dict[tuple[str, str], _Series] = {}
    errors: list[str] = []
    accepted = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            errors.append(f"line {reader.line_num}: {error}")
            continue
        if not row or all(not cell.strip() for cell in row):
            continue
        line = reader.line_num
        try:
            if len(row) != len(names):
                raise _RowError(f"{len(row)} fields, the header has {len(names)}")
            _add_row(series, row, index, line)
        except _RowError as error:
            errors.append(f"line {line}: {error}")
            continue
        accepted += 1
    return HourlyTable(_batches(series, present), tuple(errors), accepted, ignored)


def _add_row(
    series: dict[tuple[str, str], _Series], row: list[str], index: dict[str, int], line: int
) -> None:
    def cell(name: str) -> str:
        return row[index[name]].strip() if name in index else ""

    enterprise, pollutant = cell("enterprise"), cell("pollutant")
    if not enterprise or not pollutant:
        raise _RowError("enterprise and pollutant must not be empty")
    hour = _parse_hour(cell("ts"))
    value = _number(cell("value"), "value", required=True)
    limit = _number(cell("limit"), "limit", required=True)
    if limit <= 0:
        raise _RowError(f"limit must be positive, got {limit:g}")
    range_max = _number(cell("range_max"), "range_max")
    if range_max <= 0:
        raise _RowError(f"range_max must be positive, got {range_max:g}")
    zs = _number(cell("zs"), "zs")
    flow = _number(cell("flow"), "flow")
    if flow < 0:
        raise _RowError(f"flow must not be negative, got {flow:g}")
    o2 = _number(cell("o2"), "o2")
    if not 0 <= o2 <= 100 and not math.isnan(o2):
        raise _RowError(f"o2 is a percentage, got {o2:g}")
    temperature = _number(cell("temperature"), "temperature")
    flag_text = cell("flag").upper() or "N"
    if flag_text not in FLAG_CODES:
        raise _RowError(f"flag {flag_text!r} is not an HJ 212 data flag ({''.join(FLAG_CODES)})")
    entry = series.setdefault((enterprise, pollutant), _Series())
    if hour in entry.hours:
        raise _RowError(
            f"second row for {enterprise}/{pollutant} in the hour of {cell('ts')} "
            f"(first on line {entry.lines[hour]})"
        )
    entry.hours[hour] = (value, zs, flow, o2, temperature, float(FLAG_CODES[flag_text]))
    entry.lines[hour] = line
    if hour > entry.limit[0]:
        entry.limit = (hour, limit)
    if not math.isnan(range_max) and hour > entry.range_max[0]:
        entry.range_max = (hour, range_max)


def _parse_hour(text: str) -> int:
    """Unix hour number of an ISO 8601 timestamp (naive = Asia/Shanghai)."""
    if not text:
        raise _RowError("ts is empty")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _RowError(f"cannot parse ts {text!r} as an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CHINA_TZ)
    return math.floor(moment.timestamp() / 3600)


def _number(text: str, name: str, required: bool = False) -> float:
    if not text:
        if required:
            raise _RowError(f"{name} is empty")
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise _RowError(f"cannot parse {name} {text!r} as a number") from None
    if not math.isfinite(value):
        raise _RowError(f"{name} must be a finite number, got {text!r}")
    return value


def _batches(series: dict[tuple[str, str], _Series], present: set[str]) -> tuple[SeriesBatch, ...]:
    """One batch per span length, so a long series does not pad every short one."""
    by_span: dict[int, list[tuple[tuple[str, str], _Series, int]]] = {}
    for key in sorted(series):
        entry = series[key]
        first = min(entry.hours)
        span = max(entry.hours) - first + 1
        by_span.setdefault(span, []).append((key, entry, first))
    batches = []
    for span, members in sorted(by_span.items()):
        size = len(members)
        data = np.full((len(_HOURLY_FIELDS) + 1, size, span), np.nan)
        data[-1] = 0.0
        for row, (_key, entry, first) in enumerate(members):
            offsets = np.fromiter((h - first for h in entry.hours), np.int64, len(entry.hours))
            values = np.array(list(entry.hours.values()), dtype=np.float64)
            data[:, row, offsets] = values.T
        fields = dict(zip(_HOURLY_FIELDS, data[:-1], strict=True))
        batches.append(
            SeriesBatch(
                enterprise=tuple(key[0] for key, _e, _f in members),
                pollutant=tuple(key[1] for key, _e, _f in members),
                start=np.array([first * 3600 for _k, _e, first in members], dtype=np.int64),
                value=fields["value"],
                limit=np.array([entry.limit[1] for _k, entry, _f in members]),
                range_max=(
                    np.array([entry.range_max[1] for _k, entry, _f in members])
                    if "range_max" in present
                    else None
                ),
                zs=fields["zs"] if "zs" in present else None,
                flow=fields["flow"] if "flow" in present else None,
                o2=fields["o2"] if "o2" in present else None,
                temperature=fields["temperature"] if "temperature" in present else None,
                flag=data[-1].astype(np.uint8) if "flag" in present else None,
            )
        )
    return tuple(batches)
