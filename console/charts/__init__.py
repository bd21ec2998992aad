"""Live monitoring charts: per-outlet curves, the alarm wall and the ``install`` hook.

The data logic lives in ``console.charts.model`` (Qt-free); the widgets draw it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget

from console.charts.alarm_wall import AlarmWall
from console.charts.comparison_chart import ComparisonChart
from console.charts.model import TOPICS
from console.charts.outlet_chart import OutletChart
from console.charts.supervision import SupervisionFeature, install_supervision
from console.shell.i18n import tr
from console.shell.main_window import MainWindow
from console.shell.session import Session

__all__ = ["AlarmWall", "ChartsFeature", "ComparisonChart", "OutletChart", "install"]


@dataclass(frozen=True, slots=True)
class ChartsFeature:
    """What ``install`` added to the window, for the app and tests to reach."""

    chart: OutletChart
    chart_dock: QDockWidget
    wall: AlarmWall
    wall_dock: QDockWidget
    supervision: SupervisionFeature


def install(window: MainWindow, session: Session) -> ChartsFeature:
    """Add the 监测曲线 and 报警墙 docks and wire them to the session.

    Selecting an enterprise or outlet (map click, alarm card …) opens its curves; hub event
    batches feed both docks; each login subscribes to the monitoring topics and reloads the
    open alarms; a reconnect refetches the shown history (the gap is in the database).
    """
    chart = OutletChart(session)
    chart_dock = QDockWidget(tr("Monitoring curves"), window)
    chart_dock.setObjectName("charts.monitoring_curves")
    chart_dock.setWidget(chart)
    window.add_dock(chart_dock, Qt.DockWidgetArea.BottomDockWidgetArea)
    chart_dock.hide()  # opened by a selection
    wall = AlarmWall(session)
    wall_dock = QDockWidget(tr("Alarm wall"), window)
    wall_dock.setObjectName("charts.alarm_wall")
    wall_dock.setWidget(wall)
    window.add_dock(wall_dock, Qt.DockWidgetArea.RightDockWidgetArea, side_tab=True)

    def on_selection(kind: str, item_id: str) -> None:
        if kind == "enterprise":
            chart.show_enterprise(item_id)
        elif kind == "outlet":
            chart.show_outlet(item_id)
        else:
            return
        chart_dock.show()
        chart_dock.raise_()

    def on_snapshot(snapshot: dict[str, Any]) -> None:
        chart.set_snapshot(snapshot)
        wall.set_snapshot(snapshot)
        if session.user is not None:  # every login and reconnect brings a snapshot
            wall.refresh()  # alarms raised or cleared while away

    def on_user(user: dict[str, Any] | None) -> None:
        if user is not None and session.hub is not None:  # logged in: the link is running
            session.hub.subscribe(list(TOPICS))

    def on_connection(state: str) -> None:
        if state == "connected" and chart.model is not None:
            chart.request_series()

    session.sig_selection_changed.connect(on_selection)
    session.sig_snapshot_changed.connect(on_snapshot)
    session.sig_user_changed.connect(on_user)
    session.sig_connection_changed.connect(on_connection)
    session.sig_events.connect(chart.apply_events)
    session.sig_events.connect(wall.apply_events)
    if session.snapshot:
        on_snapshot(session.snapshot)
    on_user(session.user)
    supervision = install_supervision(window, session, chart, chart_dock)
    return ChartsFeature(chart, chart_dock, wall, wall_dock, supervision)
