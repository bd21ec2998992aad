"""One pollutant across several outlets on one time axis: the view over ``ComparisonModel``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from console.charts.model import REALTIME, ComparisonModel, OutletDirectory
from console.charts.outlet_chart import SERIES_METHOD
from console.charts.style import CURVE_COLOURS, LIMIT_PEN, adopt_orphans, format_value, style_plot
from console.hub.client import HubError
from console.shell.hub_errors import error_text
from console.shell.i18n import tr
from console.shell.session import Session


class ComparisonChart(QWidget):
    """Curves of pollutant ``code`` for each outlet, with a legend of outlet names."""

    sig_redrawn = Signal()
    """Curves were redrawn (after a reply or an event batch)."""

    def __init__(
        self,
        session: Session,
        code: str,
        outlet_ids: Sequence[str],
        window: str = REALTIME,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.model = ComparisonModel(code, outlet_ids, window)
        directory = OutletDirectory(session.snapshot)
        with adopt_orphans(self):
            self.graphics = pg.PlotWidget(
                parent=self, axisItems={"bottom": pg.DateAxisItem(orientation="bottom")}
            )
        self.graphics.setBackground("w")
        plot = self.graphics.getPlotItem()
        style_plot(plot)
        plot.setMenuEnabled(False)
        plot.setLabel("left", code)
        self.legend = plot.addLegend(offset=(10, 10))
        self.curves: dict[str, pg.PlotDataItem] = {}
        for i, outlet_id in enumerate(outlet_ids):
            curve = plot.plot(
                pen=pg.mkPen(CURVE_COLOURS[i % len(CURVE_COLOURS)], width=1.5),
                name=directory.outlet_title(outlet_id),
                connect="finite",
                clipToView=True,
                autoDownsample=True,
            )
            self.curves[outlet_id] = curve
        self.limit_line = pg.InfiniteLine(angle=0, pen=LIMIT_PEN)
        self.limit_line.hide()
        plot.addItem(self.limit_line, ignoreBounds=True)
        self.status = QLabel()
        layout = QVBoxLayout(self)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.status)

    def request_series(self) -> None:
        """Fetch each outlet's history of the pollutant from the hub."""
        hub = self.session.hub
        if hub is None:
            self.status.setText(tr("Not connected to the hub: showing live values only"))
            return
        for outlet_id in self.model.buffers:
            hub.request(
                SERIES_METHOD,
                {"outlet_id": outlet_id, "window": self.model.window, "codes": [self.model.code]},
                on_result=self._on_series,
                on_error=self._on_error,
            )

    def apply_events(self, events: list[dict[str, Any]]) -> None:
        """Append the pollutant's live values; only changed curves are redrawn."""
        changed = self.model.apply_events(events)
        self._redraw(changed)

    def _redraw(self, outlet_ids: set[str]) -> None:
        if not outlet_ids:
            return
        for outlet_id in outlet_ids:
            buffer = self.model.buffers[outlet_id]
            self.curves[outlet_id].setData(buffer.times, buffer.values)
        limits = {v for v in self.model.limits.values() if v is not None}
        if len(limits) == 1:  # one shared limit is meaningful; different permits are not
            limit = limits.pop()
            self.limit_line.setValue(limit)
            self.limit_line.setToolTip(tr("Limit {value}", value=format_value(limit)))
            self.limit_line.show()
        else:
            self.limit_line.hide()
        self.sig_redrawn.emit()

    def _on_series(self, reply: Any) -> None:
        try:
            self.model.load(reply)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self.status.setText(tr("The hub sent an unusable series: {detail}", detail=str(exc)))
            return
        self._redraw({str(reply["outlet_id"])})

    def _on_error(self, error: HubError) -> None:
        self.status.setText(tr("Could not load the history: {reason}", reason=error_text(error)))
