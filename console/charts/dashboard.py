"""The leader dashboard: district figures from the hub's ``dashboard.districts``.

Per district: complaints received / closed / open / overdue, median verification and
closure times, transmission and compliance rates; the 30- or 90-day trend, complaint
categories and the enterprise authenticity ranking. The open cases per district go to the
session for the map's choropleth. The widget shows the reply as it came: the figures are
computed (and checked against SQL) in the hub.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.charts.enterprise_file import code_label
from console.charts.report import (
    default_report_name,
    district_headers,
    duration_text,
    export_pdf,
    export_png,
)
from console.charts.report import rate_text as rate_cell
from console.charts.style import CURVE_COLOURS, adopt_orphans, show_counts, style_plot
from console.hub.client import HubError
from console.shell.hub_errors import error_text
from console.shell.i18n import tr
from console.shell.session import Session

DASHBOARD_METHOD = "dashboard.districts"
CASE_TOPICS = ("complaint.created", "task.updated", "task.overdue")
"""Events that change the figures: the dashboard reloads (once) a little after them."""
REFRESH_AFTER_EVENTS_MS = 30_000
"""Each reload runs the month's aggregate queries on the hub, for every seat: a burst of
events costs one, half a minute later."""
PERIODS = (30, 90)
DISTRICT_COLUMNS = (
    "name",
    "complaints_received",
    "complaints_closed",
    "open",
    "overdue",
    "median_verification_s",
    "median_closure_s",
    "transmission_rate",
    "compliance_rate",
)


def _date_epoch(value: str) -> float:
    return datetime.combine(date.fromisoformat(value[:10]), time()).timestamp()


class LeaderDashboard(QWidget):
    """District status for leaders, with PDF/PNG export of a dated report."""

    sig_loaded = Signal(object)
    """A ``dashboard.districts`` reply (dict) is shown."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.figures: dict[str, Any] | None = None
        self.days = PERIODS[0]
        self._token = 0
        self._build()
        # The open cases also colour the map, which is always in view: they must not stay
        # at their login value. A burst of events costs one reload.
        self.refresh_soon = QTimer(self)
        self.refresh_soon.setSingleShot(True)
        self.refresh_soon.setInterval(REFRESH_AFTER_EVENTS_MS)
        self.refresh_soon.timeout.connect(self.refresh)
        session.sig_events.connect(self._on_events)

    def _on_events(self, events: list[dict[str, Any]]) -> None:
        if self.figures is None or self.refresh_soon.isActive():
            return  # not loaded yet (the login loads it), or a reload is already due
        if any(event.get("topic") in CASE_TOPICS for event in events):
            self.refresh_soon.start()

    # ---- construction ---------------------------------------------------------------

    def _build(self) -> None:
        self.period_combo = QComboBox()
        for days in PERIODS:
            self.period_combo.addItem(tr("Last {days} days", days=days), days)
        self.period_combo.activated.connect(self._on_period_chosen)
        self.refresh_button = QPushButton(tr("Refresh"))
        self.refresh_button.clicked.connect(self.refresh)
        self.pdf_button = QPushButton(tr("Export PDF…"))
        self.pdf_button.clicked.connect(self._ask_pdf)
        self.png_button = QPushButton(tr("Export PNG…"))
        self.png_button.clicked.connect(self._ask_png)
        for button in (self.pdf_button, self.png_button):
            button.setEnabled(False)
        self.generated = QLabel()
        bar = QHBoxLayout()
        bar.addWidget(self.period_combo)
        bar.addWidget(self.refresh_button)
        bar.addWidget(self.generated, 1)
        bar.addWidget(self.pdf_button)
        bar.addWidget(self.png_button)

        self.table = QTableWidget(0, len(DISTRICT_COLUMNS))
        self.table.setHorizontalHeaderLabels(district_headers())
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        # The figures share the panel's width, never narrower than their headings (the table
        # scrolls then); the district names take what they need.
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setMinimumSectionSize(
            max(header.sectionSizeHint(i) for i in range(1, len(DISTRICT_COLUMNS)))
        )
        self.ranking = QTableWidget(0, 2)
        self.ranking.setHorizontalHeaderLabels([tr("Enterprise"), tr("Score")])
        self.ranking.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        ranking_header = self.ranking.horizontalHeader()
        ranking_header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        ranking_header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)

        with adopt_orphans(self):
            self.graphics = pg.GraphicsLayoutWidget(parent=self)
            self._build_plots()
        tables = QSplitter()
        tables.addWidget(self.table)
        tables.addWidget(self.ranking)
        tables.setStretchFactor(0, 3)
        tables.setStretchFactor(1, 1)
        self.status = QLabel()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(tables, 2)
        layout.addWidget(self.graphics, 3)
        layout.addWidget(self.status)

    def _build_plots(self) -> None:
        self.graphics.setBackground("w")
        self.trend_plot = self.graphics.addPlot(
            row=0, col=0, colspan=2, axisItems={"bottom": pg.DateAxisItem(orientation="bottom")}
        )
        self.open_plot = self.graphics.addPlot(row=1, col=0)
        self.category_plot = self.graphics.addPlot(row=1, col=1)
        for plot, title in (
            (self.trend_plot, tr("Complaints received and closed per day")),
            (self.open_plot, tr("Open and overdue cases by district")),
            (self.category_plot, tr("Complaints by category")),
        ):
            style_plot(plot)
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(x=False, y=False)
            plot.setTitle(title, color="#222", size="10pt")
        self.trend_plot.addLegend(offset=(10, 5))
        self.received_curve = self.trend_plot.plot(
            pen=pg.mkPen(CURVE_COLOURS[0], width=2), name=tr("Complaints received")
        )
        self.closed_curve = self.trend_plot.plot(
            pen=pg.mkPen(CURVE_COLOURS[1], width=2), name=tr("Complaints closed")
        )
        self.open_bars = pg.BarGraphItem(x=[], height=[], width=0.35, brush=CURVE_COLOURS[2])
        self.overdue_bars = pg.BarGraphItem(x=[], height=[], width=0.35, brush=(179, 38, 30))
        self.open_plot.addItem(self.open_bars)
        self.open_plot.addItem(self.overdue_bars)
        bars_legend = self.open_plot.addLegend(offset=(-10, 5))
        bars_legend.addItem(self.open_bars, tr("Open cases"))
        bars_legend.addItem(self.overdue_bars, tr("Overdue cases"))
        self.category_bars = pg.BarGraphItem(x=[], height=[], width=0.6, brush=CURVE_COLOURS[3])
        self.category_plot.addItem(self.category_bars)

    # ---- public API -----------------------------------------------------------------

    def refresh(self) -> None:
        """Ask the hub for the figures of the chosen period."""
        hub = self.session.hub
        if hub is None:
            self.status.setText(tr("Not connected to the hub"))
            return
        self._token += 1
        token = self._token
        days = self.days
        self.status.setText(tr("Loading the district figures…"))
        hub.request(
            DASHBOARD_METHOD,
            {"days": days},
            on_result=lambda reply: self._on_figures(token, days, reply),
            on_error=self._on_error,
        )

    def set_days(self, days: int) -> None:
        """Show the last 30 or 90 days."""
        if days not in PERIODS:
            raise ValueError(f"the dashboard shows {PERIODS} days, not {days}")
        self.days = days
        self.period_combo.setCurrentIndex(self.period_combo.findData(days))
        self.refresh()

    def set_figures(self, figures: Mapping[str, Any], days: int) -> None:
        """Show a ``dashboard.districts`` reply for ``days`` and publish the choropleth."""
        self.figures = dict(figures)
        self.days = days
        districts = list(figures.get("districts", []))
        self.table.setRowCount(len(districts))
        for row, district in enumerate(districts):
            cells = [
                district["name"],
                district["complaints_received"],
                district["complaints_closed"],
                district["open"],
                district["overdue"],
                duration_text(district.get("median_verification_s")),
                duration_text(district.get("median_closure_s")),
                rate_cell(district.get("transmission_rate")),
                rate_cell(district.get("compliance_rate")),
            ]
            for column, value in enumerate(cells):
                self.table.setItem(row, column, _cell(value, figure=column > 0))
        ranking = list(figures.get("enterprise_ranking", []))
        self.ranking.setRowCount(len(ranking))
        for row, enterprise in enumerate(ranking):
            self.ranking.setItem(row, 0, _cell(enterprise["name"]))
            self.ranking.setItem(row, 1, _cell(f"{float(enterprise['score']):.0f}", figure=True))
        self._draw(districts, list(figures.get("trend", [])))
        generated = str(figures.get("generated_at", ""))
        self.generated.setText(tr("Figures of {at}", at=generated[:16].replace("T", " ")))
        for button in (self.pdf_button, self.png_button):
            button.setEnabled(True)
        self.status.setText("")
        self.session.set_district_values(
            tr("Open cases"), {str(d["adcode"]): float(d["open"]) for d in districts}
        )
        self.sig_loaded.emit(self.figures)

    def cell_text(self, row: int, column: int) -> str:
        """Text of one district-table cell (columns as in ``DISTRICT_COLUMNS``)."""
        item = self.table.item(row, column)
        return item.text() if item is not None else ""

    def charts_image(self, scale: float = 2.0) -> QImage:
        """The pyqtgraph area as an image for the PDF report, drawn at ``scale`` times its
        on-screen pixels: printed as wide as the text (18 cm), a screen grab looks soft."""
        view = self.graphics.viewport().rect()
        image = QImage(
            round(view.width() * scale), round(view.height() * scale), QImage.Format.Format_RGB32
        )
        image.fill(Qt.GlobalColor.white)
        painter = QPainter(image)
        try:  # the scene drawn again into the larger target: text and lines stay sharp
            self.graphics.render(painter, QRectF(image.rect()), view)
        finally:
            painter.end()
        return image

    def export_pdf(self, path: Path) -> Path:
        """Write the dated report of the shown figures as a PDF."""
        if self.figures is None:
            raise RuntimeError("no dashboard figures to export yet")
        return export_pdf(path, self.figures, self.days, self.charts_image())

    def export_png(self, path: Path) -> Path:
        """Save the whole dashboard as a PNG."""
        return export_png(self, path)

    # ---- drawing --------------------------------------------------------------------

    def _draw(self, districts: list[dict[str, Any]], trend: list[dict[str, Any]]) -> None:
        times = np.array([_date_epoch(str(p["date"])) for p in trend], dtype=np.float64)
        self.received_curve.setData(times, np.array([p["received"] for p in trend], dtype=float))
        self.closed_curve.setData(times, np.array([p["closed"] for p in trend], dtype=float))
        x = np.arange(len(districts), dtype=np.float64)
        self.open_bars.setOpts(x=x - 0.18, height=[d["open"] for d in districts])
        self.overdue_bars.setOpts(x=x + 0.18, height=[d["overdue"] for d in districts])
        self.open_plot.getAxis("bottom").setTicks(
            [[(float(i), str(d["name"])) for i, d in enumerate(districts)]]
        )
        categories: dict[str, int] = {}
        for district in districts:
            for category, count in (district.get("by_category") or {}).items():
                categories[category] = categories.get(category, 0) + int(count)
        names = sorted(categories)
        self.category_bars.setOpts(
            x=np.arange(len(names), dtype=np.float64), height=[categories[n] for n in names]
        )
        self.category_plot.getAxis("bottom").setTicks(
            [[(float(i), code_label(n)) for i, n in enumerate(names)]]
        )
        for plot in (self.open_plot, self.category_plot, self.trend_plot):
            plot.enableAutoRange(axis="x")
        daily = [p["received"] for p in trend] + [p["closed"] for p in trend]
        cases = [d["open"] for d in districts] + [d["overdue"] for d in districts]
        show_counts(self.trend_plot, max(daily, default=0))
        show_counts(self.open_plot, max(cases, default=0))
        show_counts(self.category_plot, max(categories.values(), default=0))

    # ---- slots ----------------------------------------------------------------------

    def _on_figures(self, token: int, days: int, reply: Any) -> None:
        if token != self._token:
            return
        try:
            self.set_figures(reply, days)
        except (KeyError, TypeError, ValueError) as exc:
            self.status.setText(tr("The hub sent unusable figures: {detail}", detail=str(exc)))

    def _on_error(self, error: HubError) -> None:
        self.status.setText(error_text(error))

    def _on_period_chosen(self, index: int) -> None:
        self.set_days(int(self.period_combo.itemData(index)))

    def _ask_pdf(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, tr("Export PDF…"), default_report_name() + ".pdf", "PDF (*.pdf)"
        )
        if path:
            self._export(lambda: self.export_pdf(Path(path)))

    def _ask_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, tr("Export PNG…"), default_report_name() + ".png", "PNG (*.png)"
        )
        if path:
            self._export(lambda: self.export_png(Path(path)))

    def _export(self, write: Any) -> None:
        try:
            written = write()
        except OSError as exc:
            self.status.setText(tr("Export failed: {detail}", detail=str(exc)))
            return
        self.status.setText(tr("Saved {path}", path=str(written)))


def _cell(value: object, *, figure: bool = False) -> QTableWidgetItem:
    """A table cell; figures are right-aligned, so that their digits line up."""
    item = QTableWidgetItem(str(value))
    if figure:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item
