"""The leader dashboard against a REAL hub: figures as replied, choropleth, PDF and PNG export."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPainter
from pytestqt.qtbot import QtBot

import console
import console.hub.supervision_methods  # registers the methods tested here
from console.charts.dashboard import LeaderDashboard
from console.charts.report import duration_text, rate_text
from console.charts.style import count_step
from tests.ui.conftest import copy_db
from tests.ui.test_shell import Shell, ThreadedHub, log_in, make_shell

SCREENSHOT = Path(console.__file__).parent.parent / "docs" / "screenshots" / "dashboard.png"


@pytest.fixture(scope="module")
def dashboard_hub(
    tmp_path_factory: pytest.TempPathFactory, world_db_template: Path
) -> Iterator[ThreadedHub]:
    """The whole city (several districts), so the choropleth has something to compare."""
    hub = ThreadedHub(copy_db(world_db_template, tmp_path_factory.mktemp("dashboard-hub")))
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture
def leader(qtbot: QtBot, dashboard_hub: ThreadedHub) -> Iterator[tuple[Shell, LeaderDashboard]]:
    shell = make_shell(qtbot, dashboard_hub.url)
    dashboard = LeaderDashboard(shell.session)
    qtbot.addWidget(dashboard)
    dashboard.resize(1280, 860)
    yield shell, dashboard
    shell.link.close()


def call(qtbot: QtBot, shell: Shell, method: str, params: dict[str, Any]) -> Any:
    answers: list[Any] = []
    errors: list[Any] = []
    shell.link.request(method, params, on_result=answers.append, on_error=errors.append)
    qtbot.waitUntil(lambda: bool(answers or errors), timeout=30_000)
    assert not errors, errors
    return answers[0]


def make_complaints(qtbot: QtBot, shell: Shell, count: int) -> None:
    """Complaints at enterprises of different districts, so the figures are not all zero."""
    enterprises = sorted(shell.session.snapshot["enterprises"], key=lambda e: e["id"])
    by_district: dict[str, dict[str, Any]] = {}
    for enterprise in enterprises:
        by_district.setdefault(enterprise["district_adcode"], enterprise)
    targets = list(by_district.values())
    for i in range(count):
        enterprise = targets[i % len(targets)]
        call(
            qtbot,
            shell,
            "complaint.create",
            {
                "channel": "hotline_12369",
                "category": ("water", "air", "odour")[i % 3],
                "urgency": "normal",
                "reporter_name": "王先生",
                "reporter_phone": "13800000000",
                "description": f"排放异味 {i}",
                "lon": enterprise["lon"],
                "lat": enterprise["lat"],
                "enterprise_id": enterprise["id"],
            },
        )


def test_dashboard_shows_the_hubs_figures_and_exports_them(
    qtbot: QtBot, leader: tuple[Shell, LeaderDashboard], tmp_path: Path
) -> None:
    shell, dashboard = leader
    log_in(qtbot, shell)
    make_complaints(qtbot, shell, 6)
    choropleths: list[dict[str, Any]] = []
    shell.session.sig_district_values.connect(choropleths.append)
    loaded: list[dict[str, Any]] = []
    dashboard.sig_loaded.connect(loaded.append)
    dashboard.refresh()
    qtbot.waitUntil(lambda: bool(loaded), timeout=30_000)
    reply = call(qtbot, shell, "dashboard.districts", {"days": 30})
    shown = loaded[0]
    assert [d["adcode"] for d in shown["districts"]] == [d["adcode"] for d in reply["districts"]]
    assert len(reply["districts"]) == len(shell.session.snapshot["districts"])
    assert sum(d["complaints_received"] for d in reply["districts"]) >= 6

    # Every cell is the hub's number (the hub's figures are checked against SQL in tests/hub).
    for row, district in enumerate(reply["districts"]):
        assert dashboard.cell_text(row, 0) == district["name"]
        assert dashboard.cell_text(row, 1) == str(district["complaints_received"])
        assert dashboard.cell_text(row, 2) == str(district["complaints_closed"])
        assert dashboard.cell_text(row, 3) == str(district["open"])
        assert dashboard.cell_text(row, 4) == str(district["overdue"])
        assert dashboard.cell_text(row, 5) == duration_text(district["median_verification_s"])
        assert dashboard.cell_text(row, 6) == duration_text(district["median_closure_s"])
        assert dashboard.cell_text(row, 7) == rate_text(district["transmission_rate"])
        assert dashboard.cell_text(row, 8) == rate_text(district["compliance_rate"])
    _, y = dashboard.received_curve.getData()
    assert list(y) == [float(p["received"]) for p in reply["trend"]]
    for plot in (dashboard.trend_plot, dashboard.open_plot, dashboard.category_plot):
        low, high = plot.viewRange()[1]
        assert -0.2 * high < low < 0  # counts start at zero (not -0.4 … 0.4 for all-zero
        assert high >= 1  # bars), with room below for the 0's label
    assert dashboard.ranking.rowCount() == len(reply["enterprise_ranking"])

    # The open cases go to the session for the map's choropleth.
    assert choropleths[-1]["title"] == "未办结案件"
    assert choropleths[-1]["values"] == {d["adcode"]: float(d["open"]) for d in reply["districts"]}
    assert shell.session.district_values == choropleths[-1]

    # 90 days: another request, same shape.
    dashboard.set_days(90)
    qtbot.waitUntil(lambda: len(loaded) == 2, timeout=30_000)
    assert dashboard.days == 90
    assert len(loaded[1]["trend"]) > len(loaded[0]["trend"])
    dashboard.set_days(30)
    qtbot.waitUntil(lambda: len(loaded) == 3, timeout=30_000)

    # PDF: Chinese headings and district names are real (extractable) text.
    dashboard.show()
    qtbot.waitExposed(dashboard)
    qtbot.wait(100)
    # The district figures share the panel's width (no empty strip right of the table), and
    # each heading fits its column.
    header = dashboard.table.horizontalHeader()
    widths = [header.sectionSize(i) for i in range(header.count())]
    assert sum(widths) >= dashboard.table.viewport().width() - 2
    assert all(widths[i] >= header.sectionSizeHint(i) for i in range(header.count()))
    right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
    assert dashboard.table.item(0, 1).textAlignment() == right  # figures line up
    for plot in (dashboard.trend_plot, dashboard.open_plot, dashboard.category_plot):
        assert "0" in axis_labels(plot.getAxis("left"))  # the label on the axis's end, too
    pdf = dashboard.export_pdf(tmp_path / "report.pdf")
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "执法监管报告" in text
    assert "各区信访与案件情况" in text
    assert "企业数据真实性排名" in text
    if reply["enterprise_ranking"]:
        assert reply["enterprise_ranking"][0]["name"] in text
    else:  # said in words, not as a table of headings alone
        assert "本期没有企业的数据真实性评分" in text
    assert reply["districts"][0]["name"] in text
    fonts = subprocess.run(
        ["pdffonts", str(pdf)], check=True, capture_output=True, text=True
    ).stdout
    assert "CJK" in fonts
    assert all(" yes " in line for line in fonts.splitlines()[2:] if line.strip())  # embedded
    # The charts: drawn at twice the screen's pixels and printed across the text column (18 cm).
    images = subprocess.run(
        ["pdfimages", "-list", str(pdf)], check=True, capture_output=True, text=True
    ).stdout.splitlines()[2:]
    assert len(images) == 1
    fields = images[0].split()
    width, x_ppi = int(fields[3]), int(fields[12])
    assert width >= 2 * dashboard.graphics.width() - 1
    assert width / x_ppi >= 0.95 * 180 / 25.4  # inches printed

    # PNG: the whole dashboard, not blank.
    png = dashboard.export_png(tmp_path / "dashboard.png")
    image = QImage(str(png))
    assert image.width() >= 1200
    colours = {
        image.pixel(x, y) for x in range(0, image.width(), 23) for y in range(0, image.height(), 23)
    }
    assert len(colours) > 20
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert dashboard.grab().save(str(SCREENSHOT))


def axis_labels(axis: Any) -> list[str]:
    """The tick labels the axis draws now."""
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [] if specs is None else [text for _rect, _flags, text in specs[2]]


def test_count_axes_tick_in_whole_numbers() -> None:
    steps = {top: count_step(top) for top in (0, 1, 5, 6, 11, 26, 60, 240, 1234)}
    assert steps == {0: 1, 1: 1, 5: 1, 6: 2, 11: 5, 26: 10, 60: 20, 240: 50, 1234: 500}
