"""The roster's "last seen" ages ticking over a city's officers: GUI-thread time per tick.

Builds the roster widget with ``--officers`` rows (the Taizhou demo world has 11,164), sorted
by last seen, and times one age tick both ways, side by side, with the table shown and hidden:

- ``column dataChanged``: the model announces the whole column changed (what the roster did
  before), so the filter proxy re-examines every row;
- ``repaint``: ``OfficerRoster.repaint_ages``, a repaint of the visible cells (ages are
  computed when a cell is painted).

Prints the medians of ``--ticks`` ticks, then ``roster_ages: N ms per tick``: the repaint,
table shown. Run with ``QT_QPA_PLATFORM=offscreen`` on a machine without a screen.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from gui_ticks import median_ms
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from console.dispatch.roster import OfficerRoster
from console.shell.session import Session


def rows(count: int) -> list[dict[str, object]]:
    now = datetime.now(UTC)
    return [
        {
            "officer_id": f"O{i:05d}",
            "name": f"网格员{i}",
            "online": i % 3 == 0,
            "last_seen": (now - timedelta(seconds=i % 7200)).isoformat(),
            "battery": 20 + i % 80,
            "duty": "on_duty",
            "current_task_id": None,
            "grid_id": f"331002-{i:04d}",
            "squad_id": None,
        }
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--officers", type=int, default=11_164)
    parser.add_argument("--ticks", type=int, default=7)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    roster = OfficerRoster(Session())
    roster.stop()  # ticks are driven here
    roster.model.set_rows(rows(args.officers))
    roster.table.sortByColumn(2, Qt.SortOrder.DescendingOrder)
    roster.resize(900, 600)
    model = roster.model
    column = model.COLUMNS.index("last_seen")

    def column_changed() -> None:
        model.dataChanged.emit(
            model.index(0, column),
            model.index(model.rowCount() - 1, column),
            [Qt.ItemDataRole.DisplayRole],
        )

    results: dict[tuple[str, bool], float] = {}
    for shown in (False, True):
        if shown:
            roster.show()
            app.processEvents()
        for name, tick in (
            ("column dataChanged", column_changed),
            ("repaint", roster.repaint_ages),
        ):
            results[name, shown] = median_ms(app, tick, args.ticks)
            state = "shown" if shown else "hidden"
            print(f"{args.officers} officers, table {state}, {name}: {results[name, shown]:.1f} ms")
    print(f"roster_ages: {results['repaint', True]:.1f} ms per tick")


if __name__ == "__main__":
    main()
