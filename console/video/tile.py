"""One camera tile: ``QMediaPlayer`` -> ``QVideoSink``, painted by the widget with an overlay.

The widget paints the sink's latest frame itself (``QVideoWidget`` is blank offscreen and
cannot carry an overlay), scaled to fit, with the camera name, the local time and the state.
A watchdog turns "no frames for a while" into "no signal" and reconnects with exponential
backoff; the first frame resets the backoff. A hidden or closed tile stops its player, so
streams nobody watches cost nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

from PySide6.QtCore import QDateTime, QRect, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QColor,
    QFontMetrics,
    QHideEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QShowEvent,
)
from PySide6.QtMultimedia import QMediaPlayer, QVideoFrame, QVideoSink
from PySide6.QtWidgets import QSizePolicy, QWidget

from console.shell.i18n import tr

TITLE_BAR_HEIGHT = 22
_TITLE_PADDING = 6
_TITLE_GAP = 8


@dataclass(frozen=True, slots=True)
class TitleBar:
    """Where a tile's camera name and clock go, so that neither is drawn over the other."""

    name: str
    """The camera name, elided with … when it does not fit."""
    name_rect: QRect
    clock_rect: QRect | None
    """None when the tile is too narrow for the clock next to a readable name."""


def title_bar(metrics: QFontMetrics, bar: QRect, name: str, clock: str) -> TitleBar:
    """The name keeps room for about three Chinese characters; the clock gives way first."""
    inner = bar.adjusted(_TITLE_PADDING, 0, -_TITLE_PADDING, 0)
    clock_width = metrics.horizontalAdvance(clock)
    least_name = min(metrics.horizontalAdvance(name), 6 * metrics.averageCharWidth())
    clock_rect: QRect | None = None
    name_width = inner.width()
    if inner.width() - clock_width - _TITLE_GAP >= least_name:
        left = inner.right() - clock_width + 1
        clock_rect = QRect(left, inner.top(), clock_width, inner.height())
        name_width = inner.width() - clock_width - _TITLE_GAP
    name_rect = QRect(inner.left(), inner.top(), max(name_width, 0), inner.height())
    elided = metrics.elidedText(name, Qt.TextElideMode.ElideRight, name_rect.width())
    return TitleBar(elided, name_rect, clock_rect)


class TileState(StrEnum):
    STOPPED = "stopped"
    CONNECTING = "connecting"
    PLAYING = "playing"
    NO_SIGNAL = "no_signal"


def state_label(state: TileState) -> str:
    return {
        TileState.STOPPED: tr("Stream stopped"),
        TileState.CONNECTING: tr("Connecting…"),
        TileState.PLAYING: tr("Live"),
        TileState.NO_SIGNAL: tr("No signal"),
    }[state]


