"""Supervision panels against a REAL hub: ranking, inspection, enterprise file, draw dialog.

The hub runs on a copy of the one-district demo world with the supervision demo data
(credit history, documents) and ten days of hourly COD values stored through the
time-series API: one enterprise sends a believable curve, another a flat line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

import console
import console.hub.supervision_methods  # registers the methods tested here
from console.charts import ChartsFeature, install
from console.charts.enterprise_file import render_file_html, section_titles
from console.charts.findings import finding_text, pollutant_namer
from console.core.model import World
from console.monitoring.hj212 import decode, encode_packet
from console.monitoring.receiver import ReceivedPacket, StationInfo, format_hj212_time
from console.store import Store
from console.store.supervision_repo import seed_demo_supervision
from console.store.timeseries import TimeSeriesStore
from tests.ui.conftest import copy_db
from tests.ui.test_shell import Shell, ThreadedHub, log_in, make_shell

SCREENSHOTS = Path(console.__file__).parent.parent / "docs" / "screenshots"
HOURS = 24 * 10


def hourly_packets(station: StationInfo, end: datetime, value: Any) -> list[ReceivedPacket]:
    """``HOURS`` hourly COD averages ending at ``end``; ``value(i)`` gives hour i's value."""
    packets = []
    for i in range(HOURS):
        at = end - timedelta(hours=HOURS - i)
        frame = encode_packet(
            cn="2061",
            mn=station.mn,
            pw=station.password,
            data_time=format_hj212_time(at),
            values={
                "w01018": {"Avg": value(i), "Min": value(i), "Max": value(i), "Flag": "N"},
                "w00000": {"Avg": 12.0 + (i % 5), "Flag": "N"},
            },
        )
        packets.append(ReceivedPacket(decode(frame), station, at + timedelta(seconds=5), "test"))
    return packets


def water_stations(world: World) -> list[StationInfo]:
    """One station per enterprise with a water outlet, in enterprise-id order."""
    stations = []
    for enterprise in sorted(world.enterprises, key=lambda e: e.id):
        for outlet in enterprise.outlets:
            if outlet.kind.value == "water":
                stations.append(
                    StationInfo(
                        mn=outlet.mn,
                        enterprise_id=enterprise.id,
                        outlet_id=outlet.id,
                        district_adcode=enterprise.district_adcode,
                        password="123456",
                        kind=outlet.kind,
                    )
                )
                break
    return stations


@pytest.fixture(scope="module")
def supervision_db(tmp_path_factory: pytest.TempPathFactory, county_db_template: Path) -> str:
    """The county world plus supervision demo data and stored hourly monitoring values."""
    url = copy_db(county_db_template, tmp_path_factory.mktemp("supervision-hub"))
    store = Store.open(url)
    try:
        world = store.load_world()
        seed_demo_supervision(store, world, seed=0)
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        stations = water_stations(world)
        assert len(stations) >= 3, "the county world needs three enterprises with water outlets"
        series = TimeSeriesStore(store.engine)
        flat, *clean = stations[:3]
        series.insert_packets(hourly_packets(flat, end, lambda i: 42.0))
        for number, station in enumerate(clean):
            series.insert_packets(
                hourly_packets(
                    station,
                    end,
                    lambda i, n=number: 55.0 + 12.0 * math.sin(i / 3.7 + n) + (i * 7919 % 13),
                )
            )
    finally:
        store.close()
    return url


@pytest.fixture(scope="module")
def supervision_hub(supervision_db: str) -> Iterator[ThreadedHub]:
    hub = ThreadedHub(supervision_db)
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture
def console_with_charts(
    qtbot: QtBot, supervision_hub: ThreadedHub
) -> Iterator[tuple[Shell, ChartsFeature]]:
    shell = make_shell(qtbot, supervision_hub.url)
    feature = install(shell.window, shell.session)
    shell.window.resize(1400, 900)
    yield shell, feature
    shell.link.close()


