"""Keeps the session in step with the hub link: login, snapshot, events, seats, state.

This is the wiring both the real console (console/app.py) and the tests use, so a
reconnect refreshes exactly what a first login loads.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject

from console.hub.client import CONNECTION_CLOSED, HubError
from console.hub.events import SEATS_CHANGED, WORLD_CHANGED
from console.shell.hub_link import NOT_CONNECTED, HubLink
from console.shell.session import Session


class SessionController(QObject):
    """Feeds ``session`` from ``link``; owns no widgets."""

    def __init__(self, session: Session, link: HubLink, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.link = link
        session.hub = link
        link.sig_state_changed.connect(session.set_connection_state)
        link.sig_logged_in.connect(self._on_logged_in)
        link.sig_snapshot.connect(session.set_snapshot)
        link.sig_events.connect(self._on_events)
        session.set_connection_state(str(link.state))

    def start(self) -> None:
        """Start the link and ask for the topics the shell itself shows."""
        self.link.start()
        self.link.subscribe([SEATS_CHANGED, WORLD_CHANGED])

    def refresh_seats(self) -> None:
        self.link.request("seats.list", on_result=self._on_seats, on_error=self._on_seats_error)

    def _on_logged_in(self, login: dict[str, Any]) -> None:
        self.session.set_login(login)
        self.refresh_seats()

    def _on_events(self, events: list[dict[str, Any]]) -> None:
        self.session.publish_events(events)
        topics = {event.get("topic") for event in events}
        if SEATS_CHANGED in topics:
            self.refresh_seats()
        if WORLD_CHANGED in topics:
            self.link.refresh_snapshot()

    def _on_seats(self, result: Any) -> None:
        seats = result.get("seats", []) if isinstance(result, dict) else result
        self.session.set_seats(list(seats))

    def _on_seats_error(self, error: HubError) -> None:
        # Lost connection between the event and the request: the reconnect refreshes seats.
        if error.code not in (NOT_CONNECTED, CONNECTION_CLOSED):
            self.link.sig_error.emit(error)
