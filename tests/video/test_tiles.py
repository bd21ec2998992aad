"""Camera tiles against real RTSP, HLS and MJPEG servers; frames are counted at the sink."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QRect
from pytestqt.qtbot import QtBot

from console.video.demo_streams import DemoStreamServer
from console.video.tile import TITLE_BAR_HEIGHT, CameraTile, TileState, title_bar
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


@pytest.mark.parametrize("width", [120, 160, 240, 400])
def test_title_bar_never_draws_the_name_over_the_clock(qtbot: QtBot, width: int) -> None:
    tile = CameraTile()
    qtbot.addWidget(tile)
    metrics = tile.fontMetrics()
    bar = QRect(0, 0, width, TITLE_BAR_HEIGHT)
    name = "台州市椒江某热电有限公司 排口监控"
    title = title_bar(metrics, bar, name, "21:50:31")
    assert bar.contains(title.name_rect)
    assert metrics.horizontalAdvance(title.name) <= title.name_rect.width()
    if metrics.horizontalAdvance(name) > title.name_rect.width():
        assert title.name.endswith("…")
    if title.clock_rect is not None:
        assert bar.contains(title.clock_rect)
        assert not title.name_rect.intersects(title.clock_rect)
        assert metrics.horizontalAdvance("21:50:31") <= title.clock_rect.width()
    if width >= 240:
        assert title.clock_rect is not None  # room for both
    short = title_bar(metrics, bar, "一号", "21:50:31")
    assert short.name == "一号"
    assert short.clock_rect is not None or width < metrics.horizontalAdvance("一号 21:50:31")


def test_a_narrow_tile_paints_its_name_clear_of_the_clock(qtbot: QtBot) -> None:
    """Rendered: the columns between the elided name and the clock stay background."""
    tile = CameraTile()
    qtbot.addWidget(tile)
    tile.resize(150, 90)
    tile.set_camera("c1", "台州市椒江某热电有限公司 排口监控", "rtsp://127.0.0.1:9/none")
    tile.stop()
    image = tile.grab().toImage()
    bar = QRect(0, 0, 150, TITLE_BAR_HEIGHT)
    title = title_bar(tile.fontMetrics(), bar, tile.camera_name, "00:00:00")
    assert title.name.endswith("…")
    assert title.clock_rect is not None
    drawn = tile.fontMetrics().horizontalAdvance(title.name)
    gap = range(title.name_rect.left() + drawn + 1, title.clock_rect.left() - 1)
    background = image.pixelColor(title.clock_rect.left() - 1, 1)
    for x in gap:
        for y in range(3, TITLE_BAR_HEIGHT - 3):
            assert image.pixelColor(x, y) == background, (x, y)
