"""Chart widgets offscreen, and the charts fed by a real hub over the loopback websocket."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

import console
from console.charts import OutletChart, install
from console.charts.comparison_chart import ComparisonChart
from console.core.model import Role
from console.hub.registry import REGISTRY, MethodRegistry
from console.hub.server import Hub
from console.hub.state import CallContext, HubConfig
from console.shell.controller import SessionController
from console.shell.hub_link import HubLink
from console.shell.main_window import MainWindow
from console.shell.session import Session
from tests.ui.conftest import copy_db
from tests.ui.test_charts_model import T0, alarm_event, data_batch, data_event, packet

SCREENSHOT = Path(console.__file__).parent.parent / "docs" / "screenshots" / "chart.png"

SNAPSHOT = {
    "enterprises": [
        {
            "id": "E1",
            "name": "椒江化工有限公司",
            "district_adcode": "331002",
            "outlets": [
                {
                    "id": "O1",
                    "name": "废水总排口",
                    "limits": [
                        {"code": "w01018", "name": "COD", "unit": "mg/L", "limit": 100.0},
                        {
                            "code": "w01001",
                            "name": "pH",
                            "unit": "",
                            "limit": 9.0,
                            "lower_limit": 6.0,
                        },
                    ],
                },
                {"id": "O2", "name": "雨水排口", "limits": []},
            ],
        }
    ]
}


def flagged_stream(outlet_id: str = "O1", count: int = 240) -> list[dict[str, Any]]:
    """Two hours of 30 s values with a maintenance run, a fault and an exceedance."""
    events = []
    for i in range(count):
        flag = "M" if 60 <= i < 80 else "D" if 150 <= i < 155 else "N"
        cod = 60.0 + 30.0 * ((i % 40) / 40) + (50.0 if 180 <= i < 190 else 0.0)
        ph = 7.2 + 0.3 * ((i % 25) / 25)
        events.append(
            data_event(
                outlet_id,
                T0 + timedelta(seconds=30 * i),
                {"w01018": (cod, flag), "w01001": (ph, flag)},
            )
        )
    return events


@pytest.fixture
def chart(qtbot: QtBot) -> OutletChart:
    session = Session()
    session.set_snapshot(SNAPSHOT)
    widget = OutletChart(session)
    qtbot.addWidget(widget)
    widget.resize(1000, 600)
    return widget


def test_chart_shows_limit_lines_flag_shading_and_readout(qtbot: QtBot, chart: OutletChart) -> None:
    chart.show_outlet("O1")
    assert chart.title.text() == "椒江化工有限公司 · 废水总排口"
    assert "未连接" in chart.status.text()  # no hub: live values only
    events = flagged_stream()
    for start in range(0, len(events), 50):
        chart.apply_events(events[start : start + 50])
    cod, ph = chart.plots["w01018"], chart.plots["w01001"]
    assert cod.limit_line.isVisible()
    assert cod.limit_line.value() == 100.0
    assert not cod.lower_line.isVisible()
    assert ph.limit_line.value() == 9.0
    assert ph.lower_line.isVisible()
    assert ph.lower_line.value() == 6.0
    assert cod.flag_regions.visible_count() == 2  # the maintenance run and the fault
    maintenance = cod.flag_regions.items[0].getRegion()
    assert maintenance == (
        (T0 + timedelta(seconds=1800)).timestamp(),
        (T0 + timedelta(seconds=2400)).timestamp(),
    )
    assert "维护" in chart.legend.text()
    assert "故障" in chart.legend.text()
    x, y = cod.curve.getData()
    assert len(x) == 240
    assert max(y) > 100.0
    # Linked time axes, following the newest data.
    assert ph.plot.getViewBox().linkedView(0) is cod.plot.getViewBox()
    assert chart.follow
    view_end = cod.plot.getViewBox().viewRange()[0][1]
    assert view_end >= (T0 + timedelta(seconds=30 * 239)).timestamp()
    text = chart.readout_at("w01018", (T0 + timedelta(seconds=1805)).timestamp())
    assert "COD (mg/L)" in text
    assert "M" in text
    assert "维护" in text
    assert "限值 100" in text
    ph_text = chart.readout_at("w01001", T0.timestamp())
    assert "下限 6" in ph_text
    chart.highlight_hours([(T0 + timedelta(hours=1), T0 + timedelta(hours=1, minutes=30))])
    assert cod.evidence_regions.visible_count() == 1
    assert ph.evidence_regions.visible_count() == 1
    assert "疑点时段" in chart.legend.text()  # the yellow shading is explained too
    with pytest.raises(ValueError, match="must end after it starts"):
        chart.highlight_hours([(T0, T0)])
    # The crosshair follows the mouse over a plot and fills the readout.
    chart.show()
    qtbot.waitExposed(chart)
    centre = cod.plot.sceneBoundingRect().center()
    chart._on_mouse_moved(centre)
    assert cod.crosshair.isVisible()
    assert "COD" in chart.readout.text()
    # A manual zoom stops following until the user asks again.
    cod.plot.getViewBox().sigRangeChangedManually.emit([True, False])
    assert not chart.follow
    assert not chart.follow_button.isChecked()
    chart.follow_button.click()
    assert chart.follow
    qtbot.wait(50)
    # The README's chart screenshot: both plots with limits, shading and the evidence hour.
    image = chart.grab().toImage()
    colours = {
        image.pixel(x, y) for x in range(0, image.width(), 23) for y in range(0, image.height(), 23)
    }
    assert len(colours) > 20
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert image.save(str(SCREENSHOT))


def test_live_points_update_curves_without_new_items(chart: OutletChart) -> None:
    chart.show_outlet("O1")
    events = flagged_stream(count=400)
    chart.apply_events(events[:10])
    items_before = len(chart.plots["w01018"].plot.items)
    for event in events[10:]:
        chart.apply_events([event])
    # Only the two shaded spans (maintenance, fault) were added, nothing per point.
    assert len(chart.plots["w01018"].plot.items) == items_before + 2
    assert len(chart.model.series["w01018"].buffer) == 400  # type: ignore[union-attr]
    chart.apply_events([data_event("O2", T0 + timedelta(days=1), {"w01018": (1.0, "N")})])
    assert len(chart.model.series["w01018"].buffer) == 400  # type: ignore[union-attr]


def test_comparison_chart_draws_one_curve_per_outlet(qtbot: QtBot) -> None:
    session = Session()
    session.set_snapshot(SNAPSHOT)
    chart = ComparisonChart(session, "w01018", ["O1", "O2"])
    qtbot.addWidget(chart)
    chart.apply_events(flagged_stream("O1", 20) + flagged_stream("O2", 10))
    assert len(chart.curves["O1"].getData()[0]) == 20
    assert len(chart.curves["O2"].getData()[0]) == 10
    names = [label.text for _, label in chart.legend.items]
    assert names == ["椒江化工有限公司 · 废水总排口", "椒江化工有限公司 · 雨水排口"]


# ---- against a real hub ---------------------------------------------------------------

SERIES_POINTS = 120


class SeriesProvider:
    """``monitoring.series`` and ``alarms.list`` served by the hub for these tests, recording
    each call; every other method is the hub's own."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.open_alarms: list[dict[str, Any]] = []
        self.registry = MethodRegistry()
        names = {name for role in Role for name in REGISTRY.names_for(role)}
        for name in sorted(names - {"monitoring.series", "alarms.list"}):
            spec = REGISTRY.get(name)
            assert spec is not None
            self.registry.method(name, params=spec.params, roles=spec.roles)(spec.handler)
        self.registry.method("monitoring.series", params=SeriesParams)(self.series)
        self.registry.method("alarms.list", params=AlarmsParams)(self.alarms)

    async def series(self, ctx: CallContext, params: SeriesParams) -> dict[str, Any]:
        self.calls.append((params.outlet_id, params.window))
        step = {"realtime": 30, "minute_24h": 60, "hourly_30d": 3600}[params.window]
        times = [T0.timestamp() + step * i for i in range(SERIES_POINTS)]
        return {
            "outlet_id": params.outlet_id,
            "window": params.window,
            "series": {
                "w01018": {
                    "t": times,
                    "v": [50.0 + i % 7 for i in range(SERIES_POINTS)],
                    "flag": ["C" if 10 <= i < 14 else "N" for i in range(SERIES_POINTS)],
                }
            },
            "limits": {
                "w01018": {"limit": 100.0, "lower_limit": None, "unit": "mg/L", "name": "COD"}
            },
        }

    async def alarms(self, ctx: CallContext, params: AlarmsParams) -> list[dict[str, Any]]:
        return list(self.open_alarms)


