"""Monitoring storage on SQLite and PostgreSQL: idempotent batches, series, aggregates,
alarms, quarantine, quota, rates and retention (partition drops on PostgreSQL)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from console.core.model import OutletKind
from console.monitoring.alarms import Alarm, AlarmEvent
from console.monitoring.hj212 import decode, encode_packet
from console.monitoring.receiver import (
    QuarantinedPacket,
    ReceivedPacket,
    StationInfo,
    format_hj212_time,
)
from console.store import Store
from console.store.migrate import schema_diff
from console.store.schema_monitoring import hourly, minute, realtime
from console.store.timeseries import INGEST_LOCK_SUFFIX, Retention, TimeSeriesStore

STATION = StationInfo(
    mn="MN0001", enterprise_id="ent-1", outlet_id="outlet-1", district_adcode="331002",
    password="pw", kind=OutletKind.WATER,
)  # fmt: skip
NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def packet(cn: str, at: datetime, values: dict[str, dict[str, Any]]) -> ReceivedPacket:
    frame = encode_packet(
        cn=cn, mn=STATION.mn, pw=STATION.password, data_time=format_hj212_time(at), values=values
    )
    return ReceivedPacket(decode(frame), STATION, at + timedelta(seconds=2), "127.0.0.1:1")


def count(store: Store, table: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.fixture
def store(store_url: str) -> Any:
    opened = Store.open(store_url)
    yield opened
    opened.close()


def test_batches_are_idempotent_and_series_read_back(store: Store) -> None:
    ts = TimeSeriesStore(store.engine)
    batch = [
        packet("2011", NOW + timedelta(seconds=30 * i), {"w01018": {"Rtd": 10.0 + i, "Flag": "N"}})
        for i in range(5)
    ]
    batch.append(packet("2011", NOW, {"w01018": {"Rtd": 10.0, "Flag": "N"}}))  # quick resend
    result = ts.insert_packets(batch)
    assert result.realtime_rows == 6
    ts.insert_packets(batch[:3])  # the station sends again: nothing changes
    assert count(store, realtime) == 5
    series = ts.series("outlet-1", "2011", NOW - timedelta(hours=1))
    assert series["w01018"]["v"] == [10.0, 11.0, 12.0, 13.0, 14.0]
    assert series["w01018"]["t"][0] == NOW.timestamp()
    assert series["w01018"]["flag"] == ["N"] * 5
    assert ts.series("outlet-1", "2011", NOW, codes=["w21003"]) == {}
    with pytest.raises(ValueError, match="no series for CN"):
        ts.series("outlet-1", "9999", NOW)


def test_packets_of_one_time_are_kept_together_and_the_first_value_wins(store: Store) -> None:
    """A station that spreads one time's codes over several packets loses none of them."""
    ts = TimeSeriesStore(store.engine)
    first = packet("2011", NOW, {"w01018": {"Rtd": 10.0, "Flag": "N"}})
    second = packet("2011", NOW, {"w21003": {"Rtd": 2.5, "Flag": "N"},
                                  "w01018": {"Rtd": 99.0, "Flag": "N"}})  # fmt: skip
    ts.insert_packets([first, second])  # in one batch
    third = packet("2011", NOW, {"w21011": {"Rtd": 0.3, "Flag": "D"}})
    ts.insert_packets([third, first])  # in a later one, with a resend
    assert count(store, realtime) == 1
    series = ts.series("outlet-1", "2011", NOW)
    assert {code: entry["v"] for code, entry in series.items()} == {
        "w01018": [10.0], "w21003": [2.5], "w21011": [0.3],
    }  # fmt: skip
    assert series["w21011"]["flag"] == ["D"]
    with store.engine.connect() as conn:
        stored = conn.execute(select(realtime.c.cp)).scalar_one()
    for resend in ([second], [third], [first, second, third]):
        ts.insert_packets(resend)  # resends change nothing, in or out of a batch
        with store.engine.connect() as conn:
            assert conn.execute(select(realtime.c.cp)).scalar_one() == stored
    assert stored.count("w01018-Rtd") == 2  # both were kept as sent; the first one counts
    hour = NOW.replace(minute=0)
    assert (
        ts.fill_aggregates(
            {"outlet-1": OutletKind.WATER},
            "2061",
            hour,
            hour + timedelta(hours=1),
            period_seconds=3600,
        )
        == 3
    )
    assert ts.series("outlet-1", "2061", hour)["w01018"]["v"] == [10.0]


