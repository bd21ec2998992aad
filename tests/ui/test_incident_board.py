"""The incident board offscreen against a real hub: two consoles on one incident, members,
the shared timeline, roles, and the incident's cameras held on the real video wall."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from console import video
from console.core.model import World
from console.store import Store, camera_repo
from console.video.incident import IncidentBoard, timeline_lines
from tests.ui.conftest import copy_db
from tests.ui.test_shell import Shell, ThreadedHub, log_in, make_shell

CAMERAS = 6


@pytest.fixture(scope="module")
def incident_hub(
    tmp_path_factory: pytest.TempPathFactory, county_db_template: Path
) -> Iterator[tuple[ThreadedHub, World]]:
    """A county hub whose first key enterprises have cameras (never played: walls unshown)."""
    db_url = copy_db(county_db_template, tmp_path_factory.mktemp("incident-hub"))
    store = Store.open(db_url)
    try:
        world = store.load_world()
        urls = [f"http://127.0.0.1:9/cam{n}.mjpg" for n in range(CAMERAS)]
        with store.session() as session:
            camera_repo.register_demo_cameras(session, world, urls)
    finally:
        store.close()
    hub = ThreadedHub(db_url)
    hub.start()
    yield hub, world
    hub.stop()


@pytest.fixture
def consoles(
    qtbot: QtBot, incident_hub: tuple[ThreadedHub, World]
) -> Iterator[tuple[Shell, Shell]]:
    hub, _world = incident_hub
    commander = make_shell(qtbot, hub.url)
    dispatcher = make_shell(qtbot, hub.url)
    yield commander, dispatcher
    commander.link.close()
    dispatcher.link.close()


def test_board_shares_the_incident_and_holds_its_cameras_on_the_wall(
    qtbot: QtBot, consoles: tuple[Shell, Shell], incident_hub: tuple[ThreadedHub, World]
) -> None:
    _hub, world = incident_hub
    commander, dispatcher = consoles
    log_in(qtbot, commander, "commander")
    panel = video.install(commander.window, commander.session)
    board = commander.window.findChild(IncidentBoard)
    assert board is not None
    wall = panel.wall
    qtbot.waitUntil(lambda: len(wall.cameras) == CAMERAS, timeout=5_000)
    wall.start_tour(60)

    dispatcher.link.login("dispatcher", "demo1234", "seat-2")
    qtbot.waitUntil(lambda: bool(dispatcher.session.snapshot), timeout=30_000)
    other = IncidentBoard(dispatcher.session)
    qtbot.addWidget(other)
    dispatcher.link.subscribe(["incident.updated"])

    # Open at the first camera's enterprise: it is proposed first, at ~0 m.
    first = wall.cameras[0]
    board.open_incident("化工厂泄漏", "major", first["lon"], first["lat"], "园区一路")
    qtbot.waitUntil(lambda: board.current is not None, timeout=5_000)
    assert board.current is not None
    assert "化工厂泄漏" in board.header.text()
    assert "重大" in board.header.text()
    proposed = [c["id"] for c in board.current["proposed_cameras"]]
    assert proposed[0] == first["id"]
    assert board.proposed.count() == len(proposed)

    squad = next(s for s in world.squads)
    officer = next(o for o in world.officers if o.squad_id == squad.id)
    board.link("squad", squad.id)
    board.link("officer", officer.id)
    board.link("camera", first["id"])
    qtbot.waitUntil(lambda: board.wall_cameras() == [first["id"]], timeout=5_000)
    # The incident's camera takes the first tile and the tour stops.
    assert wall.held == [first["id"]]
    assert wall.visible_cameras()[0] == first["id"]
    assert not wall.touring

    # The second console found the open incident on its own and follows it.
    incident_id = board.current["incident"]["id"]
    qtbot.waitUntil(
        lambda: (
            other.current is not None
            and other.current["incident"]["id"] == incident_id
            and len(other.current["members"]) == 3
        ),
        timeout=5_000,
    )
    # A dispatcher may add (a second camera) ...
    second = next(c for c in proposed if c != first["id"]) if len(proposed) > 1 else None
    if second is not None:
        other.link("camera", second)
        qtbot.waitUntil(lambda: wall.held == [first["id"], second], timeout=5_000)
        assert wall.visible_cameras()[:2] == [first["id"], second]
    # ... but gives no orders.
    other.give_order("all", "出发")
    qtbot.waitUntil(lambda: other.last_error == "forbidden", timeout=5_000)
    assert "被拒绝" in other.status.text()

    # Orders: the commander's order reaches the other console's timeline within a second.
    members = {board.order_to.itemData(i) for i in range(board.order_to.count())}
    assert members == {"all", f"squad:{squad.id}", f"officer:{officer.id}"}
    board.order_to.setCurrentIndex(board.order_to.findData(f"squad:{squad.id}"))
    board.order_text.setText("立即封堵雨水排口")
    board.send_button.click()
    qtbot.waitUntil(
        lambda: any(
            "立即封堵雨水排口" in other.timeline.item(i).text()
            for i in range(other.timeline.count())
        ),
        timeout=1_000,
    )
    assert other.current is not None
    order_line = next(text for text, seq in timeline_lines(other.current) if seq == 1)
    assert f"→ {squad.name}：立即封堵雨水排口" in order_line
    board.timeline.setCurrentRow(board.timeline.count() - 1)
    board.ack_button.click()
    qtbot.waitUntil(
        lambda: "已确认：commander" in other.timeline.item(other.timeline.count() - 2).text(),
        timeout=5_000,
    )

    def texts(target: IncidentBoard) -> list[str]:
        return [target.timeline.item(i).text() for i in range(target.timeline.count())]

    qtbot.waitUntil(lambda: texts(board) == texts(other), timeout=5_000)

    # Closing gives the tiles back and freezes both boards.
    board.summary_edit.setText("泄漏已封堵")
    board.close_button.click()
    qtbot.waitUntil(lambda: not wall.held, timeout=5_000)
    qtbot.waitUntil(
        lambda: other.current is not None and other.current["incident"]["status"] == "closed",
        timeout=5_000,
    )
    assert not board.send_button.isEnabled()
    assert not other.close_button.isEnabled()
    assert "结束事件：泄漏已封堵" in texts(other)[-1]
    assert first["id"] in wall.visible_cameras()
