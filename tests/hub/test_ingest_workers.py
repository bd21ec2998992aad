"""HJ 212 ingest worker processes: what crosses to the hub, and workers that die."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.core.model import OutletKind
from console.hub.ingest_workers import IngestWorkerPool, pack_batch, unpack_batch
from console.hub.monitoring_service import MonitoringService
from console.hub.server import Hub
from console.monitoring.hj212 import decode, encode_packet
from console.monitoring.receiver import (
    ReceivedPacket,
    ReceiverConfig,
    StationInfo,
    format_hj212_time,
)
from tests.hub.support import logged_in, run, seed_store
from tests.hub.test_monitoring import (
    MN_A,
    PW,
    Inbox,
    Station,
    frame,
    monitored_world,
    rows_of,
    with_hub,
)


def test_a_batch_crosses_to_the_hub_unchanged() -> None:
    station = StationInfo("MN1", "ent-1", "out-1", "331002", "pw", OutletKind.GAS)
    data = encode_packet(
        qn="20261128120000123", cn="2011", mn="MN1", pw="pw", flag=5,
        data_time="20261128120000",
        values={"a21026": {"Rtd": 12.5, "ZsRtd": 15.0, "Flag": "N"}, "a19001": {"Rtd": 20.9}},
    )  # fmt: skip
    item = ReceivedPacket(decode(data), station, datetime.now(UTC), "127.0.0.1:5000")
    sent = pickle.loads(pickle.dumps(pack_batch([item]), pickle.HIGHEST_PROTOCOL))
    [back] = unpack_batch(sent, {"MN1": station}.get)
    assert back == item.reading()
    assert back.to_event() == item.to_event()
    assert back.values["a21026"] == {"value": 12.5, "flag": "N", "zs": 15.0, "cou": None}
    assert back.values["a19001"] == {"value": 20.9, "flag": None, "zs": None, "cou": None}
    nobody: dict[str, StationInfo] = {}
    assert unpack_batch(pack_batch([item]), nobody.get) == []  # a station the hub does not know


def workers_of(hub: Hub) -> tuple[MonitoringService, IngestWorkerPool]:
    service = hub.state.monitoring
    assert service is not None
    assert isinstance(service.receiver, IngestWorkerPool)
    return service, service.receiver


def listening_sockets(port: int) -> int:
    """Sockets listening on ``port`` on this machine (Linux /proc)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                local, state = line.split()[1], line.split()[3]
                count += int(local.rpartition(":")[2], 16) == port and state == "0A"
    return count


def test_each_worker_has_its_own_socket_and_connections_are_spread(tmp_path: Path) -> None:
    """Linux: one SO_REUSEPORT socket per worker; the kernel spreads connections over them."""
    if not sys.platform.startswith("linux"):
        pytest.skip("SO_REUSEPORT balancing is Linux's")
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    seed_store(url, monitored_world())

    async def scenario(hub: Hub) -> None:
        service, pool = workers_of(hub)
        assert listening_sockets(service.port) == 2
        stations = [await Station.connect(service.port) for _ in range(200)]
        try:
            for station in stations:  # answered, so taken by some worker
                assert b"CN=9014" in (await station.send(frame(MN_A, 1.0)) or b"")
            await until(lambda: service.status()["receiver"]["connections_total"] == 200)
            shares = sorted(r["connections_total"] for r in pool.reports.values())
            # 100 each on average; fewer than 70 on one side has odds of about 1 in 40,000.
            assert len(shares) == 2
            assert shares[0] >= 70, shares
        finally:
            for station in stations:
                await station.close()

    run(lambda: with_hub(url, scenario, workers=2), timeout=60)


def test_workers_refuse_an_in_memory_database() -> None:
    async def nothing(_: object) -> None: ...

    with pytest.raises(ValueError, match="in-memory SQLite"):
        IngestWorkerPool(
            ReceiverConfig(port=0), "sqlite://", 2, {},
            deliver=nothing, quarantine=lambda _: None, on_clock_drift=lambda _: None,
        )  # fmt: skip


def drifted(mn: str) -> bytes:
    return encode_packet(
        qn=format_hj212_time(datetime.now(UTC) + timedelta(hours=2), millis=True),
        cn="2011", mn=mn, pw=PW, flag=5,
        values={"w01018": {"Rtd": 1.0, "Flag": "N"}},
    )  # fmt: skip


async def until(test: Callable[[], bool], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not test():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def test_killed_workers_are_replaced_and_no_drift_is_forgotten(tmp_path: Path) -> None:
    """A drift seen by one worker is cleared by another, also by one started after a kill."""
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    seed_store(url, monitored_world())

    async def scenario(hub: Hub) -> None:
        service, pool = workers_of(hub)
        inbox = Inbox()
        admin = await logged_in(hub.url, "admin", on_event=inbox)
        await admin.subscribe(["alarm.raised", "alarm.cleared"])
        try:
            # 1. Drift reported by the worker that took the connection; that worker is killed
            #    and the survivor, told by the hub, clears the drift.
            first = await Station.connect(service.port)
            assert b"CN=9014" in (await first.send(drifted(MN_A)) or b"")
            _, drift = await inbox.wait_for("alarm.raised", lambda d: d["kind"] == "clock_drift")
            await until(lambda: any(r.get("connections_total") for r in pool.reports.values()))
            [served] = [pid for pid, r in pool.reports.items() if r.get("connections_total")]
            os.kill(served, signal.SIGKILL)
            await first.close()
            await asyncio.sleep(0.05)
            # The survivor takes this connection, or, if the kernel gives it to the killed
            # worker's socket, the replacement does once it has started.
            second = await Station.connect(service.port)
            assert b"CN=9014" in (await second.send(frame(MN_A, 1.0)) or b"")
            await inbox.wait_for("alarm.cleared", lambda d: d["id"] == drift["id"])
            await second.close()
            await until(lambda: pool.restarts == 1 and len(pool.pids) == 2)
            assert served not in pool.pids

            # 2. Both workers killed while a drift is open: their replacements still clear it.
            third = await Station.connect(service.port)
            await third.send(drifted(MN_A))
            _, again = await inbox.wait_for(
                "alarm.raised", lambda d: d["kind"] == "clock_drift" and d["id"] != drift["id"]
            )
            await third.close()
            await until(lambda: service.status()["receiver"]["packets_accepted"] >= 2)
            accepted = service.status()["receiver"]["packets_accepted"]
            for pid in pool.pids:
                os.kill(pid, signal.SIGKILL)
            await until(lambda: pool.restarts == 3 and len(pool.pids) == 2)
            fourth = await Station.connect(service.port)
            assert b"CN=9014" in (await fourth.send(frame(MN_A, 2.0)) or b"")
            await inbox.wait_for("alarm.cleared", lambda d: d["id"] == again["id"])
            await fourth.close()

            # Every acknowledged packet is stored. The counters of killed workers are kept as
            # they last reported them (each second): they never go backwards.
            assert rows_of(hub) == 4  # 2 drifted packets, 2 right ones: a row each
            await until(lambda: service.status()["receiver"]["packets_accepted"] > accepted)
            assert service.status()["worker_restarts"] == 3
        finally:
            await admin.close()

    run(lambda: with_hub(url, scenario, workers=2), timeout=90)
