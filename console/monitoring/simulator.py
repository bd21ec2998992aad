"""Simulated HJ 212-2017 stations for the demo and the tests: TCP clients of the receiver.

Each station is one outlet of the demo world and sends real-time (2011), minute (2051) and
hourly (2061) packets built with the codec's encoder, with Flag bit A set: it waits for the
hub's 9014 reply and sends again after ``reply_timeout`` up to ``retries`` times (the
standard's 10 s and 3). Values follow a diurnal pattern with noise, occasional exceedance
bursts, instrument flags and outages (the station disconnects and its data for that time is
lost). Some enterprises, chosen deterministically by the seed, falsify their data in one of
the patterns the authenticity scoring looks for (:data:`PATTERNS`); :meth:`Simulator.plan`
lists them so the scoring can be checked against the truth.

Time can run faster than the wall clock (``speed``): DataTime is simulated time, while QN is
the real send time, as a logger stamps a request, so the receiver's clock-drift check stays
quiet. With a duration, the simulated period ends now (the demo fills the recent past).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from console.core.model import OutletKind, World
from console.monitoring.aggregate import FLOW_CODES, aggregate_flag
from console.monitoring.hj212 import FrameScanner, HJ212Error, decode, encode_packet
from console.monitoring.receiver import (
    CHINA_TZ,
    StationInfo,
    format_hj212_time,
    stations_from_world,
)

__all__ = [
    "PATTERNS",
    "Pattern",
    "SimulatedStation",
    "Simulator",
    "SimulatorConfig",
    "plan_stations",
]

Pattern = Literal["flat_line", "zeros_with_flow", "hug_limit", "air_o2"]
PATTERNS: tuple[Pattern, ...] = ("air_o2", "flat_line", "zeros_with_flow", "hug_limit")
"""Falsification patterns: a flat line, zeros while the flow shows the plant running, values
hugging just under the limit, and flue-gas O₂ near air (20.9 %) while "running"."""

O2_CODE = "a19001"
TEMPERATURE_CODE = "a01012"
_REFERENCE_O2 = 6.0  # % O₂ the Zs values are converted to (coal boilers, GB 13223)


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    host: str = "127.0.0.1"
    port: int = 9212
    stations: int = 20
    seed: int = 0
    speed: float = 1.0
    """Simulated seconds per real second."""
    seconds: float | None = None
    """Real run time; None runs until cancelled."""
    start: datetime | None = None
    """Simulated start; default: so that the simulated period ends now."""
    falsifiers: int | None = None
    """Enterprises that falsify; default about 12 % of them, at least one per pattern if
    there are twice as many enterprises as patterns."""
    rtd_interval: int = 30
    min_interval: int = 600
    reply_timeout: float = 10.0
    retries: int = 3
    exceedance_rate: float = 0.01
    """Chance per real-time value that an exceedance burst starts."""
    flag_rate: float = 0.003
    """Chance per real-time packet that an instrument flag period starts."""
    outage_rate: float = 0.05
    """Outages per simulated hour."""
    connect_retry: float = 1.0
    stop_grace: float = 5.0
    """At the end of ``seconds``, how long stations wait for the replies still pending (no
    new packets, no resends); a packet whose reply does not come in time counts as unacked."""

    def __post_init__(self) -> None:
        if self.stations < 1:
            raise ValueError(f"stations must be at least 1, got {self.stations}")
        if not self.speed > 0:
            raise ValueError(f"speed must be positive, got {self.speed}")
        if self.seconds is not None and not self.seconds > 0:
            raise ValueError(f"seconds must be positive, got {self.seconds}")
        if self.rtd_interval < 1 or self.min_interval % self.rtd_interval:
            raise ValueError("min_interval must be a positive multiple of rtd_interval")
        if 3600 % self.min_interval:
            raise ValueError("min_interval must divide an hour")
        if self.reply_timeout <= 0 or self.retries < 0:
            raise ValueError("reply_timeout must be positive and retries >= 0")
        if self.stop_grace < 0:
            raise ValueError(f"stop_grace must be >= 0, got {self.stop_grace}")


@dataclass(frozen=True, slots=True)
class SimulatedStation:
    station: StationInfo
    pattern: Pattern | None
    seed: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "mn": self.station.mn,
            "enterprise_id": self.station.enterprise_id,
            "outlet_id": self.station.outlet_id,
            "kind": self.station.kind.value,
            "pattern": self.pattern,
        }


def plan_stations(world: World, config: SimulatorConfig) -> list[SimulatedStation]:
    """Choose the stations and the falsifying enterprises, deterministically by seed.

    Outlets are shuffled by the seed and taken alternately water and gas while both last, so
    a small demo still has flue-gas stations.
    """
    rng = random.Random(config.seed)
    stations = sorted(stations_from_world(world).values(), key=lambda s: s.mn)
    if config.stations > len(stations):
        raise ValueError(f"the world has {len(stations)} outlets, {config.stations} requested")
    rng.shuffle(stations)
    pools = {kind: [s for s in stations if s.kind is kind] for kind in OutletKind}
    chosen: list[StationInfo] = []
    turn = 0
    while len(chosen) < config.stations:
        kind = (OutletKind.WATER, OutletKind.GAS)[turn % 2]
        turn += 1
        if pools[kind]:
            chosen.append(pools[kind].pop(0))
        elif not pools[OutletKind.WATER] and not pools[OutletKind.GAS]:
            break
    enterprises = sorted({s.enterprise_id for s in chosen})
    with_gas = {s.enterprise_id for s in chosen if s.kind is OutletKind.GAS}
    count = config.falsifiers
    if count is None:
        count = max(round(0.12 * len(enterprises)), min(len(PATTERNS), len(enterprises) // 2))
    candidates = enterprises[:]
    rng.shuffle(candidates)
    patterns: dict[str, Pattern] = {}
    slot = 0
    while len(patterns) < min(count, len(enterprises)):
        pattern = PATTERNS[slot % len(PATTERNS)]
        slot += 1
        pick = next(
            (e for e in candidates if e not in patterns and (pattern != "air_o2" or e in with_gas)),
            None,
        )
        if pick is not None:
            patterns[pick] = pattern
    return [
        SimulatedStation(s, patterns.get(s.enterprise_id), rng.randrange(2**31))
        for s in sorted(chosen, key=lambda s: s.mn)
    ]


@dataclass(slots=True)
class _Stats:
    sent: Counter[str] = field(default_factory=Counter)
    acked: int = 0
    resent: int = 0
    unacked: int = 0
    outages: int = 0
    connects: int = 0


class _Values:
    """The measured values of one station: diurnal level, noise, bursts, flags, falsification."""

    def __init__(self, sim: SimulatedStation, config: SimulatorConfig) -> None:
        self.sim = sim
        self.config = config
        self.rng = random.Random(sim.seed)
        station = sim.station
        self.kind = station.kind
        self.flow_code = FLOW_CODES[station.kind]
        self.levels = {lim.code: self.rng.uniform(0.3, 0.6) for lim in station.limits}
        self.flow_base = (
            self.rng.uniform(5, 60) if self.kind is OutletKind.WATER else self.rng.uniform(10, 80)
        )
        self.burst: dict[str, int] = {}
        self.flag: tuple[str, str, int] | None = None  # code, flag, values left

    def sample(self, at: datetime) -> dict[str, dict[str, Any]]:
        """One real-time packet's values (HJ 212 suffix -> value) at simulated time ``at``."""
        rng = self.rng
        pattern = self.sim.pattern
        hour = at.astimezone(CHINA_TZ).hour + at.minute / 60
        diurnal = 1.0 + 0.3 * math.sin(2 * math.pi * (hour - 8) / 24)
        values: dict[str, dict[str, Any]] = {}
        flow = self.flow_base * diurnal * rng.gauss(1.0, 0.05)
        o2 = rng.uniform(20.3, 20.9) if pattern == "air_o2" else rng.gauss(9.5, 0.6)
        if self.flag is None and rng.random() < self.config.flag_rate and self.levels:
            code = rng.choice(sorted(self.levels))
            self.flag = (code, rng.choice("CMDT"), rng.randint(2, 10))
        # Flue gas is judged on its O2-converted value (Zs): levels, bursts and hugging are
        # drawn for that value and the measured one derived, so an honest stack exceeds only
        # in a burst and a hugging one stays under the limit where it is judged.
        to_zs = (21 - _REFERENCE_O2) / (21 - min(o2, 19.0))
        for limit in self.sim.station.limits:
            code = limit.code
            converted = (
                self.kind is OutletKind.GAS and limit.lower_limit is None and pattern != "air_o2"
            )
            judged = 1.0 / to_zs if converted else 1.0  # judged value -> measured value
            if limit.lower_limit is not None:  # pH: around neutral, bursts leave the range
                value = rng.gauss(7.3, 0.15)
                if self._bursting(code):
                    value = limit.limit + rng.uniform(0.3, 1.0)
            elif pattern == "flat_line":
                value = round(limit.limit * 0.45, 2)  # the forged channel is the measured one
            elif pattern == "zeros_with_flow":
                value = 0.0
            elif pattern == "hug_limit":
                value = limit.limit * rng.uniform(0.92, 0.99) * judged
            else:
                level = self.levels[code] * diurnal * max(rng.gauss(1.0, 0.08), 0.1)
                value = limit.limit * level * judged
                if pattern == "air_o2":
                    value *= 0.3  # diluted with air
                elif self._bursting(code):
                    value = limit.limit * rng.uniform(1.1, 1.6) * judged
            flag = "N"
            if self.flag is not None and self.flag[0] == code:
                flag = self.flag[1]
                if flag == "T":
                    value = limit.limit * 2.0  # pinned at the top of the measuring range
            fields: dict[str, Any] = {"Rtd": round(value, 3)}
            if converted:
                fields["ZsRtd"] = round(value * to_zs, 3)
            fields["Flag"] = flag
            values[code] = fields
        if self.flag is not None:
            code, flag, left = self.flag
            self.flag = (code, flag, left - 1) if left > 1 else None
        values[self.flow_code] = {"Rtd": round(flow, 3), "Flag": "N"}
        if self.kind is OutletKind.GAS:
            values[O2_CODE] = {"Rtd": round(o2, 2), "Flag": "N"}
            values[TEMPERATURE_CODE] = {"Rtd": round(rng.gauss(120, 4), 1), "Flag": "N"}
        return values

    def _bursting(self, code: str) -> bool:
        left = self.burst.get(code, 0)
        if left == 0 and self.rng.random() < self.config.exceedance_rate:
            left = self.rng.randint(1, 8)
        if left:
            self.burst[code] = left - 1
            return True
        return False