class SeriesParams(msgspec.Struct, forbid_unknown_fields=True):
    outlet_id: str
    window: str
    codes: list[str] | None = None


class AlarmsParams(msgspec.Struct, forbid_unknown_fields=True):
    open_only: bool = True
    since: str | None = None


class ChartsHub:
    """A real hub on a test thread whose event bus the tests publish to."""

    def __init__(self, db_url: str, registry: MethodRegistry) -> None:
        self._config = HubConfig(db_url=db_url, port=0)
        self._registry = registry
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="charts-hub")
        self._hub: Hub | None = None
        # Executor threads exist before the tests start, so the leak check does not blame them.
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="charts-hub-worker")
        self._loop.set_default_executor(self._executor)
        for warm_up in [self._executor.submit(time.sleep, 0.05) for _ in range(2)]:
            warm_up.result()

    def start(self) -> str:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            Hub.start(self._config, self._registry), self._loop
        )
        self._hub = future.result(timeout=120)
        return self._hub.url

    def publish(self, events: list[dict[str, Any]]) -> None:
        """Publish (topic, data, district) of each event dict from the hub's loop."""
        hub = self._hub
        assert hub is not None

        def publish() -> None:
            for event in events:
                data = event["data"]
                hub.state.bus.publish(event["topic"], data, data.get("district_adcode"))

        self._loop.call_soon_threadsafe(publish)

    def stop(self) -> None:
        if self._hub is not None:
            asyncio.run_coroutine_threadsafe(self._hub.stop(), self._loop).result(timeout=30)
            self._hub = None
        asyncio.run_coroutine_threadsafe(self._loop.shutdown_default_executor(), self._loop).result(
            timeout=30
        )
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._executor.shutdown()
        self._loop.close()


