"""The hub's network side: ``GET /healthz`` and the ``/ws/console`` websocket on one port.

One asyncio loop serves every console. Blocking work (store, password hashing, snapshot
encoding) runs in threads; events reach consoles through bounded per-connection queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
from http import HTTPStatus
from typing import Any

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import CloseCode
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse

import console
import console.hub.complaint_attachments  # registers complaint.attachment.begin/chunk/end
import console.hub.dispatch_methods  # registers complaint.*, task.*, tasks.board, audit ...
import console.hub.incident_methods  # registers incident.* (emergency incidents)
import console.hub.methods  # registers the built-in methods
import console.hub.monitoring_methods  # registers monitoring.* and alarms.*
import console.hub.officer_methods  # registers officers.roster, officer.enrol/revoke
import console.hub.procedure  # registers procedure.* (field link), case.*, checklist*
import console.hub.supervision_methods  # registers enterprise.file, authenticity.*, draw.* ...
from console.core.locate import Locator
from console.core.model import World
from console.hub.auth import LoginError, LoginThrottle, authenticate
from console.hub.events import SEATS_CHANGED, WORLD_CHANGED, QueueOverflowError, Subscription
from console.hub.field_link import FieldLink
from console.hub.field_protocol import FIELD_PATH
from console.hub.intake import IntakeApi
from console.hub.monitoring_service import MonitoringService
from console.hub.protocol import (
    CONSOLE_PATH,
    HEALTH_PATH,
    Error,
    ErrorCode,
    Event,
    Login,
    LoginOk,
    ProtocolError,
    Request,
    Response,
    ScopeInfo,
    UserInfo,
    decode_client_message,
    encode,
)
from console.hub.registry import REGISTRY, MethodError, MethodRegistry, Reply
from console.hub.scope import Scope, UnknownOrganisationError, scope_for
from console.hub.sla_watch import SlaWatch
from console.hub.state import (
    CallContext,
    DbRunner,
    HubConfig,
    HubState,
    Principal,
    Seat,
    utc_now,
)
from console.hub.static import FieldAppFiles
from console.hub.world_watch import WorldWatch
from console.store import Store

log = logging.getLogger(__name__)

CONSOLE_DEFLATE = ServerPerMessageDeflateFactory(
    server_max_window_bits=12,
    client_max_window_bits=12,
    compress_settings={"level": 1, "memLevel": 5},
)
"""permessage-deflate for console links: websockets' window and memory settings, but zlib
level 1. A monitoring batch (~230 kB of JSON) still shrinks about 14-fold instead of 18-fold,
at half the hub's CPU: compression was a tenth of the hub's work under HJ 212 load."""

_json = msgspec.json.Encoder()
_connection_ids = itertools.count(1)


SERVING_GC_THRESHOLDS = (50_000, 20, 100)
"""Young collections every 50,000 allocations instead of 700, full ones 100x rarer than that."""


def tune_gc_for_serving() -> None:
    """Make the cyclic collector cheap for a process that does nothing but serve.

    Under load (thousands of devices, hundreds of stations) the default thresholds ran a
    collection of the older generations every second or so, each walking every long-lived
    object (world, connections, buffers) for 50-180 ms while the event loop stood still, and
    collecting next to nothing: the hub's data is acyclic and freed by reference counting.
    Start-up state is frozen out of the collector; the rest is collected far less often.
    Only for a dedicated hub process (``python -m console hub``), not for a console that
    embeds a hub.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_GC_THRESHOLDS)


