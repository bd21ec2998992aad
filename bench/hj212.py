"""HJ 212 throughput: codec decode on one core, and end-to-end ingest into the store.

Decode: water (COD, NH3-N, TP, TN, pH, flow …) and flue gas (SO2, NOx, dust with O2-converted
values, O2, flow, temperature …) packets, 8–12 codes each, as real-time (2011), minute (2051)
and hourly (2061) uploads; first with the codec's pure-Python code (the baseline), then with
its C speed-ups where they are built (the figure of the last line).

End to end (``--stations``, 0 to skip): a hub with the monitoring service on SQLite and on a
throwaway PostgreSQL, their runs taking turns; a separate process plays the
stations (one TCP connection each, real-time packets asking for 9014 replies) and a console
client subscribed to ``monitoring.data`` (one event per receiver flush and district) measures
receipt -> console event latency of every packet the events carry. Ingest
rate counts packets whose 9014 came back (the hub replies only after the batch is stored).
Each engine runs with ``--workers`` HJ 212 ingest worker processes (default one per core, as
``python -m console hub``) and, as the baseline, with the hub receiving in its own process.
CPU seconds of the hub, its workers, the station process and (PostgreSQL) the database server
with its backends are printed with every run: on this shared machine they say more than the
wall clock.

Prints figures (JSON lines for the end-to-end runs), then ``hj212: N packets/s decode`` last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from shapely.geometry import box

from console.core.model import (
    CreditRating,
    District,
    Enterprise,
    Industry,
    Organisation,
    OrgLevel,
    Outlet,
    OutletKind,
    Role,
    User,
    World,
)
from console.core.passwords import hash_password
from console.hub.client import HubClient
from console.hub.monitoring_service import MonitoringConfig
from console.hub.server import Hub, tune_gc_for_serving
from console.hub.state import HubConfig
from console.monitoring.hj212 import (
    SPEEDUPS,
    FrameScanner,
    decode,
    encode_packet,
    without_speedups,
)
from console.monitoring.receiver import ReceiverConfig, format_hj212_time
from console.store import Store
from console.store.throwaway_pg import ThrowawayPostgres

WATER = ["w01018", "w21003", "w21011", "w21001", "w01001", "w00000", "w01009", "w01010",
         "w01014", "w20122", "w20116", "w20111"]  # fmt: skip
GAS = ["a21026", "a21002", "a34013", "a19001", "a00000", "a01012", "a01014", "a01013",
       "a21005", "a24088", "a21024", "a05002"]  # fmt: skip
CONVERTED = {"a21026", "a21002", "a34013"}


def make_mix(count: int, seed: int = 212, stations: int | None = 500) -> list[bytes]:
    """Frames of 2011/2051/2061 water and gas uploads with 8–12 codes each.

    A station always reports the same codes in the same order, as real data loggers do, so the
    mix comes from ``stations`` stations; ``stations=None`` gives every packet its own random
    code set and order (the worst case for the codec's per-shape cache).
    """
    rng = random.Random(seed)
    layouts = []
    for _ in range(stations or 0):
        gas = rng.random() < 0.5
        layouts.append((gas, rng.sample(GAS if gas else WATER, rng.randint(8, 12)),
                        f"{rng.randrange(16**24):024X}"))  # fmt: skip
    frames = []
    for i in range(count):
        if stations:
            gas, codes, mn = layouts[i % stations]
        else:
            gas = rng.random() < 0.5
            codes = rng.sample(GAS if gas else WATER, rng.randint(8, 12))
            mn = f"{rng.randrange(16**24):024X}"
        cn = rng.choice(["2011", "2051", "2061"])
        values: dict[str, dict[str, object]] = {}
        for code in codes:
            level = round(rng.uniform(0.1, 300.0), 3)
            if cn == "2011":
                fields: dict[str, object] = {"Rtd": level, "Flag": "N"}
                if code in CONVERTED:
                    fields["ZsRtd"] = round(level * 1.2, 3)
            else:
                fields = {"Min": round(level * 0.8, 3), "Avg": level, "Max": round(level * 1.3, 3)}
                if code in CONVERTED:
                    fields["ZsAvg"] = round(level * 1.2, 3)
            if code in ("w00000", "a00000"):
                fields["Cou"] = round(level * 3600, 2)
            fields["Flag"] = rng.choice("NNNNNNNNMF")
            values[code] = fields
        frames.append(
            encode_packet(
                qn=f"20260101{i % 240000:06d}{i % 1000:03d}",
                st="31" if gas else "32",
                cn=cn,
                pw="123456",
                mn=mn,
                flag=5,
                data_time=f"20260101{i % 24:02d}0000",
                values=values,
            )
        )
    return frames


# -- end to end ---------------------------------------------------------------------------------

E2E_CODES = ("w01018", "w21003", "w01001", "w00000")  # COD, NH3-N, pH, flow
PASSWORD = "bench-password"


def bench_world(stations: int) -> World:
    """One county with ``stations`` enterprises of one water outlet each."""
    city = Organisation("org-city", "市生态环境局", OrgLevel.CITY, None, "331000")
    county = Organisation("org-county", "分局", OrgLevel.COUNTY, "org-city", "331002")
    enterprises = tuple(
        Enterprise(
            id=f"ent-{i:04d}",
            name=f"企业{i}",
            credit_code="91331000MA2AAAAAA1",
            industry=Industry.DYEING,
            district_adcode="331002",
            grid_id=None,
            lon=121.05,
            lat=28.05,
            address="工业园区",
            credit_rating=CreditRating.GREEN,
            outlets=(
                Outlet(f"outlet-{i:04d}", "总排口", OutletKind.WATER, station_mn(i), "pw",
                       121.05, 28.05),
            ),
        )
        for i in range(stations)
    )  # fmt: skip
    return World(
        organisations=(city, county),
        districts=(District("331002", "区", "org-county", box(121.0, 28.0, 121.1, 28.1)),),
        enterprises=enterprises,
        city_adcode="331000",
        city_name="市",
    )


def station_mn(i: int) -> str:
    return f"BENCH{i:021d}"


def _station_frames(i: int, count: int, start: datetime) -> list[bytes]:
    """A station's backlog: samples 30 s apart from ``start``, requested now (QN = send time)."""
    rng = random.Random(i)
    now = datetime.now(UTC)
    return [
        encode_packet(
            qn=format_hj212_time(now + timedelta(milliseconds=n), millis=True),
            cn="2011",
            mn=station_mn(i),
            pw="pw",
            flag=5,
            data_time=format_hj212_time(start + timedelta(seconds=30 * n)),
            values={code: {"Rtd": round(rng.uniform(1, 90), 2), "Flag": "N"} for code in E2E_CODES},
        )
        for n in range(count)
    ]


async def _play_stations(
    port: int, hub_url: str, stations: int, per_station: int, interval: float
) -> dict[str, Any]:
    """Connect every station and a console; send, wait for every 9014 and every event.

    ``interval`` 0 sends each station's packets at once (a burst: the ingest ceiling);
    otherwise each station sends one packet per ``interval`` seconds (steady load).
    """
    latencies: list[float] = []
    messages = 0

    def on_event(message: dict[str, Any]) -> None:
        """One event per receiver flush and district: a latency per packet it carries."""
        nonlocal messages
        messages += 1
        now = datetime.now(UTC)
        for item in message["data"]["items"]:
            received = datetime.fromisoformat(item["received_at"])
            latencies.append((now - received).total_seconds())

    console = HubClient(on_event=on_event)
    await console.connect(hub_url)
    await console.login("bench", PASSWORD, "bench")
    await console.subscribe(["monitoring.data"])
    start = datetime.now(UTC) - timedelta(seconds=30 * per_station)
    frames = [_station_frames(i, per_station, start) for i in range(stations)]
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(stations)]

    async def one(i: int) -> int:
        reader, writer = connections[i]
        if interval:
            await asyncio.sleep(interval * i / stations)  # spread the stations evenly

            async def send() -> None:
                for data in frames[i]:
                    writer.write(data)
                    await writer.drain()
                    await asyncio.sleep(interval)

            sender = asyncio.create_task(send())
        else:
            writer.write(b"".join(frames[i]))
            await writer.drain()
        acked = 0
        pending = b""
        while acked < per_station:  # replies counted in bulk: the stations must stay cheap
            chunk = await asyncio.wait_for(reader.read(65536), 300)
            if not chunk:
                break
            pending += chunk
            cut = pending.rfind(b"\r\n") + 2
            acked += pending.count(b"CN=9014", 0, cut)
            pending = pending[cut:]
        if interval:
            await sender
        writer.close()
        return acked

    began = time.perf_counter()
    cpu_before = time.process_time()
    acked = sum(await asyncio.gather(*(one(i) for i in range(stations))))
    seconds = time.perf_counter() - began
    stations_cpu = time.process_time() - cpu_before
    deadline = time.monotonic() + 10
    while len(latencies) < acked and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await console.close()
    latencies.sort()
    return {
        "packets": acked,
        "codes_per_packet": len(E2E_CODES),
        "seconds": round(seconds, 3),
        "packets_per_s": round(acked / seconds),
        "rows_per_s": round(acked * len(E2E_CODES) / seconds),
        "events": len(latencies),
        "event_messages": messages,
        "stations_cpu_s": round(stations_cpu, 3),
        "latency_p50_s": round(latencies[len(latencies) // 2], 4) if latencies else None,
        "latency_p99_s": round(latencies[int(len(latencies) * 0.99)], 4) if latencies else None,
    }


def _stations_process(out: Any, *args: Any) -> None:
    out.send(asyncio.run(_play_stations(*args)))


def _cpu_seconds(pid: int, *, children: bool = False) -> float:
    """User + system CPU of another process (Linux /proc); with ``children``, also that of its
    children, living and ended (a database server and its backends)."""
    ticks = 0
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    ticks += int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])  # children that ended and were waited for
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    child = stat.read().rpartition(")")[2].split()
            except OSError:
                continue  # ended meanwhile
            if int(child[1]) == pid:
                ticks += int(child[11]) + int(child[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def _ingest(
    url: str,
    stations: int,
    per_station: int,
    interval: float,
    workers: int,
    server_pid: int | None = None,
) -> dict[str, Any]:
    """The hub (and its ingest workers) here; stations and the console in another process.

    ``server_pid``: the database server, whose CPU is then reported too (it shares the cores).
    """
    config = HubConfig(
        db_url=url,
        port=0,
        event_queue_limit=stations * per_station + 1000,
        monitoring=MonitoringConfig(port=0, receiver=ReceiverConfig(), workers=workers),
    )
    hub = await Hub.start(config)
    tune_gc_for_serving()  # as ``python -m console hub`` does
    try:
        service = hub.state.monitoring
        assert service is not None
        worker_pids = getattr(service.receiver, "pids", [])
        parent, child = multiprocessing.Pipe()
        process = multiprocessing.get_context("spawn").Process(
            target=_stations_process,
            args=(child, service.port, hub.url, stations, per_station, interval),
        )
        cpu_before = time.process_time()
        workers_before = sum(map(_cpu_seconds, worker_pids))
        server_before = 0.0 if server_pid is None else _cpu_seconds(server_pid, children=True)
        process.start()
        while not parent.poll():
            await asyncio.sleep(0.05)
        figures: dict[str, Any] = parent.recv()
        # CPU seconds of the hub (event loop and database threads, and the ingest workers) while
        # the stations ran: on a shared machine the wall-clock rate depends on the neighbours.
        hub_cpu = time.process_time() - cpu_before
        workers_cpu = sum(map(_cpu_seconds, worker_pids)) - workers_before
        figures["hub_cpu_s"] = round(hub_cpu, 3)
        figures["workers_cpu_s"] = round(workers_cpu, 3)
        if server_pid is not None:
            server_cpu = _cpu_seconds(server_pid, children=True) - server_before
            figures["db_server_cpu_s"] = round(server_cpu, 3)
        hub_cpu += workers_cpu
        figures["packets_per_hub_cpu_s"] = round(figures["packets"] / hub_cpu) if hub_cpu else None
        process.join()
    finally:
        await hub.stop()  # the workers send their final counters as they stop
    figures["batches"] = service.receiver.stats.batches
    figures["copy_batches"] = service.series_store.copy_batches + getattr(
        service.receiver, "copy_batches", 0
    )
    figures["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    return figures


def seed(url: str, stations: int) -> None:
    store = Store.open(url)
    try:
        store.save_world(bench_world(stations))
        store.add_user(User("bench", "bench", Role.ADMIN, "org-city", hash_password(PASSWORD)))
    finally:
        store.close()


def end_to_end(
    stations: int, per_station: int, steady_packets: int, interval: float, workers: int, bursts: int
) -> None:
    """Bursts on SQLite and on a throwaway PostgreSQL, then steady load on each: the hub with
    ``workers`` ingest workers, and as the baseline the hub receiving in its own process.

    A burst is ``per_station`` packets from every station at once, 50,000 by default (1.2-3 s
    here): the first 9014 replies come back 0.1-0.15 s after the start, so in a burst of 10,000
    (0.3-0.5 s) the pipeline's filling and draining weighed as much as its rate. The bursts of
    both engines and both set-ups take turns, ``bursts`` rounds of them, the engine that goes
    first alternating: this machine's speed drifts by up to a half from one minute to the next,
    and engines run one after the other compared the drift more than the engines. Every run is
    printed, then the median of each set-up and, round by round, PostgreSQL's rate over SQLite's.
    """
    setups = [0, workers] if workers else [0]
    pg = ThrowawayPostgres(database="bench")
    with tempfile.TemporaryDirectory() as folder, pg as pg_url:
        engines = {
            "sqlite": (f"sqlite:///{folder}/bench.sqlite3", None),
            "postgresql": (pg_url, pg.server_pid),
        }
        for url, _server in engines.values():
            seed(url, stations)

        def run(engine: str, count: int, packets: int, pause: float) -> dict[str, Any]:
            url, server = engines[engine]
            figures = asyncio.run(_ingest(url, stations, packets, pause, count, server))
            record: dict[str, Any] = {"e2e": engine, "mode": "steady" if pause else "burst"}
            record |= {"workers": count, "stations": stations}
            if pause:
                record["interval_s"] = pause
            print(json.dumps({**record, **figures}), flush=True)
            return figures

        rates: dict[tuple[str, int], list[int]] = {
            (engine, count): [] for engine in engines for count in setups
        }
        for round_ in range(bursts):
            order = list(engines) if round_ % 2 == 0 else list(reversed(engines))
            for count in setups:
                for engine in order:
                    figures = run(engine, count, per_station, 0.0)
                    rates[engine, count].append(figures["packets_per_s"])
        for engine in engines:
            run(engine, workers, steady_packets, interval)
        for (engine, count), values in rates.items():
            print(
                f"e2e {engine} burst, {count} ingest workers: median "
                f"{statistics.median(values):,.0f} packets/s of {len(values)} runs {values}",
                flush=True,
            )
        for count in setups:
            pairs = zip(rates["postgresql", count], rates["sqlite", count], strict=True)
            ratios = [round(pg_rate / sqlite_rate, 2) for pg_rate, sqlite_rate in pairs]
            print(
                f"e2e postgresql / sqlite, {count} ingest workers, round by round: {ratios}",
                flush=True,
            )


def decode_rate(frames: list[bytes], rounds: int) -> float:
    """Packets per second, best of ``rounds`` passes over ``frames`` on this one core."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for frame in frames:
            decode(frame)
        best = min(best, time.perf_counter() - started)
    return len(frames) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packets", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--mix-stations", type=int, default=500, help="stations the decode mix comes from"
    )
    parser.add_argument("--stations", type=int, default=500, help="0 skips the end-to-end run")
    parser.add_argument(
        "--per-station", type=int, default=100, help="packets per station in a burst"
    )
    parser.add_argument(
        "--steady-packets", type=int, default=20, help="packets per station under steady load"
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between a station's packets (steady)"
    )
    parser.add_argument("--bursts", type=int, default=3, help="burst runs per set-up")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="HJ 212 ingest worker processes (default: one per core; 0 = in the hub process)",
    )
    args = parser.parse_args()
    if args.stations:
        end_to_end(
            args.stations,
            args.per_station,
            args.steady_packets,
            args.interval,
            args.workers,
            args.bursts,
        )
    frames = make_mix(args.packets, stations=args.mix_stations)
    mean_bytes = sum(map(len, frames)) / len(frames)
    worst_mix = make_mix(args.packets, stations=None)
    # The baseline first, in the same run: the codec's pure-Python code.
    with without_speedups():
        python_rate = decode_rate(frames, args.rounds)
        python_worst = decode_rate(worst_mix, args.rounds)
    rate = decode_rate(frames, args.rounds)
    worst = decode_rate(worst_mix, args.rounds)
    stream = b"".join(frames)
    chunks = [stream[i : i + 1460] for i in range(0, len(stream), 1460)]  # TCP segments
    started = time.perf_counter()
    scanner = FrameScanner()
    found = sum(len(scanner.feed(chunk)) for chunk in chunks)
    scan_rate = found / (time.perf_counter() - started)
    print(
        f"packets: {len(frames)} from {args.mix_stations} stations  mean frame: "
        f"{mean_bytes:.0f} bytes  best of {args.rounds}  load {os.getloadavg()[0]:.2f}"
    )
    codec = "C speed-ups" if SPEEDUPS is not None else "pure Python (speed-ups not built)"
    for name, fast, slow in (("pure Python", python_rate, python_worst), (codec, rate, worst)):
        print(f"decode, {name}: {1e6 / fast:.2f} us/packet ({fast:,.0f} packets/s)")
        print(f"decode, {name}, every packet a new code set and order: {1e6 / slow:.2f} us/packet")
    print(f"decode, {codec}: {rate * mean_bytes / 1e6:.1f} MB/s")
    print(f"scan: {scan_rate:,.0f} frames/s from 1460-byte chunks")
    print(f"hj212: {rate:.0f} packets/s decode")


if __name__ == "__main__":
    main()