def test_an_unreadable_stored_row_is_logged_and_skipped(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    ts = TimeSeriesStore(store.engine)
    ts.insert_packets([packet("2011", NOW, {"w01018": {"Rtd": 10.0, "Flag": "N"}})])
    later = NOW + timedelta(seconds=30)
    with store.engine.begin() as conn:  # edited by hand: not something the codec reads
        conn.execute(
            realtime.insert().values(
                outlet_id="outlet-1", data_time=later, received_at=later, cp="w01018-Rtd=x"
            )
        )
    with caplog.at_level("WARNING", logger="console.store.timeseries"):
        series = ts.series("outlet-1", "2011", NOW)
    assert series["w01018"]["v"] == [10.0]
    assert "unreadable" in caplog.text
    assert "w01018-Rtd='x' is not a number" in caplog.text


def test_sent_aggregates_win_over_computed_ones(store: Store) -> None:
    ts = TimeSeriesStore(store.engine)
    hour = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # 10:00 Beijing
    ts.insert_packets(
        [
            packet("2011", hour + timedelta(minutes=m), {"w01018": {"Rtd": float(m), "Flag": f}})
            for m, f in ((0, "N"), (20, "N"), (40, "D"))
        ]
    )
    kinds = {"outlet-1": OutletKind.WATER}
    written = ts.fill_aggregates(
        kinds, "2061", hour, hour + timedelta(hours=1), period_seconds=3600
    )
    assert written == 1
    computed = ts.series("outlet-1", "2061", hour)["w01018"]
    assert computed["v"] == [10.0]
    assert computed["flag"] == ["D"]
    sent = packet("2061", hour, {"w01018": {"Min": 1.0, "Avg": 2.0, "Max": 3.0, "Flag": "N"}})
    ts.insert_packets([sent])
    assert ts.series("outlet-1", "2061", hour)["w01018"]["v"] == [2.0]
    # Computing again keeps what the station sent.
    ts.fill_aggregates(kinds, "2061", hour, hour + timedelta(hours=1), period_seconds=3600)
    assert ts.series("outlet-1", "2061", hour)["w01018"]["v"] == [2.0]
    with pytest.raises(ValueError, match="not an aggregate upload"):
        ts.fill_aggregates(kinds, "2011", hour, hour, period_seconds=60)


def test_quota_usage_and_daily_rates(store: Store) -> None:
    ts = TimeSeriesStore(store.engine)
    day_start = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)  # 2026-11-28 00:00 Beijing
    hours = [
        packet("2061", day_start + timedelta(hours=h), {
            "w01018": {"Avg": 20.0, "Cou": 1.5, "Flag": "N" if h else "D"},
            "w00000": {"Avg": 5.0, "Cou": 18.0, "Flag": "N"},
        })
        for h in range(6)
    ]  # fmt: skip
    ts.insert_packets(hours)
    ts.insert_packets(hours[:2])  # resends count once
    usage = {(o, c): kg for o, c, kg in ts.quota_usage(2026)}
    assert usage[("outlet-1", "w01018")] == pytest.approx(9.0)
    assert ts.quota_usage(2026, ["outlet-2"]) == []
    # The month is Beijing's: the hour before day_start is 31 October there, not November.
    ts.insert_packets([packet("2061", day_start - timedelta(days=27, hours=1), {
        "w01018": {"Avg": 20.0, "Cou": 100.0, "Flag": "N"}})])  # fmt: skip
    november = {(o, c): kg for o, c, kg in ts.quota_usage_month(2026, 11)}
    assert november == {("outlet-1", "w01018"): pytest.approx(9.0),
                        ("outlet-1", "w00000"): pytest.approx(108.0)}  # fmt: skip
    assert ts.quota_usage_month(2026, 10) == [("outlet-1", "w01018", pytest.approx(100.0))]
    assert ts.quota_usage_month(2026, 12) == []
    assert ts.quota_usage_month(2026, 11, ["outlet-2"]) == []
    observations = ts.rate_observations(date(2026, 11, 28), {"outlet-1": "ent-1"})
    assert len(observations) == 6
    assert sum(not o.valid for o in observations) == 1  # hour 0 had a D flag
    assert ts.rate_observations(date(2026, 11, 29), {"outlet-1": "ent-1"}) == []


def test_alarms_and_quarantine(store: Store) -> None:
    ts = TimeSeriesStore(store.engine)
    alarm = Alarm(
        id="a-1", kind="exceedance", severity="warning", enterprise_id="ent-1",
        outlet_id="outlet-1", mn="MN0001", pollutant="w01018", value=150.0, limit=100.0,
        flag=None, started_at=NOW, district_adcode="331002", detail={"unit": "mg/L"},
    )  # fmt: skip
    ts.save_alarm_events([AlarmEvent("alarm.raised", alarm, NOW)])
    ts.save_alarm_events([AlarmEvent("alarm.raised", alarm, NOW)])  # idempotent
    [stored] = ts.list_alarms(open_only=True)
    assert stored["limit"] == 100.0
    assert stored["detail"] == {"unit": "mg/L"}
    assert stored["cleared_at"] is None
    assert stored["started_at"] == NOW.isoformat()
    assert ts.list_alarms(districts=["331003"]) == []
    ts.save_alarm_events([AlarmEvent("alarm.cleared", alarm, NOW + timedelta(minutes=5))])
    assert ts.list_alarms(open_only=True) == []
    assert ts.get_alarm("a-1")["cleared_at"] == (NOW + timedelta(minutes=5)).isoformat()  # type: ignore[index]
    assert ts.get_alarm("nope") is None
    ts.add_quarantined(
        [QuarantinedPacket("q-1", "MN9", "unknown_mn", "127.0.0.1:5", NOW, b"##0010\xffST=32")]
    )
    [item] = ts.list_quarantined()
    assert item["reason"] == "unknown_mn"
    assert item["raw"] == "##0010\\xffST=32"


