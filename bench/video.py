"""Video benchmark: a WebRTC officer call, then a 16-tile wall of local RTSP streams.

WebRTC (root only: it runs in a private network namespace holding only ``lo``, like
tests/video/test_call.py): the real field app in headless Chromium answers a call from the
console's aiortc peer. The officer's camera is replaced by a 640x480 canvas captured with
``captureStream(30)`` on which the page paints ``Date.now()`` as 48 black/white 80x80
blocks every 10 ms. For each frame the console decodes, the frame hook reads the blocks back
and subtracts from its own wall clock (same machine, same clock): latency = canvas paint ->
capture -> VP8 encode -> UDP on lo -> jitter buffer -> decode. Received fps and the latency
median / p95 are printed as one JSON line.

Wall: starts the gst-rtsp-server test camera (tests/fixtures/rtsp_server.py, system python
with ``gi``) with 16 mounts, plays each in a ``CameraTile`` on a 4x4 ``VideoWall``
offscreen, and measures delivered fps per tile and this process's CPU. Prints JSON lines,
then, last, ``video: N tiles at M fps`` (M = the slowest tile).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication

from console.video.wall import VideoWall

TILES, WIDTH, HEIGHT, FPS = 16, 640, 360, 25
WARMUP_S, MEASURE_S = 15.0, 10.0
ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "fixtures" / "rtsp_server.py"
CALL_OFFICER = "officer-331002-0001"
CALL_WARMUP_S, CALL_MEASURE_S = 3.0, 8.0
MAX_LATENCY_MS = 5000
BLOCK, COLUMNS, ROWS = 80, 8, 6  # 48 bits of Date.now() on a 640x480 canvas
CANVAS_CAMERA = (
    f"(() => {{ const BLOCK = {BLOCK}, COLUMNS = {COLUMNS}, ROWS = {ROWS};"
    + """
  navigator.mediaDevices.getUserMedia = async () => {
    const canvas = document.createElement("canvas");
    canvas.width = BLOCK * COLUMNS;
    canvas.height = BLOCK * ROWS;
    const g = canvas.getContext("2d");
    setInterval(() => {
      let now = Date.now();
      for (let bit = 0; bit < COLUMNS * ROWS; bit += 1) {
        g.fillStyle = now % 2 ? "#fff" : "#000";
        now = Math.floor(now / 2);
        g.fillRect((bit % COLUMNS) * BLOCK, Math.floor(bit / COLUMNS) * BLOCK, BLOCK, BLOCK);
      }
    }, 10);
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    const sink = audio.createMediaStreamDestination();
    tone.connect(sink);
    tone.start();
    return new MediaStream([...canvas.captureStream(30).getTracks(), ...sink.stream.getTracks()]);
  };
})();
"""
)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _wait(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.005)


def painted_ms(frame: av.VideoFrame) -> int:
    """The ``Date.now()`` the page painted into this frame (block centres, least bit first)."""
    # The luma plane as is: reformatting here would race the GUI thread's conversion of
    # the same frame object (PyAV keeps one reformatter per frame).
    plane = frame.planes[0]
    gray = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)[: frame.height]
    half = BLOCK // 2
    centres = gray[half::BLOCK, half::BLOCK][:ROWS, :COLUMNS].reshape(-1) > 128
    return int(np.dot(centres.astype(np.int64), 1 << np.arange(COLUMNS * ROWS, dtype=np.int64)))


def call_inside_namespace() -> dict[str, Any]:
    """One call from the console to the field app (runs inside the private namespace)."""
    from playwright.sync_api import sync_playwright

    from console.core.paths import HOME_ENV
    from console.hub.embedded import EmbeddedHub
    from console.shell.hub_link import HubLink
    from console.shell.session import Session
    from console.store import Store
    from console.store.field_repo import FieldRepo
    from console.video.call import CallController, CallSettings
    from tests.fixtures.browser import CALL_CHROMIUM_ARGS, CHROMIUM
    from tests.hub.support import PASSWORD, seed_store, small_world

    root = Path(tempfile.mkdtemp(prefix="call-bench-"))
    os.environ[HOME_ENV] = str(root / "home")
    db_url = f"sqlite:///{root / 'hub.sqlite3'}"
    seed_store(db_url, small_world())
    store = Store.open(db_url)
    token = FieldRepo(store.engine).issue_token(CALL_OFFICER, datetime.now(UTC)).token
    store.close()
    hub = EmbeddedHub(db_url)
    url = hub.start()
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    latencies: list[float] = []
    measuring = [False]
    unreadable = [0]

    def hook(_call_id: str, frame: av.VideoFrame, arrived: float) -> None:
        if measuring[0]:
            latency = arrived * 1000 - painted_ms(frame)
            if 0 <= latency < MAX_LATENCY_MS:  # otherwise a block was misread
                latencies.append(latency)
            else:
                unreadable[0] += 1

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CALL_CHROMIUM_ARGS, headless=True
    )
    link = HubLink(url, snapshot_method=None)
    session = Session(link)
    link.sig_events.connect(session.publish_events)
    link.start()
    link.login("dispatcher", PASSWORD, "call-bench")
    settings = CallSettings(
        ice_host_addresses=("127.0.0.1",), audio_source="tone", record_dir=root / "calls"
    )
    controller = CallController(session, settings, frame_hook=hook)
    try:
        context = browser.new_context()
        context.add_init_script("Object.defineProperty(navigator, 'onLine', {get: () => true});")
        context.add_init_script(CANVAS_CAMERA)
        page = context.new_page()
        page.goto(
            url.replace("ws://", "http://").replace("/ws/console", "") + f"/field/#token={token}"
        )
        page.wait_for_selector("#conn[data-state=online]", timeout=20_000)
        _wait(app, 0.5)  # the console's login and subscription
        session.request_call(CALL_OFFICER, "")
        deadline = time.monotonic() + 20
        while page.evaluate("document.querySelector('#call')?.dataset.state") != "ringing":
            if time.monotonic() > deadline:
                raise RuntimeError("the field app never rang")
            _wait(app, 0.05)
        page.click("#call-accept")
        deadline = time.monotonic() + 20
        while not any(call.state == "connected" for call in controller.calls.values()):
            if time.monotonic() > deadline:
                raise RuntimeError("the call never connected")
            _wait(app, 0.05)
        (call_id,) = controller.calls
        stats = controller.engine.stats[call_id]
        _wait(app, CALL_WARMUP_S)
        cpu0, t0, frames0 = _cpu_s(), time.monotonic(), stats.video_frames
        measuring[0] = True
        _wait(app, CALL_MEASURE_S)
        measuring[0] = False
        elapsed, cpu = time.monotonic() - t0, _cpu_s() - cpu0
        fps = (stats.video_frames - frames0) / elapsed
        ordered = sorted(latencies)
        controller.hang_up(call_id)
        _wait(app, 1.0)
        return {
            "webrtc_call": f"{stats.width}x{stats.height} VP8, canvas captureStream(30)",
            "fps": round(fps, 1),
            "latency_ms_median": round(statistics.median(ordered), 1),
            "latency_ms_p95": round(ordered[int(0.95 * (len(ordered) - 1))], 1),
            "frames_measured": len(ordered),
            "frames_unreadable": unreadable[0],
            "console_cpu_percent_of_one_core": round(100 * cpu / elapsed, 1),
        }
    finally:
        controller.close()
        link.close()
        browser.close()
        playwright.stop()
        hub.stop()
        shutil.rmtree(root, ignore_errors=True)


def webrtc_call() -> dict[str, Any]:
    """Run :func:`call_inside_namespace` in a network namespace with only ``lo``."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return {"webrtc_call": "skipped: needs root and unshare(1) for a private network"}
    command = f"ip link set lo up && exec {sys.executable} {Path(__file__)} --call-inside"
    done = subprocess.run(
        ["unshare", "--net", "sh", "-c", command],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT), QTWEBENGINE_DISABLE_SANDBOX="1"),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if done.returncode != 0:
        return {"webrtc_call": "failed", "stderr": done.stderr[-2000:]}
    facts: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return facts


def main() -> int:
    print(json.dumps(webrtc_call()), flush=True)
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
    if sys.argv[1:] == ["--call-inside"]:
        print(json.dumps(call_inside_namespace()))
        sys.exit(0)
    sys.exit(main())
