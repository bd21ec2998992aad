"""State shared by every console connection of one hub: store, world, locator, bus, seats."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from console.core.complaints import DuplicateRule
from console.core.locate import Locator
from console.core.model import Role, User, World
from console.core.sla import SlaPolicy
from console.hub.events import EventBus
from console.hub.field_protocol import FieldLimits
from console.hub.scope import Scope
from console.store import Store

if TYPE_CHECKING:
    from console.hub.monitoring_service import MonitoringConfig, MonitoringService

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_PORT = 8765


@dataclass(frozen=True, slots=True)
class HubConfig:
    """Settings of one hub process; the defaults suit a centre, tests shrink the limits."""

    db_url: str
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    max_message_bytes: int = 1 << 20
    event_queue_limit: int = 10_000
    # Failed logins on one connection: answers slow down after ``login_free_failures``
    # (``login_delay_s`` doubling each time) and the connection is dropped after
    # ``login_max_failures``.
    login_free_failures: int = 3
    login_delay_s: float = 0.5
    login_max_failures: int = 10
    # Dispatch: task deadlines, when two complaints count as the same case, and how often
    # the SLA watcher looks for newly overdue tasks.
    sla: SlaPolicy = field(default_factory=SlaPolicy)
    duplicate_rule: DuplicateRule = field(default_factory=DuplicateRule)
    sla_check_interval_s: float = 15.0
    # Online monitoring (HJ 212 receiver on its own TCP port); None: off.
    monitoring: MonitoringConfig | None = None
    # Field link (/ws/field): protocol limits, and TLS for the whole port (wss://).
    field_limits: FieldLimits = field(default_factory=FieldLimits)
    tls: ssl.SSLContext | None = None
    # SHA-256 of the TLS certificate, shown at officer enrolment so phones can pin it.
    tls_fingerprint_sha256: str | None = None
    # How often the hub looks for a world written by another process (import-grids); 0: never.
    world_poll_s: float = 5.0


class PeriodicJob:
    """Runs ``job`` every ``seconds`` on the event loop from ``start()`` to ``await stop()``.

    A failed round is logged and the next one runs as planned: a busy database or a bad row
    must not end a watcher for the rest of the hub's life. ``immediately``: the first round
    runs at start instead of after the first interval.
    """

    def __init__(
        self,
        name: str,
        seconds: float,
        job: Callable[[], Awaitable[object]],
        *,
        immediately: bool = False,
    ) -> None:
        if not seconds > 0:
            raise ValueError(f"{name}: the interval must be positive, got {seconds}")
        self.name = name
        self.seconds = seconds
        self._job = job
        self._immediately = immediately
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError(f"{self.name} is already running")
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        if not self._immediately:
            await asyncio.sleep(self.seconds)
        while True:
            try:
                await self._job()
            except Exception:
                log.exception("%s failed; next round in %g s", self.name, self.seconds)
            await asyncio.sleep(self.seconds)


class DbRunner:
    """Runs blocking store calls on one dedicated thread, off the event loop.

    One thread keeps SQLite connections on the thread that made them and serialises
    writes, which is what SQLite wants anyway.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-db")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)


@dataclass(frozen=True, slots=True)
class Seat:
    """One logged-in console: the presence list of a multi-seat centre."""

    connection_id: int
    seat: str
    username: str
    display_name: str
    role: str
    org_id: str
    since: datetime

    def to_json(self) -> dict[str, str]:
        return {
            "seat": self.seat,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "org_id": self.org_id,
            "since": self.since.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user, the organisation's name, their scope and their seat."""

    user: User
    org_name: str
    scope: Scope
    seat: str


class ConnectionControl(Protocol):
    """What a method may change on the calling connection."""

    def set_topics(self, topics: frozenset[str]) -> None: ...


@dataclass(slots=True)
class HubState:
    config: HubConfig
    store: Store
    db: DbRunner
    world: World | None
    # Built in the background after the hub starts listening (seconds for a real city).
    locator_task: asyncio.Future[Locator] | None
    version: str
    world_revision: str | None = None
    """The stored world's revision this hub serves (see ``hub.world_watch``)."""
    bus: EventBus = field(default_factory=EventBus)
    seats: dict[int, Seat] = field(default_factory=dict)
    connections: int = 0
    started: float = field(default_factory=time.monotonic)
    snapshot_cache: dict[tuple[str, ...], bytes] = field(default_factory=dict)
    snapshot_locks: dict[tuple[str, ...], asyncio.Lock] = field(default_factory=dict)
    monitoring: MonitoringService | None = None
    # Topics only these roles may receive (e.g. monitoring.quarantine: admins).
    topic_roles: dict[str, frozenset[Role]] = field(default_factory=dict)

    async def locator(self) -> Locator | None:
        """The world's locator once built; None when the hub has no world."""
        return None if self.locator_task is None else await asyncio.shield(self.locator_task)

    @property
    def db_kind(self) -> str:
        return self.store.dialect

    def uptime_s(self) -> float:
        return round(time.monotonic() - self.started, 3)

    def seats_json(self) -> list[dict[str, str]]:
        return [seat.to_json() for seat in sorted(self.seats.values(), key=_seat_order)]


def _seat_order(seat: Seat) -> tuple[datetime, int]:
    return (seat.since, seat.connection_id)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class CallContext:
    """Passed to every method handler."""

    hub: HubState
    principal: Principal
    connection: ConnectionControl
