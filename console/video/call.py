"""Live video calls with field officers: an aiortc peer in the console, shown in a tile.

Flow (docs/protocol.md "Calls"): ``Session.request_call`` -> hub ``call.start`` rings the
officer -> ``call.state`` "connecting" once they accept -> this side creates the offer. aiortc
has no trickle ICE, so the console OFFERS (aiortc gathers every candidate before
``setLocalDescription`` returns) and the browser ANSWERS after its own gathering completed;
no candidate messages exist. The officer's camera and microphone come in; the console sends
its microphone (or a test tone / silence) back. An ICE failure rebuilds the peer connection
and offers again ("reconnecting"). Each media segment is recorded (WebM, VP8 + Opus)
and, when the call has a task, uploaded as task evidence (SHA-256 checked by the hub).
Recording re-encodes (aiortc hands out decoded frames only), so it runs on its own thread
(:class:`CallRecorder`, libvpx in real-time mode, PyAV releases the GIL while encoding) fed
by a bounded queue: a slow machine drops frames from the evidence file, never from the
live picture. libvpx's default "good" deadline costs ~0.5 s per 640x480 frame here and,
on the engine loop, held reception to 2-5 fps.

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
from collections.abc import Callable, Mapping
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
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError
from PySide6.QtCore import QIODevice, QObject, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QColor, QImage, QPainter, QPaintEvent
from PySide6.QtMultimedia import QAudioFormat, QAudioSink, QMediaDevices
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWidget
from shiboken6 import isValid

from console.core.paths import data_dir
from console.hub.client import HubError
from console.shell.hub_errors import error_text
from console.shell.i18n import tr
from console.shell.session import Session

log = logging.getLogger(__name__)

CALL_TOPICS = ("call.state", "call.answer")
AUDIO_RATE = 48_000
AUDIO_PTIME = 0.02
RECORDING_MIME = "video/webm"
UPLOAD_CHUNK = 256 * 1024
RECORDER_QUEUE = 90
"""Frames the recorder may lag behind (~1.5 s of video and audio) before it drops some."""
RECORDER_VIDEO_OPTIONS = {"deadline": "realtime", "cpu-used": "8"}
RECORDER_VIDEO_BITRATE = 1_000_000
ENDED_TILE_MS = 3000
PLAYBACK_CHANNELS = 2
PLAYBACK_MAX_BYTES = AUDIO_RATE * PLAYBACK_CHANNELS * 2 // 2
"""Received audio kept for the speakers (0.5 s); older audio is dropped, never delayed."""

FrameHook = Callable[[str, av.VideoFrame, float], None]
"""``hook(call_id, frame, arrival_time)`` on the engine thread for every received frame.
It must not reformat the frame (``to_ndarray``, ``reformat``): the GUI thread may be
converting the same frame object, and PyAV's per-frame reformatter is not thread-safe
(seen here as a deadlock); read ``frame.planes`` instead."""


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
    play_audio: bool = True
    """Play the officer's voice on the default audio output (skipped when there is none)."""


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


