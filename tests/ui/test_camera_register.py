"""The camera register dialog against a real hub: an admin adds, renames and removes a camera;
credentials go to the hub and never come back; a dispatcher's change is refused with a reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from console import video
from console.video.register import CameraRegister
from tests.ui.conftest import copy_db
from tests.ui.test_shell import ThreadedHub, log_in, make_shell


@pytest.fixture(scope="module")
def register_hub(
    tmp_path_factory: pytest.TempPathFactory, county_db_template: Path
) -> Iterator[str]:
    hub = ThreadedHub(copy_db(county_db_template, tmp_path_factory.mktemp("register-hub")))
    hub.start()
    yield hub.url
    hub.stop()


def test_admin_manages_cameras_and_others_are_refused(qtbot: QtBot, register_hub: str) -> None:
    admin = make_shell(qtbot, register_hub)
    dispatcher = make_shell(qtbot, register_hub)
    try:
        log_in(qtbot, admin, "admin")
        dialog = CameraRegister(admin.session)
        qtbot.addWidget(dialog)
        enterprise = admin.session.snapshot["enterprises"][0]
        dialog.name.setText("东门排口")
        dialog.url.setText("rtsp://127.0.0.1:8554/east")
        dialog.enterprise.setCurrentIndex(dialog.enterprise.findData(enterprise["id"]))
        dialog.username.setText("viewer")
        dialog.password.setText("s3cret")
        dialog.add()
        qtbot.waitUntil(
            lambda: any(c["name"] == "东门排口" for c in dialog.cameras), timeout=10_000
        )
        camera = next(c for c in dialog.cameras if c["name"] == "东门排口")
        assert camera["enterprise_id"] == enterprise["id"]
        assert "s3cret" not in str(camera)  # credentials stay in the hub

        dialog.list.setCurrentRow(dialog.cameras.index(camera))
        dialog.name.setText("东门排口（夜视）")
        dialog.save()  # stream URL left empty: unchanged
        qtbot.waitUntil(
            lambda: any(c["name"] == "东门排口（夜视）" for c in dialog.cameras), timeout=10_000
        )

        log_in(qtbot, dispatcher, "dispatcher")
        refused = CameraRegister(dispatcher.session)
        qtbot.addWidget(refused)
        qtbot.waitUntil(lambda: bool(refused.cameras), timeout=10_000)
        refused.list.setCurrentRow(0)
        refused.remove()
        qtbot.waitUntil(lambda: "您的角色无权" in refused.status.text(), timeout=10_000)

        row = next(i for i, c in enumerate(dialog.cameras) if c["id"] == camera["id"])
        dialog.list.setCurrentRow(row)
        dialog.remove()
        qtbot.waitUntil(
            lambda: all(c["id"] != camera["id"] for c in dialog.cameras), timeout=10_000
        )
    finally:
        admin.link.close()
        dispatcher.link.close()


def test_wall_layouts_are_saved_in_the_hub_and_offered_again(
    qtbot: QtBot, register_hub: str
) -> None:
    first = make_shell(qtbot, register_hub)
    second = make_shell(qtbot, register_hub)
    try:
        log_in(qtbot, first, "commander")
        panel = video.install(first.window, first.session)
        panel.wall.set_layout("2x3")
        panel.save_current_layout("指挥大厅")
        log_in(qtbot, second, "dispatcher")
        other = video.install(second.window, second.session)
        other.load_saved_layouts()
        qtbot.waitUntil(lambda: other.layouts.findText("已存：指挥大厅") >= 0, timeout=10_000)
        other.layouts.setCurrentIndex(other.layouts.findText("已存：指挥大厅"))
        assert (other.wall.layout_.rows, other.wall.layout_.cols) == (2, 3)
    finally:
        first.link.close()
        second.link.close()
