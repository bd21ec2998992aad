"""UI test fixtures: leak checks after every test, a seeded hub per test.

The demo world is seeded once per session into a template SQLite file; each test that
needs a hub copies it (a copy takes milliseconds, seeding takes seconds).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication

from console.core.model import World
from console.store import Store
from console.store.demo_world import build_demo_world, demo_accounts


def _active_timers() -> set[int]:
    """Addresses of running QTimers created from Python.

    Found through shiboken's wrapper registry, not ``gc.get_objects()``: the latter hands out
    references to objects that other threads (the hub) are still building, which makes
    CPython fail there with "bad argument to internal function".
    """
    return {
        shiboken6.getCppPointer(obj)[0]
        for obj in shiboken6.getAllValidWrappers()
        if isinstance(obj, QTimer) and obj.isActive()
    }


def _top_level_widgets(app: QApplication) -> set[int]:
    return {shiboken6.getCppPointer(w)[0] for w in app.topLevelWidgets()}


@pytest.fixture(autouse=True)
def no_leaks(qapp: QApplication) -> Iterator[None]:
    """Fail a test that leaves threads, running timers or top-level widgets behind."""
    threads_before = set(threading.enumerate())
    widgets_before = _top_level_widgets(qapp)
    timers_before = _active_timers()
    yield
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    qapp.processEvents()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    deadline = time.monotonic() + 3.0
    while True:
        threads = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
        if not threads or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    widgets = [
        w for w in qapp.topLevelWidgets() if shiboken6.getCppPointer(w)[0] not in widgets_before
    ]
    timers = _active_timers() - timers_before
    assert not threads, f"leaked threads: {threads}"
    assert not widgets, f"leaked top-level widgets: {widgets}"
    assert not timers, f"{len(timers)} leaked running QTimer(s)"


def seed_file(path: Path, world: World) -> Path:
    """Store ``world`` and the demo users (password demo1234) in a new SQLite file."""
    store = Store.open(f"sqlite:///{path}")
    try:
        store.save_world(world)
        for user in demo_accounts(world):
            store.add_user(user)
    finally:
        store.close()
    return path


@pytest.fixture(scope="session")
def world_db_template(tmp_path_factory: pytest.TempPathFactory, demo_world: World) -> Path:
    """The Taizhou demo world and demo users, seeded once per session."""
    return seed_file(tmp_path_factory.mktemp("ui-world") / "city.sqlite3", demo_world)


@pytest.fixture(scope="session")
def county_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-district world (椒江区): a hub on it starts in about a second, the city's
    takes several (locator build), so tests that start and stop hubs use this one."""
    world = build_demo_world("331002", seed=0)
    return seed_file(tmp_path_factory.mktemp("ui-county") / "county.sqlite3", world)


def copy_db(template: Path, directory: Path) -> str:
    """A private copy of a seeded template; returns its SQLite URL."""
    path = directory / template.name
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


class PaintCounter(QObject):
    """Counts the paint events of the widget it watches (``PaintCounter(viewport)``)."""

    def __init__(self, widget: QObject) -> None:
        super().__init__(widget)
        self.paints = 0
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        return False
