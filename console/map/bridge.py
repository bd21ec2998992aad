"""Python <-> Leaflet bridge: batched updates out, clicks and viewport back, over QWebChannel.

Updates are coalesced and sent at most once per frame as ONE ``consoleMap.applyBatch`` call:
the hub can report thousands of positions a second and a JS call per position would swamp
both the GUI thread and the renderer. Everything posted in one turn of the event loop goes
in one call; a bridge that has been quiet for a frame sends on the next turn instead of
waiting out a frame, one that sent less than a frame ago waits for the rest of it. Keyed
rows (officer moves, enterprise states) for the same key within a batch collapse to the
last one; officer moves travel packed (``packing``). Anything posted before the page has
reported ready is kept and sent in order when it does; nothing is dropped and nothing spins
the event loop.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy.typing as npt
from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtWebChannel import QWebChannel
from PySide6.QtWebEngineCore import (
    QWebEnginePage,
    QWebEngineUrlRequestInfo,
    QWebEngineUrlRequestInterceptor,
)

from console.map.packing import PackedRows, SlotTable

FRAME_MS = 16
_encoder = msgspec.json.Encoder()
_NETWORK_SCHEMES = ("http", "https", "ws", "wss", "ftp")


@dataclass
class _MergedOp:
    """One keyed operation (e.g. ``enterprises.state``) whose rows collapse by key until sent."""

    name: str
    rows: dict[str, list[Any]] = field(default_factory=dict)

    def as_op(self) -> dict[str, Any]:
        return {"op": self.name, "items": list(self.rows.values())}


class MapBridge(QObject):
    """The page's Python side; registered on the page's QWebChannel as ``bridge``."""

    sig_ready = Signal()
    """The page's script connected to the channel; queued updates are being sent."""

    sig_clicked = Signal(float, float)
    """The user clicked the map (not a point feature) at (lon, lat)."""

    sig_feature_clicked = Signal(str, str)
    """The user clicked a feature: (kind, id); kind in officer/enterprise/squad/complaint/task/
    camera (a click elsewhere is ``sig_clicked``)."""

    sig_viewport = Signal(float, float, float, float, float)
    """The visible area changed: (west, south, east, north, zoom)."""

    sig_rendered = Signal()
    """A batch sent by ``flush`` has been applied and painted (see ``rendered_seq``)."""

    sig_context_menu = Signal(float, float)
    """The user asked for the context menu at (lon, lat)."""

    sig_drawn = Signal(str, str, float)
    """The user finished drawing: (shape, GeoJSON geometry, metres for lines / m² for areas)."""

    def __init__(self, page: QWebEnginePage, frame_ms: int = FRAME_MS) -> None:
        super().__init__(page)
        self._page = page
        self._ready = False
        self._pending: list[dict[str, Any] | _MergedOp | PackedRows] = []
        self._merge_slots: dict[str, _MergedOp] = {}
        self._packed_slots: dict[str, PackedRows] = {}
        self._slot_tables: dict[str, SlotTable] = {}
        self._frame_ms = frame_ms
        self._last_sent = -float(frame_ms)
        self._queries: list[tuple[str, list[Any], Callable[[Any], None]]] = []
        self.sent_seq = 0
        """Number of the last batch sent to the page (one per flush that had updates)."""
        self.rendered_seq = 0
        """Number of the last batch the page reported painted."""
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.flush)
        self._channel = QWebChannel(self)
        self._channel.registerObject("bridge", self)
        page.setWebChannel(self._channel)
        page.loadStarted.connect(self._on_load_started)

    @property
    def ready(self) -> bool:
        return self._ready

    # ---- Python -> JS -----------------------------------------------------------------

    def post(self, op: dict[str, Any]) -> None:
        """Queue one operation for the next frame (order is kept)."""
        if "op" not in op:
            raise ValueError(f"a map operation needs an 'op' name: {op!r}")
        self._pending.append(op)
        self._merge_slots.clear()  # later keyed rows must not jump ahead of this op
        self._packed_slots.clear()
        self._schedule()

    def post_rows(self, name: str, rows: list[tuple[str, list[Any]]]) -> None:
        """Queue keyed rows of operation ``name``; a later row for the same key replaces it."""
        merged = self._merge_slots.get(name)
        if merged is None:
            merged = self._merge_slots[name] = _MergedOp(name)
            self._pending.append(merged)
        for key, row in rows:
            merged.rows[key] = row
        self._schedule()

    def post_packed(
        self, name: str, keys: Sequence[str], columns: Mapping[str, npt.NDArray[Any]]
    ) -> None:
        """Queue keyed columnar rows of ``name``, sent packed; a later row for a key replaces it.

        ``columns`` are 1-D numpy arrays as long as ``keys`` (see ``packing.WIRE_TYPES``);
        bad shapes or types raise ``ValueError`` and leave the queue as it was.
        """
        packed = self._packed_slots.get(name)
        if packed is None:
            packed = PackedRows(name)
            packed.add(keys, columns)  # may raise: nothing queued yet
            self._packed_slots[name] = packed
            self._pending.append(packed)
        else:
            packed.add(keys, columns)
        self._schedule()

    def query(self, name: str, args: list[Any], callback: Callable[[Any], None]) -> None:
        """Ask ``consoleMap.query(name, ...args)`` after everything posted so far is applied."""
        self._queries.append((name, args, callback))
        if self._ready:
            self.flush()

    def flush(self) -> None:
        """Send everything queued as one call, then pending queries; no-op until ready."""
        if not self._ready:
            return
        self._timer.stop()
        if self._pending:
            ops = [self._wire_op(op) for op in self._pending]
            self._pending = []
            self._merge_slots.clear()
            self._packed_slots.clear()
            self.sent_seq += 1
            self._last_sent = time.monotonic() * 1000
            payload = _encoder.encode(ops).decode()  # ~5x faster than json.dumps for 10k rows
            self._page.runJavaScript(f"window.consoleMap.applyBatch({payload},{self.sent_seq});")
        queries, self._queries = self._queries, []
        for name, args, callback in queries:
            script = (
                f"JSON.stringify(window.consoleMap.query({json.dumps(name)},{json.dumps(args)}))"
            )
            self._page.runJavaScript(script, 0, _json_callback(name, callback))

    def _wire_op(self, op: dict[str, Any] | _MergedOp | PackedRows) -> dict[str, Any]:
        if isinstance(op, PackedRows):
            return op.encode(self._slot_tables.setdefault(op.name, SlotTable()))
        if isinstance(op, _MergedOp):
            return op.as_op()
        return op

    def _schedule(self) -> None:
        # At most one call per frame, but no frame of delay after a quiet spell: a 0 ms
        # timer still gathers everything posted in this turn of the event loop.
        if self._ready and not self._timer.isActive():
            since_sent = time.monotonic() * 1000 - self._last_sent
            self._timer.start(max(0, round(self._frame_ms - since_sent)))

    def _on_load_started(self) -> None:
        # A reload discards the page's state (its slot tables too); hold updates until the
        # new page says ready.
        self._ready = False
        self._timer.stop()
        self._slot_tables.clear()

    # ---- JS -> Python (slots called through the web channel) ------------------------------

    @Slot()
    def js_ready(self) -> None:
        self._ready = True
        self.sig_ready.emit()
        self.flush()

    @Slot(float, float)
    def js_clicked(self, lon: float, lat: float) -> None:
        self.sig_clicked.emit(lon, lat)

    @Slot(str, str)
    def js_feature_clicked(self, kind: str, item_id: str) -> None:
        self.sig_feature_clicked.emit(kind, item_id)

    @Slot(float, float, float, float, float)
    def js_viewport(
        self, west: float, south: float, east: float, north: float, zoom: float
    ) -> None:
        self.sig_viewport.emit(west, south, east, north, zoom)

    @Slot(int)
    def js_rendered(self, seq: int) -> None:
        self.rendered_seq = max(self.rendered_seq, seq)
        self.sig_rendered.emit()

    @Slot(float, float)
    def js_context_menu(self, lon: float, lat: float) -> None:
        self.sig_context_menu.emit(lon, lat)

    @Slot(str, str, float)
    def js_drawn(self, shape: str, geometry: str, measure: float) -> None:
        self.sig_drawn.emit(shape, geometry, measure)


