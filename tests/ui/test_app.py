"""The console as a whole: embedded hub by default, features installed, CLI entry points."""

from __future__ import annotations

import importlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from console.__main__ import main
from console.app import FEATURES, Console
from console.commands.demo import ensure_world
from console.shell import i18n
from console.shell.main_window import MainWindow
from console.store import Store
from tests.ui.conftest import copy_db


@pytest.fixture
def restore_language() -> Iterator[None]:
    yield
    i18n.set_language(i18n.DEFAULT_LANGUAGE)


def test_console_starts_an_embedded_hub_and_installs_features(
    qtbot: QtBot, tmp_path: Path, county_db_template: Path
) -> None:
    console = Console(hub_url=None, db_url=copy_db(county_db_template, tmp_path), seat="s1")
    try:
        link = console.start()
        assert link.url.startswith("ws://127.0.0.1:")
        link.login("county", "demo1234", console.seat)
        qtbot.waitUntil(lambda: bool(console.session.snapshot), timeout=30_000)
        assert console.session.scope is not None
        assert console.session.scope["districts"] == ["331002"]
        assert console.window is not None
        with_install = [n for n in FEATURES if hasattr(importlib.import_module(n), "install")]
        if "console.map" in with_install:  # the map replaces the summary in the centre
            assert console.window.centralWidget() is not console.window.summary
    finally:
        console.close()


def test_gui_command_logs_in_from_stdin_and_opens_the_window(
    tmp_path: Path,
    county_db_template: Path,
    monkeypatch: pytest.MonkeyPatch,
    qapp: QApplication,
    restore_language: None,
) -> None:
    db_url = copy_db(county_db_template, tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("demo1234\n"))
    seen: list[str] = []

    def close_when_ready() -> None:
        for widget in qapp.topLevelWidgets():
            if isinstance(widget, MainWindow) and widget.isVisible() and widget.session.snapshot:
                seen.append(widget.user_label.text())
                widget.close()  # last window closed: app.exec() returns
                return
        QTimer.singleShot(50, close_when_ready)

    QTimer.singleShot(50, close_when_ready)
    args = ["gui", "--db", db_url, "--user", "county", "--password-stdin", "--lang", "en"]
    assert main(args) == 0
    assert seen == ["周强 (Dispatcher)"]  # the demo display name, the role in English


def test_gui_command_refuses_db_with_a_remote_hub(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gui", "--hub", "ws://127.0.0.1:1/ws/console", "--db", "sqlite://"]) == 2
    assert "--db only applies to the embedded hub" in capsys.readouterr().err


def test_demo_keeps_an_existing_world(tmp_path: Path, county_db_template: Path) -> None:
    db_url = copy_db(county_db_template, tmp_path)
    assert ensure_world(db_url) == 0
    store = Store.open(db_url)
    try:
        world = store.load_world()
        assert [d.adcode for d in world.districts] == ["331002"]  # not replaced by Taizhou
    finally:
        store.close()


@pytest.mark.slow
def test_demo_seeds_an_empty_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db_url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    assert ensure_world(db_url) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["world"]["adcode"] == "331000"
    assert "dispatcher" in summary["users_added"]