class Hub:
    """A running hub. Create with ``await Hub.start(config)``, end with ``await hub.stop()``."""

    def __init__(self, state: HubState, registry: MethodRegistry) -> None:
        self.state = state
        self.registry = registry
        self.field_app = FieldAppFiles()
        self.field = FieldLink(state, state.config.field_limits)
        self.intake = IntakeApi(state)
        self.sla_watch = SlaWatch(state)
        self.world_watch = WorldWatch(state, self._install_world)
        self._server: Server | None = None

    @classmethod
    async def start(cls, config: HubConfig, registry: MethodRegistry = REGISTRY) -> Hub:
        """Open (and migrate) the store, load the world and listen on config.host:port."""
        db = DbRunner()
        try:
            store = await db.run(Store.open, config.db_url)
        except BaseException:
            db.shutdown()
            raise
        locator_task: asyncio.Future[Locator] | None = None
        monitoring: MonitoringService | None = None
        try:
            revision = await db.run(store.world_revision)  # before the load: a write
            world = await db.run(_load_world, store)  # in between is loaded again
            locator_task = (
                asyncio.get_running_loop().run_in_executor(None, Locator, world)
                if world is not None
                else None
            )
            state = HubState(
                config=config,
                store=store,
                db=db,
                world=world,
                locator_task=locator_task,
                version=console.__version__,
                world_revision=revision,
            )
            hub = cls(state, registry)
            if config.monitoring is not None:
                monitoring = await MonitoringService.start(state, config.monitoring)
                state.monitoring = monitoring
            hub._server = await serve(
                hub._handle,
                config.host,
                config.port,
                process_request=hub._process_request,
                # Takes over non-GET requests (the intake API's POSTs carry a body).
                create_connection=hub.intake.connection_class,
                max_size=config.max_message_bytes,
                ssl=config.tls,
                compression=None,
                extensions=[CONSOLE_DEFLATE],
            )
            await hub.field.start()
            hub.sla_watch.start()
            hub.world_watch.start()
        except BaseException:
            if monitoring is not None:
                await monitoring.stop()
            if locator_task is not None:
                with contextlib.suppress(Exception):
                    await locator_task
            await db.run(store.close)
            db.shutdown()
            raise
        log.info("hub listening on %s (db %s)", hub.url, store.dialect)
        return hub

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the hub is not listening")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """The console websocket URL with the real port."""
        host = self.state.config.host
        if ":" in host:
            host = f"[{host}]"
        scheme = "ws" if self.state.config.tls is None else "wss"
        return f"{scheme}://{host}:{self.port}{CONSOLE_PATH}"

    async def stop(self) -> None:
        """Close every connection (1001 going away), stop listening, close the store."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            await self.sla_watch.stop()
            await self.world_watch.stop()
            if self.state.monitoring is not None:
                await self.state.monitoring.stop()
            if self.state.locator_task is not None:
                # Executor work cannot be cancelled; let it finish before the loop closes.
                with contextlib.suppress(Exception):
                    await self.state.locator_task
            await self.field.stop()
            await self.state.db.run(self.state.store.close)
            self.state.db.shutdown()

    async def _install_world(self, world: World, locator: Locator, revision: str | None) -> None:
        """Serve ``world`` from now on (everything at once, on the event loop)."""
        state = self.state
        previous = state.locator_task
        done: asyncio.Future[Locator] = asyncio.get_running_loop().create_future()
        done.set_result(locator)
        state.world = world
        state.locator_task = done
        state.world_revision = revision
        state.snapshot_cache.clear()
        self.field.use_world(world)
        if state.monitoring is not None:
            state.monitoring.use_world(world)
        state.bus.publish(WORLD_CHANGED, {"revision": revision, "summary": world.summary()})
        if previous is not None and not previous.done():
            with contextlib.suppress(Exception):
                await previous  # the start-up build, still running: let it finish

    def health(self) -> dict[str, Any]:
        state = self.state
        return {
            "status": "ok",
            "version": state.version,
            "db": state.db_kind,
            "world": state.world.summary() if state.world is not None else None,
            "uptime_s": state.uptime_s(),
            "consoles": state.connections,
            # HJ 212 receiver: port, ingest workers and their restarts, counters (no payloads).
            "monitoring": None if state.monitoring is None else state.monitoring.status(),
        }

    def _process_request(
        self, connection: ServerConnection, request: HttpRequest
    ) -> HttpResponse | None:
        path = request.path.split("?", 1)[0]
        if path == FIELD_PATH:
            self.field.process_request(connection)
        if path in (CONSOLE_PATH, FIELD_PATH):
            return None
        attachment = self.field.http_response(connection, request)
        if attachment is not None:
            return attachment
        if path == HEALTH_PATH:
            return _json_response(connection, HTTPStatus.OK, self.health())
        intake = self.intake.response(connection, request)
        if intake is not None:
            return intake
        field_app = self.field_app.response(request)
        if field_app is not None:
            return field_app
        return _json_response(
            connection,
            HTTPStatus.NOT_FOUND,
            {
                "error": "not_found",
                "detail": f"no such path {path!r}; try {HEALTH_PATH} or {CONSOLE_PATH}",
            },
        )

    async def _handle(self, websocket: ServerConnection) -> None:
        self.state.connections += 1
        try:
            if websocket.request is not None and (
                websocket.request.path.split("?", 1)[0] == FIELD_PATH
            ):
                await self.field.handle(websocket)
            else:
                await ConsoleConnection(self, websocket).run()
        finally:
            self.state.connections -= 1


