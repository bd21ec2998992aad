"""Shared fixtures: every test gets its own data dir, so no test touches the user's files."""

from __future__ import annotations

import os
from pathlib import Path

# Qt reads these when the first QApplication starts, before any fixture could set them.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if hasattr(os, "geteuid") and os.geteuid() == 0:
    # QtWebEngine refuses to run as root without it (CI runs as root); only then.
    os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")

import pytest

from console.core.paths import HOME_ENV

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.world",
    "tests.fixtures.browser",
    "tests.fixtures.media",
]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv(HOME_ENV, str(home))
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    return home
