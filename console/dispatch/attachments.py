"""A task's field attachments in the timeline: photo thumbnails, playable voice memos.

The hub serves attachment bytes over plain HTTP on its own port with a short-lived signed
path (``attachment.url``). Photos are fetched with QNetworkAccessManager, which works on
the GUI thread's event loop without blocking it; the bytes are checked against the
SHA-256 the officer's phone declared before the thumbnail is shown. Voice memos stream
into QMediaPlayer from a fresh signed URL each time they are played. New attachments
appear live from ``attachment.added`` events.

``ComplaintFiles`` is the other direction: files picked (or dropped) in the intake form are
uploaded to the complaint once it exists, in chunks over the console link
(``complaint.attachment.*``, the link caps a message at 1 MiB). Hashing runs on a worker
thread; the requests go through the hub link, whose callbacks arrive on the GUI thread.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QIcon, QImage, QPixmap
from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer
from PySide6.QtNetwork import QNetworkAccessManager, QNetworkReply, QNetworkRequest
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.hub.client import HubError
from console.shell.hub_errors import error_text
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
    labels = {"photo": tr("Photo"), "voice": tr("Voice memo"), "complaint": tr("Complaint file")}
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
        is_image = attachment.get("kind") == "photo" or (
            attachment.get("kind") == "complaint"
            and str(attachment.get("mime")).startswith("image/")
        )
        if is_image and attachment_id not in self.thumbnails:
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
        self.sig_message.emit(error_text(error))


# ---- complaint files at intake --------------------------------------------------------------

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
"""The hub's cap on one complaint file (``complaint.attachment.begin``)."""
UPLOAD_CHUNK_BYTES = 512 * 1024


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(slots=True)
class _Pending:
    path: Path
    size: int
    sha256: str = ""


