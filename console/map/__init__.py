"""The dispatcher's map: offline Leaflet page, Python bridge and the ``install`` hook."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from console.hub.client import HubError
from console.map.basemap import load_basemap
from console.map.enterprise_states import ALARM_CLEARED, ALARM_RAISED
from console.map.view import HEAT_WINDOWS_HOURS, LocateFunction, LocateResult, MapView
from console.shell.main_window import MainWindow
from console.shell.session import Session

DEBUG_ENV = "ENFORCEMENT_CONSOLE_DEBUG"
MAP_TOPICS = (
    "officer.moved",
    "complaint.created",
    "task.updated",  # also a new task (its version 1)
    "task.overdue",
    ALARM_RAISED,
    ALARM_CLEARED,
)
"""What the map shows live; subscribed by the map itself, whatever other features do."""
MAP_COMPLAINTS = 2000
"""Complaints loaded at login: those of the longest heat window, newest first, at most this."""
MAP_TASKS = 1000
"""Tasks loaded at login: the board's newest, at most this (the hub's limit is 2,000)."""

log = logging.getLogger(__name__)


def hub_locate(session: Session) -> LocateFunction:
    """A ``LocateFunction`` asking the session's hub (nothing happens while there is none)."""

    def locate(lon: float, lat: float, done: LocateResult) -> None:
        hub = session.hub
        if hub is None:
            return

        def failed(error: HubError) -> None:
            log.warning("locate %.6f, %.6f failed: %s", lon, lat, error)

        hub.request("locate", {"lon": lon, "lat": lat}, on_result=done, on_error=failed)

    return locate


def install(window: MainWindow, session: Session) -> MapView:
    """Make the map the window's central widget and wire it to the session.

    Clicking a feature selects it in the session; the selection and the current task (from
    any feature) are highlighted on the map; a click elsewhere asks the hub's ``locate``;
    "New complaint here" goes to the session for the dispatch feature. Snapshots rebuild
    the layers; hub events move officers and update complaints and tasks; enterprises are
    coloured by their open alarms (loaded at login, then from events) and officers on site
    (``enterprise_states``). The basemap comes
    from ``console.map.basemap.load_basemap``; with ``ENFORCEMENT_CONSOLE_DEBUG=1`` the
    page's requests are recorded.
    """
    view = MapView(
        window,
        record_requests=os.environ.get(DEBUG_ENV) == "1",
        basemap=load_basemap(),
        locate=hub_locate(session),
    )
    window.setCentralWidget(view)
    view.bridge.sig_feature_clicked.connect(session.select)
    view.sig_new_complaint.connect(session.request_new_complaint)
    view.sig_call_requested.connect(session.request_call)
    session.sig_selection_changed.connect(view.select)

    def show_task(task_id: str) -> None:
        if task_id:
            view.select("task", task_id)

    session.sig_task_changed.connect(show_task)
    session.sig_events.connect(view.apply_events)

    def load_live() -> None:
        """What the world snapshot does not hold: complaints of the longest heat window,
        the board's tasks and the open alarms; events keep them current."""
        hub = session.hub
        if hub is None or session.user is None:
            return
        hub.subscribe(list(MAP_TOPICS))
        since = datetime.now(UTC) - timedelta(hours=max(HEAT_WINDOWS_HOURS))
        hub.request(
            "complaints.list",
            {"status": "all", "since": since.isoformat(), "limit": MAP_COMPLAINTS},
            on_result=lambda complaints: view.set_complaints(complaints, replace=True),
            on_error=not_loaded("complaints"),
        )
        hub.request(
            "tasks.board",
            {"queue": "all", "limit": MAP_TASKS},
            on_result=lambda tasks: view.set_tasks(tasks, replace=True),
            on_error=not_loaded("tasks"),
        )
        hub.request(
            "alarms.list",
            {"open_only": True},
            on_result=view.set_open_alarms,
            on_error=not_loaded("alarms"),  # e.g. a hub with online monitoring off
        )

    def not_loaded(what: str) -> Callable[[HubError], None]:
        def failed(error: HubError) -> None:
            log.warning("map: %s not loaded: %s %s", what, error.code, error.detail)

        return failed

    def on_snapshot(snapshot: dict[str, Any]) -> None:
        view.set_snapshot(snapshot)
        load_live()

    session.sig_snapshot_changed.connect(on_snapshot)  # after every login and reconnect
    session.sig_district_values.connect(
        lambda figures: view.set_district_values(figures["title"], figures["values"])
    )
    if session.snapshot:
        view.set_snapshot(session.snapshot)
    return view
