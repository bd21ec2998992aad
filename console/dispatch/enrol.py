"""The enrolment dialog: the ``/field/#token=…`` link of a new device token as a QR code.

The officer scans the code with the phone's camera, the field app opens, reads the token
from the URL fragment (never sent to a server) and keeps it. The QR matrix comes from the
pure-Python ``segno``; it is painted module by module into a QImage here, so no imaging
library is needed. The token is shown once: only its hash is stored.
"""

from __future__ import annotations

from typing import Any

import segno
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.dispatch.board_model import parse_time
from console.shell.i18n import format_datetime, tr

QUIET_ZONE = 4  # modules of white border the QR standard asks for
MODULE_PX = 6


def qr_matrix(text: str) -> list[list[bool]]:
    """The QR code of ``text`` (error correction M) as rows of dark modules, no border."""
    code = segno.make_qr(text, error="m")
    return [[bool(module) for module in row] for row in code.matrix]


def qr_image(matrix: list[list[bool]], module_px: int = MODULE_PX) -> QImage:
    """Paint ``matrix`` with a quiet zone, ``module_px`` pixels per module, black on white."""
    if module_px < 1:
        raise ValueError(f"module_px must be at least 1, got {module_px}")
    modules = len(matrix) + 2 * QUIET_ZONE
    size = modules * module_px
    image = QImage(size, size, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    try:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor("black"))
        for y, row in enumerate(matrix):
            for x, dark in enumerate(row):
                if dark:
                    painter.drawRect(
                        (x + QUIET_ZONE) * module_px,
                        (y + QUIET_ZONE) * module_px,
                        module_px,
                        module_px,
                    )
    finally:
        painter.end()
    return image


class EnrolDialog(QDialog):
    """Shows one enrolment (``officer.enrol`` answer): QR code, link, token, fingerprint."""

    def __init__(
        self, enrolment: dict[str, Any], officer_name: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.enrolment = enrolment
        self.setWindowTitle(tr("Enrol a device for {name}", name=officer_name))
        self.matrix = qr_matrix(str(enrolment["enrol_url"]))
        self.qr = QLabel()
        self.qr.setPixmap(QPixmap.fromImage(qr_image(self.matrix)))
        self.qr.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.url = QLineEdit(str(enrolment["enrol_url"]))
        self.url.setReadOnly(True)
        self.token = QLineEdit(str(enrolment["token"]))
        self.token.setReadOnly(True)
        expires = parse_time(enrolment.get("expires_at"))
        self.expires = QLabel(tr("never") if expires is None else format_datetime(expires))
        form = QFormLayout()
        form.addRow(tr("Link"), self.url)
        form.addRow(tr("Token"), self.token)
        form.addRow(tr("Expires"), self.expires)
        fingerprint = enrolment.get("tls_fingerprint_sha256")
        self.fingerprint: QLabel | None = None
        if fingerprint:
            self.fingerprint = QLabel(str(fingerprint))
            self.fingerprint.setWordWrap(True)
            self.fingerprint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(tr("TLS certificate SHA-256"), self.fingerprint)
        hint = QLabel(
            tr(
                "Scan with the officer's phone to open the field app. The token is shown only "
                "once; keep this window private."
            )
        )
        hint.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_link = QPushButton(tr("Copy link"))
        self.copy_token = QPushButton(tr("Copy token"))
        buttons.addButton(self.copy_link, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.copy_token, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        self.copy_link.clicked.connect(lambda: self._copy(self.url.text()))
        self.copy_token.clicked.connect(lambda: self._copy(self.token.text()))
        layout = QVBoxLayout(self)
        layout.addWidget(self.qr)
        layout.addWidget(hint)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def _copy(self, text: str) -> None:
        QGuiApplication.clipboard().setText(text)