class ComplaintFiles(QWidget):
    """Files to attach to the complaint being registered; ``upload`` sends them to the hub."""

    sig_uploaded = Signal(object)
    """One file is stored on the hub: ``complaint.attachment.end``'s attachment dict."""

    sig_finished = Signal()
    """The upload run ended (every file uploaded, or stopped at an error shown in the widget)."""

    _sig_hashed = Signal(str, str)  # worker thread -> GUI thread: (path, sha256 or "")

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.files: list[_Pending] = []
        self.complaint_id = ""
        self.sent = 0
        self.uploading = False
        self.list = QListWidget()
        self.list.setMaximumHeight(80)
        self.add_button = QPushButton(tr("Add files…"))
        self.remove_button = QPushButton(tr("Remove"))
        self.retry_button = QPushButton(tr("Retry upload"))
        self.retry_button.hide()
        self.progress = QProgressBar()
        self.progress.hide()
        self.status = QLabel()
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.retry_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self.setAcceptDrops(True)
        self.add_button.clicked.connect(self._choose)
        self.remove_button.clicked.connect(self._remove_current)
        self.retry_button.clicked.connect(lambda: self.upload(self.complaint_id))
        self._sig_hashed.connect(self._on_hashed)

    # ---- public -----------------------------------------------------------------------

    def add_files(self, paths: list[str]) -> None:
        """Queue regular files; too large or unreadable ones are refused with a message."""
        problems: list[str] = []
        for name in paths:
            path = Path(name)
            if not path.is_file():
                problems.append(tr("{name} is not a readable file.", name=path.name))
                continue
            size = path.stat().st_size
            if size == 0 or size > MAX_UPLOAD_BYTES:
                problems.append(
                    tr(
                        "{name} must be 1 byte to 50 MB ({size}).",
                        name=path.name,
                        size=size_label(size),
                    )
                )
                continue
            if any(f.path == path for f in self.files):
                continue
            self.files.append(_Pending(path, size))
            item = QListWidgetItem(f"{path.name} · {size_label(size)}")
            item.setToolTip(str(path))
            self.list.addItem(item)
        self._show(" ".join(problems), error=bool(problems))

    def clear(self) -> None:
        """Forget the queued files (not while they are being uploaded)."""
        if self.uploading:
            return
        self.files.clear()
        self.list.clear()
        self.progress.hide()

    def upload(self, complaint_id: str) -> bool:
        """Send the queued files to ``complaint_id`` one after the other; False if none."""
        if not self.files or self.uploading or self.session.hub is None:
            return False
        self.complaint_id = complaint_id
        self.uploading = True
        self.sent = 0
        self.retry_button.hide()
        self.add_button.setEnabled(False)
        self.remove_button.setEnabled(False)
        self.progress.setRange(0, sum(f.size for f in self.files))
        self.progress.setValue(0)
        self.progress.show()
        self._next()
        return True

    # ---- drag and drop ----------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if event.mimeData().hasUrls() and not self.uploading:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        self.add_files([url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()])
        event.acceptProposedAction()

    # ---- private ----------------------------------------------------------------------

    def _choose(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(self, tr("Attach files to the complaint"))
        self.add_files(names)

    def _remove_current(self) -> None:
        row = self.list.currentRow()
        if row >= 0 and not self.uploading:
            self.list.takeItem(row)
            del self.files[row]

    def _show(self, text: str, *, error: bool = False) -> None:
        self.status.setStyleSheet("color: #b3261e;" if error else "")
        self.status.setText(text)

    def _next(self) -> None:
        """Hash the first queued file off the GUI thread, then begin its upload."""
        if not self.files:
            self._end(tr("All files uploaded."), error=False)
            return
        pending = self.files[0]
        self._show(tr("Uploading {name}…", name=pending.path.name))

        def work() -> None:
            try:
                digest = file_sha256(pending.path)
            except OSError:
                digest = ""
            self._sig_hashed.emit(str(pending.path), digest)

        threading.Thread(target=work, name="complaint-file-hash", daemon=True).start()

    def _on_hashed(self, path: str, digest: str) -> None:
        pending = self.files[0]
        if not digest or str(pending.path) != path:
            self._end(tr("{name} could not be read.", name=pending.path.name), error=True)
            return
        pending.sha256 = digest
        mime = mimetypes.guess_type(pending.path.name)[0] or "application/octet-stream"
        self._request(
            "complaint.attachment.begin",
            {
                "complaint_id": self.complaint_id,
                "name": pending.path.name,
                "mime": mime,
                "size": pending.size,
                "sha256": digest,
            },
            lambda result: self._send_from(str(result["upload_id"]), int(result["received"])),
        )

    def _send_from(self, upload_id: str, offset: int) -> None:
        pending = self.files[0]
        self.progress.setValue(self.sent + offset)
        if offset >= pending.size:
            self._request("complaint.attachment.end", {"upload_id": upload_id}, self._on_file_done)
            return
        try:
            with pending.path.open("rb") as source:
                source.seek(offset)
                data = source.read(UPLOAD_CHUNK_BYTES)
        except OSError as exc:
            self._end(
                tr(
                    "{name} could not be read: {error}",
                    name=pending.path.name,
                    error=exc.strerror or "",
                ),
                error=True,
            )
            return
        self._request(
            "complaint.attachment.chunk",
            {"upload_id": upload_id, "offset": offset, "data_b64": base64.b64encode(data).decode()},
            lambda result: self._send_from(upload_id, int(result["received"])),
        )

    def _on_file_done(self, result: dict[str, Any]) -> None:
        pending = self.files.pop(0)
        self.list.takeItem(0)
        self.sent += pending.size
        self.progress.setValue(self.sent)
        self.sig_uploaded.emit(result["attachment"])
        self._next()

    def _request(
        self, method: str, params: dict[str, Any], on_result: Callable[[Any], None]
    ) -> None:
        if self.session.hub is None:
            self._end(tr("Not connected to the hub."), error=True)
            return
        self.session.hub.request(method, params, on_result=on_result, on_error=self._on_error)

    def _on_error(self, error: HubError) -> None:
        name = self.files[0].path.name if self.files else ""
        self._end(
            tr("Uploading {name} failed: {reason}", name=name, reason=error_text(error)),
            error=True,
        )

    def _end(self, message: str, *, error: bool) -> None:
        self.uploading = False
        self.add_button.setEnabled(True)
        self.remove_button.setEnabled(True)
        # What is left stays queued: the hub keeps the received bytes, a retry resumes there.
        self.retry_button.setVisible(error and bool(self.files))
        if not error:
            self.progress.hide()
        self._show(message, error=error)
        self.sig_finished.emit()