def _json_callback(name: str, callback: Callable[[Any], None]) -> Callable[[Any], None]:
    def deliver(result: Any) -> None:
        if not isinstance(result, str):
            raise RuntimeError(f"map query {name!r} failed in the page (see the JS console log)")
        callback(json.loads(result))

    return deliver


class RequestRecorder(QWebEngineUrlRequestInterceptor):
    """Records every URL the page requests and blocks network schemes (debug and tests).

    The console must run in centres without internet; a test loads the page with this
    installed and asserts that only file://, qrc:// and maptiles:// URLs were asked for.
    A configured XYZ tile server is the one network origin it lets through.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.urls: list[str] = []
        self._allowed_origins: set[str] = set()

    def allow_origin(self, origin: str) -> None:
        """Let requests to ``origin`` (``https://host:port``) through: a configured tile server."""
        self._allowed_origins.add(origin.rstrip("/").lower())

    def _allowed(self, url: str) -> bool:
        return any(url.lower().startswith(origin + "/") for origin in self._allowed_origins)

    def interceptRequest(self, info: QWebEngineUrlRequestInfo) -> None:  # noqa: N802 (Qt API)
        url = info.requestUrl()
        text = url.toString()
        self.urls.append(text)
        if url.scheme() in _NETWORK_SCHEMES and not self._allowed(text):
            info.block(True)

    def network_urls(self) -> list[str]:
        """Recorded URLs that went (or would have gone) to the network, allowed ones included."""
        return [u for u in self.urls if u.split(":", 1)[0].lower() in _NETWORK_SCHEMES]
