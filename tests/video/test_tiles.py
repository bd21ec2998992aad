"""Camera tiles against real RTSP, HLS and MJPEG servers; frames are counted at the sink."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from console.video.demo_streams import DemoStreamServer
from console.video.tile import CameraTile, TileState
from tests.fixtures.media import RtspCamera


@pytest.fixture
def tile(qtbot: QtBot) -> Iterator[CameraTile]:
    widget = CameraTile(signal_timeout_s=4.0, backoff_s=(0.5, 2.0))
    qtbot.addWidget(widget)
    widget.resize(320, 180)
    yield widget
    widget.stop()


def _frames_of(qtbot: QtBot, tile: CameraTile, url: str, count: int, timeout_ms: int) -> None:
    sizes = []
    tile.sink.videoFrameChanged.connect(lambda frame: sizes.append(frame.size()))
    tile.set_camera("c1", "测试", url)
    tile.show()
    qtbot.waitUntil(lambda: tile.frames >= count, timeout=timeout_ms)
    assert tile.state == TileState.PLAYING
    return sizes


def test_rtsp_frames_reach_the_sink(
    qtbot: QtBot, tile: CameraTile, rtsp_camera: RtspCamera
) -> None:
    sizes = _frames_of(qtbot, tile, rtsp_camera.url(0), 25, 15_000)
    assert sizes[-1].width() == 640
    assert sizes[-1].height() == 360


def test_hls_frames_reach_the_sink(qtbot: QtBot, tile: CameraTile, hls_stream: str) -> None:
    sizes = _frames_of(qtbot, tile, hls_stream, 10, 20_000)
    assert (sizes[-1].width(), sizes[-1].height()) == (320, 180)


def test_mjpeg_demo_streams_serve_several_players(qtbot: QtBot) -> None:
    server = DemoStreamServer(["一号", "二号"], fps=10, size=(320, 180))
    server.start()
    tiles = [CameraTile() for _ in range(3)]
    try:
        for index, tile in enumerate(tiles):
            qtbot.addWidget(tile)
            tile.set_camera(f"c{index}", "demo", server.url(index % 2))
            tile.show()
        qtbot.waitUntil(lambda: all(t.frames >= 5 for t in tiles), timeout=15_000)
        assert tiles[0].sink.videoSize().width() == 320
    finally:
        for tile in tiles:
            tile.stop()
        server.stop()


def test_camera_down_shows_no_signal_then_recovers(
    qtbot: QtBot, tile: CameraTile, own_rtsp_camera: RtspCamera
) -> None:
    states: list[str] = []
    tile.sig_state_changed.connect(lambda _id, state: states.append(state))
    _frames_of(qtbot, tile, own_rtsp_camera.url(), 5, 15_000)
    own_rtsp_camera.stop()
    qtbot.waitUntil(lambda: tile.state == TileState.NO_SIGNAL, timeout=10_000)
    own_rtsp_camera.start()
    before = tile.frames
    qtbot.waitUntil(
        lambda: tile.state == TileState.PLAYING and tile.frames > before + 5, timeout=30_000
    )
    assert states[:2] == ["connecting", "playing"]
    assert "no_signal" in states


def test_hidden_tile_stops_its_player(
    qtbot: QtBot, tile: CameraTile, rtsp_camera: RtspCamera
) -> None:
    _frames_of(qtbot, tile, rtsp_camera.url(1), 3, 15_000)
    tile.hide()
    assert tile.state == TileState.STOPPED
    frames = tile.frames
    qtbot.wait(500)
    assert tile.frames == frames
    tile.show()
    qtbot.waitUntil(lambda: tile.frames > frames + 3, timeout=15_000)
