"""Simulated grid officers for the demo, the tests and the benchmark: real field-link clients.

Each officer is a websocket client of ``/ws/field`` speaking protocol version 1 exactly as
the field app does (docs/protocol.md, "Field link"): ``hello`` with its bearer token and the
highest ``task.assigned`` seq it has processed, a ``position`` every 5 simulated seconds,
``task.ack`` for every push, then the verification workflow with human delays: accept,
depart, travel to the site, ``arrive`` inside the geofence, a ``report`` with findings and
notes, and ``verify_confirmed`` or ``verify_unfounded``. Between tasks an officer patrols a
random walk inside its grid polygon, on foot or on an e-bike. Now and then the network drops
(the socket is aborted without a close frame) and the officer reconnects after a pause,
resuming with ``last_seq`` so the hub redelivers only what was not processed.

Every decision comes from a per-officer ``random.Random`` seeded from ``seed``, so a run is
reproducible up to network timing. Time can run faster than the wall clock (``speed``);
position timestamps stay real (the hub refuses fixes from the future), and at high speeds
a device still sends at most one fix per ``min_real_interval_s`` so it stays within the
hub's rate limit.

Tokens: the simulator has no enrolment screen. :func:`issue_tokens` writes tokens straight
into the database through ``FieldRepo`` (the same call as ``python -m console officer
token``), which is why ``simulate --officers`` needs ``--db`` pointing at the hub's database.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import random
import ssl
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from console.core.geo import Datum, convert
from console.core.model import DutyStatus, Officer, OfficerRole, World
from console.hub.field_protocol import CLOSE_UNAUTHORISED, FIELD_PATH
from console.store import Store
from console.store.field_repo import FieldRepo

__all__ = [
    "BackgroundRun",
    "OfficerSimConfig",
    "OfficerSimulator",
    "SimulatedOfficer",
    "field_url",
    "issue_tokens",
    "plan_officers",
]

log = logging.getLogger(__name__)

_M_PER_DEG_LAT = 111_320.0
CONFIRMED_FINDINGS = (
    "现场发现废水经雨水管排放，水体发黑有异味，已拍照取证并责令停止排放。",
    "废气处理设施未运行，车间无组织排放明显，已固定证据。",
    "企业私设暗管，排口采样送检，建议移交执法中队立案。",
)
UNFOUNDED_FINDINGS = (
    "现场核查未发现异常排放，企业生产及治污设施运行正常。",
    "举报点位为市政管网正常排水，与企业无关。",
    "异味来源为周边餐饮油烟，已告知属地街道处理。",
)
NOTES = ("已与企业负责人沟通。", "已调阅在线监控数据。", "周边群众反映情况已记录。")


@dataclass(frozen=True, slots=True)
class OfficerSimConfig:
    """Behaviour of the simulated officers; times are simulated seconds unless named real."""

    field_url: str
    """``ws(s)://host:port/ws/field`` (see :func:`field_url`)."""
    officers: int = 10
    seed: int = 0
    speed: float = 1.0
    """Simulated seconds per real second."""
    seconds: float | None = None
    """Real run time; None runs until cancelled."""
    position_interval_s: float = 5.0
    min_real_interval_s: float = 0.1
    walk_mps: tuple[float, float] = (1.0, 1.6)
    ebike_mps: tuple[float, float] = (4.0, 6.5)
    ebike_share: float = 0.6
    gcj02_share: float = 0.3
    """Share of devices reporting GCJ-02 (phones using a Chinese map SDK)."""
    accept_delay_s: tuple[float, float] = (20.0, 120.0)
    depart_delay_s: tuple[float, float] = (30.0, 180.0)
    on_site_s: tuple[float, float] = (300.0, 1200.0)
    confirmed_share: float = 0.4
    arrive_within_m: float = 60.0
    """Distance to the site at which the officer reports arrival (inside the 300 m geofence)."""
    drops_per_hour: float = 1.0
    """Network drops per simulated hour per officer."""
    reconnect_delay_s: tuple[float, float] = (5.0, 60.0)
    connect_retry_s: float = 1.0
    """Real seconds between attempts while the hub is unreachable."""
    ssl_context: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        if self.officers < 1:
            raise ValueError(f"officers must be at least 1, got {self.officers}")
        if not self.speed > 0:
            raise ValueError(f"speed must be positive, got {self.speed}")
        if self.seconds is not None and not self.seconds > 0:
            raise ValueError(f"seconds must be positive, got {self.seconds}")
        if not self.position_interval_s > 0 or self.min_real_interval_s < 0:
            raise ValueError("position_interval_s must be positive, min_real_interval_s >= 0")
        scheme = urlsplit(self.field_url).scheme
        if scheme not in ("ws", "wss"):
            raise ValueError(f"field_url must be ws:// or wss://, got {self.field_url!r}")


