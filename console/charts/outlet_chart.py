"""Live chart of every pollutant of one outlet: the view over ``OutletSeriesModel``.

One plot per pollutant with linked time axes in local time, permit limit lines (and the
lower limit for pH), shaded spans of abnormal data flags, evidence highlighting and a
crosshair readout. Live values are appended to the model's ring buffers and each changed
curve gets one ``setData`` per event batch; no item is created per data point.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import QPointF, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from console.charts.model import (
    WINDOW_SPAN_S,
    OutletDirectory,
    OutletSeriesModel,
    PollutantSeries,
    check_window,
    flag_spans,
)
from console.charts.style import (
    CURVE_COLOURS,
    EVIDENCE_BRUSH,
    EVIDENCE_PEN,
    FLAG_COLOURS,
    LIMIT_PEN,
    LOWER_LIMIT_PEN,
    adopt_orphans,
    flag_legend_html,
    flag_name,
    format_value,
    local_time,
    style_plot,
    window_labels,
)
from console.hub.client import HubError
from console.shell.hub_errors import error_text
from console.shell.hub_link import NOT_CONNECTED
from console.shell.i18n import tr
from console.shell.session import Session

SERIES_METHOD = "monitoring.series"
MAX_SHADED_SPANS = 500  # per plot; more would only be slivers at any sensible zoom

TimeLike = float | datetime


def _epoch(moment: TimeLike) -> float:
    return moment.timestamp() if isinstance(moment, datetime) else float(moment)


class _RegionPool:
    """Shaded x-ranges on one plot, reusing their items between updates."""

    def __init__(self, plot: pg.PlotItem, z: float) -> None:
        self._plot = plot
        self._z = z
        self.items: list[pg.LinearRegionItem] = []

    def show(
        self, spans: Sequence[tuple[float, float, tuple[int, ...], tuple[int, ...] | None]]
    ) -> None:
        """Show (start, end, brush RGBA, pen RGBA or None) ranges; extra items are hidden."""
        for i, (start, end, brush, pen) in enumerate(spans):
            if i == len(self.items):
                item = pg.LinearRegionItem(movable=False)
                item.setZValue(self._z)
                for line in item.lines:
                    line.setHoverPen(None)
                self._plot.addItem(item, ignoreBounds=True)
                self.items.append(item)
            item = self.items[i]
            item.setRegion((start, end))
            item.setBrush(pg.mkBrush(brush))
            item.setHoverBrush(pg.mkBrush(brush))
            for line in item.lines:
                line.setPen(pg.mkPen(pen) if pen is not None else pg.mkPen(None))
            item.show()
        for item in self.items[len(spans) :]:
            item.hide()

    def visible_count(self) -> int:
        return sum(1 for item in self.items if item.isVisible())


class PollutantPlot:
    """The items of one pollutant's plot: curve, limit lines, shading, crosshair."""

    def __init__(
        self, plot: pg.PlotItem, series: PollutantSeries, colour: tuple[int, int, int]
    ) -> None:
        self.plot = plot
        self.code = series.code
        self.curve = pg.PlotDataItem(
            pen=pg.mkPen(colour, width=1.5),
            connect="finite",  # a missing value is a gap, not a line to zero
            clipToView=True,
            autoDownsample=True,
            downsampleMethod="peak",
        )
        plot.addItem(self.curve)
        self.limit_line = pg.InfiniteLine(angle=0, pen=LIMIT_PEN, movable=False)
        self.lower_line = pg.InfiniteLine(angle=0, pen=LOWER_LIMIT_PEN, movable=False)
        for line in (self.limit_line, self.lower_line):
            line.hide()
            plot.addItem(line, ignoreBounds=True)
        self.flag_regions = _RegionPool(plot, z=-20)
        self.evidence_regions = _RegionPool(plot, z=-10)
        self.crosshair = pg.InfiniteLine(angle=90, pen=pg.mkPen((90, 90, 90), width=1))
        self.crosshair.hide()
        plot.addItem(self.crosshair, ignoreBounds=True)
        self.flags_shown: list[str] = []

    def update(self, series: PollutantSeries) -> None:
        """Redraw from the series' ring buffer (one setData, shading items reused)."""
        buffer = series.buffer
        self.curve.setData(buffer.times, buffer.values)
        self.plot.setLabel("left", series.label)
        for line, value, text in (
            (self.limit_line, series.limit, tr("Limit {value}", value=format_value(series.limit))),
            (
                self.lower_line,
                series.lower_limit,
                tr("Lower limit {value}", value=format_value(series.lower_limit)),
            ),
        ):
            if value is None:
                line.hide()
                continue
            line.setValue(value)
            line.setToolTip(text)
            line.show()
        spans = flag_spans(buffer.times, buffer.flags)[-MAX_SHADED_SPANS:]
        self.flag_regions.show(
            [(s.start, s.end, FLAG_COLOURS.get(s.flag, FLAG_COLOURS["?"]), None) for s in spans]
        )
        self.flags_shown = sorted({s.flag for s in spans})

    def y_bounds(self, series: PollutantSeries, x_min: float) -> tuple[float, float] | None:
        """Y range showing the data after ``x_min`` and the limit lines."""
        times, values = series.buffer.times, series.buffer.values
        visible = values[times >= x_min]
        finite = visible[np.isfinite(visible)]
        bounds = [float(finite.min()), float(finite.max())] if len(finite) else []
        bounds += [v for v in (series.limit, series.lower_limit) if v is not None]
        if not bounds:
            return None
        low, high = min(bounds), max(bounds)
        pad = (high - low) * 0.08 or max(abs(high) * 0.1, 1.0)
        return low - pad, high + pad


