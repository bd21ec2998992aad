"""The summary view shown in the centre until the map exists: districts and their counts.

The counting is a plain function over the snapshot dict; the Qt model only presents it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from console.shell.i18n import tr
from console.shell.session import Session

_Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True, slots=True)
class DistrictCounts:
    adcode: str
    name: str
    grids: int
    officers: int
    squads: int
    enterprises: int


def district_counts(snapshot: dict[str, Any]) -> list[DistrictCounts]:
    """Grids, officers, squads and enterprises per district of a ``world.snapshot`` dict."""
    counters = {
        kind: Counter(str(item.get("district_adcode", "")) for item in snapshot.get(kind, ()))
        for kind in ("grids", "officers", "squads", "enterprises")
    }
    return [
        DistrictCounts(
            adcode=str(district["adcode"]),
            name=str(district.get("name", "")),
            grids=counters["grids"][str(district["adcode"])],
            officers=counters["officers"][str(district["adcode"])],
            squads=counters["squads"][str(district["adcode"])],
            enterprises=counters["enterprises"][str(district["adcode"])],
        )
        for district in snapshot.get("districts", ())
    ]


def city_name(snapshot: dict[str, Any]) -> str:
    """The city of the snapshot (``{"city": {"name"}}``), else the city organisation's name."""
    city = snapshot.get("city")
    if isinstance(city, dict) and city.get("name"):
        return str(city["name"])
    for org in snapshot.get("organisations", ()):
        if org.get("level") == "city":
            return str(org.get("name", ""))
    return ""


class DistrictSummaryModel(QAbstractTableModel):
    """Table model over ``district_counts``: one row per district."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[DistrictCounts] = []
        self._headers = [
            tr("District"),
            tr("Adcode"),
            tr("Grids"),
            tr("Officers"),
            tr("Squads"),
            tr("Enterprises"),
        ]

    def set_rows(self, rows: list[DistrictCounts]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._headers)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        values = (row.name, row.adcode, row.grids, row.officers, row.squads, row.enterprises)
        if role == Qt.ItemDataRole.DisplayRole:
            return values[index.column()]
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() >= 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self._headers[section]
        return None


class SummaryView(QWidget):
    """City title plus the district table; refreshed whenever the session gets a snapshot."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel(tr("Waiting for the world snapshot…"))
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.title.setFont(font)
        self.model = DistrictSummaryModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.table)
        session.sig_snapshot_changed.connect(self._show)
        if session.snapshot:
            self._show(session.snapshot)

    def _show(self, snapshot: dict[str, Any]) -> None:
        rows = district_counts(snapshot)
        self.model.set_rows(rows)
        self.title.setText(
            tr(
                "{city}: {districts} districts, {grids} grids, {enterprises} key enterprises",
                city=city_name(snapshot) or tr("Unknown city"),
                districts=len(rows),
                grids=len(snapshot.get("grids", ())),
                enterprises=len(snapshot.get("enterprises", ())),
            )
        )