def call(qtbot: QtBot, shell: Shell, method: str, params: dict[str, Any]) -> Any:
    """A raw hub request from the test, waited for on the GUI thread."""
    answers: list[Any] = []
    errors: list[Any] = []
    shell.link.request(method, params, on_result=answers.append, on_error=errors.append)
    qtbot.waitUntil(lambda: bool(answers or errors), timeout=30_000)
    assert not errors, errors
    return answers[0]


def test_ranking_fills_opens_evidence_and_creates_an_inspection(
    qtbot: QtBot, console_with_charts: tuple[Shell, ChartsFeature]
) -> None:
    shell, feature = console_with_charts
    ranking = feature.supervision.ranking
    loaded: list[int] = []
    ranking.sig_loaded.connect(loaded.append)
    log_in(qtbot, shell)  # a login loads the ranking
    qtbot.waitUntil(lambda: bool(loaded), timeout=60_000)
    assert ranking.table.rowCount() == len(ranking.rows) >= 3
    scores = [float(row["score"]) for row in ranking.rows]
    assert scores == sorted(scores)  # most suspicious first
    names = {e["id"]: e["name"] for e in shell.session.snapshot["enterprises"]}
    stations = water_stations_of(shell)
    flat_id = stations[0]
    top = ranking.rows[0]
    assert top["enterprise_id"] == flat_id, ranking.rows[:3]
    assert ranking.table.item(0, 1).text() == names[flat_id]
    assert ranking.table.item(0, 2).text() == "椒江区"
    assert ranking.table.item(0, 3).text() == f"{float(top['score']):.0f}"
    assert top["reasons"]
    # The findings in Chinese, pollutants by their permit names; no English sentence left.
    reasons = ranking.table.item(0, 5).text()
    assert reasons.startswith(ranking.reasons(top)[0])
    assert "（" in reasons
    assert "operating hours" not in reasons
    assert "of the" not in reasons
    assert ranking.table.item(0, 4).text() != top["worst_pollutant"]  # named, not w01018

    # Choosing the row selects its outlet: the chart opens on 30 days with the evidence marked.
    assert not ranking.inspect_button.isEnabled()
    ranking.select_row(0)
    assert shell.session.selection == ("outlet", top["outlet_id"])
    chart = feature.chart
    assert feature.chart_dock.isVisibleTo(shell.window)
    assert chart.model is not None
    assert chart.model.outlet_id == top["outlet_id"]
    assert chart.current_window == "hourly_30d"
    assert len(chart._evidence) == len(top["evidence"]) > 0
    qtbot.waitUntil(lambda: "w01018" in chart.plots, timeout=10_000)
    assert chart.plots["w01018"].evidence_regions.visible_count() == len(top["evidence"])

    # "Create targeted inspection" makes a task for the enterprise, shown as the current task.
    created: list[dict[str, Any]] = []
    ranking.sig_inspection_created.connect(created.append)
    assert ranking.inspect_button.isEnabled()
    ranking.inspect_button.click()
    qtbot.waitUntil(lambda: bool(created), timeout=10_000)
    task = created[0]
    assert shell.session.task_id == task["id"]
    stored = call(qtbot, shell, "task.get", {"task_id": task["id"]})["task"]
    assert stored["enterprise_id"] == flat_id
    assert stored["kind"] == "verification"
    assert task["id"] in ranking.status.text()


def water_stations_of(shell: Shell) -> list[str]:
    """Enterprise ids with a water outlet in id order (the fixture's flat line is the first)."""
    ids = []
    for enterprise in sorted(shell.session.snapshot["enterprises"], key=lambda e: e["id"]):
        if any(o["kind"] == "water" for o in enterprise["outlets"]):
            ids.append(enterprise["id"])
    return ids


