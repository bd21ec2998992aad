"""HJ 212 ingest in worker processes: the receive path on every core, alarms and events in the hub.

One Python process decodes, checks, stores and acknowledges on one core: the receive path holds
the GIL, and the hub has its events and alarms to do as well. With ``MonitoringConfig.workers``
> 0 the hub binds the station port itself and spawns that many worker processes (spawned, not
forked: the hub has threads). They accept on the hub's listening sockets: one per worker in a
SO_REUSEPORT group on Linux, one shared elsewhere. Each worker runs the ordinary
:class:`StationReceiver` with a database connection of its own. It decodes, authenticates
against the station table the hub gave it, and stores the batch. Then it sends the hub the
batch's readings over a socket pair, and only after that its 9014 replies go out. The hub turns
the readings into ``monitoring.data`` events and feeds its one :class:`AlarmEngine`, so alarm
state stays in one place.

Quarantined frames, clock-drift changes, last-seen times (heartbeats) and counters travel the same
way. A drift change seen by one worker is passed to the others, so a station that reconnects to
another worker is still judged against it. A worker that dies is started again on the same socket
with the hub's current drift state. Its stations reconnect as after any dropped connection, and
send again whatever was not acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.process import BaseProcess
from typing import Any

from sqlalchemy import make_url

from console.hub.state import DbRunner
from console.monitoring.receiver import (
    ClockDrift,
    InMemoryRegistry,
    QuarantinedPacket,
    Reading,
    ReadingValues,
    ReceivedPacket,
    ReceiverConfig,
    ReceiverStats,
    StationInfo,
    StationReceiver,
    reading_values,
)
from console.store.engine import make_engine, normalise_url
from console.store.timeseries import TimeSeriesStore

__all__ = ["IngestWorkerPool", "pack_batch", "unpack_batch", "worker_main"]

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!I")
PackedReading = tuple[str, str, datetime, datetime, dict[str, ReadingValues]]


def pack_batch(batch: Sequence[ReceivedPacket]) -> list[PackedReading]:
    """Each packet's :class:`Reading` as a plain tuple: the hub rebuilds no packet."""
    return [
        (item.station.mn, item.packet.cn, item.data_time, item.received_at,
         reading_values(item.packet))
        for item in batch
    ]  # fmt: skip


def unpack_batch(
    rows: Sequence[PackedReading], lookup: Callable[[str], StationInfo | None]
) -> list[Reading]:
    """The readings again, with the hub's own station records."""
    batch = []
    for mn, cn, data_time, received_at, values in rows:
        station = lookup(mn)
        if station is not None:  # the worker's station table is a copy of the hub's
            batch.append(Reading(station, cn, data_time, received_at, values))
    return batch


def _encode(message: tuple[Any, ...]) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


async def _read(reader: asyncio.StreamReader) -> tuple[Any, ...] | None:
    """The next message, or None when the other side has gone."""
    try:
        (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
        message: tuple[Any, ...] = pickle.loads(await reader.readexactly(size))
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    return message


# -- the worker process ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """Everything a worker needs, sent once at spawn."""

    index: int
    db_url: str
    stations: Mapping[str, StationInfo]
    config: ReceiverConfig
    drifting: Mapping[str, datetime]
    status_interval: float


def worker_main(listener: socket.socket, channel: socket.socket, spec: WorkerSpec) -> None:
    """Entry point of a worker process."""
    from console.hub.server import tune_gc_for_serving  # here: the server module imports this one

    logging.basicConfig(
        level=logging.WARNING,
        format=f"%(asctime)s %(levelname)s hj212-worker-{spec.index} %(name)s: %(message)s",
    )
    # Ctrl-C in a terminal reaches the whole process group: the hub stops us in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tune_gc_for_serving()
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_Worker(spec).serve(listener, channel))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (not on Windows): a worker is all sockets, and uvloop's
    loop costs the workers about a tenth less CPU per packet than asyncio's own."""
    try:
        import uvloop  # optional: not on Windows
    except ImportError:
        return None
    return uvloop.new_event_loop


