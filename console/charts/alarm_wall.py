"""Small multiples of the outlets with open alarms: the view over ``AlarmWallModel``.

A card is created when an outlet gets its first open alarm and removed with its last one;
live values only call ``setData`` on the card's sparkline. Clicking a card selects the
outlet in the session, which opens its monitoring curves.
"""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from console.charts.model import AlarmCard, AlarmWallModel, OutletDirectory
from console.charts.style import LIMIT_PEN, adopt_orphans, alarm_kind_name, format_value
from console.hub.client import HubError
from console.shell.alarm_sound import AlarmSound
from console.shell.hub_errors import error_text
from console.shell.i18n import tr
from console.shell.session import Session

ALARMS_METHOD = "alarms.list"
COLUMNS = 3
MAX_CARDS = 30
"""Cards drawn at most, the most severe first; the status line gives the full count. Each card
is a small plot (about 40 ms to build): 600 offline stations froze the console for 45 s."""
SEVERITY_COLOURS = {"critical": "#c62828", "warning": "#ef6c00", "info": "#1565c0"}


class AlarmCardWidget(QFrame):
    """One outlet: title, its alarms and a sparkline of the alarm pollutant."""

    sig_clicked = Signal(str)
    """The card was clicked; carries the outlet id."""

    def __init__(self, outlet_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.outlet_id = outlet_id
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setMinimumWidth(220)
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.alarms = QLabel()
        self.alarms.setWordWrap(True)
        with adopt_orphans(self):
            self.sparkline = pg.PlotWidget(parent=self)
        self.sparkline.setBackground("w")
        self.sparkline.setFixedHeight(60)
        self.sparkline.hideAxis("left")
        self.sparkline.hideAxis("bottom")
        self.sparkline.setMouseEnabled(x=False, y=False)
        self.sparkline.hideButtons()
        self.sparkline.setMenuEnabled(False)
        self.curve = self.sparkline.plot(pen=pg.mkPen((20, 90, 180), width=1.2), connect="finite")
        self.limit_line = pg.InfiniteLine(angle=0, pen=LIMIT_PEN)
        self.sparkline.addItem(self.limit_line)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.title)
        layout.addWidget(self.alarms)
        layout.addWidget(self.sparkline)

    def show_card(self, card: AlarmCard, directory: OutletDirectory) -> None:
        colour = SEVERITY_COLOURS.get(card.severity, "#555555")
        self.setStyleSheet(f"AlarmCardWidget {{ border: 2px solid {colour}; }}")
        self.title.setText(directory.outlet_title(card.outlet_id))
        lines = []
        for alarm in card.ordered_alarms():
            line = alarm_kind_name(str(alarm.get("kind", "")))
            name, unit = directory.pollutant(card.outlet_id, str(alarm.get("pollutant") or ""))
            if alarm.get("pollutant"):
                line += f" {name}"
            if alarm.get("value") is not None:
                line += " " + tr(
                    "{value} (limit {limit})",
                    value=f"{format_value(alarm.get('value'))} {unit}".rstrip(),
                    limit=format_value(alarm.get("limit")),
                )
            lines.append(line)
        self.alarms.setText("\n".join(lines))
        limit = card.limit
        self.limit_line.setVisible(limit is not None)
        if limit is not None:
            self.limit_line.setValue(limit)
        self.show_values(card)

    def show_values(self, card: AlarmCard) -> None:
        self.curve.setData(card.sparkline.times, card.sparkline.values)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() == Qt.MouseButton.LeftButton:
            self.sig_clicked.emit(self.outlet_id)
            event.accept()
            return
        super().mousePressEvent(event)


class AlarmWall(QWidget):
    """Grid of alarm cards, most severe first; fed by alarm and monitoring events."""

    sig_changed = Signal()
    """The wall was updated (cards added, removed or redrawn)."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.model = AlarmWallModel()
        self.alarm_sound = AlarmSound(self)
        self.directory = OutletDirectory(session.snapshot)
        self.cards: dict[str, AlarmCardWidget] = {}
        self.status = QLabel()
        self._grid_host = QWidget()
        self._grid = QGridLayout(self._grid_host)
        self._grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._grid_host)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.status)
        layout.addWidget(scroll, 1)
        self._relayout()

    def set_snapshot(self, snapshot: dict[str, Any]) -> None:
        self.directory = OutletDirectory(snapshot)
        self._relayout()

    def refresh(self) -> None:
        """Load the open alarms from the hub (after login or reconnect)."""
        hub = self.session.hub
        if hub is None:
            return
        hub.request(
            ALARMS_METHOD,
            {"open_only": True, "since": None},
            on_result=self._on_alarms,
            on_error=self._on_error,
        )

    def apply_events(self, events: list[dict[str, Any]]) -> None:
        self.alarm_sound.play_worst(
            [
                str(event["data"].get("severity"))
                for event in events
                if event.get("topic") == "alarm.raised" and isinstance(event.get("data"), dict)
            ]
        )
        structure_changed, redraw = self.model.apply_events(events)
        if structure_changed:
            self._relayout()
            return
        for outlet_id in redraw:
            if outlet_id in self.cards:  # outlets past MAX_CARDS have no card drawn
                self.cards[outlet_id].show_values(self.model.cards[outlet_id])
        if redraw:
            self.sig_changed.emit()

    def _on_alarms(self, alarms: Any) -> None:
        try:
            self.model.load_alarms(alarms)
        except (ValueError, TypeError, AttributeError) as exc:
            self.status.setText(tr("The hub sent unusable alarms: {detail}", detail=str(exc)))
            return
        self._relayout()

    def _on_error(self, error: HubError) -> None:
        self.status.setText(tr("Could not load the alarms: {reason}", reason=error_text(error)))

    def _relayout(self) -> None:
        """Put the cards in severity order; widgets of outlets still shown are reused."""
        alarmed = self.model.ordered()
        ordered = alarmed[:MAX_CARDS]
        for outlet_id in set(self.cards) - {card.outlet_id for card in ordered}:
            gone = self.cards.pop(outlet_id)
            self._grid.removeWidget(gone)
            gone.deleteLater()
        for index, card in enumerate(ordered):
            widget = self.cards.get(card.outlet_id)
            if widget is None:
                widget = AlarmCardWidget(card.outlet_id)
                widget.sig_clicked.connect(self._select)
                self.cards[card.outlet_id] = widget
            widget.show_card(card, self.directory)
            self._grid.addWidget(widget, index // COLUMNS, index % COLUMNS)
        if len(alarmed) > len(ordered):
            status = tr(
                "Outlets with open alarms: {count} (the {shown} most severe shown)",
                count=len(alarmed),
                shown=len(ordered),
            )
        elif alarmed:
            status = tr("Outlets with open alarms: {count}", count=len(alarmed))
        else:
            status = tr("No open alarms")
        self.status.setText(status)
        self.sig_changed.emit()

    def _select(self, outlet_id: str) -> None:
        self.session.select("outlet", outlet_id)
