"""Typed settings (file, migration, problems), the 设置… dialog, locale formatting, self-test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from console.__main__ import main
from console.map.basemap import BasemapKind, load_basemap
from console.shell import i18n
from console.shell.main_window import MainWindow
from console.shell.session import Session
from console.shell.settings import (
    SETTINGS_VERSION,
    BasemapSettings,
    Settings,
    load_settings,
    save_settings,
    settings_path,
)
from console.shell.settings_dialog import SettingsDialog


@pytest.fixture
def restore_language() -> Iterator[None]:
    yield
    i18n.set_language(i18n.DEFAULT_LANGUAGE)


def write(data: object) -> Path:
    path = settings_path()
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_defaults_without_a_file_and_the_file_is_in_the_isolated_home(
    isolated_home: Path,
) -> None:
    loaded = load_settings()
    assert loaded.settings == Settings()
    assert loaded.problems == ()
    assert loaded.path == isolated_home / "settings.json"


def test_save_and_load_round_trip() -> None:
    settings = Settings(
        hub_url="ws://10.0.0.5:8765/ws/console",
        language="en",
        basemap=BasemapSettings(kind="xyz", url="http://t/{z}/{x}/{y}.png", datum="gcj02"),
    )
    save_settings(settings)
    loaded = load_settings()
    assert loaded.settings == settings
    assert loaded.problems == ()


def test_bad_values_cost_only_their_field_and_are_named() -> None:
    write(
        {
            "version": SETTINGS_VERSION,
            "language": "fr",
            "hub_url": "http://wrong",
            "basemap": {"max_zoom": 40, "attribution": "© 天地图"},
            "alarm_sounds": {"volume": "loud", "severities": {"info": True}},
            "video_wall": {"tour_seconds": 1, "layout": "9"},
            "colour": "red",
        }
    )
    loaded = load_settings()
    fields = {p.field for p in loaded.problems}
    assert fields == {
        "language",
        "hub_url",
        "basemap.max_zoom",
        "alarm_sounds.volume",
        "video_wall.tour_seconds",
        "colour",
    }
    zoom = next(p for p in loaded.problems if p.field == "basemap.max_zoom")
    assert "22" in zoom.message
    assert "40" in zoom.message
    assert "default 18" in zoom.message
    settings = loaded.settings
    assert (settings.language, settings.hub_url) == ("zh_CN", "")
    assert settings.basemap.max_zoom == 18
    assert settings.basemap.attribution == "© 天地图"  # the good neighbours are kept
    assert settings.alarm_sounds.severities.info is True
    assert settings.video_wall.layout == "9"


def test_inconsistent_basemap_falls_back_to_vector_and_says_why(tmp_path: Path) -> None:
    write({"basemap": {"kind": "folder", "path": str(tmp_path / "missing")}})
    loaded = load_settings()
    assert loaded.settings.basemap.kind == "vector"
    assert [p.field for p in loaded.problems] == ["basemap"]
    assert "does not exist" in loaded.problems[0].message


def test_not_json_is_reported_and_kept_as_bad_on_save() -> None:
    path = settings_path()
    path.write_text("{not json", encoding="utf-8")
    loaded = load_settings()
    assert loaded.settings == Settings()
    assert "could not be read" in str(loaded.problems[0])
    save_settings(Settings(language="en"))
    assert path.with_name("settings.json.bad").read_text(encoding="utf-8") == "{not json"
    assert load_settings().settings.language == "en"


def test_version_1_is_migrated() -> None:
    write({"hub": "ws://hub:8765/ws/console", "lang": "en", "alarm_sound": False})
    loaded = load_settings()
    assert loaded.problems == ()
    assert loaded.settings.hub_url == "ws://hub:8765/ws/console"
    assert loaded.settings.language == "en"
    assert loaded.settings.alarm_sounds.enabled is False
    assert loaded.settings.version == SETTINGS_VERSION


def test_a_newer_file_is_read_but_reported() -> None:
    write({"version": SETTINGS_VERSION + 1, "language": "en"})
    loaded = load_settings()
    assert loaded.settings.language == "en"
    assert [p.field for p in loaded.problems] == ["version"]


def test_save_refuses_invalid_settings() -> None:
    with pytest.raises(ValueError, match="hub_url"):
        save_settings(Settings(hub_url="localhost:8765"))
    assert not settings_path().exists()


def test_map_takes_its_basemap_from_the_settings() -> None:
    save_settings(Settings(basemap=BasemapSettings(kind="xyz", url="http://t/{z}/{x}/{y}.png")))
    config = load_basemap({})
    assert config.kind is BasemapKind.XYZ
    assert config.url == "http://t/{z}/{x}/{y}.png"
    # the environment variable still wins
    env = {"ENFORCEMENT_CONSOLE_BASEMAP": '{"kind": "vector"}'}
    assert load_basemap(env).kind is BasemapKind.VECTOR


def test_dialog_validates_inline_and_applies(qtbot: QtBot) -> None:
    dialog = SettingsDialog()
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    apply = dialog.buttons.button(QDialogButtonBox.StandardButton.Apply)
    assert ok.isEnabled()
    dialog.hub_url.setText("localhost:8765")
    assert not ok.isEnabled()
    assert not apply.isEnabled()
    assert "hub_url" in dialog.error_label.text()
    assert dialog.hub_url.styleSheet()
    dialog.hub_url.setText("ws://127.0.0.1:8765/ws/console")
    assert ok.isEnabled()
    assert not dialog.hub_url.styleSheet()
    assert not dialog.restart_label.isHidden()  # hub change needs a restart
    dialog.basemap_kind.setCurrentIndex(dialog.basemap_kind.findData("xyz"))
    dialog.basemap_url.setText("http://tiles/{z}/{y}.png")
    assert not ok.isEnabled()
    dialog.basemap_url.setText("http://tiles/{z}/{x}/{y}.png")
    dialog.sound_volume.setValue(35)
    with qtbot.waitSignal(dialog.sig_applied) as applied:
        apply.click()
    saved = load_settings().settings
    assert applied.args == [saved]
    assert saved.hub_url == "ws://127.0.0.1:8765/ws/console"
    assert saved.basemap.kind == "xyz"
    assert saved.alarm_sounds.volume == 35
    assert dialog.isVisible() is False or dialog.result() == 0  # Apply keeps it open
    ok.click()
    assert dialog.result() == SettingsDialog.DialogCode.Accepted


def test_dialog_lists_load_problems_and_cancel_saves_nothing(qtbot: QtBot) -> None:
    write({"video_wall": {"screen": -1}})
    dialog = SettingsDialog()
    qtbot.addWidget(dialog)
    assert "video_wall.screen" in dialog.load_problems.text()
    dialog.language.setCurrentIndex(dialog.language.findData("en"))
    assert not dialog.restart_label.isHidden()
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
    assert json.loads(settings_path().read_text(encoding="utf-8")) == {"video_wall": {"screen": -1}}


def test_main_window_opens_the_dialog_from_the_file_menu(qtbot: QtBot) -> None:
    window = MainWindow(Session())
    qtbot.addWidget(window)
    assert window.settings_action in window.file_menu.actions()
    window.settings_action.trigger()
    dialogs = window.findChildren(SettingsDialog)
    assert len(dialogs) == 1
    assert dialogs[0].isVisible()
    dialogs[0].reject()


def test_locale_formatting_follows_the_language(restore_language: None) -> None:
    moment = datetime(2024, 5, 1, 14, 3, 9)
    i18n.set_language("zh_CN")
    assert i18n.format_datetime(moment) == "2024/5/1 14:03"
    assert i18n.format_datetime(moment, seconds=True) == "2024/5/1 14:03:09"
    assert i18n.format_date(date(2024, 5, 1)) == "2024/5/1"
    assert i18n.format_time(moment) == "14:03"
    assert i18n.format_number(1234567.891, 2) == "1,234,567.89"
    i18n.set_language("en")
    assert i18n.format_datetime(moment) == "5/1/24 2:03\u202fPM".replace("\u202f", " ") or (
        i18n.format_datetime(moment).startswith("5/1/24 2:03")
    )
    assert i18n.format_time(moment, seconds=True).startswith("2:03:09")
    assert i18n.format_number(12345) == "12,345"
    with pytest.raises(ValueError, match="ISO 8601"):
        i18n.format_datetime("yesterday")


@pytest.mark.slow
def test_self_test_runs_in_process_without_touching_the_home(
    isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--self-test"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["ok"] is True, result
    assert result["hub"].startswith("ws://127.0.0.1:")
    assert result["world"]["districts"] == 1
    assert result["map_rendered_ms"] > 0
    assert list(isolated_home.iterdir()) == []
