"""Supervision intelligence in the console: the suspicious-enterprise ranking and ``install``.

The ranking comes from the hub's ``authenticity.ranking`` (scores of the stored hourly data,
lowest = most suspicious). Choosing a row selects the outlet in the session, so the outlet
chart opens, and asks for the evidence hours to be highlighted on it; "create targeted
inspection" sends ``inspection.create`` and makes the new task the session's current task.
After the inspection, "falsification confirmed" / "inspected: clean" send
``authenticity.outcome`` (the inspection task prefilled), which feeds the weight re-fit.
``install_supervision`` adds this dock, the enterprise file, the leader dashboard and the
double-random draw dialog to the window.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.charts.dashboard import CASE_TOPICS, LeaderDashboard
from console.charts.draw_dialog import DrawDialog
from console.charts.enterprise_file import EnterpriseFilePanel, district_names
from console.charts.findings import finding_texts, pollutant_namer
from console.charts.model import OutletDirectory
from console.charts.outlet_chart import OutletChart
from console.hub.client import HubError
from console.shell.hub_errors import error_text
from console.shell.i18n import tr
from console.shell.main_window import MainWindow
from console.shell.session import Session

RANKING_METHOD = "authenticity.ranking"
INSPECTION_METHOD = "inspection.create"
OUTCOME_METHOD = "authenticity.outcome"
MAX_REASON_CHARS = 2000  # the hub's limit for an inspection reason
RANKING_DAYS = 30
RANKING_LIMIT = 50

EvidenceSpan = tuple[datetime, datetime]


def evidence_spans(evidence: Sequence[Mapping[str, Any]]) -> list[EvidenceSpan]:
    """Parse the ranking's ISO ``{"start", "end"}`` hours; an empty span covers its hour."""
    spans = []
    for item in evidence:
        start = datetime.fromisoformat(str(item["start"]))
        end = datetime.fromisoformat(str(item["end"]))
        if end <= start:
            end = start + timedelta(hours=1)
        spans.append((start, end))
    return spans