def field_url(hub_url: str) -> str:
    """The field-link URL of a hub given as ``ws://host:port`` or its console URL."""
    parts = urlsplit(hub_url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise ValueError(f"hub URL must look like ws://host:port, got {hub_url!r}")
    return urlunsplit(parts._replace(path=FIELD_PATH, query="", fragment=""))


def plan_officers(world: World, count: int, seed: int) -> list[tuple[Officer, BaseGeometry]]:
    """On-duty grid officers with a grid, chosen deterministically by ``seed``."""
    grids = {g.id: g.geometry for g in world.grids}
    candidates = sorted(
        (
            o
            for o in world.officers
            if o.role is OfficerRole.GRID_OFFICER
            and o.duty is DutyStatus.ON_DUTY
            and o.grid_id in grids
        ),
        key=lambda o: o.id,
    )
    if count > len(candidates):
        raise ValueError(
            f"the world has {len(candidates)} on-duty grid officers, {count} requested"
        )
    random.Random(seed).shuffle(candidates)
    chosen = sorted(candidates[:count], key=lambda o: o.id)
    return [(o, grids[str(o.grid_id)]) for o in chosen]


def issue_tokens(db_url: str, officer_ids: Sequence[str], ttl_days: float = 1.0) -> dict[str, str]:
    """A fresh bearer token per officer, written directly into the hub's database."""
    store = Store.open(db_url)
    try:
        repo = FieldRepo(store.engine)
        now = datetime.now(UTC)
        return {
            officer_id: repo.issue_token(officer_id, now, timedelta(days=ttl_days)).token
            for officer_id in officer_ids
        }
    finally:
        store.close()


class Stage(Enum):
    """Where an officer is with the current task."""

    RECEIVED = "received"
    ACCEPTED = "accepted"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    REPORTED = "reported"
    DONE = "done"


@dataclass(slots=True)
class _Task:
    id: str
    lon: float | None
    lat: float | None
    stage: Stage = Stage.RECEIVED
    due: float = 0.0  # simulated time of the next step
    pending: str | None = None  # msg_id waiting for an answer
    resent: bool = False  # pending when the connection dropped: the hub may have applied it
    failures: int = 0
    confirmed: bool = False
    findings: str = ""


@dataclass(slots=True)
class _Stats:
    positions: int = 0
    acks: int = 0
    connects: int = 0
    drops: int = 0
    resumed: int = 0
    tasks: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    reports: int = 0
    verified: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    refused: int = 0


class SimulatedOfficer:
    """One officer's device: connection loop, movement, and the task workflow."""

    def __init__(
        self,
        officer: Officer,
        grid: BaseGeometry,
        token: str,
        config: OfficerSimConfig,
        rng: random.Random,
        stats: _Stats,
        sim_now: Callable[[], float],
    ) -> None:
        self.officer = officer
        self.grid = grid
        self.token = token
        self.config = config
        self.rng = rng
        self.stats = stats
        self.sim_now = sim_now
        self.ebike = rng.random() < config.ebike_share
        low, high = config.ebike_mps if self.ebike else config.walk_mps
        self.speed_mps = rng.uniform(low, high)
        self.datum = Datum.GCJ02 if rng.random() < config.gcj02_share else Datum.WGS84
        self.lon, self.lat = self._random_point()
        self.target: tuple[float, float] = self._random_point()
        self.heading = 0.0
        self.battery = rng.uniform(60.0, 100.0)
        self.last_seq = 0
        self.seen_outbox: set[int] = set()
        self.tasks: dict[str, _Task] = {}
        self.done_tasks: list[str] = []
        self.online = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._msg_ids = itertools.count(1)
        self._drop_now = asyncio.Event()
        self._moved_at = 0.0

    # -- public ---------------------------------------------------------------------------

    def drop(self) -> None:
        """Lose the network now: abort the socket without a close frame, reconnect later."""
        self._drop_now.set()

    async def run(self) -> None:
        """Connect, live, and reconnect after drops until cancelled or refused."""
        cfg = self.config
        while True:
            try:
                ws = await connect(cfg.field_url, ssl=cfg.ssl_context, open_timeout=10)
            except (OSError, TimeoutError):
                await asyncio.sleep(cfg.connect_retry_s)
                continue
            try:
                if not await self._hello(ws):
                    return
                await self._live(ws)
            except ConnectionClosed:
                pass
            finally:
                self.online.clear()
                self._ws = None
                ws.transport.abort()
            self.stats.drops += 1
            pause = self.rng.uniform(*cfg.reconnect_delay_s) / cfg.speed
            await asyncio.sleep(pause)

    # -- connection -----------------------------------------------------------------------

    async def _hello(self, ws: ClientConnection) -> bool:
        await ws.send(
            json.dumps(
                {
                    "type": "hello",
                    "token": self.token,
                    "device": {
                        "id": f"sim-{self.officer.id}",
                        "model": "simulator",
                        "app_version": "sim-1",
                    },
                    "last_seq": self.last_seq,
                }
            )
        )
        try:
            welcome = json.loads(await ws.recv())
        except ConnectionClosed:
            if ws.close_code == CLOSE_UNAUTHORISED:
                self.stats.refused += 1
                log.error("hub refused %s: %s", self.officer.id, ws.close_reason)
                return False
            raise
        if welcome.get("type") != "welcome":
            raise ValueError(f"expected welcome from the hub, got {welcome.get('type')!r}")
        self.stats.connects += 1
        if self.last_seq:
            self.stats.resumed += 1
        for task in self.tasks.values():  # answers lost with the old connection
            if task.pending is not None:
                task.pending, task.resent = None, True
        self._ws = ws
        self.online.set()
        return True

    async def _live(self, ws: ClientConnection) -> None:
        cfg = self.config
        reader = asyncio.create_task(self._read(ws))
        interval = max(cfg.position_interval_s / cfg.speed, cfg.min_real_interval_s)
        drop_chance = cfg.drops_per_hour * interval * cfg.speed / 3600.0
        try:
            while not reader.done():
                self._move()
                await self._send(self._position())
                self.stats.positions += 1
                await self._advance_tasks()
                if self.rng.random() < drop_chance:
                    return
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(interval):
                        await self._drop_now.wait()
                if self._drop_now.is_set():
                    self._drop_now.clear()
                    return
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await reader

    async def _send(self, message: dict[str, Any]) -> None:
        if self._ws is None:
            raise RuntimeError("not connected")  # only called while connected
        await self._ws.send(json.dumps(message, ensure_ascii=False))

    async def _read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "task.assigned":
                await self._assigned(message)
            elif kind == "task.cancelled":
                await self._cancelled(message)
            elif kind in ("task.status.ok", "report.ok"):
                self._answered(str(message.get("ref")), ok=True, message=message)
            elif kind == "error":
                self.stats.errors[str(message.get("code"))] += 1
                self._answered(str(message.get("ref")), ok=False, message=message)

    # -- pushes ---------------------------------------------------------------------------

    async def _assigned(self, message: dict[str, Any]) -> None:
        seq = int(message["seq"])
        await self._send({"type": "task.ack", "seq": seq})
        self.stats.acks += 1
        self.last_seq = max(self.last_seq, seq)
        outbox_id = int(message["outbox_id"])
        if outbox_id in self.seen_outbox:  # at-least-once: a redelivery
            return
        self.seen_outbox.add(outbox_id)
        task = message["task"]
        self.stats.tasks += 1
        self.tasks[str(task["id"])] = _Task(
            id=str(task["id"]),
            lon=task.get("lon"),
            lat=task.get("lat"),
            due=self.sim_now() + self.rng.uniform(*self.config.accept_delay_s),
        )

    async def _cancelled(self, message: dict[str, Any]) -> None:
        seq = int(message["seq"])
        await self._send({"type": "task.ack", "seq": seq})
        self.stats.acks += 1
        self.last_seq = max(self.last_seq, seq)
        self.tasks.pop(str(message["task"]["id"]), None)

    def _answered(self, ref: str, *, ok: bool, message: dict[str, Any]) -> None:
        task = next((t for t in self.tasks.values() if t.pending == ref), None)
        if task is None:
            return
        task.pending = None
        if not ok and task.resent and message.get("code") == "illegal_transition":
            ok = True  # the step was applied before the drop; its answer was lost
        task.resent = False
        if not ok:
            task.failures += 1
            code = message.get("code")
            if code in ("illegal_transition", "unknown_task", "forbidden") and task.failures > 3:
                log.warning("%s gives up task %s: %s", self.officer.id, task.id, message)
                self.tasks.pop(task.id, None)
            return
        task.failures = 0
        now = self.sim_now()
        rng = self.rng
        if task.stage is Stage.RECEIVED:
            task.stage, task.due = Stage.ACCEPTED, now + rng.uniform(*self.config.depart_delay_s)
        elif task.stage is Stage.ACCEPTED:
            task.stage = Stage.EN_ROUTE
        elif task.stage is Stage.EN_ROUTE:
            task.stage, task.due = Stage.ON_SITE, now + rng.uniform(*self.config.on_site_s)
        elif task.stage is Stage.ON_SITE:
            task.stage = Stage.REPORTED
        elif task.stage is Stage.REPORTED:
            task.stage = Stage.DONE
            self.stats.verified += 1
            self.tasks.pop(task.id, None)
            self.done_tasks.append(task.id)
            self.target = self._random_point()

    # -- the workflow -------------------------------------------------------------------

    def _current(self) -> _Task | None:
        return next(iter(self.tasks.values()), None)

    async def _advance_tasks(self) -> None:
        task = self._current()
        if task is None or task.pending is not None or self.sim_now() < task.due:
            return
        if task.stage is Stage.RECEIVED:
            await self._status(task, "accept")
        elif task.stage is Stage.ACCEPTED:
            await self._status(task, "depart")
        elif task.stage is Stage.EN_ROUTE:
            if (
                task.lon is None
                or task.lat is None
                or self._distance_to(task.lon, task.lat) <= (self.config.arrive_within_m)
            ):
                await self._status(task, "arrive", with_position=True)
        elif task.stage is Stage.ON_SITE:
            if not task.findings:
                task.confirmed = self.rng.random() < self.config.confirmed_share
                pool = CONFIRMED_FINDINGS if task.confirmed else UNFOUNDED_FINDINGS
                task.findings = self.rng.choice(pool)
            task.pending = self._msg_id()
            await self._send(
                {
                    "type": "report",
                    "task_id": task.id,
                    "findings": task.findings,
                    "notes": self.rng.choice(NOTES),
                    "attachment_ids": [],
                    "msg_id": task.pending,
                }
            )
            self.stats.reports += 1
        elif task.stage is Stage.REPORTED:
            action = "verify_confirmed" if task.confirmed else "verify_unfounded"
            await self._status(task, action, findings=task.findings)

    async def _status(
        self, task: _Task, action: str, *, with_position: bool = False, findings: str = ""
    ) -> None:
        task.pending = self._msg_id()
        message: dict[str, Any] = {
            "type": "task.status",
            "task_id": task.id,
            "action": action,
            "msg_id": task.pending,
        }
        if with_position:
            lon, lat = self._reported_lonlat()
            message.update(lon=lon, lat=lat, accuracy=8.0, datum=self.datum.value)
        if findings:
            message["findings"] = findings
        await self._send(message)
        self.stats.statuses[action] += 1

    def _msg_id(self) -> str:
        return f"{self.officer.id}-{next(self._msg_ids)}"

    # -- movement -------------------------------------------------------------------------

    def _move(self) -> None:
        """Advance along the route for the simulated time since the last fix."""
        now = self.sim_now()
        elapsed = max(0.0, now - self._moved_at) if self._moved_at else 0.0
        self._moved_at = now
        task = self._current()
        site = (
            None if task is None or task.lon is None or task.lat is None else (task.lon, task.lat)
        )
        heading_to_site = task is not None and task.stage is Stage.EN_ROUTE and site is not None
        if task is not None and task.stage in (Stage.ON_SITE, Stage.REPORTED):
            return  # inspecting on site
        if heading_to_site and site is not None:
            target = site
            speed = max(self.speed_mps, self.config.ebike_mps[0])  # fetch the e-bike for tasks
        else:
            target = self.target
            speed = self.speed_mps
        step = speed * elapsed
        remaining = self._distance_to(*target)
        if remaining <= step:
            self.lon, self.lat = target
            if not heading_to_site:
                self.target = self._random_point()
        elif remaining > 0:
            frac = step / remaining
            self.lon += (target[0] - self.lon) * frac
            self.lat += (target[1] - self.lat) * frac
        dx, dy = self._metres(target[0], target[1])
        if dx or dy:
            self.heading = (math.degrees(math.atan2(dx, dy)) + 360.0) % 360.0
        self.battery = max(5.0, self.battery - elapsed * 0.0005)

    def _metres(self, lon: float, lat: float) -> tuple[float, float]:
        dx = (lon - self.lon) * _M_PER_DEG_LAT * math.cos(math.radians(self.lat))
        dy = (lat - self.lat) * _M_PER_DEG_LAT
        return dx, dy

    def _distance_to(self, lon: float, lat: float) -> float:
        return math.hypot(*self._metres(lon, lat))

    def _random_point(self) -> tuple[float, float]:
        west, south, east, north = self.grid.bounds
        for _ in range(1000):
            lon, lat = self.rng.uniform(west, east), self.rng.uniform(south, north)
            if self.grid.contains(Point(lon, lat)):
                return lon, lat
        point = self.grid.representative_point()
        return float(point.x), float(point.y)

    def _reported_lonlat(self) -> tuple[float, float]:
        """The position as the device reports it: jitter of a few metres, in its datum."""
        jitter = 5.0 / _M_PER_DEG_LAT
        lon = self.lon + self.rng.uniform(-jitter, jitter)
        lat = self.lat + self.rng.uniform(-jitter, jitter)
        if self.datum is Datum.WGS84:
            return lon, lat
        out_lon, out_lat = convert(lon, lat, Datum.WGS84, self.datum)
        return float(out_lon), float(out_lat)

    def _position(self) -> dict[str, Any]:
        lon, lat = self._reported_lonlat()
        task = self._current()
        moving = task is None or task.stage not in (Stage.ON_SITE, Stage.REPORTED)
        return {
            "type": "position",
            "lat": round(lat, 7),
            "lon": round(lon, 7),
            "accuracy": round(self.rng.uniform(4.0, 15.0), 1),
            "speed": round(self.speed_mps if moving else 0.0, 2),
            "heading": round(self.heading, 1),
            "battery": round(self.battery, 1),
            "ts": int(datetime.now(UTC).timestamp() * 1000),
            "datum": self.datum.value,
        }


class OfficerSimulator:
    """Runs the planned officers against a hub's field link; :meth:`run` returns the report."""

    def __init__(self, world: World, tokens: dict[str, str], config: OfficerSimConfig) -> None:
        self.config = config
        self.stats = _Stats()
        self._loop_start: float | None = None
        planned = plan_officers(world, config.officers, config.seed)
        missing = [o.id for o, _grid in planned if o.id not in tokens]
        if missing:
            raise ValueError(f"no token for officers {', '.join(missing)}")
        self.officers = {
            officer.id: SimulatedOfficer(
                officer,
                grid,
                tokens[officer.id],
                config,
                random.Random(f"{config.seed}:{officer.id}"),
                self.stats,
                self.sim_now,
            )
            for officer, grid in planned
        }

    def sim_now(self) -> float:
        """Simulated seconds since :meth:`run` started."""
        if self._loop_start is None:
            return 0.0
        return (asyncio.get_running_loop().time() - self._loop_start) * self.config.speed

    def plan(self) -> dict[str, Any]:
        return {
            "seed": self.config.seed,
            "speed": self.config.speed,
            "field_url": self.config.field_url,
            "officers": [
                {
                    "officer_id": sim.officer.id,
                    "grid_id": sim.officer.grid_id,
                    "district_adcode": sim.officer.district_adcode,
                    "mode": "ebike" if sim.ebike else "walk",
                    "datum": sim.datum.value,
                }
                for sim in self.officers.values()
            ],
        }

    def report(self) -> dict[str, Any]:
        stats = self.stats
        return {
            "positions": stats.positions,
            "connects": stats.connects,
            "drops": stats.drops,
            "resumed_with_last_seq": stats.resumed,
            "tasks_received": stats.tasks,
            "acks": stats.acks,
            "statuses": dict(stats.statuses),
            "reports": stats.reports,
            "verified": stats.verified,
            "errors": dict(stats.errors),
            "refused": stats.refused,
        }

    def drop(self, officer_id: str) -> None:
        """Force a network drop of one officer (it reconnects after its usual pause)."""
        self.officers[officer_id].drop()

    async def run(self) -> dict[str, Any]:
        """Run every officer for ``seconds`` (or until cancelled); return :meth:`report`."""
        self._loop_start = asyncio.get_running_loop().time()
        tasks = [asyncio.create_task(sim.run()) for sim in self.officers.values()]
        try:
            if self.config.seconds is None:
                await asyncio.gather(*tasks)
            else:
                await asyncio.wait(tasks, timeout=self.config.seconds)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return self.report()


class BackgroundRun:
    """Runs coroutines on their own thread and event loop, beside a GUI (``demo``).

    ``run = BackgroundRun([sim.run, ...]); run.start()`` … ``run.stop()``.
    """

    def __init__(self, jobs: Sequence[Callable[[], Awaitable[object]]]) -> None:
        self._jobs = list(jobs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._run, name="simulators", daemon=True)
        self._thread.start()
        self._ready.wait(10.0)

    def stop(self, timeout: float = 10.0) -> None:
        loop, main, thread = self._loop, self._main, self._thread
        if thread is None:
            return
        if loop is not None and main is not None and not loop.is_closed():
            loop.call_soon_threadsafe(main.cancel)
        thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        async def everything() -> None:
            self._main = asyncio.current_task()
            self._loop = asyncio.get_running_loop()
            self._ready.set()
            results = await asyncio.gather(*(job() for job in self._jobs), return_exceptions=True)
            for result in results:
                if isinstance(result, Exception):
                    log.error("simulator failed: %s", result)

        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(everything())
        self._ready.set()
