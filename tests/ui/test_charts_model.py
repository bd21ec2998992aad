"""The Qt-free chart models: ring buffers, event application, flag spans, the alarm wall."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from pytestqt.qtbot import QtBot

from console.charts.alarm_wall import MAX_CARDS, AlarmWall
from console.charts.model import (
    AlarmWallModel,
    ComparisonModel,
    OutletSeriesModel,
    RingBuffer,
    flag_index,
    flag_spans,
    parse_time,
)
from console.shell.session import Session

T0 = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)


def data_event(
    outlet_id: str,
    when: datetime,
    values: dict[str, tuple[float | None, str | None]],
    cn: str = "2011",
) -> dict[str, Any]:
    """A ``monitoring.data`` event as the hub link delivers it, holding one packet."""
    return data_batch([packet(outlet_id, when, values, cn)])


def packet(
    outlet_id: str,
    when: datetime,
    values: dict[str, tuple[float | None, str | None]],
    cn: str = "2011",
    district_adcode: str = "331002",
) -> dict[str, Any]:
    """One packet of a ``monitoring.data`` event's ``items``."""
    return {
        "enterprise_id": "E1",
        "outlet_id": outlet_id,
        "mn": "MN" + outlet_id,
        "cn": cn,
        "data_time": when.isoformat().replace("+00:00", "Z"),
        "received_at": when.isoformat(),
        "district_adcode": district_adcode,
        "values": {
            code: {"value": value, "flag": flag, "zs": None, "cou": None}
            for code, (value, flag) in values.items()
        },
    }


def data_batch(items: list[dict[str, Any]], district_adcode: str = "331002") -> dict[str, Any]:
    """A ``monitoring.data`` event: one receiver flush of one district."""
    return {
        "type": "event",
        "topic": "monitoring.data",
        "seq": 1,
        "data": {"district_adcode": district_adcode, "items": items},
    }


def alarm_event(topic: str, alarm_id: str, outlet_id: str, **extra: Any) -> dict[str, Any]:
    alarm = {
        "id": alarm_id,
        "kind": "exceedance",
        "severity": "warning",
        "enterprise_id": "E1",
        "outlet_id": outlet_id,
        "mn": "MN",
        "pollutant": "w01018",
        "value": 120.0,
        "limit": 100.0,
        "flag": None,
        "started_at": T0.isoformat(),
        "district_adcode": "331002",
        "detail": {},
    }
    alarm.update(extra)
    return {"type": "event", "topic": topic, "seq": 1, "data": alarm}


def test_ring_buffer_keeps_the_newest_samples_contiguous() -> None:
    ring = RingBuffer(5)
    ring.extend([1, 2, 3], [10, 20, 30], [0, 0, 1])
    assert ring.times.tolist() == [1, 2, 3]
    ring.extend([4, 5, 6, 7], [40, 50, 60, 70], [0, 0, 0, 2])
    assert ring.times.tolist() == [3, 4, 5, 6, 7]
    assert ring.values.tolist() == [30, 40, 50, 60, 70]
    assert ring.flags.tolist() == [1, 0, 0, 0, 2]
    assert ring.times.base is not None  # a view into the buffer, not a copy
    ring.extend(np.arange(100.0, 112.0), np.arange(12.0), np.zeros(12, dtype=np.uint8))
    assert ring.times.tolist() == [107, 108, 109, 110, 111]
    assert ring.last_time == 111
    with pytest.raises(ValueError, match="equal length"):
        ring.extend([1, 2], [1], [0, 0])
    with pytest.raises(ValueError, match="capacity must be positive"):
        RingBuffer(0)


