"""Every alarm rule, with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from console.core.model import OutletKind, PermitLimit
from console.monitoring.alarms import AlarmConfig, AlarmEngine, AlarmEvent
from console.monitoring.hj212 import Packet
from console.monitoring.receiver import (
    ClockDrift,
    Reading,
    ReceivedPacket,
    StationInfo,
    format_hj212_time,
)

T0 = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
WATER = StationInfo(
    "MNW",
    "ent-1",
    "ent-1-W1",
    "331002",
    "1",
    OutletKind.WATER,
    (
        PermitLimit("w01018", "COD", "mg/L", 100.0, None, 10.0),
        PermitLimit("w01001", "pH", "", 9.0, 6.0),
    ),
)
GAS = StationInfo(
    "MNG",
    "ent-2",
    "ent-2-G1",
    "331003",
    "2",
    OutletKind.GAS,
    (PermitLimit("a21026", "SO2", "mg/m³", 35.0),),
)


def item(
    station: StationInfo, minute: int, values: dict[str, dict[str, float | str]], cn: str = "2011"
) -> Reading:
    """A packet as the receiver accepts it, in the form the engine judges."""
    at = T0 + timedelta(minutes=minute)
    packet = Packet(
        version="2017",
        cn=cn,
        st="32",
        mn=station.mn,
        data_time=format_hj212_time(at),
        values=values,
    )
    return ReceivedPacket(packet, station, at, "127.0.0.1:1").reading()


def cod(value: float, flag: str = "N") -> dict[str, dict[str, float | str]]:
    return {"w01018": {"Rtd": value, "Flag": flag}}


def topics(events: list[AlarmEvent]) -> list[tuple[str, str]]:
    return [(e.topic, e.alarm.kind) for e in events]


def test_exceedance_raises_once_and_clears_with_hysteresis() -> None:
    engine = AlarmEngine()
    assert engine.feed(item(WATER, 0, cod(50.0))) == []
    raised = engine.feed(item(WATER, 1, cod(120.0)))
    assert topics(raised) == [("alarm.raised", "exceedance")]
    alarm = raised[0].alarm.to_dict()
    assert alarm["pollutant"] == "w01018"
    assert alarm["value"] == 120.0
    assert alarm["limit"] == 100.0
    assert alarm["severity"] == "warning"
    assert alarm["district_adcode"] == "331002"
    assert alarm["started_at"] == (T0 + timedelta(minutes=1)).isoformat()
    assert engine.feed(item(WATER, 2, cod(130.0))) == []  # still open: not raised twice
    assert engine.feed(item(WATER, 3, cod(98.0))) == []  # inside the hysteresis band
    assert engine.feed(item(WATER, 4, cod(90.0))) == []  # one clear value is not enough
    cleared = engine.feed(item(WATER, 5, cod(90.0)))
    assert topics(cleared) == [("alarm.cleared", "exceedance")]
    assert cleared[0].alarm.id == raised[0].alarm.id
    assert cleared[0].to_dict()["cleared_at"] == (T0 + timedelta(minutes=5)).isoformat()
    assert engine.open_alarms == []


def test_ph_lower_limit() -> None:
    engine = AlarmEngine()
    events = engine.feed(item(WATER, 0, {"w01001": {"Rtd": 5.2, "Flag": "N"}}))
    assert topics(events) == [("alarm.raised", "exceedance")]
    assert events[0].alarm.limit == 6.0
    assert engine.feed(item(WATER, 1, {"w01001": {"Rtd": 6.1, "Flag": "N"}})) == []  # band
    engine.feed(item(WATER, 2, {"w01001": {"Rtd": 7.0, "Flag": "N"}}))
    assert topics(engine.feed(item(WATER, 3, {"w01001": {"Rtd": 7.0, "Flag": "N"}}))) == [
        ("alarm.cleared", "exceedance")
    ]


def test_gas_is_judged_on_the_zs_value_when_present() -> None:
    engine = AlarmEngine()
    # Measured 30 is under 35, but converted to the reference O2 it is 40.
    events = engine.feed(item(GAS, 0, {"a21026": {"Rtd": 30.0, "ZsRtd": 40.0, "Flag": "N"}}))
    assert topics(events) == [("alarm.raised", "exceedance")]
    assert events[0].alarm.value == 40.0
    assert events[0].alarm.detail["zs"] is True
    other = AlarmEngine()
    assert other.feed(item(GAS, 0, {"a21026": {"Rtd": 30.0, "Flag": "N"}})) == []


def test_sustained_exceedance_within_a_window() -> None:
    engine = AlarmEngine(AlarmConfig(sustained_count=3, sustained_window=5))
    seen = []
    for minute, value in enumerate([120.0, 80.0, 97.0, 130.0, 125.0]):
        seen += topics(engine.feed(item(WATER, minute, cod(value))))
    assert seen == [("alarm.raised", "exceedance"), ("alarm.raised", "sustained_exceedance")]
    sustained = next(a for a in engine.open_alarms if a.kind == "sustained_exceedance")
    assert sustained.severity == "critical"
    engine.feed(item(WATER, 10, cod(10.0)))
    assert sorted(k for _, k in topics(engine.feed(item(WATER, 11, cod(10.0))))) == [
        "exceedance",
        "sustained_exceedance",
    ]


def test_instrument_flags_map_to_severities_and_t_is_no_exceedance() -> None:
    engine = AlarmEngine()
    events = engine.feed(item(WATER, 0, cod(200.0, "T")))
    assert topics(events) == [("alarm.raised", "instrument_flag")]  # over range, not over limit
    assert events[0].alarm.flag == "T"
    assert events[0].alarm.severity == "warning"
    events = engine.feed(item(WATER, 1, cod(0.0, "D")))
    assert topics(events) == [
        ("alarm.cleared", "instrument_flag"),
        ("alarm.raised", "instrument_flag"),
    ]
    assert events[1].alarm.severity == "critical"
    assert engine.feed(item(WATER, 2, cod(0.0, "D"))) == []
    assert topics(engine.feed(item(WATER, 3, cod(40.0)))) == [("alarm.cleared", "instrument_flag")]
    calibration = engine.feed(item(WATER, 4, cod(40.0, "C")))
    assert calibration[0].alarm.severity == "info"


def test_offline_via_tick_and_back_online() -> None:
    engine = AlarmEngine(AlarmConfig(offline_after=timedelta(minutes=10)), clock=lambda: T0)
    engine.watch([GAS])  # expected but never heard from
    engine.feed(item(WATER, 0, cod(10.0)))
    assert engine.tick(T0 + timedelta(minutes=5)) == []
    events = engine.tick(T0 + timedelta(minutes=11))
    assert sorted(e.alarm.mn for e in events) == ["MNG", "MNW"]
    assert {e.alarm.kind for e in events} == {"offline"}
    assert engine.tick(T0 + timedelta(minutes=12)) == []  # raised once
    assert topics(engine.heartbeat(GAS, T0 + timedelta(minutes=13))) == [
        ("alarm.cleared", "offline")
    ]
    assert topics(engine.feed(item(WATER, 14, cod(10.0)))) == [("alarm.cleared", "offline")]


def test_a_station_that_left_the_register_is_not_reported_offline() -> None:
    engine = AlarmEngine(AlarmConfig(offline_after=timedelta(minutes=10)), clock=lambda: T0)
    engine.watch([GAS, WATER])
    assert engine.forget({WATER.mn}) == []  # the reloaded world has no GAS station any more
    events = engine.tick(T0 + timedelta(minutes=11))
    assert [(e.alarm.mn, e.alarm.kind) for e in events] == [("MNW", "offline")]


def test_the_open_alarms_of_a_station_that_left_the_register_are_cleared() -> None:
    engine = AlarmEngine(AlarmConfig(offline_after=timedelta(minutes=10)), clock=lambda: T0)
    engine.watch([GAS, WATER])
    offline = engine.tick(T0 + timedelta(minutes=11))
    assert sorted(e.alarm.mn for e in offline) == sorted([GAS.mn, WATER.mn])
    later = T0 + timedelta(minutes=12)
    cleared = engine.forget({WATER.mn}, later)
    assert [(e.topic, e.alarm.mn, e.alarm.kind, e.at) for e in cleared] == [
        ("alarm.cleared", GAS.mn, "offline", later)
    ]
    assert [a.mn for a in engine.open_alarms] == [WATER.mn]
    assert engine.forget({WATER.mn}, later) == []  # once


def test_quota_warning_and_exceeded_without_double_counting() -> None:
    engine = AlarmEngine()

    def hourly(hour: int, kg: float) -> list[AlarmEvent]:
        return engine.feed(item(WATER, 60 * hour, {"w01018": {"Avg": 40.0, "Cou": kg}}, cn="2061"))

    assert hourly(0, 5.0) == []
    assert hourly(0, 5.0) == []  # retransmission of the same hour
    warning = hourly(1, 3.5)  # 8.5 of 10 kg
    assert topics(warning) == [("alarm.raised", "quota_warning")]
    assert warning[0].alarm.detail["share"] == pytest.approx(0.85)
    assert topics(hourly(2, 2.0)) == [("alarm.raised", "quota_exceeded")]
    assert hourly(3, 1.0) == []
    # A new (Beijing) year starts from zero and closes last year's alarms.
    engine.set_quota_usage("ent-1-W1", "w01018", 2024, 10.5)
    next_year = engine.feed(
        ReceivedPacket(
            Packet(
                version="2017",
                cn="2061",
                st="32",
                mn="MNW",
                data_time="20250101000000",
                values={"w01018": {"Avg": 1.0, "Cou": 1.0}},
            ),
            WATER,
            T0,
            "127.0.0.1:1",
        ).reading()
    )
    assert sorted(topics(next_year)) == [
        ("alarm.cleared", "quota_exceeded"),
        ("alarm.cleared", "quota_warning"),
    ]


def test_monthly_quota_counts_the_beijing_month_next_to_the_annual_one() -> None:
    monthly = StationInfo(
        "MNM", "ent-3", "ent-3-W1", "331002", "3", OutletKind.WATER,
        (PermitLimit("w01018", "COD", "mg/L", 100.0, None, 100.0, monthly_quota_kg=10.0),),
    )  # fmt: skip
    engine = AlarmEngine()

    def hourly(at: datetime, kg: float) -> list[AlarmEvent]:
        packet = Packet(
            version="2017", cn="2061", st="32", mn="MNM", data_time=format_hj212_time(at),
            values={"w01018": {"Avg": 40.0, "Cou": kg}},
        )  # fmt: skip
        return engine.feed(ReceivedPacket(packet, monthly, at, "127.0.0.1:1").reading())

    may = datetime(2024, 5, 31, 10, 0, tzinfo=UTC)  # 18:00 on 31 May in Beijing
    assert hourly(may, 7.0) == []
    warning = hourly(may + timedelta(hours=1), 1.5)  # 8.5 of the month's 10 kg
    assert topics(warning) == [("alarm.raised", "monthly_quota_warning")]
    assert warning[0].alarm.detail == {"year": 2024, "month": 5, "share": 0.85, "unit": "kg"}
    assert warning[0].alarm.limit == 10.0
    assert hourly(may + timedelta(hours=1), 1.5) == []  # retransmission: counted once
    exceeded = hourly(may + timedelta(hours=2), 2.0)
    assert topics(exceeded) == [("alarm.raised", "monthly_quota_exceeded")]
    assert exceeded[0].alarm.value == pytest.approx(10.5)
    # 16:00 UTC on 31 May is midnight on 1 June in Beijing: a new month, the year goes on.
    june = hourly(datetime(2024, 5, 31, 16, 0, tzinfo=UTC), 1.0)
    assert sorted(topics(june)) == [
        ("alarm.cleared", "monthly_quota_exceeded"),
        ("alarm.cleared", "monthly_quota_warning"),
    ]
    assert hourly(may + timedelta(hours=3), 9.0) == []  # a late hour of May changes nothing
    # The annual quota (100 kg) saw every hour but the late one: 7 + 1.5 + 2 + 1.
    assert sorted(topics(hourly(datetime(2024, 6, 2, tzinfo=UTC), 68.5))) == [
        ("alarm.raised", "monthly_quota_exceeded"),  # June: 69.5 of 10 kg
        ("alarm.raised", "monthly_quota_warning"),
        ("alarm.raised", "quota_warning"),  # the year: 80 of 100 kg
    ]


def test_monthly_quota_usage_is_taken_back_after_a_restart() -> None:
    monthly = StationInfo(
        "MNM", "ent-3", "ent-3-W1", "331002", "3", OutletKind.WATER,
        (PermitLimit("w01018", "COD", "mg/L", 100.0, None, None, monthly_quota_kg=10.0),),
    )  # fmt: skip
    engine = AlarmEngine()
    engine.set_quota_usage("ent-3-W1", "w01018", 2024, 9.5, month=5)
    at = datetime(2024, 5, 20, 2, 0, tzinfo=UTC)
    packet = Packet(
        version="2017", cn="2061", st="32", mn="MNM", data_time=format_hj212_time(at),
        values={"w01018": {"Avg": 40.0, "Cou": 1.0}},
    )  # fmt: skip
    events = engine.feed(ReceivedPacket(packet, monthly, at, "127.0.0.1:1").reading())
    assert topics(events) == [
        ("alarm.raised", "monthly_quota_warning"),
        ("alarm.raised", "monthly_quota_exceeded"),
    ]


def test_clock_drift_raise_and_clear() -> None:
    engine = AlarmEngine()
    drift = ClockDrift("MNW", WATER, 600.0, T0 + timedelta(minutes=10), T0, True)
    assert topics(engine.clock_drift(drift)) == [("alarm.raised", "clock_drift")]
    assert engine.clock_drift(drift) == []
    back = ClockDrift("MNW", WATER, 1.0, T0, T0, False)
    assert topics(engine.clock_drift(back)) == [("alarm.cleared", "clock_drift")]


def test_alarm_ids_are_deterministic() -> None:
    first = AlarmEngine().feed(item(WATER, 1, cod(120.0)))[0].alarm.id
    second = AlarmEngine().feed(item(WATER, 1, cod(120.0)))[0].alarm.id
    assert first == second


def test_invalid_config() -> None:
    with pytest.raises(ValueError, match="sustained_count"):
        AlarmConfig(sustained_count=5, sustained_window=3)
    with pytest.raises(ValueError, match="clear_margin"):
        AlarmConfig(clear_margin=1.0)
