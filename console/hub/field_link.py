"""The field link: officers' phones on ``/ws/field`` (protocol in docs/protocol.md).

One :class:`FieldLink` per hub. It authenticates devices by bearer token, stores positions
in batches on its own writer thread (one transaction per flush, not per fix, and never on the
hub's database thread, so task pushes and acks do not queue behind them), tells consoles where
officers are (one ``officer.moved`` event per district and tick, ``officer.presence``), pushes
the officer's outbox (``task.assigned`` in seq order, at-least-once: an entry counts as done
only when the device acks it, so a hub killed mid-stream redelivers on reconnect), applies the
officer's task actions through the task state machine, and takes resumable, hash-checked
attachments that consoles fetch over ``GET /attachments/{id}`` with a short-lived signed URL.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import logging
import math
import os
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import msgspec
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse

from console.core.geo import Datum, Projector, convert, in_china_box
from console.core.model import Enterprise, Officer, World
from console.core.paths import data_dir
from console.core.tasks import (
    Action,
    Actor,
    ActorRole,
    Forbidden,
    IllegalTransition,
    InvalidPayload,
    TaskDraft,
    TaskError,
    TaskEvent,
    TaskState,
)
from console.hub.call_signalling import forget_relay, is_call_message, relay_for
from console.hub.dispatch_methods import OUTBOX_NEW, publish_task
from console.hub.events import Subscription
from console.hub.field_protocol import (
    CLOSE_HELLO_TIMEOUT,
    CLOSE_RATE_LIMITED,
    CLOSE_UNAUTHORISED,
    FIELD_PROTOCOL_VERSION,
    DeviceMessage,
    FieldErrorCode,
    FieldLimits,
    FieldProtocolError,
    Hello,
    Pong,
    Position,
    Report,
    TaskAck,
    TaskStatus,
    UploadBegin,
    UploadChunk,
    UploadEnd,
    decode_device_message,
    decode_known,
    encode,
)
from console.hub.files import append_chunk, sha256_of
from console.hub.protocol import ErrorCode
from console.hub.registry import MethodError, method
from console.hub.state import CallContext, HubState, utc_now
from console.store.dispatch_repo import (
    DispatchRepo,
    OutboxDraft,
    OutboxRepo,
    StaleTask,
    TaskRecord,
)
from console.store.field_repo import Attachment, FieldRepo, Fix

log = logging.getLogger(__name__)

ATTACHMENTS_PREFIX = "/attachments/"
OFFICER_MOVED = "officer.moved"
OFFICER_PRESENCE = "officer.presence"
OUTBOX_DELIVERED = "outbox.delivered"
OUTBOX_ACKED = "outbox.acked"
ATTACHMENT_ADDED = "attachment.added"
TASK_UPDATED = "task.updated"
REPORT_NOTE = "report"
"""Timeline entry kind of a device ``report`` (findings, notes, attachment ids)."""
OUTBOX_BATCH = 100

_json = msgspec.json.Encoder()
_any_decoder = msgspec.json.Decoder(dict[str, Any])


# --- small parts -------------------------------------------------------------------------------


class TokenBucket:
    """``rate`` tokens per second, at most ``capacity``; each message takes one."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


def parse_ts(value: str | int | float, ref: Any) -> datetime:
    """ISO 8601 (naive = UTC) or epoch milliseconds -> aware UTC datetime."""
    try:
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
        if not math.isfinite(value):
            raise ValueError("not finite")
        return datetime.fromtimestamp(value / 1000.0, UTC)
    except (ValueError, OverflowError, OSError):
        raise FieldProtocolError(
            FieldErrorCode.BAD_TIMESTAMP,
            f"ts must be ISO 8601 or epoch milliseconds, got {value!r}",
            ref,
        ) from None


