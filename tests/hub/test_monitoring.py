"""Online monitoring end to end: real TCP stations -> hub -> store -> real console clients."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from console.core.model import PermitLimit, World
from console.hub.client import HubError
from console.hub.monitoring_service import MonitoringConfig
from console.hub.server import Hub
from console.hub.state import HubConfig
from console.monitoring.alarms import AlarmConfig
from console.monitoring.hj212 import encode_packet
from console.monitoring.receiver import ReceiverConfig, format_hj212_time
from console.store.schema_monitoring import realtime
from tests.hub.support import logged_in, run, seed_store, small_world

MN_A = "33100200000000000000000001"  # outlet-331002, district 331002
MN_B = "33100300000000000000000001"  # outlet-331003, district 331003
PW = "secret-pw"
COD_LIMIT = 100.0


def monitored_world() -> World:
    """The small hub world with a COD limit on every outlet."""
    world = small_world()
    limit = PermitLimit("w01018", "化学需氧量", "mg/L", COD_LIMIT, annual_quota_kg=1000.0)
    enterprises = tuple(
        replace(e, outlets=tuple(replace(o, limits=(limit,)) for o in e.outlets))
        for e in world.enterprises
    )
    return replace(world, enterprises=enterprises)


def frame(
    mn: str, cod: float, *, at: datetime | None = None, pw: str = PW, cn: str = "2011"
) -> bytes:
    moment = datetime.now(UTC) if at is None else at
    main = "Rtd" if cn == "2011" else "Avg"
    return encode_packet(
        qn=format_hj212_time(datetime.now(UTC), millis=True),
        cn=cn,
        mn=mn,
        pw=pw,
        flag=5,  # 2017 protocol, reply wanted
        data_time=format_hj212_time(moment),
        values={"w01018": {main: cod, "Flag": "N"}, "w00000": {main: 3.0, "Flag": "N"}},
    )


class Station:
    """A real TCP station client."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> Station:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, data: bytes, *, reply: bool = True) -> bytes | None:
        self.writer.write(data)
        await self.writer.drain()
        if not reply:
            return None
        return await asyncio.wait_for(self.reader.readuntil(b"\r\n"), 5)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


class Inbox:
    """Events a console client received, with their arrival times."""

    def __init__(self) -> None:
        self.events: list[tuple[float, dict[str, Any]]] = []

    def __call__(self, message: dict[str, Any]) -> None:
        self.events.append((time.monotonic(), message))

    def of(self, topic: str) -> list[dict[str, Any]]:
        return [m["data"] for _, m in self.events if m["topic"] == topic]

    async def wait_for(
        self, topic: str, test: Callable[[dict[str, Any]], bool] = lambda d: True, within: float = 5
    ) -> tuple[float, dict[str, Any]]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for at, message in self.events:
                if message["topic"] == topic and test(message["data"]):
                    return at, message["data"]
            await asyncio.sleep(0.01)
        raise AssertionError(f"no {topic} event within {within} s: {self.events}")


def config(url: str, **monitoring: Any) -> HubConfig:
    settings: dict[str, Any] = {
        "port": 0,
        "tick_interval": 0.1,
        "quarantine_flush_interval": 0.05,
        "receiver": ReceiverConfig(batch_interval=0.02),
        **monitoring,
    }
    return HubConfig(db_url=url, port=0, monitoring=MonitoringConfig(**settings))


async def with_hub(url: str, body: Callable[[Hub], Awaitable[None]], **monitoring: Any) -> None:
    hub = await Hub.start(config(url, **monitoring))
    try:
        await body(hub)
    finally:
        await hub.stop()


def rows_of(hub: Hub) -> int:
    """Stored real-time uploads (one row each)."""
    with hub.state.store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(realtime)).scalar_one())


