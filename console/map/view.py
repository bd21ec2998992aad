"""The map widget: the offline Leaflet page in a QWebEngineView, fed through ``MapBridge``.

The view holds no domain state beyond what it last sent (the snapshot for searching and the
complaints for the heat window): it turns snapshots, hub events and selections into page
operations (``layers``) and lets the bridge batch them. Clicks come back as WGS84 points;
the hub's ``locate`` answer for a clicked point is shown in a popup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from PySide6.QtCore import QCoreApplication, QUrl, Signal
from PySide6.QtGui import QAction, QCursor
from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineProfile
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.map import layers
from console.map.basemap import BasemapConfig, BasemapKind
from console.map.bridge import FRAME_MS, MapBridge, RequestRecorder
from console.map.enterprise_states import ALARM_CLEARED, ALARM_RAISED, EnterpriseStates
from console.map.page import write_page
from console.map.tiles import TILE_SCHEME, TileSchemeHandler, register_tile_scheme
from console.shell.i18n import language, tr

log = logging.getLogger(__name__)

LocateResult = Callable[[dict[str, Any] | None], None]
LocateFunction = Callable[[float, float, LocateResult], None]
"""Asks the hub's ``locate`` for (lon, lat) and calls back with its result (None: outside)."""

HEAT_WINDOWS_HOURS = (24, 24 * 7, 24 * 30)
STALE_AFTER_S = 300

# Registered before the first profile exists, or QtWebEngine refuses the scheme.
register_tile_scheme()

_page_file: Path | None = None
_profile: QWebEngineProfile | None = None
_tile_handler: TileSchemeHandler | None = None


def page_file() -> Path:
    """The rendered page, written once per process (the page never changes at run time)."""
    global _page_file
    if _page_file is None or not _page_file.is_file():
        _page_file = write_page()
    return _page_file


def shared_profile() -> QWebEngineProfile:
    """One off-the-record profile for all map pages: nothing lands in the user's Qt cache.

    It is parented to the application so it outlives every page (Qt warns when a profile
    dies before its pages); the local tile server is installed on it.
    """
    global _profile, _tile_handler
    if _profile is None:
        app = QCoreApplication.instance()
        if app is None:
            raise RuntimeError("create the QApplication before the map view")
        _profile = QWebEngineProfile(app)
        _tile_handler = TileSchemeHandler(app)
        _profile.installUrlSchemeHandler(TILE_SCHEME.encode(), _tile_handler)
    return _profile


def tile_handler() -> TileSchemeHandler:
    """The handler answering ``maptiles://`` on the shared profile."""
    shared_profile()
    assert _tile_handler is not None
    return _tile_handler


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


def page_labels() -> dict[str, str]:
    """Texts the page shows itself (popups), translated on the Python side."""
    return {
        key: tr(key)
        for key in (
            "District",
            "Grid",
            "Grid officer",
            "Nearest squads",
            "Outside the jurisdiction",
        )
    }


def legend_entries() -> list[dict[str, str]]:
    return [
        {"colour": "#2e7d32", "text": tr("Enterprise: normal")},
        {"colour": "#d32f2f", "text": tr("Enterprise: alarm")},
        {"colour": "#757575", "text": tr("Enterprise: offline")},
        {"colour": "#1565c0", "text": tr("Enterprise: under inspection")},
        {"colour": "#e53935", "text": tr("Complaint")},
        {"colour": "#3949ab", "text": tr("Task")},
        {"colour": "#1565c0", "text": tr("Officer on duty")},
        {"colour": "#8e24aa", "text": tr("Officer off duty")},
        {"colour": "#9e9e9e", "text": tr("Officer position stale")},
        {"colour": "#ffe082", "text": tr("Squad")},
        {"colour": "#00838f", "text": tr("Camera")},
    ]


