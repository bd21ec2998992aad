"""Field link under load: task push -> device receipt -> ack stored, positions, hub CPU/RSS.

Set-up: the demo world seeded into a fresh SQLite file; the hub in its own process
(``python -m console hub``); officer tokens issued straight into the database.

Load: ``--officers`` (2,000) lightweight device clients in ``--workers`` (2) processes, each
connected to ``/ws/field`` with its own token and sending a position every 5 s (staggered),
acking every ``task.assigned`` at once. Meanwhile a console client dispatches ``--tasks``
(200) verification tasks, one every ``--interval`` seconds, each to a connected officer at a
point in the officer's grid. Measured per task from just before the ``task.dispatch`` call:
the device's receipt of ``task.assigned`` (clock of the worker process; same machine) and
the console's receipt of ``outbox.acked`` (published after the ack is committed). Also the
positions stored per second (``officer_track`` rows over the window), the hub's CPU (from
/proc/PID/stat) and RSS (/proc/PID/status), and the load average.

Sustained: the same connections then send positions at ``--flood-rate`` (2.5) per second
each (2,000 x 2.5 = 5,000/s offered, well inside the 50 msg/s per-connection limit) for at
least ``--flood-s`` (20) seconds while the ``--tasks`` dispatch round is repeated. Measured
over that window: ``officer_track`` rows stored per second, ``officer.moved`` events, the
officer moves they carry and the distinct officers, as received by a second console, hub and
device-worker CPU, hub RSS, push->ack again, and the load average.

Idle: the load clients leave and ``--idle`` (5,000) connections say hello and stay quiet
(several per officer token: a phone and a spare tablet); the hub's RSS and CPU are measured
while they are held. RLIMIT_NOFILE is raised for the bench, its workers and the hub.

Loopback only. Prints JSON lines, then ``field_link: p99 N ms push->ack`` last (the
position-every-5-s round; the sustained round's p99 is in the JSON under ``sustained``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import queue
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.context import SpawnProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from console.hub.client import HubClient, HubError
from console.store import Store
from console.store.field_repo import FieldRepo

DEMO_USER, DEMO_PASSWORD = "dispatcher", "demo1234"
FD_LIMIT = 65536
CLK_TCK = os.sysconf("SC_CLK_TCK")


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = FD_LIMIT if hard == resource.RLIM_INFINITY else min(FD_LIMIT, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


# --- device workers (separate processes) --------------------------------------------------------


def worker_main(
    url: str,
    tokens: list[tuple[str, str, float, float]],
    mode: str,
    out: Queue[tuple[Any, ...]],
    stop: Event,
    flood: Event,
    flood_rate: float,
) -> None:
    raise_fd_limit()
    asyncio.run(_worker(url, tokens, mode, out, stop, flood, flood_rate))


async def _worker(
    url: str,
    tokens: list[tuple[str, str, float, float]],
    mode: str,
    out: Queue[tuple[Any, ...]],
    stop: Event,
    flood: Event,
    flood_rate: float,
) -> None:
    from websockets.asyncio.client import connect

    gate = asyncio.Semaphore(50)
    sockets = []
    counts = {"positions": 0, "flood_positions": 0, "errors": 0, "acks": 0}

    async def open_one(token: str) -> Any:
        async with gate:
            for _attempt in range(5):
                try:
                    # No permessage-deflate (the hub declines it on /ws/field anyway).
                    ws = await connect(url, open_timeout=30, max_queue=64, compression=None)
                    break
                except (OSError, TimeoutError):
                    await asyncio.sleep(0.5)
            else:
                raise RuntimeError("could not connect")
            hello = {"type": "hello", "token": token, "device": {"id": "bench"}, "last_seq": 0}
            await ws.send(json.dumps(hello))
            if json.loads(await ws.recv())["type"] != "welcome":
                raise RuntimeError("no welcome")
            return ws

    async def reader(ws: Any) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "task.assigned":
                out.put(("recv", message["task"]["id"], time.time()))
                await ws.send(json.dumps({"type": "task.ack", "seq": message["seq"]}))
                counts["acks"] += 1
            elif message["type"] == "error":
                counts["errors"] += 1

    async def sender(ws: Any, lon: float, lat: float, offset: float) -> None:
        """A position every period, on a fixed schedule: the time a send takes (or the
        loop's lag) must not lower the offered rate below what the bench reports."""
        rng = random.Random(offset)
        await asyncio.sleep(offset)
        due = time.monotonic()
        while True:
            ts = int(time.time() * 1000)
            position = {"type": "position", "lon": lon + rng.uniform(-1e-4, 1e-4), "lat": lat,
                        "accuracy": 8.0, "battery": 80.0, "ts": ts}  # fmt: skip
            await ws.send(json.dumps(position))
            counts["positions"] += 1
            if flood.is_set():
                counts["flood_positions"] += 1
                due += 1.0 / flood_rate
            else:
                due += 5.0
            due = max(due, time.monotonic() - 5.0)  # after a stall, no endless burst
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    sockets = await asyncio.gather(*(open_one(token) for token, _id, _lon, _lat in tokens))
    out.put(("ready", len(sockets)))
    loops: list[asyncio.Task[None]] = [asyncio.create_task(reader(ws)) for ws in sockets]
    if mode == "load":
        loops += [
            asyncio.create_task(sender(ws, lon, lat, 5.0 * i / len(sockets)))
            for i, (ws, (_t, _id, lon, lat)) in enumerate(zip(sockets, tokens, strict=True))
        ]
    while not stop.is_set():
        await asyncio.sleep(0.1)
    for task in loops:
        task.cancel()
    await asyncio.gather(*loops, return_exceptions=True)
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    out.put(("done", counts))


# --- the bench ---------------------------------------------------------------------------------


async def sustained_round(
    args: argparse.Namespace,
    console: HubClient,
    console_url: str,
    devices: list[tuple[str, str, float, float]],
    tracks: FieldRepo,
    hub_pid: int,
    worker_pids: list[int],
    flood: Event,
    out: Queue[tuple[Any, ...]],
    received: dict[str, float],
    acked: dict[str, float],
) -> dict[str, Any]:
    """Devices at ``--flood-rate`` for ``--flood-s`` or longer, with a dispatch round inside.

    The window opens once every sender has switched (after one 5 s period) and closes when
    both the window length has passed and the dispatch round is done; device receipts are
    drained meanwhile so the workers' queue never blocks them.
    """
    moved = {"events": 0, "moves": 0}
    movers: set[str] = set()
    counting = False

    def on_moved(event: dict[str, Any]) -> None:
        if counting and event["topic"] == "officer.moved":  # one event per district and tick
            moved["events"] += 1
            moved["moves"] += len(event["data"])
            movers.update(str(move["officer_id"]) for move in event["data"])

    watcher = HubClient(on_event=on_moved)
    await watcher.connect(console_url)
    await watcher.login(DEMO_USER, DEMO_PASSWORD, "bench-watch")
    await watcher.subscribe(["officer.moved"])
    flood.set()
    await asyncio.sleep(6.0)
    counting = True
    track_0, cpu_0, wall_0 = tracks.track_count(), proc_cpu_s(hub_pid), time.monotonic()
    workers_cpu_0 = sum(proc_cpu_s(pid) for pid in worker_pids)
    targets = random.Random(2).sample(devices, args.tasks)
    dispatched: dict[str, float] = {}
    dispatch = asyncio.create_task(
        dispatch_round(console, targets, args.interval, acked, "flood", dispatched)
    )
    rss_peak = proc_rss_mb(hub_pid)
    give_up = wall_0 + args.flood_s + 60.0  # an overloaded hub must not stretch the round forever
    while (not dispatch.done() or time.monotonic() - wall_0 < args.flood_s) and (
        time.monotonic() < give_up
    ):
        await asyncio.sleep(0.5)
        drain(out, received)
        rss_peak = max(rss_peak, proc_rss_mb(hub_pid))
    console_error = None
    if not dispatch.done():
        dispatch.cancel()
        console_error = f"dispatch round unfinished after {time.monotonic() - wall_0:.0f} s"
    try:
        await dispatch
    except asyncio.CancelledError:
        pass
    except HubError as exc:  # e.g. the console's keepalive timed out behind an overloaded hub
        console_error = str(exc)
    counting = False
    wall_1, cpu_1, track_1 = time.monotonic(), proc_cpu_s(hub_pid), tracks.track_count()
    workers_cpu_1 = sum(proc_cpu_s(pid) for pid in worker_pids)
    load_avg = os.getloadavg()
    flood.clear()
    await watcher.close()
    window = wall_1 - wall_0
    to_ack = [1000 * (acked[t] - t0) for t, t0 in dispatched.items() if t in acked]
    return {
        "dispatched": dispatched,
        "positions_offered_per_s": round(len(devices) * args.flood_rate, 1),
        "window_s": round(window, 1),
        "positions_stored_per_s": round((track_1 - track_0) / window, 1),
        "officer_moved_events_per_s": round(moved["events"] / window, 1),
        "officer_moves_per_s": round(moved["moves"] / window, 1),
        "officers_seen_moving": len(movers),
        "tasks_dispatched": len(dispatched),
        "push_to_ack_ms": summary(to_ack),
        "console_error": console_error,
        "hub_cpu_percent_of_one_core": round(100 * (cpu_1 - cpu_0) / window, 1),
        "device_workers_cpu_percent_of_one_core": round(
            100 * (workers_cpu_1 - workers_cpu_0) / window, 1
        ),
        "hub_rss_mb_peak": round(rss_peak, 1),
        "load_average_1_5_15": [round(x, 2) for x in load_avg],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--officers", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between dispatches")
    parser.add_argument("--idle", type=int, default=5000)
    parser.add_argument(
        "--flood-rate", type=float, default=2.5, help="positions/s per officer, sustained round"
    )
    parser.add_argument("--flood-s", type=float, default=20.0, help="sustained window, at least")
    args = parser.parse_args()
    limit = raise_fd_limit()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-field-") as tmp:
        env = {**os.environ, "ENFORCEMENT_CONSOLE_HOME": str(Path(tmp) / "home")}
        db_url = f"sqlite:///{Path(tmp) / 'hub.sqlite3'}"
        subprocess.run(
            [sys.executable, "-m", "console", "seed", "--db", db_url],
            env=env, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        devices = issue(db_url, args.officers)
        hub = subprocess.Popen(
            [sys.executable, "-m", "console", "hub", "--db", db_url, "--port", "0",
             "--no-hj212", "--log-level", "WARNING"],
            env=env, stdout=subprocess.PIPE, text=True, preexec_fn=raise_fd_limit,
        )  # fmt: skip
        try:
            assert hub.stdout is not None
            console_url = json.loads(hub.stdout.readline())["listening"]
            result = asyncio.run(run_bench(args, console_url, devices, db_url, hub.pid))
        finally:
            hub.terminate()
            try:
                hub.wait(30)
            except subprocess.TimeoutExpired:
                hub.kill()  # a hub still digesting a backlog ignores SIGTERM for too long
                hub.wait(30)
    result["fd_limit"] = limit
    result["total_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, ensure_ascii=False))
    print(f"field_link: p99 {result['push_to_ack_ms']['p99']:.0f} ms push->ack")
    return 0


def issue(db_url: str, count: int) -> list[tuple[str, str, float, float]]:
    """Tokens for ``count`` grid officers: (token, officer_id, lon, lat in their grid)."""
    store = Store.open(db_url)
    try:
        world = store.load_world()
        repo = FieldRepo(store.engine)
        grids = {g.id: g.geometry for g in world.grids}
        officers = sorted(
            (o for o in world.officers if o.grid_id in grids and o.duty.value == "on_duty"),
            key=lambda o: o.id,
        )
        if len(officers) < count:
            raise SystemExit(f"the demo world has {len(officers)} grid officers, not {count}")
        now = datetime.now(UTC)
        devices = []
        for officer in officers[:count]:
            point = grids[str(officer.grid_id)].representative_point()
            token = repo.issue_token(officer.id, now, timedelta(hours=2)).token
            devices.append((token, officer.id, float(point.x), float(point.y)))
        return devices
    finally:
        store.close()


def start_workers(
    url: str,
    devices: list[tuple[str, str, float, float]],
    workers: int,
    mode: str,
    flood_rate: float = 0.2,
) -> tuple[list[SpawnProcess], Queue[tuple[Any, ...]], Event, Event]:
    """Device processes; set the returned ``flood`` event to switch them to ``flood_rate``."""
    context = multiprocessing.get_context("spawn")
    out: Queue[tuple[Any, ...]] = context.Queue()
    stop = context.Event()
    flood = context.Event()
    processes = []
    for index in range(workers):
        share = devices[index::workers]
        process = context.Process(
            target=worker_main,
            args=(url, share, mode, out, stop, flood, flood_rate),
            daemon=True,  # a bench that fails must not leave device processes behind
        )
        process.start()
        processes.append(process)
    return processes, out, stop, flood


async def wait_ready(out: Queue[tuple[Any, ...]], workers: int, timeout: float) -> int:
    """Connections opened by all workers; a task pushed meanwhile (an entry whose ack was
    cut off when earlier clients left is redelivered: at-least-once) is not an error."""
    ready = done = 0
    while done < workers:
        message = await asyncio.to_thread(out.get, True, timeout)
        if message[0] == "recv":
            continue
        if message[0] != "ready":
            raise RuntimeError(f"worker said {message}")
        ready += int(message[1])
        done += 1
    return ready


async def stop_workers(
    processes: list[SpawnProcess],
    out: Queue[tuple[Any, ...]],
    stop: Event,
    received: dict[str, float],
) -> dict[str, int]:
    stop.set()
    totals: dict[str, int] = {}
    done = 0
    while done < len(processes):
        message = await asyncio.to_thread(out.get, True, 60)
        if message[0] == "recv":
            received.setdefault(message[1], message[2])
        elif message[0] == "done":
            done += 1
            for key, value in message[1].items():
                totals[key] = totals.get(key, 0) + value
    for process in processes:
        process.join(30)
    return totals


async def dispatch_round(
    console: HubClient,
    targets: list[tuple[str, str, float, float]],
    interval: float,
    acked: dict[str, float],
    tag: str,
    dispatched: dict[str, float] | None = None,
) -> dict[str, float]:
    """Create a complaint per target and dispatch it; task id -> wall clock just before dispatch.

    Fills ``dispatched`` as it goes (so a caller keeps what was sent if the console drops),
    then waits (at most 30 s) until every dispatched task's ``outbox.acked`` has arrived.
    """
    dispatched = {} if dispatched is None else dispatched
    for number, (_token, officer_id, lon, lat) in enumerate(targets):
        created = await console.request(
            "complaint.create",
            channel="hotline_12369",
            category="water",
            urgency="normal",
            reporter_name="压测",
            reporter_phone="13900000000",
            description=f"压测投诉 {tag} {number}",
            lon=lon,
            lat=lat,
        )
        t0 = time.time()
        task = await console.request(
            "task.dispatch", complaint_id=created["complaint"]["id"], officer_id=officer_id
        )
        dispatched[task["task"]["id"]] = t0
        await asyncio.sleep(interval)
    deadline = time.monotonic() + 30
    while len(acked.keys() & dispatched.keys()) < len(dispatched) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return dispatched


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 1),
        "p99": round(percentile(values, 0.99), 1),
        "max": round(max(values), 1),
    }


def drain(out: Queue[tuple[Any, ...]], received: dict[str, float]) -> None:
    """Move the device receipts queued so far into ``received`` (the queue must not fill up)."""
    while True:
        try:
            message = out.get_nowait()
        except queue.Empty:
            return
        if message[0] == "recv":
            received.setdefault(message[1], message[2])


async def run_bench(
    args: argparse.Namespace,
    console_url: str,
    devices: list[tuple[str, str, float, float]],
    db_url: str,
    hub_pid: int,
) -> dict[str, Any]:
    field_url = console_url.replace("/ws/console", "/ws/field")
    acked: dict[str, float] = {}

    def on_event(event: dict[str, Any]) -> None:
        if event["topic"] == "outbox.acked":
            acked.setdefault(str(event["data"]["task_id"]), time.time())

    console = HubClient(on_event=on_event)
    await console.connect(console_url)
    await console.login(DEMO_USER, DEMO_PASSWORD, "bench")
    await console.subscribe(["outbox.acked"])
    # The hub builds its locator after it starts listening: "start" is after that build, so
    # the growth under load is the devices' own.
    await console.request("locate", lon=devices[0][2], lat=devices[0][3])
    rss_start = proc_rss_mb(hub_pid)
    t_connect = time.monotonic()
    processes, out, stop, flood = start_workers(
        field_url, devices, args.workers, "load", args.flood_rate
    )
    connected = await wait_ready(out, args.workers, 120)
    connect_s = time.monotonic() - t_connect

    store = Store.open(db_url)
    tracks = FieldRepo(store.engine)
    await asyncio.sleep(6.0)  # one full position round before the window opens
    track_0, cpu_0, wall_0 = tracks.track_count(), proc_cpu_s(hub_pid), time.monotonic()
    rng = random.Random(1)
    dispatched = await dispatch_round(
        console, rng.sample(devices, args.tasks), args.interval, acked, "5s"
    )
    wall_1, cpu_1, track_1 = time.monotonic(), proc_cpu_s(hub_pid), tracks.track_count()
    rss_load = proc_rss_mb(hub_pid)
    load_avg = os.getloadavg()
    received: dict[str, float] = {}
    drain(out, received)
    worker_pids = [process.pid for process in processes if process.pid is not None]
    sustained = await sustained_round(
        args,
        console,
        console_url,
        devices,
        tracks,
        hub_pid,
        worker_pids,
        flood,
        out,
        received,
        acked,
    )
    totals = await stop_workers(processes, out, stop, received)
    sustained_push = [
        1000 * (received[t] - t0) for t, t0 in sustained.pop("dispatched").items() if t in received
    ]
    sustained["dispatch_to_device_ms"] = summary(sustained_push)
    sustained["device_positions_sent_while_flooding"] = totals.get("flood_positions", 0)
    await console.close()

    push = [1000 * (received[t] - t0) for t, t0 in dispatched.items() if t in received]
    to_ack = [1000 * (acked[t] - t0) for t, t0 in dispatched.items() if t in acked]
    window = wall_1 - wall_0

    # Idle connections: hello, then silence.
    await asyncio.sleep(2.0)
    rss_before_idle = proc_rss_mb(hub_pid)
    idle_devices = [devices[i % len(devices)] for i in range(args.idle)]
    t_idle = time.monotonic()
    processes, out, stop, _flood = start_workers(field_url, idle_devices, args.workers, "idle")
    idle_connected = await wait_ready(out, args.workers, 150)
    idle_connect_s = time.monotonic() - t_idle
    await asyncio.sleep(2.0)
    cpu_i0, wall_i0 = proc_cpu_s(hub_pid), time.monotonic()
    await asyncio.sleep(5.0)
    idle_cpu = (proc_cpu_s(hub_pid) - cpu_i0) / (time.monotonic() - wall_i0)
    rss_idle = proc_rss_mb(hub_pid)
    idle_load_avg = os.getloadavg()
    await stop_workers(processes, out, stop, {})
    store.close()

    return {
        "officers_connected": connected,
        "connect_s": round(connect_s, 1),
        "tasks_dispatched": len(dispatched),
        "dispatch_to_device_ms": summary(push),
        "push_to_ack_ms": summary(to_ack),
        "window_s": round(window, 1),
        "positions_stored_per_s": round((track_1 - track_0) / window, 1),
        "positions_expected_per_s": round(connected / 5.0, 1),
        "device_errors": totals.get("errors", 0),
        "hub_cpu_percent_of_one_core": round(100 * (cpu_1 - cpu_0) / window, 1),
        "hub_rss_mb": {"start": round(rss_start, 1), "under_load": round(rss_load, 1)},
        "load_average_1_5_15": [round(x, 2) for x in load_avg],
        "sustained": sustained,
        "idle": {
            "connections": idle_connected,
            "connect_s": round(idle_connect_s, 1),
            "hub_rss_mb": round(rss_idle, 1),
            "rss_per_connection_kb": round(
                1024 * (rss_idle - rss_before_idle) / max(idle_connected, 1), 1
            ),
            "hub_cpu_percent_of_one_core": round(100 * idle_cpu, 1),
            "load_average_1_5_15": [round(x, 2) for x in idle_load_avg],
        },
        "cores": os.cpu_count(),
    }


if __name__ == "__main__":
    raise SystemExit(main())