def _summarise(
    samples: list[dict[str, dict[str, Any]]], kind: OutletKind, seconds: int, flow_code: str
) -> dict[str, dict[str, Any]]:
    """Min/Avg/Max/Cou/Flag of buffered real-time values, as a logger computes 2051/2061."""
    codes: dict[str, list[tuple[float, str]]] = {}
    for sample in samples:
        for code, sent in sample.items():
            codes.setdefault(code, []).append((sent["Rtd"], sent["Flag"]))
    flows = [value for value, _ in codes.get(flow_code, [])]
    mean_flow = sum(flows) / len(flows) if flows else 0.0
    result: dict[str, dict[str, Any]] = {}
    for code, rows in codes.items():
        values = [value for value, _ in rows]
        avg = sum(values) / len(values)
        fields: dict[str, Any] = {
            "Min": round(min(values), 3),
            "Avg": round(avg, 3),
            "Max": round(max(values), 3),
        }
        if code == flow_code:
            fields["Cou"] = round(avg * seconds * (1e-3 if kind is OutletKind.WATER else 1.0), 3)
        elif code not in (O2_CODE, TEMPERATURE_CODE, "w01001"):
            fields["Cou"] = round(avg * mean_flow * seconds * 1e-6, 6)  # kg
        fields["Flag"] = aggregate_flag([flag for _, flag in rows], kind)
        result[code] = fields
    return result


