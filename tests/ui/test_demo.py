"""The demo as a newcomer sees it: a live hub fed by simulated officers, stations and cameras.

Runs the same start-up as ``python -m console demo`` (on a one-district copy to stay quick),
logs in as the demo dispatcher and writes ``docs/screenshots/console.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QDockWidget, QScrollArea
from pytestqt.qtbot import QtBot

import console
from console.app import Console
from console.commands.demo import DEMO_PASSWORD, DEMO_USER, start_demo
from console.map.view import MapView
from tests.ui.conftest import copy_db
from tests.ui.test_map import query

SCREENSHOT = Path(console.__file__).parent.parent / "docs" / "screenshots" / "console.png"


def distinct_colours(image: QImage, step: int = 7) -> int:
    colours = {
        QColor(image.pixel(x, y)).rgb()
        for x in range(0, image.width(), step)
        for y in range(0, image.height(), step)
    }
    return len(colours)


def test_demo_is_alive_and_looks_right(
    qtbot: QtBot, tmp_path: Path, county_db_template: Path
) -> None:
    db_url = copy_db(county_db_template, tmp_path)
    demo = start_demo(db_url, officers=12, stations=4, cameras=2)
    app = Console(demo.hub_url, db_url, seat="demo-test")
    topics: set[str] = set()

    def seen(events: list[dict[str, Any]]) -> None:
        topics.update(str(event.get("topic")) for event in events)

    try:
        link = app.start()
        app.session.sig_events.connect(seen)
        link.login(DEMO_USER, DEMO_PASSWORD, app.seat)
        qtbot.waitUntil(lambda: bool(app.session.snapshot), timeout=30_000)
        window = app.window
        assert window is not None
        window.resize(1600, 1000)
        window.show()
        # With every dock open the window still fits a 1366 x 768 screen (it was 1,703 px
        # tall once: the docks' minimum heights added up); squeezed docks scroll.
        assert window.minimumSizeHint().height() <= 728
        assert window.height() == 1000
        # First run: the right column is shared by what the docks ask for, so the complaint
        # form, the dispatcher's main tool, is not squeezed to the height of an empty list.
        qtbot.wait(50)
        intake = window.findChild(QDockWidget, "dispatch.intake")
        assert intake is not None
        squeezed = intake.height()
        window.arrange_docks()
        qtbot.wait(50)
        scroller = intake.widget()
        assert isinstance(scroller, QScrollArea)
        assert intake.height() > squeezed
        assert scroller.height() >= scroller.widget().minimumSizeHint().height()  # all fields
        # Officers walk and report positions; stations send HJ 212 data through the hub.
        qtbot.waitUntil(lambda: {"officer.moved", "monitoring.data"} <= topics, timeout=30_000)
        view = window.centralWidget()
        assert isinstance(view, MapView)
        qtbot.waitUntil(lambda: len(query(view, "officers")) > 0, timeout=30_000)
        qtbot.wait(1500)  # let the map paint the latest batch
        image = window.grab().toImage()
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        image.save(str(SCREENSHOT))
        assert distinct_colours(image) > 20, "the console window looks blank"
        assert view.page.js_errors == []
        # The world is fitted to the laid-out map, not to the page before it had its size.
        assert query(view, "view")["zoom"] >= 9
    finally:
        app.close()
        demo.stop()
