"""The shared state UI features talk through (architecture rule 3); it holds no widgets.

A map click selects an enterprise here; the dispatch panel reacts to ``sig_selection_changed``
without knowing the map exists. Setters emit only when the value really changes so
listeners can refresh unconditionally.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:
    from console.shell.hub_link import HubLink


class Session(QObject):
    """User, scope, world snapshot, selection, current task and filters of one console."""

    sig_user_changed = Signal(object)
    """The logged-in user changed (dict from the hub's ``login.ok`` "user", or None)."""

    sig_scope_changed = Signal(object)
    """The user's scope changed: dict ``{"org_id", "districts": [adcodes]}`` or None."""

    sig_snapshot_changed = Signal(object)
    """A new world snapshot (dict from ``world.snapshot``) arrived, e.g. after a reconnect."""

    sig_selection_changed = Signal(str, str)
    """The selection changed to (kind, id); ("", "") means nothing is selected."""

    sig_task_changed = Signal(str)
    """The current task changed to this task id ("" when none)."""

    sig_filters_changed = Signal(object)
    """The filters dict changed (a copy is passed)."""

    sig_connection_changed = Signal(str)
    """The hub connection state changed (a ``ConnectionState`` value)."""

    sig_seats_changed = Signal(object)
    """The list of connected seats (dicts from ``seats.list``) changed."""

    sig_events = Signal(object)
    """A batch (list of dicts) of hub events, in arrival order; one signal per batch."""

    sig_new_complaint_requested = Signal(float, float)
    """The user asked for a new complaint at (lon, lat), WGS84 (e.g. map right-click)."""

    sig_district_values = Signal(object)
    """Per-district figures to colour the map by (choropleth): dict ``{"title": str,
    "values": {adcode: number}}``, e.g. open cases from the leader dashboard; a copy is passed."""

    sig_call_requested = Signal(str, str)
    """The user asked for a video call with (officer_id, task_id); task_id "" when none.
    The video feature places the call; the task receives the call's recording."""

    def __init__(self, hub: HubLink | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # Features send their requests through this link (results come back on the GUI thread).
        self.hub = hub
        self.user: dict[str, Any] | None = None
        self.scope: dict[str, Any] | None = None
        self.snapshot: dict[str, Any] = {}
        self.selection: tuple[str, str] = ("", "")
        self.task_id = ""
        self.filters: dict[str, Any] = {}
        self.connection_state = "disconnected"
        self.seats: list[dict[str, Any]] = []
        self.district_values: dict[str, Any] = {"title": "", "values": {}}

    def set_login(self, login: dict[str, Any]) -> None:
        """Take user and scope from a hub ``login.ok`` message."""
        user = login.get("user")
        scope = login.get("scope")
        if user != self.user:
            self.user = user
            self.sig_user_changed.emit(user)
        if scope != self.scope:
            self.scope = scope
            self.sig_scope_changed.emit(scope)

    def set_snapshot(self, snapshot: dict[str, Any]) -> None:
        """Replace the world snapshot; always emitted, a reconnect may bring the same content."""
        self.snapshot = snapshot
        self.sig_snapshot_changed.emit(snapshot)

    def select(self, kind: str, item_id: str) -> None:
        """Select one thing (kind e.g. "enterprise", "officer", "grid", "task")."""
        if (kind, item_id) != self.selection:
            self.selection = (kind, item_id)
            self.sig_selection_changed.emit(kind, item_id)

    def clear_selection(self) -> None:
        self.select("", "")

    def set_current_task(self, task_id: str) -> None:
        if task_id != self.task_id:
            self.task_id = task_id
            self.sig_task_changed.emit(task_id)

    def set_filter(self, key: str, value: Any) -> None:
        """Set one filter; ``None`` removes it."""
        filters = dict(self.filters)
        if value is None:
            filters.pop(key, None)
        else:
            filters[key] = value
        if filters != self.filters:
            self.filters = filters
            self.sig_filters_changed.emit(dict(filters))

    def set_connection_state(self, state: str) -> None:
        if state != self.connection_state:
            self.connection_state = state
            self.sig_connection_changed.emit(state)

    def set_seats(self, seats: list[dict[str, Any]]) -> None:
        if seats != self.seats:
            self.seats = seats
            self.sig_seats_changed.emit(list(seats))

    def request_new_complaint(self, lon: float, lat: float) -> None:
        """Ask whichever feature takes complaints to start one at this point."""
        self.sig_new_complaint_requested.emit(lon, lat)

    def request_call(self, officer_id: str, task_id: str = "") -> None:
        """Ask the video feature to call an officer (from the roster, the map or a task)."""
        self.sig_call_requested.emit(officer_id, task_id)

    def set_district_values(self, title: str, values: dict[str, float]) -> None:
        """Publish per-district figures (adcode -> number) for the map's choropleth."""
        district_values = {"title": title, "values": dict(values)}
        if district_values != self.district_values:
            self.district_values = district_values
            self.sig_district_values.emit({"title": title, "values": dict(values)})

    def publish_events(self, events: list[dict[str, Any]]) -> None:
        """Pass one batch of hub events on to the features."""
        if events:
            self.sig_events.emit(events)
