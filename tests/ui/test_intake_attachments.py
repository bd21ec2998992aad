"""Files attached at intake reach a REAL hub in chunks and show up with the complaint."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from console.charts import ChartsFeature
from console.dispatch import DispatchFeature, install
from console.dispatch.attachments import MAX_UPLOAD_BYTES, UPLOAD_CHUNK_BYTES
from console.shell.i18n import tr
from tests.ui.conftest import copy_db
from tests.ui.test_dispatch_flow import call, first_enterprise
from tests.ui.test_shell import Shell, ThreadedHub, log_in, make_shell


@pytest.fixture(scope="module")
def intake_hub(
    tmp_path_factory: pytest.TempPathFactory, county_db_template: Path
) -> Iterator[ThreadedHub]:
    hub = ThreadedHub(copy_db(county_db_template, tmp_path_factory.mktemp("intake-files-hub")))
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture
def dispatcher(qtbot: QtBot, intake_hub: ThreadedHub) -> Iterator[tuple[Shell, DispatchFeature]]:
    shell = make_shell(qtbot, intake_hub.url)
    feature = install(shell.window, shell.session)
    log_in(qtbot, shell)
    yield shell, feature
    shell.link.close()


def test_intake_uploads_files_after_the_complaint_is_created(
    qtbot: QtBot, dispatcher: tuple[Shell, DispatchFeature], tmp_path: Path
) -> None:
    shell, feature = dispatcher
    intake = feature.intake
    photo = tmp_path / "现场照片.jpg"
    photo.write_bytes(os.urandom(UPLOAD_CHUNK_BYTES + 1000))  # two chunks
    note = tmp_path / "note.txt"
    note.write_text("夜间排放，气味刺鼻", encoding="utf-8")
    intake.files.add_files([str(photo), str(note), str(tmp_path / "missing.png")])
    assert intake.files.list.count() == 2
    assert "missing.png" in intake.files.status.text()

    intake.description.setPlainText("厂区夜间排放刺鼻气体")
    enterprise = first_enterprise(shell)
    intake.set_location(enterprise["lon"], enterprise["lat"])
    uploaded: list[dict[str, object]] = []
    intake.files.sig_uploaded.connect(uploaded.append)
    progress: list[int] = []
    intake.files.progress.valueChanged.connect(progress.append)
    with qtbot.waitSignal(intake.files.sig_finished, timeout=20_000):
        intake.submit()
    assert progress[-1] == photo.stat().st_size + note.stat().st_size
    assert UPLOAD_CHUNK_BYTES in progress  # after the first chunk
    assert intake.files.status.text() == tr("All files uploaded.")
    assert not intake.files.uploading
    assert intake.files.list.count() == 0
    assert [a["name"] for a in uploaded] == ["现场照片.jpg", "note.txt"]
    assert uploaded[0]["sha256"] == hashlib.sha256(photo.read_bytes()).hexdigest()

    complaint_id = str(uploaded[0]["complaint_id"])
    complaint = call(qtbot, shell, "complaint.get", {"id": complaint_id})
    assert {a["size"] for a in complaint["attachments"]} == {
        photo.stat().st_size,
        note.stat().st_size,
    }
    assert {a["mime"] for a in complaint["attachments"]} == {"image/jpeg", "text/plain"}

    # The complaint's files are listed with its task's attachments in the timeline.
    task = call(qtbot, shell, "task.dispatch", {"complaint_id": complaint_id})["task"]
    shell.session.set_current_task(task["id"])
    attachments = feature.timeline.attachments
    qtbot.waitUntil(lambda: attachments.list.count() == 2, timeout=10_000)
    assert set(attachments.attachments) == {a["attachment_id"] for a in uploaded}


def test_too_large_file_is_refused_with_a_message(
    qtbot: QtBot, dispatcher: tuple[Shell, DispatchFeature], tmp_path: Path
) -> None:
    _shell, feature = dispatcher
    big = tmp_path / "video.mp4"
    with big.open("wb") as out:  # sparse: no 50 MB written
        out.truncate(MAX_UPLOAD_BYTES + 1)
    feature.intake.files.add_files([str(big)])
    assert feature.intake.files.list.count() == 0
    assert "video.mp4" in feature.intake.files.status.text()
    assert feature.intake.files.upload("C-nothing-queued") is False


# ---- recording an inspection outcome from the suspicion ranking ----------------------------

# The supervision hub (stored hourly data, so enterprises have scores) and its console.
from tests.ui.test_supervision import (  # noqa: E402
    console_with_charts,  # noqa: F401
    supervision_db,  # noqa: F401
    supervision_hub,  # noqa: F401
)


def test_ranking_records_an_inspection_outcome_and_shows_the_refit(
    qtbot: QtBot,
    console_with_charts: tuple[Shell, ChartsFeature],  # noqa: F811
) -> None:
    shell, feature = console_with_charts
    ranking = feature.supervision.ranking
    loaded: list[int] = []
    ranking.sig_loaded.connect(loaded.append)
    log_in(qtbot, shell)
    qtbot.waitUntil(lambda: bool(loaded), timeout=60_000)
    assert not ranking.confirmed_button.isEnabled()
    ranking.select_row(0)

    created: list[dict[str, Any]] = []
    ranking.sig_inspection_created.connect(created.append)
    ranking.inspect_button.click()
    qtbot.waitUntil(lambda: bool(created), timeout=10_000)
    assert ranking.outcome_task.text() == created[0]["id"]  # prefilled with the inspection

    recorded: list[dict[str, Any]] = []
    ranking.sig_outcome_recorded.connect(recorded.append)
    ranking.confirmed_button.click()
    qtbot.waitUntil(lambda: bool(recorded), timeout=10_000)
    reply = recorded[0]
    assert reply["outcomes"] >= 1
    assert reply["outcome_id"]
    assert "refitted" in reply["refit"]
    assert str(reply["outcomes"]) in ranking.status.text()

    ranking.outcome_task.setText("T-no-such-task")
    ranking.clean_button.click()
    qtbot.waitUntil(lambda: "未找到" in ranking.status.text(), timeout=10_000)
    assert "T-no-such-task" in ranking.status.text()  # the hub's detail follows
    assert ranking.clean_button.isEnabled()
    assert len(recorded) == 1
