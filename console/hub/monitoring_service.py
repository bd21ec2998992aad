"""The hub's online-monitoring service: HJ 212 receiver -> store -> events, alarms, upkeep.

Stations are looked up in the loaded world (MN, password and permit limits come from the
store). Accepted packets are inserted in batches on a database thread of their own (so that
ingest never waits behind console requests), and only then published as ``monitoring.data``
events (one per batch and district, so a busy receiver costs the console link one message per
flush rather than one per packet) and judged by the :class:`AlarmEngine`; the receiver
writes its 9014 replies after the sink returns, so a station whose batch did not reach the
database sends it again. Alarms are persisted before they are published. A periodic tick
raises ``offline`` alarms; an hourly upkeep computes missing aggregates from real-time values
and applies the retention.

With ``MonitoringConfig.workers`` the receiving, decoding and storing run in ingest worker
processes (:mod:`console.hub.ingest_workers`) and only the publishing and judging stay here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from console.core.model import OutletKind, Role, World
from console.hub.ingest_workers import IngestWorkerPool
from console.hub.state import DbRunner, HubState, PeriodicJob
from console.monitoring.aggregate import HOUR, MINUTE
from console.monitoring.alarms import AlarmConfig, AlarmEngine, AlarmEvent
from console.monitoring.hj212 import SPEEDUPS
from console.monitoring.receiver import (
    CHINA_TZ,
    ClockDrift,
    QuarantinedPacket,
    Reading,
    ReceivedPacket,
    ReceiverConfig,
    ReceiverStats,
    StationInfo,
    StationReceiver,
    stations_from_world,
)
from console.store.timeseries import Retention, TimeSeriesStore

__all__ = [
    "ADMIN_TOPICS",
    "DATA_TOPIC",
    "QUARANTINE_TOPIC",
    "MonitoringConfig",
    "MonitoringService",
    "WorldRegistry",
]

log = logging.getLogger(__name__)

DATA_TOPIC = "monitoring.data"
QUARANTINE_TOPIC = "monitoring.quarantine"
ADMIN_TOPICS = frozenset({QUARANTINE_TOPIC})
"""Topics only administrators receive (the raw input of unknown or misconfigured stations)."""
DEFAULT_HJ212_PORT = 9212


@dataclass(frozen=True, slots=True)
class MonitoringConfig:
    """Settings of the monitoring service; tests shorten the intervals."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_HJ212_PORT
    """0 picks a free port (tests); the bound one is :attr:`MonitoringService.port`."""
    tick_interval: float = 5.0
    """How often silent stations are checked for the ``offline`` alarm, seconds."""
    upkeep_interval: float = 3600.0
    """How often missing aggregates are computed and the retention is applied, seconds."""
    quarantine_flush_interval: float = 0.5
    minute_period_s: int = 10 * MINUTE
    """Period of computed minute aggregates (HJ 212's default MinInterval is 10)."""
    retention: Retention = field(default_factory=Retention)
    alarms: AlarmConfig = field(default_factory=AlarmConfig)
    receiver: ReceiverConfig | None = None
    """Receiver tunables; its host and port are replaced by the ones above."""
    workers: int = 0
    """Ingest worker processes that receive, decode and store (0: all in the hub process).
    One process ingests about 10,000 packets/s; workers spread that over the cores."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"HJ 212 port must be 0..65535, got {self.port}")
        if not 0 <= self.workers <= 64:
            raise ValueError(f"HJ 212 workers must be 0..64, got {self.workers}")
        for name in ("tick_interval", "upkeep_interval", "quarantine_flush_interval"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


class WorldRegistry:
    """MN -> station from the hub's world; ``reload`` after the world is re-seeded."""

    def __init__(self, world: World | None) -> None:
        self.stations: dict[str, StationInfo] = {}
        self.kinds: dict[str, OutletKind] = {}
        self.enterprise_of: dict[str, str] = {}
        self.by_outlet: dict[str, StationInfo] = {}
        self.outlets_of: dict[str, list[str]] = {}
        self.reload(world)

    def reload(self, world: World | None) -> None:
        stations = stations_from_world(world) if world is not None else {}
        self.stations = stations
        self.by_outlet = {s.outlet_id: s for s in stations.values()}
        self.kinds = {s.outlet_id: s.kind for s in stations.values()}
        self.enterprise_of = {s.outlet_id: s.enterprise_id for s in stations.values()}
        self.outlets_of = {}
        for enterprise in world.enterprises if world is not None else ():
            self.outlets_of[enterprise.id] = [outlet.id for outlet in enterprise.outlets]

    def lookup(self, mn: str) -> StationInfo | None:
        return self.stations.get(mn)


