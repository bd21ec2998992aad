"""Builds and wires the console: the one place that knows every feature.

Features install themselves through ``install(window, session)``; a feature package
without an ``install`` yet is skipped.
"""

from __future__ import annotations

import importlib
import socket
import sys
from dataclasses import dataclass

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QDialog

from console.hub.client import HubError
from console.hub.embedded import EmbeddedHub
from console.shell.controller import SessionController
from console.shell.hub_errors import error_text
from console.shell.hub_link import HubLink
from console.shell.i18n import install_qt_translator, set_language, tr
from console.shell.login import LoginDialog
from console.shell.main_window import APP_ICON, MainWindow
from console.shell.media_log import quiet_libav
from console.shell.session import Session

FEATURES = ("console.map", "console.dispatch", "console.charts", "console.video")


def install_features(window: MainWindow, session: Session) -> list[str]:
    """Call ``install(window, session)`` of every feature that has one; returns their names."""
    installed = []
    for name in FEATURES:
        install = getattr(importlib.import_module(name), "install", None)
        if install is None:
            continue
        install(window, session)
        installed.append(name)
    return installed


@dataclass(frozen=True, slots=True)
class ConsoleOptions:
    hub_url: str | None  # None: start an embedded hub on ``db_url``
    db_url: str
    username: str = ""
    password: str = ""
    seat: str = ""
    language: str = "zh_CN"
    settings_problems: tuple[str, ...] = ()
    """Settings that fell back to defaults at load; shown in the status bar."""


class Console:
    """One running console: the embedded hub (if any), the link, the session, the window."""

    def __init__(self, hub_url: str | None, db_url: str, seat: str = "") -> None:
        self.embedded = EmbeddedHub(db_url) if hub_url is None else None
        self._hub_url = hub_url
        self.seat = seat or socket.gethostname()
        self.link: HubLink | None = None
        self.session = Session()
        self.window: MainWindow | None = None
        self.controller: SessionController | None = None

    def start(self) -> HubLink:
        """Start the embedded hub if needed, then the link; build the window and features."""
        url = self.embedded.start() if self.embedded is not None else self._hub_url
        assert url is not None
        self.link = HubLink(url)
        self.controller = SessionController(self.session, self.link)
        self.controller.start()
        self.window = MainWindow(self.session)
        self.link.sig_error.connect(self._show_error)
        install_features(self.window, self.session)
        return self.link

    def close(self) -> None:
        """Stop everything this console started (window, link, embedded hub)."""
        if self.window is not None:
            self.window.close()
            self.window.deleteLater()
            self.window = None
        if self.link is not None:
            self.link.close()
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None

    def _show_error(self, error: HubError) -> None:
        if self.window is not None:
            self.window.statusBar().showMessage(error_text(error), 10_000)


def show_main_window(window: MainWindow) -> bool:
    """Show the window as the user left it; True if a saved layout was used.

    The first time, a dispatch seat gets the whole screen (maximized; its size and docks are
    kept at exit), with the first-run dock arrangement once the window has its size.
    """
    if window.restore_layout():
        window.show()
        return True
    window.setGeometry(window.screen().availableGeometry())
    window.showMaximized()
    QTimer.singleShot(0, window.arrange_docks)  # Qt splits the columns evenly until then
    return False


def run(options: ConsoleOptions) -> int:
    """Open the console (login dialog unless both credentials are given); returns exit code."""
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    quiet_libav()
    set_language(options.language)
    install_qt_translator(app)
    app.setApplicationName("enforcement-console")
    app.setWindowIcon(QIcon(str(APP_ICON)))
    console = Console(options.hub_url, options.db_url, options.seat)
    try:
        link = console.start()
        assert console.window is not None
        dialog = LoginDialog(link, console.seat, options.username)
        if options.username and options.password:
            dialog.password.setText(options.password)
            dialog.submit()  # still shown, so a wrong password can be corrected
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return 1
        show_main_window(console.window)
        if options.settings_problems:
            console.window.statusBar().showMessage(
                tr(
                    "Some settings were reset to defaults: {problems}",
                    problems="; ".join(options.settings_problems),
                ),
                30_000,
            )
        return app.exec()
    finally:
        console.close()