async def data_to_console_scenario(hub: Hub) -> None:
    service = hub.state.monitoring
    assert service is not None
    inbox = Inbox()
    county = await logged_in(hub.url, "county", on_event=inbox)  # sees 331002 only
    await county.subscribe(["monitoring.data", "alarm.raised"])
    station = await Station.connect(service.port)
    other = await Station.connect(service.port)
    try:
        sent_at = time.monotonic()
        reply = await station.send(frame(MN_A, 42.0))
        assert reply is not None
        assert b"CN=9014" in reply
        arrived, event = await inbox.wait_for("monitoring.data")
        assert arrived - sent_at < 1.0
        assert event["district_adcode"] == "331002"
        [item] = event["items"]
        assert item["outlet_id"] == "outlet-331002"
        assert item["values"]["w01018"]["value"] == 42.0
        await other.send(frame(MN_B, 43.0))  # another district: not for this console
        series = await county.request("monitoring.series", outlet_id="outlet-331002")
        assert series["series"]["w01018"]["v"] == [42.0]
        assert series["limits"]["w01018"]["limit"] == COD_LIMIT
        with pytest.raises(HubError, match="out_of_scope"):
            await county.request("monitoring.series", outlet_id="outlet-331003")
        with pytest.raises(HubError, match="not_found"):
            await county.request("monitoring.series", outlet_id="nope")

        exceeding = frame(MN_A, 150.0, at=datetime.now(UTC) + timedelta(seconds=1))
        await station.send(exceeding)
        _, alarm = await inbox.wait_for("alarm.raised", lambda d: d["kind"] == "exceedance")
        assert alarm["value"] == 150.0
        assert alarm["limit"] == COD_LIMIT
        [stored] = await county.request("alarms.list", open_only=True)
        assert stored["id"] == alarm["id"]

        before = rows_of(hub)
        assert await station.send(exceeding) is not None  # retransmission: acknowledged again
        assert rows_of(hub) == before
        assert len(inbox.of("alarm.raised")) == 1
        flushes = inbox.of("monitoring.data")
        assert {e["district_adcode"] for e in flushes} == {"331002"}
        assert {i["outlet_id"] for e in flushes for i in e["items"]} == {"outlet-331002"}
        day = datetime.now(UTC).date().isoformat()
        rates = await county.request("monitoring.rates", date=day)
        assert [r["enterprise_id"] for r in rates] == ["ent-331002"]

        # Packets that reach the hub together go out as one event of the receiver's flush.
        burst = await Station.connect(service.port)
        try:
            earlier = [datetime.now(UTC) - timedelta(seconds=s) for s in (90, 60)]
            burst.writer.write(b"".join(frame(MN_A, 5.0, at=at) for at in earlier))
            for _ in earlier:
                assert b"CN=9014" in await asyncio.wait_for(burst.reader.readuntil(b"\r\n"), 5)
        finally:
            await burst.close()
        _, flush = await inbox.wait_for("monitoring.data", lambda d: len(d["items"]) == 2)
        times = [datetime.fromisoformat(i["data_time"]) for i in flush["items"]]
        assert times == [at.replace(microsecond=0) for at in earlier]
    finally:
        await station.close()
        await other.close()
        await county.close()


WORKERS = pytest.mark.parametrize("workers", [0, 2], ids=["in-hub", "2-workers"])
"""The hub receiving in its own process, and through ingest worker processes."""


@WORKERS
def test_station_data_reaches_store_and_console_sqlite(tmp_path: Path, workers: int) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    seed_store(url, monitored_world())
    run(lambda: with_hub(url, data_to_console_scenario, workers=workers))


@pytest.mark.postgres
@WORKERS
def test_station_data_reaches_store_and_console_postgresql(pg_url: str, workers: int) -> None:
    seed_store(pg_url, monitored_world())

    async def scenario(hub: Hub) -> None:
        await data_to_console_scenario(hub)
        service = hub.state.monitoring
        assert service is not None
        deadline = time.monotonic() + 5  # workers report their counters every second
        while service.status()["copy_batches"] < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert service.status()["copy_batches"] >= 2
        month = datetime.now(UTC).strftime("%Y%m")
        assert f"monitoring_realtime_p{month}" in service.series_store.partitions()

    run(lambda: with_hub(pg_url, scenario, workers=workers))


@pytest.fixture(scope="module")
def monitored_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('monitoring') / 'hub.sqlite3'}"
    seed_store(url, monitored_world())
    return url


