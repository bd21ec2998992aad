"""The one place where work crosses between the hub connection and the GUI thread.

A background thread runs an asyncio loop with the Qt-free ``HubClient``. The GUI never
waits on the network: requests return at once and their results, errors, hub events and
connection-state changes go into one queue that a QTimer on the GUI thread drains every
50 ms. All events drained together are emitted as ONE ``sig_events(list)``; one cross-thread
signal per message floods the GUI (stack-notes: it froze the window for 0.5 s).

When the hub goes away the link reconnects with exponential backoff, logs in again with the
remembered credentials, resubscribes and fetches a fresh world snapshot.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import itertools
import logging
import queue
import threading
from collections.abc import Callable, Coroutine, Sequence
from enum import StrEnum
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from console.hub.client import CONNECTION_CLOSED, HubClient, HubError

log = logging.getLogger(__name__)

ResultCallback = Callable[[Any], None]
ErrorCallback = Callable[[HubError], None]

NOT_CONNECTED = "not_connected"
"""Error code of a request made while there is no hub connection."""

# Login errors that retrying cannot fix: stop reconnecting and tell the user.
_FATAL_LOGIN_CODES = frozenset({"bad_credentials", "account_disabled"})


class ConnectionState(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"


class HubLink(QObject):
    """A hub connection usable from the GUI thread; see the module docstring."""

    sig_state_changed = Signal(str)
    """The connection state changed (a ``ConnectionState`` value)."""

    sig_logged_in = Signal(object)
    """Logged in (first time or after a reconnect); carries the hub's ``login.ok`` dict."""

    sig_snapshot = Signal(object)
    """A world snapshot (dict) arrived; fetched after every successful (re)login."""

    sig_events = Signal(object)
    """A batch (list, arrival order) of hub event dicts; at most one per timer tick."""

    sig_error = Signal(object)
    """A ``HubError`` nobody asked to handle (no error callback, failed snapshot, lost login)."""

    def __init__(
        self,
        url: str,
        *,
        drain_interval_ms: int = 50,
        backoff_s: tuple[float, float] = (0.25, 8.0),
        snapshot_method: str | None = "world.snapshot",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.url = url
        self._backoff_first, self._backoff_max = backoff_s
        self._snapshot_method = snapshot_method
        self._inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._timer = QTimer(self)
        self._timer.setInterval(drain_interval_ms)
        self._timer.timeout.connect(self.drain)
        self._state = ConnectionState.DISCONNECTED
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # Owned by the loop thread from here on:
        self._client: HubClient | None = None
        self._client_ids = itertools.count(1)
        self._generation = 0  # id of the adopted client; 0: none
        self._credentials: tuple[str, str, str] | None = None
        self._topics: list[str] = []
        self._reconnect_task: asyncio.Task[None] | None = None
        self._closing = False

    # ---- GUI-thread API -------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    def start(self) -> None:
        """Start the network thread and the drain timer (idempotent)."""
        if self._thread is not None:
            return
        self._closing = False
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run_loop, args=(ready,), name="hub-link", daemon=True
        )
        self._thread.start()
        ready.wait()
        self._timer.start()

    def login(
        self,
        username: str,
        password: str,
        seat: str,
        on_result: ResultCallback | None = None,
        on_error: ErrorCallback | None = None,
    ) -> None:
        """Connect and log in; the credentials are remembered for reconnects."""
        self._submit(self._login(username, password, seat), on_result, on_error)

    def request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        on_result: ResultCallback | None = None,
        on_error: ErrorCallback | None = None,
    ) -> None:
        """Send a request; ``on_result``/``on_error`` are later called on the GUI thread."""
        self._submit(self._request(method, dict(params or {})), on_result, on_error)

    def subscribe(self, topics: Sequence[str], on_error: ErrorCallback | None = None) -> None:
        """Subscribe to event topics, now and after every reconnect."""
        self._submit(self._subscribe(list(topics)), None, on_error)

    def refresh_snapshot(self) -> None:
        """Fetch the world snapshot again (the hub's world changed); ``sig_snapshot`` follows."""
        self._submit(self._refresh_snapshot(), None, None)

    def close(self) -> None:
        """Log out, stop the thread and the timer; pending callbacks are dropped."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        self._timer.stop()
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            self._thread = None
            self._loop = None
            self._inbox = queue.SimpleQueue()
            self._set_state(ConnectionState.DISCONNECTED)

    def drain(self) -> None:
        """Deliver everything queued by the network thread, in order (GUI thread)."""
        batch: list[dict[str, Any]] = []
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                break
            if item[0] == "event":
                batch.append(item[1])
                continue
            if batch:
                self.sig_events.emit(batch)
                batch = []
            self._deliver(item)
        if batch:
            self.sig_events.emit(batch)

    # ---- GUI-thread helpers ---------------------------------------------------------

    def _deliver(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "call":
            callback, value = item[1], item[2]
            callback(value)
        elif kind == "state":
            self._set_state(item[1])
        elif kind == "logged_in":
            self.sig_logged_in.emit(item[1])
        elif kind == "snapshot":
            self.sig_snapshot.emit(item[1])
        elif kind == "error":
            self.sig_error.emit(item[1])
        else:
            raise AssertionError(f"unknown inbox item {kind!r}")

    def _set_state(self, state: ConnectionState) -> None:
        if state != self._state:
            self._state = state
            self.sig_state_changed.emit(str(state))

    def _submit(
        self,
        coro: Coroutine[Any, Any, Any],
        on_result: ResultCallback | None,
        on_error: ErrorCallback | None,
    ) -> None:
        if self._loop is None:
            coro.close()
            raise RuntimeError("HubLink.start() must be called before talking to the hub")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        future.add_done_callback(
            functools.partial(self._post_outcome, on_result=on_result, on_error=on_error)
        )

    def _post_outcome(
        self,
        future: concurrent.futures.Future[Any],
        *,
        on_result: ResultCallback | None,
        on_error: ErrorCallback | None,
    ) -> None:
        """Runs on the loop thread: queue the result or the error for the GUI thread."""
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            if on_result is not None:
                self._inbox.put(("call", on_result, future.result()))
            return
        # Anything else is the network (refused, reset, handshake): one code for the user.
        error = exc if isinstance(exc, HubError) else HubError(CONNECTION_CLOSED, str(exc))
        if on_error is not None:
            self._inbox.put(("call", on_error, error))
        else:
            self._inbox.put(("error", error))

    # ---- loop thread ----------------------------------------------------------------

    def _run_loop(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    def _post_state(self, state: ConnectionState) -> None:
        self._inbox.put(("state", state))

    def _on_event(self, message: dict[str, Any]) -> None:
        self._inbox.put(("event", message))

    def _on_closed(self, generation: int, reason: str) -> None:
        if generation != self._generation or self._closing:
            return  # an old client, or we closed it ourselves
        self._client = None
        if self._credentials is None:
            self._post_state(ConnectionState.DISCONNECTED)
            return
        log.info("hub connection lost (%s); reconnecting", reason)
        self._post_state(ConnectionState.RECONNECTING)
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect())

    async def _connect_and_login(self, username: str, password: str, seat: str) -> dict[str, Any]:
        generation = next(self._client_ids)
        client = HubClient(
            on_event=self._on_event, on_closed=functools.partial(self._on_closed, generation)
        )
        try:
            await client.connect(self.url)
            login: dict[str, Any] = await client.login(username, password, seat)
            if self._topics:
                await client.subscribe(self._topics)
        except BaseException:
            await client.close()
            raise
        self._generation = generation
        self._client = client
        self._inbox.put(("logged_in", login))
        if self._snapshot_method is not None:
            asyncio.get_running_loop().create_task(self._fetch_snapshot(client))
        return login

    async def _fetch_snapshot(self, client: HubClient) -> None:
        assert self._snapshot_method is not None
        try:
            snapshot = await client.request(self._snapshot_method)
        except HubError as exc:
            self._inbox.put(("error", exc))
            return
        except Exception as exc:  # connection dropped mid-request; the reconnect refetches
            log.info("snapshot fetch interrupted: %s", exc)
            return
        self._inbox.put(("snapshot", snapshot))

    async def _refresh_snapshot(self) -> None:
        if self._client is not None and self._snapshot_method is not None:
            await self._fetch_snapshot(self._client)  # not connected: the reconnect fetches it

    async def _login(self, username: str, password: str, seat: str) -> dict[str, Any]:
        self._credentials = None
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()  # a new login replaces the old session
        await self._drop_client()
        self._post_state(ConnectionState.CONNECTING)
        try:
            login = await self._connect_and_login(username, password, seat)
        except BaseException:
            self._post_state(ConnectionState.DISCONNECTED)
            raise
        self._credentials = (username, password, seat)
        self._post_state(ConnectionState.CONNECTED)
        return login

    async def _reconnect(self) -> None:
        delay = self._backoff_first
        while not self._closing and self._credentials is not None:
            await asyncio.sleep(delay)
            try:
                await self._connect_and_login(*self._credentials)
            except HubError as exc:
                if exc.code in _FATAL_LOGIN_CODES:
                    self._credentials = None
                    self._inbox.put(("error", exc))
                    self._post_state(ConnectionState.DISCONNECTED)
                    return
                log.info("reconnect refused by the hub: %s", exc)
            except Exception as exc:  # hub still down, handshake refused …: try again later
                log.debug("reconnect attempt failed: %r", exc)
            else:
                self._post_state(ConnectionState.CONNECTED)
                return
            delay = min(delay * 2, self._backoff_max)

    async def _request(self, method: str, params: dict[str, Any]) -> Any:
        client = self._client
        if client is None:
            raise HubError(NOT_CONNECTED, "not connected to the hub")
        return await client.request(method, **params)

    async def _subscribe(self, topics: list[str]) -> None:
        self._topics = sorted(set(self._topics) | set(topics))
        if self._client is not None:
            await self._client.subscribe(self._topics)

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        self._generation = 0  # its on_closed is now ignored
        if client is not None:
            await client.close()

    async def _shutdown(self) -> None:
        self._closing = True
        self._credentials = None
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
        await self._drop_client()
