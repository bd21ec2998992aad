"""Hub fixtures: a seeded SQLite store and a hub shared by the session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from console.hub.embedded import EmbeddedHub
from tests.hub.support import seed_store, small_world


@pytest.fixture(scope="session")
def seeded_sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("hub") / "hub.sqlite3"
    url = f"sqlite:///{path}"
    seed_store(url, small_world())
    return url


@pytest.fixture(scope="module")
def hub_url(seeded_sqlite_url: str) -> Iterator[str]:
    """A hub shared by the tests of a module (each test opens its own connections)."""
    hub = EmbeddedHub(seeded_sqlite_url)
    url = hub.start()
    yield url
    hub.stop()