@WORKERS
def test_unknown_and_wrong_password_are_quarantined_for_admins(
    monitored_url: str, workers: int
) -> None:
    async def scenario(hub: Hub) -> None:
        service = hub.state.monitoring
        assert service is not None
        admin_inbox, county_inbox = Inbox(), Inbox()
        admin = await logged_in(hub.url, "admin", on_event=admin_inbox)
        county = await logged_in(hub.url, "county", on_event=county_inbox)
        await admin.subscribe(["monitoring.quarantine"])
        await county.subscribe(["monitoring.quarantine", "monitoring.data"])
        station = await Station.connect(service.port)
        try:
            await station.send(frame("UNKNOWN0000000000000000001", 1.0), reply=False)
            await station.send(frame(MN_A, 1.0, pw="wrong"), reply=False)
            await admin_inbox.wait_for("monitoring.quarantine", lambda d: d["mn"] == MN_A)
            reasons = {e["reason"] for e in admin_inbox.of("monitoring.quarantine")}
            assert reasons == {"unknown_mn", "bad_password"}
            listed = await admin.request("monitoring.quarantine")
            assert {item["reason"] for item in listed} == {"unknown_mn", "bad_password"}
            assert all(item["raw"].startswith("##") for item in listed)
            with pytest.raises(HubError, match="forbidden"):
                await county.request("monitoring.quarantine")
            assert county_inbox.events == []
            assert rows_of(hub) == 0
        finally:
            await station.close()
            await admin.close()
            await county.close()

    run(lambda: with_hub(monitored_url, scenario, workers=workers))


@WORKERS
def test_silent_station_goes_offline_and_clock_drift_alarms(
    monitored_url: str, workers: int
) -> None:
    async def scenario(hub: Hub) -> None:
        service = hub.state.monitoring
        assert service is not None
        inbox = Inbox()
        admin = await logged_in(hub.url, "admin", on_event=inbox)
        await admin.subscribe(["alarm.raised", "alarm.cleared"])
        station = await Station.connect(service.port)
        try:
            drifted = encode_packet(
                qn=format_hj212_time(datetime.now(UTC) + timedelta(hours=2), millis=True),
                cn="2011", mn=MN_A, pw=PW, flag=5,
                values={"w01018": {"Rtd": 1.0, "Flag": "N"}},
            )  # fmt: skip
            await station.send(drifted)
            _, drift = await inbox.wait_for("alarm.raised", lambda d: d["kind"] == "clock_drift")
            assert drift["mn"] == MN_A
            assert drift["value"] > 7000
            _, offline = await inbox.wait_for(
                "alarm.raised", lambda d: d["kind"] == "offline" and d["mn"] == MN_A, within=5
            )
            await station.send(frame(MN_A, 1.0))  # back online, with the right time
            await inbox.wait_for("alarm.cleared", lambda d: d["id"] == offline["id"])
            stored = {a["id"]: a for a in await admin.request("alarms.list")}
            assert stored[offline["id"]]["cleared_at"] is not None
            assert stored[drift["id"]]["cleared_at"] is not None
        finally:
            await station.close()
            await admin.close()

    run(
        lambda: with_hub(
            monitored_url,
            scenario,
            alarms=AlarmConfig(offline_after=timedelta(seconds=0.5)),
            workers=workers,
        )
    )


def test_upkeep_computes_missing_aggregates_and_purges(monitored_url: str) -> None:
    async def scenario(hub: Hub) -> None:
        service = hub.state.monitoring
        assert service is not None
        station = await Station.connect(service.port)
        now = datetime.now(UTC)
        hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        try:
            for minutes in (0, 10, 20):
                await station.send(
                    frame(MN_A, 10.0 + minutes, at=hour + timedelta(minutes=minutes))
                )
            await station.send(frame(MN_A, 5.0, at=now - timedelta(days=40)))
        finally:
            await station.close()
        result = await service.upkeep(now)
        assert result["computed"]["2061"] >= 1
        assert result["purged"]["deleted_rows"]["monitoring_realtime"] == 1  # the old upload
        client = await logged_in(hub.url, "admin")
        try:
            hourly = await client.request(
                "monitoring.series",
                outlet_id="outlet-331002",
                window="hourly_30d",
                codes=["w01018"],
            )
        finally:
            await client.close()
        assert hourly["series"]["w01018"]["v"] == [20.0]

    run(lambda: with_hub(monitored_url, scenario))


def test_hub_without_monitoring_says_so(monitored_url: str) -> None:
    async def scenario() -> None:
        hub = await Hub.start(HubConfig(db_url=monitored_url, port=0))
        try:
            client = await logged_in(hub.url, "admin")
            with pytest.raises(HubError, match="online monitoring is off"):
                await client.request("alarms.list")
            await client.close()
        finally:
            await hub.stop()

    run(scenario)


def test_monitoring_config_is_checked() -> None:
    with pytest.raises(ValueError, match=r"HJ 212 port must be 0\.\.65535"):
        MonitoringConfig(port=70000)
    with pytest.raises(ValueError, match="tick_interval must be positive"):
        MonitoringConfig(tick_interval=0)


