"""The main window puts its docks back where the user left them, and survives a bad file."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QLabel
from pytestqt.qtbot import QtBot

from console.app import show_main_window
from console.core.paths import data_dir
from console.shell.main_window import LAYOUT_FILE, MainWindow
from console.shell.session import Session


def window_with_docks(qtbot: QtBot) -> tuple[MainWindow, QDockWidget, QDockWidget]:
    window = MainWindow(Session())
    qtbot.addWidget(window)
    docks = []
    for name in ("intake", "roster"):
        dock = QDockWidget(name, window)
        dock.setObjectName(f"test.{name}")
        dock.setWidget(QLabel(name))
        window.add_dock(dock)
        docks.append(dock)
    return window, docks[0], docks[1]


def test_docks_come_back_where_they_were_left(qtbot: QtBot) -> None:
    first, intake, roster = window_with_docks(qtbot)
    first.resize(1100, 700)
    first.show()
    qtbot.waitExposed(first)
    first.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, roster)
    intake.hide()
    first.close()
    assert (data_dir() / LAYOUT_FILE).is_file()

    second, intake, roster = window_with_docks(qtbot)
    assert second.restore_layout()
    second.show()
    qtbot.waitExposed(second)
    assert second.dockWidgetArea(roster) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert intake.isHidden()
    # The size comes back too, within the screen (the offscreen platform's is 800 x 600).
    assert second.height() == 700


def test_a_damaged_or_missing_layout_changes_nothing(qtbot: QtBot) -> None:
    window, intake, roster = window_with_docks(qtbot)
    assert not window.restore_layout()  # no file yet
    path: Path = data_dir() / LAYOUT_FILE
    for damaged in ("{not json", '{"version": 1, "geometry": "@@", "state": ""}', "[]"):
        path.write_text(damaged, encoding="utf-8")
        assert not window.restore_layout()
        assert path.read_text(encoding="utf-8") == damaged  # left for the user to look at
    assert window.dockWidgetArea(roster) == Qt.DockWidgetArea.RightDockWidgetArea
    assert not intake.isHidden()


def test_a_window_never_shown_saves_nothing(qtbot: QtBot) -> None:
    window, _intake, _roster = window_with_docks(qtbot)
    window.close()  # e.g. the login was cancelled: keep the arrangement saved before
    assert not (data_dir() / LAYOUT_FILE).exists()


def test_the_first_start_fills_the_screen_and_later_starts_keep_the_users_size(
    qtbot: QtBot,
) -> None:
    first, _intake, _roster = window_with_docks(qtbot)
    assert not show_main_window(first)  # no saved layout yet
    qtbot.waitExposed(first)
    screen = first.screen().availableGeometry()
    assert first.windowState() & Qt.WindowState.WindowMaximized
    assert (first.width(), first.height()) == (screen.width(), screen.height())
    first.showNormal()
    first.resize(screen.width() // 2, screen.height() // 2)
    first.close()

    second, _intake, _roster = window_with_docks(qtbot)
    assert show_main_window(second)
    qtbot.waitExposed(second)
    assert not second.windowState() & Qt.WindowState.WindowMaximized
    assert second.width() == screen.width() // 2