class StationFrontEnd(Protocol):
    """What the service uses of its station side: a :class:`StationReceiver` in the hub
    process, or an :class:`IngestWorkerPool` of receivers in worker processes."""

    last_seen: dict[str, datetime]

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    @property
    def port(self) -> int: ...

    @property
    def stats(self) -> ReceiverStats: ...

    def resume_drift(self, mn: str, reported_at: datetime) -> None: ...

    def use_stations(self, stations: Mapping[str, StationInfo]) -> None: ...


class MonitoringService:
    """Create with ``await MonitoringService.start(state, config)``; end with ``stop()``."""

    def __init__(self, state: HubState, config: MonitoringConfig) -> None:
        self.state = state
        self.config = config
        self.series_store = TimeSeriesStore(state.store.engine)
        self.registry = WorldRegistry(state.world)
        self.engine = AlarmEngine(config.alarms)
        self.ingest = DbRunner()
        """Database thread of the ingest path (console requests keep the hub's own)."""
        self.last_event_at: datetime | None = None
        self._quarantine: list[QuarantinedPacket] = []
        self._jobs = [
            PeriodicJob("hj212-tick", config.tick_interval, self.tick),
            PeriodicJob(
                "hj212-quarantine", config.quarantine_flush_interval, self.flush_quarantine
            ),
            PeriodicJob("hj212-upkeep", config.upkeep_interval, self.upkeep),
        ]
        self._emits: set[asyncio.Task[None]] = set()
        self._alarm_lock = asyncio.Lock()
        self._quarantine_lock = asyncio.Lock()
        receiver_config = replace(
            config.receiver or ReceiverConfig(), host=config.host, port=config.port
        )
        self.receiver: StationFrontEnd
        if config.workers:
            self.receiver = IngestWorkerPool(
                receiver_config,
                state.config.db_url,
                config.workers,
                self.registry.stations,
                deliver=self.deliver,
                quarantine=self.quarantine,
                on_clock_drift=self._on_clock_drift,
            )
        else:
            self.receiver = StationReceiver(
                self.registry,
                self,
                self,
                receiver_config,
                on_clock_drift=self._on_clock_drift,
            )

    @classmethod
    async def start(cls, state: HubState, config: MonitoringConfig) -> MonitoringService:
        service = cls(state, config)
        for topic in ADMIN_TOPICS:
            state.topic_roles[topic] = frozenset({Role.ADMIN})
        try:
            await service._restore_quota()
            await service._restore_alarms()
            service.engine.watch(service.registry.stations.values())
            await service.receiver.start()
        except BaseException:
            service.ingest.shutdown()
            raise
        for job in service._jobs:
            job.start()
        log.info("HJ 212 receiver on %s:%d", config.host, service.port)
        if SPEEDUPS is None:
            log.warning(
                "HJ 212 codec without its C speed-ups (not built: no C compiler at install); "
                "decoding takes three to five times the CPU"
            )
        return service

    @property
    def port(self) -> int:
        return self.receiver.port

    def use_world(self, world: World) -> None:
        """The hub reloaded its world: stations, passwords and permit limits as now stored."""
        self.registry.reload(world)
        self.receiver.use_stations(self.registry.stations)
        self._emit_soon(self.engine.forget(self.registry.stations.keys()))
        self.engine.watch(self.registry.stations.values())

    async def stop(self) -> None:
        """Stop the receiver (delivering what it holds), the periodic jobs and the db thread."""
        await self.receiver.close()
        for job in self._jobs:
            await job.stop()
        await asyncio.gather(*self._emits, return_exceptions=True)
        await self.flush_quarantine()
        self.ingest.shutdown()

    # -- PacketSink / QuarantineSink -----------------------------------------------------------

    async def accept(self, batch: list[ReceivedPacket]) -> None:
        """Store the batch, then publish it and judge it (the receiver replies 9014 after)."""
        await self.ingest.run(self.series_store.insert_packets, batch)
        await self.deliver([item.reading() for item in batch])

    async def deliver(self, batch: list[Reading]) -> None:
        """Publish and judge a stored batch (ingest workers store theirs themselves)."""
        by_district: dict[str, list[dict[str, Any]]] = {}
        for item in batch:
            adcode = item.station.district_adcode
            by_district.setdefault(adcode, []).append(item.to_event())
        bus = self.state.bus
        for adcode, items in by_district.items():
            bus.publish(DATA_TOPIC, {"district_adcode": adcode, "items": items}, adcode)
        self.last_event_at = datetime.now(UTC)
        events: list[AlarmEvent] = []
        for item in batch:
            events += self.engine.feed(item)
        await self._emit(events)

    def quarantine(self, item: QuarantinedPacket) -> None:
        """Announce to admins now; the row is written by the next flush (this must not block)."""
        self._quarantine.append(item)
        self.state.bus.publish(QUARANTINE_TOPIC, item.to_event())

    async def flush_quarantine(self) -> None:
        """Write what is waiting; returns only after any flush already under way has committed,
        so a listing that flushes first sees every item announced before it."""
        async with self._quarantine_lock:
            items, self._quarantine = self._quarantine, []
            if items:
                await self.ingest.run(self.series_store.add_quarantined, items)

    # -- alarms --------------------------------------------------------------------------------

    async def tick(self) -> None:
        """Heartbeats seen by the receiver keep stations online; then check for silence."""
        events: list[AlarmEvent] = []
        for mn, seen in list(self.receiver.last_seen.items()):
            station = self.registry.lookup(mn)
            if station is not None:
                events += self.engine.heartbeat(station, seen)
        events += self.engine.tick()
        await self._emit(events)

    def _on_clock_drift(self, drift: ClockDrift) -> None:
        self._emit_soon(self.engine.clock_drift(drift))

    def _emit_soon(self, events: list[AlarmEvent]) -> None:
        """:meth:`_emit` from code that cannot wait (stop() waits for it)."""
        if events:
            task = asyncio.get_running_loop().create_task(self._emit(events))
            self._emits.add(task)
            task.add_done_callback(self._emits.discard)

    async def _emit(self, events: Sequence[AlarmEvent]) -> None:
        """Persist, then publish: a console never sees an alarm the store does not have."""
        if not events:
            return
        async with self._alarm_lock:
            await self.ingest.run(self.series_store.save_alarm_events, list(events))
        for event in events:
            self.state.bus.publish(event.topic, event.to_dict(), event.alarm.district_adcode)

    # -- upkeep --------------------------------------------------------------------------------

    async def upkeep(self, now: datetime | None = None) -> dict[str, Any]:
        """Compute the last day's missing minute/hourly aggregates and apply the retention."""
        at = datetime.now(UTC) if now is None else now
        end = at.replace(minute=0, second=0, microsecond=0)
        start = end - timedelta(days=1)
        store, kinds = self.series_store, dict(self.registry.kinds)
        minute_rows = await self.ingest.run(
            lambda: store.fill_aggregates(
                kinds, "2051", start, end, period_seconds=self.config.minute_period_s
            )
        )
        hourly_rows = await self.ingest.run(
            lambda: store.fill_aggregates(kinds, "2061", start, end, period_seconds=HOUR)
        )
        purged = await self.ingest.run(store.purge, self.config.retention, at)
        return {"computed": {"2051": minute_rows, "2061": hourly_rows}, "purged": purged}

    async def _restore_alarms(self) -> None:
        """Alarms left open by the previous hub run are cleared by the rules, not raised twice."""
        open_alarms = await self.ingest.run(self.series_store.open_alarms)
        self.engine.restore(open_alarms)
        # Those of stations that left the register while the hub was down: nothing clears them.
        await self._emit(self.engine.forget(self.registry.stations.keys()))
        for alarm in open_alarms:
            if alarm.kind == "clock_drift" and alarm.mn in self.registry.stations:
                self.receiver.resume_drift(alarm.mn, alarm.started_at)

    async def _restore_quota(self) -> None:
        now = datetime.now(CHINA_TZ)
        store = self.series_store
        for outlet_id, code, used in await self.ingest.run(store.quota_usage, now.year):
            self.engine.set_quota_usage(outlet_id, code, now.year, used)
        month = await self.ingest.run(store.quota_usage_month, now.year, now.month)
        for outlet_id, code, used in month:
            self.engine.set_quota_usage(outlet_id, code, now.year, used, month=now.month)

    def status(self) -> dict[str, Any]:
        """Workers' figures are as of their last report (every second)."""
        pool = self.receiver if isinstance(self.receiver, IngestWorkerPool) else None
        pool_copies, restarts = (0, 0) if pool is None else (pool.copy_batches, pool.restarts)
        return {
            "port": self.port,
            "stations": len(self.registry.stations),
            "open_alarms": len(self.engine.open_alarms),
            "copy_batches": self.series_store.copy_batches + pool_copies,
            "receiver": self.receiver.stats.as_dict(),
            "workers": self.config.workers,
            "worker_restarts": restarts,
        }