class _Worker:
    """Receiver + store in one worker process; talks to the hub over ``channel``."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.engine = make_engine(spec.db_url)
        self.store = TimeSeriesStore(self.engine)
        self.db = DbRunner()
        self.receiver = StationReceiver(
            InMemoryRegistry(spec.stations), self, self, spec.config, on_clock_drift=self._drift
        )
        for mn, reported_at in spec.drifting.items():
            self.receiver.resume_drift(mn, reported_at)
        self._writer: asyncio.StreamWriter | None = None
        self._reported_seen: dict[str, datetime] = {}

    async def serve(self, listener: socket.socket, channel: socket.socket) -> None:
        reader, self._writer = await asyncio.open_connection(sock=channel)
        status: asyncio.Task[None] | None = None
        try:
            await self.receiver.start(sock=listener)
            self._post(("ready",))
            status = asyncio.create_task(self._report_status())
            while (message := await _read(reader)) is not None:
                if message[0] == "resume_drift":
                    self.receiver.resume_drift(message[1], message[2])
                elif message[0] == "forget_drift":
                    self.receiver.forget_drift(message[1])
                elif message[0] == "stations":
                    self.receiver.use_stations(message[1])
                elif message[0] == "stop":
                    break
        finally:
            if status is not None:
                status.cancel()
            await self.receiver.close()  # delivers what is queued
            with contextlib.suppress(ConnectionError):
                self._post_status()
                await self._writer.drain()
            self._writer.close()
            self.db.shutdown()
            self.engine.dispose()

    # PacketSink / QuarantineSink
    async def accept(self, batch: list[ReceivedPacket]) -> None:
        await self.db.run(self.store.insert_packets, batch)
        self._post(("batch", pack_batch(batch)))
        assert self._writer is not None
        await self._writer.drain()  # a slow hub slows the stations down, not our memory

    def quarantine(self, item: QuarantinedPacket) -> None:
        self._post(("quarantine", item))

    def _drift(self, drift: ClockDrift) -> None:
        self._post(("drift", drift))

    def _post(self, message: tuple[Any, ...]) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(_encode(message))

    def _post_status(self) -> None:
        seen = self.receiver.last_seen
        changed = {mn: at for mn, at in seen.items() if self._reported_seen.get(mn) != at}
        self._reported_seen.update(changed)
        self._post(("status", self.receiver.stats.as_dict(), changed, self.store.copy_batches))

    async def _report_status(self) -> None:
        while True:
            await asyncio.sleep(self.spec.status_interval)
            self._post_status()


# -- the hub's side -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Handle:
    index: int
    process: BaseProcess
    writer: asyncio.StreamWriter
    pump: asyncio.Task[None] | None = None
    report: dict[str, Any] = dataclasses.field(default_factory=dict)
    copy_batches: int = 0
    stopping: bool = False


class IngestWorkerPool:
    """The hub's HJ 212 front end when ingest runs in worker processes.

    It offers what the hub uses of a :class:`StationReceiver` (``start``, ``close``, ``port``,
    ``stats``, ``last_seen``, ``resume_drift``); stored batches come back through ``deliver``.
    """

    def __init__(
        self,
        config: ReceiverConfig,
        db_url: str,
        count: int,
        stations: Mapping[str, StationInfo],
        *,
        deliver: Callable[[list[Reading]], Awaitable[None]],
        quarantine: Callable[[QuarantinedPacket], None],
        on_clock_drift: Callable[[ClockDrift], None],
        status_interval: float = 1.0,
        start_timeout: float = 60.0,
    ) -> None:
        if count < 1:
            raise ValueError(f"an ingest worker pool needs at least 1 worker, got {count}")
        url = make_url(normalise_url(db_url))
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            raise ValueError(
                "HJ 212 ingest workers need a database file or server: an in-memory SQLite "
                "database cannot be shared between processes (use workers=0)"
            )
        self.config = config
        self.count = count
        self.last_seen: dict[str, datetime] = {}
        """MN -> last accepted packet or heartbeat, as the workers last reported it."""
        self.restarts = 0
        self._db_url = normalise_url(db_url)
        self._stations = stations
        self._deliver = deliver
        self._quarantine = quarantine
        self._on_clock_drift = on_clock_drift
        self._status_interval = status_interval
        self._start_timeout = start_timeout
        self._context = multiprocessing.get_context("spawn")
        self._listeners: list[socket.socket] = []
        self._workers: dict[int, _Handle] = {}
        self._ready: dict[int, asyncio.Future[None]] = {}
        self._retired: list[dict[str, Any]] = []
        self._retired_copies = 0
        self._drifting: dict[str, datetime] = {}
        self._closing = False
        self._respawns: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._listeners:
            raise RuntimeError("ingest workers already started")
        self._listeners = _listen(self.config.host, self.config.port, self.count)
        try:
            await asyncio.gather(*(self._spawn(index) for index in range(self.count)))
        except BaseException:
            await self.close()
            raise

    @property
    def port(self) -> int:
        if not self._listeners:
            raise RuntimeError("ingest workers not started")
        return int(self._listeners[0].getsockname()[1])

    @property
    def stats(self) -> ReceiverStats:
        """Counters of every worker, those that were replaced included, as each last reported
        them (every ``status_interval``; a killed worker's last second is not counted)."""
        return ReceiverStats.merged(
            [*self._retired, *(handle.report for handle in self._workers.values())]
        )

    @property
    def copy_batches(self) -> int:
        """Batches the workers, replaced ones included, wrote through PostgreSQL COPY."""
        return self._retired_copies + sum(h.copy_batches for h in self._workers.values())

    @property
    def reports(self) -> dict[int, dict[str, Any]]:
        """Process id -> that worker's last counters (the status page, the tests)."""
        return {handle.process.pid or 0: handle.report for handle in self._workers.values()}

    @property
    def pids(self) -> list[int]:
        return list(self.reports)

    async def close(self) -> None:
        """Stop every worker after it has stored and delivered what it holds."""
        self._closing = True
        for task in list(self._respawns):
            task.cancel()
        handles = list(self._workers.values())
        for handle in handles:
            handle.stopping = True
            with contextlib.suppress(ConnectionError):
                handle.writer.write(_encode(("stop",)))
        for handle in handles:
            if handle.pump is not None:
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(handle.pump), 30)
            await asyncio.to_thread(_end_process, handle.process)
            handle.writer.close()
            self._retire(handle)
        self._workers.clear()
        for sock in self._listeners:
            sock.close()
        self._listeners = []

    def use_stations(self, stations: Mapping[str, StationInfo]) -> None:
        """A new station table (the hub reloaded its world), for every worker and restart."""
        self._stations = dict(stations)
        self._broadcast(("stations", self._stations), None)

    def resume_drift(self, mn: str, reported_at: datetime) -> None:
        """A drift reported before a hub restart: every worker clears it when the clock agrees."""
        self._drifting[mn] = reported_at
        self._broadcast(("resume_drift", mn, reported_at), None)

    # -- workers -----------------------------------------------------------------------------

    async def _spawn(self, index: int) -> None:
        assert self._listeners
        listener = self._listeners[index % len(self._listeners)]
        ours, theirs = socket.socketpair()
        spec = WorkerSpec(
            index=index,
            db_url=self._db_url,
            stations=self._stations,
            config=self.config,
            drifting=dict(self._drifting),
            status_interval=self._status_interval,
        )
        process = self._context.Process(
            target=worker_main,
            args=(listener, theirs, spec),
            name=f"hj212-worker-{index}",
            daemon=True,
        )
        try:
            process.start()
        finally:
            theirs.close()
        reader, writer = await asyncio.open_connection(sock=ours)
        handle = _Handle(index, process, writer)
        self._workers[index] = handle
        ready = self._ready[index] = asyncio.get_running_loop().create_future()
        handle.pump = asyncio.create_task(self._pump(handle, reader), name=f"hj212-pump-{index}")
        try:
            await asyncio.wait_for(ready, self._start_timeout)
        except BaseException as error:
            handle.stopping = True
            self._workers.pop(index, None)
            writer.close()
            await asyncio.to_thread(_end_process, process, 0)
            if isinstance(error, TimeoutError):
                raise RuntimeError(
                    f"HJ 212 ingest worker {index} did not start within {self._start_timeout} s"
                ) from None
            raise

    async def _pump(self, handle: _Handle, reader: asyncio.StreamReader) -> None:
        """Carry one worker's messages into the hub, in order; restart the worker if it dies."""
        try:
            while (message := await _read(reader)) is not None:
                kind = message[0]
                if kind == "batch":
                    batch = unpack_batch(message[1], self._stations.get)
                    try:
                        await self._deliver(batch)
                    except Exception:
                        # Stored already: the data is safe, only its events or alarms are lost.
                        log.exception("delivering a batch of %d packets failed", len(batch))
                elif kind == "status":
                    handle.report = message[1]
                    self.last_seen.update(message[2])
                    handle.copy_batches = message[3]
                elif kind == "quarantine":
                    self._quarantine(message[1])
                elif kind == "drift":
                    self._drift(handle, message[1])
                elif kind == "ready":
                    self._ready[handle.index].set_result(None)
        finally:
            self._ended(handle)

    def _drift(self, handle: _Handle, drift: ClockDrift) -> None:
        station = self._stations.get(drift.mn)
        if station is not None:  # judged with the hub's own station record
            drift = dataclasses.replace(drift, station=station)
        if drift.drifting:
            self._drifting[drift.mn] = drift.server_time
            self._broadcast(("resume_drift", drift.mn, drift.server_time), handle)
        else:
            self._drifting.pop(drift.mn, None)
            self._broadcast(("forget_drift", drift.mn), handle)
        self._on_clock_drift(drift)

    def _broadcast(self, message: tuple[Any, ...], sender: _Handle | None) -> None:
        data = _encode(message)
        for handle in self._workers.values():
            if handle is not sender and not handle.writer.is_closing():
                handle.writer.write(data)

    def _ended(self, handle: _Handle) -> None:
        current = self._workers.get(handle.index) is handle
        if current:
            del self._workers[handle.index]
        ready = self._ready.get(handle.index)
        if ready is not None and not ready.done():  # the spawner says so and tries again
            ready.set_exception(
                RuntimeError(f"HJ 212 ingest worker {handle.index} exited while starting")
            )
            return
        if handle.stopping or self._closing or not current:
            return
        self._retire(handle)
        handle.writer.close()
        log.error(
            "HJ 212 ingest worker %d (pid %s) ended unexpectedly; starting it again",
            handle.index,
            handle.process.pid,
        )
        task = asyncio.get_running_loop().create_task(self._respawn(handle))
        self._respawns.add(task)
        task.add_done_callback(self._respawns.discard)

    def _retire(self, handle: _Handle) -> None:
        """Keep the counters of a worker that has ended."""
        self._retired.append(handle.report)
        self._retired_copies += handle.copy_batches

    async def _respawn(self, handle: _Handle) -> None:
        await asyncio.to_thread(_end_process, handle.process)
        delay = 0.2
        while not self._closing:
            try:
                await self._spawn(handle.index)
            except Exception:
                log.exception("restarting HJ 212 ingest worker %d failed", handle.index)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            else:
                self.restarts += 1
                return


def _end_process(process: BaseProcess, wait: float = 10.0) -> None:
    """Wait for a worker to exit; kill it if it does not within ``wait`` seconds."""
    process.join(wait)
    if process.is_alive():
        process.kill()
        process.join(5)


def _listen(host: str, port: int, count: int) -> list[socket.socket]:
    """The station port (the first address ``host`` resolves to), bound and listening in the
    hub: on Linux ``count`` sockets in one SO_REUSEPORT group, one per worker, elsewhere one
    socket that every worker accepts on.

    The kernel spreads a group's new connections evenly over its sockets. On one shared socket
    whichever worker woke first took them, and one worker often got up to twice the other's
    stations. The hub keeps every socket open, so a restarted worker finds its queue intact.
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    group = count if sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT") else 1
    sockets: list[socket.socket] = []
    try:
        for _ in range(group):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            if os.name == "posix":  # as asyncio does: on Windows it would let others take the port
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if group > 1:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            address = sock.getsockname()  # port 0: the others join the port the first got
            sock.listen(1024)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets
