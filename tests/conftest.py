"""Shared fixtures: every test gets its own data dir, so no test touches the user's files."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.core.paths import HOME_ENV

pytest_plugins = ["tests.fixtures.postgres", "tests.fixtures.world"]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv(HOME_ENV, str(home))
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    return home
