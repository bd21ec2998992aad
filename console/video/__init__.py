"""Video: camera tiles, the video wall, demo streams and the ``install`` hook.

The "视频" dock lists the cameras of the session's snapshot (kept current by
``camera.changed``), shows them on a small wall and can open a full wall window on any
screen. Playable URLs (with credentials) come from the hub's ``camera.stream_url`` and go
straight into the players; tiles report playing / no signal back as ``camera.status``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QGridLayout,
    QHBoxLayout,
    QInputDialog,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from console.hub.client import HubError
from console.shell.i18n import tr
from console.shell.main_window import MainWindow
from console.shell.session import Session
from console.video.call import CallController, CallTile, install_calls
from console.video.incident import INCIDENT_UPDATED, IncidentBoard
from console.video.layout import PRESETS, WallLayout
from console.video.register import CameraRegister
from console.video.wall import UrlResolver, VideoWall

log = logging.getLogger(__name__)

VIDEO_TOPICS = ("camera.changed", "alarm.raised", "task.updated")


def hub_resolver(session: Session) -> UrlResolver:
    """Ask the session's hub for a camera's playable URL (nothing happens without a hub)."""

    def resolve(camera_id: str, done: Any) -> None:
        hub = session.hub
        if hub is None:
            return

        def failed(error: HubError) -> None:
            log.warning("no stream URL for camera %s: %s", camera_id, error)

        hub.request(
            "camera.stream_url",
            {"camera_id": camera_id},
            on_result=lambda result: done(str(result["url"])),
            on_error=failed,
        )

    return resolve


def connect_wall(wall: VideoWall, session: Session) -> None:
    """Feed ``wall`` from the session and report its tiles' states to the hub."""
    last_report: dict[str, bool] = {}

    def report(camera_id: str, state: str) -> None:
        if not camera_id or state not in ("playing", "no_signal") or session.hub is None:
            return
        online = state == "playing"
        if last_report.get(camera_id) != online:
            last_report[camera_id] = online
            session.hub.request("camera.status", {"camera_id": camera_id, "online": online})

    def snapshot(data: dict[str, Any]) -> None:
        wall.set_cameras(data.get("cameras", []))

    wall.sig_camera_state.connect(report)
    session.sig_snapshot_changed.connect(snapshot)
    session.sig_events.connect(wall.apply_events)
    if session.snapshot:
        snapshot(session.snapshot)


class WallWindow(QWidget):
    """A top-level wall, full screen on one of ``QGuiApplication.screens()``."""

    def __init__(
        self,
        session: Session,
        *,
        layout: WallLayout | str = "9",
        tour_interval_s: float = 20.0,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle(tr("Video wall"))
        self.wall = VideoWall(hub_resolver(session), self, tour_interval_s=tour_interval_s)
        self.wall.set_layout(layout)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.wall, 2)
        connect_wall(self.wall, session)

    def add_call_tile(self, tile: CallTile) -> None:
        """Show a live call under the wall (it keeps its hang-up button)."""
        tile.allow_wall(False)
        layout = self.layout()
        assert isinstance(layout, QVBoxLayout)
        layout.addWidget(tile, 1)

    def show_on_screen(self, index: int, *, full_screen: bool = True) -> None:
        screens = QGuiApplication.screens()
        if not 0 <= index < len(screens):
            raise ValueError(f"no screen {index}: this machine has {len(screens)} screen(s)")
        self.setScreen(screens[index])
        self.move(screens[index].geometry().topLeft())
        if full_screen:
            self.showFullScreen()
        else:
            self.show()
        self.wall.setFocus()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.wall.stop_all()
        super().closeEvent(event)


