"""The video wall: a grid of camera tiles with layouts, pages, tours, keys and alarm pop-in.

The wall holds camera records (dicts from the hub, no credentials) and asks a resolver for
each playable URL when a tile needs it, so credentials only live in the players. Pages come
from ``tour_pages`` (each camera group fills its own pages); a tour steps through them on a
timer. An ``alarm.raised`` for an enterprise with a camera (or an emergency task at one)
pins that camera in the first tile, marks it, and pauses the tour until ``clear_pop_in``.

Keys: 1-4 layouts 1/4/9/16, Left/Right/PgUp/PgDn pages, Space pause/resume the tour,
F full screen, Esc leave full screen (or drop the pop-in).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QGridLayout, QWidget

from console.video.layout import PRESETS, WallLayout, parse_layout, tour_pages
from console.video.tile import CameraTile

UrlResolver = Callable[[str, Callable[[str], None]], None]
"""``resolve(camera_id, done)``: calls ``done(url)`` later (or at once) with a playable URL."""

CAMERA_CHANGED = "camera.changed"
ALARM_RAISED = "alarm.raised"
TASK_UPDATED = "task.updated"
"""The hub's one task topic: a new task comes as its version 1."""
EMERGENCY_URGENCIES = frozenset({"urgent", "critical"})
"""A new task of these urgencies (紧急 / 特急) at an enterprise with a camera pops it in."""

_LAYOUT_KEYS = {
    Qt.Key.Key_1: PRESETS[0],
    Qt.Key.Key_2: PRESETS[1],
    Qt.Key.Key_3: PRESETS[2],
    Qt.Key.Key_4: PRESETS[3],
}


def apply_camera_events(
    cameras: list[dict[str, Any]], events: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]] | None:
    """The camera list after ``camera.changed`` events; None when none of them applied."""
    by_id = {str(c["id"]): c for c in cameras}
    changed = False
    for event in events:
        if event.get("topic") != CAMERA_CHANGED:
            continue
        data = event.get("data") or {}
        camera = data.get("camera") or {}
        camera_id = str(camera.get("id", ""))
        if not camera_id:
            continue
        if data.get("action") == "removed":
            changed |= by_id.pop(camera_id, None) is not None
        else:
            by_id[camera_id] = {**by_id.get(camera_id, {}), **camera}
            changed = True
    return list(by_id.values()) if changed else None


def pop_in_camera(
    cameras: Iterable[Mapping[str, Any]], events: Iterable[Mapping[str, Any]]
) -> str | None:
    """The camera to pop in for the newest alarm or emergency task among ``events``."""
    at_enterprise: dict[str, str] = {}
    for camera in cameras:
        if camera.get("enterprise_id"):
            at_enterprise.setdefault(str(camera["enterprise_id"]), str(camera["id"]))
    found = None
    for event in events:
        topic, data = event.get("topic"), event.get("data") or {}
        if not isinstance(data, Mapping):  # e.g. officer.moved carries a list of moves
            continue
        if topic == TASK_UPDATED:  # {"task": {...}}: a new one (version 1) pops in, not updates
            data = data.get("task") if isinstance(data.get("task"), Mapping) else {}
            wanted = data.get("version") == 1 and str(data.get("urgency")) in EMERGENCY_URGENCIES
        else:
            wanted = topic == ALARM_RAISED
        enterprise_id = str(data.get("enterprise_id") or "")
        if wanted and enterprise_id in at_enterprise:
            found = at_enterprise[enterprise_id]
    return found


