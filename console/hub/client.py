"""Qt-free asyncio client of the console link; the shell runs it on a background thread.

Requests are matched to answers by id, so several may be in flight. Events and the close
notification go to callbacks, called on the client's own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from console.hub.protocol import CONSOLE_PATH

log = logging.getLogger(__name__)

CLIENT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024
"""The world snapshot is several MB; the hub is trusted not to send nonsense."""

CONNECTION_CLOSED = "connection_closed"

_decoder = msgspec.json.Decoder(dict[str, Any])
_encoder = msgspec.json.Encoder()


class HubError(Exception):
    """An error answer from the hub (``code`` as in console.hub.protocol.ErrorCode)."""

    def __init__(self, code: str, detail: str, data: Any = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.data = data  # the error's optional "data" (e.g. the current task on a conflict)


class HubClient:
    def __init__(
        self,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        on_closed: Callable[[str], None] | None = None,
    ) -> None:
        self._on_event = on_event
        self._on_closed = on_closed
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.close_reason: str | None = None

    @property
    def connected(self) -> bool:
        return self._ws is not None and self.close_reason is None

    async def connect(self, url: str, *, open_timeout: float = 10.0) -> None:
        """Open the websocket; ``ws://host:port`` means ``ws://host:port/ws/console``.

        Raises OSError / TimeoutError when the hub is unreachable and
        ``websockets.exceptions.InvalidHandshake`` when the address is not a hub.
        """
        if self._ws is not None:
            raise RuntimeError("already connected; use a new HubClient to reconnect")
        self._ws = await connect(
            console_url(url), max_size=CLIENT_MAX_MESSAGE_BYTES, open_timeout=open_timeout
        )
        self._reader = asyncio.create_task(self._read(self._ws))

    async def login(self, username: str, password: str, seat: str) -> dict[str, Any]:
        """Log in; returns the ``login.ok`` message (user, scope, server_time)."""
        return await self._exchange(
            {"type": "login", "username": username, "password": password, "seat": seat}
        )

    async def request(self, method: str, **params: Any) -> Any:
        """Call a hub method and return its result; raises HubError on an error answer."""
        answer = await self._exchange({"type": "request", "method": method, "params": params})
        return answer.get("result")

    async def request_with_reason(self, method: str, **params: Any) -> tuple[Any, str | None]:
        """Like request() but also returns why the result is what it is (e.g. null)."""
        answer = await self._exchange({"type": "request", "method": method, "params": params})
        return answer.get("result"), answer.get("reason")

    async def subscribe(self, topics: list[str]) -> list[str]:
        """Receive events of ``topics`` (replacing earlier ones) through ``on_event``."""
        result: dict[str, list[str]] = await self.request("events.subscribe", topics=topics)
        return result["topics"]

    async def close(self) -> None:
        """Close the connection and wait for the reader to finish."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _exchange(self, message: dict[str, Any]) -> dict[str, Any]:
        ws = self._ws
        if ws is None:
            raise RuntimeError("not connected: call connect() first")
        if self.close_reason is not None:
            raise HubError(CONNECTION_CLOSED, self.close_reason)
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await ws.send(_encoder.encode({**message, "id": request_id}), text=True)
            answer = await future
        except ConnectionClosed:
            raise HubError(CONNECTION_CLOSED, self.close_reason or "connection closed") from None
        finally:
            self._pending.pop(request_id, None)
        if answer.get("type") == "error":
            raise HubError(str(answer.get("code")), str(answer.get("detail")), answer.get("data"))
        return answer

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                message = _decoder.decode(raw)
                if message.get("type") == "event":
                    if self._on_event is not None:
                        try:
                            self._on_event(message)
                        except Exception:
                            log.exception("on_event callback failed")
                    continue
                future = self._pending.get(message.get("id", -1))
                if future is not None and not future.done():
                    future.set_result(message)
                elif message.get("type") == "error":
                    log.warning("hub error without request: %s", message)
        except ConnectionClosed:
            pass
        finally:
            reason = _describe_close(ws)
            self.close_reason = reason
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(HubError(CONNECTION_CLOSED, reason))
            if self._on_closed is not None:
                self._on_closed(reason)


def console_url(url: str) -> str:
    """The console-link URL of a hub address given with or without the path."""
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        return urlunsplit(parts._replace(path=CONSOLE_PATH))
    return url


def _describe_close(ws: ClientConnection) -> str:
    code = ws.close_code
    reason = ws.close_reason
    if code is None:
        return "connection lost"
    return f"{code} {reason}".strip()
