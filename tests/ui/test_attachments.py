"""A photo uploaded by a real field device shows up live as a checked thumbnail."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QColor, QImage
from pytestqt.qtbot import QtBot

from console.dispatch import DispatchFeature
from console.dispatch.attachments import THUMBNAIL_PX, http_base
from tests.ui.test_roster import (  # noqa: F401  (module fixtures reused)
    FieldDevice,
    dispatcher,
    issue_token,
    roster_db,
    roster_hub,
)
from tests.ui.test_shell import Shell, log_in


def call(qtbot: QtBot, shell: Shell, method: str, params: dict[str, Any]) -> Any:
    answers: list[Any] = []
    errors: list[Any] = []
    shell.link.request(method, params, on_result=answers.append, on_error=errors.append)
    qtbot.waitUntil(lambda: bool(answers or errors), timeout=10_000)
    assert not errors, errors
    return answers[0]


def png_bytes(width: int, height: int) -> bytes:
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor("#c62828"))
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    assert image.save(buffer, "PNG")
    buffer.close()
    return bytes(data.data())


def test_http_base_follows_the_hub_scheme() -> None:
    assert http_base("ws://127.0.0.1:8765/ws/console") == "http://127.0.0.1:8765"
    assert http_base("wss://hub.example:443/ws/console") == "https://hub.example:443"
    with pytest.raises(ValueError, match="not a hub address"):
        http_base("ftp://x")


def test_photo_from_a_field_device_appears_as_a_verified_thumbnail(
    qtbot: QtBot,
    roster_db: str,  # noqa: F811
    dispatcher: tuple[Shell, DispatchFeature],  # noqa: F811
) -> None:
    shell, feature = dispatcher
    log_in(qtbot, shell)
    enterprise = sorted(shell.session.snapshot["enterprises"], key=lambda e: e["id"])[0]
    created = call(
        qtbot,
        shell,
        "complaint.create",
        {
            "channel": "web",
            "category": "water",
            "urgency": "normal",
            "reporter_name": "",
            "reporter_phone": "",
            "description": "排口冒黑水",
            "lon": enterprise["lon"],
            "lat": enterprise["lat"],
        },
    )
    task = call(qtbot, shell, "task.dispatch", {"complaint_id": created["complaint"]["id"]})["task"]
    shell.session.set_current_task(task["id"])
    timeline = feature.timeline
    qtbot.waitUntil(
        lambda: timeline.task is not None and timeline.task["id"] == task["id"], timeout=10_000
    )
    attachments = timeline.attachments
    assert attachments.list.count() == 0

    photo = png_bytes(64, 48)
    digest = hashlib.sha256(photo).hexdigest()
    device = FieldDevice(shell.link.url, issue_token(roster_db, task["assignee_officer_id"]))
    try:
        assert device.hello()["type"] == "welcome"
        device.send(
            {
                "type": "upload.begin",
                "upload_id": "ui-photo-0001",
                "task_id": task["id"],
                "kind": "photo",
                "mime": "image/png",
                "size": len(photo),
                "sha256": digest,
            }
        )
        assert device.receive("upload.ready")["received"] == 0
        device.send(
            {
                "type": "upload.chunk",
                "upload_id": "ui-photo-0001",
                "offset": 0,
                "data": base64.b64encode(photo).decode(),
            }
        )
        device.receive("upload.progress")
        device.send({"type": "upload.end", "upload_id": "ui-photo-0001"})
        attachment_id = device.receive("upload.done")["attachment_id"]
    finally:
        device.close()

    # Live: the attachment.added event adds it, then the bytes come over HTTP.
    qtbot.waitUntil(lambda: attachment_id in attachments.thumbnails, timeout=10_000)
    assert attachments.verified[attachment_id] is True
    assert attachments.attachments[attachment_id]["sha256"] == digest
    thumbnail = attachments.thumbnails[attachment_id]
    assert (thumbnail.width(), thumbnail.height()) == (THUMBNAIL_PX, THUMBNAIL_PX * 48 // 64)
    assert thumbnail.pixelColor(10, 10).red() > 180
    item = attachments.list.item(0)
    assert digest in item.text()
    assert not item.icon().isNull()
    assert not attachments.play_button.isEnabled()  # a photo is not playable

    # Reloading the task (task.get) keeps one entry per attachment.
    timeline.reload()
    qtbot.waitUntil(lambda: attachments.list.count() == 1, timeout=10_000)
    qtbot.wait(200)
    assert attachments.list.count() == 1
