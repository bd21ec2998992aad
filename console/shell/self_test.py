"""``enforcement-console --self-test``: proves an installed or bundled console works end to end.

It runs in a throw-away data dir (the user's settings and database are never touched): seeds
a one-district demo world (椒江区, about a second), starts the console the normal way (the
embedded hub on the loopback websocket), logs in as the demo dispatcher, waits for the map
page to draw the snapshot, prints one JSON line and exits 0, or 1 with ``"ok": false`` and
the reason. Works offscreen (``QT_QPA_PLATFORM=offscreen``), which is how the packaging test
runs the bundle.

The console is passed in (``start_console``) because the shell sits below ``console.app``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QCoreApplication, QEvent, QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from console.core.paths import HOME_ENV
from console.monitoring.hj212 import SPEEDUPS
from console.shell.hub_link import HubLink
from console.shell.i18n import install_qt_translator, set_language
from console.shell.session import Session

SELF_TEST_ADCODE = "331002"  # 椒江区: a one-district world seeds and starts in ~1 s
SELF_TEST_USER = "dispatcher"
SELF_TEST_PASSWORD = "demo1234"  # the documented demo credentials
TIMEOUT_S = 90.0


class ConsoleLike(Protocol):
    """What the self-test needs of ``console.app.Console``."""

    session: Session

    @property
    def window(self) -> Any: ...

    def start(self) -> HubLink: ...

    def close(self) -> None: ...


StartConsole = Callable[[str], ConsoleLike]
"""Builds (not starts) a console with an embedded hub on the given database URL."""


def _seed(db_url: str) -> dict[str, Any]:
    """Seed the tiny world through the ``seed`` command; returns its world summary."""
    from console.commands import seed

    parser = argparse.ArgumentParser()
    seed.add_arguments(parser)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = seed.run(parser.parse_args(["--db", db_url, "--adcode", SELF_TEST_ADCODE]))
    if code != 0:
        raise RuntimeError(f"seeding the self-test world failed (exit code {code})")
    summary: dict[str, Any] = json.loads(out.getvalue().strip().splitlines()[-1])["world"]
    return summary


def _wait(condition: Callable[[], bool], deadline: float, what: str) -> None:
    """Run the Qt event loop until ``condition()`` holds; TimeoutError naming ``what``."""
    loop = QEventLoop()
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        QTimer.singleShot(20, loop.quit)
        loop.exec()


def _map_bridge(console: ConsoleLike) -> Any:
    """The map page's bridge (the map feature makes its view the central widget)."""
    central = console.window.centralWidget()
    bridge = getattr(central, "bridge", None)
    if bridge is None or not hasattr(bridge, "rendered_seq"):
        raise RuntimeError("the map feature is not installed: no map in the main window")
    return bridge


def run_self_test(start_console: StartConsole, version: str) -> dict[str, Any]:
    """Run the whole check; returns the JSON summary (``ok`` false with ``error`` on failure)."""
    started = time.monotonic()
    deadline = started + TIMEOUT_S
    # Whether the codec's C speed-ups are in this installation or bundle (else 3-5x slower).
    result: dict[str, Any] = {"ok": False, "version": version, "hj212_speedups": bool(SPEEDUPS)}
    with tempfile.TemporaryDirectory(prefix="console-self-test-") as home:
        previous_home = os.environ.get(HOME_ENV)
        os.environ[HOME_ENV] = home
        console: ConsoleLike | None = None
        try:
            app = QApplication.instance() or QApplication(sys.argv[:1])
            set_language("zh_CN")
            install_qt_translator(app)
            db_url = f"sqlite:///{Path(home) / 'self-test.sqlite3'}"
            result["world"] = _seed(db_url)
            console = start_console(db_url)
            link = console.start()
            result["hub"] = link.url
            page_started = time.monotonic()
            link.login(SELF_TEST_USER, SELF_TEST_PASSWORD, "self-test")
            _wait(lambda: bool(console.session.snapshot), deadline, "the hub's snapshot")
            console.window.resize(1280, 800)
            console.window.show()  # a hidden page never paints, so never reports "rendered"
            bridge = _map_bridge(console)
            _wait(
                lambda: bridge.ready and 0 < bridge.sent_seq <= bridge.rendered_seq,
                deadline,
                "the map page to draw the snapshot",
            )
            result["map_rendered_ms"] = round((time.monotonic() - page_started) * 1000)
            result["ok"] = True
        except Exception as exc:  # reported in the JSON: the self-test must say what broke
            result["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            if console is not None:
                console.close()
                # delete the window's web page now: after the profile it would crash at exit
                QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
            if previous_home is None:
                os.environ.pop(HOME_ENV, None)
            else:
                os.environ[HOME_ENV] = previous_home
    result["seconds"] = round(time.monotonic() - started, 2)
    return result
