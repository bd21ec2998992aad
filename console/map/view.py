"""The map widget: the offline Leaflet page in a QWebEngineView, fed through ``MapBridge``.

The view holds no domain state beyond what it last sent: it takes snapshot dicts and officer
moves, turns them into page operations (``layers``) and lets the bridge batch them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QUrl
from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineProfile
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QVBoxLayout, QWidget

from console.map import layers
from console.map.bridge import FRAME_MS, MapBridge, RequestRecorder
from console.map.page import write_page
from console.shell.i18n import language, tr

log = logging.getLogger(__name__)

_page_file: Path | None = None
_profile: QWebEngineProfile | None = None


def page_file() -> Path:
    """The rendered page, written once per process (the page never changes at run time)."""
    global _page_file
    if _page_file is None or not _page_file.is_file():
        _page_file = write_page()
    return _page_file


def shared_profile() -> QWebEngineProfile:
    """One off-the-record profile for all map pages: nothing lands in the user's Qt cache.

    It is parented to the application so it outlives every page (Qt warns when a profile
    dies before its pages).
    """
    global _profile
    if _profile is None:
        app = QCoreApplication.instance()
        if app is None:
            raise RuntimeError("create the QApplication before the map view")
        _profile = QWebEngineProfile(app)
    return _profile


class MapPage(QWebEnginePage):
    """Forwards the page's console messages to logging and keeps its errors for tests."""

    def __init__(self, profile: QWebEngineProfile, parent: QWidget) -> None:
        super().__init__(profile, parent)
        self.js_errors: list[str] = []

    def javaScriptConsoleMessage(  # noqa: N802 (Qt API)
        self,
        level: QWebEnginePage.JavaScriptConsoleMessageLevel,
        message: str,
        line: int,
        source: str,
    ) -> None:
        text = f"{source}:{line}: {message}"
        if level == QWebEnginePage.JavaScriptConsoleMessageLevel.ErrorMessageLevel:
            self.js_errors.append(text)
            log.error("map page: %s", text)
        else:
            log.debug("map page: %s", text)


class MapView(QWidget):
    """Dispatcher's map: districts, grids, enterprises, squads and moving officers."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        record_requests: bool = False,
        frame_ms: int = FRAME_MS,
        page_path: Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.web_view = QWebEngineView(self)
        self.page = MapPage(shared_profile(), self.web_view)
        self.recorder: RequestRecorder | None = None
        if record_requests:
            self.recorder = RequestRecorder(self)
            self.page.setUrlRequestInterceptor(self.recorder)
        self.web_view.setPage(self.page)
        self.bridge = MapBridge(self.page, frame_ms)
        self.layer_toggles: dict[str, QCheckBox] = {}

        toggles = QHBoxLayout()
        toggles.setContentsMargins(4, 2, 4, 2)
        for layer, text in (
            ("districts", tr("Districts")),
            ("grids", tr("Grid boundaries")),
            ("grid_labels", tr("Grid names")),
            ("enterprises", tr("Enterprises")),
            ("squads", tr("Squads")),
            ("officers", tr("Officers")),
            ("heat", tr("Complaint heat")),
        ):
            box = QCheckBox(text, self)
            box.setChecked(layer != "heat")
            box.toggled.connect(lambda visible, name=layer: self.set_layer_visible(name, visible))
            toggles.addWidget(box)
            self.layer_toggles[layer] = box
        toggles.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(toggles)
        layout.addWidget(self.web_view, 1)

        # geoman's drawing toolbar has its own catalogue; follow the console's language
        self.bridge.post(
            {"op": "draw.language", "language": "zh" if language() == "zh_CN" else "en"}
        )
        self.page_path = page_path if page_path is not None else page_file()
        self.web_view.load(QUrl.fromLocalFile(str(self.page_path)))

    def set_snapshot(self, snapshot: Mapping[str, Any]) -> None:
        """Rebuild every layer from a ``world.snapshot`` dict and fit the view to it."""
        self.bridge.post(layers.world_op(snapshot))

    def move_officers(self, moves: Iterable[Mapping[str, Any]]) -> None:
        """Move (or place) officers: dicts with ``id``, ``lon``, ``lat``, optional ``heading``."""
        self.bridge.post_rows("officers.move", layers.move_items(moves))

    def remove_officers(self, officer_ids: Iterable[str]) -> None:
        self.bridge.post({"op": "officers.remove", "ids": [str(i) for i in officer_ids]})

    def set_enterprise_states(self, states: Mapping[str, str]) -> None:
        """Recolour enterprises: id -> one of ``layers.ENTERPRISE_STATES``."""
        self.bridge.post_rows("enterprises.state", layers.enterprise_state_items(states))

    def set_heat(self, points: Iterable[tuple[float, float, float]]) -> None:
        """Replace the heat layer's points: (lon, lat, weight)."""
        self.bridge.post({"op": "heat", "points": [list(p) for p in points]})

    def set_layer_visible(self, layer: str, visible: bool) -> None:
        box = self.layer_toggles.get(layer)
        if box is not None and box.isChecked() != visible:
            box.setChecked(visible)  # its toggled signal comes back here with the box in sync
            return
        self.bridge.post(layers.layer_op(layer, visible))

    def select(self, kind: str, item_id: str) -> None:
        """Highlight the selected officer or enterprise (other kinds clear the highlight)."""
        self.bridge.post({"op": "select", "kind": kind, "id": item_id})

    def center_on(self, lon: float, lat: float, zoom: int | None = None) -> None:
        self.bridge.post({"op": "view", "lon": lon, "lat": lat, "zoom": zoom})

    def apply_events(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Take the position events out of one batch of hub events (``officer.moved``)."""
        moves: list[Mapping[str, Any]] = []
        for event in events:
            if event.get("topic") != "officer.moved":
                continue
            data = event.get("data")
            for item in data if isinstance(data, list) else [data]:
                if isinstance(item, Mapping):
                    officer_id = item.get("officer_id", item.get("id"))
                    moves.append({**item, "id": officer_id})
        if moves:
            self.move_officers(moves)
