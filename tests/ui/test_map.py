"""The offline map page in a real QtWebEngine: no network, clicks back, batched moves."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from console.map import install
from console.map.layers import world_op
from console.map.page import ASSETS_DIR, external_urls, render_page, write_page
from console.map.view import MapView
from console.shell.main_window import MainWindow
from console.shell.session import Session


def _square(lon: float, lat: float, size: float) -> dict[str, Any]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def make_snapshot(officers: int = 20) -> dict[str, Any]:
    """A small world near Taizhou in the shape of the hub's ``world.snapshot``."""
    districts = [
        {"adcode": "331002", "name": "椒江区", "geometry": _square(121.3, 28.6, 0.2)},
        {"adcode": "331003", "name": "黄岩区", "geometry": _square(121.1, 28.6, 0.2)},
    ]
    grids = [
        {
            "id": f"G{i}{j}",
            "name": f"网格{i}{j}",
            "district_adcode": "331002",
            "officer_id": f"O{i * 4 + j}",
            "geometry": _square(121.3 + i * 0.05, 28.6 + j * 0.05, 0.05),
        }
        for i in range(4)
        for j in range(4)
    ]
    return {
        "districts": districts,
        "grids": grids,
        "officers": [
            {
                "id": f"O{n}",
                "name": f"执法员{n}",
                "role": "grid_officer",
                "grid_id": None,
                "lon": 121.31 + (n % 10) * 0.01,
                "lat": 28.61 + (n // 10) * 0.01,
            }
            for n in range(officers)
        ],
        "squads": [{"id": "S1", "name": "椒江中队", "lon": 121.42, "lat": 28.68}],
        "enterprises": [
            {"id": "E1", "name": "某印染公司", "industry": "dyeing", "lon": 121.35, "lat": 28.65},
            {
                "id": "E2",
                "name": "某电镀厂",
                "industry": "electroplating",
                "lon": 121.45,
                "lat": 28.7,
                "state": "alarm",
            },
        ],
    }


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        QTest.qWait(10)


def query(view: MapView, name: str, *args: Any) -> Any:
    box: list[Any] = []
    view.bridge.query(name, list(args), box.append)
    wait_until(lambda: bool(box))
    return box[0]


def wait_drawn(view: MapView, after: int = 0) -> None:
    """Wait until a batch newer than ``after`` was sent and everything sent is painted."""
    bridge = view.bridge
    wait_until(lambda: bridge.sent_seq > after and bridge.rendered_seq >= bridge.sent_seq)


def run_js(view: MapView, script: str) -> None:
    done: list[Any] = []
    view.page.runJavaScript(script, 0, done.append)
    wait_until(lambda: bool(done))


def new_view(page_path: Path, record: bool = False) -> MapView:
    view = MapView(record_requests=record, page_path=page_path)
    view.resize(900, 700)
    view.show()  # a hidden page gets no animation frames
    return view


def close_view(view: MapView) -> None:
    view.close()
    view.deleteLater()
    QTest.qWait(50)


@pytest.fixture(scope="module")
def page_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_page(tmp_path_factory.mktemp("map") / "console_map.html")


@pytest.fixture(scope="module")
def map_view(qapp: QApplication, page_path: Path) -> Iterator[MapView]:
    view = new_view(page_path, record=True)
    view.set_snapshot(make_snapshot())
    wait_until(lambda: view.bridge.ready)
    wait_drawn(view)
    yield view
    close_view(view)


def test_page_has_only_local_assets() -> None:
    html = render_page()
    assert external_urls(html) == []
    assert not re.search(r"https?://", html)
    local = re.findall(r'(?:src|href)="(file://[^"]+)"', html)
    assert len(local) >= 10
    for url in local:
        assert Path(url.removeprefix("file://")).is_file(), url
    assert (ASSETS_DIR / "vendor" / "leaflet" / "LICENSE").is_file()


def test_page_loads_without_any_network_request(map_view: MapView) -> None:
    recorder = map_view.recorder
    assert recorder is not None
    assert any(u.endswith("leaflet.js") for u in recorder.urls)
    assert any(u.startswith("qrc:") for u in recorder.urls)
    assert recorder.network_urls() == []
    assert all(u.split(":", 1)[0] in {"file", "qrc", "data"} for u in recorder.urls)
    assert map_view.page.js_errors == []


def test_snapshot_builds_every_layer(map_view: MapView) -> None:
    counts = query(map_view, "counts")
    assert counts["districts"] == 4  # two outlines + two labels
    assert counts["grids"] == 16
    assert counts["grid_labels"] == 0  # grid names only from zoom 13, and only those in view
    assert counts["enterprises"] == 2
    assert counts["squads"] == 1
    assert counts["officers"] == 20
    assert query(map_view, "enterprise_states") == {"E1": "normal", "E2": "alarm"}
    view = query(map_view, "view")
    west, south, east, north = view["bounds"]
    assert west <= 121.1
    assert south <= 28.6
    assert east >= 121.5
    assert north >= 28.8
    before = map_view.bridge.sent_seq
    map_view.center_on(121.325, 28.625, 14)
    wait_drawn(map_view, after=before)
    assert 1 <= query(map_view, "counts")["grid_labels"] < 16
    before = map_view.bridge.sent_seq
    map_view.bridge.post({"op": "fit"})
    wait_drawn(map_view, after=before)


def test_layer_toggle_hides_and_shows(map_view: MapView) -> None:
    map_view.layer_toggles["enterprises"].setChecked(False)
    assert query(map_view, "visible")["enterprises"] is False
    map_view.set_layer_visible("enterprises", True)
    assert map_view.layer_toggles["enterprises"].isChecked()
    assert query(map_view, "visible")["enterprises"] is True
    with pytest.raises(ValueError, match="unknown map layer"):
        map_view.set_layer_visible("rivers", True)


def test_mouse_click_reports_lon_lat(map_view: MapView) -> None:
    clicks: list[tuple[float, float]] = []
    map_view.bridge.sig_clicked.connect(lambda lon, lat: clicks.append((lon, lat)))
    # a point inside a district but away from every marker
    x, y = query(map_view, "point_of", 121.15, 28.75)
    expected = query(map_view, "lonlat_at", round(x), round(y))
    target = map_view.web_view.focusProxy()
    QTest.mouseClick(
        target,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        QPoint(round(x), round(y)),
    )
    wait_until(lambda: bool(clicks))
    assert clicks[0] == pytest.approx(tuple(expected), abs=1e-9)
    assert clicks[0] == pytest.approx((121.15, 28.75), abs=0.01)


def test_feature_click_and_context_menu(map_view: MapView) -> None:
    features: list[tuple[str, str]] = []
    menus: list[tuple[float, float]] = []
    map_view.bridge.sig_feature_clicked.connect(lambda kind, i: features.append((kind, i)))
    map_view.bridge.sig_context_menu.connect(lambda lon, lat: menus.append((lon, lat)))
    run_js(
        map_view,
        "consoleMap.state.enterprises.get('E2').fire('click', "
        "{latlng: L.latLng(28.7, 121.45)}); true",
    )
    run_js(
        map_view,
        "consoleMap.state.map.fire('contextmenu', {latlng: L.latLng(28.61, 121.31)}); true",
    )
    wait_until(lambda: bool(features) and bool(menus))
    assert features == [("enterprise", "E2")]
    assert menus[0] == pytest.approx((121.31, 28.61))


def test_thousand_officer_moves_arrive_in_one_batch(map_view: MapView) -> None:
    moves = [
        {
            "id": f"M{n}",
            "lon": 121.2 + (n % 40) * 0.005,
            "lat": 28.62 + (n // 40) * 0.005,
            "heading": float(n % 360),
        }
        for n in range(1000)
    ]
    before = map_view.bridge.sent_seq
    map_view.move_officers(moves[:500])
    map_view.move_officers(moves[500:])
    map_view.move_officers([{**moves[0], "lon": 121.0}])  # same frame: the first move is replaced
    wait_drawn(map_view, after=before)
    assert map_view.bridge.sent_seq == before + 1
    on_page = {row[0]: row for row in query(map_view, "officers") if row[0].startswith("M")}
    assert len(on_page) == 1000
    assert on_page["M0"][1:3] == pytest.approx([121.0, 28.62])
    for move in moves[1:]:
        row = on_page[move["id"]]
        assert row[1:] == pytest.approx([move["lon"], move["lat"], move["heading"]])
    map_view.remove_officers(on_page)
    assert query(map_view, "counts")["officers"] == 20
    assert map_view.page.js_errors == []


def test_calls_before_ready_are_queued_then_applied(qapp: QApplication, page_path: Path) -> None:
    view = new_view(page_path)
    try:
        assert not view.bridge.ready
        view.set_snapshot(make_snapshot(officers=5))
        view.move_officers([{"id": "O1", "lon": 121.5, "lat": 28.9, "heading": 90}])
        view.set_enterprise_states({"E1": "offline"})
        assert view.bridge.sent_seq == 0
        wait_until(lambda: view.bridge.ready)
        wait_drawn(view)
        assert view.bridge.sent_seq == 1  # everything queued went as one batch
        officers = {row[0]: row for row in query(view, "officers")}
        assert len(officers) == 5
        assert officers["O1"][1:] == pytest.approx([121.5, 28.9, 90.0])
        assert query(view, "enterprise_states")["E1"] == "offline"
    finally:
        close_view(view)


def test_bad_input_is_rejected_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="unknown state 'burning'"):
        world_op({"enterprises": [{"id": "E9", "lon": 121, "lat": 28, "state": "burning"}]})
    with pytest.raises(ValueError, match="no valid lon/lat"):
        world_op({"squads": [{"id": "S9", "lon": None, "lat": 28}]})
    with pytest.raises(ValueError, match="off the globe"):
        world_op({"enterprises": [{"id": "E9", "lon": 221, "lat": 28}]})


def test_install_puts_map_in_window_and_clicks_select(qapp: QApplication) -> None:
    session = Session()
    session.set_snapshot(make_snapshot(officers=3))
    window = MainWindow(session)
    try:
        view = install(window, session)
        assert window.centralWidget() is view
        window.resize(900, 700)
        window.show()
        wait_until(lambda: view.bridge.ready)
        wait_drawn(view)
        assert query(view, "counts")["officers"] == 3
        view.move_officers([{"id": "O2", "lon": 121.33, "lat": 28.61}])
        wait_drawn(view, after=view.bridge.sent_seq)
        x, y = query(view, "point_of", 121.33, 28.61)
        QTest.mouseClick(
            view.web_view.focusProxy(),
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
            QPoint(round(x) + 2, round(y) - 1),  # the canvas hit test allows a few pixels
        )
        wait_until(lambda: session.selection == ("officer", "O2"))
    finally:
        window.close()
        window.deleteLater()
        QTest.qWait(50)


def _colour(hex_colour: str) -> list[int]:
    return [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)] + [255]


