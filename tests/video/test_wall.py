"""Wall layouts, pages, tours, keys and alarm pop-in; layout parsing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

import console
from console.video.demo_streams import DemoStreamServer
from console.video.layout import LayoutError, parse_layout, tour_pages
from console.video.tile import TileState
from console.video.wall import VideoWall

SCREENSHOT = Path(console.__file__).parent.parent / "docs" / "screenshots" / "wall.png"

CAMERAS = [
    {"id": f"cam-{i}", "name": f"摄像头{i}", "enterprise_id": f"ent-{i}", "group": g}
    for i, g in enumerate(["a"] * 6 + ["b"] * 3)
]


def _resolve(camera_id: str, done: Callable[[str], None]) -> None:
    done(f"http://127.0.0.1:9/{camera_id}.mjpg")


@pytest.fixture
def wall(qtbot: QtBot) -> VideoWall:
    widget = VideoWall(_resolve, tour_interval_s=0.1)
    qtbot.addWidget(widget)  # never shown: tiles keep their players stopped
    widget.set_cameras(CAMERAS)
    return widget


@pytest.mark.parametrize(("text", "tiles"), [("1", 1), ("4", 4), ("9", 9), ("16", 16), ("2x3", 6)])
def test_preset_and_custom_grids(wall: VideoWall, text: str, tiles: int) -> None:
    wall.set_layout(text)
    assert len(wall.tiles) == tiles
    assert wall.visible_cameras() == [c["id"] for c in CAMERAS if c["group"] == "a"][:tiles]


def test_spanning_json_layout() -> None:
    layout = parse_layout('{"rows": 3, "cols": 3, "tiles": [[0, 0, 2, 2], [0, 2], [1, 2], [2, 0]]}')
    assert layout.capacity == 4
    assert parse_layout(str(layout.to_spec()).replace("'", '"')) == layout
    for bad in ("5", "0x3", "{", '{"rows": 2, "cols": 2, "tiles": [[0, 0, 2, 2], [1, 1]]}'):
        with pytest.raises(LayoutError):
            parse_layout(bad)


def test_tour_pages_keep_groups_apart() -> None:
    assert tour_pages(CAMERAS, 4) == [
        ["cam-0", "cam-1", "cam-2", "cam-3"],
        ["cam-4", "cam-5"],
        ["cam-6", "cam-7", "cam-8"],
    ]


def test_tour_advances_and_keys_control_the_wall(qtbot: QtBot, wall: VideoWall) -> None:
    wall.start_tour(0.1)
    qtbot.waitUntil(lambda: wall.page == 2, timeout=3_000)
    wall.pause_tour()
    qtbot.keyClick(wall, Qt.Key.Key_Space)
    assert wall.touring
    qtbot.keyClick(wall, Qt.Key.Key_Space)
    assert not wall.touring
    qtbot.keyClick(wall, Qt.Key.Key_3)
    assert len(wall.tiles) == 9
    qtbot.keyClick(wall, Qt.Key.Key_1)
    wall.show_page(0)
    qtbot.keyClick(wall, Qt.Key.Key_PageDown)
    assert wall.visible_cameras() == ["cam-1"]
    qtbot.keyClick(wall, Qt.Key.Key_Left)
    assert wall.visible_cameras() == ["cam-0"]


def test_alarm_pops_the_camera_in_and_pauses_the_tour(wall: VideoWall) -> None:
    wall.start_tour(10)
    wall.apply_events([{"topic": "alarm.raised", "seq": 1, "data": {"enterprise_id": "ent-7"}}])
    assert not wall.touring
    assert wall.pinned == "cam-7"
    assert wall.tiles[0].camera_id == "cam-7"
    assert wall.tiles[0].highlighted
    assert "cam-7" not in wall.visible_cameras()[1:]
    wall.apply_events([{"topic": "alarm.raised", "seq": 2, "data": {"enterprise_id": "none"}}])
    assert wall.pinned == "cam-7"
    wall.clear_pop_in()
    assert not wall.tiles[0].highlighted


def test_a_new_emergency_task_pops_its_enterprises_camera_in(wall: VideoWall) -> None:
    """Task events as the hub sends them: task.updated with {"task": {...}}, a new task as its
    version 1; only a new urgent or critical one pops in."""

    def task_event(version: int, urgency: str, enterprise_id: str) -> dict[str, Any]:
        task = {"id": "T1", "version": version, "urgency": urgency, "enterprise_id": enterprise_id}
        return {"topic": "task.updated", "seq": 1, "data": {"task": task}}

    wall.apply_events([task_event(1, "normal", "ent-7")])
    assert wall.pinned is None
    wall.apply_events([task_event(2, "critical", "ent-7")])
    assert wall.pinned is None  # an update of a known task does not pop in again
    wall.apply_events([task_event(1, "critical", "ent-7")])
    assert wall.pinned == "cam-7"
    assert wall.tiles[0].highlighted


def test_camera_events_update_the_wall(wall: VideoWall) -> None:
    added = {"id": "x", "name": "新", "group": "a"}
    wall.apply_events(
        [
            {"topic": "camera.changed", "data": {"action": "removed", "camera": {"id": "cam-0"}}},
            {"topic": "camera.changed", "data": {"action": "added", "camera": added}},
        ]
    )
    assert [c["id"] for c in wall.cameras][-1] == "x"
    assert "cam-0" not in [c["id"] for c in wall.cameras]


def test_wall_plays_demo_streams_and_pops_in_an_alarm(qtbot: QtBot) -> None:
    names = ["椒江化工 废水总排口", "台州制药 厂界东", "黄岩印染 车间", "路桥电镀 雨水排口"]
    server = DemoStreamServer(names, fps=10, size=(640, 360))
    server.start()
    cameras = [
        {"id": f"cam-{i}", "name": name, "enterprise_id": f"ent-{i}", "group": "a"}
        for i, name in enumerate(names)
    ]
    urls = {camera["id"]: server.url(i) for i, camera in enumerate(cameras)}
    wall = VideoWall(lambda camera_id, done: done(urls[camera_id]))
    qtbot.addWidget(wall)
    try:
        wall.resize(1280, 724)
        wall.set_cameras(cameras)
        wall.apply_events([{"topic": "alarm.raised", "seq": 1, "data": {"enterprise_id": "ent-2"}}])
        wall.show()
        qtbot.waitExposed(wall)
        qtbot.waitUntil(lambda: all(tile.frames >= 3 for tile in wall.tiles), timeout=15_000)
        assert [tile.state for tile in wall.tiles] == [TileState.PLAYING] * 4
        assert wall.visible_cameras() == ["cam-2", "cam-0", "cam-1", "cam-3"]
        assert wall.tiles[0].highlighted
        # The README's wall screenshot: the tiles paint their sink frames, so grab() shows them.
        image = wall.grab().toImage()
        colours = {
            image.pixel(x, y)
            for x in range(0, image.width(), 23)
            for y in range(0, image.height(), 23)
        }
        assert len(colours) > 20
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        assert image.save(str(SCREENSHOT))
    finally:
        wall.stop_all()
        server.stop()
