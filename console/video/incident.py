"""The emergency incident board: members, proposed cameras, the shared order timeline.

The board holds no incident state of its own beyond the last ``incident.get`` answer: every
change goes to the hub (``incident.*``) and comes back as ``incident.updated`` to every
console in the incident's district, which then reloads, so two seats always show the same
timeline. While "Show on wall" is on, the incident's cameras are held in the first tiles of
every video wall the board is given and the tour pauses; closing the incident (or leaving
it) gives the tiles back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.hub.client import HubError
from console.shell.hub_errors import error_text
from console.shell.i18n import tr
from console.shell.session import Session
from console.video.wall import VideoWall

log = logging.getLogger(__name__)

INCIDENT_UPDATED = "incident.updated"
LEVELS = ("general", "larger", "major", "especially_major")
MEMBER_KINDS = ("task", "squad", "officer", "camera")
ALL = "all"

WallSource = Callable[[], Sequence[VideoWall]]


def level_label(level: str) -> str:
    return {
        "general": tr("General"),
        "larger": tr("Larger"),
        "major": tr("Major"),
        "especially_major": tr("Especially major"),
    }.get(level, level)


def kind_label(kind: str) -> str:
    return {
        "task": tr("Tasks"),
        "squad": tr("Squads"),
        "officer": tr("Officers"),
        "camera": tr("Cameras"),
    }.get(kind, kind)


def _clock(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone().strftime("%H:%M:%S")


def timeline_lines(detail: dict[str, Any]) -> list[tuple[str, int | None]]:
    """The board's timeline text, one line per entry, with the order number of orders."""
    names = {f"{m['kind']}:{m['id']}": str(m.get("name") or m["id"]) for m in detail["members"]}
    acks = {o["seq"]: [a["by"] for a in o["acks"]] for o in detail["orders"]}
    lines: list[tuple[str, int | None]] = []
    for entry in detail["timeline"]:
        time, by, kind = _clock(entry["at"]), entry["by"], entry["kind"]
        if kind == "opened":
            text = tr(
                "{time} {by} opened the incident: {title}", time=time, by=by, title=entry["title"]
            )
            lines.append((text, None))
        elif kind == "linked":
            key = f"{entry['member_kind']}:{entry['member_id']}"
            text = tr(
                "{time} {by} added {name}",
                time=time,
                by=by,
                name=names.get(key, entry["member_id"]),
            )
            lines.append((text, None))
        elif kind == "order":
            to = tr("everyone") if entry["to"] == ALL else names.get(entry["to"], entry["to"])
            text = tr("{time} {by} → {to}: {text}", time=time, by=by, to=to, text=entry["text"])
            acked = acks.get(entry["seq"], [])
            if acked:
                text += tr(" (acknowledged by {names})", names=", ".join(acked))
            lines.append((text, int(entry["seq"])))
        elif kind == "ack":
            text = tr("{time} {by} acknowledged order {seq}", time=time, by=by, seq=entry["seq"])
            lines.append((text, None))
        elif kind == "closed":
            text = tr(
                "{time} {by} closed the incident: {summary}",
                time=time,
                by=by,
                summary=entry.get("summary") or "",
            )
            lines.append((text, None))
    return lines


