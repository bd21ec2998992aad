"""A task's field attachments in the timeline: photo thumbnails, playable voice memos.

The hub serves attachment bytes over plain HTTP on its own port with a short-lived signed
path (``attachment.url``). Photos are fetched with QNetworkAccessManager, which works on
the GUI thread's event loop without blocking it; the bytes are checked against the
SHA-256 the officer's phone declared before the thumbnail is shown. Voice memos stream
into QMediaPlayer from a fresh signed URL each time they are played. New attachments
appear live from ``attachment.added`` events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer
from PySide6.QtNetwork import QNetworkAccessManager, QNetworkReply, QNetworkRequest
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.hub.client import HubError
from console.shell.i18n import tr
from console.shell.session import Session

URL_METHOD = "attachment.url"
ADDED_TOPIC = "attachment.added"
THUMBNAIL_PX = 96
ID_ROLE = Qt.ItemDataRole.UserRole


def http_base(hub_url: str) -> str:
    """``ws://host:port/ws/console`` -> ``http://host:port`` (wss -> https)."""
    parts = urlsplit(hub_url)
    schemes = {"ws": "http", "wss": "https", "http": "http", "https": "https"}
    if parts.scheme not in schemes or not parts.netloc:
        raise ValueError(f"not a hub address: {hub_url!r}")
    return f"{schemes[parts.scheme]}://{parts.netloc}"


def size_label(size: int) -> str:
    if size < 1024:
        return tr("{count} B", count=size)
    if size < 1024 * 1024:
        return tr("{count} KB", count=f"{size / 1024:.1f}")
    return tr("{count} MB", count=f"{size / (1024 * 1024):.1f}")


def kind_label(kind: str) -> str:
    labels = {"photo": tr("Photo"), "voice": tr("Voice memo")}
    return labels.get(kind, kind)