class VideoPanel(QWidget):
    """The dock's content: camera list, layout picker, a small wall, "open on wall"."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.wall_window: WallWindow | None = None
        self.calls: CallController | None = None
        self.call_tiles = QHBoxLayout()
        """Live officer calls, above the cameras (``add_call_tile``)."""
        self.cameras = QListWidget()
        self.layouts = QComboBox()
        for preset in PRESETS:
            self.layouts.addItem(tr("{count} tiles", count=preset), preset)
        self.layouts.setCurrentIndex(1)
        self.open_wall = QPushButton(tr("Open on wall"))
        self.save_layout = QPushButton(tr("Save layout…"))
        self.save_layout.setToolTip(tr("Keep this wall layout in the hub for every wall"))
        self.save_layout.clicked.connect(self.ask_layout_name)
        self.manage = QPushButton(tr("Camera register…"))
        self.manage.setToolTip(tr("Add, edit or remove cameras (administrators)"))
        self.manage.clicked.connect(self.show_register)
        self.wall = VideoWall(hub_resolver(session), self)
        controls = QGridLayout()  # two rows: one would set the camera list's minimum width
        controls.addWidget(self.layouts, 0, 0)
        controls.addWidget(self.open_wall, 0, 1)
        controls.addWidget(self.save_layout, 1, 0)
        controls.addWidget(self.manage, 1, 1)
        side = QWidget()
        side_box = QVBoxLayout(side)
        side_box.setContentsMargins(0, 0, 0, 0)
        side_box.addWidget(self.cameras)
        side_box.addLayout(controls)
        splitter = QSplitter()
        splitter.addWidget(side)
        splitter.addWidget(self.wall)
        splitter.setStretchFactor(1, 3)
        box = QVBoxLayout(self)
        box.addLayout(self.call_tiles)
        box.addWidget(splitter)
        connect_wall(self.wall, session)
        self.wall.sig_layout_changed.connect(lambda _layout: self._list_cameras())
        session.sig_snapshot_changed.connect(lambda _s: self._list_cameras())
        session.sig_snapshot_changed.connect(lambda _s: self.load_saved_layouts())
        session.sig_events.connect(self._on_events)
        self.layouts.currentIndexChanged.connect(
            lambda _i: self.wall.set_layout(str(self.layouts.currentData()))
        )
        self.cameras.itemDoubleClicked.connect(self._show_item)
        self.open_wall.clicked.connect(self.show_wall)
        self._list_cameras()

    def ask_layout_name(self) -> None:
        name, accepted = QInputDialog.getText(self, tr("Save layout"), tr("Layout name"))
        if accepted and name.strip():
            self.save_current_layout(name.strip())

    def save_current_layout(self, name: str) -> None:
        """Save the wall's current layout in the hub under ``name`` (shared by every wall)."""
        if self.session.hub is None:
            return
        self.session.hub.request(
            "wall.layout.save",
            {"name": name, "spec": self.wall.layout_.to_spec()},
            lambda _result: self.load_saved_layouts(),
            self._on_layout_error,
        )

    def load_saved_layouts(self) -> None:
        """Offer the hub's saved layouts after the presets in the layout selector."""
        if self.session.hub is not None:
            self.session.hub.request(
                "wall.layouts", {}, self._on_saved_layouts, self._on_layout_error
            )

    def _on_saved_layouts(self, layouts: Any) -> None:
        current = self.layouts.currentData()
        while self.layouts.count() > len(PRESETS):
            self.layouts.removeItem(self.layouts.count() - 1)
        for saved in layouts:
            self.layouts.addItem(tr("Saved: {name}", name=saved["name"]), json.dumps(saved["spec"]))
        index = self.layouts.findData(current)
        if index >= 0:
            self.layouts.setCurrentIndex(index)

    def _on_layout_error(self, error: HubError) -> None:
        log.warning("wall layouts: %s %s", error.code, error.detail)

    def show_register(self) -> CameraRegister:
        """Open the camera register (the hub refuses changes from non-admins, with a reason)."""
        dialog = CameraRegister(self.session, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def show_wall(self, screen: int | None = None) -> WallWindow:
        """Open (or raise) the wall window on the last screen (a wall is usually extra)."""
        if self.wall_window is None:
            self.wall_window = WallWindow(self.session)
            self.wall_window.destroyed.connect(self._wall_closed)
            self.wall_window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        index = len(QGuiApplication.screens()) - 1 if screen is None else screen
        self.wall_window.show_on_screen(index)
        self.wall_window.raise_()
        return self.wall_window

    def add_call_tile(self, tile: CallTile) -> None:
        """Dock a call's tile in the panel; its "send to wall" moves it to the wall window."""
        tile.setMinimumSize(240, 180)
        tile.allow_wall(True)
        tile.sig_send_to_wall.connect(lambda _call_id: self.send_call_to_wall(tile))
        self.call_tiles.addWidget(tile)

    def send_call_to_wall(self, tile: CallTile) -> WallWindow:
        """Open the wall window and move the call there (closing the wall hangs up)."""
        window = self.show_wall()
        window.add_call_tile(tile)
        return window

    def _wall_closed(self) -> None:
        self.wall_window = None

    def _on_events(self, events: list[dict[str, Any]]) -> None:
        if any(event.get("topic") == "camera.changed" for event in events):
            self._list_cameras()

    def _list_cameras(self) -> None:
        self.cameras.clear()
        for camera in self.wall.cameras:
            item = QListWidgetItem(str(camera.get("name", camera["id"])))
            item.setData(Qt.ItemDataRole.UserRole, camera["id"])
            if not camera.get("online", True):
                item.setText(tr("{name} (no signal)", name=item.text()))
            self.cameras.addItem(item)

    def _show_item(self, item: QListWidgetItem) -> None:
        self.wall.show_camera(str(item.data(Qt.ItemDataRole.UserRole)))


def install_incident_board(
    window: MainWindow, session: Session, panel: VideoPanel
) -> IncidentBoard:
    """Add the "应急事件" dock; the incident's cameras go to the dock's wall and, once
    opened, to the wall window (its "Open on wall" opens it)."""

    def walls() -> list[VideoWall]:
        window_wall = None if panel.wall_window is None else panel.wall_window.wall
        return [panel.wall] + ([window_wall] if window_wall is not None else [])

    board = IncidentBoard(session, walls=walls, open_wall=panel.show_wall)
    dock = QDockWidget(tr("Incident"), window)
    dock.setObjectName("incident-dock")
    dock.setWidget(board)
    window.add_dock(dock, Qt.DockWidgetArea.RightDockWidgetArea, side_tab=True)
    if session.hub is not None:
        session.hub.subscribe([INCIDENT_UPDATED])
    return board


def install(window: MainWindow, session: Session) -> VideoPanel:
    """Add the "视频" dock (camera list, tiles, open on wall) and subscribe to its events."""
    panel = VideoPanel(session)
    dock = QDockWidget(tr("Video"), window)
    dock.setObjectName("video-dock")
    dock.setWidget(panel)
    window.add_dock(dock, Qt.DockWidgetArea.BottomDockWidgetArea)
    if session.hub is not None:
        session.hub.subscribe(list(VIDEO_TOPICS))
    install_incident_board(window, session, panel)
    panel.calls = install_calls(session, place_tile=panel.add_call_tile)

    def close_wall() -> None:
        if panel.wall_window is not None:
            panel.wall_window.close()
        if panel.calls is not None:
            panel.calls.close()

    window.destroyed.connect(close_wall)
    return panel