def _load_world(store: Store) -> World | None:
    return store.load_world() if store.has_world() else None


def _json_response(
    connection: ServerConnection, status: HTTPStatus, body: dict[str, Any]
) -> HttpResponse:
    response = connection.respond(status, _json.encode(body).decode())
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response


class ConsoleConnection:
    """One console on ``/ws/console``: login, requests in order, its event stream."""

    def __init__(self, hub: Hub, websocket: ServerConnection) -> None:
        self.hub = hub
        self.state = hub.state
        self.websocket = websocket
        self.id = next(_connection_ids)
        self.principal: Principal | None = None
        self.throttle = LoginThrottle(self.state.config)
        self.subscription: Subscription | None = None
        self._event_seq = 0
        self._pump: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None

    async def run(self) -> None:
        try:
            async for message in self.websocket:
                await self._on_message(message)
        except ConnectionClosed:
            pass
        finally:
            await self._cleanup()

    async def _send(self, message: msgspec.Struct) -> None:
        await self.websocket.send(encode(message), text=True)

    async def _on_message(self, message: str | bytes) -> None:
        try:
            if isinstance(message, bytes):
                raise ProtocolError(ErrorCode.BAD_MESSAGE, "binary frames are not supported")
            decoded = decode_client_message(message)
        except ProtocolError as exc:
            await self._send(exc.to_message())
            return
        if isinstance(decoded, Request):
            await self._send(await self._call(decoded))
            return
        try:
            await self._login(decoded)
        except ConnectionClosed:
            raise
        except Exception:
            log.exception("login of %r failed", decoded.username)
            await self._send(
                Error(
                    code=ErrorCode.INTERNAL,
                    detail="login failed inside the hub; the hub log has the details",
                    id=decoded.id,
                )
            )

    # --- login -----------------------------------------------------------------------------

    async def _login(self, message: Login) -> None:
        if self.principal is not None:
            await self._send(
                Error(
                    code=ErrorCode.ALREADY_LOGGED_IN,
                    detail="this connection is already logged in; open a new one to switch user",
                    id=message.id,
                )
            )
            return
        try:
            user = await authenticate(self.state, message.username, message.password)
        except LoginError as exc:
            if exc.code == ErrorCode.BAD_CREDENTIALS:
                self.throttle.record_failure()
                await asyncio.sleep(self.throttle.delay_s())
            await self._send(Error(code=exc.code, detail=exc.detail, id=message.id))
            if self.throttle.exhausted:
                await self.websocket.close(CloseCode.POLICY_VIOLATION, "too many failed logins")
            return
        self.throttle.record_success()
        world = self.state.world
        scope = _scope_of(world, user.org_id)
        org_name = _org_name(world, user.org_id)
        self.principal = Principal(user=user, org_name=org_name, scope=scope, seat=message.seat)
        self.subscription = self.state.bus.subscribe(
            frozenset(),
            scope.sees,
            self.state.config.event_queue_limit,
            on_overflow=self._on_overflow,
        )
        self._pump = asyncio.create_task(self._pump_events(self.subscription))
        self.state.seats[self.id] = Seat(
            connection_id=self.id,
            seat=message.seat,
            username=user.username,
            display_name=user.display_name,
            role=user.role.value,
            org_id=user.org_id,
            since=utc_now(),
        )
        log.info("login %s (%s) at seat %s", user.username, user.role.value, message.seat)
        await self._send(
            LoginOk(
                id=message.id,
                user=UserInfo(
                    username=user.username,
                    display_name=user.display_name,
                    role=user.role.value,
                    org_id=user.org_id,
                    org_name=org_name,
                ),
                scope=ScopeInfo(org_id=scope.org_id, districts=sorted(scope.districts)),
                server_time=utc_now().isoformat(),
            )
        )
        self._publish_seats()

    def _publish_seats(self) -> None:
        """Only a signal: who sits where is for ``seats.list``, which filters by scope."""
        self.state.bus.publish(SEATS_CHANGED, {})

    # --- requests --------------------------------------------------------------------------

    async def _call(self, request: Request) -> Response | Error:
        principal = self.principal
        if principal is None:
            return Error(code=ErrorCode.UNAUTHENTICATED, detail="log in first", id=request.id)
        spec = self.hub.registry.get(request.method)
        if spec is None:
            return Error(
                code=ErrorCode.UNKNOWN_METHOD,
                detail=f"unknown method {request.method!r}",
                id=request.id,
            )
        role = principal.user.role
        if role not in spec.roles:
            allowed = ", ".join(sorted(r.value for r in spec.roles))
            return Error(
                code=ErrorCode.FORBIDDEN,
                detail=f"{request.method!r} is for {allowed}; you are {role.value}",
                id=request.id,
            )
        try:
            params = spec.decode_params(request.params)
            outcome = await spec.handler(CallContext(self.state, principal, self), params)
        except MethodError as exc:
            return Error(code=exc.code, detail=exc.detail, id=request.id, data=exc.data)
        except Exception:
            log.exception("method %s failed", request.method)
            return Error(
                code=ErrorCode.INTERNAL,
                detail=f"{request.method!r} failed inside the hub; the hub log has the details",
                id=request.id,
            )
        if isinstance(outcome, Reply):
            return Response(id=request.id, result=outcome.result, reason=outcome.reason)
        return Response(id=request.id, result=outcome)

    # --- events ----------------------------------------------------------------------------

    def set_topics(self, topics: frozenset[str]) -> None:
        if self.subscription is None:
            raise RuntimeError("set_topics before login")
        role = self.principal.user.role if self.principal is not None else None
        restricted = self.state.topic_roles
        self.subscription.set_topics(
            frozenset(t for t in topics if t not in restricted or role in restricted[t])
        )

    async def _pump_events(self, subscription: Subscription) -> None:
        """Write queued events to the socket; a slow socket only backs up this queue."""
        try:
            while True:
                for event in await subscription.next_batch():
                    self._event_seq += 1
                    await self.websocket.send(
                        encode(Event(topic=event.topic, seq=self._event_seq, data=event.data)),
                        text=True,
                    )
        except (QueueOverflowError, ConnectionClosed):
            return

    def _on_overflow(self) -> None:
        limit = self.state.config.event_queue_limit
        log.warning("dropping console %s: more than %d events waiting", self.id, limit)
        self._closing = asyncio.create_task(
            self.websocket.close(
                CloseCode.TRY_AGAIN_LATER,
                f"console too slow: more than {limit} events waiting",
            )
        )

    async def _cleanup(self) -> None:
        if self.subscription is not None:
            self.subscription.close()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        if self._closing is not None:
            await self._closing
        if self.state.seats.pop(self.id, None) is not None:
            self._publish_seats()


def _org_name(world: World | None, org_id: str) -> str:
    if world is not None:
        for org in world.organisations:
            if org.id == org_id:
                return org.name
    return org_id


def _scope_of(world: World | None, org_id: str) -> Scope:
    """The user's scope; an organisation missing from the world sees no district."""
    if world is not None:
        with contextlib.suppress(UnknownOrganisationError):
            return scope_for(world, org_id)
    return Scope(org_id=org_id, districts=frozenset(), org_ids=frozenset({org_id}))
