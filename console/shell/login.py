"""Login dialog: username and password for the hub shown in the dialog.

The dialog does not block on the network: it asks the ``HubLink`` to log in and stays open
(inputs disabled) until the answer comes back on the GUI thread; hub error codes are shown
as translated sentences.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from console.hub.client import CONNECTION_CLOSED, HubError
from console.shell.hub_errors import error_text
from console.shell.hub_link import NOT_CONNECTED, HubLink
from console.shell.i18n import tr


def login_error_message(error: HubError, hub_url: str) -> str:
    """A sentence for the user explaining why the login failed."""
    messages = {
        "bad_credentials": tr("Wrong username or password."),
        "account_disabled": tr("This account is disabled. Ask an administrator."),
        "too_many_attempts": tr("Too many failed attempts. Wait a moment and try again."),
        CONNECTION_CLOSED: tr("Cannot reach the hub at {url}.", url=hub_url),
        NOT_CONNECTED: tr("Cannot reach the hub at {url}.", url=hub_url),
    }
    return messages.get(error.code) or tr("Login failed: {reason}", reason=error_text(error))


class LoginDialog(QDialog):
    """Asks for credentials and logs the link in; ``login_result`` holds ``login.ok``."""

    def __init__(
        self, link: HubLink, seat: str, username: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._link = link
        self._seat = seat
        self.login_result: dict[str, Any] | None = None
        self.setWindowTitle(tr("Log in to the enforcement console"))
        self.username = QLineEdit(username)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.hub_label = QLabel(link.url)
        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #b3261e;")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(tr("Log in"))
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow(tr("Username"), self.username)
        form.addRow(tr("Password"), self.password)
        form.addRow(tr("Hub"), self.hub_label)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        (self.password if username else self.username).setFocus()

    def submit(self) -> None:
        """Send the credentials; the dialog closes only when the hub accepts them."""
        username = self.username.text().strip()
        if not username or not self.password.text():
            self._show_error(tr("Enter username and password."))
            return
        self._set_busy(True)
        self._link.login(
            username,
            self.password.text(),
            self._seat,
            on_result=self._on_logged_in,
            on_error=self._on_failed,
        )

    def _on_logged_in(self, result: dict[str, Any]) -> None:
        self.login_result = result
        self._set_busy(False)
        self.accept()

    def _on_failed(self, error: HubError) -> None:
        self._set_busy(False)
        self.password.selectAll()
        self.password.setFocus()
        self._show_error(login_error_message(error, self._link.url))

    def _show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.username, self.password, self.buttons):
            widget.setEnabled(not busy)