class CallRecorder:
    """Writes one media segment (VP8 + Opus in WebM) on its own thread.

    :meth:`put` never blocks: when the encoder lags more than ``RECORDER_QUEUE`` frames
    behind, the frame is left out of the file (counted in ``dropped``). Audio that arrives
    before the first picture is held back (the container needs the picture size first).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.dropped = 0
        self.video_frames = 0
        self._queue: queue.Queue[av.VideoFrame | av.AudioFrame | None] = queue.Queue(RECORDER_QUEUE)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="call-recorder", daemon=True)
        self._thread.start()

    def put(self, frame: av.VideoFrame | av.AudioFrame) -> None:
        try:
            self._queue.put_nowait(frame)
        except queue.Full:
            self.dropped += 1

    def stop(self) -> Path | None:
        """Finish the file (blocks until written); None when it holds no picture."""
        self._queue.put(None)
        self._thread.join()
        if self.dropped:
            log.info("recording %s: %d frames dropped under load", self.path.name, self.dropped)
        if self._error is not None:
            log.error("recording %s failed: %s", self.path.name, self._error)
        if self._error is not None or self.video_frames == 0:
            self.path.unlink(missing_ok=True)
            return None
        return self.path

    def _run(self) -> None:
        container: Any = None
        try:
            container = av.open(str(self.path), mode="w", format="webm")
            video = container.add_stream("libvpx", rate=30)
            video.pix_fmt = "yuv420p"
            video.bit_rate = RECORDER_VIDEO_BITRATE
            video.codec_context.options = dict(RECORDER_VIDEO_OPTIONS)
            audio = container.add_stream("libopus", rate=AUDIO_RATE)
            held: list[av.AudioFrame] = []
            firsts: dict[str, int] = {}
            while (frame := self._queue.get()) is not None:
                kind = "video" if isinstance(frame, av.VideoFrame) else "audio"
                frame.pts = (frame.pts or 0) - firsts.setdefault(kind, frame.pts or 0)
                if isinstance(frame, av.AudioFrame):
                    if self.video_frames == 0:
                        held = [*held[-(RECORDER_QUEUE - 1) :], frame]
                        continue
                    container.mux(audio.encode(frame))
                    continue
                if self.video_frames == 0:
                    video.width, video.height = frame.width, frame.height
                    video.codec_context.time_base = frame.time_base
                self.video_frames += 1
                container.mux(video.encode(frame))
                for early in held:
                    container.mux(audio.encode(early))
                held = []
            if self.video_frames:
                container.mux(video.encode(None))
                container.mux(audio.encode(None))
        except (av.FFmpegError, OSError, ValueError) as exc:
            self._error = exc
            while self._queue.get() is not None:  # let put()/stop() finish
                pass
        finally:
            if container is not None:
                with contextlib.suppress(av.FFmpegError, OSError):
                    container.close()


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
    recorder: CallRecorder | None = None
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
        self._pcm: dict[str, bytearray] = {}
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

    def take_audio(self, call_id: str) -> bytes:
        """The call's received audio since the last call (48 kHz stereo s16), for speakers."""
        with self._lock:
            buffer = self._pcm.get(call_id)
            if not buffer:
                return b""
            pcm = bytes(buffer)
            buffer.clear()
            return pcm

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
            peer.recorder = CallRecorder(directory / f"{call_id}-{segment}.webm")

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
        consumer = self._consume_video if track.kind == "video" else self._consume_audio
        self._spawn(peer, consumer(peer, track))

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
                if peer.recorder is not None:
                    peer.recorder.put(frame)

    async def _consume_audio(self, peer: _Peer, track: MediaStreamTrack) -> None:
        stats = self.stats[peer.call_id]
        resampler = av.AudioResampler(format="s16", layout="stereo", rate=AUDIO_RATE)
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if not isinstance(frame, av.AudioFrame):
                    continue
                stats.audio_frames += 1
                if self.settings.play_audio:
                    pcm = b"".join(bytes(f.planes[0]) for f in resampler.resample(frame))
                    with self._lock:
                        buffer = self._pcm.setdefault(peer.call_id, bytearray())
                        buffer += pcm
                        del buffer[: max(0, len(buffer) - PLAYBACK_MAX_BYTES)]
                if peer.recorder is not None:
                    peer.recorder.put(frame)

    async def _release(self, call_id: str) -> None:
        peer = self._peers.pop(call_id, None)
        if peer is None:
            return
        for task in list(peer.tasks):
            task.cancel()
        await asyncio.gather(*peer.tasks, return_exceptions=True)
        if peer.recorder is not None:
            recording = await asyncio.to_thread(peer.recorder.stop)
            if recording is not None:
                self._segments[call_id].append(recording)
        if peer.audio is not None:
            peer.audio.stop()
        await peer.pc.close()
        with self._lock:
            self._latest.pop(call_id, None)
            self._pcm.pop(call_id, None)

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

    sig_send_to_wall = Signal(str)
    """The user asked to show this call on the video wall (button shown by ``allow_wall``)."""

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
        self.wall_button = QPushButton(tr("Send to wall"))
        self.wall_button.setVisible(False)
        self.wall_button.clicked.connect(lambda: self.sig_send_to_wall.emit(self.call_id))
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.wall_button)
        row.addWidget(self.hang_up_button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addLayout(row)

    def allow_wall(self, allowed: bool) -> None:
        """Offer "send to wall" (a tile that is already on the wall does not)."""
        self.wall_button.setVisible(allowed)

    def set_state(self, state: str) -> None:
        if state == "connected" and self._connected_at is None:
            self._connected_at = time.monotonic()
        self.state = state
        self.hang_up_button.setEnabled(state != "ended")
        self.wall_button.setEnabled(state != "ended")
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


class Speaker:
    """Plays one call's received audio on the default output device.

    Offscreen test machines and servers have no output device: then the audio is dropped
    and a warning is logged once per process.
    """

    _warned = False

    def __init__(self, parent: QObject | None = None) -> None:
        self._sink: QAudioSink | None = None
        self._device: QIODevice | None = None
        output = QMediaDevices.defaultAudioOutput()
        audio_format = QAudioFormat()
        audio_format.setSampleRate(AUDIO_RATE)
        audio_format.setChannelCount(PLAYBACK_CHANNELS)
        audio_format.setSampleFormat(QAudioFormat.SampleFormat.Int16)
        if output.isNull() or not output.isFormatSupported(audio_format):
            if not Speaker._warned:
                Speaker._warned = True
                log.warning("no audio output for 48 kHz stereo: call audio is not played")
            return
        self._sink = QAudioSink(output, audio_format, parent)
        self._device = self._sink.start()

    @property
    def playing(self) -> bool:
        return self._device is not None

    def write(self, pcm: bytes) -> None:
        """Queue PCM for the device; what does not fit its buffer is dropped (no delay)."""
        if self._sink is not None and self._device is not None and pcm:
            self._device.write(pcm[: self._sink.bytesFree()])

    def close(self) -> None:
        if self._sink is not None:
            self._sink.stop()
            self._sink = None
            self._device = None


@dataclass(slots=True)
class _Call:
    call_id: str
    officer_id: str
    task_id: str | None
    tile: CallTile
    speaker: Speaker | None = None
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
        place_tile: Callable[[CallTile], None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self._place_tile = place_tile
        """Puts a new call's tile somewhere (the video dock); None: its own window."""
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
            if self._place_tile is None:
                tile.resize(640, 480)
                tile.show()
            else:
                self._place_tile(tile)
            speaker = Speaker(self) if self.settings.play_audio else None
            self.calls[call_id] = _Call(call_id, officer_id, task_id or None, tile, speaker)
            self._set_state(call_id, str(result["state"]))

        def failed(error: HubError) -> None:
            self.sig_call_failed.emit(officer_id, error_text(error))

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
            if isValid(call.tile):  # a docked tile may already be deleted
                call.tile.close()
        self.calls.clear()

    # -- hub events ---------------------------------------------------------------------------

    def _on_events(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            topic, data = event.get("topic"), event.get("data") or {}
            if not isinstance(data, Mapping):  # e.g. officer.moved carries a list of moves
                continue
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
        for call in list(self.calls.values()):
            if call.state == "ended":
                continue
            if not isValid(call.tile):  # its window (the wall) was closed: nobody sees it
                self.hang_up(call.call_id)
                continue
            frame = self.engine.latest_frame(call.call_id)
            if frame is not None:
                call.tile.show_frame(frame_image(frame))
            pcm = self.engine.take_audio(call.call_id)
            if call.speaker is not None:
                call.speaker.write(pcm)

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
        if call.speaker is not None:
            call.speaker.close()
        self.engine.hang_up(call_id)
        if self._place_tile is not None:  # a docked tile goes away once "ended" was seen
            QTimer.singleShot(ENDED_TILE_MS, call.tile.deleteLater)

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
        if isValid(call.tile):
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


def install_calls(
    session: Session,
    settings: CallSettings | None = None,
    *,
    place_tile: Callable[[CallTile], None] | None = None,
) -> CallController:
    """Let the session's ``request_call`` start calls; the controller lives with the session
    and ``place_tile`` puts each call's tile into the window (None: a window per call)."""
    return CallController(session, settings, place_tile=place_tile, parent=session)
