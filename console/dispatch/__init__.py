"""The dispatcher's panels: intake, recommendation, board, task timeline, district status.

Keyboard path from a phone call to a pushed task (three commands; typing into fields,
arrow keys in drop-downs and Tab between fields are filling, not commands):

1. Ctrl+N — opens the intake panel with the focus in its first field (channel).
2. Ctrl+Enter — validates and registers the complaint; the recommendation panel comes up
   with the focus on its dispatch button.
3. Enter — pushes the verification task to the recommended officer; it shows on the board.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget

from console.dispatch.attachments import ADDED_TOPIC
from console.dispatch.board import TASK_TOPICS, DispatchBoard
from console.dispatch.casefile import CaseFileViewer
from console.dispatch.checklists import ChecklistEditor
from console.dispatch.districts import DistrictStatusTable
from console.dispatch.intake import IntakePanel
from console.dispatch.procedures import UPDATED_TOPIC, ProceduresPanel
from console.dispatch.recommendation import RecommendationPanel
from console.dispatch.roster import ROSTER_TOPICS, OfficerRoster
from console.dispatch.timeline import TaskTimeline
from console.shell.i18n import tr
from console.shell.main_window import MainWindow
from console.shell.session import Session

__all__ = [
    "CaseFileViewer",
    "ChecklistEditor",
    "DispatchBoard",
    "DispatchFeature",
    "DistrictStatusTable",
    "IntakePanel",
    "OfficerRoster",
    "ProceduresPanel",
    "RecommendationPanel",
    "TaskTimeline",
    "install",
]

TOPICS = (*TASK_TOPICS, "complaint.created", *ROSTER_TOPICS, ADDED_TOPIC, UPDATED_TOPIC)
STATUS_MESSAGE_MS = 10_000


@dataclass(frozen=True, slots=True)
class DispatchFeature:
    """What ``install`` added to the window, for the app and tests to reach."""

    intake: IntakePanel
    intake_dock: QDockWidget
    recommendation: RecommendationPanel
    recommendation_dock: QDockWidget
    board: DispatchBoard
    board_dock: QDockWidget
    timeline: TaskTimeline
    timeline_dock: QDockWidget
    districts: DistrictStatusTable
    districts_dock: QDockWidget
    new_complaint_action: QAction
    roster: OfficerRoster
    roster_dock: QDockWidget
    procedures: ProceduresPanel
    procedures_dock: QDockWidget
    casefile: CaseFileViewer
    casefile_dock: QDockWidget
    checklists: ChecklistEditor
    checklists_dock: QDockWidget
    checklists_action: QAction


def _dock(window: MainWindow, title: str, name: str, widget: Any) -> QDockWidget:
    dock = QDockWidget(title, window)
    dock.setObjectName(name)
    dock.setWidget(widget)
    return dock


def install(window: MainWindow, session: Session) -> DispatchFeature:
    """Add the dispatch docks and the Ctrl+N "new complaint" action, wired to the session."""
    intake = IntakePanel(session)
    recommendation = RecommendationPanel(session)
    board = DispatchBoard(session)
    timeline = TaskTimeline(session)
    districts = DistrictStatusTable(session)
    roster = OfficerRoster(session)
    intake_dock = _dock(window, tr("Complaint intake"), "dispatch.intake", intake)
    recommendation_dock = _dock(
        window, tr("Recommendation"), "dispatch.recommendation", recommendation
    )
    board_dock = _dock(window, tr("Dispatch board"), "dispatch.board", board)
    timeline_dock = _dock(window, tr("Task timeline"), "dispatch.timeline", timeline)
    districts_dock = _dock(window, tr("District status"), "dispatch.districts", districts)
    roster_dock = _dock(window, tr("Officer roster"), "dispatch.roster", roster)
    right = Qt.DockWidgetArea.RightDockWidgetArea
    window.add_dock(intake_dock, right, form=True)
    window.add_dock(recommendation_dock, right)
    window.add_dock(timeline_dock, right)
    window.tabifyDockWidget(recommendation_dock, timeline_dock)
    window.add_dock(board_dock, Qt.DockWidgetArea.BottomDockWidgetArea)
    window.add_dock(districts_dock, Qt.DockWidgetArea.BottomDockWidgetArea)
    window.tabifyDockWidget(board_dock, districts_dock)
    window.add_dock(roster_dock, Qt.DockWidgetArea.BottomDockWidgetArea)
    window.tabifyDockWidget(districts_dock, roster_dock)
    procedures = ProceduresPanel(session)
    casefile = CaseFileViewer(session)
    checklists = ChecklistEditor(session)
    procedures_dock = _dock(window, tr("On-site procedures"), "dispatch.procedures", procedures)
    casefile_dock = _dock(window, tr("Case file"), "dispatch.casefile", casefile)
    checklists_dock = _dock(window, tr("Checklist templates"), "dispatch.checklists", checklists)
    window.add_dock(procedures_dock, Qt.DockWidgetArea.BottomDockWidgetArea)
    window.tabifyDockWidget(roster_dock, procedures_dock)
    window.add_dock(casefile_dock, right)
    window.tabifyDockWidget(timeline_dock, casefile_dock)
    window.add_dock(checklists_dock, right)
    checklists_dock.hide()  # an admin tool: opened from the File menu
    board_dock.raise_()
    recommendation_dock.raise_()

    new_complaint = QAction(tr("&New complaint"), window)
    new_complaint.setShortcut(QKeySequence.StandardKey.New)
    new_complaint.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    window.file_menu.insertAction(window.file_menu.actions()[0], new_complaint)
    window.addAction(new_complaint)
    checklists_action = QAction(tr("Checklist templates…"), window)
    window.file_menu.insertAction(window.file_menu.actions()[1], checklists_action)

    def open_intake() -> None:
        intake_dock.show()
        intake_dock.raise_()
        intake.start()

    def new_complaint_at(lon: float, lat: float) -> None:
        open_intake()
        intake.set_location(lon, lat)

    def on_created(result: dict[str, Any]) -> None:
        recommendation_dock.show()
        recommendation_dock.raise_()
        recommendation.show_result(result)

    def on_dispatched(task: dict[str, Any]) -> None:
        board.model.upsert(task)  # the task.updated event follows; the version check dedups
        session.set_current_task(str(task["id"]))
        board_dock.raise_()
        timeline_dock.raise_()  # its first event: the dispatch just made

    def show_message(text: str) -> None:
        window.statusBar().showMessage(text, STATUS_MESSAGE_MS)

    def on_user(user: dict[str, Any] | None) -> None:
        if user is not None and session.hub is not None:  # the link resubscribes on reconnect
            session.hub.subscribe(list(TOPICS))

    def on_connection(state: str) -> None:
        # After the first login and after every reconnect: events may have been missed.
        if state == "connected" and session.user is not None and session.hub is not None:
            board.refresh()
            districts.refresh()
            timeline.reload()
            roster.refresh()
            procedures.refresh()
            if checklists_action.isEnabled():
                checklists.reload()

    new_complaint.triggered.connect(open_intake)
    session.sig_new_complaint_requested.connect(new_complaint_at)
    intake.sig_created.connect(on_created)
    recommendation.sig_dispatched.connect(on_dispatched)

    def open_case(case_id: str, task_id: str) -> None:
        casefile_dock.show()
        casefile_dock.raise_()
        casefile.load(case_id, task_id)

    def open_checklists() -> None:
        checklists_dock.show()
        checklists_dock.raise_()
        checklists.reload()

    def on_admin(user: dict[str, Any] | None) -> None:
        checklists_action.setEnabled(user is not None and user.get("role") == "admin")

    procedures.sig_open_case.connect(open_case)
    checklists_action.triggered.connect(open_checklists)
    session.sig_user_changed.connect(on_admin)
    on_admin(session.user)
    panels = (intake, recommendation, board, timeline, roster, procedures, casefile, checklists)
    for panel in panels:
        panel.sig_message.connect(show_message)
    session.sig_user_changed.connect(on_user)
    session.sig_connection_changed.connect(on_connection)
    on_user(session.user)
    on_connection(session.connection_state)
    return DispatchFeature(
        intake,
        intake_dock,
        recommendation,
        recommendation_dock,
        board,
        board_dock,
        timeline,
        timeline_dock,
        districts,
        districts_dock,
        new_complaint,
        roster,
        roster_dock,
        procedures,
        procedures_dock,
        casefile,
        casefile_dock,
        checklists,
        checklists_dock,
        checklists_action,
    )