def to_wgs84(lon: float, lat: float, datum: str, ref: Any) -> tuple[float, float]:
    """Check that a point is a plausible position in China and convert it to WGS84."""
    if not (math.isfinite(lon) and math.isfinite(lat)) or not (
        -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0
    ):
        raise FieldProtocolError(
            FieldErrorCode.BAD_COORDINATES, f"impossible coordinates lon={lon} lat={lat}", ref
        )
    if not in_china_box(lon, lat):
        raise FieldProtocolError(
            FieldErrorCode.BAD_COORDINATES,
            f"lon={lon} lat={lat} is outside China: check the lat/lon order and the datum",
            ref,
        )
    if datum == Datum.WGS84:
        return lon, lat
    wgs_lon, wgs_lat = convert(lon, lat, Datum(datum), Datum.WGS84)
    return float(wgs_lon), float(wgs_lat)


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Projected (Gauss-Krüger) distance between two WGS84 points."""
    projector = Projector.for_lon(lon1)
    x1, y1 = projector.to_xy(lon1, lat1)
    x2, y2 = projector.to_xy(lon2, lat2)
    return float(math.hypot(float(x2) - float(x1), float(y2) - float(y1)))


@dataclass(slots=True)
class _Upload:
    begin: UploadBegin
    partial: Path
    received: int


@dataclass(slots=True)
class _Online:
    """Connections of one officer (a phone and a spare tablet, or a reconnect overlap)."""

    connections: set[FieldConnection] = field(default_factory=set)
    battery: float | None = None


class PositionWriter:
    """Stores accepted fixes in batches on a thread of its own.

    Positions are the bulk of the field traffic; on the hub's single database thread every
    task push and ack would wait behind their inserts. ``add`` is O(1) on the event loop;
    ``flush`` stores everything queued in one transaction. When ``backlog`` fixes wait (the
    database cannot keep up) ``full`` turns true until the writer takes them, and device
    readers wait in ``wait_for_room`` instead of the queue growing without limit.
    """

    def __init__(self, repo: FieldRepo, backlog: int) -> None:
        self._repo = repo
        self._backlog = backlog
        self._fixes: list[Fix] = []
        self._room = asyncio.Event()
        self._room.set()
        self._lock = asyncio.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-positions")
        self.stored = 0

    @property
    def full(self) -> bool:
        return not self._room.is_set()

    def add(self, fix: Fix) -> None:
        self._fixes.append(fix)
        if len(self._fixes) >= self._backlog:
            self._room.clear()

    async def wait_for_room(self) -> None:
        await self._room.wait()

    async def start(self) -> None:
        """Start the writer thread with the hub (not at the first position), like the hub's
        database thread: a hub's threads are there from start to stop."""
        await asyncio.get_running_loop().run_in_executor(self._executor, _started)

    async def flush(self) -> None:
        """Store every fix queued so far (one transaction); raises what the store raised."""
        async with self._lock:
            fixes, self._fixes = self._fixes, []
            self._room.set()
            if fixes:
                await asyncio.get_running_loop().run_in_executor(
                    self._executor, self._repo.save_positions, fixes, utc_now()
                )
                self.stored += len(fixes)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)


# --- the link ----------------------------------------------------------------------------------


