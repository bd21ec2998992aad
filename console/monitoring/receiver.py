"""The HJ 212 TCP receiver: stations connect, send frames, get 9014 replies; packets go to a sink.

One asyncio server serves many stations. Each connection cuts frames with the codec's
:class:`FrameScanner`, decodes them, checks the station's MN and password against a
:class:`StationRegistry`, joins split packets and hands accepted packets to a bounded queue.
A single flusher drains that queue into the :class:`PacketSink` in batches so that the store can
insert many rows per transaction. When the sink is slow the queue fills up and the connections
stop reading: TCP flow control then slows the stations down instead of the hub buffering
without bound. A 9014 reply (when Flag bit A asks for one) is written only after the sink has
taken the packet, so a station whose data was lost in the hub sends it again.

Nothing that arrives is silently dropped: frames that do not decode, unknown MNs and wrong
passwords go to the :class:`QuarantineSink` and are counted in :class:`ReceiverStats`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import socket
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal, Protocol

from console.core.model import OutletKind, PermitLimit, World
from console.monitoring.hj212 import (
    DecodeOptions,
    FrameScanner,
    HJ212Error,
    Packet,
    Reassembler,
    data_reply,
    decode,
    encode_packet,
)

__all__ = [
    "CHINA_TZ",
    "DATA_CNS",
    "ClockDrift",
    "InMemoryQuarantine",
    "InMemoryRegistry",
    "InMemorySink",
    "PacketSink",
    "QuarantineReason",
    "QuarantineSink",
    "QuarantinedPacket",
    "Reading",
    "ReadingValues",
    "ReceivedPacket",
    "ReceiverConfig",
    "ReceiverStats",
    "StationInfo",
    "StationReceiver",
    "StationRegistry",
    "cached_isoformat",
    "format_hj212_time",
    "parse_hj212_time",
    "reading_values",
    "stations_from_world",
]

log = logging.getLogger(__name__)

CHINA_TZ = timezone(timedelta(hours=8), "CST")
"""HJ 212 times (QN, DataTime, SystemTime) are Beijing time without a zone marker."""
_CHINA_OFFSET = timedelta(hours=8)

DATA_CNS = frozenset({"2011", "2051", "2061", "2031"})
"""Uploads that carry measurements (the ``monitoring.data`` event's ``cn``)."""

HEARTBEAT_CN = "8013"
"""Seen in real HJ/T 212-2005 traffic: keeps a quiet station's connection alive."""

QuarantineReason = Literal["unknown_mn", "bad_password", "decode_error"]

_MN_PATTERN = re.compile(rb"MN=([^;&\r\n]{1,64})")


def parse_hj212_time(text: str | None) -> datetime | None:
    """``YYYYMMDDhhmmss`` (DataTime) or ``YYYYMMDDhhmmsszzz`` (QN), Beijing time -> aware UTC.

    Returns None for a missing or malformed time: a bad time is a data-quality fact, not a
    reason to drop the packet.
    """
    if text is None or len(text) not in (14, 17):
        return None
    moment = _parse_seconds(text[:14])
    if moment is None or len(text) == 14:
        return moment
    millis = text[14:]
    return moment + _MILLISECONDS[int(millis)] if millis.isdigit() and millis.isascii() else None


@functools.lru_cache(maxsize=8192)
def _parse_seconds(text: str) -> datetime | None:
    """Cached: this runs twice per packet, and stations report on the same few timestamps."""
    if not (text.isdigit() and text.isascii()):
        return None
    try:  # fromisoformat reads the basic form (``YYYYMMDDThhmmss``) in C
        return datetime.fromisoformat(f"{text[:8]}T{text[8:]}").replace(tzinfo=UTC) - _CHINA_OFFSET
    except (ValueError, OverflowError):
        return None


_MILLISECONDS = tuple(timedelta(milliseconds=n) for n in range(1000))

cached_isoformat = functools.lru_cache(maxsize=8192)(datetime.isoformat)
"""``datetime.isoformat`` for the times every event of a batch repeats (receipt, data time)."""


def format_hj212_time(moment: datetime, *, millis: bool = False) -> str:
    """Aware datetime -> Beijing ``YYYYMMDDhhmmss`` (``…zzz`` with ``millis``, as in a QN)."""
    local = moment.astimezone(CHINA_TZ)
    text = local.strftime("%Y%m%d%H%M%S")
    return f"{text}{local.microsecond // 1000:03d}" if millis else text


@dataclass(frozen=True, slots=True)
class StationInfo:
    """What the hub knows about one station (one outlet's data logger)."""

    mn: str
    enterprise_id: str
    outlet_id: str
    district_adcode: str
    password: str
    kind: OutletKind
    limits: tuple[PermitLimit, ...] = ()
    _by_code: dict[str, PermitLimit] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_code: dict[str, PermitLimit] = {}
        for item in self.limits:
            by_code.setdefault(item.code, item)  # the first limit of a code, as listed
        object.__setattr__(self, "_by_code", by_code)

    def limit(self, code: str) -> PermitLimit | None:
        return self._by_code.get(code)


class StationRegistry(Protocol):
    """Looks a station up by MN; the hub backs it with the store."""

    def lookup(self, mn: str) -> StationInfo | None: ...


@dataclass(frozen=True, slots=True)
class ReceivedPacket:
    """A packet accepted from an authenticated station."""

    packet: Packet
    station: StationInfo
    received_at: datetime
    peer: str
    data_time: datetime = field(init=False, compare=False)
    """The packet's DataTime in UTC; the receive time when the station sent none."""

    def __post_init__(self) -> None:
        data_time = parse_hj212_time(self.packet.data_time) or self.received_at
        object.__setattr__(self, "data_time", data_time)

    def reading(self) -> Reading:
        """The values the consoles and the alarm engine use."""
        values = reading_values(self.packet)
        return Reading(self.station, self.packet.cn, self.data_time, self.received_at, values)

    def to_event(self) -> dict[str, Any]:
        """The ``monitoring.data`` event body (see the monitoring contract)."""
        return self.reading().to_event()


ReadingValues = dict[str, float | str | None]
"""``value`` (Rtd of real-time data, Avg of aggregates), ``flag``, ``zs`` (the O2-converted
value) and ``cou`` (discharge) of one code; None where the packet has none."""


def reading_values(packet: Packet) -> dict[str, ReadingValues]:
    """Per code, the :data:`ReadingValues` of a packet.

    Taken as they are: the codec gives every measured suffix (Rtd, Avg, ZsRtd, Cou …) as a
    float and a Flag as text. Built once per accepted packet, so kept to one dict display per
    code: building a ``Reading`` and checking each value's type took ingest workers 6.4 µs
    per packet (of 60-70), this 2.5 µs.
    """
    main, zs_main = ("Rtd", "ZsRtd") if packet.cn == "2011" else ("Avg", "ZsAvg")
    return {
        code: {
            "value": fields.get(main),
            "flag": fields.get("Flag"),
            "zs": fields.get(zs_main),
            "cou": fields.get("Cou"),
        }
        for code, fields in packet.values.items()
    }


@dataclass(frozen=True, slots=True)
class Reading:
    """What the consoles and the alarm engine need of an accepted data packet.

    Plain values only: ingest workers send these to the hub, which then neither rebuilds the
    packet nor re-reads its fields (a fifth of the hub's cost per packet when it did).
    """

    station: StationInfo
    cn: str
    data_time: datetime
    received_at: datetime
    values: dict[str, ReadingValues]
    """Per code (``w01018`` …), in the order the packet listed them."""

    def to_event(self) -> dict[str, Any]:
        """The ``monitoring.data`` event body (see the monitoring contract)."""
        return {
            "enterprise_id": self.station.enterprise_id,
            "outlet_id": self.station.outlet_id,
            "mn": self.station.mn,
            "cn": self.cn,
            "data_time": cached_isoformat(self.data_time),
            "received_at": cached_isoformat(self.received_at),
            "district_adcode": self.station.district_adcode,
            "values": self.values,
        }


@dataclass(frozen=True, slots=True)
class QuarantinedPacket:
    """Something a connection sent that was not accepted, kept for the admins to inspect."""

    id: str
    mn: str | None
    reason: QuarantineReason
    peer: str
    received_at: datetime
    raw: bytes
    """The frame as received, truncated to ``ReceiverConfig.raw_excerpt`` bytes."""
    error: str | None = None
    """The codec's error kind (``frame``, ``length``, ``crc``, ``field`` …) for decode errors."""
    detail: str = ""

    def to_event(self) -> dict[str, Any]:
        """The ``monitoring.quarantine`` event body, plus the error kind and detail."""
        return {
            "id": self.id,
            "mn": self.mn,
            "reason": self.reason,
            "peer": self.peer,
            "received_at": self.received_at.isoformat(),
            "error": self.error,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class ClockDrift:
    """A station's clock disagrees with ours (``drifting``), or agrees again after it did."""

    mn: str
    station: StationInfo
    drift_seconds: float
    """Station time minus server time: positive when the station is ahead."""
    station_time: datetime
    server_time: datetime
    drifting: bool


class PacketSink(Protocol):
    """Takes accepted packets in batches; returns once they are safe (e.g. committed)."""

    async def accept(self, batch: list[ReceivedPacket]) -> None: ...


class QuarantineSink(Protocol):
    """Takes rejected input; must not block (queue it if it needs I/O)."""

    def quarantine(self, item: QuarantinedPacket) -> None: ...


@dataclass(frozen=True, slots=True)
class ReceiverConfig:
    """Tunables of the receiver; the defaults follow the standard and a busy province hub."""

    host: str = "127.0.0.1"
    port: int = 9212
    """0 picks a free port (tests); the bound port is :attr:`StationReceiver.port`."""
    max_frame: int = 4096
    """Hard cap on a data segment; longer frames are discarded by the scanner."""
    idle_timeout: float = 300.0
    """Close a connection that sends nothing (not even a heartbeat) for this many seconds."""
    batch_interval: float = 0.1
    batch_size: int = 1000
    """Packets per transaction at most. Each batch rewrites the index pages of every outlet it
    touches; with the ingest workers taking turns through a file lock (``TimeSeriesStore``),
    1,000 ingested about a tenth more than 500 (alternating scratch runs; without the lock,
    not more)."""
    queue_limit: int = 4000
    """Accepted packets waiting for the sink; when full, connections stop reading."""
    reassembly_timeout: float = 60.0
    clock_drift_threshold: float = 300.0
    clock_drift_repeat: float = 3600.0
    """Report a still-drifting station again after this many seconds."""
    send_time_set: bool = False
    """Answer a drifting clock with a 1012 set-time command carrying our time."""
    raw_excerpt: int = 512
    read_size: int = 65536
    decode_options: DecodeOptions = field(default_factory=DecodeOptions)

    def __post_init__(self) -> None:
        for name in ("idle_timeout", "batch_interval", "reassembly_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("max_frame", "batch_size", "queue_limit", "raw_excerpt", "read_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


@dataclass(slots=True)
class ReceiverStats:
    """Counters for the hub's status page and the tests."""

    connections_total: int = 0
    connections_open: int = 0
    idle_closed: int = 0
    bytes_received: int = 0
    frames: int = 0
    packets_accepted: int = 0
    heartbeats: int = 0
    replies_sent: int = 0
    time_set_sent: int = 0
    clock_drifts: int = 0
    discarded_bytes: int = 0
    """Garbage between frames and frames above the cap, as dropped by the frame scanner."""
    batches: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    """Decode errors by the codec's kind, and ``sink`` for batches the sink refused."""
    quarantined: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "connections_total": self.connections_total,
            "connections_open": self.connections_open,
            "idle_closed": self.idle_closed,
            "bytes_received": self.bytes_received,
            "frames": self.frames,
            "packets_accepted": self.packets_accepted,
            "heartbeats": self.heartbeats,
            "replies_sent": self.replies_sent,
            "time_set_sent": self.time_set_sent,
            "clock_drifts": self.clock_drifts,
            "discarded_bytes": self.discarded_bytes,
            "batches": self.batches,
            "errors": dict(self.errors),
            "quarantined": dict(self.quarantined),
        }

    @classmethod
    def merged(cls, reports: Iterable[Mapping[str, Any]]) -> ReceiverStats:
        """The sum of several receivers' :meth:`as_dict` reports (the hub's ingest workers)."""
        total = cls()
        for report in reports:
            for name, value in report.items():
                if name in ("errors", "quarantined"):
                    getattr(total, name).update(value)
                else:
                    setattr(total, name, getattr(total, name) + value)
        return total


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Pending:
    item: ReceivedPacket
    reply: bytes | None
    writer: asyncio.StreamWriter


class StationReceiver:
    """Asyncio TCP server for HJ 212 stations. Use ``async with`` or ``start()``/``close()``."""

    def __init__(
        self,
        registry: StationRegistry,
        sink: PacketSink,
        quarantine: QuarantineSink,
        config: ReceiverConfig | None = None,
        *,
        on_clock_drift: Callable[[ClockDrift], None] | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.config = config or ReceiverConfig()
        self.stats = ReceiverStats()
        self.last_seen: dict[str, datetime] = {}
        """MN -> time of its last accepted packet or heartbeat (for offline detection)."""
        self._registry = registry
        self._sink = sink
        self._quarantine = quarantine
        self._on_clock_drift = on_clock_drift
        self._clock = clock
        self._server: asyncio.Server | None = None
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(self.config.queue_limit)
        self._flusher: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._drift_reported: dict[str, datetime] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, sock: socket.socket | None = None) -> None:
        """Listen on ``config.host``/``config.port``, or accept on ``sock``, a listening socket
        other processes may accept on too (the hub's ingest workers share one)."""
        if self._server is not None:
            raise RuntimeError("receiver already started")
        if sock is None:
            self._server = await asyncio.start_server(
                self._handle, self.config.host, self.config.port, limit=self.config.read_size
            )
        else:
            self._server = await asyncio.start_server(
                self._handle, sock=sock, limit=self.config.read_size
            )
        self._flusher = asyncio.create_task(self._flush_loop(), name="hj212-flusher")

    @property
    def port(self) -> int:
        """The bound TCP port (useful with ``port=0``)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("receiver not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop accepting, close every connection, deliver what is queued, stop the flusher."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        leftover: list[_Pending] = []
        while not self._queue.empty():
            leftover.append(self._queue.get_nowait())
        if leftover:
            await self._deliver(leftover)
        self._server = None

    async def __aenter__(self) -> StationReceiver:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def resume_drift(self, mn: str, reported_at: datetime) -> None:
        """This station's clock was reported drifting before a restart: report it when it
        agrees again (and not again while it still drifts)."""
        self._drift_reported[mn] = reported_at

    def forget_drift(self, mn: str) -> None:
        """This station's clock was reported agreeing again (by another receiver)."""
        self._drift_reported.pop(mn, None)

    def use_stations(self, stations: Mapping[str, StationInfo]) -> None:
        """Judge packets against this station table from now on (the world was reloaded)."""
        self._registry = InMemoryRegistry(stations)

    # -- one connection ----------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        peer_info = writer.get_extra_info("peername")
        peer = f"{peer_info[0]}:{peer_info[1]}" if isinstance(peer_info, tuple) else str(peer_info)
        self.stats.connections_total += 1
        self.stats.connections_open += 1
        scanner = FrameScanner(self.config.max_frame)
        reassembler = Reassembler(self.config.reassembly_timeout)
        try:
            while True:
                try:
                    # asyncio.timeout, not wait_for: no extra task for every read.
                    async with asyncio.timeout(self.config.idle_timeout):
                        chunk = await reader.read(self.config.read_size)
                except TimeoutError:
                    self.stats.idle_closed += 1
                    break
                if not chunk:
                    break
                self.stats.bytes_received += len(chunk)
                before = scanner.discarded
                frames = scanner.feed(chunk)
                self.stats.discarded_bytes += scanner.discarded - before
                now = self._clock()  # the frames of one chunk arrived together
                queue = self._queue
                for frame in frames:
                    pending = self._frame(frame, now, peer, reassembler, writer)
                    if pending is None:
                        continue
                    if queue.full():
                        # This connection stops reading until the sink catches up (backpressure).
                        await queue.put(pending)
                    else:
                        queue.put_nowait(pending)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the station went away; nothing to answer
        except asyncio.CancelledError:
            pass  # receiver shutting down
        finally:
            self.stats.connections_open -= 1
            if task is not None:
                self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    def _frame(
        self,
        frame: bytes,
        now: datetime,
        peer: str,
        reassembler: Reassembler,
        writer: asyncio.StreamWriter,
    ) -> _Pending | None:
        """Check one frame; an accepted data packet comes back to be queued for the sink."""
        self.stats.frames += 1
        try:
            packet = decode(frame, self.config.decode_options)
        except HJ212Error as error:
            self._reject(frame, peer, now, "decode_error", error)
            return None
        station = self._registry.lookup(packet.mn)
        if station is None:
            self._reject(frame, peer, now, "unknown_mn", None, packet.mn)
            return None
        if packet.pw != station.password:
            self._reject(frame, peer, now, "bad_password", None, packet.mn)
            return None
        self.last_seen[station.mn] = now
        self._check_clock(packet, station, now, writer)
        reply = data_reply(packet) if packet.ack_requested else None
        if packet.cn == HEARTBEAT_CN or packet.cn.startswith("9"):
            # Heartbeats and the station's answers to our commands carry no data.
            if packet.cn == HEARTBEAT_CN:
                self.stats.heartbeats += 1
            self._write(writer, reply)
            return None
        try:
            whole = reassembler.add(packet)
        except HJ212Error as error:
            self._reject(frame, peer, now, "decode_error", error, packet.mn)
            return None
        if whole is None:  # a part of a split packet: acknowledge the part itself
            self._write(writer, reply)
            return None
        received = ReceivedPacket(packet=whole, station=station, received_at=now, peer=peer)
        return _Pending(received, reply, writer)

    def _reject(
        self,
        frame: bytes,
        peer: str,
        now: datetime,
        reason: QuarantineReason,
        error: HJ212Error | None,
        mn: str | None = None,
    ) -> None:
        if error is not None:
            self.stats.errors[error.kind.value] += 1
            if mn is None:
                found = _MN_PATTERN.search(frame)
                mn = found.group(1).decode("ascii", "replace") if found else None
        self.stats.quarantined[reason] += 1
        item = QuarantinedPacket(
            id=str(uuid.uuid4()),
            mn=mn,
            reason=reason,
            peer=peer,
            received_at=now,
            raw=frame[: self.config.raw_excerpt],
            error=None if error is None else error.kind.value,
            detail="" if error is None else error.detail,
        )
        self._quarantine.quarantine(item)

    def _write(self, writer: asyncio.StreamWriter, data: bytes | None) -> None:
        if data is None or writer.is_closing():
            return
        writer.write(data)
        self.stats.replies_sent += 1

    def _check_clock(
        self, packet: Packet, station: StationInfo, now: datetime, writer: asyncio.StreamWriter
    ) -> None:
        """Compare QN (or a real-time DataTime) with our clock; report changes of state."""
        stamp = parse_hj212_time(packet.qn)
        if stamp is None and packet.cn == "2011":
            stamp = parse_hj212_time(packet.data_time)
        if stamp is None:
            return
        drift = (stamp - now).total_seconds()
        drifting = abs(drift) > self.config.clock_drift_threshold
        reported = self._drift_reported.get(station.mn)
        if drifting:
            repeat = timedelta(seconds=self.config.clock_drift_repeat)
            if reported is not None and now - reported < repeat:
                return
            self._drift_reported[station.mn] = now
            self.stats.clock_drifts += 1
            if self.config.send_time_set:
                self._write_time_set(packet, station, now, writer)
        elif reported is not None:
            del self._drift_reported[station.mn]
        else:
            return
        if self._on_clock_drift is not None:
            self._on_clock_drift(ClockDrift(station.mn, station, drift, stamp, now, drifting))

    def _write_time_set(
        self, packet: Packet, station: StationInfo, now: datetime, writer: asyncio.StreamWriter
    ) -> None:
        if writer.is_closing():
            return
        command = encode_packet(
            qn=format_hj212_time(now, millis=True),
            st=packet.st,
            cn="1012",
            pw=station.password,
            mn=station.mn,
            flag=None if packet.flag is None else (packet.flag & 0xFC) | 1,
            params={"SystemTime": format_hj212_time(now)},
        )
        writer.write(command)
        self.stats.time_set_sent += 1

    # -- batching ----------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        size = self.config.batch_size
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.config.batch_interval
            while len(batch) < size:
                while len(batch) < size and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                remaining = deadline - loop.time()
                if len(batch) >= size or remaining <= 0:
                    break
                try:
                    async with asyncio.timeout(remaining):
                        batch.append(await self._queue.get())
                except TimeoutError:
                    break
            await self._deliver(batch)

    async def _deliver(self, batch: list[_Pending]) -> None:
        try:
            await self._sink.accept([pending.item for pending in batch])
        except Exception:
            # No 9014 goes out, so the stations send these packets again.
            log.exception("packet sink refused a batch of %d packets", len(batch))
            self.stats.errors["sink"] += 1
            return
        self.stats.batches += 1
        self.stats.packets_accepted += len(batch)
        # One write per connection and batch: a transport write is a send() system call.
        replies: dict[asyncio.StreamWriter, list[bytes]] = {}
        for pending in batch:
            if pending.reply is not None:
                replies.setdefault(pending.writer, []).append(pending.reply)
        for writer, data in replies.items():
            if not writer.is_closing():
                writer.write(b"".join(data))
                self.stats.replies_sent += len(data)


# -- in-memory implementations (tests, the simulator's self-check, a store-less hub) -----------


class InMemoryRegistry:
    """A fixed MN -> station table."""

    def __init__(self, stations: Mapping[str, StationInfo]) -> None:
        self._stations = dict(stations)

    def lookup(self, mn: str) -> StationInfo | None:
        return self._stations.get(mn)


class InMemorySink:
    """Keeps every batch; ``delay`` imitates a slow database."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.batches: list[list[ReceivedPacket]] = []

    @property
    def packets(self) -> list[ReceivedPacket]:
        return [item for batch in self.batches for item in batch]

    async def accept(self, batch: list[ReceivedPacket]) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.batches.append(batch)


class InMemoryQuarantine:
    """Keeps every quarantined item."""

    def __init__(self) -> None:
        self.items: list[QuarantinedPacket] = []

    def quarantine(self, item: QuarantinedPacket) -> None:
        self.items.append(item)


def stations_from_world(world: World) -> dict[str, StationInfo]:
    """MN -> station for every outlet of the world's enterprises."""
    return {
        outlet.mn: StationInfo(
            mn=outlet.mn,
            enterprise_id=enterprise.id,
            outlet_id=outlet.id,
            district_adcode=enterprise.district_adcode,
            password=outlet.password,
            kind=outlet.kind,
            limits=outlet.limits,
        )
        for enterprise in world.enterprises
        for outlet in enterprise.outlets
    }
