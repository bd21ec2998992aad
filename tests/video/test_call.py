"""A real WebRTC call: field app in Chromium <-> hub signalling <-> aiortc peer in the console.

The scenario runs in its own network namespace holding only ``lo`` (``unshare --net``, as
root), so ICE can only use 127.0.0.1 - never the machine's LAN address. This module is the
test (outside) and, run as a script, the scenario (inside); the scenario prints one JSON
line of facts that the test checks.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
OFFICER = "officer-331002-0001"
SITE = (121.01, 28.02)
MEASURE_S = 3.0
WARMUP_S = 2.0


def test_call_over_loopback_in_a_private_network() -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.fail("the WebRTC call test needs root and unshare(1) for a private network")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", QTWEBENGINE_DISABLE_SANDBOX="1")
    command = f"ip link set lo up && exec {sys.executable} {Path(__file__)}"
    done = subprocess.run(
        ["unshare", "--net", "sh", "-c", command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert done.returncode == 0, f"scenario failed:\n{done.stdout}\n{done.stderr[-4000:]}"
    facts: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts["interfaces"] == ["lo"]
    assert facts["states"][:3] == ["ringing", "connecting", "connected"]
    assert facts["fps"] >= 15, facts
    # 640x480 from the fake camera; Chromium's CPU-overuse adaptation may scale it down on a
    # busy machine (balanced degradation keeps the frame rate), never to a different shape.
    width, height = facts["frame_size"]
    assert 320 <= width <= 640, facts["frame_size"]
    assert width * 3 == height * 4, facts["frame_size"]
    assert facts["audio_frames"] > 0  # the officer's microphone reached the console
    assert facts["tile_frames"] > 0
    assert facts["browser_got_audio"]  # the console's tone reached the officer
    assert facts["states"][-1] == "ended"
    assert facts["end_reason"] == "hangup_field"
    # Hang-up released everything on both sides.
    assert facts["open_calls"] == []
    assert facts["pc_state"] == "closed"
    assert facts["leaked_threads"] == []
    assert facts["engine_tasks"] == 0
    assert facts["browser_tracks_live"] == 0
    # The recording is task evidence with a matching hash.
    assert facts["attachment"]["task_id"] == facts["task_id"]
    assert facts["attachment"]["kind"] == "video"
    assert facts["attachment"]["sha256"] == facts["recording_sha256"]
    assert facts["served_sha256"] == facts["recording_sha256"]
    assert facts["attachment_event"] == facts["attachment"]["attachment_id"]
    assert facts["recording_bytes"] > 10_000
    # A second call the console hangs up.
    assert facts["second_call_browser_state"] in ("ended", "idle")
    assert facts["page_errors"] == []


# --- the scenario (runs inside the namespace) ----------------------------------------------------


def _scenario() -> dict[str, Any]:
    from playwright.sync_api import sync_playwright
    from PySide6.QtWidgets import QApplication

    from console.core.paths import HOME_ENV
    from console.hub.embedded import EmbeddedHub
    from console.shell.hub_link import HubLink
    from console.shell.session import Session
    from console.store import Store
    from console.store.field_repo import FieldRepo
    from console.video.call import CallController, CallSettings
    from tests.field.conftest import ConsoleThread
    from tests.fixtures.browser import CALL_CHROMIUM_ARGS, CHROMIUM
    from tests.hub.support import PASSWORD, seed_store, small_world

    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True)
    facts: dict[str, Any] = {
        "interfaces": sorted(line.split(":")[1].strip() for line in links.stdout.splitlines())
    }
    root = Path(tempfile.mkdtemp(prefix="call-test-"))
    os.environ[HOME_ENV] = str(root / "home")
    db_url = f"sqlite:///{root / 'hub.sqlite3'}"
    seed_store(db_url, small_world())
    hub = EmbeddedHub(db_url)
    url = hub.start()
    base = "http://" + url.removeprefix("ws://").split("/", 1)[0]
    helper = ConsoleThread(url, "dispatcher")
    app = QApplication.instance() or QApplication([])

    def pump(until: Any, timeout: float = 20.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            app.processEvents()
            time.sleep(0.01)

    created = helper.call(
        "complaint.create",
        channel="hotline_12369",
        category="water",
        urgency="urgent",
        reporter_name="张三",
        reporter_phone="13900000000",
        description="河道发黑发臭",
        lon=SITE[0],
        lat=SITE[1],
    )
    task_id = helper.call("task.dispatch", complaint_id=created["complaint"]["id"])["task"]["id"]
    facts["task_id"] = task_id
    store = Store.open(db_url)
    token = FieldRepo(store.engine).issue_token(OFFICER, _now()).token
    store.close()

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CALL_CHROMIUM_ARGS, headless=True
    )
    context = browser.new_context(locale="zh-CN")
    # Chromium reports navigator.onLine false when the only interface is lo.
    context.add_init_script("Object.defineProperty(navigator, 'onLine', {get: () => true});")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{base}/field/#token={token}")
    page.wait_for_selector("#conn[data-state=online]", timeout=20_000)

    link = HubLink(url, snapshot_method=None)
    session = Session(link)
    link.sig_events.connect(session.publish_events)
    events: list[dict[str, Any]] = []
    link.sig_events.connect(events.extend)
    link.start()
    logged_in: list[Any] = []
    link.login("dispatcher", PASSWORD, "call-test", on_result=logged_in.append)
    settings = CallSettings(
        ice_host_addresses=("127.0.0.1",), audio_source="tone", record_dir=root / "calls"
    )
    threads_before = {t.ident for t in threading.enumerate()}
    controller = CallController(session, settings)
    link.subscribe(["attachment.added"])
    states: list[str] = []
    ends: dict[str, str] = {}
    controller.sig_call_state.connect(lambda _cid, state: states.append(state))
    attachments: list[Any] = []
    controller.sig_recording_attached.connect(lambda _cid, att: attachments.append(att))
    pump(lambda: bool(logged_in), what="console login")
    pump(lambda: True)

    # Call 1: officer accepts, talks, hangs up.
    session.request_call(OFFICER, task_id)
    pump(
        lambda: page.evaluate("document.querySelector('#call')?.dataset.state") == "ringing",
        what="incoming call in the browser",
    )
    page.click("#call-accept")
    pump(lambda: "connected" in states, what="connected")
    (call_id,) = controller.calls
    stats = controller.engine.stats[call_id]
    pump(lambda: stats.video_frames > 0, what="first frame")
    pc = controller.engine._peers[call_id].pc
    warm = time.monotonic()  # the sender starts at a low bitrate estimate and ramps up
    pump(lambda: time.monotonic() - warm >= WARMUP_S)
    before, start = stats.video_frames, time.monotonic()
    pump(lambda: time.monotonic() - start >= MEASURE_S)
    facts["fps"] = round((stats.video_frames - before) / (time.monotonic() - start), 1)
    facts["frame_size"] = [stats.width, stats.height]
    facts["audio_frames"] = stats.audio_frames
    facts["tile_frames"] = controller.calls[call_id].tile.frames_shown
    facts["browser_got_audio"] = page.evaluate(
        "(() => { const s = document.querySelector('#call-audio').srcObject;"
        " return !!s && s.getAudioTracks().length > 0; })()"
    )
    page.click("#call-hangup")
    pump(lambda: bool(attachments), timeout=30, what="recording attached")
    for event in events:
        if event.get("topic") == "call.state" and event["data"].get("state") == "ended":
            ends[event["data"]["call_id"]] = event["data"].get("reason")
    facts["end_reason"] = ends.get(call_id)
    facts["states"] = list(states)
    facts["open_calls"] = controller.engine.open_calls()
    facts["pc_state"] = pc.connectionState
    facts["engine_tasks"] = controller.engine.pending_tasks()
    facts["browser_tracks_live"] = page.evaluate(
        "(() => { const v = document.querySelector('#call-self').srcObject;"
        " return v ? v.getTracks().filter((t) => t.readyState === 'live').length : 0; })()"
    )
    attachment = attachments[0]
    facts["attachment"] = attachment
    recording = sorted((root / "calls").glob(f"{call_id}-*.webm"))[-1]
    data = recording.read_bytes()
    facts["recording_bytes"] = len(data)
    facts["recording_sha256"] = hashlib.sha256(data).hexdigest()
    served_url = helper.call("attachment.url", attachment_id=attachment["attachment_id"])["path"]
    with urllib.request.urlopen(base + served_url, timeout=10) as response:
        facts["served_sha256"] = hashlib.sha256(response.read()).hexdigest()
    pump(lambda: any(e.get("topic") == "attachment.added" for e in events), what="event")
    facts["attachment_event"] = next(
        e["data"]["attachment_id"] for e in events if e.get("topic") == "attachment.added"
    )

    # Call 2: the console hangs up while connected.
    states.clear()
    session.request_call(OFFICER, "")
    pump(
        lambda: page.evaluate("document.querySelector('#call').dataset.state") == "ringing",
        what="second incoming call",
    )
    page.click("#call-accept")
    pump(lambda: "connected" in states, what="second call connected")
    second = next(cid for cid in controller.calls if cid != call_id)
    controller.hang_up(second)
    pump(
        lambda: page.evaluate("document.querySelector('#call').dataset.state") != "connected",
        what="browser sees the console's hang-up",
    )
    facts["second_call_browser_state"] = page.evaluate(
        "document.querySelector('#call').dataset.state"
    )
    facts["page_errors"] = errors

    controller.close()
    facts["leaked_threads"] = [
        t.name for t in threading.enumerate() if t.ident not in threads_before
    ]
    link.close()
    context.close()
    browser.close()
    playwright.stop()
    helper.close()
    hub.stop()
    shutil.rmtree(root, ignore_errors=True)
    return facts


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    print(json.dumps(_scenario()))
