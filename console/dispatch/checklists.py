"""Admin editor for inspection checklist templates (检查表), one per industry and inspection type.

Templates are versioned in the hub: "save" sends ``checklist.save`` and the hub stores a NEW
version (old versions stay, a running case keeps the version it started with), so the editor
never overwrites anything. The list shows every version; editing starts from the one selected.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.hub.client import HubError
from console.shell.domain_labels import industry_label, inspection_type_label
from console.shell.hub_errors import error_text
from console.shell.i18n import tr
from console.shell.session import Session

LIST_METHOD = "checklists.list"
SAVE_METHOD = "checklist.save"
TEXT, LEGAL_BASIS, PHOTO = range(3)


class ChecklistEditor(QWidget):
    """Template versions on the left, the selected version's items (editable) on the right."""

    sig_saved = Signal(object)
    """A new version was saved: the hub's answer (the stored template)."""

    sig_message = Signal(str)
    """A status message for the window's status bar."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.templates: list[dict[str, Any]] = []
        self.current: dict[str, Any] | None = None
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels([tr("Industry / inspection type"), tr("Version"), tr("Items")])
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.title = QLabel(tr("Select a template version."))
        self.items = QTableWidget(0, 3)
        self.items.setHorizontalHeaderLabels([tr("Item"), tr("Legal basis"), tr("Photo required")])
        header = self.items.horizontalHeader()
        header.setSectionResizeMode(TEXT, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(LEGAL_BASIS, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(PHOTO, QHeaderView.ResizeMode.ResizeToContents)
        self.add_button = QPushButton(tr("Add item"))
        self.remove_button = QPushButton(tr("Remove item"))
        self.save_button = QPushButton(tr("Save as new version"))
        self.reload_button = QPushButton(tr("Reload"))
        self.error = QLabel()
        self.error.setStyleSheet("color: #b3261e;")
        self.error.setWordWrap(True)
        for button in (self.add_button, self.remove_button, self.save_button):
            button.setEnabled(False)
        buttons = QHBoxLayout()
        for button in (self.add_button, self.remove_button, self.save_button, self.reload_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.title)
        right_layout.addWidget(self.items, 1)
        right_layout.addLayout(buttons)
        right_layout.addWidget(self.error)
        splitter = QSplitter()
        splitter.addWidget(self.tree)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self.tree.currentItemChanged.connect(self._on_selected)
        self.add_button.clicked.connect(lambda: self.add_item("", "", False))
        self.remove_button.clicked.connect(self._remove_selected)
        self.save_button.clicked.connect(self.save)
        self.reload_button.clicked.connect(self.reload)

    # ---- hub -------------------------------------------------------------------------------

    def reload(self) -> None:
        if self.session.hub is not None:
            self.session.hub.request(
                LIST_METHOD, {}, on_result=self.set_templates, on_error=self._on_error
            )

    def set_templates(self, templates: list[dict[str, Any]]) -> None:
        """Show every version grouped by (industry, inspection type), newest version first."""
        keep = self._key(self.current) if self.current else None
        self.templates = list(templates)
        self.tree.clear()
        groups: dict[tuple[str, str], QTreeWidgetItem] = {}
        ordered = sorted(
            self.templates,
            key=lambda t: (
                str(t.get("industry")),
                str(t.get("inspection_type")),
                -int(t.get("version", 0)),
            ),
        )
        select: QTreeWidgetItem | None = None
        for template in ordered:
            key = self._key(template)
            group = groups.get(key)
            if group is None:
                name = f"{industry_label(key[0])} / {inspection_type_label(key[1])}"
                group = QTreeWidgetItem([name, "", ""])
                groups[key] = group
                self.tree.addTopLevelItem(group)
            version = QTreeWidgetItem(
                [
                    tr("version {n}", n=template.get("version", "")),
                    str(template.get("version", "")),
                    str(len(template.get("items") or [])),
                ]
            )
            version.setData(0, Qt.ItemDataRole.UserRole, template)
            group.addChild(version)
            if key == keep and select is None:
                select = version  # newest version of the group being edited
        self.tree.expandAll()
        if select is not None:
            self.tree.setCurrentItem(select)

    def save(self) -> None:
        """Send the edited items as a new version of the selected template."""
        if self.current is None or self.session.hub is None:
            return
        try:
            items = self.edited_items()
        except ValueError as exc:
            self.error.setText(str(exc))
            return
        self.error.clear()
        params = {
            "industry": self.current.get("industry"),
            "inspection_type": self.current.get("inspection_type"),
            "items": items,
        }
        self.save_button.setEnabled(False)
        self.session.hub.request(
            SAVE_METHOD, params, on_result=self._on_saved, on_error=self._on_error
        )

    def _on_saved(self, answer: dict[str, Any]) -> None:
        self.save_button.setEnabled(True)
        self.current = answer if isinstance(answer, dict) else self.current
        self.sig_message.emit(tr("Checklist saved as version {n}.", n=answer.get("version", "?")))
        self.sig_saved.emit(answer)
        self.reload()

    def _on_error(self, error: HubError) -> None:
        self.save_button.setEnabled(self.current is not None)
        self.error.setText(error_text(error))

    # ---- editing ---------------------------------------------------------------------------

    def add_item(
        self, text: str, legal_basis: str, requires_photo: bool, item_id: str = ""
    ) -> None:
        row = self.items.rowCount()
        self.items.insertRow(row)
        text_item = QTableWidgetItem(text)
        text_item.setData(Qt.ItemDataRole.UserRole, item_id)
        self.items.setItem(row, TEXT, text_item)
        self.items.setItem(row, LEGAL_BASIS, QTableWidgetItem(legal_basis))
        photo = QTableWidgetItem()
        photo.setFlags(
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsUserCheckable
            | Qt.ItemFlag.ItemIsSelectable
        )
        photo.setCheckState(Qt.CheckState.Checked if requires_photo else Qt.CheckState.Unchecked)
        self.items.setItem(row, PHOTO, photo)

    def edited_items(self) -> list[dict[str, Any]]:
        """The table as ``checklist.save`` items; raises ValueError naming the bad row."""
        items: list[dict[str, Any]] = []
        for row in range(self.items.rowCount()):
            text_cell = self.items.item(row, TEXT)
            text = text_cell.text().strip() if text_cell else ""
            basis_cell = self.items.item(row, LEGAL_BASIS)
            basis = basis_cell.text().strip() if basis_cell else ""
            if not text or not basis:
                raise ValueError(
                    tr("Row {row}: item text and legal basis are both required.", row=row + 1)
                )
            photo_cell = self.items.item(row, PHOTO)
            item: dict[str, Any] = {
                "text": text,
                "legal_basis": basis,
                "requires_photo": photo_cell is not None
                and photo_cell.checkState() == Qt.CheckState.Checked,
            }
            item_id = text_cell.data(Qt.ItemDataRole.UserRole) if text_cell else ""
            item["id"] = str(item_id) if item_id else f"item-{row + 1}"
            items.append(item)
        if not items:
            raise ValueError(tr("A checklist needs at least one item."))
        if len({i["id"] for i in items}) != len(items):
            raise ValueError(tr("Item ids must be unique."))
        return items

    def _remove_selected(self) -> None:
        rows = sorted({index.row() for index in self.items.selectedIndexes()}, reverse=True)
        for row in rows:
            self.items.removeRow(row)

    def _on_selected(self, item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        template = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        if not isinstance(template, dict):
            return
        self.current = template
        self.title.setText(
            tr(
                "{industry} / {kind}: editing from version {n}; saving creates a new version.",
                industry=industry_label(str(template.get("industry", ""))),
                kind=inspection_type_label(str(template.get("inspection_type", ""))),
                n=template.get("version", ""),
            )
        )
        self.items.setRowCount(0)
        for entry in template.get("items") or []:
            self.add_item(
                str(entry.get("text", "")),
                str(entry.get("legal_basis", "")),
                bool(entry.get("requires_photo")),
                str(entry.get("id", "")),
            )
        for button in (self.add_button, self.remove_button, self.save_button):
            button.setEnabled(True)
        self.error.clear()

    @staticmethod
    def _key(template: dict[str, Any]) -> tuple[str, str]:
        return str(template.get("industry", "")), str(template.get("inspection_type", ""))
