"""The map's layers, basemaps, datum shifting, interactions and the hub's locate, for real.

Pages run in a real offscreen QtWebEngine; the locate test goes through a real hub
(``EmbeddedHub`` on a seeded SQLite copy) over the loopback websocket.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPoint, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from shapely.geometry import shape

from console.core.geo import gcj02_to_wgs84, wgs84_to_gcj02
from console.core.model import World
from console.hub.embedded import EmbeddedHub
from console.hub.monitoring_service import MonitoringConfig
from console.hub.snapshot import build_snapshot
from console.map import install
from console.map.basemap import BASEMAP_ENV, BasemapConfig, BasemapDatum, BasemapKind, load_basemap
from console.map.layers import heat_points, parse_coordinates, search, task_record
from console.map.page import write_page
from console.map.view import MapView, tile_handler
from console.monitoring.hj212 import encode_packet
from console.monitoring.receiver import format_hj212_time
from console.shell.controller import SessionController
from console.shell.hub_link import HubLink
from console.shell.main_window import MainWindow
from console.shell.session import Session
from console.store.demo_world import build_demo_world
from tests.fixtures.media import free_port
from tests.ui.conftest import copy_db
from tests.ui.test_map import close_view, make_snapshot, new_view, query, run_js, wait_until

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "map.png"
EARTH_M_PER_DEG = 111_320.0


def metres_apart(a: tuple[float, float], b: tuple[float, float]) -> float:
    dx = (a[0] - b[0]) * EARTH_M_PER_DEG * math.cos(math.radians(a[1]))
    dy = (a[1] - b[1]) * EARTH_M_PER_DEG
    return math.hypot(dx, dy)


def drawn(view: MapView) -> None:
    """Wait until everything posted so far has been sent and painted."""
    bridge = view.bridge
    before = bridge.sent_seq
    if bridge._pending or bridge._timer.isActive():  # something queued: wait for its batch
        wait_until(lambda: bridge.sent_seq > before)
    wait_until(lambda: bridge.rendered_seq >= bridge.sent_seq)


@pytest.fixture(scope="module")
def page_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_page(tmp_path_factory.mktemp("map-features") / "console_map.html")


@pytest.fixture
def view(qapp: QApplication, page_path: Path) -> Iterator[MapView]:
    map_view = new_view(page_path, record=True)
    map_view.set_snapshot(make_snapshot())
    wait_until(lambda: map_view.bridge.ready)
    drawn(map_view)
    yield map_view
    close_view(map_view)


# ---- pure helpers -----------------------------------------------------------------------------


def test_basemap_config_from_env_file_and_errors(tmp_path: Path, isolated_home: Path) -> None:
    assert load_basemap({}).kind is BasemapKind.VECTOR
    config = load_basemap(
        {
            BASEMAP_ENV: json.dumps(
                {"kind": "xyz", "url": "https://t/{z}/{x}/{y}.png", "datum": "GCJ02"}
            )
        }
    )
    assert (config.kind, config.datum) == (BasemapKind.XYZ, BasemapDatum.GCJ02)
    (isolated_home / "basemap.json").write_text(
        json.dumps({"kind": "folder", "path": str(tmp_path), "datum": "cgcs2000"}), encoding="utf-8"
    )
    config = load_basemap({})
    assert (config.kind, config.path, config.datum) == (
        BasemapKind.FOLDER,
        tmp_path,
        BasemapDatum.WGS84,
    )
    with pytest.raises(ValueError, match="unknown basemap datum 'bd09'"):
        BasemapConfig.from_dict({"kind": "xyz", "url": "x/{z}/{x}/{y}", "datum": "bd09"})
    with pytest.raises(ValueError, match=r"needs a URL with \{z\}"):
        BasemapConfig.from_dict({"kind": "xyz", "url": "https://t/tile.png"})
    with pytest.raises(ValueError, match=r"MBTiles file .* does not exist"):
        BasemapConfig.from_dict({"kind": "mbtiles", "path": str(tmp_path / "none.mbtiles")})
    with pytest.raises(ValueError, match="not valid JSON"):
        load_basemap({BASEMAP_ENV: "{kind"})


def test_search_finds_things_and_coordinates_in_any_datum() -> None:
    snapshot = make_snapshot()
    hit = search(snapshot, "电镀")
    assert hit is not None
    assert (hit.kind, hit.id, hit.lon, hit.lat) == ("enterprise", "E2", 121.45, 28.7)
    hit = search(snapshot, "网格12")
    assert hit is not None
    assert (hit.kind, hit.id) == ("grid", "G12")
    assert shape(snapshot["grids"][6]["geometry"]).contains(
        shape({"type": "Point", "coordinates": [hit.lon, hit.lat]})
    )
    hit = search(snapshot, "执法员7")
    assert hit is not None
    assert (hit.kind, hit.id) == ("officer", "O7")
    hit = search(snapshot, "黄岩")
    assert hit is not None
    assert (hit.kind, hit.id) == ("district", "331003")
    assert search(snapshot, "no such thing") is None
    gcj = wgs84_to_gcj02(121.42, 28.65)
    lon, lat = parse_coordinates(f"{gcj[0]:.9f}，{gcj[1]:.9f} GCJ02") or (0.0, 0.0)
    assert metres_apart((lon, lat), (121.42, 28.65)) < 0.01
    assert parse_coordinates("28.65, 121.42") == (121.42, 28.65)  # lat-first recognised
    with pytest.raises(ValueError, match="out of range"):
        parse_coordinates("200, 100")


def test_heat_window_and_bad_records() -> None:
    now = time.time()
    complaints = [
        {"lon": 121.4, "lat": 28.6, "urgency": "critical", "received_at": now - 3600},
        {"lon": 121.5, "lat": 28.7, "urgency": "normal", "received_at": now - 3 * 86400},
    ]
    assert heat_points(complaints, since=now - 86400) == [[121.4, 28.6, 3.0]]
    assert len(heat_points(complaints, since=now - 7 * 86400)) == 2
    with pytest.raises(ValueError, match="unknown urgency 'panic'"):
        task_record({"id": "T1", "lon": 121.4, "lat": 28.6, "urgency": "panic"})


# ---- JS against Python ---------------------------------------------------------------------------


def test_js_gcj02_matches_python_formula(view: MapView) -> None:
    rng = np.random.default_rng(5)
    lons, lats = rng.uniform(73, 135, 200), rng.uniform(18, 53, 200)
    points = [[float(x), float(y)] for x, y in zip(lons, lats, strict=True)] + [[2.35, 48.85]]
    js = np.array(query(view, "gcj02", points))
    py = np.column_stack(wgs84_to_gcj02(np.array(points)[:, 0], np.array(points)[:, 1]))
    assert np.max(np.abs(js - py)) < 1e-9  # ~0.1 mm
    back = np.array(query(view, "wgs84", js.tolist()))
    expected = np.column_stack(gcj02_to_wgs84(js[:, 0], js[:, 1]))
    assert np.max(np.abs(back - expected)) < 1e-9


def make_mbtiles(path: Path, zoom: int, xs: range, ys: range) -> Path:
    image = QImage(256, 256, QImage.Format.Format_RGB32)
    image.fill(QColor("#a5d6a7"))
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    png = bytes(data.data())
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE metadata (name TEXT, value TEXT);"
        "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER,"
        " tile_data BLOB);"
        "INSERT INTO metadata VALUES ('name', 'test'), ('format', 'png');"
    )
    db.executemany(
        "INSERT INTO tiles VALUES (?, ?, ?, ?)",
        [(zoom, x, (1 << zoom) - 1 - y, png) for x in xs for y in ys],
    )
    db.commit()
    db.close()
    return path


def tile_of(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    n = 1 << zoom
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_gcj02_mbtiles_basemap_shifts_overlays_and_clicks_back(
    view: MapView, tmp_path: Path
) -> None:
    zoom = 12
    cx, cy = tile_of(121.45, 28.7, zoom)
    mbtiles = make_mbtiles(
        tmp_path / "t.mbtiles", zoom, range(cx - 4, cx + 5), range(cy - 4, cy + 5)
    )
    served_before = tile_handler().served
    assert query(view, "display_position", "enterprise", "E2") == pytest.approx([121.45, 28.7])
    view.set_basemap(
        BasemapConfig(kind=BasemapKind.MBTILES, path=mbtiles, datum=BasemapDatum.GCJ02)
    )
    view.center_on(121.45, 28.7, zoom)
    drawn(view)
    # the overlay point moved by the GCJ-02 offset (~500 m here), within 1 m of the formula
    shown = query(view, "display_position", "enterprise", "E2")
    expected = wgs84_to_gcj02(121.45, 28.7)
    assert metres_apart(tuple(shown), expected) < 1.0
    assert metres_apart((121.45, 28.7), expected) > 300
    view.move_officers([{"id": "O1", "lon": 121.44, "lat": 28.69}])
    drawn(view)
    officer = query(view, "officer_display", "O1")
    assert metres_apart(tuple(officer), wgs84_to_gcj02(121.44, 28.69)) < 1.0
    # a click on the basemap at the shifted place reports the WGS84 point
    clicks: list[tuple[float, float]] = []
    view.bridge.sig_clicked.connect(lambda lon, lat: clicks.append((lon, lat)))
    gx, gy = wgs84_to_gcj02(121.47, 28.72)
    run_js(
        view,
        f"consoleMap.state.map.fire('click', {{latlng: L.latLng({gy!r}, {gx!r}), "
        f"containerPoint: L.point(-100, -100)}}); true",
    )
    wait_until(lambda: bool(clicks))
    assert metres_apart(clicks[0], (121.47, 28.72)) < 0.01
    # the tiles came from the console itself, nothing from the network
    wait_until(lambda: query(view, "tiles_loaded") >= 4)
    assert tile_handler().served > served_before
    recorder = view.recorder
    assert recorder is not None
    assert any(u.startswith("maptiles://") for u in recorder.urls)
    assert recorder.network_urls() == []
    # back to the vector basemap: the overlays return to WGS84
    view.set_basemap(BasemapConfig())
    drawn(view)
    assert query(view, "display_position", "enterprise", "E2") == pytest.approx([121.45, 28.7])
    assert query(view, "basemap")["datum"] == "wgs84"
    assert view.page.js_errors == []


def test_complaints_tasks_cameras_heat_and_task_links(view: MapView) -> None:
    now = time.time()
    complaints = [
        {
            "id": f"C{n}",
            "lon": 121.40 + (n % 5) * 1e-4,
            "lat": 28.65,
            "category": "noise",
            "urgency": "urgent" if n == 0 else "normal",
            "status": "new",
            "received_at": now - n * 600,
        }
        for n in range(60)
    ]
    # As the hub sends them: one complaint per event, wrapped.
    view.apply_events(
        [{"topic": "complaint.created", "data": {"complaint": c}} for c in complaints]
    )
    view.set_cameras(
        [
            {
                "id": "K1",
                "name": "东门",
                "lon": 121.36,
                "lat": 28.66,
                "enterprise_id": "E1",
                "online": False,
            }
        ]
    )
    task = {
        "id": "T1",
        "kind": "verify",
        "state": "en_route",
        "urgency": "critical",
        "lon": 121.32,
        "lat": 28.62,
        "grid_id": "G00",
        "assignee_officer_id": "O0",
        "squad_ids": ["S1"],
        "overdue": True,
    }
    view.apply_events([{"topic": "task.updated", "data": {"task": task}}])
    drawn(view)
    counts = query(view, "counts")
    assert (counts["complaints"], counts["tasks"], counts["cameras"]) == (60, 1, 1)
    assert counts["heat"] == 60
    clusters = query(view, "clusters", "complaints")
    assert clusters["members"] == 60
    assert clusters["drawn"] < 10  # dense complaints are clustered at city zoom
    assert "cm-urgency-urgent" in query(view, "pin_classes", "complaint", "C0")
    classes = query(view, "pin_classes", "task", "T1")
    assert "cm-status-en_route" in classes
    assert "cm-overdue" in classes
    view.heat_window.setCurrentIndex(0)  # last 24 hours: all of them
    view.select("task", "T1")
    drawn(view)
    selection = query(view, "selection")
    links = {(link["kind"], link["id"]): link["metres"] for link in selection["links"]}
    assert set(links) == {("officer", "O0"), ("squad", "S1")}
    # O0 at (121.31, 28.61), S1 at (121.42, 28.68): compare with the hub's own distances
    assert links[("officer", "O0")] == pytest.approx(
        metres_apart((121.32, 28.62), (121.31, 28.61)), rel=0.01
    )
    assert links[("squad", "S1")] == pytest.approx(
        metres_apart((121.32, 28.62), (121.42, 28.68)), rel=0.01
    )
    on_site = {**task, "state": "on_site", "enterprise_id": "E1"}
    view.apply_events([{"topic": "task.updated", "data": {"task": on_site, "note": {}}}])
    drawn(view)
    assert "cm-status-on_site" in query(view, "pin_classes", "task", "T1")
    assert query(view, "enterprise_states")["E1"] == "inspecting"  # officers on site
    assert query(view, "selection")["id"] == "T1"  # the highlight survives the update
    view.set_layer_visible("complaints", False)
    assert query(view, "visible")["complaints"] is False
    assert view.page.js_errors == []


def test_officer_state_follow_search_district_and_context_menu(view: MapView) -> None:
    view.apply_events(
        [
            {
                "topic": "officer.moved",
                "data": {
                    "officer_id": "O3",
                    "lon": 121.5,
                    "lat": 28.75,
                    "heading": 45.0,
                    "speed": 1.2,
                    "ts": time.time() - 3600,
                    "duty": "off_duty",
                },
            }
        ]
    )
    view.select("officer", "O3")
    assert view.follow_button.isEnabled()
    calls = Session()
    placed: list[tuple[str, str]] = []
    calls.sig_call_requested.connect(lambda officer, task: placed.append((officer, task)))
    view.sig_call_requested.connect(calls.request_call)  # as the map feature wires it
    view.call_button.click()
    assert placed == [("O3", "")]
    view.follow_button.setChecked(True)
    drawn(view)
    redraws = query(view, "officer_redraws")
    view.move_officers([{"id": "O3", "lon": 121.52, "lat": 28.77}])
    drawn(view)
    assert query(view, "officer_redraws") == redraws + 1  # the pan's redraw, not a second one
    centre = query(view, "view")
    assert (centre["lon"], centre["lat"]) == pytest.approx(
        (121.52, 28.77), abs=5e-4
    )  # pixel-snapped
    view.follow_button.setChecked(False)
    hit = view.search("某印染")
    assert hit is not None
    assert hit.id == "E1"
    drawn(view)
    centre = query(view, "view")
    assert (centre["lon"], centre["lat"], centre["zoom"]) == pytest.approx(
        (121.35, 28.65, 15), abs=1e-6
    )
    assert not view.follow_button.isEnabled()
    assert not view.call_button.isEnabled()  # an enterprise is selected now
    view.district_box.setCurrentIndex(2)
    view.district_box.activated.emit(2)  # what a user's choice emits
    drawn(view)
    shown = query(view, "view")
    assert shown["lon"] == pytest.approx(121.2, abs=0.01)  # 黄岩区 (121.1-121.3) is centred
    assert shown["lat"] == pytest.approx(28.7, abs=0.01)
    assert shown["bounds"][0] <= 121.1
    session = Session()
    requested: list[tuple[float, float]] = []
    session.sig_new_complaint_requested.connect(lambda lon, lat: requested.append((lon, lat)))
    view.sig_new_complaint.connect(session.request_new_complaint)
    run_js(view, "consoleMap.state.map.fire('contextmenu', {latlng: L.latLng(28.7, 121.2)}); true")
    wait_until(lambda: view.context_point is not None)
    view.context_menu.hide()
    view.new_complaint_action.trigger()
    assert requested == [pytest.approx((121.2, 28.7))]
    assert view.page.js_errors == []


# ---- through a real hub ----------------------------------------------------------------------


@contextlib.contextmanager
def map_on_hub(
    db_url: str, monitoring: MonitoringConfig | None = None
) -> Iterator[tuple[MapView, Session]]:
    """The map feature in a window, logged in as the demo dispatcher to a real embedded hub."""
    hub = EmbeddedHub(db_url)
    if monitoring is not None:
        hub.config = replace(hub.config, monitoring=monitoring)
    url = hub.start()
    link = HubLink(url)
    session = Session()
    controller = SessionController(session, link)
    window = MainWindow(session)
    try:
        controller.start()
        view = install(window, session)
        window.resize(1000, 760)
        window.show()
        link.login("dispatcher", "demo1234", "seat-map")
        wait_until(lambda: bool(session.snapshot), timeout=30)
        wait_until(lambda: view.bridge.ready)
        drawn(view)
        yield view, session
        assert view.page.js_errors == []
    finally:
        window.close()
        window.deleteLater()
        link.close()
        hub.stop()
        QTest.qWait(50)


def test_click_shows_the_hubs_locate_answer(
    qapp: QApplication, tmp_path: Path, county_db_template: Path
) -> None:
    with map_on_hub(copy_db(county_db_template, tmp_path)) as (view, session):
        grid = session.snapshot["grids"][len(session.snapshot["grids"]) // 2]
        point = shape(grid["geometry"]).representative_point()
        located: list[tuple[float, float, Any]] = []
        view.sig_located.connect(lambda lon, lat, result: located.append((lon, lat, result)))
        view.center_on(point.x, point.y, 16)
        drawn(view)
        x, y = query(view, "point_of", point.x, point.y)
        QTest.mouseClick(
            view.web_view.focusProxy(),
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
            QPoint(round(x), round(y)),
        )
        wait_until(lambda: bool(located), timeout=15)
        lon, lat, result = located[0]
        assert metres_apart((lon, lat), (point.x, point.y)) < 5
        assert result["grid"]["id"] == grid["id"]
        assert result["district"]["adcode"] == grid["district_adcode"]
        drawn(view)
        popup = query(view, "popup")
        assert result["district"]["name"] in popup
        assert result["grid"]["name"] in popup
        assert all(s["name"] in popup for s in result["squads"])


def test_a_stations_exceedance_turns_its_enterprise_red(
    qapp: QApplication, tmp_path: Path, county_db_template: Path
) -> None:
    """Station -> hub receiver -> alarm -> console map, and the same colour from alarms.list."""
    hj212_port = free_port()
    world = build_demo_world("331002", seed=0)  # the template's world: outlets' MN and PW
    enterprise, outlet, limit = next(
        (e, o, x)
        for e in world.enterprises
        for o in e.outlets
        for x in o.limits
        if x.lower_limit is None
    )
    monitoring = MonitoringConfig(port=hj212_port)
    with map_on_hub(copy_db(county_db_template, tmp_path), monitoring) as (view, session):
        assert query(view, "enterprise_states")[enterprise.id] == "normal"
        now = datetime.now(UTC)
        packet = encode_packet(
            qn=format_hj212_time(now, millis=True),
            cn="2011",
            mn=outlet.mn,
            pw=outlet.password,
            flag=4,
            data_time=format_hj212_time(now),
            values={limit.code: {"Rtd": limit.limit * 3, "Flag": "N"}},
        )
        with socket.create_connection(("127.0.0.1", hj212_port), timeout=10) as station:
            station.sendall(packet)
            wait_until(
                lambda: query(view, "enterprise_states")[enterprise.id] == "alarm", timeout=20
            )
        # A console that logs in later learns it from the hub's open alarms.
        view.enterprise_states.reset_alarms([])
        session.sig_snapshot_changed.emit(session.snapshot)  # as after a reconnect
        drawn(view)
        wait_until(lambda: query(view, "enterprise_states")[enterprise.id] == "alarm", timeout=20)


def test_complaints_and_tasks_reach_the_map_live_and_at_login(
    qapp: QApplication, tmp_path: Path, county_db_template: Path
) -> None:
    with map_on_hub(copy_db(county_db_template, tmp_path)) as (view, session):
        hub = session.hub
        assert hub is not None
        grid = session.snapshot["grids"][0]
        point = shape(grid["geometry"]).representative_point()
        answers: list[Any] = []
        hub.request(
            "complaint.create",
            {
                "channel": "hotline_12369",
                "category": "water",
                "urgency": "urgent",
                "reporter_name": "张三",
                "reporter_phone": "13800001111",
                "description": "河水发黑",
                "lon": point.x,
                "lat": point.y,
            },
            on_result=answers.append,
        )
        wait_until(lambda: bool(answers), timeout=20)
        complaint_id = answers[0]["complaint"]["id"]
        hub.request("task.dispatch", {"complaint_id": complaint_id}, on_result=answers.append)
        wait_until(lambda: len(answers) == 2, timeout=20)
        task_id = answers[1]["task"]["id"]

        def on_page() -> tuple[int, int]:
            drawn(view)
            counts = query(view, "counts")
            return counts["complaints"], counts["tasks"]

        wait_until(lambda: on_page() == (1, 1), timeout=20)  # from the hub's events
        assert "cm-urgency-urgent" in query(view, "pin_classes", "complaint", complaint_id)
        assert "cm-status-assigned" in query(view, "pin_classes", "task", task_id)
        view.set_complaints([], replace=True)
        view.set_tasks([], replace=True)
        assert on_page() == (0, 0)
        session.sig_snapshot_changed.emit(session.snapshot)  # a reconnect, or a later login
        wait_until(lambda: on_page() == (1, 1), timeout=20)  # from complaints.list, tasks.board


# ---- the demo world, as a screenshot ----------------------------------------------------------


def test_screenshot_of_the_demo_world(
    qapp: QApplication, page_path: Path, demo_world: World
) -> None:
    snapshot = build_snapshot(demo_world)
    rng = np.random.default_rng(1)
    officers = []
    for officer in snapshot["officers"][::8]:
        grid = next((g for g in snapshot["grids"] if g["id"] == officer["grid_id"]), None)
        if grid is not None:
            p = shape(grid["geometry"]).representative_point()
            officers.append(
                {
                    "id": officer["id"],
                    "lon": p.x,
                    "lat": p.y,
                    "heading": float(rng.uniform(0, 360)),
                    "ts": time.time(),
                }
            )
        if len(officers) >= 400:
            break
    view = new_view(page_path)
    try:
        view.resize(1280, 860)
        started = time.perf_counter()
        view.set_snapshot(snapshot)
        view.move_officers(officers)
        e = snapshot["enterprises"]
        view.set_enterprise_states(
            {e[0]["id"]: "alarm", e[1]["id"]: "offline", e[2]["id"]: "inspecting"}
        )
        view.set_complaints(
            [
                {
                    "id": f"C{n}",
                    "lon": x["lon"] + 0.01,
                    "lat": x["lat"] + 0.005,
                    "urgency": "urgent",
                    "status": "new",
                    "received_at": time.time() - 600 * n,
                }
                for n, x in enumerate(e[:40])
            ]
        )
        view.set_layer_visible("heat", True)
        wait_until(lambda: view.bridge.ready, timeout=30)
        drawn(view)
        elapsed = time.perf_counter() - started
        assert elapsed < 10, f"the demo world took {elapsed:.1f} s to render"
        QTest.qWait(300)
        image = view.grab().toImage()
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        assert image.save(str(SCREENSHOT))
        # Sample the map itself: right of the zoom and drawing controls, left of the legend,
        # below the toolbars. The demo world must cover a fair part of it, in many colours.
        samples = [
            image.pixel(x, y)
            for x in range(80, image.width() - 240, 8)
            for y in range(80, image.height(), 8)
        ]
        background = Counter(samples).most_common(1)[0][0]
        covered = sum(pixel != background for pixel in samples) / len(samples)
        assert covered > 0.1, f"only {covered:.0%} of the map area is drawn: (almost) blank"
        assert len(set(samples)) > 20, "the screenshot has too few colours to be the demo world"
        assert query(view, "counts")["grids"] == len(snapshot["grids"])
        assert view.page.js_errors == []
    finally:
        close_view(view)


def test_district_values_colour_the_districts_and_survive_a_redraw(view: MapView) -> None:
    plain = query(view, "district_fill", "331002")
    view.set_district_values("未结案件", {"331002": 8, "331003": 1})
    drawn(view)
    darkest, lightest = (
        query(view, "district_fill", "331002"),
        query(view, "district_fill", "331003"),
    )
    assert darkest != lightest
    assert plain not in (darkest, lightest)
    assert query(view, "choropleth_legend") == "未结案件0–12–345–67–8"  # 0–1, 2–3, 4, 5–6, 7–8
    view.set_snapshot(make_snapshot())  # a new snapshot redraws the world: colours stay
    drawn(view)
    assert query(view, "district_fill", "331002") == darkest
    # Few counts: a row per count that can occur, no "0–0"; all zero: one row.
    view.set_district_values("未结案件", {"331002": 2, "331003": 0})
    drawn(view)
    assert query(view, "choropleth_legend") == "未结案件012"
    view.set_district_values("未结案件", {"331002": 0, "331003": 0})
    drawn(view)
    assert query(view, "choropleth_legend") == "未结案件0"
    view.set_district_values("传输率", {"331002": 0.5, "331003": 0.25})  # not counts
    drawn(view)
    assert query(view, "choropleth_legend") == "传输率0–0.10.1–0.20.2–0.30.3–0.40.4–0.5"
    view.set_district_values("", {})
    drawn(view)
    assert query(view, "district_fill", "331002") == plain
    assert query(view, "choropleth_legend") is None