class IncidentBoard(QWidget):
    """One incident at a time: see the module docstring. ``walls`` gives the video walls to
    hold the incident's cameras on; ``open_wall`` opens the big wall window."""

    def __init__(
        self,
        session: Session,
        *,
        walls: WallSource = tuple,
        open_wall: Callable[[], object] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self._walls = walls
        self._open_wall = open_wall
        self.current: dict[str, Any] | None = None
        self.incidents: list[dict[str, Any]] = []
        self.last_error = ""

        self.picker = QComboBox()
        self.refresh_button = QPushButton(tr("Refresh"))
        self.header = QLabel(tr("No incident selected"))
        self.header.setWordWrap(True)
        self.on_wall = QCheckBox(tr("Show on wall"))
        self.on_wall.setChecked(True)
        self.open_wall_button = QPushButton(tr("Open on wall"))
        self.open_wall_button.setEnabled(open_wall is not None)

        # New incident form.
        self.title_edit = QLineEdit()
        self.level_box = QComboBox()
        for level in LEVELS:
            self.level_box.addItem(level_label(level), level)
        self.lon_box = QDoubleSpinBox()
        self.lat_box = QDoubleSpinBox()
        for box, limit in ((self.lon_box, 180.0), (self.lat_box, 90.0)):
            box.setRange(-limit, limit)
            box.setDecimals(6)
        self.address_edit = QLineEdit()
        self.open_button = QPushButton(tr("Open incident"))
        form_box = QGroupBox(tr("New incident"))
        form = QFormLayout(form_box)
        form.addRow(tr("Title"), self.title_edit)
        form.addRow(tr("Level"), self.level_box)
        form.addRow(tr("Longitude"), self.lon_box)
        form.addRow(tr("Latitude"), self.lat_box)
        form.addRow(tr("Address"), self.address_edit)
        form.addRow(self.open_button)

        self.members = QTreeWidget()
        self.members.setHeaderLabels([tr("Member"), tr("Details")])
        self.call_button = QPushButton(tr("Call officer"))
        self.proposed = QListWidget()
        self.add_camera_button = QPushButton(tr("Add camera"))
        self.timeline = QListWidget()
        self.order_to = QComboBox()
        self.order_text = QLineEdit()
        self.order_text.setPlaceholderText(tr("Order"))
        self.send_button = QPushButton(tr("Send order"))
        self.ack_button = QPushButton(tr("Acknowledge"))
        self.summary_edit = QLineEdit()
        self.summary_edit.setPlaceholderText(tr("Summary of what was done"))
        self.close_button = QPushButton(tr("Close incident"))
        self.status = QLabel()

        top = QHBoxLayout()
        top.addWidget(self.picker, 1)
        top.addWidget(self.refresh_button)
        top.addWidget(self.on_wall)
        top.addWidget(self.open_wall_button)
        left = QWidget()
        left_box = QVBoxLayout(left)
        left_box.setContentsMargins(0, 0, 0, 0)
        left_box.addWidget(QLabel(tr("Members")))
        left_box.addWidget(self.members, 2)
        left_box.addWidget(self.call_button)
        left_box.addWidget(QLabel(tr("Nearby cameras")))
        left_box.addWidget(self.proposed, 1)
        left_box.addWidget(self.add_camera_button)
        right = QWidget()
        right_box = QVBoxLayout(right)
        right_box.setContentsMargins(0, 0, 0, 0)
        right_box.addWidget(QLabel(tr("Orders and events")))
        right_box.addWidget(self.timeline, 1)
        order_row = QHBoxLayout()
        order_row.addWidget(self.order_to)
        order_row.addWidget(self.order_text, 1)
        order_row.addWidget(self.send_button)
        order_row.addWidget(self.ack_button)
        right_box.addLayout(order_row)
        close_row = QHBoxLayout()
        close_row.addWidget(self.summary_edit, 1)
        close_row.addWidget(self.close_button)
        right_box.addLayout(close_row)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 2)
        box = QVBoxLayout(self)
        box.addLayout(top)
        box.addWidget(self.header)
        box.addWidget(splitter, 1)
        box.addWidget(form_box)
        box.addWidget(self.status)

        self.picker.activated.connect(self._picked)
        self.refresh_button.clicked.connect(self.refresh)
        self.on_wall.toggled.connect(lambda _on: self.sync_walls())
        self.open_wall_button.clicked.connect(self._show_on_big_wall)
        self.open_button.clicked.connect(self._open_from_form)
        self.add_camera_button.clicked.connect(self._add_selected_camera)
        self.proposed.itemDoubleClicked.connect(lambda _item: self._add_selected_camera())
        self.call_button.clicked.connect(self._call_selected)
        self.send_button.clicked.connect(self._send_from_form)
        self.ack_button.clicked.connect(self._ack_selected)
        self.close_button.clicked.connect(lambda: self.close_incident(self.summary_edit.text()))
        session.sig_events.connect(self.apply_events)
        session.sig_selection_changed.connect(self._selection_changed)
        session.sig_snapshot_changed.connect(lambda _s: self.refresh())
        self._show()
        if session.snapshot:
            self.refresh()

    # ---- actions (each one request; the answer or the event redraws) ----------------

    def refresh(self) -> None:
        """Reload the list of open incidents and the current one."""
        self._request("incident.list", {"status": "open"}, self._listed)
        if self.current is not None:
            self.show_incident(self.current["incident"]["id"])

    def show_incident(self, incident_id: str) -> None:
        self._request("incident.get", {"incident_id": incident_id}, self._set_detail)

    def open_incident(
        self, title: str, level: str, lon: float, lat: float, address: str = ""
    ) -> None:
        params = {"title": title, "level": level, "lon": lon, "lat": lat, "address": address}
        self._request("incident.open", params, self._opened)

    def link(self, kind: str, member_id: str) -> None:
        self._act("incident.link", {"kind": kind, "id": member_id})

    def give_order(self, to: str, text: str) -> None:
        self._act("incident.order", {"to": to, "text": text})

    def acknowledge(self, seq: int) -> None:
        self._act("incident.ack", {"seq": seq})

    def close_incident(self, summary: str) -> None:
        self._act("incident.close", {"summary": summary})

    def wall_cameras(self) -> list[str]:
        """Camera ids the incident puts on the wall (none once it is closed)."""
        detail = self.current
        if detail is None or detail["incident"]["status"] != "open":
            return []
        return [m["id"] for m in detail["members"] if m["kind"] == "camera"]

    def sync_walls(self) -> None:
        """Hold the incident's cameras on every wall (tour paused), or give the tiles back."""
        cameras = self.wall_cameras() if self.on_wall.isChecked() else []
        for wall in self._walls():
            if cameras:
                wall.hold(cameras)
            else:
                wall.release()

    def apply_events(self, events: list[dict[str, Any]]) -> None:
        """Reload once per batch when an incident changed (ours: the whole board)."""
        changed = [e for e in events if e.get("topic") == INCIDENT_UPDATED]
        if not changed:
            return
        self._request("incident.list", {"status": "open"}, self._listed)
        current = None if self.current is None else self.current["incident"]["id"]
        if any((e.get("data") or {}).get("incident", {}).get("id") == current for e in changed):
            self.show_incident(str(current))

    # ---- answers --------------------------------------------------------------------

    def _listed(self, incidents: list[dict[str, Any]]) -> None:
        self.incidents = incidents
        current = None if self.current is None else self.current["incident"]["id"]
        self.picker.blockSignals(True)
        self.picker.clear()
        for incident in incidents:
            label = f"[{level_label(incident['level'])}] {incident['title']}"
            self.picker.addItem(label, incident["id"])
        if current is not None:
            index = self.picker.findData(current)
            if index >= 0:
                self.picker.setCurrentIndex(index)
        self.picker.blockSignals(False)
        if self.current is None and incidents:
            self.show_incident(str(incidents[0]["id"]))

    def _opened(self, detail: dict[str, Any]) -> None:
        self.title_edit.clear()
        self.address_edit.clear()
        self._set_detail(detail)
        self._request("incident.list", {"status": "open"}, self._listed)

    def _set_detail(self, detail: dict[str, Any]) -> None:
        self.current = detail
        self._show()
        self.sync_walls()

    # ---- drawing --------------------------------------------------------------------

    def _show(self) -> None:
        detail = self.current
        for widget in (self.members, self.proposed, self.timeline):
            widget.clear()
        self.order_to.clear()
        is_open = detail is not None and detail["incident"]["status"] == "open"
        for widget in (
            self.send_button,
            self.ack_button,
            self.close_button,
            self.add_camera_button,
            self.order_text,
            self.summary_edit,
        ):
            widget.setEnabled(is_open)
        self.call_button.setEnabled(detail is not None)
        if detail is None:
            self.header.setText(tr("No incident selected"))
            return
        incident = detail["incident"]
        state = tr("Incident open") if is_open else tr("Incident closed")
        self.header.setText(
            tr(
                "{title} · {level} · {status} · {address}",
                title=incident["title"],
                level=level_label(incident["level"]),
                status=state,
                address=incident["address"] or f"{incident['lon']:.5f}, {incident['lat']:.5f}",
            )
        )
        groups: dict[str, QTreeWidgetItem] = {}
        for kind in MEMBER_KINDS:
            groups[kind] = QTreeWidgetItem(self.members, [kind_label(kind), ""])
        for member in detail["members"]:
            item = QTreeWidgetItem(groups[member["kind"]], [member["name"], self._details(member)])
            item.setData(0, Qt.ItemDataRole.UserRole, f"{member['kind']}:{member['id']}")
        self.members.expandAll()
        for camera in detail["proposed_cameras"]:
            item = QListWidgetItem(
                tr(
                    "{name} ({distance} m)",
                    name=camera["name"],
                    distance=round(camera["distance_m"]),
                )
            )
            item.setData(Qt.ItemDataRole.UserRole, camera["id"])
            self.proposed.addItem(item)
        for text, seq in timeline_lines(detail):
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, seq)
            self.timeline.addItem(item)
        self.timeline.scrollToBottom()
        self.order_to.addItem(tr("everyone"), ALL)
        for member in detail["members"]:
            if member["kind"] in ("squad", "officer"):
                self.order_to.addItem(member["name"], f"{member['kind']}:{member['id']}")

    @staticmethod
    def _details(member: dict[str, Any]) -> str:
        if member["kind"] == "task" and member.get("task"):
            return str(member["task"]["state"])
        if member["kind"] == "camera":
            distance = member.get("distance_m")
            online = tr("no signal") if member.get("online") is False else ""
            return " ".join(p for p in (f"{round(distance)} m" if distance else "", online) if p)
        return ""

    # ---- widgets' handlers ----------------------------------------------------------

    def _picked(self, index: int) -> None:
        incident_id = self.picker.itemData(index)
        if incident_id:
            self.show_incident(str(incident_id))

    def _open_from_form(self) -> None:
        self.open_incident(
            self.title_edit.text(),
            str(self.level_box.currentData()),
            self.lon_box.value(),
            self.lat_box.value(),
            self.address_edit.text(),
        )

    def _add_selected_camera(self) -> None:
        item = self.proposed.currentItem()
        if item is not None:
            self.link("camera", str(item.data(Qt.ItemDataRole.UserRole)))

    def _call_selected(self) -> None:
        item = self.members.currentItem()
        key = "" if item is None else str(item.data(0, Qt.ItemDataRole.UserRole) or "")
        if key.startswith("officer:"):
            self.session.request_call(key.split(":", 1)[1], "")
        else:
            self.status.setText(tr("Select an officer to call"))

    def _send_from_form(self) -> None:
        self.give_order(str(self.order_to.currentData()), self.order_text.text())
        self.order_text.clear()

    def _ack_selected(self) -> None:
        item = self.timeline.currentItem()
        seq = None if item is None else item.data(Qt.ItemDataRole.UserRole)
        if isinstance(seq, int):
            self.acknowledge(seq)
        else:
            self.status.setText(tr("Select an order to acknowledge"))

    def _show_on_big_wall(self) -> None:
        if self._open_wall is not None:
            self._open_wall()
            self.on_wall.setChecked(True)
            self.sync_walls()

    def _selection_changed(self, kind: str, item_id: str) -> None:
        """A selected enterprise is the likely place: put it into the new-incident form."""
        if kind != "enterprise":
            return
        for enterprise in self.session.snapshot.get("enterprises", []):
            if enterprise.get("id") == item_id:
                self.lon_box.setValue(float(enterprise["lon"]))
                self.lat_box.setValue(float(enterprise["lat"]))
                self.address_edit.setText(str(enterprise.get("name", "")))
                return

    # ---- plumbing -------------------------------------------------------------------

    def _act(self, method: str, params: dict[str, Any]) -> None:
        if self.current is None:
            self.status.setText(tr("Open or select an incident first"))
            return
        params = {"incident_id": self.current["incident"]["id"], **params}
        self._request(method, params, self._set_detail)

    def _request(self, method: str, params: dict[str, Any], done: Callable[[Any], None]) -> None:
        hub = self.session.hub
        if hub is None:
            self.status.setText(tr("Not connected to the hub"))
            return

        def ok(result: Any) -> None:
            self.last_error = ""
            self.status.clear()
            done(result)

        def failed(error: HubError) -> None:
            self.last_error = error.code
            log.info("%s refused: %s", method, error)
            self.status.setText(tr("Refused: {reason}", reason=error_text(error)))

        hub.request(method, params, on_result=ok, on_error=failed)
