"""The dispatch board's one-second countdown tick over a full board: GUI-thread time per tick.

Fills the board with ``--tasks`` tasks (its own limit is 1,000), sorted by time left, shown,
and times one tick both ways, side by side:

- ``column dataChanged``: the model also announces the whole countdown column changed (what
  the board did before), so the filter proxy re-examines and re-sorts every row;
- ``repaint``: ``DispatchBoard.tick``, which announces only rows that crossed their deadline
  and repaints the visible countdowns (they are computed when a cell is painted).

Prints the medians of ``--ticks`` ticks, then ``board_tick: N ms per tick`` (the repaint).
Run with ``QT_QPA_PLATFORM=offscreen`` on a machine without a screen.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from gui_ticks import median_ms
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from console.dispatch.board import DispatchBoard
from console.dispatch.board_model import SORT_ROLE, Column
from console.shell.session import Session


def tasks(count: int) -> list[dict[str, object]]:
    now = datetime.now(UTC)
    return [
        {
            "id": f"T{i:05d}",
            "kind": "verification",
            "state": "assigned",
            "version": 1,
            "urgency": "urgent" if i % 5 == 0 else "normal",
            "category": "water",
            "title": f"河水发黑 {i}",
            "district_adcode": "331002",
            "owner_org_id": "org-331002",
            "assignee_officer_id": f"O{i % 400:05d}",
            "created_at": now.isoformat(),
            "deadline": (now + timedelta(minutes=5 + i)).isoformat(),
        }
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=7)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    board = DispatchBoard(Session())
    board.timer.stop()  # ticks are driven here
    board.model.set_tasks(tasks(args.tasks))
    board.proxy.sort(Column.LEFT, Qt.SortOrder.AscendingOrder)
    board.resize(1000, 600)
    board.show()
    app.processEvents()
    model = board.model

    def column_changed() -> None:
        board.tick()
        model.dataChanged.emit(
            model.index(0, Column.LEFT),
            model.index(model.rowCount() - 1, Column.LEFT),
            [Qt.ItemDataRole.DisplayRole, SORT_ROLE],
        )

    medians = {}
    for name, tick in (("column dataChanged", column_changed), ("repaint", board.tick)):
        medians[name] = median_ms(app, tick, args.ticks)
        print(f"{args.tasks} tasks, board shown, {name}: {medians[name]:.1f} ms")
    print(f"board_tick: {medians['repaint']:.1f} ms per tick")


if __name__ == "__main__":
    main()
