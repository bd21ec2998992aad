"""Aggregation flag rules, statistics, as-sent passthrough and transmission rates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from console.core.model import OutletKind
from console.monitoring.aggregate import (
    DAY,
    HOUR,
    RateObservation,
    aggregate_flag,
    aggregate_packets,
    aggregate_series,
    as_sent,
    daily_rates,
    expected_count,
)
from console.monitoring.hj212 import Packet
from console.monitoring.receiver import ReceivedPacket, StationInfo

T0 = datetime(2024, 3, 1, 0, 0, tzinfo=UTC)  # 08:00 Beijing


def test_water_any_abnormal_value_makes_the_aggregate_abnormal() -> None:
    assert aggregate_flag(["N"] * 99 + ["D"], OutletKind.WATER) == "D"
    assert aggregate_flag(["N"] * 10, OutletKind.WATER) == "N"


def test_gas_is_normal_only_with_75_percent_normal_values() -> None:
    assert aggregate_flag(["N"] * 3 + ["C"], OutletKind.GAS) == "N"
    assert aggregate_flag(["N"] * 2 + ["C", "M"], OutletKind.GAS) == "C"  # tie: gravest flag
    assert aggregate_flag(["N"] * 5 + ["M"] * 3, OutletKind.GAS) == "M"


def test_series_statistics_use_the_normal_values() -> None:
    times = [T0.timestamp() + 60 * i for i in range(120)]  # two hours of minute values
    values: list[float | None] = [float(i % 60) for i in range(120)]
    flags = ["N"] * 120
    flags[10] = "D"
    values[10] = 999.0
    values[70] = None
    hours = aggregate_series("w01018", OutletKind.WATER, times, values, flags, HOUR)
    assert [h.start for h in hours] == [T0, T0 + timedelta(hours=1)]
    first, second = hours
    assert first.flag == "D"
    assert first.count == 60
    assert first.normal == 59
    assert first.max == 59.0
    assert first.min == 0.0
    assert first.avg == pytest.approx((sum(range(60)) - 10) / 59)
    assert second.flag == "N"
    assert second.count == 59
    gas = aggregate_series("a21026", OutletKind.GAS, times, values, flags, HOUR)
    assert gas[0].flag == "N"


def test_period_of_abnormal_values_still_shows_what_was_sent() -> None:
    (agg,) = aggregate_series(
        "w01018",
        OutletKind.WATER,
        [T0.timestamp(), T0.timestamp() + 60],
        [5.0, 7.0],
        ["M", "M"],
        HOUR,
    )
    assert (agg.flag, agg.min, agg.avg, agg.max, agg.normal) == ("M", 5.0, 6.0, 7.0, 0)


def test_days_are_beijing_days_and_cou_sums_amounts() -> None:
    # 15:30 and 16:30 UTC fall on two Beijing days (23:30 and 00:30).
    times = np.array([T0.timestamp() + 15.5 * 3600, T0.timestamp() + 16.5 * 3600])
    days = aggregate_series(
        "w01018",
        OutletKind.WATER,
        times,
        np.array([1.0, 2.0]),
        ["N", "N"],
        DAY,
        amounts=[0.5, 0.25],
    )
    assert [d.start for d in days] == [T0 - timedelta(hours=8), T0 + timedelta(hours=16)]
    assert [d.cou for d in days] == [0.5, 0.25]


def test_series_input_errors() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        aggregate_series("x", OutletKind.WATER, [1.0], [1.0, 2.0], ["N"], HOUR)
    with pytest.raises(ValueError, match="period_seconds"):
        aggregate_series("x", OutletKind.WATER, [], [], [], 0)
    assert aggregate_series("x", OutletKind.WATER, [], [], [], HOUR) == []


STATION = StationInfo("MN1", "ent-1", "ent-1-W1", "331002", "123456", OutletKind.WATER)


def received(cn: str, data_time: str, values: dict[str, dict[str, float | str]]) -> ReceivedPacket:
    packet = Packet(version="2017", cn=cn, st="32", mn="MN1", data_time=data_time, values=values)
    return ReceivedPacket(packet, STATION, T0, "127.0.0.1:1")


def test_packets_aggregate_with_cumulative_amounts_from_flow() -> None:
    items = [
        received(
            "2011",
            f"202403010{8 + i // 120}{(i // 2) % 60:02d}{30 * (i % 2):02d}",
            {"w01018": {"Rtd": 50.0, "Flag": "N"}, "w00000": {"Rtd": 10.0, "Flag": "N"}},
        )
        for i in range(240)
    ]
    items.append(received("2061", "20240301080000", {"w01018": {"Avg": 1.0}}))  # ignored
    result = aggregate_packets(items, HOUR, interval_seconds=30)
    by_code = {(a.code, a.start): a for a in result["ent-1-W1"]}
    cod = by_code[("w01018", T0)]
    assert cod.count == 120
    assert cod.avg == 50.0
    # 50 mg/L x 10 L/s x 3600 s = 1.8 kg per hour
    assert cod.cou == pytest.approx(1.8)
    assert by_code[("w00000", T0)].cou == pytest.approx(36.0)  # m³


def test_as_sent_keeps_the_stations_own_aggregates() -> None:
    item = received(
        "2061",
        "20240301090000",
        {"w01018": {"Min": 1.0, "Avg": 2.0, "Max": 3.0, "Cou": 0.7, "Flag": "C"}},
    )
    (agg,) = as_sent(item)
    assert (agg.source, agg.period_seconds, agg.start) == ("sent", HOUR, T0 + timedelta(hours=1))
    assert (agg.min, agg.avg, agg.max, agg.cou, agg.flag) == (1.0, 2.0, 3.0, 0.7, "C")
    minute = received("2051", "20240301090000", {"w01018": {"Avg": 2.0}})
    minute.packet.params["MinInterval"] = 10
    assert as_sent(minute)[0].period_seconds == 600
    with pytest.raises(ValueError, match="not an aggregate"):
        as_sent(received("2011", "20240301090000", {}))


def test_daily_rates() -> None:
    day = date(2024, 3, 1)
    start = datetime(2024, 2, 29, 16, 0, tzinfo=UTC)  # Beijing midnight
    obs = [
        RateObservation("ent-1", "ent-1-W1", start + timedelta(hours=h), h % 6 != 0)
        for h in range(24)
    ]
    obs += [
        RateObservation("ent-1", "ent-1-W2", start + timedelta(hours=h), True) for h in range(12)
    ]
    obs.append(RateObservation("ent-1", "ent-1-W2", start + timedelta(hours=1), True))  # resent
    obs.append(RateObservation("ent-1", "ent-1-W2", start - timedelta(hours=1), True))  # day before
    rates = {
        r.enterprise_id: r
        for r in daily_rates(obs, day, {"ent-1": ["ent-1-W1", "ent-1-W2"], "ent-2": ["ent-2-G1"]})
    }
    one = rates["ent-1"]
    assert (one.expected, one.received, one.valid) == (48, 36, 32)
    assert one.transmission_rate == pytest.approx(36 / 48)
    assert one.effective_rate == pytest.approx(32 / 36)
    assert one.transmission_effective_rate == pytest.approx(32 / 48)
    assert rates["ent-2"].transmission_rate == 0.0
    assert rates["ent-2"].effective_rate == 0.0
    assert one.as_dict()["date"] == "2024-03-01"
    assert expected_count(30) == 2880
    with pytest.raises(ValueError, match="interval_seconds"):
        expected_count(0)