def test_one_event_carries_a_flush_of_several_outlets_and_commands() -> None:
    flush = data_batch(
        [
            packet("O1", T0, {"w01018": (10.0, "N")}),
            packet("O2", T0, {"w01018": (20.0, "N")}),
            packet("O1", T0 + timedelta(seconds=30), {"w01018": (11.0, "M")}),
            packet("O1", T0, {"w01018": (99.0, "N")}, cn="2051"),
            "not a packet",  # type: ignore[list-item]
        ]
    )
    realtime = OutletSeriesModel("O1", "realtime")
    assert realtime.apply_events([flush]) == {"w01018"}
    cod = realtime.series["w01018"].buffer
    assert cod.values.tolist() == [10.0, 11.0]
    assert cod.flags.tolist() == [0, flag_index("M")]
    minute = OutletSeriesModel("O1", "minute_24h")
    assert minute.apply_events([flush]) == {"w01018"}
    assert minute.series["w01018"].buffer.values.tolist() == [99.0]
    comparison = ComparisonModel("w01018", ["O1", "O2"])
    comparison.apply_events([flush])
    assert comparison.buffers["O2"].values.tolist() == [20.0]
    # A malformed event (no items list) changes nothing.
    bad = dict(flush, data={"district_adcode": "331002", "items": None})
    assert realtime.apply_events([bad]) == set()


def test_model_applies_a_stream_of_one_thousand_data_events() -> None:
    model = OutletSeriesModel("O1", "realtime")
    model.set_limits([{"code": "w01018", "name": "COD", "unit": "mg/L", "limit": 100.0}])
    events = []
    for i in range(1_000):
        when = T0 + timedelta(seconds=30 * i)
        flag = "M" if 400 <= i < 410 else "N"
        events.append(
            data_event("O1", when, {"w01018": (float(i % 97), flag), "w21003": (None, None)})
        )
        if i % 100 == 0:  # noise the chart must ignore
            events.append(data_event("O2", when, {"w01018": (999.0, "N")}))
            events.append(data_event("O1", when, {"w01018": (999.0, "N")}, cn="2051"))
    # Delivered in batches like the hub link does, with one batch replayed (reconnect).
    changed = set()
    for start in range(0, len(events), 64):
        changed |= model.apply_events(events[start : start + 64])
    model.apply_events(events[:64])
    assert changed == {"w01018", "w21003"}
    cod = model.series["w01018"]
    assert (cod.name, cod.unit, cod.limit) == ("COD", "mg/L", 100.0)
    assert len(cod.buffer) == 1_000
    assert cod.buffer.times[0] == T0.timestamp()
    assert np.all(np.diff(cod.buffer.times) == 30.0)
    assert cod.buffer.values.tolist() == [float(i % 97) for i in range(1_000)]
    assert np.isnan(model.series["w21003"].buffer.values).all()
    spans = flag_spans(cod.buffer.times, cod.buffer.flags)
    assert [(s.flag, s.start, s.end) for s in spans] == [
        (
            "M",
            (T0 + timedelta(seconds=12_000)).timestamp(),
            (T0 + timedelta(seconds=12_300)).timestamp(),
        )
    ]
    assert model.dropped > 0  # the replayed batch
    assert model.time_range() == (T0.timestamp(), (T0 + timedelta(seconds=29_970)).timestamp())
    when, value, flag = cod.sample_at((T0 + timedelta(seconds=12_010)).timestamp()) or (0, 0, "")
    assert (when, value, flag) == ((T0 + timedelta(seconds=12_000)).timestamp(), 400 % 97, "M")


def test_series_reply_replaces_samples_and_rejects_a_foreign_reply() -> None:
    model = OutletSeriesModel("O1", "hourly_30d")
    reply = {
        "outlet_id": "O1",
        "window": "hourly_30d",
        "series": {"w01001": {"t": [7200.0, 3600.0], "v": [7.1, None], "flag": ["N", "D"]}},
        "limits": {"w01001": {"limit": 9.0, "lower_limit": 6.0, "unit": "", "name": "pH"}},
    }
    model.load(reply)
    ph = model.series["w01001"]
    assert ph.buffer.times.tolist() == [3600.0, 7200.0]
    assert np.isnan(ph.buffer.values[0])
    assert (ph.limit, ph.lower_limit, ph.label) == (9.0, 6.0, "pH")
    with pytest.raises(ValueError, match="does not match"):
        model.load(dict(reply, window="realtime"))
    with pytest.raises(ValueError, match="unknown chart window 'weekly'"):
        OutletSeriesModel("O1", "weekly")
    with pytest.raises(ValueError, match="not an ISO-8601 timestamp"):
        parse_time("yesterday")