def painted(view: MapView, lon: float, lat: float) -> list[int]:
    """RGBA the officer canvas really holds at a point (not what the layer's arrays say)."""
    x, y = query(view, "point_of", lon, lat)
    pixel: list[int] = query(view, "officer_pixel", x, y)
    return pixel


def test_packed_moves_keep_duty_and_time_and_are_painted(map_view: MapView) -> None:
    lon, lat = 121.15, 28.78  # nobody else is drawn near here
    before = map_view.bridge.sent_seq
    map_view.move_officers(
        [{"id": "P1", "lon": lon, "lat": lat, "heading": 30, "duty": "off_duty", "ts": time.time()}]
    )
    wait_drawn(map_view, after=before)
    state = query(map_view, "officer_state", "P1")
    assert (state["heading"], state["duty"]) == (30, 1)
    assert painted(map_view, lon, lat) == _colour("#8e24aa")  # off duty
    ts = state["ts"]
    before = map_view.bridge.sent_seq
    map_view.move_officers([{"id": "P1", "lon": lon, "lat": lat}])  # no heading, duty, ts
    wait_drawn(map_view, after=before)
    state = query(map_view, "officer_state", "P1")
    assert (state["heading"], state["duty"], state["ts"]) == (None, 1, ts)  # duty, ts kept
    before = map_view.bridge.sent_seq
    map_view.move_officers([{"id": "P1", "lon": lon, "lat": lat, "duty": "on_duty"}])
    wait_drawn(map_view, after=before)
    assert painted(map_view, lon, lat) == _colour("#1565c0")
    before = map_view.bridge.sent_seq
    map_view.move_officers([{"id": "P1", "lon": lon, "lat": lat, "ts": time.time() - 3600}])
    wait_drawn(map_view, after=before)
    assert painted(map_view, lon, lat) == _colour("#9e9e9e")  # stale
    map_view.remove_officers(["P1"])
    wait_drawn(map_view, after=map_view.bridge.sent_seq - 1)
    assert painted(map_view, lon, lat)[3] == 0
    assert map_view.page.js_errors == []