class FieldLink:
    """The hub's field side; ``start`` after the hub state exists, ``stop`` before the store."""

    def __init__(self, state: HubState, limits: FieldLimits | None = None) -> None:
        self.state = state
        self.limits = limits if limits is not None else FieldLimits()
        self.repo = FieldRepo(state.store.engine)
        self.officers: dict[str, Officer] = (
            {o.id: o for o in state.world.officers} if state.world is not None else {}
        )
        self.outbox = OutboxRepo(state.store)
        self.attachments_dir = data_dir() / "attachments"
        self.online: dict[str, _Online] = {}
        self.positions_received = 0
        self.positions = PositionWriter(self.repo, self.limits.position_backlog)
        self.latest: dict[str, Fix] = {}
        self.dispatch = DispatchRepo(state.store)
        self.enterprises: dict[str, Enterprise] = (
            {e.id: e for e in state.world.enterprises} if state.world is not None else {}
        )
        self.org_parents: dict[str, str | None] = (
            {o.id: o.parent_id for o in state.world.organisations}
            if state.world is not None
            else {}
        )
        self._moved: dict[str, Fix] = {}
        self._url_secret = secrets.token_bytes(32)
        self._tasks: list[asyncio.Task[None]] = []
        self._subscription: Subscription | None = None

    def use_world(self, world: World) -> None:
        """The hub reloaded its world: officers, enterprises and organisations as now stored."""
        self.officers = {o.id: o for o in world.officers}
        self.enterprises = {e.id: e for e in world.enterprises}
        self.org_parents = {o.id: o.parent_id for o in world.organisations}

    async def start(self) -> None:
        FIELD_LINKS[id(self.state)] = self
        await self.positions.start()
        self._subscription = self.state.bus.subscribe(
            frozenset({TASK_UPDATED, OUTBOX_NEW}), lambda _district, _owner: True, 100_000
        )
        self._tasks = [
            asyncio.create_task(self._writer()),
            asyncio.create_task(self._coalescer()),
            asyncio.create_task(self._sweeper()),
            asyncio.create_task(self._watch_outbox_events(self._subscription)),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._subscription is not None:
            self._subscription.close()
        await self.flush_positions()
        self.positions.shutdown()
        await relay_for(self.state).close()
        forget_relay(self.state)
        FIELD_LINKS.pop(id(self.state), None)

    # -- outbox notification ----------------------------------------------------------------

    def notify_outbox(self, officer_id: str) -> None:
        """Wake the delivery loops of ``officer_id`` (a new outbox entry may be waiting)."""
        online = self.online.get(officer_id)
        if online is not None:
            for connection in online.connections:
                connection.wakeup.set()

    def revoked(self, token_ids: Iterable[str]) -> int:
        """Close the connections of revoked tokens now; how many were open."""
        revoked = frozenset(token_ids)
        closing = [
            connection
            for online in self.online.values()
            for connection in online.connections
            if connection.token_id in revoked
        ]
        for connection in closing:
            connection.revoke()
        return len(closing)

    async def sweep(self) -> None:
        """One query for every connected device: lock out tokens revoked or expired
        elsewhere, wake deliveries with outbox entries they have not pushed yet."""
        connections = [c for online in self.online.values() for c in online.connections]
        if not connections:
            return
        inactive, newest = await self.state.db.run(
            self.repo.sweep,
            {c.token_id for c in connections},
            {c.officer_id for c in connections},
            utc_now(),
        )
        for connection in connections:
            if connection.token_id in inactive:
                connection.revoke()
            elif newest.get(connection.officer_id, 0) > connection.cursor:
                connection.wakeup.set()

    def purge_partial_uploads(self, now: float | None = None) -> int:
        """Delete partial upload files untouched for ``partial_upload_ttl_s``; how many."""
        cutoff = (time.time() if now is None else now) - self.limits.partial_upload_ttl_s
        purged = 0
        for path in (self.attachments_dir / "partial").glob("*.part"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    purged += 1
            except FileNotFoundError:
                continue  # finished or purged meanwhile
        if purged:
            log.info("deleted %d abandoned partial uploads", purged)
        return purged

    async def _sweeper(self) -> None:
        purged_at = float("-inf")
        while True:
            if time.monotonic() - purged_at >= self.limits.partial_purge_every_s:
                purged_at = time.monotonic()
                try:
                    await asyncio.to_thread(self.purge_partial_uploads)
                except OSError:
                    log.exception("could not purge abandoned partial uploads")
            await asyncio.sleep(self.limits.outbox_poll_s)
            try:
                await self.sweep()
            except Exception:
                log.exception(
                    "field link sweep failed; trying again in %g s", self.limits.outbox_poll_s
                )

    async def _watch_outbox_events(self, subscription: Subscription) -> None:
        while True:
            for event in await subscription.next_batch():
                data = _any_decoder.decode(event.data)
                if event.topic == OUTBOX_NEW:
                    self.notify_outbox(str(data.get("officer_id")))
                    continue
                task = data.get("task") or {}
                officer_id = task.get("assignee_officer_id")
                if officer_id:
                    self.notify_outbox(str(officer_id))
                squad_id = task.get("assignee_squad_id")
                if squad_id:
                    for online_id in list(self.online):
                        officer = self.officers.get(online_id)
                        if officer is not None and officer.squad_id == squad_id:
                            self.notify_outbox(online_id)

    # -- tasks ------------------------------------------------------------------------------

    def device_task(self, task_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The protocol's ``task`` object: the outbox payload plus site and enterprise facts."""
        task: dict[str, Any] = {key: value for key, value in payload.items() if key != "task_id"}
        task["id"] = task_id
        enterprise = self.enterprises.get(str(payload.get("enterprise_id")))
        task["enterprise"] = (
            None
            if enterprise is None
            else {
                "id": enterprise.id,
                "name": enterprise.name,
                "industry": str(enterprise.industry),
                "credit_rating": str(enterprise.credit_rating),
                "outlets": [
                    {"id": o.id, "name": o.name, "kind": str(o.kind), "lon": o.lon, "lat": o.lat}
                    for o in enterprise.outlets
                ],
            }
        )
        task.setdefault("address", enterprise.address if enterprise is not None else None)
        task["geofence_m"] = self.limits.geofence_m
        return task

    async def task_of(self, officer: Officer, task_id: str, ref: Any) -> TaskRecord:
        """The task if it exists and is this officer's (or their squad's), else unknown_task."""
        record = await self.state.db.run(self.dispatch.get_task, task_id)
        task = None if record is None else record.task
        if (
            record is None
            or task is None
            or (
                task.assignee_officer_id != officer.id
                and (officer.squad_id is None or task.assignee_squad_id != officer.squad_id)
            )
        ):
            raise FieldProtocolError(
                FieldErrorCode.UNKNOWN_TASK, f"no task {task_id!r} assigned to you", ref
            )
        return record

    async def apply_officer_action(
        self,
        officer: Officer,
        task_id: str,
        action: Action,
        expected_version: int,
        payload: dict[str, object],
    ) -> TaskRecord:
        """Apply an officer's action through the state machine, store it, tell consoles."""
        dispatch = self.dispatch
        actor = Actor(
            user=officer.id, seat="field", role=ActorRole.OFFICER, squad_id=officer.squad_id
        )
        outcome = await self.state.db.run(
            partial(
                dispatch.apply_action,
                task_id,
                action,
                actor,
                utc_now(),
                expected_version=expected_version,
                payload=payload,
                org_parents=self.org_parents,
                follow_up_deadline=_no_follow_up,
                outbox_for=_no_outbox,
            )
        )
        record: TaskRecord = outcome.record
        publish_task(self.state, TASK_UPDATED, record)
        return record

    # -- positions ----------------------------------------------------------------------------

    def accept_position(self, officer: Officer, message: Position) -> None:
        """Check a fix and queue it for storage and consoles: O(1), no I/O on the loop."""
        ts = parse_ts(message.ts, message.msg_id)
        epoch = ts.timestamp()
        now = time.time()
        if epoch > now + self.limits.max_future_s:
            raise FieldProtocolError(
                FieldErrorCode.BAD_TIMESTAMP,
                f"ts {ts.isoformat()} is ahead of the hub clock "
                f"{datetime.fromtimestamp(now, UTC).isoformat()}",
                message.msg_id,
            )
        if epoch < now - self.limits.max_age_s:
            raise FieldProtocolError(
                FieldErrorCode.BAD_TIMESTAMP, f"ts {ts.isoformat()} is too old", message.msg_id
            )
        if message.accuracy > self.limits.max_accuracy_m:
            raise FieldProtocolError(
                FieldErrorCode.BAD_COORDINATES,
                f"accuracy {message.accuracy} m is too poor to place the officer",
                message.msg_id,
            )
        lon, lat = to_wgs84(message.lon, message.lat, message.datum, message.msg_id)
        fix = Fix(
            officer_id=officer.id,
            ts=ts,
            lon=lon,
            lat=lat,
            accuracy=message.accuracy,
            speed=message.speed,
            heading=message.heading,
            battery=message.battery,
        )
        self.positions.add(fix)
        self.positions_received += 1
        online = self.online.get(officer.id)
        if online is not None and message.battery is not None:
            online.battery = message.battery
        latest = self.latest.get(officer.id)
        if latest is None or latest.ts <= ts:  # a late, buffered fix only goes to the track
            self.latest[officer.id] = fix
            self._moved[officer.id] = fix

    async def flush_positions(self) -> None:
        """Store the positions received so far (tests and ``stop`` call this)."""
        await self.positions.flush()

    async def _writer(self) -> None:
        while True:
            await asyncio.sleep(self.limits.position_flush_s)
            try:
                await self.flush_positions()
            except Exception:
                log.exception("storing positions failed; they are dropped")

    def publish_moved(self) -> None:
        """One ``officer.moved`` event per district: the newest fix of each officer that
        moved since the last call (a console gets a handful of events per tick, not one
        per position)."""
        moved, self._moved = self._moved, {}
        by_district: dict[str | None, list[dict[str, Any]]] = {}
        for officer_id, fix in moved.items():
            officer = self.officers[officer_id]
            by_district.setdefault(officer.district_adcode, []).append(
                {
                    "officer_id": officer_id,
                    "lon": fix.lon,
                    "lat": fix.lat,
                    "heading": fix.heading,
                    "speed": fix.speed,
                    "accuracy": fix.accuracy,
                    "battery": fix.battery,
                    "ts": fix.ts.isoformat(),
                    "duty": str(officer.duty),
                }
            )
        for district, moves in by_district.items():
            self.state.bus.publish(OFFICER_MOVED, moves, district)

    async def _coalescer(self) -> None:
        while True:
            await asyncio.sleep(self.limits.moved_coalesce_s)
            self.publish_moved()

    # -- presence -------------------------------------------------------------------------------

    def _publish_presence(self, officer: Officer, online: bool, battery: float | None) -> None:
        self.state.bus.publish(
            OFFICER_PRESENCE,
            {
                "officer_id": officer.id,
                "online": online,
                "last_seen": utc_now().isoformat(),
                "battery": battery,
            },
            officer.district_adcode,
        )

    # -- attachments over HTTP ------------------------------------------------------------------

    def attachment_path(self, sha256: str) -> Path:
        return self.attachments_dir / sha256[:2] / sha256

    def attachment_url_query(self, attachment: Attachment, now: float | None = None) -> str:
        """Signed query string for ``GET /attachments/{id}``: no console session needed."""
        expires = int((time.time() if now is None else now) + self.limits.attachment_url_ttl_s)
        fields = {
            "sha256": attachment.sha256,
            "mime": attachment.mime,
            "exp": str(expires),
        }
        fields["sig"] = self._sign(attachment.id, fields)
        return urlencode(fields)

    def _sign(self, attachment_id: str, fields: dict[str, str]) -> str:
        text = "\n".join((attachment_id, fields["sha256"], fields["mime"], fields["exp"]))
        return hmac.new(self._url_secret, text.encode(), hashlib.sha256).hexdigest()

    def http_response(
        self, connection: ServerConnection, request: HttpRequest
    ) -> HttpResponse | None:
        """Serve ``GET /attachments/{id}?…&sig=…``; None for other paths."""
        path, _, query = request.path.partition("?")
        if not path.startswith(ATTACHMENTS_PREFIX):
            return None
        attachment_id = path[len(ATTACHMENTS_PREFIX) :]
        params = {key: values[0] for key, values in parse_qs(query).items()}
        needed = ("sha256", "mime", "exp", "sig")
        if any(key not in params for key in needed):
            return _error(HTTPStatus.UNAUTHORIZED, "unauthorised", "ask attachment.url for a link")
        expected = self._sign(attachment_id, params)
        if not hmac.compare_digest(expected, params["sig"]):
            return _error(HTTPStatus.FORBIDDEN, "forbidden", "bad signature")
        if not params["exp"].isdigit() or int(params["exp"]) < time.time():
            return _error(HTTPStatus.FORBIDDEN, "expired", "the link expired; ask for a new one")
        file = self.attachment_path(params["sha256"])
        try:
            body = file.read_bytes()
        except OSError:
            return _error(HTTPStatus.NOT_FOUND, "not_found", f"attachment {attachment_id} is gone")
        headers = Headers()
        headers["Content-Type"] = params["mime"]
        headers["Content-Length"] = str(len(body))
        headers["Cache-Control"] = "private, max-age=300"
        return HttpResponse(HTTPStatus.OK.value, HTTPStatus.OK.phrase, headers, body)

    # -- connections ----------------------------------------------------------------------------

    def process_request(self, connection: ServerConnection) -> None:
        """Opening handshake of ``/ws/field``: accept it without permessage-deflate.

        Device frames are small JSON (a position is ~150 bytes); compressing them saves a few
        bytes and costs a zlib pass per frame on the hub's loop, for thousands of devices.
        """
        connection.protocol.available_extensions = []

    async def handle(self, websocket: ServerConnection) -> None:
        """Serve one device connection until it closes."""
        await FieldConnection(self, websocket).run()


def _started() -> None:
    """Runs once on the position writer's thread so that the thread exists."""


def _no_follow_up(draft: TaskDraft, at: datetime) -> datetime:
    raise ValueError(f"officer actions create no follow-up task ({draft.kind} at {at})")


def _no_outbox(before: TaskRecord, after: TaskRecord, event: TaskEvent) -> list[OutboxDraft]:
    return []


def _error(status: HTTPStatus, code: str, detail: str) -> HttpResponse:
    body = _json.encode({"error": code, "detail": detail})
    headers = Headers()
    headers["Content-Type"] = "application/json"
    headers["Content-Length"] = str(len(body))
    return HttpResponse(status.value, status.phrase, headers, body)


# --- one device ----------------------------------------------------------------------------------


class FieldConnection:
    """One device: hello, then messages in order while its outbox is pushed alongside."""

    def __init__(self, link: FieldLink, websocket: ServerConnection) -> None:
        self.link = link
        self.state = link.state
        self.websocket = websocket
        self.officer: Officer | None = None
        self.token_id = ""
        self.bucket = TokenBucket(
            link.limits.rate_per_s, link.limits.rate_per_s * link.limits.burst_s
        )
        self.wakeup = asyncio.Event()
        self.uploads: dict[str, _Upload] = {}
        self.sent_tasks: dict[int, str] = {}
        self.last_seq = 0
        # Highest outbox seq pushed on this connection (starts at the hello's last_seq).
        self.cursor = 0
        self.revoked = False
        self._send_lock = asyncio.Lock()

    @property
    def officer_id(self) -> str:
        return "" if self.officer is None else self.officer.id

    def revoke(self) -> None:
        """The token was revoked or expired: the delivery loop closes with 4401."""
        self.revoked = True
        self.wakeup.set()

    async def send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.websocket.send(encode(message), text=True)

    async def run(self) -> None:
        try:
            officer = await self._hello()
        except ConnectionClosed:
            return
        if officer is None:
            return
        online = self.link.online.setdefault(officer.id, _Online())
        online.connections.add(self)
        relay_for(self.state).device_connected(officer.id, self)
        self.link._publish_presence(officer, True, online.battery)
        delivery = asyncio.create_task(self._deliver(officer))
        positions = self.link.positions
        try:
            async for raw in self.websocket:
                if not self.bucket.take():
                    limits = self.link.limits
                    # Not close(): its handshake waits for the peer's close frame, which
                    # sits behind the flood of unread messages. Fail fast instead.
                    self.websocket.protocol.fail(
                        CLOSE_RATE_LIMITED,
                        f"more than {limits.rate_per_s:g} msgs/s over {limits.burst_s:g} s",
                    )
                    self.websocket.send_data()
                    break
                await self._on_message(officer, raw)
                if positions.full:
                    await positions.wait_for_room()
        except ConnectionClosed:
            pass
        finally:
            delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await delivery
            online.connections.discard(self)
            await relay_for(self.state).device_disconnected(officer.id, self)
            if not online.connections:
                self.link.online.pop(officer.id, None)
                self.link._publish_presence(officer, False, online.battery)

    async def _hello(self) -> Officer | None:
        limits = self.link.limits
        try:
            async with asyncio.timeout(limits.hello_timeout_s):
                raw = await self.websocket.recv()
        except TimeoutError:
            await self.websocket.close(
                CLOSE_HELLO_TIMEOUT, f"no hello within {limits.hello_timeout_s:g} s"
            )
            return None
        try:
            message = decode_device_message(raw)
        except FieldProtocolError as exc:
            await self.websocket.close(CLOSE_UNAUTHORISED, f"expected hello: {exc.detail}"[:120])
            return None
        if not isinstance(message, Hello):
            await self.websocket.close(CLOSE_UNAUTHORISED, "the first message must be a hello")
            return None
        info = await self.state.db.run(self.link.repo.authenticate, message.token, utc_now())
        officer = None if info is None else self.link.officers.get(info.officer_id)
        if info is None or officer is None:
            await self.websocket.close(CLOSE_UNAUTHORISED, "unknown, expired or revoked token")
            return None
        self.token_id = info.token_id
        self.officer = officer
        self.last_seq = self.cursor = message.last_seq
        await self.send(
            {
                "type": "welcome",
                "officer": {
                    "id": officer.id,
                    "name": officer.name,
                    "role": str(officer.role),
                    "grid_id": officer.grid_id,
                    "squad_id": officer.squad_id,
                    "district_adcode": officer.district_adcode,
                    "phone": officer.phone,
                    "badge_no": officer.badge_no,
                },
                "server_time": utc_now().isoformat(),
                "protocol": FIELD_PROTOCOL_VERSION,
                "limits": {
                    "max_message_bytes": self.state.config.max_message_bytes,
                    "max_chunk_bytes": limits.max_chunk_bytes,
                    "rate_per_s": limits.rate_per_s,
                },
            }
        )
        log.info("field device %s of %s connected", message.device.id, officer.id)
        return officer

    async def _on_message(self, officer: Officer, raw: str | bytes) -> None:
        try:
            if isinstance(raw, bytes):
                raise FieldProtocolError(FieldErrorCode.BAD_JSON, "binary frames are not supported")
            message = decode_known(raw)
            if message is None:
                if is_call_message(raw):
                    await relay_for(self.state).on_device_message(self, officer, raw)
                    return
                handler = FIELD_HANDLERS.get(_message_type(raw) or "")
                if handler is not None:
                    await handler(self, officer, raw)
                    return
                message = decode_device_message(raw)  # raises the reason it is malformed
            await self._dispatch(officer, message)
        except FieldProtocolError as exc:
            await self.send(exc.to_message())
        except ConnectionClosed:
            raise
        except Exception:
            log.exception("field message from %s failed", officer.id)
            await self.send(
                FieldProtocolError(
                    FieldErrorCode.INTERNAL, "the hub failed on this message; see the hub log"
                ).to_message()
            )

    async def _dispatch(self, officer: Officer, message: DeviceMessage) -> None:
        if isinstance(message, Position):
            self.link.accept_position(officer, message)
        elif isinstance(message, TaskAck):
            await self._ack(officer, message)
        elif isinstance(message, TaskStatus):
            await self._status(officer, message)
        elif isinstance(message, Report):
            await self._report(officer, message)
        elif isinstance(message, UploadBegin):
            await self._upload_begin(officer, message)
        elif isinstance(message, UploadChunk):
            await self._upload_chunk(message)
        elif isinstance(message, UploadEnd):
            await self._upload_end(officer, message)
        elif isinstance(message, Hello):
            raise FieldProtocolError(
                FieldErrorCode.ALREADY_HELLO, "this connection already said hello", message.msg_id
            )
        elif isinstance(message, Pong):
            return

    # -- outbox -----------------------------------------------------------------------------

    async def _deliver(self, officer: Officer) -> None:
        """Push pending entries after the device's last_seq, then wait to be woken: by
        ``task.updated``/``outbox.new`` for the officer, the link's sweep, or a revocation."""
        outbox = self.link.outbox
        db = self.state.db
        while True:
            self.wakeup.clear()
            if self.revoked:
                await self.websocket.close(CLOSE_UNAUTHORISED, "token revoked or expired")
                return
            entries = await db.run(outbox.pending, officer.id, self.cursor, OUTBOX_BATCH)
            for entry in entries:
                await self.send(
                    {
                        "type": entry.kind,
                        "seq": entry.seq,
                        "outbox_id": entry.id,
                        "task": self.link.device_task(entry.task_id, entry.payload),
                    }
                )
                self.sent_tasks[entry.seq] = entry.task_id
                self.cursor = entry.seq
                if entry.delivered_at is None:
                    await self._delivered(officer, entry)
            if len(entries) == OUTBOX_BATCH:
                continue
            await self.wakeup.wait()

    async def _delivered(self, officer: Officer, entry: Any) -> None:
        at = utc_now()
        outbox = self.link.outbox
        if not await self.state.db.run(outbox.mark_delivered, officer.id, entry.seq, at):
            return
        self.state.bus.publish(
            OUTBOX_DELIVERED,
            {
                "task_id": entry.task_id,
                "officer_id": officer.id,
                "seq": entry.seq,
                "at": at.isoformat(),
            },
            officer.district_adcode,
        )
        if entry.kind == "task.assigned":
            record = await self.state.db.run(self.link.dispatch.get_task, entry.task_id)
            if record is not None and record.task.state is TaskState.ASSIGNED:
                with contextlib.suppress(TaskError, LookupError):
                    await self.link.apply_officer_action(
                        officer, record.task.id, Action.DELIVER, record.task.version, {}
                    )

    async def _ack(self, officer: Officer, message: TaskAck) -> None:
        outbox = self.link.outbox
        at = utc_now()
        if await self.state.db.run(outbox.mark_acked, officer.id, message.seq, at):
            self.state.bus.publish(
                OUTBOX_ACKED,
                {
                    "task_id": self.sent_tasks.get(message.seq),
                    "officer_id": officer.id,
                    "seq": message.seq,
                    "at": at.isoformat(),
                },
                officer.district_adcode,
            )

    # -- task actions ---------------------------------------------------------------------------

    async def _status(self, officer: Officer, message: TaskStatus) -> None:
        link = self.link
        ref = message.msg_id
        record = await link.task_of(officer, message.task_id, ref)
        action = Action(message.action)
        checkin: dict[str, Any] | None = None
        payload: dict[str, object] = {}
        if message.note:
            payload["note"] = message.note
        if message.findings is not None:
            payload["findings"] = message.findings
        if action is Action.ARRIVE:
            checkin = self._checkin(officer, record, message)
            if not checkin["inside"]:
                raise FieldProtocolError(
                    FieldErrorCode.OUTSIDE_GEOFENCE,
                    f"{checkin['distance_m']:.0f} m from the site; arrive within "
                    f"{link.limits.geofence_m:g} m",
                    ref,
                )
        try:
            after = await link.apply_officer_action(
                officer, record.task.id, action, record.task.version, payload
            )
        except StaleTask as exc:
            raise FieldProtocolError(FieldErrorCode.CONFLICT, str(exc), ref) from None
        except IllegalTransition as exc:
            raise FieldProtocolError(FieldErrorCode.ILLEGAL_TRANSITION, str(exc), ref) from None
        except Forbidden as exc:
            raise FieldProtocolError(FieldErrorCode.FORBIDDEN, str(exc), ref) from None
        except InvalidPayload as exc:
            raise FieldProtocolError(FieldErrorCode.SCHEMA, str(exc), ref) from None
        answer: dict[str, Any] = {
            "type": "task.status.ok",
            "task_id": after.task.id,
            "state": str(after.task.state),
            "version": after.task.version,
            "ref": ref,
        }
        if checkin is not None:
            answer["checkin"] = checkin
        await self.send(answer)

    def _checkin(self, officer: Officer, record: TaskRecord, message: TaskStatus) -> dict[str, Any]:
        if message.lat is not None and message.lon is not None:
            lon, lat = to_wgs84(message.lon, message.lat, message.datum, message.msg_id)
        else:
            fix = self.link.latest.get(officer.id)
            if fix is None:
                raise FieldProtocolError(
                    FieldErrorCode.BAD_COORDINATES,
                    "arrive needs lat/lon (or a recent position)",
                    message.msg_id,
                )
            lon, lat = fix.lon, fix.lat
        if record.lon is None or record.lat is None:
            return {"distance_m": None, "inside": True}
        distance = distance_m(record.lon, record.lat, lon, lat)
        return {"distance_m": round(distance, 1), "inside": distance <= self.link.limits.geofence_m}

    async def _report(self, officer: Officer, message: Report) -> None:
        """Store the report as a timeline entry (no state change, no version bump)."""
        record = await self.link.task_of(officer, message.task_id, message.msg_id)
        actor = Actor(
            user=officer.id, seat="field", role=ActorRole.OFFICER, squad_id=officer.squad_id
        )
        payload = {
            "findings": message.findings,
            "notes": message.notes,
            "attachment_ids": list(message.attachment_ids),
        }
        try:
            current, note = await self.state.db.run(
                partial(
                    self.link.dispatch.add_task_note,
                    record.task.id,
                    actor,
                    REPORT_NOTE,
                    payload,
                    utc_now(),
                )
            )
        except LookupError as exc:  # deleted between the check and the write
            raise FieldProtocolError(
                FieldErrorCode.UNKNOWN_TASK, str(exc), message.msg_id
            ) from None
        publish_task(self.state, TASK_UPDATED, current, note=note)
        await self.send({"type": "report.ok", "task_id": record.task.id, "ref": message.msg_id})

    # -- uploads --------------------------------------------------------------------------------

    async def _upload_begin(self, officer: Officer, message: UploadBegin) -> None:
        await self.link.task_of(officer, message.task_id, message.msg_id)
        key = hashlib.sha256(
            f"{officer.id}\0{message.upload_id}\0{message.sha256}\0{message.size}".encode()
        ).hexdigest()
        partial = self.link.attachments_dir / "partial" / f"{key}.part"
        partial.parent.mkdir(parents=True, exist_ok=True)
        received = partial.stat().st_size if partial.exists() else 0
        if received > message.size:
            partial.unlink()
            received = 0
        self.uploads[message.upload_id] = _Upload(message, partial, received)
        await self.send(
            {"type": "upload.ready", "upload_id": message.upload_id, "received": received}
        )

    async def _upload_chunk(self, message: UploadChunk) -> None:
        upload = self._upload(message.upload_id, message.msg_id)
        try:
            data = base64.b64decode(message.data, validate=True)
        except (binascii.Error, ValueError):
            raise FieldProtocolError(
                FieldErrorCode.SCHEMA, "data is not base64", message.msg_id
            ) from None
        limit = self.link.limits.max_chunk_bytes
        if len(data) > limit:
            raise FieldProtocolError(
                FieldErrorCode.TOO_LARGE, f"chunk of {len(data)} bytes > {limit}", message.msg_id
            )
        if message.offset != upload.received:
            raise FieldProtocolError(
                FieldErrorCode.BAD_OFFSET,
                f"offset {message.offset} but {upload.received} bytes are stored: "
                f"send from {upload.received}",
                message.msg_id,
            )
        if upload.received + len(data) > upload.begin.size:
            raise FieldProtocolError(
                FieldErrorCode.SIZE_MISMATCH,
                f"chunk goes past the announced size {upload.begin.size}",
                message.msg_id,
            )
        await asyncio.to_thread(append_chunk, upload.partial, data)
        upload.received += len(data)
        await self.send(
            {"type": "upload.progress", "upload_id": message.upload_id, "received": upload.received}
        )

    async def _upload_end(self, officer: Officer, message: UploadEnd) -> None:
        upload = self._upload(message.upload_id, message.msg_id)
        begin = upload.begin
        if upload.received != begin.size:
            raise FieldProtocolError(
                FieldErrorCode.SIZE_MISMATCH,
                f"{upload.received} of {begin.size} bytes received",
                message.msg_id,
            )
        digest = await asyncio.to_thread(sha256_of, upload.partial)
        del self.uploads[message.upload_id]
        if digest != begin.sha256:
            upload.partial.unlink(missing_ok=True)
            raise FieldProtocolError(
                FieldErrorCode.HASH_MISMATCH,
                f"SHA-256 of the received bytes is {digest}, not {begin.sha256}; "
                "the partial file was discarded, upload again",
                message.msg_id,
            )
        target = self.link.attachment_path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(upload.partial, target)
        attachment = await self.state.db.run(
            self.link.repo.add_attachment,
            Attachment(
                id=uuid.uuid4().hex,
                task_id=begin.task_id,
                officer_id=officer.id,
                district_adcode=officer.district_adcode,
                kind=begin.kind,
                mime=begin.mime,
                size=begin.size,
                sha256=digest,
                upload_id=begin.upload_id,
                created_at=utc_now(),
            ),
        )
        self.state.bus.publish(
            ATTACHMENT_ADDED,
            {
                "task_id": attachment.task_id,
                "attachment_id": attachment.id,
                "kind": attachment.kind,
                "mime": attachment.mime,
                "size": attachment.size,
                "sha256": attachment.sha256,
            },
            officer.district_adcode,
        )
        await self.send(
            {"type": "upload.done", "upload_id": begin.upload_id, "attachment_id": attachment.id}
        )

    def _upload(self, upload_id: str, ref: Any) -> _Upload:
        upload = self.uploads.get(upload_id)
        if upload is None:
            raise FieldProtocolError(
                FieldErrorCode.UPLOAD_UNKNOWN,
                f"no upload {upload_id!r} on this connection: send upload.begin first",
                ref,
            )
        return upload


# --- console-link method ------------------------------------------------------------------------


class AttachmentUrlParams(msgspec.Struct, forbid_unknown_fields=True):
    attachment_id: str


@method("attachment.url", params=AttachmentUrlParams)
async def attachment_url(ctx: CallContext, params: AttachmentUrlParams) -> dict[str, Any]:
    """A short-lived link to ``GET /attachments/{id}`` for an attachment in the caller's scope."""
    link = FIELD_LINKS.get(id(ctx.hub))
    if link is None:
        raise MethodError(ErrorCode.NOT_FOUND, "this hub has no field link")
    attachment = await ctx.hub.db.run(link.repo.get_attachment, params.attachment_id)
    if attachment is None:
        raise MethodError(ErrorCode.NOT_FOUND, f"no attachment {params.attachment_id!r}")
    if not ctx.principal.scope.covers(attachment.district_adcode):
        raise MethodError(ErrorCode.OUT_OF_SCOPE, "the attachment is outside your scope")
    now = time.time()
    return {
        "path": f"{ATTACHMENTS_PREFIX}{attachment.id}?{link.attachment_url_query(attachment, now)}",
        "expires_at": datetime.fromtimestamp(
            now + link.limits.attachment_url_ttl_s, UTC
        ).isoformat(),
        "attachment": attachment.to_json(),
    }


FIELD_LINKS: dict[int, FieldLink] = {}
"""The field link of each running hub state (by id), for console-link methods."""

FieldHandler = Callable[[FieldConnection, Officer, str], Awaitable[None]]
FIELD_HANDLERS: dict[str, FieldHandler] = {}
"""Device message types handled by feature modules (``procedure.*``), registered on import."""

_envelope = msgspec.json.Decoder(dict[str, Any])


def _message_type(raw: str) -> str | None:
    """The ``type`` of a frame, or None when it is not a JSON object (decoded again later)."""
    try:
        kind = _envelope.decode(raw).get("type")
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return kind if isinstance(kind, str) else None