def test_flag_spans_cover_runs_until_the_next_sample() -> None:
    times = np.array([0.0, 60.0, 120.0, 180.0, 240.0, 300.0])
    flags = np.array([0, 4, 4, 0, 7, 7], dtype=np.uint8)  # D, D, N, B, B
    spans = flag_spans(times, flags)
    assert [(s.flag, s.start, s.end) for s in spans] == [("D", 60.0, 180.0), ("B", 240.0, 360.0)]
    assert flag_spans(times, np.zeros(6, dtype=np.uint8)) == []


def test_comparison_model_follows_one_pollutant_of_several_outlets() -> None:
    model = ComparisonModel("w01018", ["O1", "O2"])
    events = [
        data_event("O1", T0, {"w01018": (50.0, "N"), "w21003": (3.0, "N")}),
        data_event("O2", T0, {"w01018": (70.0, "N")}),
        data_event("O3", T0, {"w01018": (1.0, "N")}),
    ]
    assert model.apply_events(events) == {"O1", "O2"}
    assert model.buffers["O2"].values.tolist() == [70.0]
    with pytest.raises(ValueError, match="at least one outlet"):
        ComparisonModel("w01018", [])


def test_alarm_wall_model_tracks_raised_and_cleared_alarms() -> None:
    wall = AlarmWallModel()
    changed, _ = wall.apply_events(
        [
            alarm_event("alarm.raised", "A1", "O1"),
            alarm_event("alarm.raised", "A2", "O2", severity="critical", pollutant=None),
            alarm_event("alarm.raised", "A3", "O1", kind="offline", pollutant=None),
        ]
    )
    assert changed
    assert [c.outlet_id for c in wall.ordered()] == ["O2", "O1"]
    assert wall.cards["O1"].code == "w01018"
    assert wall.cards["O1"].limit == 100.0
    changed, redraw = wall.apply_events(
        [data_event("O1", T0, {"w01018": (130.0, "N")}), data_event("O9", T0, {"w01018": (1, "N")})]
    )
    assert (changed, redraw) == (False, {"O1"})
    assert wall.cards["O1"].sparkline.values.tolist() == [130.0]
    changed, _ = wall.apply_events([alarm_event("alarm.cleared", "A1", "O1")])
    assert changed
    assert set(wall.cards) == {"O1", "O2"}
    wall.apply_events([alarm_event("alarm.cleared", "A3", "O1")])
    assert set(wall.cards) == {"O2"}
    wall.load_alarms([alarm_event("alarm.raised", "A5", "O5")["data"]])
    assert set(wall.cards) == {"O5"}
    with pytest.raises(ValueError, match="without outlet_id"):
        wall.load_alarms([{"id": "A6"}])


def test_the_wall_draws_the_most_severe_cards_and_counts_them_all(qtbot: QtBot) -> None:
    """A city-wide outage (hundreds of offline stations) must not build hundreds of plots."""
    wall = AlarmWall(Session())
    qtbot.addWidget(wall)
    alarms = [
        alarm_event("alarm.raised", f"A{i}", f"O{i:03d}", kind="offline", pollutant=None)["data"]
        for i in range(MAX_CARDS + 10)
    ]
    alarms.append(alarm_event("alarm.raised", "A-crit", "O-crit", severity="critical")["data"])
    wall._on_alarms(alarms)
    assert len(wall.cards) == MAX_CARDS
    assert "O-crit" in wall.cards  # the critical one first, whatever its place in the list
    assert wall.status.text() == f"报警中的排放口：{MAX_CARDS + 11}（显示最严重的 {MAX_CARDS} 个）"
    wall._on_alarms(alarms[:5])
    assert len(wall.cards) == 5
    assert wall.status.text() == "报警中的排放口：5"