def test_enterprise_file_shows_every_section(
    qtbot: QtBot, console_with_charts: tuple[Shell, ChartsFeature]
) -> None:
    shell, feature = console_with_charts
    log_in(qtbot, shell)
    panel = feature.supervision.file_panel
    loaded: list[dict[str, Any]] = []
    panel.sig_loaded.connect(loaded.append)
    enterprise_id = water_stations_of(shell)[0]
    shell.session.select("enterprise", enterprise_id)  # as a map click does
    assert feature.supervision.file_dock.isVisibleTo(shell.window)
    qtbot.waitUntil(lambda: bool(loaded), timeout=30_000)
    reply = loaded[0]
    text = panel.text()
    titles = section_titles()
    assert titles[0] == "基本信息"
    assert titles[-1] == "档案资料"
    for title in titles:
        assert title in text, title
    enterprise = reply["enterprise"]
    assert enterprise["name"] in text
    assert enterprise["credit_code"] in text
    assert "椒江区" in text
    for outlet in reply["outlets"]:
        assert outlet["name"] in text
        for limit in outlet["limits"]:
            assert limit["code"] in text
    assert len(reply["credit_history"]) >= 2
    for change in reply["credit_history"]:
        assert change["reason"] in text
    assert reply["documents"]
    for document in reply["documents"]:
        assert document["title"] in text
    assert reply["monitoring"]["days"]
    assert "传输率" in text
    assert reply["authenticity"] is not None
    assert f"真实性评分 {float(reply['authenticity']['score']):.0f}" in text
    findings = reply["authenticity"]["findings"]
    assert len(findings) == len(reply["authenticity"]["reasons"]) > 0
    for finding in findings:
        assert finding_text(finding, pollutant_namer(reply["outlets"])) in text
    assert "operating hours" not in text  # the English sentences stay out of a Chinese file
    for camera in reply["cameras"]:
        assert camera["name"] in text
    quota = reply["quota"]
    assert f"排放总量控制（{quota['year']}年，{quota['month']}月）" in text
    assert quota["items"]  # the demo's COD and NH3-N quotas
    for item in quota["items"]:
        assert item["monthly_quota_kg"] == pytest.approx(item["annual_quota_kg"] / 11, abs=0.1)

    # The search box opens another enterprise's file.
    other = next(e for e in shell.session.snapshot["enterprises"] if e["id"] != enterprise_id)
    index = panel.search.findData(other["id"])
    panel.search.setCurrentIndex(index)
    panel.search.activated.emit(index)
    qtbot.waitUntil(lambda: len(loaded) == 2, timeout=30_000)
    assert shell.session.selection == ("enterprise", other["id"])
    assert other["name"] in panel.text()

    feature.supervision.file_dock.setFloating(True)
    feature.supervision.file_dock.resize(760, 900)
    feature.supervision.file_panel.show_enterprise(enterprise_id)
    qtbot.waitUntil(lambda: len(loaded) == 3, timeout=30_000)
    qtbot.wait(100)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert feature.supervision.file_dock.grab().save(str(SCREENSHOTS / "enterprise.png"))


def test_draw_dialog_runs_saves_and_verifies(
    qtbot: QtBot, console_with_charts: tuple[Shell, ChartsFeature], tmp_path: Path
) -> None:
    shell, feature = console_with_charts
    log_in(qtbot, shell)
    dialog = feature.supervision.open_draw_dialog()
    drawn: list[dict[str, Any]] = []
    verified: list[dict[str, Any]] = []
    dialog.sig_drawn.connect(drawn.append)
    dialog.sig_verified.connect(verified.append)
    try:
        dialog.seed_edit.setText("ui-test-seed")
        plan = dialog.plan_json()
        assert plan["categories"][0] == {"name": "重点企业", "key": True, "ratio": "0.20"}
        dialog.run_button.click()
        qtbot.waitUntil(lambda: bool(drawn), timeout=30_000)
        record = drawn[0]["record"]
        assert record["seed"] == "ui-test-seed"
        assert record["selections"]
        assert len(drawn[0]["tasks"]) == len(record["selections"])
        view = dialog.record_view.toPlainText()
        assert "ui-test-seed" in view
        assert record["inputs"]["register"]["sha256"] in view
        assert record["record_digest"] in view
        for selection in record["selections"]:
            assert selection["enterprise_name"] in view
            assert len(selection["inspectors"]) == 2

        saved = dialog.save_json(tmp_path / "record.json")
        assert json.loads(saved.read_text(encoding="utf-8")) == record
        pdf = dialog.save_pdf(tmp_path / "record.pdf")
        assert pdf.read_bytes().startswith(b"%PDF")

        dialog.verify_button.click()
        qtbot.waitUntil(lambda: bool(verified), timeout=30_000)
        assert verified[0]["equal"] is True
        assert "验证通过" in dialog.status.text()

        # A tampered record (one selection swapped out) loaded from a file does not verify.
        tampered = json.loads(saved.read_text(encoding="utf-8"))
        tampered["seed"] = "another-seed"
        (tmp_path / "tampered.json").write_text(json.dumps(tampered), encoding="utf-8")
        dialog.load_record(tmp_path / "tampered.json")
        qtbot.waitUntil(lambda: len(verified) == 2, timeout=30_000)
        assert verified[1]["equal"] is False
        assert "验证未通过" in dialog.status.text()

        # A bad plan is named before anything is sent.
        dialog.add_category("重点企业", "key", "count", 1)
        dialog.run_button.click()
        assert "方案无效" in dialog.status.text()
        assert "unique" in dialog.status.text()
    finally:
        dialog.close()


