"""Colours and translated labels shared by the chart widgets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pyqtgraph as pg
from PySide6.QtGui import QColor, QFontMetricsF
from PySide6.QtWidgets import QApplication, QWidget

from console.charts.model import HOURLY_30D, MINUTE_24H, REALTIME
from console.shell.i18n import format_datetime, tr

# Shading colour (RGBA) of each abnormal HJ 212 flag.
FLAG_COLOURS = {
    "F": (120, 120, 120, 70),
    "M": (40, 110, 220, 60),
    "S": (150, 60, 200, 60),
    "D": (220, 40, 40, 70),
    "C": (30, 160, 90, 60),
    "T": (240, 140, 0, 70),
    "B": (150, 100, 40, 70),
    "?": (230, 80, 160, 60),
}
EVIDENCE_BRUSH = (255, 215, 0, 90)
EVIDENCE_PEN = (220, 120, 0, 220)
LIMIT_PEN = pg.mkPen((200, 30, 30), width=1.5, style=pg.QtCore.Qt.PenStyle.DashLine)
LOWER_LIMIT_PEN = pg.mkPen((200, 120, 30), width=1.5, style=pg.QtCore.Qt.PenStyle.DashLine)
CURVE_COLOURS = [(20, 90, 180), (200, 80, 20), (30, 140, 60), (140, 50, 160), (0, 150, 160)]


def flag_name(flag: str) -> str:
    """Translated meaning of an HJ 212 data flag."""
    names = {
        "N": tr("Normal"),
        "F": tr("Stopped"),
        "M": tr("Maintenance"),
        "S": tr("Manually set"),
        "D": tr("Fault"),
        "C": tr("Calibration"),
        "T": tr("Over range"),
        "B": tr("Communication fault"),
    }
    return names.get(flag, tr("Unknown flag"))


def window_labels() -> list[tuple[str, str]]:
    """(window, translated label) in selector order."""
    return [
        (REALTIME, tr("Real time")),
        (MINUTE_24H, tr("24 h (minute values)")),
        (HOURLY_30D, tr("30 days (hourly values)")),
    ]


def alarm_kind_name(kind: str) -> str:
    names = {
        "exceedance": tr("Exceedance"),
        "sustained_exceedance": tr("Sustained exceedance"),
        "offline": tr("Offline"),
        "instrument_flag": tr("Instrument flag"),
        "quota_warning": tr("Quota warning"),
        "quota_exceeded": tr("Quota exceeded"),
        "monthly_quota_warning": tr("Monthly quota warning"),
        "monthly_quota_exceeded": tr("Monthly quota exceeded"),
        "clock_drift": tr("Clock drift"),
    }
    return names.get(kind, kind)


def local_time(epoch_s: float) -> str:
    """A sample time in the machine's local time zone, as the time axis shows it."""
    return format_datetime(datetime.fromtimestamp(epoch_s), seconds=True)


def format_value(value: float | None) -> str:
    if value is None or value != value:  # NaN: no value was reported
        return "—"
    return f"{value:.4g}"


def flag_legend_html(flags: list[str], *, evidence: bool = False) -> str:
    """Coloured squares with the meaning of each flag present, for the legend label;
    ``evidence``: also the shading of the hours behind an authenticity score."""
    parts = []
    for flag in flags:
        r, g, b, _ = FLAG_COLOURS.get(flag, FLAG_COLOURS["?"])
        colour = QColor(r, g, b).name()
        parts.append(f'<span style="color:{colour}">■</span> {flag} {flag_name(flag)}')
    if evidence:
        r, g, b, _ = EVIDENCE_BRUSH
        parts.append(
            f'<span style="color:{QColor(r, g, b).name()}">■</span> {tr("Suspicious hours")}'
        )
    return "&nbsp;&nbsp;".join(parts)


def style_plot(plot: pg.PlotItem) -> None:
    """Dark axes and a light grid on the white background."""
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen((60, 60, 60)))
        axis.setTextPen(pg.mkPen((30, 30, 30)))
    plot.showGrid(x=True, y=True, alpha=0.15)


def count_step(top: float, ticks: int = 5) -> int:
    """A whole-number tick step (1, 2, 5, 10, 20 …) giving at most about ``ticks`` ticks."""
    decade = 1
    while True:
        for step in (decade, 2 * decade, 5 * decade):
            if top / step <= ticks:
                return step
        decade *= 10


def show_counts(plot: pg.PlotItem, top: float) -> None:
    """A y axis for counts: from zero, whole-number ticks, room above the highest value.
    (Autorange put all-zero bars in the middle of -0.4 … 0.4 and counted in halves.)

    Below zero the axis keeps half a label's height, so that the 0 is labelled too: a label
    reaching past the plot's edge is not drawn. That is pixels, so it is kept on resizes.
    """
    ceiling = max(float(top), 1.0) * 1.1
    axis = plot.getAxis("left")
    step = count_step(ceiling / 1.1)
    axis.setTickSpacing(major=step, minor=step)
    plot.enableAutoRange(axis="y", enable=False)
    view = plot.getViewBox()
    half_label = QFontMetricsF(QApplication.font()).height() / 2 + 1

    def fit(*_args: object) -> None:
        pixels = max(view.height() - half_label, 1.0)  # a plot not laid out yet: at most 10 %
        plot.setYRange(-ceiling * min(half_label / pixels, 0.1), ceiling, padding=0)

    previous = getattr(view, _COUNT_FIT, None)
    if previous is not None:
        view.sigResized.disconnect(previous)
    setattr(view, _COUNT_FIT, fit)
    view.sigResized.connect(fit)
    fit()


_COUNT_FIT = "_console_count_fit"
"""Attribute of a view box holding its count-axis fitting slot (one per view)."""


@contextmanager
def adopt_orphans(owner: QWidget) -> Iterator[list[QWidget]]:
    """Give parentless widgets created inside the block (pyqtgraph's context menus and their
    option forms) to ``owner``, so they die with it instead of lingering as top-level widgets.

    The menus are disabled on our plots (their text is English only); the forms stay
    because pyqtgraph reads its options from them. Yields the adopted widgets.
    """
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    before = {id(w) for w in app.topLevelWidgets()}
    adopted: list[QWidget] = []
    yield adopted
    for widget in app.topLevelWidgets():
        if id(widget) not in before and widget is not owner and widget.parentWidget() is None:
            widget.setParent(owner, widget.windowFlags())
            widget.hide()
            adopted.append(widget)
