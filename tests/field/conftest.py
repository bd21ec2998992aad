"""Field-app fixtures: one seeded hub for the package and a console client on its own thread.

The browser tests drive Playwright's sync API on the test thread, so the asyncio console
client (HubClient) runs on a background loop and is called through ``ConsoleThread.call``.
"""

from __future__ import annotations

import asyncio
import http.client
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest

from console.core.paths import HOME_ENV
from console.hub.client import HubClient
from console.hub.embedded import EmbeddedHub
from console.store import Store
from console.store.field_repo import FieldRepo
from tests.hub.support import PASSWORD, seed_store, small_world

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FieldHub:
    """A running hub: ``base_url`` serves ``/field/``; ``console_url`` is the console link."""

    base_url: str
    console_url: str
    db_url: str

    def http(self) -> http.client.HTTPConnection:
        """A plain HTTP connection to the hub's port (caller closes it)."""
        parts = urlsplit(self.base_url)
        return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)

    def issue_token(self, officer_id: str) -> str:
        """A bearer token for the officer, issued the way ``officer token`` issues it."""
        store = Store.open(self.db_url)
        try:
            return FieldRepo(store.engine).issue_token(officer_id, datetime.now(UTC)).token
        finally:
            store.close()


# Package scope, not session: a hub and a logged-in console left running keep sending
# websocket keepalive pings, and those draw on the global ``random`` (websockets' ping
# payloads) while later tests' Hypothesis strategies run, which Hypothesis warns about.
@pytest.fixture(scope="package")
def field_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FieldHub]:
    root: Path = tmp_path_factory.mktemp("field-hub")
    db_url = f"sqlite:///{root / 'hub.sqlite3'}"
    seed_store(db_url, small_world())
    home = root / "home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        # The hub keeps attachments under the data dir it sees when it starts.
        patch.setenv(HOME_ENV, str(home))
        hub = EmbeddedHub(db_url)
        url = hub.start()
    try:
        base = url.removeprefix("ws://").split("/", 1)[0]
        yield FieldHub(base_url=f"http://{base}", console_url=url, db_url=db_url)
    finally:
        hub.stop()


class ConsoleThread:
    """A logged-in console (HubClient) on a private event loop thread."""

    def __init__(self, url: str, username: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="console-client")
        self._thread.start()
        self.client = HubClient()
        self._run(self.client.connect(url))
        self._run(self.client.login(username, PASSWORD, "field-test"))

    def _run(self, coroutine: Any, timeout: float = 20.0) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout)

    def call(self, method: str, **params: Any) -> Any:
        return self._run(self.client.request(method, **params))

    def wait_for(
        self, read: Callable[[], T], done: Callable[[T], bool], timeout: float = 15.0
    ) -> T:
        """Poll ``read`` (a hub request) until ``done`` holds; the hub applies asynchronously."""
        deadline = time.monotonic() + timeout
        while True:
            value = read()
            if done(value):
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s; last value {value!r}")
            time.sleep(0.05)

    def close(self) -> None:
        try:
            self._run(self.client.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()


@pytest.fixture(scope="package")
def dispatcher(field_hub: FieldHub) -> Iterator[ConsoleThread]:
    console = ConsoleThread(field_hub.console_url, "dispatcher")
    yield console
    console.close()