def test_bad_moves_are_refused_and_nothing_queued_is_lost(map_view: MapView) -> None:
    before = map_view.bridge.sent_seq
    map_view.move_officers([{"id": "Q1", "lon": 121.2, "lat": 28.7}])
    with pytest.raises(ValueError, match="officer move 'Q3' is off the globe"):
        map_view.move_officers(
            [{"id": "Q2", "lon": 121.3, "lat": 28.7}, {"id": "Q3", "lon": math.nan, "lat": 28.7}]
        )
    with pytest.raises(ValueError, match="officer move 'Q4' is off the globe: lon=200"):
        map_view.move_officers([{"id": "Q4", "lon": 200, "lat": 28.7}])
    wait_drawn(map_view, after=before)
    on_page = {row[0]: row for row in query(map_view, "officers")}
    assert on_page["Q1"][1:3] == pytest.approx([121.2, 28.7])
    assert not {"Q2", "Q3", "Q4"} & set(on_page)  # the bad call queued none of its moves
    map_view.remove_officers(["Q1"])
    assert map_view.page.js_errors == []


def test_one_call_per_frame_no_wait_when_quiet_and_slots_survive_reload(
    qapp: QApplication, page_path: Path
) -> None:
    frame_s = 0.5
    view = MapView(page_path=page_path, frame_ms=round(frame_s * 1000))
    view.resize(600, 400)
    view.show()
    try:
        wait_until(lambda: view.bridge.ready)
        wait_drawn(view)
        QTest.qWait(round(frame_s * 1200))  # a quiet spell longer than a frame
        bridge, sent = view.bridge, view.bridge.sent_seq
        started = time.monotonic()
        view.move_officers([{"id": "A", "lon": 121.3, "lat": 28.6}])
        view.move_officers([{"id": "B", "lon": 121.4, "lat": 28.7}])
        wait_until(lambda: bridge.sent_seq > sent)
        first = time.monotonic()
        assert first - started < frame_s / 2  # sent on the next turn, not a frame later
        view.move_officers([{"id": "A", "lon": 121.35, "lat": 28.65}])
        wait_until(lambda: bridge.sent_seq > sent + 1)
        assert time.monotonic() - first >= frame_s * 0.9  # waited out the frame
        assert bridge.sent_seq == sent + 2  # one call per frame, the first held both calls
        wait_drawn(view)
        assert {row[0]: row[1:3] for row in query(view, "officers")} == {
            "A": pytest.approx([121.35, 28.65]),
            "B": pytest.approx([121.4, 28.7]),
        }
        view.web_view.reload()  # the new page knows no slots: keys must travel again
        wait_until(lambda: not bridge.ready)
        wait_until(lambda: bridge.ready)
        view.move_officers(
            [{"id": "B", "lon": 121.45, "lat": 28.75}, {"id": "C", "lon": 121.5, "lat": 28.8}]
        )
        wait_drawn(view, after=bridge.sent_seq)
        assert {row[0]: row[1:3] for row in query(view, "officers")} == {
            "B": pytest.approx([121.45, 28.75]),
            "C": pytest.approx([121.5, 28.8]),
        }
        assert view.page.js_errors == []
    finally:
        close_view(view)


def test_a_map_not_laid_out_yet_takes_moves_without_errors(
    qapp: QApplication, page_path: Path
) -> None:
    view = MapView(page_path=page_path)  # never shown: the page has no size yet
    try:
        wait_until(lambda: view.bridge.ready)
        view.move_officers([{"id": "Z1", "lon": 121.3, "lat": 28.6, "heading": 10}])
        assert query(view, "officer_state", "Z1")["lon"] == pytest.approx(121.3)
        assert query(view, "officers_drawn") == 1
        assert view.page.js_errors == []
    finally:
        close_view(view)