@pytest.fixture(scope="module")
def provider() -> SeriesProvider:
    return SeriesProvider()


@pytest.fixture(scope="module")
def charts_hub(
    tmp_path_factory: pytest.TempPathFactory, county_db_template: Path, provider: SeriesProvider
) -> Iterator[tuple[ChartsHub, str]]:
    hub = ChartsHub(
        copy_db(county_db_template, tmp_path_factory.mktemp("charts-hub")), provider.registry
    )
    url = hub.start()
    yield hub, url
    hub.stop()


def test_charts_follow_a_real_hub_event_stream(
    qtbot: QtBot, qapp: QApplication, charts_hub: tuple[ChartsHub, str], provider: SeriesProvider
) -> None:
    hub, url = charts_hub
    link = HubLink(url, backoff_s=(0.05, 0.4))
    session = Session()
    controller = SessionController(session, link)
    window = MainWindow(session)
    qtbot.addWidget(window)
    feature = install(window, session)
    chart, wall = feature.chart, feature.wall
    controller.start()
    try:
        link.login("dispatcher", "demo1234", "seat-charts")
        qtbot.waitUntil(lambda: bool(session.snapshot), timeout=30_000)
        enterprise = next(e for e in session.snapshot["enterprises"] if e["outlets"])
        outlet_id = enterprise["outlets"][0]["id"]
        answered: list[Any] = []
        link.request("hub.info", on_result=answered.append)  # after the charts' subscribe
        qtbot.waitUntil(lambda: bool(answered), timeout=5_000)

        # Selecting the enterprise opens the curves and fetches the real-time history.
        assert not feature.chart_dock.isVisibleTo(window)
        session.select("enterprise", enterprise["id"])
        assert feature.chart_dock.isVisibleTo(window)
        assert chart.model is not None
        assert chart.model.outlet_id == outlet_id
        qtbot.waitUntil(lambda: chart.status.text() == "", timeout=5_000)
        assert provider.calls[-1] == (outlet_id, "realtime")
        assert len(chart.model.series["w01018"].buffer) == SERIES_POINTS
        assert chart.plots["w01018"].flag_regions.visible_count() == 1  # the calibration

        # The window selector asks for the other windows.
        for window_name in ("minute_24h", "hourly_30d", "realtime"):
            index = chart.window_combo.findData(window_name)
            chart.window_combo.setCurrentIndex(index)
            chart.window_combo.activated.emit(index)
            qtbot.waitUntil(
                lambda w=window_name: provider.calls[-1] == (outlet_id, w), timeout=5_000
            )
            qtbot.waitUntil(lambda: chart.status.text() == "", timeout=5_000)
            assert chart.current_window == window_name

        # Live monitoring.data published on the hub's bus reach the curve.
        after = T0 + timedelta(seconds=30 * SERIES_POINTS)
        # One event per receiver flush and district, as the monitoring service publishes them.
        adcode = enterprise["district_adcode"]
        live = [
            dict(
                packet(
                    outlet_id,
                    after + timedelta(seconds=30 * i),
                    {"w01018": (80.0 + i % 5, "N")},
                    district_adcode=adcode,
                ),
                enterprise_id=enterprise["id"],
            )
            for i in range(300)
        ]
        hub.publish([data_batch(live[i : i + 50], adcode) for i in range(0, 300, 50)])
        cod = chart.model.series["w01018"].buffer
        qtbot.waitUntil(lambda: len(cod) == SERIES_POINTS + 300, timeout=10_000)
        assert len(chart.plots["w01018"].curve.getData()[0]) == SERIES_POINTS + 300

        # The alarm wall shows a raised alarm, selects its outlet on click, drops it when cleared.
        raised = alarm_event("alarm.raised", "A1", outlet_id, enterprise_id=enterprise["id"])
        raised["data"]["district_adcode"] = enterprise["district_adcode"]
        session.select("", "")
        hub.publish([raised])
        qtbot.waitUntil(lambda: outlet_id in wall.cards, timeout=5_000)
        card = wall.cards[outlet_id]
        assert enterprise["name"] in card.title.text()
        assert "超标" in card.alarms.text()
        # The pollutant as the permit names it, the value with its unit.
        permit = next(x for x in enterprise["outlets"][0]["limits"] if x["code"] == "w01018")
        assert f"{permit['name']} 120 {permit['unit']}（限值 100）" in card.alarms.text()
        qtbot.mouseClick(card, Qt.MouseButton.LeftButton)
        assert session.selection == ("outlet", outlet_id)
        cleared = dict(raised, topic="alarm.cleared")
        hub.publish([cleared])
        qtbot.waitUntil(lambda: not wall.cards, timeout=5_000)
        assert wall.status.text() == "无未处理报警"

        # After a reconnect the wall holds what the hub holds: an alarm raised while this
        # console was away appears, one cleared meanwhile goes.
        provider.open_alarms = [raised["data"]]
        session.set_snapshot(session.snapshot)  # what a reconnect delivers
        qtbot.waitUntil(lambda: outlet_id in wall.cards, timeout=5_000)
        provider.open_alarms = []
        session.set_snapshot(session.snapshot)
        qtbot.waitUntil(lambda: not wall.cards, timeout=5_000)
    finally:
        link.close()
        window.close()
