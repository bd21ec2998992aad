"""Video wall benchmark: 16 tiles from local RTSP streams (640x360, 25 fps).

Starts the gst-rtsp-server test camera (tests/fixtures/rtsp_server.py, system python with
``gi``) with 16 mounts, plays each in a ``CameraTile`` on a 4x4 ``VideoWall`` offscreen, and
measures delivered fps per tile and this process's CPU. Prints JSON lines, then
``video: N tiles at M fps`` (M = the slowest tile).
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication

from console.video.wall import VideoWall

TILES, WIDTH, HEIGHT, FPS = 16, 640, 360, 25
WARMUP_S, MEASURE_S = 15.0, 10.0
SCRIPT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "rtsp_server.py"


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _wait(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.005)


def main() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    paths = [f"/cam{i}" for i in range(TILES)]
    server = subprocess.Popen(
        ["/usr/bin/python3", str(SCRIPT), str(port), str(WIDTH), str(HEIGHT), str(FPS), *paths],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    if server.stdout.readline().strip() != "READY":
        print("video: RTSP test server did not start", file=sys.stderr)
        return 1
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    cameras = [{"id": f"cam{i}", "name": f"cam{i}"} for i in range(TILES)]
    wall = VideoWall(lambda cid, done: done(f"rtsp://127.0.0.1:{port}/{cid}"), layout=None)
    try:
        wall.set_layout("16")
        wall.set_cameras(cameras)
        wall.resize(1920, 1080)
        wall.show()
        _wait(app, WARMUP_S)
        start_frames = [tile.frames for tile in wall.tiles]
        cpu0, t0 = _cpu_s(), time.monotonic()
        _wait(app, MEASURE_S)
        elapsed, cpu = time.monotonic() - t0, _cpu_s() - cpu0
        rates = [
            (tile.frames - before) / elapsed
            for tile, before in zip(wall.tiles, start_frames, strict=True)
        ]
        for tile, rate in zip(wall.tiles, rates, strict=True):
            print(json.dumps({"tile": tile.camera_id, "fps": round(rate, 1)}))
        print(
            json.dumps(
                {
                    "tiles": TILES,
                    "source": f"rtsp {WIDTH}x{HEIGHT}@{FPS}",
                    "min_fps": round(min(rates), 1),
                    "mean_fps": round(sum(rates) / len(rates), 1),
                    "cpu_percent_of_one_core": round(100 * cpu / elapsed, 1),
                    "cores": os.cpu_count(),
                }
            )
        )
        print(f"video: {TILES} tiles at {min(rates):.1f} fps")
    finally:
        wall.stop_all()
        wall.close()
        QCoreApplication.processEvents()
        server.kill()
        server.communicate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