class AttachmentList(QWidget):
    """The attachments of the task on screen; see the module docstring."""

    sig_thumbnail_ready = Signal(str)
    """A photo's bytes arrived, matched its SHA-256 and its thumbnail is shown (its id)."""

    sig_message = Signal(str)
    """A status message for the window's status bar."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.task_id = ""
        self.attachments: dict[str, dict[str, Any]] = {}
        self.thumbnails: dict[str, QImage] = {}
        self.verified: dict[str, bool] = {}
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMBNAIL_PX, THUMBNAIL_PX))
        self.list.setMinimumHeight(THUMBNAIL_PX + 12)
        self.play_button = QPushButton(tr("Play"))
        self.stop_button = QPushButton(tr("Stop"))
        self.play_button.setEnabled(False)
        self.stop_button.setEnabled(False)
        self._network = QNetworkAccessManager(self)
        self._player: QMediaPlayer | None = None
        self._audio: QAudioOutput | None = None
        buttons = QHBoxLayout()
        buttons.addWidget(self.play_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self.list.currentItemChanged.connect(self._on_current)
        self.list.itemActivated.connect(self._on_activated)
        self.play_button.clicked.connect(self._play_current)
        self.stop_button.clicked.connect(self.stop)
        session.sig_events.connect(self.apply_events)

    # ---- public -----------------------------------------------------------------------

    def set_attachments(self, task_id: str, attachments: list[dict[str, Any]]) -> None:
        """Show ``attachments`` (``task.get``'s list) of ``task_id``; keeps fetched thumbnails."""
        if task_id != self.task_id:
            self.stop()
            self.thumbnails.clear()
            self.verified.clear()
        self.task_id = task_id
        self.attachments = {}
        self.list.clear()
        for attachment in attachments:
            self.add(attachment)

    def add(self, attachment: dict[str, Any]) -> None:
        """Add one attachment (once); photos start downloading their thumbnail."""
        attachment_id = str(attachment.get("attachment_id") or attachment.get("id") or "")
        if not attachment_id or attachment_id in self.attachments:
            return
        self.attachments[attachment_id] = dict(attachment)
        item = QListWidgetItem(self._text(attachment_id))
        item.setData(ID_ROLE, attachment_id)
        item.setToolTip(tr("SHA-256: {sha256}", sha256=attachment.get("sha256", "")))
        if attachment_id in self.thumbnails:
            item.setIcon(QIcon(QPixmap.fromImage(self.thumbnails[attachment_id])))
        self.list.addItem(item)
        if attachment.get("kind") == "photo" and attachment_id not in self.thumbnails:
            self._request_url(attachment_id, self._fetch)

    def apply_events(self, events: list[dict[str, Any]]) -> None:
        """Add attachments of the shown task as their ``attachment.added`` events arrive."""
        for event in events:
            data = event.get("data") or {}
            if (
                event.get("topic") == ADDED_TOPIC
                and self.task_id
                and data.get("task_id") == (self.task_id)
            ):
                self.add(data)

    def play(self, attachment_id: str) -> None:
        """Stream a voice memo from the hub (a fresh signed link each time)."""
        self._request_url(attachment_id, self._play_url)

    def stop(self) -> None:
        if self._player is not None:
            self._player.stop()
        self.stop_button.setEnabled(False)

    @property
    def player(self) -> QMediaPlayer:
        """The memo player, made on first use (the multimedia backend is not free)."""
        if self._player is None:
            self._audio = QAudioOutput(self)
            self._player = QMediaPlayer(self)
            self._player.setAudioOutput(self._audio)
            self._player.errorOccurred.connect(self._on_player_error)
        return self._player

    # ---- private ----------------------------------------------------------------------

    def _text(self, attachment_id: str) -> str:
        attachment = self.attachments[attachment_id]
        sha256 = str(attachment.get("sha256", ""))
        text = tr(
            "{kind} · {size} · SHA-256 {sha256}",
            kind=kind_label(str(attachment.get("kind", ""))),
            size=size_label(int(attachment.get("size") or 0)),
            sha256=sha256,
        )
        verified = self.verified.get(attachment_id)
        if verified is True:
            return text + " · " + tr("verified")
        if verified is False:
            return text + " · " + tr("HASH MISMATCH")
        return text

    def _item(self, attachment_id: str) -> QListWidgetItem | None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(ID_ROLE) == attachment_id:
                return item
        return None

    def _request_url(self, attachment_id: str, then: Callable[[str, str, str], None]) -> None:
        hub = self.session.hub
        if hub is None:
            return
        task_id = self.task_id
        hub.request(
            URL_METHOD,
            {"attachment_id": attachment_id},
            lambda result: then(attachment_id, task_id, http_base(hub.url) + result["path"]),
            self._on_error,
        )

    def _fetch(self, attachment_id: str, task_id: str, url: str) -> None:
        if task_id != self.task_id:
            return
        reply = self._network.get(QNetworkRequest(QUrl(url)))
        reply.finished.connect(lambda: self._on_fetched(attachment_id, task_id, reply))

    def _on_fetched(self, attachment_id: str, task_id: str, reply: QNetworkReply) -> None:
        reply.deleteLater()
        if task_id != self.task_id or attachment_id not in self.attachments:
            return
        if reply.error() != QNetworkReply.NetworkError.NoError:
            self.sig_message.emit(
                tr(
                    "Attachment {id} could not be loaded: {error}",
                    id=attachment_id,
                    error=reply.errorString(),
                )
            )
            return
        body = bytes(reply.readAll().data())
        ok = hashlib.sha256(body).hexdigest() == self.attachments[attachment_id].get("sha256")
        self.verified[attachment_id] = ok
        item = self._item(attachment_id)
        if item is not None:
            item.setText(self._text(attachment_id))
        image = QImage.fromData(body)
        if not ok or image.isNull():
            return
        thumbnail = image.scaled(
            THUMBNAIL_PX,
            THUMBNAIL_PX,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        self.thumbnails[attachment_id] = thumbnail
        if item is not None:
            item.setIcon(QIcon(QPixmap.fromImage(thumbnail)))
        self.sig_thumbnail_ready.emit(attachment_id)

    def _play_url(self, attachment_id: str, task_id: str, url: str) -> None:
        if task_id != self.task_id:
            return
        player = self.player
        player.setSource(QUrl(url))
        player.play()
        self.stop_button.setEnabled(True)

    def _current_id(self) -> str:
        item = self.list.currentItem()
        return "" if item is None else str(item.data(ID_ROLE))

    def _on_current(
        self, current: QListWidgetItem | None, _previous: QListWidgetItem | None
    ) -> None:
        attachment = self.attachments.get("" if current is None else str(current.data(ID_ROLE)))
        self.play_button.setEnabled(attachment is not None and attachment.get("kind") == "voice")

    def _on_activated(self, item: QListWidgetItem) -> None:
        attachment_id = str(item.data(ID_ROLE))
        if self.attachments.get(attachment_id, {}).get("kind") == "voice":
            self.play(attachment_id)

    def _play_current(self) -> None:
        attachment_id = self._current_id()
        if attachment_id:
            self.play(attachment_id)

    def _on_player_error(self, _error: QMediaPlayer.Error, detail: str) -> None:
        self.stop_button.setEnabled(False)
        self.sig_message.emit(tr("The voice memo cannot be played: {detail}", detail=detail))

    def _on_error(self, error: HubError) -> None:
        self.sig_message.emit(
            tr("Hub error {code}: {detail}", code=error.code, detail=error.detail)
        )
