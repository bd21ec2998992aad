"""Live video calls with field officers: an aiortc peer in the console, shown in a tile.

Flow (docs/protocol.md "Calls"): ``Session.request_call`` -> hub ``call.start`` rings the
officer -> ``call.state`` "connecting" once they accept -> this side creates the offer. aiortc
has no trickle ICE, so the console OFFERS (aiortc gathers every candidate before
``setLocalDescription`` returns) and the browser ANSWERS after its own gathering completed;
no candidate messages exist. The officer's camera and microphone come in; the console sends
its microphone (or a test tone / silence) back. An ICE failure rebuilds the peer connection
and offers again ("reconnecting"). Each media segment is recorded (``MediaRecorder``, WebM)
and, when the call has a task, uploaded as task evidence (SHA-256 checked by the hub).

Threads: aiortc runs on one :class:`CallEngine` thread with its own asyncio loop. It never
signals Qt per frame: it keeps the latest frame and queues call events; a GUI timer reads
both (architecture rule 4).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fractions
import hashlib
import itertools
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aioice.ice
import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaPlayer, MediaRecorder, MediaRelay
from aiortc.mediastreams import MediaStreamError
from PySide6.QtCore import QObject, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from console.core.paths import data_dir
from console.hub.client import HubError
from console.shell.i18n import tr
from console.shell.session import Session

log = logging.getLogger(__name__)

CALL_TOPICS = ("call.state", "call.answer")
AUDIO_RATE = 48_000
AUDIO_PTIME = 0.02
RECORDING_MIME = "video/webm"
UPLOAD_CHUNK = 256 * 1024

FrameHook = Callable[[str, av.VideoFrame, float], None]
"""``hook(call_id, frame, arrival_time)`` on the engine thread for every received frame."""


@dataclass(frozen=True, slots=True)
class CallSettings:
    """How calls run. Tests use loopback ICE and a tone instead of a microphone."""

    ice_host_addresses: tuple[str, ...] | None = None
    """Addresses aioice offers as host candidates; None: every interface (aioice's default)."""
    audio_source: str = "microphone"
    """"microphone" (PulseAudio default source), "tone" (440 Hz) or "silence"."""
    record: bool = True
    record_dir: Path | None = None
    """Where recordings go; None: ``<data dir>/calls``."""
    reconnect_attempts: int = 3


def use_ice_host_addresses(addresses: tuple[str, ...] | None) -> None:
    """Make aioice gather host candidates on ``addresses`` only (None restores the default).

    aioice leaves 127.0.0.1 out of its candidates; a loopback-only test must name it here.
    """
    if addresses is None:
        aioice.ice.get_host_addresses = _AIOICE_HOST_ADDRESSES
        return
    chosen = list(addresses)

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = host_addresses


_AIOICE_HOST_ADDRESSES = aioice.ice.get_host_addresses


class ToneTrack(MediaStreamTrack):
    """A 440 Hz tone (or silence) in real time: the commander's voice when there is no mic."""

    kind = "audio"

    def __init__(self, amplitude: float = 0.1) -> None:
        super().__init__()
        self.amplitude = amplitude
        self._samples = int(AUDIO_RATE * AUDIO_PTIME)
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._pts / AUDIO_RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        t = (self._pts + np.arange(self._samples)) / AUDIO_RATE
        pcm = (self.amplitude * 32767 * np.sin(2 * math.pi * 440.0 * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._pts += self._samples
        return frame


# --- engine (aiortc thread) ---------------------------------------------------------------------


@dataclass(slots=True)
class PeerStats:
    """What the engine saw of one call; read from any thread."""

    video_frames: int = 0
    audio_frames: int = 0
    width: int = 0
    height: int = 0
    first_frame_at: float | None = None
    last_frame_at: float | None = None


@dataclass(slots=True)
class _Peer:
    call_id: str
    pc: RTCPeerConnection
    audio: MediaStreamTrack | None
    relay: MediaRelay = field(default_factory=MediaRelay)
    recorder: MediaRecorder | None = None
    recording: Path | None = None
    recorded_tracks: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class CallEngine:
    """aiortc peers on a private asyncio thread; GUI-thread methods never block on media.

    Results come out of :meth:`poll` as ``(kind, call_id, payload)``: ``("offer", id, sdp)``,
    ``("media", id, "connected"|"failed")``, ``("closed", id, [recording paths])``,
    ``("error", id, text)``.
    """

    def __init__(self, settings: CallSettings, frame_hook: FrameHook | None = None) -> None:
        self.settings = settings
        self._frame_hook = frame_hook
        self._outbox: queue.SimpleQueue[tuple[str, str, Any]] = queue.SimpleQueue()
        self._latest: dict[str, av.VideoFrame] = {}
        self._lock = threading.Lock()
        self.stats: dict[str, PeerStats] = {}
        self._peers: dict[str, _Peer] = {}
        self._segments: dict[str, list[Path]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="call-engine", daemon=True)
        use_ice_host_addresses(settings.ice_host_addresses)
        self._thread.start()

    # -- GUI-thread API -----------------------------------------------------------------------

    def offer(self, call_id: str) -> None:
        """(Re)build the call's peer connection and produce a complete offer."""
        self._submit(self._offer(call_id), call_id)

    def answer(self, call_id: str, sdp: str) -> None:
        self._submit(self._answer(call_id, sdp), call_id)

    def hang_up(self, call_id: str) -> None:
        """Release the call's tracks, recorder, tasks and peer connection."""
        self._submit(self._hang_up(call_id), call_id)

    def poll(self) -> list[tuple[str, str, Any]]:
        items = []
        while True:
            try:
                items.append(self._outbox.get_nowait())
            except queue.Empty:
                return items

    def latest_frame(self, call_id: str) -> av.VideoFrame | None:
        with self._lock:
            return self._latest.get(call_id)

    def open_calls(self) -> list[str]:
        """Calls that still hold a peer connection (for leak checks and shutdown)."""
        future = asyncio.run_coroutine_threadsafe(self._open_calls(), self._loop)
        return future.result(10)

    def pending_tasks(self) -> int:
        """Asyncio tasks alive on the engine loop (0 when no call holds anything)."""
        future = asyncio.run_coroutine_threadsafe(self._pending_tasks(), self._loop)
        return future.result(10)

    def close(self) -> None:
        """Hang up everything and stop the thread (waits for it)."""
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._close_all(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        use_ice_host_addresses(None)

    # -- engine thread ------------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
            self._loop.close()

    def _submit(self, coroutine: Any, call_id: str) -> None:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)

        def done(outcome: Any) -> None:
            if not outcome.cancelled() and outcome.exception() is not None:
                log.error("call %s: %s", call_id, outcome.exception())
                self._outbox.put(("error", call_id, str(outcome.exception())))

        future.add_done_callback(done)

    async def _pending_tasks(self) -> int:
        return len(asyncio.all_tasks()) - 1  # minus this coroutine's own task

    async def _open_calls(self) -> list[str]:
        return sorted(self._peers)

    def _audio_track(self) -> MediaStreamTrack | None:
        source = self.settings.audio_source
        if source == "tone":
            return ToneTrack()
        if source == "silence":
            return ToneTrack(amplitude=0.0)
        if source == "microphone":
            try:
                player = MediaPlayer("default", format="pulse")
            except (av.FFmpegError, OSError) as exc:
                log.warning("no microphone (%s); sending silence", exc)
                return ToneTrack(amplitude=0.0)
            return player.audio
        raise ValueError(f"unknown audio source {source!r}: use microphone, tone or silence")

    async def _offer(self, call_id: str) -> None:
        await self._release(call_id)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        peer = _Peer(call_id, pc, self._audio_track())
        self._peers[call_id] = peer
        self.stats.setdefault(call_id, PeerStats())
        pc.addTransceiver("video", direction="recvonly")
        if peer.audio is not None:
            pc.addTrack(peer.audio)
        else:
            pc.addTransceiver("audio", direction="recvonly")
        if self.settings.record:
            directory = self.settings.record_dir or data_dir() / "calls"
            directory.mkdir(parents=True, exist_ok=True)
            segment = len(self._segments.setdefault(call_id, []))
            peer.recording = directory / f"{call_id}-{segment}.webm"
            peer.recorder = MediaRecorder(str(peer.recording))

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._on_track(peer, track)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if self._peers.get(call_id) is not peer:
                return
            if pc.connectionState == "connected":
                self._outbox.put(("media", call_id, "connected"))
            elif pc.connectionState == "failed":
                self._outbox.put(("media", call_id, "failed"))

        await pc.setLocalDescription(await pc.createOffer())  # gathers every candidate
        self._outbox.put(("offer", call_id, pc.localDescription.sdp))

    async def _answer(self, call_id: str, sdp: str) -> None:
        peer = self._peers.get(call_id)
        if peer is None:
            raise LookupError(f"no peer connection for call {call_id}")
        await peer.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    def _on_track(self, peer: _Peer, track: MediaStreamTrack) -> None:
        if peer.recorder is not None:
            peer.recorder.addTrack(peer.relay.subscribe(track))
            peer.recorded_tracks += 1
            if peer.recorded_tracks == 2:  # video and audio: the container can be written
                self._spawn(peer, peer.recorder.start())
        consumer = self._consume_video if track.kind == "video" else self._consume_audio
        self._spawn(peer, consumer(peer, peer.relay.subscribe(track, buffered=False)))

    def _spawn(self, peer: _Peer, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        peer.tasks.add(task)
        task.add_done_callback(peer.tasks.discard)

    async def _consume_video(self, peer: _Peer, track: MediaStreamTrack) -> None:
        stats = self.stats[peer.call_id]
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if not isinstance(frame, av.VideoFrame):
                    continue
                now = time.time()
                with self._lock:
                    self._latest[peer.call_id] = frame
                stats.video_frames += 1
                stats.width, stats.height = frame.width, frame.height
                stats.last_frame_at = now
                if stats.first_frame_at is None:
                    stats.first_frame_at = now
                if self._frame_hook is not None:
                    self._frame_hook(peer.call_id, frame, now)

    async def _consume_audio(self, peer: _Peer, track: MediaStreamTrack) -> None:
        stats = self.stats[peer.call_id]
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                stats.audio_frames += 1

    async def _release(self, call_id: str) -> None:
        peer = self._peers.pop(call_id, None)
        if peer is None:
            return
        for task in list(peer.tasks):
            task.cancel()
        await asyncio.gather(*peer.tasks, return_exceptions=True)
        if peer.recorder is not None and peer.recording is not None:
            if peer.recorded_tracks == 2:
                await peer.recorder.stop()
                if peer.recording.exists() and peer.recording.stat().st_size > 0:
                    self._segments[call_id].append(peer.recording)
            else:
                peer.recording.unlink(missing_ok=True)
        if peer.audio is not None:
            peer.audio.stop()
        await peer.pc.close()
        with self._lock:
            self._latest.pop(call_id, None)

    async def _hang_up(self, call_id: str) -> None:
        await self._release(call_id)
        self._outbox.put(("closed", call_id, self._segments.pop(call_id, [])))

    async def _close_all(self) -> None:
        for call_id in list(self._peers):
            await self._hang_up(call_id)


# --- Qt side -------------------------------------------------------------------------------------


def frame_image(frame: av.VideoFrame) -> QImage:
    """An owned RGB QImage of a decoded frame."""
    rgb = frame.to_ndarray(format="rgb24")
    height, width = rgb.shape[:2]
    return QImage(rgb.data, width, height, rgb.strides[0], QImage.Format.Format_RGB888).copy()


def state_label(state: str) -> str:
    return {
        "starting": tr("Calling…"),
        "ringing": tr("Ringing…"),
        "connecting": tr("Connecting…"),
        "connected": tr("In call"),
        "reconnecting": tr("Reconnecting…"),
        "ended": tr("Call ended"),
    }.get(state, state)


class CallTile(QWidget):
    """The officer's live picture with name, state and duration, and a hang-up button."""

    sig_hang_up = Signal(str)
    """The user pressed hang-up on the call with this id."""

    def __init__(self, call_id: str, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.call_id = call_id
        self.title = title
        self.state = "starting"
        self.image: QImage | None = None
        self.frames_shown = 0
        self._connected_at: float | None = None
        self.setWindowTitle(tr("Video call – {name}").format(name=title))
        self.setMinimumSize(320, 240)
        self.hang_up_button = QPushButton(tr("Hang up"))
        self.hang_up_button.setStyleSheet("background:#c62828;color:white;padding:6px 18px")
        self.hang_up_button.clicked.connect(lambda: self.sig_hang_up.emit(self.call_id))
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.hang_up_button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addLayout(row)

    def set_state(self, state: str) -> None:
        if state == "connected" and self._connected_at is None:
            self._connected_at = time.monotonic()
        self.state = state
        self.hang_up_button.setEnabled(state != "ended")
        self.update()

    def show_frame(self, image: QImage) -> None:
        self.image = image
        self.frames_shown += 1
        self.update()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        """Closing the call window hangs up: nobody keeps a call they cannot see."""
        if self.state != "ended":
            self.sig_hang_up.emit(self.call_id)
        super().closeEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#101418"))
        if self.image is not None and self.state != "ended":
            scaled = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(
                (self.width() - scaled.width()) // 2,
                (self.height() - scaled.height()) // 2,
                scaled.width(),
                scaled.height(),
            )
            painter.drawImage(target, self.image)
        painter.setPen(QColor("white"))
        text = f"{self.title}  ·  {state_label(self.state)}"
        if self._connected_at is not None and self.state != "ended":
            seconds = int(time.monotonic() - self._connected_at)
            text += f"  {seconds // 60:02d}:{seconds % 60:02d}"
        painter.drawText(self.rect().adjusted(8, 6, -8, -6), Qt.AlignmentFlag.AlignTop, text)
        painter.end()


@dataclass(slots=True)
class _Call:
    call_id: str
    officer_id: str
    task_id: str | None
    tile: CallTile
    state: str = "ringing"
    reconnects: int = 0
    attachments: list[dict[str, Any]] = field(default_factory=list)


class CallController(QObject):
    """Runs the session's calls: signalling through the hub, media through the engine."""

    sig_call_state = Signal(str, str)
    """(call_id, state) whenever a call changes state (ringing … ended)."""

    sig_recording_attached = Signal(str, object)
    """(call_id, attachment dict from the hub) once a recording is stored as task evidence."""

    sig_call_failed = Signal(str, str)
    """(officer_id, message) when a call could not start or broke off with an error."""

    def __init__(
        self,
        session: Session,
        settings: CallSettings | None = None,
        *,
        frame_hook: FrameHook | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.settings = settings if settings is not None else CallSettings()
        self.engine = CallEngine(self.settings, frame_hook)
        self.calls: dict[str, _Call] = {}
        self._pending = itertools.count(1)
        self._timer = QTimer(self)
        self._timer.setInterval(33)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        session.sig_call_requested.connect(self.start_call)
        session.sig_events.connect(self._on_events)
        if session.hub is not None:
            session.hub.subscribe(list(CALL_TOPICS))

    # -- user actions -------------------------------------------------------------------------

    def start_call(self, officer_id: str, task_id: str) -> None:
        """Ring an officer; ``task_id`` ("" for none) receives the recording."""
        hub = self.session.hub
        if hub is None:
            self.sig_call_failed.emit(officer_id, tr("Not connected to the hub"))
            return
        params: dict[str, Any] = {"officer_id": officer_id}
        if task_id:
            params["task_id"] = task_id

        def started(result: dict[str, Any]) -> None:
            call_id = str(result["call_id"])
            tile = CallTile(call_id, self._officer_name(officer_id))
            tile.sig_hang_up.connect(self.hang_up)
            tile.resize(640, 480)
            tile.show()
            self.calls[call_id] = _Call(call_id, officer_id, task_id or None, tile)
            self._set_state(call_id, str(result["state"]))

        def failed(error: HubError) -> None:
            self.sig_call_failed.emit(officer_id, error.detail)

        hub.request("call.start", params, on_result=started, on_error=failed)

    def hang_up(self, call_id: str) -> None:
        call = self.calls.get(call_id)
        if call is None or call.state == "ended":
            return
        if self.session.hub is not None:
            self.session.hub.request("call.hangup", {"call_id": call_id}, on_error=self._log_error)
        self._ended(call_id)

    def close(self) -> None:
        """Hang up every call and stop the engine thread."""
        for call_id in list(self.calls):
            self.hang_up(call_id)
        self._timer.stop()
        self.engine.close()
        for call in self.calls.values():
            call.tile.close()
        self.calls.clear()

    # -- hub events ---------------------------------------------------------------------------

    def _on_events(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            topic, data = event.get("topic"), event.get("data") or {}
            call = self.calls.get(str(data.get("call_id")))
            if call is None:
                continue
            if topic == "call.answer":
                self.engine.answer(call.call_id, str(data["sdp"]))
            elif topic == "call.state" and "field" not in data:
                state = str(data["state"])
                if state == "connecting" and call.state == "ringing":
                    self._set_state(call.call_id, state)
                    self.engine.offer(call.call_id)
                elif state == "ended":
                    self._ended(call.call_id)

    # -- engine results -----------------------------------------------------------------------

    def _tick(self) -> None:
        for kind, call_id, payload in self.engine.poll():
            if kind == "closed":
                self._upload_recordings(call_id, payload)
                continue
            call = self.calls.get(call_id)
            if call is None or call.state == "ended":
                continue
            if kind == "offer":
                self._request("call.offer", {"call_id": call_id, "sdp": payload})
            elif kind == "media" and payload == "connected":
                call.reconnects = 0
                self._set_state(call_id, "connected")
                self._request("call.state", {"call_id": call_id, "state": "connected"})
            elif kind == "media" and payload == "failed":
                self._reconnect(call)
            elif kind == "error":
                self.sig_call_failed.emit(call.officer_id, str(payload))
                self.hang_up(call_id)
        for call in self.calls.values():
            frame = self.engine.latest_frame(call.call_id)
            if frame is not None and call.state != "ended":
                call.tile.show_frame(frame_image(frame))

    def _reconnect(self, call: _Call) -> None:
        if call.reconnects >= self.settings.reconnect_attempts:
            self.sig_call_failed.emit(call.officer_id, tr("The connection could not be restored"))
            self.hang_up(call.call_id)
            return
        call.reconnects += 1
        self._set_state(call.call_id, "reconnecting")
        self._request("call.state", {"call_id": call.call_id, "state": "reconnecting"})
        self.engine.offer(call.call_id)

    def _ended(self, call_id: str) -> None:
        call = self.calls.get(call_id)
        if call is None or call.state == "ended":
            return
        self._set_state(call_id, "ended")
        self.engine.hang_up(call_id)

    def _upload_recordings(self, call_id: str, paths: list[Path]) -> None:
        call = self.calls.get(call_id)
        if call is None or call.task_id is None or self.session.hub is None or not paths:
            return
        hub = self.session.hub
        # One recording per call: the hub keeps one attachment per call (upload id call-<id>).
        path = paths[-1]
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        offsets = list(range(0, len(data), UPLOAD_CHUNK))

        def send(index: int) -> None:
            if index == len(offsets):
                hub.request(
                    "call.recording.end",
                    {
                        "call_id": call_id,
                        "size": len(data),
                        "sha256": digest,
                        "mime": RECORDING_MIME,
                    },
                    on_result=attached,
                    on_error=self._log_error,
                )
                return
            start = offsets[index]
            chunk = base64.b64encode(data[start : start + UPLOAD_CHUNK]).decode()
            hub.request(
                "call.recording.chunk",
                {"call_id": call_id, "offset": start, "data": chunk},
                on_result=lambda _result: send(index + 1),
                on_error=self._log_error,
            )

        def attached(attachment: dict[str, Any]) -> None:
            call.attachments.append(attachment)
            self.sig_recording_attached.emit(call_id, attachment)

        send(0)

    # -- helpers ------------------------------------------------------------------------------

    def _set_state(self, call_id: str, state: str) -> None:
        call = self.calls[call_id]
        call.state = state
        call.tile.set_state(state)
        self.sig_call_state.emit(call_id, state)

    def _request(self, method: str, params: dict[str, Any]) -> None:
        if self.session.hub is not None:
            self.session.hub.request(method, params, on_error=self._log_error)

    def _log_error(self, error: HubError) -> None:
        log.warning("call signalling failed: %s", error)

    def _officer_name(self, officer_id: str) -> str:
        for officer in self.session.snapshot.get("officers", []) or []:
            if isinstance(officer, dict) and officer.get("id") == officer_id:
                return str(officer.get("name") or officer_id)
        return officer_id


def install_calls(session: Session, settings: CallSettings | None = None) -> CallController:
    """Let the session's ``request_call`` start calls; the controller lives with the session."""
    controller = CallController(session, settings, parent=session)
    return controller
