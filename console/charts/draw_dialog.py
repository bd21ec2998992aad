"""The double-random draw dialog (双随机): edit a plan, run it in the hub, publish and verify.

The plan editor writes the plan JSON of ``docs/draw.md`` (checked here with the same parser
the hub uses, so a mistake is named before anything is sent). ``draw.run`` draws over the
user's scope and creates one inspection task per selected enterprise; the dialog shows the
record (seed, input digests, selections), saves it as JSON for publication or as a printable
PDF, and ``draw.verify`` re-runs any record, this one or one loaded from a file.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from console.charts.enterprise_file import district_names
from console.charts.report import write_pdf
from console.core.draw import MIN_INSPECTORS, DrawError, DrawPlan
from console.hub.client import HubError
from console.shell.hub_errors import error_text
from console.shell.i18n import tr
from console.shell.session import Session

RUN_METHOD = "draw.run"
VERIFY_METHOD = "draw.verify"
KEY_FILTERS = ("key", "other", "all")
NAME, FILTER, MODE, VALUE = range(4)


def record_html(record: Mapping[str, Any], districts: Mapping[str, str]) -> str:
    """The printable form of a draw record (pure function of the record JSON)."""

    def e(value: Any) -> str:
        return html.escape(str(value))

    inputs = record.get("inputs", {})
    facts = [
        (tr("Plan"), record.get("plan", {}).get("name", "")),
        (tr("Seed"), record.get("seed", "")),
        (tr("Algorithm"), record.get("algorithm", "")),
        (
            tr("Enterprise register"),
            tr(
                "{size} entries, SHA-256 {digest}",
                size=inputs.get("register", {}).get("size", ""),
                digest=inputs.get("register", {}).get("sha256", ""),
            ),
        ),
        (
            tr("Inspector pool"),
            tr(
                "{size} entries, SHA-256 {digest}",
                size=inputs.get("pool", {}).get("size", ""),
                digest=inputs.get("pool", {}).get("sha256", ""),
            ),
        ),
        (tr("Drawn at"), record.get("created_at", "")),
        (tr("Record digest"), record.get("record_digest", "")),
    ]
    categories = "".join(
        f"<tr><td>{e(c['name'])}</td><td>{e(c['population'])}</td><td>{e(c['selected'])}</td></tr>"
        for c in record.get("categories", [])
    )
    selections = "".join(
        "<tr>"
        + f"<td>{index}</td><td>{e(s['enterprise_name'])}</td>"
        + f"<td>{e(districts.get(str(s.get('district')), s.get('district', '')))}</td>"
        + f"<td>{e(s['category'])}</td>"
        + "<td>"
        + e("、".join(f"{i['name']} ({i['badge_no']})" for i in s.get("inspectors", [])))
        + "</td></tr>"
        for index, s in enumerate(record.get("selections", []), start=1)
    )
    return "\n".join(
        [
            f"<h1>{e(tr('Double-random inspection draw'))}</h1>",
            "<table cellpadding='2'>"
            + "".join(f"<tr><th align='left'>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in facts)
            + "</table>",
            f"<h2>{e(tr('Categories'))}</h2>",
            "<table border='1' cellspacing='0' cellpadding='3'><tr>"
            + f"<th>{e(tr('Category'))}</th><th>{e(tr('Population'))}</th>"
            + f"<th>{e(tr('Selected'))}</th></tr>{categories}</table>",
            f"<h2>{e(tr('Selected enterprises and inspectors'))}</h2>",
            "<table border='1' cellspacing='0' cellpadding='3'><tr>"
            + f"<th>#</th><th>{e(tr('Enterprise'))}</th><th>{e(tr('District'))}</th>"
            + f"<th>{e(tr('Category'))}</th><th>{e(tr('Inspectors'))}</th></tr>"
            + f"{selections}</table>",
        ]
    )


class DrawDialog(QDialog):
    """Plan editor, draw, record view, save and verify."""

    sig_drawn = Signal(object)
    """``draw.run`` answered: the dict ``{"record", "tasks"}``."""

    sig_verified = Signal(object)
    """``draw.verify`` answered: the dict ``{"equal", "differences"}``."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.record: dict[str, Any] | None = None
        self.task_ids: list[str] = []
        self.setWindowTitle(tr("Double-random inspection draw"))
        self.resize(900, 700)
        self._build()
        self.add_category(tr("Key enterprises"), "key", "ratio", 0.2)
        self.add_category(tr("Other enterprises"), "all", "ratio", 0.05)

    # ---- construction ---------------------------------------------------------------

    def _build(self) -> None:
        self.name_edit = QLineEdit(tr("Random inspection"))
        self.inspectors_spin = QSpinBox()
        self.inspectors_spin.setRange(MIN_INSPECTORS, 6)
        self.seed_edit = QLineEdit()
        self.seed_edit.setPlaceholderText(tr("Empty: the hub generates a seed"))
        form = QFormLayout()
        form.addRow(tr("Plan name"), self.name_edit)
        form.addRow(tr("Inspectors per enterprise"), self.inspectors_spin)
        form.addRow(tr("Seed"), self.seed_edit)
        self.categories = QTableWidget(0, 4)
        self.categories.setHorizontalHeaderLabels(
            [tr("Category"), tr("Enterprises"), tr("Draw by"), tr("Ratio or count")]
        )
        self.categories.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.categories.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        add = QPushButton(tr("Add category"))
        add.clicked.connect(lambda: self.add_category(tr("Category"), "all", "count", 1))
        remove = QPushButton(tr("Remove category"))
        remove.clicked.connect(self._remove_category)
        self.run_button = QPushButton(tr("Run draw"))
        self.run_button.clicked.connect(self.run_draw)
        self.save_json_button = QPushButton(tr("Save record (JSON)…"))
        self.save_json_button.clicked.connect(self._ask_save_json)
        self.save_pdf_button = QPushButton(tr("Save printable (PDF)…"))
        self.save_pdf_button.clicked.connect(self._ask_save_pdf)
        self.verify_button = QPushButton(tr("Verify record"))
        self.verify_button.clicked.connect(self.verify)
        load = QPushButton(tr("Load record and verify…"))
        load.clicked.connect(self._ask_load)
        for button in (self.save_json_button, self.save_pdf_button, self.verify_button):
            button.setEnabled(False)
        plan_bar = QHBoxLayout()
        plan_bar.addWidget(add)
        plan_bar.addWidget(remove)
        plan_bar.addStretch(1)
        plan_bar.addWidget(self.run_button)
        record_bar = QHBoxLayout()
        record_bar.addWidget(self.save_json_button)
        record_bar.addWidget(self.save_pdf_button)
        record_bar.addStretch(1)
        record_bar.addWidget(self.verify_button)
        record_bar.addWidget(load)
        self.record_view = QTextBrowser()
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.categories, 1)
        layout.addLayout(plan_bar)
        layout.addWidget(self.record_view, 2)
        layout.addLayout(record_bar)
        layout.addWidget(self.status)

    # ---- plan -----------------------------------------------------------------------

    def add_category(self, name: str, enterprises: str, mode: str, value: float) -> None:
        """Append a category row: enterprises "key" | "other" | "all", mode "ratio" | "count"."""
        if enterprises not in KEY_FILTERS or mode not in ("ratio", "count"):
            raise ValueError(f"unknown category filter {enterprises!r} or mode {mode!r}")
        row = self.categories.rowCount()
        self.categories.insertRow(row)
        self.categories.setItem(row, NAME, QTableWidgetItem(name))
        which = QComboBox()
        for key, label in zip(
            KEY_FILTERS,
            (tr("Key enterprises"), tr("Non-key enterprises"), tr("All remaining")),
            strict=True,
        ):
            which.addItem(label, key)
        which.setCurrentIndex(KEY_FILTERS.index(enterprises))
        self.categories.setCellWidget(row, FILTER, which)
        how = QComboBox()
        how.addItem(tr("Ratio"), "ratio")
        how.addItem(tr("Count"), "count")
        how.setCurrentIndex(0 if mode == "ratio" else 1)
        self.categories.setCellWidget(row, MODE, how)
        amount = QDoubleSpinBox()
        amount.setRange(0.0, 10000.0)
        amount.setDecimals(2)
        amount.setValue(value)
        self.categories.setCellWidget(row, VALUE, amount)

    def plan_json(self) -> dict[str, Any]:
        """The plan as ``draw.run`` takes it; raises ``DrawError`` naming what is wrong."""
        categories = []
        for row in range(self.categories.rowCount()):
            name_item = self.categories.item(row, NAME)
            which = self.categories.cellWidget(row, FILTER)
            how = self.categories.cellWidget(row, MODE)
            amount = self.categories.cellWidget(row, VALUE)
            assert isinstance(which, QComboBox)
            assert isinstance(how, QComboBox)
            assert isinstance(amount, QDoubleSpinBox)
            category: dict[str, Any] = {"name": name_item.text().strip() if name_item else ""}
            key_filter = which.currentData()
            if key_filter != "all":
                category["key"] = key_filter == "key"
            if how.currentData() == "ratio":
                category["ratio"] = f"{amount.value():.2f}"
            else:
                if amount.value() != int(amount.value()):
                    raise DrawError(
                        f"category {category['name']!r}: a count must be a whole number"
                    )
                category["count"] = int(amount.value())
            categories.append(category)
        plan: dict[str, Any] = {
            "name": self.name_edit.text().strip(),
            "categories": categories,
            "inspectors_per_enterprise": self.inspectors_spin.value(),
        }
        if self.seed_edit.text().strip():
            plan["seed"] = self.seed_edit.text().strip()
        DrawPlan.from_json(plan)  # the hub's own parser: same errors, before sending
        return plan

    # ---- actions --------------------------------------------------------------------

    def run_draw(self) -> None:
        """Check the plan and ask the hub to draw."""
        try:
            plan = self.plan_json()
        except DrawError as exc:
            self.status.setText(tr("The plan is not valid: {detail}", detail=str(exc)))
            return
        hub = self.session.hub
        if hub is None:
            self.status.setText(tr("Not connected to the hub"))
            return
        self.run_button.setEnabled(False)
        self.status.setText(tr("Drawing…"))
        hub.request(RUN_METHOD, {"plan": plan}, on_result=self._on_drawn, on_error=self._on_error)

    def show_record(self, record: Mapping[str, Any]) -> None:
        """Show a record (drawn now or loaded) and allow saving and verifying it."""
        self.record = dict(record)
        self.record_view.setHtml(record_html(record, district_names(self.session.snapshot)))
        for button in (self.save_json_button, self.save_pdf_button, self.verify_button):
            button.setEnabled(True)

    def verify(self) -> None:
        """Ask the hub to re-run the shown record."""
        hub = self.session.hub
        if self.record is None:
            return
        if hub is None:
            self.status.setText(tr("Not connected to the hub"))
            return
        self.status.setText(tr("Verifying…"))
        hub.request(
            VERIFY_METHOD,
            {"record": self.record},
            on_result=self._on_verified,
            on_error=self._on_error,
        )

    def save_json(self, path: Path) -> Path:
        """Write the shown record as the published JSON file."""
        if self.record is None:
            raise RuntimeError("no draw record to save yet")
        path.write_text(
            json.dumps(self.record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        return path

    def save_pdf(self, path: Path) -> Path:
        """Write the shown record in printable form."""
        if self.record is None:
            raise RuntimeError("no draw record to save yet")
        return write_pdf(
            path,
            record_html(self.record, district_names(self.session.snapshot)),
            tr("Double-random inspection draw"),
        )

    def load_record(self, path: Path) -> None:
        """Show a record file and verify it."""
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            self.status.setText(tr("Could not read the record: {detail}", detail=str(exc)))
            return
        if not isinstance(record, dict):
            self.status.setText(tr("Could not read the record: {detail}", detail="not an object"))
            return
        self.show_record(record)
        self.verify()

    # ---- slots ----------------------------------------------------------------------

    def _on_drawn(self, reply: Any) -> None:
        self.run_button.setEnabled(True)
        self.task_ids = [str(t) for t in reply.get("tasks", [])]
        self.show_record(reply["record"])
        self.status.setText(
            tr(
                "Drew {count} enterprises; {tasks} inspection tasks created",
                count=len(reply["record"].get("selections", [])),
                tasks=len(self.task_ids),
            )
        )
        self.sig_drawn.emit(reply)

    def _on_verified(self, reply: Any) -> None:
        if reply.get("equal"):
            self.status.setText(tr("Verified: re-running the draw gives the same record"))
        else:
            details = "; ".join(
                f"{d.get('field')}: {d.get('detail')}" for d in reply.get("differences", [])
            )
            self.status.setText(tr("The record does NOT verify: {details}", details=details))
        self.sig_verified.emit(reply)

    def _on_error(self, error: HubError) -> None:
        self.run_button.setEnabled(True)
        self.status.setText(error_text(error))

    def _remove_category(self) -> None:
        rows = sorted({index.row() for index in self.categories.selectedIndexes()}, reverse=True)
        for row in rows:
            self.categories.removeRow(row)

    def _ask_save_json(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, tr("Save record (JSON)…"), "draw-record.json", "JSON (*.json)"
        )
        if path:
            self.save_json(Path(path))

    def _ask_save_pdf(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, tr("Save printable (PDF)…"), "draw-record.pdf", "PDF (*.pdf)"
        )
        if path:
            try:
                self.save_pdf(Path(path))
            except OSError as exc:
                self.status.setText(tr("Export failed: {detail}", detail=str(exc)))

    def _ask_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, tr("Load record and verify…"), "", "JSON (*.json)"
        )
        if path:
            self.load_record(Path(path))