class Simulator:
    """Runs the planned stations against a receiver; :meth:`run` returns the report."""

    def __init__(self, world: World, config: SimulatorConfig) -> None:
        self.config = config
        self.stations = plan_stations(world, config)
        self.stats = _Stats()
        self._loop_start = 0.0
        self._sim_start = datetime.now(UTC)
        self._stopping = asyncio.Event()
        """Set when ``seconds`` are over: stations send nothing new and wait for replies."""

    def plan(self) -> dict[str, Any]:
        """Which stations run and which enterprises falsify with which pattern."""
        falsifiers: dict[str, dict[str, Any]] = {}
        for sim in self.stations:
            if sim.pattern is not None:
                entry = falsifiers.setdefault(
                    sim.station.enterprise_id,
                    {"enterprise_id": sim.station.enterprise_id, "pattern": sim.pattern},
                )
                entry.setdefault("outlets", []).append(sim.station.outlet_id)
        return {
            "seed": self.config.seed,
            "speed": self.config.speed,
            "stations": [sim.as_dict() for sim in self.stations],
            "falsifiers": sorted(falsifiers.values(), key=lambda f: f["enterprise_id"]),
        }

    def report(self) -> dict[str, Any]:
        return {
            "sent": dict(self.stats.sent),
            "acked": self.stats.acked,
            "resent": self.stats.resent,
            "unacked": self.stats.unacked,
            "outages": self.stats.outages,
            "connects": self.stats.connects,
        }

    async def run(self) -> dict[str, Any]:
        """Run every station for ``seconds`` (or until cancelled); return :meth:`report`.

        Every packet sent counts once, as acked or unacked: at the end the stations get up to
        ``stop_grace`` seconds for the replies still pending, then whatever is left is unacked.
        """
        cfg = self.config
        loop = asyncio.get_running_loop()
        now = datetime.now(UTC)
        if cfg.start is not None:
            self._sim_start = cfg.start
        elif cfg.seconds is not None:
            self._sim_start = now - timedelta(seconds=cfg.seconds * (cfg.speed - 1))
        else:
            self._sim_start = now
        self._loop_start = loop.time()
        self._stopping.clear()
        tasks = [asyncio.create_task(self._station(sim)) for sim in self.stations]
        try:
            if cfg.seconds is None:
                await asyncio.gather(*tasks)
            else:
                await asyncio.wait(tasks, timeout=cfg.seconds)
                self._stopping.set()
                await asyncio.wait(tasks, timeout=cfg.stop_grace)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return self.report()

    def _real_time(self, sim_time: datetime) -> float:
        """Loop time at which simulated ``sim_time`` is due."""
        offset = (sim_time - self._sim_start).total_seconds() / self.config.speed
        return self._loop_start + offset

    async def _station(self, sim: SimulatedStation) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        values = _Values(sim, cfg)
        rng = random.Random(sim.seed ^ 0x5EED)
        step = timedelta(seconds=cfg.rtd_interval)
        # First real-time slot at or after the start, aligned on the interval.
        epoch = int(self._sim_start.timestamp())
        at = datetime.fromtimestamp(epoch - epoch % cfg.rtd_interval + cfg.rtd_interval, UTC)
        minute_buf: list[dict[str, dict[str, Any]]] = []
        hour_buf: list[dict[str, dict[str, Any]]] = []
        outage_chance = cfg.outage_rate * cfg.rtd_interval / 3600
        link: _Link | None = None
        try:
            while True:
                delay = self._real_time(at) - loop.time()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await self._stopping.wait()
                if self._stopping.is_set():
                    return
                if rng.random() < outage_chance:
                    self.stats.outages += 1
                    if link is not None:
                        await link.close()
                        link = None
                    at += timedelta(minutes=rng.randint(5, 30))
                    minute_buf.clear()
                    hour_buf.clear()
                    continue
                if link is not None and link.broken:
                    await link.close()
                    link = None
                if link is None:
                    link = await self._connect()
                sample = values.sample(at)
                minute_buf.append(sample)
                hour_buf.append(sample)
                await self._send(link, sim, "2011", at, sample)
                nxt = at + step
                if int(nxt.timestamp()) % cfg.min_interval == 0 and minute_buf:
                    start = nxt - timedelta(seconds=cfg.min_interval)
                    summary = _summarise(
                        minute_buf, sim.station.kind, cfg.min_interval, values.flow_code
                    )
                    if self._stopping.is_set():
                        return
                    await self._send(link, sim, "2051", start, summary)
                    minute_buf.clear()
                if int(nxt.timestamp()) % 3600 == 0 and hour_buf:
                    start = nxt - timedelta(hours=1)
                    summary = _summarise(hour_buf, sim.station.kind, 3600, values.flow_code)
                    if self._stopping.is_set():
                        return
                    await self._send(link, sim, "2061", start, summary)
                    hour_buf.clear()
                at = nxt
        finally:
            if link is not None:
                await link.close()

    async def _connect(self) -> _Link:
        cfg = self.config
        while True:
            try:
                reader, writer = await asyncio.open_connection(cfg.host, cfg.port)
            except OSError:
                await asyncio.sleep(cfg.connect_retry)
                continue
            self.stats.connects += 1
            return _Link(reader, writer)

    async def _send(
        self,
        link: _Link,
        sim: SimulatedStation,
        cn: str,
        data_time: datetime,
        values: Mapping[str, Mapping[str, Any]],
    ) -> None:
        """Send with Flag bit A and wait for the 9014, resending as the standard says.

        Counted exactly once: acked when the reply comes, otherwise unacked, also when the
        wait is cut short (the simulator stopping, the task cancelled). No resend once stopping.
        """
        cfg = self.config
        station = sim.station
        qn = format_hj212_time(datetime.now(UTC), millis=True)
        qn = link.unique_qn(qn)
        frame = encode_packet(
            qn=qn,
            st="31" if station.kind is OutletKind.GAS else "32",
            cn=cn,
            pw=station.password,
            mn=station.mn,
            flag=5,
            data_time=format_hj212_time(data_time),
            values={code: dict(fields) for code, fields in values.items()},
            params={"MinInterval": cfg.min_interval // 60} if cn == "2051" else None,
        )
        reply = link.expect(qn)
        self.stats.sent[cn] += 1
        acked = False
        try:
            for attempt in range(cfg.retries + 1):
                if attempt:
                    if self._stopping.is_set():
                        break
                    self.stats.resent += 1
                try:
                    link.writer.write(frame)
                    await link.writer.drain()
                except ConnectionError:
                    link.failed = True
                    break
                try:
                    async with asyncio.timeout(cfg.reply_timeout):
                        await asyncio.shield(reply)
                except TimeoutError:
                    continue
                acked = True
                return
        finally:
            if acked:
                self.stats.acked += 1
            else:
                self.stats.unacked += 1
            link.forget(qn)


class _Link:
    """One station's TCP connection; a reader task matches 9014 replies to QNs."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._last_qn = ""
        self.failed = False
        self._task = asyncio.create_task(self._read())

    @property
    def broken(self) -> bool:
        """The hub closed the connection or a write failed: reconnect."""
        return self.failed or self._task.done()

    def unique_qn(self, qn: str) -> str:
        """QNs identify requests: bump the milliseconds when two fall in the same one."""
        if qn <= self._last_qn:
            qn = str(int(self._last_qn) + 1)
        self._last_qn = qn
        return qn

    def expect(self, qn: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[qn] = future
        return future

    def forget(self, qn: str) -> None:
        future = self._waiting.pop(qn, None)
        if future is not None and not future.done():
            future.cancel()

    async def _read(self) -> None:
        scanner = FrameScanner()
        with contextlib.suppress(ConnectionError):
            while chunk := await self.reader.read(4096):
                for frame in scanner.feed(chunk):
                    try:
                        packet = decode(frame)
                    except HJ212Error:
                        continue
                    future = self._waiting.get(packet.qn or "")
                    if packet.cn == "9014" and future is not None and not future.done():
                        future.set_result(None)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()