def test_alarm_becomes_one_verification_task(monitored_url: str) -> None:
    async def scenario(hub: Hub) -> None:
        service = hub.state.monitoring
        assert service is not None
        inbox = Inbox()
        county = await logged_in(hub.url, "county", on_event=inbox)
        await county.subscribe(["alarm.raised"])
        station = await Station.connect(service.port)
        try:
            await station.send(frame(MN_A, 180.0))
            _, alarm = await inbox.wait_for("alarm.raised", lambda d: d["kind"] == "exceedance")
            result = await county.request("alarms.to_task", alarm_id=alarm["id"], note="请核查")
            assert result["task"]["kind"] == "verification"
            assert result["task"]["district_adcode"] == "331002"
            with pytest.raises(HubError, match="conflict"):
                await county.request("alarms.to_task", alarm_id=alarm["id"])
            [stored] = [a for a in await county.request("alarms.list") if a["id"] == alarm["id"]]
            assert stored["complaint_id"] == result["complaint_id"]
            complaint = await county.request("complaint.get", id=result["complaint_id"])
            description = complaint["description"]
            started = datetime.fromisoformat(alarm["started_at"]).astimezone(
                timezone(timedelta(hours=8))
            )
            # Named as in the permit, with units, at Beijing time: the text goes to the case.
            assert description == (
                "在线监控报警：废水总排口 超标，因子 化学需氧量（w01018），监测值 180 mg/L，"
                f"限值 100 mg/L，开始于 {started:%Y-%m-%d %H:%M}（北京时间）"
            )
            with pytest.raises(HubError, match="not_found"):
                await county.request("alarms.to_task", alarm_id="no-such-alarm")
        finally:
            await station.close()
            await county.close()

    run(lambda: with_hub(monitored_url, scenario))


def _flow_flagged(cod: float, flow_flag: str, at: datetime) -> bytes:
    """COD as measured; the flow meter with the given instrument flag."""
    return encode_packet(
        qn=format_hj212_time(datetime.now(UTC), millis=True),
        cn="2011",
        mn=MN_A,
        pw=PW,
        flag=5,
        data_time=format_hj212_time(at),
        values={"w01018": {"Rtd": cod, "Flag": "N"}, "w00000": {"Rtd": 3.0, "Flag": flow_flag}},
    )


def test_alarms_left_open_by_a_restart_are_cleared_not_raised_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    seed_store(url, monitored_world())
    start = datetime.now(UTC) - timedelta(minutes=10)

    async def before_restart(hub: Hub) -> None:
        service = hub.state.monitoring
        assert service is not None
        inbox = Inbox()
        admin = await logged_in(hub.url, "admin", on_event=inbox)
        await admin.subscribe(["alarm.raised"])
        station = await Station.connect(service.port)
        try:
            await station.send(_flow_flagged(COD_LIMIT * 3, "D", start))
            await inbox.wait_for("alarm.raised", lambda d: d["kind"] == "exceedance")
            await inbox.wait_for("alarm.raised", lambda d: d["kind"] == "instrument_flag")
        finally:
            await station.close()
            await admin.close()

    async def after_restart(hub: Hub) -> None:
        service = hub.state.monitoring
        assert service is not None
        assert {a.kind for a in service.engine.open_alarms} == {"exceedance", "instrument_flag"}
        inbox = Inbox()
        admin = await logged_in(hub.url, "admin", on_event=inbox)
        await admin.subscribe(["alarm.raised", "alarm.cleared", "monitoring.data"])
        station = await Station.connect(service.port)
        try:
            # Still above the limit, still flagged: nothing is raised a second time.
            await station.send(_flow_flagged(COD_LIMIT * 3, "D", start + timedelta(minutes=1)))
            await inbox.wait_for("monitoring.data")
            # Back to normal: the flag clears at once, the exceedance after clear_count values.
            for minute in (2, 3):
                at = start + timedelta(minutes=minute)
                await station.send(_flow_flagged(COD_LIMIT / 2, "N", at))
            await inbox.wait_for("alarm.cleared", lambda d: d["kind"] == "instrument_flag")
            await inbox.wait_for("alarm.cleared", lambda d: d["kind"] == "exceedance")
            assert inbox.of("alarm.raised") == []
            stored = await service.ingest.run(service.series_store.open_alarms)
            assert stored == []
        finally:
            await station.close()
            await admin.close()

    run(lambda: with_hub(url, before_restart))
    run(lambda: with_hub(url, after_restart))