class OutletChart(QWidget):
    """Monitoring curves of one outlet, with window selector, readout and evidence spans."""

    sig_series_requested = Signal(str, str)
    """A ``monitoring.series`` request went to the hub for (outlet_id, window)."""

    sig_redrawn = Signal()
    """The plots were redrawn from the model (after a reply or an event batch)."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.directory = OutletDirectory(session.snapshot)
        self.model: OutletSeriesModel | None = None
        self.plots: dict[str, PollutantPlot] = {}
        self.follow = True  # keep the newest data in view until the user zooms or pans
        self._evidence: list[tuple[float, float]] = []
        self._request_token = 0
        self._adjusting_range = False
        self._plot_widgets: list[QWidget] = []
        self._build()

    # ---- construction ---------------------------------------------------------------

    def _build(self) -> None:
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold;")
        self.outlet_combo = QComboBox()
        self.outlet_combo.setToolTip(tr("Outlet"))
        self.outlet_combo.activated.connect(self._on_outlet_chosen)
        self.window_combo = QComboBox()
        self.window_combo.setToolTip(tr("Time window"))
        for window, label in window_labels():
            self.window_combo.addItem(label, window)
        self.window_combo.activated.connect(self._on_window_chosen)
        self.follow_button = QToolButton()
        self.follow_button.setText(tr("Follow latest"))
        self.follow_button.setCheckable(True)
        self.follow_button.setChecked(True)
        self.follow_button.toggled.connect(self.set_follow)
        bar = QHBoxLayout()
        bar.addWidget(self.title, 1)
        bar.addWidget(self.outlet_combo)
        bar.addWidget(self.window_combo)
        bar.addWidget(self.follow_button)
        self.legend = QLabel()
        self.readout = QLabel()
        self.status = QLabel()
        self.status.setStyleSheet("color: #8a5a00;")
        with adopt_orphans(self):
            self.graphics = pg.GraphicsLayoutWidget(parent=self)
        self.graphics.setBackground("w")
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.legend)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.readout)
        layout.addWidget(self.status)
        self.title.setText(tr("No outlet selected"))

    # ---- public API -----------------------------------------------------------------

    @property
    def current_window(self) -> str:
        """The time window shown (``QWidget.window`` is the top-level widget, hence the name)."""
        return self.model.window if self.model is not None else str(self.window_combo.currentData())

    def set_snapshot(self, snapshot: Mapping[str, Any]) -> None:
        """New world snapshot: names and permit limits come from it."""
        self.directory = OutletDirectory(snapshot)

    def show_enterprise(self, enterprise_id: str) -> None:
        """Chart the enterprise's first outlet; the combo box offers the others."""
        outlets = self.directory.outlets_of(enterprise_id)
        if not outlets:
            self.status.setText(tr("This enterprise has no monitored outlet"))
            return
        self.show_outlet(str(outlets[0]["id"]))

    def show_outlet(self, outlet_id: str, window: str | None = None) -> None:
        """Chart ``outlet_id`` in ``window`` (default: the selected one) and fetch its history."""
        window = check_window(window or str(self.window_combo.currentData()))
        enterprise_id = self.directory.owner.get(outlet_id, "")
        self._fill_outlet_combo(enterprise_id, outlet_id)
        self.window_combo.setCurrentIndex(self.window_combo.findData(window))
        model = OutletSeriesModel(outlet_id, window, enterprise_id)
        outlet = self.directory.outlets.get(outlet_id)
        if outlet is not None:
            model.set_limits(outlet.get("limits", []))
        self.model = model
        self.title.setText(self.directory.outlet_title(outlet_id))
        self.set_follow(True)
        self._rebuild_plots()
        self.request_series()

    def set_window(self, window: str) -> None:
        """Switch between real time, 24 h of minute values and 30 days of hourly values."""
        check_window(window)
        if self.model is None:
            self.window_combo.setCurrentIndex(self.window_combo.findData(window))
            return
        if window != self.model.window:
            self.show_outlet(self.model.outlet_id, window)

    def request_series(self) -> None:
        """Ask the hub for the current outlet's history in the current window."""
        model = self.model
        if model is None:
            return
        hub = self.session.hub
        if hub is None:
            self.status.setText(tr("Not connected to the hub: showing live values only"))
            return
        self._request_token += 1
        token = self._request_token
        self.status.setText(tr("Loading history…"))
        hub.request(
            SERIES_METHOD,
            {"outlet_id": model.outlet_id, "window": model.window, "codes": None},
            on_result=lambda reply: self._on_series(token, reply),
            on_error=lambda error: self._on_series_error(token, error),
        )
        self.sig_series_requested.emit(model.outlet_id, model.window)

    def apply_events(self, events: list[dict[str, Any]]) -> None:
        """Append a batch of hub events (only this outlet's ``monitoring.data`` counts)."""
        model = self.model
        if model is None:
            return
        known = set(self.plots)
        changed = model.apply_events(events)
        if not changed:
            return
        if not changed <= known:
            self._rebuild_plots()
            return
        for code in changed:
            self.plots[code].update(model.series[code])
        self._after_update()

    def highlight_hours(self, spans: Sequence[tuple[TimeLike, TimeLike]]) -> None:
        """Mark evidence periods (e.g. the hours behind an authenticity score) on every plot."""
        evidence = []
        for start, end in spans:
            begin, finish = _epoch(start), _epoch(end)
            if not finish > begin:
                raise ValueError(f"evidence span must end after it starts: {start!r} .. {end!r}")
            evidence.append((begin, finish))
        self._evidence = evidence
        self._draw_evidence()
        self._update_legend()

    def readout_at(self, code: str, t: float) -> str:
        """Crosshair text for pollutant ``code`` near time ``t``: time, value, flag and limit."""
        if self.model is None or code not in self.model.series:
            return ""
        series = self.model.series[code]
        sample = series.sample_at(t)
        if sample is None:
            return tr("{name}: no data", name=series.label)
        when, value, flag = sample
        text = tr(
            "{time}  {name}: {value}  flag {flag} ({meaning})",
            time=local_time(when),
            name=series.label,
            value=format_value(value),
            flag=flag,
            meaning=flag_name(flag),
        )
        if series.limit is not None:
            text += "  " + tr("limit {limit}", limit=format_value(series.limit))
        if series.lower_limit is not None:
            text += "  " + tr("lower limit {limit}", limit=format_value(series.lower_limit))
        return text

    def set_follow(self, follow: bool) -> None:
        """Keep the newest data in view (True) or leave the range where the user put it."""
        self.follow = follow
        if self.follow_button.isChecked() != follow:
            self.follow_button.setChecked(follow)
        if follow:
            self._after_update()

    # ---- drawing --------------------------------------------------------------------

    def _rebuild_plots(self) -> None:
        self.graphics.clear()
        self.plots = {}
        for widget in self._plot_widgets:  # the menus and option forms of the removed plots
            if shiboken6.isValid(widget):  # a form may already have gone with its menu
                widget.deleteLater()
        self._plot_widgets = []
        model = self.model
        if model is None:
            return
        with adopt_orphans(self) as adopted:
            self._add_plots(model)
        self._plot_widgets = adopted
        self._draw_evidence()
        self._after_update()

    def _add_plots(self, model: OutletSeriesModel) -> None:
        first: pg.PlotItem | None = None
        codes = model.codes()
        for row, code in enumerate(codes):
            plot = self.graphics.addPlot(
                row=row, col=0, axisItems={"bottom": pg.DateAxisItem(orientation="bottom")}
            )
            style_plot(plot)
            plot.setMenuEnabled(False)  # English-only; zoom and pan stay on the mouse
            plot.getAxis("left").setWidth(70)
            plot.setMouseEnabled(x=True, y=True)
            if first is None:
                first = plot
            else:
                plot.setXLink(first)
            if row < len(codes) - 1:
                plot.getAxis("bottom").setStyle(showValues=False)
            plot.getViewBox().sigRangeChangedManually.connect(self._on_manual_range)
            colour = CURVE_COLOURS[row % len(CURVE_COLOURS)]
            pollutant_plot = PollutantPlot(plot, model.series[code], colour)
            pollutant_plot.update(model.series[code])
            self.plots[code] = pollutant_plot

    def _draw_evidence(self) -> None:
        spans = [(s, e, EVIDENCE_BRUSH, EVIDENCE_PEN) for s, e in self._evidence]
        for plot in self.plots.values():
            plot.evidence_regions.show(spans)

    def _update_legend(self) -> None:
        flags = sorted({flag for plot in self.plots.values() for flag in plot.flags_shown})
        evidence = bool(self._evidence)
        self.legend.setText(flag_legend_html(flags, evidence=evidence))
        self.legend.setVisible(bool(flags) or evidence)

    def _after_update(self) -> None:
        """Refresh the legend and, when following, scroll to the newest data."""
        self._update_legend()
        model = self.model
        if self.follow and model is not None and self.plots:
            bounds = model.time_range()
            if bounds is not None:
                latest = bounds[1]
                start = max(bounds[0], latest - WINDOW_SPAN_S[model.window])
                end = latest if latest > start else start + 60.0
                self._adjusting_range = True
                try:
                    first = next(iter(self.plots.values()))
                    first.plot.setXRange(start, end, padding=0.01)
                    for code, plot in self.plots.items():
                        y = plot.y_bounds(model.series[code], start)
                        if y is not None:
                            plot.plot.setYRange(*y, padding=0)
                finally:
                    self._adjusting_range = False
        self.sig_redrawn.emit()

    # ---- slots ----------------------------------------------------------------------

    def _fill_outlet_combo(self, enterprise_id: str, outlet_id: str) -> None:
        self.outlet_combo.clear()
        outlets = self.directory.outlets_of(enterprise_id)
        for outlet in outlets:
            self.outlet_combo.addItem(str(outlet.get("name", outlet["id"])), str(outlet["id"]))
        if not outlets:
            self.outlet_combo.addItem(outlet_id, outlet_id)
        self.outlet_combo.setCurrentIndex(max(0, self.outlet_combo.findData(outlet_id)))
        self.outlet_combo.setVisible(len(outlets) > 1)

    def _on_outlet_chosen(self, index: int) -> None:
        outlet_id = self.outlet_combo.itemData(index)
        if outlet_id and (self.model is None or outlet_id != self.model.outlet_id):
            self.show_outlet(str(outlet_id))

    def _on_window_chosen(self, index: int) -> None:
        self.set_window(str(self.window_combo.itemData(index)))

    def _on_manual_range(self, *_: object) -> None:
        if not self._adjusting_range:
            self.set_follow(False)

    def _on_series(self, token: int, reply: Any) -> None:
        model = self.model
        if token != self._request_token or model is None:
            return  # an answer for an outlet or window no longer shown
        try:
            model.load(reply)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self.status.setText(tr("The hub sent an unusable series: {detail}", detail=str(exc)))
            return
        self.status.setText("")
        self._rebuild_plots()

    def _on_series_error(self, token: int, error: HubError) -> None:
        if token != self._request_token:
            return
        if error.code == NOT_CONNECTED:
            self.status.setText(tr("Not connected to the hub: showing live values only"))
        else:
            self.status.setText(
                tr("Could not load the history: {reason}", reason=error_text(error))
            )

    def _on_mouse_moved(self, position: QPointF) -> None:
        model = self.model
        if model is None:
            return
        for code, plot in self.plots.items():
            if plot.plot.sceneBoundingRect().contains(position):
                x = plot.plot.getViewBox().mapSceneToView(position).x()
                if not math.isfinite(x):
                    return
                for other in self.plots.values():
                    other.crosshair.setValue(x)
                    other.crosshair.show()
                self.readout.setText(self.readout_at(code, x))
                return