class MapView(QWidget):
    """Dispatcher's map: layer panel, search, district zoom, follow, and the Leaflet page."""

    sig_new_complaint = Signal(float, float)
    """The user chose "New complaint here" in the map's context menu at (lon, lat), WGS84."""

    sig_call_requested = Signal(str)
    """A video call with the selected officer (the video feature places it)."""

    sig_located = Signal(float, float, object)
    """The hub's ``locate`` answer (dict, or None outside the jurisdiction) for a clicked point."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        record_requests: bool = False,
        frame_ms: int = FRAME_MS,
        page_path: Path | None = None,
        basemap: BasemapConfig | None = None,
        locate: LocateFunction | None = None,
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
        self.locate = locate
        self.snapshot: Mapping[str, Any] = {}
        self.enterprise_states = EnterpriseStates()
        """Alarms and visits behind the enterprises' colours (``set_open_alarms``, events)."""
        self.complaints: dict[str, dict[str, Any]] = {}
        self.heat_hours = HEAT_WINDOWS_HOURS[0]
        self.basemap = BasemapConfig()
        self.selection: tuple[str, str] = ("", "")
        self.layer_toggles: dict[str, QCheckBox] = {}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(self._build_layer_panel())
        layout.addLayout(self._build_tools())
        layout.addWidget(self.web_view, 1)

        self.context_menu = QMenu(self)
        self.new_complaint_action = QAction(tr("New complaint here"), self)
        self.new_complaint_action.triggered.connect(self._emit_new_complaint)
        self.context_menu.addAction(self.new_complaint_action)
        self.context_point: tuple[float, float] | None = None

        self.bridge.sig_clicked.connect(self._on_clicked)
        self.bridge.sig_context_menu.connect(self._on_context_menu)
        # geoman's drawing toolbar has its own catalogue; follow the console's language
        self.bridge.post(
            {"op": "draw.language", "language": "zh" if language() == "zh_CN" else "en"}
        )
        self.bridge.post({"op": "labels", "labels": page_labels()})
        self.bridge.post({"op": "legend", "entries": legend_entries()})
        self.bridge.post({"op": "officers.stale", "seconds": STALE_AFTER_S})
        if basemap is not None and basemap.kind is not BasemapKind.VECTOR:
            self.set_basemap(basemap)
        self.page_path = page_path if page_path is not None else page_file()
        self.web_view.load(QUrl.fromLocalFile(str(self.page_path)))

    # ---- construction ---------------------------------------------------------------

    def _build_layer_panel(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setContentsMargins(4, 2, 4, 2)
        for layer, text in (
            ("districts", tr("Districts")),
            ("grids", tr("Grid boundaries")),
            ("grid_labels", tr("Grid names")),
            ("enterprises", tr("Enterprises")),
            ("complaints", tr("Complaints")),
            ("tasks", tr("Tasks")),
            ("officers", tr("Officers")),
            ("squads", tr("Squads")),
            ("cameras", tr("Cameras")),
            ("heat", tr("Complaint heat")),
        ):
            box = QCheckBox(text, self)
            box.setChecked(layer != "heat")
            box.toggled.connect(lambda visible, name=layer: self.set_layer_visible(name, visible))
            row.addWidget(box)
            self.layer_toggles[layer] = box
        self.heat_window = QComboBox(self)
        for hours, text in zip(
            HEAT_WINDOWS_HOURS,
            (tr("Last 24 hours"), tr("Last 7 days"), tr("Last 30 days")),
            strict=True,
        ):
            self.heat_window.addItem(text, hours)
        self.heat_window.currentIndexChanged.connect(
            lambda index: self.set_heat_window(int(self.heat_window.itemData(index)))
        )
        row.addWidget(self.heat_window)
        row.addStretch(1)
        return row

    def _build_tools(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setContentsMargins(4, 2, 4, 2)
        self.search_box = QLineEdit(self)
        self.search_box.setPlaceholderText(
            tr("Search enterprise, grid, officer or coordinates (e.g. 121.42, 28.65 gcj02)")
        )
        self.search_box.returnPressed.connect(lambda: self.search(self.search_box.text()))
        row.addWidget(self.search_box, 1)
        self.district_box = QComboBox(self)
        self.district_box.addItem(tr("Zoom to district…"), "")
        self.district_box.activated.connect(self._on_district_chosen)
        row.addWidget(self.district_box)
        self.follow_button = QPushButton(tr("Follow officer"), self)
        self.follow_button.setCheckable(True)
        self.follow_button.setEnabled(False)
        self.follow_button.toggled.connect(self._on_follow_toggled)
        row.addWidget(self.follow_button)
        self.call_button = QPushButton(tr("Video call"), self)
        self.call_button.setToolTip(tr("Start a live video call with the selected officer"))
        self.call_button.setEnabled(False)
        self.call_button.clicked.connect(self._on_call_clicked)
        row.addWidget(self.call_button)
        return row

    # ---- data in ----------------------------------------------------------------------

    def set_snapshot(self, snapshot: Mapping[str, Any]) -> None:
        """Rebuild every layer from a ``world.snapshot`` dict and fit the view to it."""
        self.snapshot = snapshot
        self.bridge.post(layers.world_op(snapshot))
        self.enterprise_states.forget_shown()  # the world op draws every enterprise normal
        self.district_box.clear()
        self.district_box.addItem(tr("Zoom to district…"), "")
        for district in snapshot.get("districts", []):
            self.district_box.addItem(str(district.get("name", "")), str(district["adcode"]))
        if "complaints" in snapshot:
            self.set_complaints(snapshot["complaints"], replace=True)
        if "tasks" in snapshot:
            self.set_tasks(snapshot["tasks"], replace=True)
        if "cameras" in snapshot:
            self.set_cameras(snapshot["cameras"])
        self._recolour_enterprises()

    def move_officers(self, moves: Iterable[Mapping[str, Any]]) -> None:
        """Move (or place) officers: ``id``, ``lon``, ``lat``; optional heading, duty, ts.

        A bad move raises ``ValueError`` naming the officer; none of that call's moves are
        queued, and moves queued before stay queued.
        """
        ids, columns = layers.officer_moves(moves)
        if ids:
            self.bridge.post_packed("officers.move", ids, columns)

    def remove_officers(self, officer_ids: Iterable[str]) -> None:
        self.bridge.post({"op": "officers.remove", "ids": [str(i) for i in officer_ids]})

    def set_open_alarms(self, alarms: Iterable[Mapping[str, Any]]) -> None:
        """Colour enterprises by these open alarms (an ``alarms.list`` answer) and visits."""
        self.enterprise_states.reset_alarms(alarms)
        self._recolour_enterprises()

    def _recolour_enterprises(self) -> None:
        """Send the enterprises whose colour changed since the last call."""
        changes = self.enterprise_states.changes()
        if changes:
            self.set_enterprise_states(changes)

    def set_enterprise_states(self, states: Mapping[str, str]) -> None:
        """Recolour enterprises: id -> one of ``layers.ENTERPRISE_STATES``."""
        self.bridge.post_rows("enterprises.state", layers.enterprise_state_items(states))

    def set_district_values(self, title: str, values: Mapping[str, float]) -> None:
        """Colour districts by a figure (choropleth); an empty mapping restores the plain fill."""
        self.bridge.post(
            {
                "op": "districts.values",
                "title": title,
                "values": {str(adcode): float(v) for adcode, v in values.items()},
            }
        )

    def set_complaints(
        self, complaints: Iterable[Mapping[str, Any]], *, replace: bool = False
    ) -> None:
        """Add or update complaints (``replace``: these are all of them); refreshes the heat."""
        records = _placeable(complaints, layers.complaint_record)
        if replace:
            self.complaints.clear()
        self.complaints.update((r["id"], r) for r in records)
        self.bridge.post({"op": "complaints", "replace": replace, "items": records})
        self._post_heat()

    def set_tasks(self, tasks: Iterable[Mapping[str, Any]], *, replace: bool = False) -> None:
        """Add or update tasks (``replace``: these are all of them); officers on site colour
        their enterprise."""
        tasks = list(tasks)
        records = _placeable(tasks, layers.task_record)
        self.bridge.post({"op": "tasks", "replace": replace, "items": records})
        if replace:
            self.enterprise_states.reset_tasks(tasks)
        else:
            self.enterprise_states.apply_tasks(tasks)
        self._recolour_enterprises()

    def set_cameras(self, cameras: Iterable[Mapping[str, Any]]) -> None:
        """Replace the cameras."""
        self.bridge.post({"op": "cameras", "items": [layers.camera_record(c) for c in cameras]})

    def set_heat_window(self, hours: int) -> None:
        """Show the heat of complaints received in the last ``hours`` hours."""
        if hours <= 0:
            raise ValueError(f"the heat window must be positive, not {hours} h")
        self.heat_hours = hours
        self._post_heat()

    def _post_heat(self) -> None:
        since = time.time() - self.heat_hours * 3600
        self.bridge.post(
            {"op": "heat", "points": layers.heat_points(self.complaints.values(), since)}
        )

    def set_basemap(self, config: BasemapConfig) -> None:
        """Switch the basemap; overlays are shifted into its datum, clicks shifted back."""
        url = config.url
        if config.kind in (BasemapKind.FOLDER, BasemapKind.MBTILES):
            assert config.path is not None  # BasemapConfig checked it
            url = tile_handler().add_source(config.kind.value, config.path)
        elif config.kind is BasemapKind.XYZ and self.recorder is not None:
            parts = urlsplit(url.replace("{s}", "a"))
            self.recorder.allow_origin(f"{parts.scheme}://{parts.netloc}")
        self.basemap = config
        self.bridge.post(
            {
                "op": "basemap",
                "kind": config.kind.value,
                "url": url,
                "datum": config.datum.value,
                "attribution": config.attribution,
                "max_zoom": 19,
                "max_native_zoom": config.max_zoom,
            }
        )

    def apply_events(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Take what the map shows out of one batch of hub events."""
        moves: list[Mapping[str, Any]] = []
        complaints: list[Mapping[str, Any]] = []
        tasks: list[Mapping[str, Any]] = []
        for event in events:
            topic = event.get("topic")
            data = event.get("data")
            items = [
                i for i in (data if isinstance(data, list) else [data]) if isinstance(i, Mapping)
            ]
            if topic == "officer.moved":
                moves.extend({**i, "id": i.get("officer_id", i.get("id"))} for i in items)
            elif topic == "complaint.created":
                complaints.extend(_unwrapped(i, "complaint") for i in items)
            elif topic in ("task.updated", "task.overdue"):
                tasks.extend(_unwrapped(i, "task") for i in items)
            elif topic in (ALARM_RAISED, ALARM_CLEARED):
                for alarm in items:
                    self.enterprise_states.apply_alarm(alarm, raised=topic == ALARM_RAISED)
        if moves:
            self.move_officers(moves)
        if complaints:
            self.set_complaints(complaints)
        if tasks:
            self.set_tasks(tasks)
        self._recolour_enterprises()  # alarms

    # ---- view and selection -------------------------------------------------------------

    def set_layer_visible(self, layer: str, visible: bool) -> None:
        box = self.layer_toggles.get(layer)
        if box is not None and box.isChecked() != visible:
            box.setChecked(visible)  # its toggled signal comes back here with the box in sync
            return
        self.bridge.post(layers.layer_op(layer, visible))

    def select(self, kind: str, item_id: str) -> None:
        """Highlight a selection; a task also shows its grid, officer and squads with distances."""
        self.selection = (kind, item_id)
        self.follow_button.setEnabled(kind == "officer")
        self.call_button.setEnabled(kind == "officer")
        if kind != "officer" and self.follow_button.isChecked():
            self.follow_button.setChecked(False)
        self.bridge.post({"op": "select", "kind": kind, "id": item_id})

    def follow_officer(self, officer_id: str | None) -> None:
        """Keep the map centred on this officer as it moves (None: stop following)."""
        self.bridge.post({"op": "follow", "id": officer_id})

    def center_on(self, lon: float, lat: float, zoom: int | None = None) -> None:
        self.bridge.post({"op": "view", "lon": lon, "lat": lat, "zoom": zoom})

    def zoom_to_district(self, adcode: str) -> None:
        self.bridge.post({"op": "zoom.district", "adcode": adcode})

    def search(self, text: str) -> layers.SearchHit | None:
        """Find and show an enterprise, grid, officer, district or typed coordinates."""
        try:
            hit = layers.search(self.snapshot, text)
        except ValueError as exc:
            self.search_box.setToolTip(str(exc))
            return None
        if hit is None:
            self.search_box.setToolTip(tr("Nothing found for {text}", text=text))
            return None
        self.search_box.setToolTip("")
        if hit.lon is not None and hit.lat is not None:
            self.center_on(hit.lon, hit.lat, 15)
            self.bridge.post({"op": "marker", "lon": hit.lon, "lat": hit.lat, "text": hit.name})
        if hit.kind == "district":
            self.zoom_to_district(hit.id)
        elif hit.kind != "coordinates":
            self.select(hit.kind, hit.id)
            if hit.kind == "officer":  # the snapshot has no live position: the page knows it
                self.bridge.post({"op": "focus.officer", "id": hit.id})
        return hit

    def show_locate(self, lon: float, lat: float, result: dict[str, Any] | None) -> None:
        """Show the hub's ``locate`` answer for a point in a popup there."""
        self.bridge.post({"op": "popup.locate", "lon": lon, "lat": lat, "result": result})
        self.sig_located.emit(lon, lat, result)

    # ---- page events --------------------------------------------------------------------

    def _on_clicked(self, lon: float, lat: float) -> None:
        if self.locate is not None:
            self.locate(lon, lat, lambda result: self.show_locate(lon, lat, result))

    def _on_context_menu(self, lon: float, lat: float) -> None:
        self.context_point = (lon, lat)
        self.context_menu.popup(QCursor.pos())

    def _emit_new_complaint(self) -> None:
        if self.context_point is not None:
            self.sig_new_complaint.emit(*self.context_point)

    def _on_district_chosen(self, index: int) -> None:
        adcode = str(self.district_box.itemData(index) or "")
        if adcode:
            self.zoom_to_district(adcode)

    def _on_call_clicked(self) -> None:
        kind, item_id = self.selection
        if kind == "officer":
            self.sig_call_requested.emit(item_id)

    def _on_follow_toggled(self, on: bool) -> None:
        kind, item_id = self.selection
        self.follow_officer(item_id if on and kind == "officer" else None)


def _unwrapped(item: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """The record of a hub event: ``{"task": {...}, "note": ...}`` -> the task itself."""
    inner = item.get(key)
    return inner if isinstance(inner, Mapping) else item


def _placeable(
    items: Iterable[Mapping[str, Any]], record: Callable[[Mapping[str, Any]], dict[str, Any]]
) -> list[dict[str, Any]]:
    """Page records of the items that have a place; one without (an inspection task of an
    enterprise with no coordinates, say) is left off the map, not the whole batch."""
    records = []
    for item in items:
        try:
            records.append(record(item))
        except ValueError as exc:
            log.info("not on the map: %s", exc)
    return records