def test_retention_purges_old_data(store: Store) -> None:
    ts = TimeSeriesStore(store.engine)
    now = datetime(2026, 11, 28, tzinfo=UTC)
    old, recent = now - timedelta(days=70), now - timedelta(days=1)
    for at in (old, recent):
        ts.insert_packets(
            [
                packet("2011", at, {"w01018": {"Rtd": 1.0, "Flag": "N"}}),
                packet("2051", at, {"w01018": {"Avg": 1.0, "Flag": "N"}}),
            ]
        )
    purged = ts.purge(Retention(realtime_days=30, minute_days=100, hourly_days=400), now)
    assert count(store, realtime) == 1
    assert count(store, minute) == 2
    assert purged["deleted_rows"]["monitoring_realtime"] in (0, 1)  # 0: partition dropped
    if store.dialect == "postgresql":
        assert "monitoring_realtime_p202609" in purged["dropped_partitions"]
        assert "monitoring_realtime_p202609" not in ts.partitions()
        assert "monitoring_minute_p202609" in ts.partitions()
    with pytest.raises(ValueError, match="hourly_days must be at least 366"):
        Retention(hourly_days=30)


@pytest.mark.postgres
def test_postgresql_partitions_ahead_and_copy(pg_url: str) -> None:
    store = Store.open(pg_url)
    try:
        ts = TimeSeriesStore(store.engine)
        result = ts.insert_packets(
            [
                packet("2011", NOW, {"w01018": {"Rtd": 1.0, "Flag": "N"}}),
                packet("2061", NOW.replace(minute=0), {"w01018": {"Avg": 1.0, "Flag": "N"}}),
            ]
        )
        assert set(result.partitions_created) == {
            "monitoring_realtime_p202611", "monitoring_realtime_p202612",
            "monitoring_hourly_p202611", "monitoring_hourly_p202612",
        }  # fmt: skip
        assert ts.copy_batches == 1
        assert count(store, realtime) == 1
        assert count(store, hourly) == 1
        # A second store object (another hub) finds the partitions and reuses them.
        again = TimeSeriesStore(store.engine).insert_packets(
            [packet("2011", NOW + timedelta(seconds=30), {"w01018": {"Rtd": 2.0}})]
        )
        assert again.partitions_created == ()
        assert schema_diff(store.engine) == []  # partitions are not drift
        # Straight COPYs so far; a batch that repeats stored rows goes through staging.
        assert ts.staged_batches == 0
        later = NOW + timedelta(minutes=5)
        mixed = [
            packet("2011", NOW, {"w01018": {"Rtd": 9.0, "Flag": "N"}}),  # stored already
            packet("2011", later, {"w01018": {"Rtd": 3.0, "Flag": "N"}}),
            packet("2061", NOW.replace(minute=0), {"w01018": {"Avg": 9.0, "Flag": "N"}}),
        ]
        ts.insert_packets(mixed)
        assert ts.staged_batches == 1
        assert ts.series("outlet-1", "2011", NOW)["w01018"]["v"] == [1.0, 2.0, 3.0]
        assert ts.series("outlet-1", "2061", NOW.replace(minute=0))["w01018"]["v"] == [1.0]
        # The staging tables outlive that rollback: the next collision needs no DDL.
        ts.insert_packets(mixed)
        assert (ts.copy_batches, ts.staged_batches) == (3, 2)
        # COPY's text format: tabs, newlines and backslashes in values survive.
        odd = replace(STATION, outlet_id="outlet\\2\tx\ny")
        frame = encode_packet(
            cn="2011", mn=odd.mn, pw=odd.password,
            data_time=format_hj212_time(later), values={"w01018": {"Rtd": 4.5}},
        )  # fmt: skip
        ts.insert_packets([ReceivedPacket(decode(frame), odd, later, "127.0.0.1:1")])
        assert ts.staged_batches == 2
        assert ts.series(odd.outlet_id, "2011", NOW)["w01018"] == {
            "t": [later.timestamp()], "v": [4.5], "flag": ["N"]
        }  # fmt: skip
    finally:
        store.close()


def test_sqlite_ingest_writers_take_turns_through_a_file_lock(tmp_path: Path) -> None:
    """A writer waits while another holds the turn and goes on the moment it is released."""
    fcntl = pytest.importorskip("fcntl")
    store = Store.open(f"sqlite:///{tmp_path / 'turns.sqlite3'}")
    try:
        series = TimeSeriesStore(store.engine)
        batch = [packet("2011", NOW, {"w01018": {"Rtd": 10.0, "Flag": "N"}})]
        with open(tmp_path / f"turns.sqlite3{INGEST_LOCK_SUFFIX}", "a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)  # another worker's turn
            writer = threading.Thread(target=series.insert_packets, args=(batch,))
            writer.start()
            writer.join(0.3)
            assert writer.is_alive()  # waiting for its turn: nothing written yet
            assert count(store, realtime) == 0
        writer.join(5)  # closing the file released the lock
        assert not writer.is_alive()
        assert count(store, realtime) == 1
    finally:
        store.close()
