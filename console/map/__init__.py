"""The dispatcher's map: offline Leaflet page, Python bridge and the ``install`` hook."""

from __future__ import annotations

import os

from console.map.view import MapView
from console.shell.main_window import MainWindow
from console.shell.session import Session

DEBUG_ENV = "ENFORCEMENT_CONSOLE_DEBUG"


def install(window: MainWindow, session: Session) -> MapView:
    """Make the map the window's central widget and wire it to the session.

    Clicking a feature selects it in the session; the selection (from any feature) is
    highlighted on the map; snapshots rebuild the layers; ``officer.moved`` events move
    markers. With ``ENFORCEMENT_CONSOLE_DEBUG=1`` the page's requests are recorded.
    """
    view = MapView(window, record_requests=os.environ.get(DEBUG_ENV) == "1")
    window.setCentralWidget(view)
    view.bridge.sig_feature_clicked.connect(session.select)
    session.sig_selection_changed.connect(view.select)
    session.sig_snapshot_changed.connect(view.set_snapshot)
    session.sig_events.connect(view.apply_events)
    if session.snapshot:
        view.set_snapshot(session.snapshot)
    return view
