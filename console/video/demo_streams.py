"""Synthetic live cameras for the demo: MJPEG over HTTP on 127.0.0.1, drawn with QPainter.

Each stream ``/cam/<n>.mjpg`` is ``multipart/x-mixed-replace`` JPEG frames showing the
camera's name, a moving bar and the current time, so a frozen picture is obvious. Frames are
drawn per client on the server's threads (QImage/QPainter are thread-safe on images; a
QGuiApplication must exist for fonts). No external tools are needed at demo time.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRect, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter

BOUNDARY = "frame"
STREAM_PATH = "/cam/{index}.mjpg"


def render_frame(name: str, index: int, width: int, height: int, quality: int = 70) -> bytes:
    """One JPEG frame: coloured background, camera name, moving bar, time of day."""
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor.fromHsv((index * 47) % 360, 90, 90))
    painter = QPainter(image)
    now = time.time()
    bar_x = int((now % 4.0) / 4.0 * width)
    painter.fillRect(QRect(bar_x, height - 30, width // 8, 20), QColor("#fc3"))
    painter.setPen(QColor("white"))
    font = QFont()
    font.setPixelSize(max(12, height // 12))
    painter.setFont(font)
    painter.drawText(QRect(0, 0, width, height // 2), Qt.AlignmentFlag.AlignCenter, name)
    font.setPixelSize(max(12, height // 8))
    painter.setFont(font)
    stamp = datetime.now().strftime("%H:%M:%S.%f")[:-4]
    painter.drawText(QRect(0, height // 2, width, height // 3), Qt.AlignmentFlag.AlignCenter, stamp)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "JPG", quality)
    buffer.close()
    return bytes(data.data())


class DemoStreamServer:
    """``server.start()`` ... ``server.stop()``; ``server.url(i)`` is camera i's stream."""

    def __init__(
        self,
        names: list[str],
        *,
        fps: float = 10.0,
        size: tuple[int, int] = (640, 360),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not names:
            raise ValueError("a demo stream server needs at least one camera name")
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.names = list(names)
        self.fps = fps
        self.size = size
        self._address = (host, port)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the demo stream server is not running")
        return int(self._server.server_address[1])

    def url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.port}{STREAM_PATH.format(index=index)}"

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the demo stream server is already running")
        self._stopping.clear()
        self._server = ThreadingHTTPServer(self._address, self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="demo-streams", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving; streaming clients are cut off within one frame interval."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        self._server = self._thread = None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: a demo serves many frames."""

            def do_GET(self) -> None:
                index = owner._index(self.path)
                if index is None:
                    self.send_error(HTTPStatus.NOT_FOUND, "no such camera")
                    return
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", f"multipart/x-mixed-replace;boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                width, height = owner.size
                interval = 1.0 / owner.fps
                next_at = time.monotonic()
                try:
                    while not owner._stopping.is_set():
                        jpeg = render_frame(owner.names[index], index, width, height)
                        self.wfile.write(
                            f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                            f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
                            + jpeg
                            + b"\r\n"
                        )
                        self.wfile.flush()
                        next_at += interval
                        owner._stopping.wait(max(0.0, next_at - time.monotonic()))
                except (BrokenPipeError, ConnectionResetError):
                    return  # the player went away

        return Handler

    def _index(self, path: str) -> int | None:
        for index in range(len(self.names)):
            if path.split("?", 1)[0] == STREAM_PATH.format(index=index):
                return index
        return None
