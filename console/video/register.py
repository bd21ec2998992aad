"""The camera register, managed from the console (admins): list, add, edit, remove.

Credentials are typed here and sent to the hub, which keeps them; the list shows cameras
without them (``cameras.list`` never returns credentials).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.hub.client import HubError
from console.shell.hub_errors import error_text
from console.shell.i18n import tr
from console.shell.session import Session


class CameraRegister(QDialog):
    """Admin dialog over the hub's ``cameras.list`` / ``camera.add|update|remove``."""

    sig_changed = Signal()
    """The register changed on the hub (a camera was added, edited or removed)."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setWindowTitle(tr("Camera register"))
        self.cameras: list[dict[str, Any]] = []
        self.list = QListWidget()
        self.list.currentRowChanged.connect(self._show_row)
        self.name = QLineEdit()
        self.url = QLineEdit()
        self.url.setPlaceholderText(tr("rtsp://, http(s):// (MJPEG or HLS) or file://"))
        self.enterprise = QComboBox()
        self.enterprise.addItem(tr("(free location)"), "")
        for enterprise in (session.snapshot or {}).get("enterprises", []):
            self.enterprise.addItem(enterprise["name"], enterprise["id"])
        self.lon = QDoubleSpinBox(decimals=6, minimum=-180, maximum=180)
        self.lat = QDoubleSpinBox(decimals=6, minimum=-90, maximum=90)
        self.username = QLineEdit()
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText(tr("unchanged when empty"))
        self.status = QLabel()
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow(tr("Name"), self.name)
        form.addRow(tr("Stream URL"), self.url)
        form.addRow(tr("Enterprise"), self.enterprise)
        form.addRow(tr("Longitude (WGS84)"), self.lon)
        form.addRow(tr("Latitude (WGS84)"), self.lat)
        form.addRow(tr("Username"), self.username)
        form.addRow(tr("Password"), self.password)
        self.add_button = QPushButton(tr("Add"))
        self.add_button.clicked.connect(self.add)
        self.save_button = QPushButton(tr("Save changes"))
        self.save_button.clicked.connect(self.save)
        self.remove_button = QPushButton(tr("Remove"))
        self.remove_button.clicked.connect(self.remove)
        buttons = QHBoxLayout()
        for button in (self.add_button, self.save_button, self.remove_button):
            buttons.addWidget(button)
        box = QVBoxLayout(self)
        box.addWidget(self.list)
        box.addLayout(form)
        box.addLayout(buttons)
        box.addWidget(self.status)
        self.refresh()

    def refresh(self) -> None:
        if self.session.hub is None:
            self.status.setText(tr("Not connected to the hub"))
            return
        self.session.hub.request("cameras.list", {}, self._on_list, self._on_error)

    def add(self) -> None:
        params = self._params(require_url=True)
        if params is not None:
            self._call("camera.add", params)

    def save(self) -> None:
        camera = self._current()
        params = self._params(require_url=False)
        if camera is None or params is None:
            return
        if not params.get("password"):
            params.pop("password", None)
            params.pop("username", None)
        self._call("camera.update", {"camera_id": camera["id"], **params})

    def remove(self) -> None:
        camera = self._current()
        if camera is not None:
            self._call("camera.remove", {"camera_id": camera["id"]})

    def _params(self, *, require_url: bool) -> dict[str, Any] | None:
        name, url = self.name.text().strip(), self.url.text().strip()
        if not name or (require_url and not url):
            self.status.setText(tr("A camera needs a name and a stream URL."))
            return None
        params: dict[str, Any] = {"name": name}
        if url:
            params["stream_url"] = url
        enterprise_id = self.enterprise.currentData()
        if enterprise_id:
            params["enterprise_id"] = enterprise_id
        else:
            params["lon"], params["lat"] = self.lon.value(), self.lat.value()
        if self.username.text() or self.password.text():
            params["username"] = self.username.text()
            params["password"] = self.password.text()
        return params

    def _call(self, method: str, params: dict[str, Any]) -> None:
        if self.session.hub is None:
            self.status.setText(tr("Not connected to the hub"))
            return
        self.session.hub.request(method, params, self._on_changed, self._on_error)

    def _current(self) -> dict[str, Any] | None:
        row = self.list.currentRow()
        if 0 <= row < len(self.cameras):
            return self.cameras[row]
        self.status.setText(tr("Choose a camera in the list first."))
        return None

    def _on_changed(self, _result: Any) -> None:
        self.status.setText(tr("The camera register was updated."))
        self.password.clear()
        self.sig_changed.emit()
        self.refresh()

    def _on_list(self, cameras: Any) -> None:
        self.cameras = list(cameras)
        self.list.clear()
        for camera in self.cameras:
            QListWidgetItem(f"{camera['name']}  ({camera['id']})", self.list)

    def _show_row(self, row: int) -> None:
        if not 0 <= row < len(self.cameras):
            return
        camera = self.cameras[row]
        self.name.setText(camera["name"])
        self.url.setText("")
        self.url.setPlaceholderText(tr("unchanged when empty: the hub keeps the stream address"))
        index = self.enterprise.findData(camera.get("enterprise_id") or "")
        self.enterprise.setCurrentIndex(max(index, 0))
        self.lon.setValue(float(camera.get("lon") or 0.0))
        self.lat.setValue(float(camera.get("lat") or 0.0))

    def _on_error(self, error: HubError) -> None:
        self.status.setText(error_text(error))
