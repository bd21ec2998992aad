"""A hub inside the console process, on its own thread and event loop.

Single-seat use runs the same loopback websocket path as a multi-seat centre, so there is
one code path to test.
"""

from __future__ import annotations

import asyncio
import threading

from console.hub.server import Hub
from console.hub.state import HubConfig


class EmbeddedHub:
    """``url = hub.start()`` ... ``hub.stop()``; also a context manager."""

    def __init__(self, db_url: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = HubConfig(db_url=db_url, host=host, port=port)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self.url: str | None = None

    def start(self, timeout: float = 60.0) -> str:
        """Start the hub thread; returns the websocket URL once the hub is listening."""
        if self._thread is not None:
            raise RuntimeError("EmbeddedHub already started")
        self._thread = threading.Thread(target=self._main, name="embedded-hub", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise TimeoutError(f"embedded hub did not start within {timeout} s")
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError(f"embedded hub failed to start: {self._error}") from self._error
        assert self.url is not None
        return self.url

    def stop(self, timeout: float = 30.0) -> None:
        """Stop listening, close connections and the store, and join the thread."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError(f"embedded hub thread did not stop within {timeout} s")
        self._thread = None
        if self._error is not None:
            raise RuntimeError(f"embedded hub failed: {self._error}") from self._error

    def __enter__(self) -> EmbeddedHub:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start(); the thread must not die silently
            self._error = exc
        finally:
            self._started.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        hub = await Hub.start(self.config)
        try:
            self.url = hub.url
            self._started.set()
            await self._stop.wait()
        finally:
            await hub.stop()