class SuspicionRanking(QWidget):
    """Enterprises ranked by data-authenticity score, most suspicious first."""

    COLUMNS = 6

    sig_loaded = Signal(int)
    """A ranking reply was shown; carries the number of enterprises in it."""

    sig_evidence_requested = Signal(str, object)
    """Show (outlet_id, [(start, end) datetimes]) as evidence on the outlet chart."""

    sig_inspection_created = Signal(object)
    """``inspection.create`` answered; carries the new task dict."""

    sig_outcome_recorded = Signal(object)
    """``authenticity.outcome`` answered; carries its reply (outcome id, count, refit)."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.rows: list[dict[str, Any]] = []
        self.table = QTableWidget(0, self.COLUMNS)
        self.table.setHorizontalHeaderLabels(
            [
                tr("Rank"),
                tr("Enterprise"),
                tr("District"),
                tr("Score"),
                tr("Worst pollutant"),
                tr("Reasons"),
            ]
        )
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._on_row_selected)
        self.refresh_button = QPushButton(tr("Refresh"))
        self.refresh_button.clicked.connect(self.refresh)
        self.inspect_button = QPushButton(tr("Create targeted inspection"))
        self.inspect_button.setEnabled(False)
        self.inspect_button.clicked.connect(self.create_inspection)
        self.outcome_task = QLineEdit()
        self.outcome_task.setPlaceholderText(tr("Inspection task id (optional)"))
        self.confirmed_button = QPushButton(tr("Falsification confirmed"))
        self.clean_button = QPushButton(tr("Inspected: clean"))
        self.confirmed_button.clicked.connect(lambda: self.record_outcome(True))
        self.clean_button.clicked.connect(lambda: self.record_outcome(False))
        self._inspections: dict[str, str] = {}  # enterprise id -> its latest inspection task
        bar = QHBoxLayout()
        bar.addWidget(self.refresh_button)
        bar.addStretch(1)
        bar.addWidget(self.inspect_button)
        outcome_bar = QHBoxLayout()
        outcome_bar.addWidget(QLabel(tr("Inspection outcome:")))
        outcome_bar.addWidget(self.outcome_task, 1)
        outcome_bar.addWidget(self.confirmed_button)
        outcome_bar.addWidget(self.clean_button)
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        layout.addLayout(outcome_bar)
        layout.addWidget(self.status)
        self._enable_actions()

    def refresh(self) -> None:
        """Ask the hub for the ranking of the last 30 days."""
        hub = self.session.hub
        if hub is None:
            self.status.setText(tr("Not connected to the hub"))
            return
        self.status.setText(tr("Scoring the stored monitoring data…"))
        hub.request(
            RANKING_METHOD,
            {"days": RANKING_DAYS, "limit": RANKING_LIMIT},
            on_result=self.set_ranking,
            on_error=self._on_error,
        )

    def _pollutant_name(
        self, row: Mapping[str, Any], directory: OutletDirectory | None = None
    ) -> Callable[[str], str]:
        directory = directory or OutletDirectory(self.session.snapshot)
        return pollutant_namer(directory.outlets_of(str(row["enterprise_id"])))

    def reasons(self, row: Mapping[str, Any]) -> list[str]:
        """A ranking row's findings in the console's language, most suspicious first."""
        return finding_texts(row, self._pollutant_name(row))

    def set_ranking(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Show a ranking (the hub's reply), keeping its order."""
        names = district_names(self.session.snapshot)
        directory = OutletDirectory(self.session.snapshot)  # once, not per row
        self.rows = [dict(row) for row in rows]
        self.table.setRowCount(len(self.rows))
        for index, row in enumerate(self.rows):
            adcode = str(row.get("district_adcode", ""))
            pollutant_name = self._pollutant_name(row, directory)
            reasons = finding_texts(row, pollutant_name)
            worst = row.get("worst_pollutant")
            cells = [
                str(index + 1),
                str(row.get("name", row["enterprise_id"])),
                names.get(adcode, adcode),
                f"{float(row['score']):.0f}",
                pollutant_name(str(worst)) if worst else "—",
                "；".join(reasons) or tr("No anomaly found"),
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 5:
                    item.setToolTip("\n".join(str(r) for r in reasons))
                self.table.setItem(index, column, item)
        self._enable_actions()
        self.status.setText(tr("{count} enterprises scored", count=len(self.rows)))
        self.sig_loaded.emit(len(self.rows))

    def selected(self) -> dict[str, Any] | None:
        """The chosen ranking entry, if any."""
        indexes = self.table.selectionModel().selectedRows()
        if not indexes:
            return None
        return self.rows[indexes[0].row()]

    def select_row(self, index: int) -> None:
        """Choose an entry as a click would."""
        self.table.selectRow(index)

    def create_inspection(self) -> None:
        """Send ``inspection.create`` for the chosen enterprise, with its reasons and evidence."""
        row = self.selected()
        hub = self.session.hub
        if row is None:
            return
        if hub is None:
            self.status.setText(tr("Not connected to the hub"))
            return
        reasons = self.reasons(row)
        reason = tr(
            "Data authenticity score {score}: {reasons}",
            score=f"{float(row['score']):.0f}",
            reasons="; ".join(reasons) or tr("No anomaly found"),
        )
        self.inspect_button.setEnabled(False)
        self.status.setText(tr("Creating the inspection task…"))
        hub.request(
            INSPECTION_METHOD,
            {
                "enterprise_id": row["enterprise_id"],
                "reason": reason[:MAX_REASON_CHARS],
                "evidence": list(row.get("evidence") or []),
            },
            on_result=self._on_inspection,
            on_error=self._on_error,
        )

    def record_outcome(self, falsification_confirmed: bool) -> None:
        """Send ``authenticity.outcome`` for the chosen enterprise (task id if one is given)."""
        row = self.selected()
        hub = self.session.hub
        if row is None:
            return
        if hub is None:
            self.status.setText(tr("Not connected to the hub"))
            return
        params: dict[str, Any] = {
            "enterprise_id": row["enterprise_id"],
            "falsification_confirmed": falsification_confirmed,
        }
        task_id = self.outcome_task.text().strip()
        if task_id:
            params["task_id"] = task_id
        self.confirmed_button.setEnabled(False)
        self.clean_button.setEnabled(False)
        self.status.setText(tr("Recording the inspection outcome…"))
        hub.request(OUTCOME_METHOD, params, on_result=self._on_outcome, on_error=self._on_error)

    def _on_outcome(self, reply: Any) -> None:
        self._enable_actions()
        refit = reply.get("refit") or {}
        if refit.get("refitted"):
            result = tr("weights re-fitted, now version {version}", version=refit.get("version"))
        else:
            result = tr("weights unchanged: {reason}", reason=refit.get("reason") or "")
        self.status.setText(
            tr(
                "Outcome recorded ({count} stored); {result}",
                count=reply.get("outcomes", 0),
                result=result,
            )
        )
        self.sig_outcome_recorded.emit(reply)

    def _enable_actions(self) -> None:
        chosen = self.selected() is not None
        for button in (self.inspect_button, self.confirmed_button, self.clean_button):
            button.setEnabled(chosen)

    def _on_inspection(self, reply: Any) -> None:
        task = reply["task"]
        self._inspections[str(task.get("enterprise_id", ""))] = str(task["id"])
        self.outcome_task.setText(str(task["id"]))
        self._enable_actions()
        self.status.setText(tr("Inspection task {task} created", task=task["id"]))
        self.sig_inspection_created.emit(task)
        self.session.set_current_task(str(task["id"]))

    def _on_row_selected(self) -> None:
        row = self.selected()
        self._enable_actions()
        if row is None:
            return
        self.outcome_task.setText(self._inspections.get(str(row["enterprise_id"]), ""))
        outlet_id = row.get("outlet_id")
        if outlet_id:
            self.session.select("outlet", str(outlet_id))
            self.sig_evidence_requested.emit(
                str(outlet_id), evidence_spans(row.get("evidence") or [])
            )
        else:
            self.session.select("enterprise", str(row["enterprise_id"]))

    def _on_error(self, error: HubError) -> None:
        self._enable_actions()
        self.status.setText(error_text(error))


@dataclass(frozen=True, slots=True)
class SupervisionFeature:
    """What ``install_supervision`` added, for the app and tests to reach."""

    ranking: SuspicionRanking
    ranking_dock: QDockWidget
    file_panel: EnterpriseFilePanel
    file_dock: QDockWidget
    dashboard: LeaderDashboard
    dashboard_dock: QDockWidget
    draw_action: QAction
    open_draw_dialog: Callable[[], DrawDialog]


def _dock(window: MainWindow, title: str, name: str, widget: QWidget) -> QDockWidget:
    dock = QDockWidget(title, window)
    dock.setObjectName(name)
    dock.setWidget(widget)
    window.add_dock(dock, Qt.DockWidgetArea.RightDockWidgetArea, side_tab=True)
    dock.hide()  # opened from the View menu, a selection or a task
    return dock


def install_supervision(
    window: MainWindow, session: Session, chart: OutletChart, chart_dock: QDockWidget
) -> SupervisionFeature:
    """Add the ranking, enterprise-file and dashboard docks and the draw dialog's menu entry.

    A ranking row opens the outlet chart (through the session) in the 30-day window with the
    evidence hours marked; selecting an enterprise anywhere, or a task, opens its file; a
    login loads the ranking and the dashboard.
    """
    ranking = SuspicionRanking(session)
    ranking_dock = _dock(window, tr("Suspicious enterprises"), "charts.suspicion_ranking", ranking)
    file_panel = EnterpriseFilePanel(session)
    file_dock = _dock(window, tr("Enterprise file"), "charts.enterprise_file", file_panel)
    dashboard = LeaderDashboard(session)
    dashboard_dock = _dock(window, tr("Leader dashboard"), "charts.leader_dashboard", dashboard)

    def show_evidence(outlet_id: str, spans: list[EvidenceSpan]) -> None:
        if chart.model is None or chart.model.outlet_id != outlet_id:
            chart.show_outlet(outlet_id, "hourly_30d")
        else:
            chart.set_window("hourly_30d")
        chart.highlight_hours(spans)
        chart_dock.show()
        chart_dock.raise_()

    def on_selection(kind: str, item_id: str) -> None:
        if kind == "enterprise":
            file_panel.show_enterprise(item_id)
            file_dock.show()

    def on_task(task_id: str) -> None:
        if task_id and file_dock.isVisible():
            file_panel.show_task(task_id)

    def on_user(user: dict[str, Any] | None) -> None:
        if user is not None and session.hub is not None:
            session.hub.subscribe(list(CASE_TOPICS))
            ranking.refresh()
            dashboard.refresh()

    def open_draw_dialog() -> DrawDialog:
        dialog = DrawDialog(session, window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    draw_action = QAction(tr("Double-random draw…"), window)
    draw_action.triggered.connect(open_draw_dialog)
    window.file_menu.insertAction(window.file_menu.actions()[0], draw_action)
    ranking.sig_evidence_requested.connect(show_evidence)
    session.sig_selection_changed.connect(on_selection)
    session.sig_task_changed.connect(on_task)
    session.sig_user_changed.connect(on_user)
    session.sig_snapshot_changed.connect(file_panel.set_snapshot)
    on_user(session.user)
    return SupervisionFeature(
        ranking,
        ranking_dock,
        file_panel,
        file_dock,
        dashboard,
        dashboard_dock,
        draw_action,
        open_draw_dialog,
    )