class CameraTile(QWidget):
    """Plays one camera while visible; see the module docstring."""

    sig_state_changed = Signal(str, str)
    """(camera_id, TileState value) whenever the state changes."""

    sig_clicked = Signal(str)
    """The user clicked the tile showing this camera id."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        signal_timeout_s: float = 5.0,
        backoff_s: tuple[float, float] = (1.0, 30.0),
    ) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(80, 45)
        self.camera_id = ""
        self.camera_name = ""
        self.url = ""
        self.highlighted = False
        self.frames = 0
        """Frames received since the tile was created (tests and the benchmark read it)."""
        self._signal_timeout_s = signal_timeout_s
        self._backoff_first, self._backoff_max = backoff_s
        self._backoff = self._backoff_first
        self._state = TileState.STOPPED
        self._frame: QVideoFrame | None = None
        self._last_frame_at = 0.0
        self._started_at = 0.0
        self.sink = QVideoSink(self)
        self.player = QMediaPlayer(self)
        self.player.setVideoSink(self.sink)
        self.sink.videoFrameChanged.connect(self._on_frame)
        self.player.errorOccurred.connect(self._on_error)
        self._watchdog = QTimer(self)
        self._watchdog.setInterval(500)
        self._watchdog.timeout.connect(self._check_signal)
        self._retry = QTimer(self)
        self._retry.setSingleShot(True)
        self._retry.timeout.connect(self._connect)

    @property
    def state(self) -> TileState:
        return self._state

    def set_camera(self, camera_id: str, name: str, url: str) -> None:
        """Show this camera (an empty id clears the tile); plays at once if visible."""
        if (camera_id, url) == (self.camera_id, self.url):
            self.camera_name = name
            self.update()
            return
        self._halt()
        self.camera_id, self.camera_name, self.url = camera_id, name, url
        self._frame = None
        self._backoff = self._backoff_first
        if self.isVisible():
            self.start()
        self.update()

    def clear(self) -> None:
        self.set_camera("", "", "")

    def set_highlighted(self, highlighted: bool) -> None:
        """Mark the tile (an alarm pop-in) with a red frame."""
        self.highlighted = highlighted
        self.update()

    def start(self) -> None:
        if not self.url:
            self._set_state(TileState.STOPPED)
            return
        self._connect()

    def stop(self) -> None:
        """Stop playing and reconnecting; the tile keeps its camera."""
        self._halt()
        self.update()

    # ---- Qt events ------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        if self.url and self._state == TileState.STOPPED:
            self.start()

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802
        super().hideEvent(event)
        self.stop()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.stop()
        super().closeEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self.camera_id:
            self.sig_clicked.emit(self.camera_id)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#111"))
        if self._frame is not None and self._state == TileState.PLAYING:
            image = self._frame.toImage()
            if not image.isNull():
                scaled = image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
                target = QRect(0, 0, scaled.width(), scaled.height())
                target.moveCenter(self.rect().center())
                painter.drawImage(target, image)
        self._paint_overlay(painter)
        painter.end()

    def _paint_overlay(self, painter: QPainter) -> None:
        bar = QRect(0, 0, self.width(), TITLE_BAR_HEIGHT)
        painter.fillRect(bar, QColor(0, 0, 0, 150))
        painter.setPen(QColor("white"))
        name = self.camera_name or tr("No camera")
        clock = QDateTime.currentDateTime().toString("HH:mm:ss")
        title = title_bar(painter.fontMetrics(), bar, name, clock)
        painter.drawText(title.name_rect, Qt.AlignmentFlag.AlignVCenter, title.name)
        if title.clock_rect is not None:
            painter.drawText(
                title.clock_rect,
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                clock,
            )
        if self.camera_id and self._state != TileState.PLAYING:
            colour = "#e33" if self._state == TileState.NO_SIGNAL else "#ccc"
            painter.setPen(QColor(colour))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, state_label(self._state))
        if self.highlighted:
            painter.setPen(QColor("#f33"))
            painter.drawRect(self.rect().adjusted(1, 1, -2, -2))

    # ---- playback -------------------------------------------------------------------

    def _connect(self) -> None:
        self._retry.stop()
        self.player.stop()
        self.player.setSource(QUrl())  # the same URL again would not reopen the stream
        self.player.setSource(QUrl(self.url))
        self._started_at = time.monotonic()
        self._last_frame_at = 0.0
        self._set_state(TileState.CONNECTING)
        self.player.play()
        self._watchdog.start()

    def _halt(self) -> None:
        self._retry.stop()
        self._watchdog.stop()
        self.player.stop()
        self.player.setSource(QUrl())
        self._set_state(TileState.STOPPED)

    def _on_frame(self, frame: QVideoFrame) -> None:
        if self._state not in (TileState.CONNECTING, TileState.PLAYING) or not frame.isValid():
            return
        self.frames += 1
        self._frame = frame
        self._last_frame_at = time.monotonic()
        if self._state != TileState.PLAYING:
            self._backoff = self._backoff_first
            self._set_state(TileState.PLAYING)
        self.update()

    def _on_error(self, error: QMediaPlayer.Error, message: str) -> None:
        if self._state in (TileState.CONNECTING, TileState.PLAYING):
            self._lost_signal()

    def _check_signal(self) -> None:
        since = self._last_frame_at or self._started_at
        if time.monotonic() - since > self._signal_timeout_s:
            self._lost_signal()
        elif self._state == TileState.PLAYING:
            self.update()  # keeps the overlay clock running even on a still picture

    def _lost_signal(self) -> None:
        """Show "no signal" and try again after the current backoff (then double it)."""
        self._watchdog.stop()
        self.player.stop()
        self._frame = None
        self._set_state(TileState.NO_SIGNAL)
        self._retry.start(int(self._backoff * 1000))
        self._backoff = min(self._backoff * 2, self._backoff_max)
        self.update()

    def _set_state(self, state: TileState) -> None:
        if state != self._state:
            self._state = state
            self.sig_state_changed.emit(self.camera_id, state.value)
