"""Alarm sounds follow the settings: on/off, per severity, volume; the tone files are real WAVs."""

from __future__ import annotations

import wave

from PySide6.QtWidgets import QApplication

from console.shell.alarm_sound import AlarmSound, tone_file, wanted
from console.shell.settings import (
    AlarmSoundSettings,
    Settings,
    SeveritySounds,
    save_settings,
)


def test_settings_decide_which_alarms_sound() -> None:
    default = AlarmSoundSettings()
    assert wanted(default, "critical")
    assert wanted(default, "warning")
    assert not wanted(default, "info")
    assert not wanted(AlarmSoundSettings(enabled=False), "critical")
    assert not wanted(AlarmSoundSettings(volume=0), "critical")
    assert wanted(AlarmSoundSettings(severities=SeveritySounds(info=True)), "info")
    assert not wanted(default, "unknown")


def test_player_reads_the_saved_settings_each_time(qapp: QApplication) -> None:
    sound = AlarmSound()
    try:
        assert sound.play("critical")
        assert sound.play_worst(["info", "critical", "bogus"])
        assert not sound.play_worst(["info"])  # info is silent by default
        save_settings(Settings(alarm_sounds=AlarmSoundSettings(enabled=False)))
        assert not sound.play("critical")  # the dialog's change applies at once
    finally:
        sound.deleteLater()


def test_tones_are_short_mono_wavs_distinct_per_severity() -> None:
    lengths = {}
    for severity in ("info", "warning", "critical"):
        with wave.open(str(tone_file(severity))) as tone:
            assert tone.getnchannels() == 1
            assert tone.getsampwidth() == 2
            lengths[severity] = tone.getnframes() / tone.getframerate()
    assert 0 < lengths["info"] < lengths["warning"] < lengths["critical"] < 1.5