class VideoWall(QWidget):
    """A grid of ``CameraTile``; see the module docstring."""

    sig_layout_changed = Signal(object)
    """The layout changed (a ``WallLayout``)."""

    sig_page_changed = Signal(int)
    """The wall shows this page index now."""

    sig_tour_changed = Signal(bool)
    """True when the tour runs, False when it is paused."""

    sig_camera_state = Signal(str, str)
    """A tile's camera changed state: (camera_id, ``TileState`` value)."""

    def __init__(
        self,
        resolve_url: UrlResolver,
        parent: QWidget | None = None,
        *,
        layout: WallLayout | None = None,
        tour_interval_s: float = 20.0,
        signal_timeout_s: float = 5.0,
    ) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setStyleSheet("background: #000;")
        self._resolve = resolve_url
        self._signal_timeout_s = signal_timeout_s
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(2)
        self.tiles: list[CameraTile] = []
        self.cameras: list[dict[str, Any]] = []
        self.layout_ = layout or parse_layout("4")
        self.page = 0
        self.pinned: str | None = None
        self.held: list[str] = []  # an incident's cameras, kept in the first tiles
        self._wanted: dict[int, str] = {}  # tile index -> camera id asked for
        self._tour = QTimer(self)
        self._tour.setInterval(max(1, int(tour_interval_s * 1000)))
        self._tour.timeout.connect(self.next_page)
        self._build_tiles()

    # ---- content --------------------------------------------------------------------

    @property
    def pages(self) -> list[list[str]]:
        return tour_pages(self._unpinned(), self._page_capacity()) or [[]]

    def set_cameras(self, cameras: Iterable[Mapping[str, Any]]) -> None:
        self.cameras = [dict(c) for c in cameras]
        if self.pinned is not None and not any(c["id"] == self.pinned for c in self.cameras):
            self.pinned = None
        known = {c["id"] for c in self.cameras}
        self.held = [camera_id for camera_id in self.held if camera_id in known]
        self.page = min(self.page, len(self.pages) - 1)
        self._fill()

    def set_layout(self, layout: WallLayout | str) -> None:
        self.layout_ = parse_layout(layout) if isinstance(layout, str) else layout
        self._build_tiles()
        self.page = min(self.page, len(self.pages) - 1)
        self._fill()
        self.sig_layout_changed.emit(self.layout_)

    def show_page(self, index: int) -> None:
        self.page = index % len(self.pages)
        self._fill()
        self.sig_page_changed.emit(self.page)

    def next_page(self) -> None:
        self.show_page(self.page + 1)

    def previous_page(self) -> None:
        self.show_page(self.page - 1)

    def show_camera(self, camera_id: str) -> None:
        """Show the page holding ``camera_id`` (the camera list's double click)."""
        for index, page in enumerate(self.pages):
            if camera_id in page:
                self.show_page(index)
                return

    def visible_cameras(self) -> list[str]:
        return [tile.camera_id for tile in self.tiles if tile.camera_id]

    # ---- tour and pop-in ------------------------------------------------------------

    @property
    def touring(self) -> bool:
        return self._tour.isActive()

    def start_tour(self, interval_s: float | None = None) -> None:
        if interval_s is not None:
            self._tour.setInterval(max(1, int(interval_s * 1000)))
        self._tour.start()
        self.sig_tour_changed.emit(True)

    def pause_tour(self) -> None:
        if self._tour.isActive():
            self._tour.stop()
            self.sig_tour_changed.emit(False)

    def toggle_tour(self) -> None:
        if self.touring:
            self.pause_tour()
        else:
            self.start_tour()

    def pop_in(self, camera_id: str) -> bool:
        """Pin ``camera_id`` in the first tile, mark it and pause the tour."""
        if not any(c["id"] == camera_id for c in self.cameras):
            return False
        self.pinned = camera_id
        self.pause_tour()
        self.page = min(self.page, len(self.pages) - 1)
        self._fill()
        return True

    def hold(self, camera_ids: Iterable[str]) -> list[str]:
        """Keep these cameras (an incident's) in the first tiles and pause the tour until
        ``release``; returns the ids held (cameras the wall does not know are skipped)."""
        known = {c["id"] for c in self.cameras}
        self.held = [c for c in dict.fromkeys(camera_ids) if c in known]
        if self.held:
            self.pause_tour()
        self.page = 0
        self._fill()
        return list(self.held)

    def release(self) -> None:
        """Give the held tiles back to the tour's pages."""
        if self.held:
            self.held = []
            self.page = min(self.page, len(self.pages) - 1)
            self._fill()

    def clear_pop_in(self) -> None:
        if self.pinned is not None:
            self.pinned = None
            self._fill()

    def apply_events(self, events: list[dict[str, Any]]) -> None:
        """Follow camera changes and pop in cameras for alarms and emergency tasks."""
        cameras = apply_camera_events(self.cameras, events)
        if cameras is not None:
            self.set_cameras(cameras)
        camera_id = pop_in_camera(self.cameras, events)
        if camera_id is not None:
            self.pop_in(camera_id)

    def stop_all(self) -> None:
        """Stop the tour and every player (the wall is being closed)."""
        self.pause_tour()
        for tile in self.tiles:
            tile.stop()

    # ---- keys -----------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key = event.key()
        window = self.window()
        if key in _LAYOUT_KEYS:
            self.set_layout(_LAYOUT_KEYS[Qt.Key(key)])
        elif key in (Qt.Key.Key_Right, Qt.Key.Key_PageDown):
            self.next_page()
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_PageUp):
            self.previous_page()
        elif key == Qt.Key.Key_Space:
            self.toggle_tour()
        elif key == Qt.Key.Key_F:
            if window.isFullScreen():
                window.showNormal()
            else:
                window.showFullScreen()
        elif key == Qt.Key.Key_Escape:
            if window.isFullScreen():
                window.showNormal()
            else:
                self.clear_pop_in()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    # ---- internals ------------------------------------------------------------------

    def _front(self) -> list[str]:
        """Cameras in the first tiles whatever the page: held ones, then the pop-in."""
        front = list(self.held)
        if self.pinned is not None and self.pinned not in front:
            front.append(self.pinned)
        return front

    def _page_capacity(self) -> int:
        return max(1, self.layout_.capacity - len(self._front()))

    def _unpinned(self) -> list[dict[str, Any]]:
        front = set(self._front())
        return [c for c in self.cameras if c["id"] not in front]

    def _build_tiles(self) -> None:
        needed = self.layout_.capacity
        while len(self.tiles) > needed:
            tile = self.tiles.pop()
            tile.stop()
            self._grid.removeWidget(tile)
            tile.deleteLater()
        while len(self.tiles) < needed:
            tile = CameraTile(self, signal_timeout_s=self._signal_timeout_s)
            tile.sig_state_changed.connect(self.sig_camera_state)
            self.tiles.append(tile)
        for r in range(self._grid.rowCount()):
            self._grid.setRowStretch(r, 0)
        for c in range(self._grid.columnCount()):
            self._grid.setColumnStretch(c, 0)
        for tile, spec in zip(self.tiles, self.layout_.tiles, strict=True):
            self._grid.removeWidget(tile)
            self._grid.addWidget(tile, spec.row, spec.col, spec.row_span, spec.col_span)
        for r in range(self.layout_.rows):
            self._grid.setRowStretch(r, 1)
        for c in range(self.layout_.cols):
            self._grid.setColumnStretch(c, 1)
        self._wanted = {i: w for i, w in self._wanted.items() if i < needed}

    def _fill(self) -> None:
        names = {c["id"]: str(c.get("name", c["id"])) for c in self.cameras}
        ids = self._front() + (list(self.pages[self.page]) if self.pages else [])
        for index, tile in enumerate(self.tiles):
            camera_id = ids[index] if index < len(ids) else ""
            tile.set_highlighted(bool(camera_id) and camera_id == self.pinned)
            if camera_id == self._wanted.get(index, "") and camera_id == tile.camera_id:
                continue
            self._wanted[index] = camera_id
            if not camera_id:
                tile.clear()
                continue
            self._resolve(camera_id, self._resolved(index, camera_id, names[camera_id]))

    def _resolved(self, index: int, camera_id: str, name: str) -> Callable[[str], None]:
        def done(url: str) -> None:
            # The wall may have moved on while the hub answered.
            if index < len(self.tiles) and self._wanted.get(index) == camera_id:
                self.tiles[index].set_camera(camera_id, name, url)

        return done