def test_total_quantity_shares_turn_orange_at_80_and_red_at_100_percent() -> None:
    item = {"outlet_id": "o-1", "outlet_name": "总排口", "code": "w01018", "name": "化学需氧量"}
    file = {
        "enterprise": {"name": "某公司", "district_adcode": "331002", "lon": 121.4, "lat": 28.6},
        "quota": {
            "year": 2026,
            "month": 11,
            "items": [
                {**item, "annual_quota_kg": 1000.0, "used_year_kg": 500.0,
                 "monthly_quota_kg": 100.0, "used_month_kg": 85.0},
                {**item, "code": "w21003", "name": "氨氮", "annual_quota_kg": 100.0,
                 "used_year_kg": 120.0, "monthly_quota_kg": None, "used_month_kg": 3.0},
            ],
        },
    }  # fmt: skip
    page = render_file_html(file, {"331002": "椒江区"})
    assert "排放总量控制（2026年，11月）" in page
    right = "<td align='right'"  # figures line up by digit, thousands grouped
    assert f"{right}>1,000.0</td>{right}>500.0</td>{right}>50.0%</td>" in page
    assert f"{right}>100.0</td>{right}>85.0</td>{right} class='warn'>85.0%</td>" in page
    assert f"{right}>100.0</td>{right}>120.0</td>{right} class='low'>120.0%</td>" in page
    assert f"{right}>—</td>{right}>—</td>{right}>—</td>" in page  # no monthly quota for NH3-N
    empty = render_file_html({**file, "quota": {"year": 2026, "month": 11, "items": []}}, {})
    assert "排放总量控制（2026年，11月）" in empty


def test_dashboard_and_map_figures_follow_new_cases(
    qtbot: QtBot, console_with_charts: tuple[Shell, ChartsFeature]
) -> None:
    """The open cases colour the map: a complaint after login reaches them without a click."""
    shell, feature = console_with_charts
    dashboard = feature.supervision.dashboard
    dashboard.refresh_soon.setInterval(200)
    loaded: list[dict[str, Any]] = []
    dashboard.sig_loaded.connect(loaded.append)
    log_in(qtbot, shell)  # a login loads the dashboard
    qtbot.waitUntil(lambda: bool(loaded), timeout=60_000)
    enterprise = shell.session.snapshot["enterprises"][0]
    before = {d["adcode"]: d["open"] for d in loaded[-1]["districts"]}
    call(
        qtbot,
        shell,
        "complaint.create",
        {
            "channel": "hotline_12369",
            "category": "water",
            "urgency": "normal",
            "reporter_name": "王先生",
            "reporter_phone": "13800000000",
            "description": "河水发黑",
            "lon": enterprise["lon"],
            "lat": enterprise["lat"],
        },
    )
    qtbot.waitUntil(lambda: len(loaded) >= 2, timeout=30_000)  # complaint.created: a reload
    adcode = enterprise["district_adcode"]
    after = {d["adcode"]: d["open"] for d in loaded[-1]["districts"]}
    assert after[adcode] == before[adcode] + 1  # awaiting its task: an open case
    assert shell.session.district_values["values"][adcode] == float(after[adcode])
