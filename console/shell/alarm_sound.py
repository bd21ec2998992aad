"""Alarm sounds as the user's settings ask: the one place that decides whether and how loud.

Settings are read at each alarm, so a change in the settings dialog applies at once. The
tones are short WAV files generated on first use in the data dir (no sound assets to ship);
without an audio device Qt stays silent and the visual alarm still shows.
"""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

from PySide6.QtCore import QObject, QUrl
from PySide6.QtMultimedia import QSoundEffect

from console.core.paths import data_dir
from console.shell.settings import AlarmSoundSettings, load_settings

# severity -> (frequency Hz, beeps): higher and more insistent for worse alarms
TONES: dict[str, tuple[float, int]] = {
    "info": (520.0, 1),
    "warning": (660.0, 2),
    "critical": (880.0, 3),
}
RATE = 22_050


def tone_file(severity: str) -> Path:
    """The WAV for ``severity`` (written once)."""
    frequency, beeps = TONES[severity]
    path = data_dir() / "sounds" / f"alarm-{severity}.wav"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    beep, gap = int(RATE * 0.18), int(RATE * 0.09)
    frames = bytearray()
    for _ in range(beeps):
        for n in range(beep):
            fade = min(1.0, n / 200, (beep - n) / 200)  # no clicks at the edges
            sample = int(12_000 * fade * math.sin(2 * math.pi * frequency * n / RATE))
            frames += struct.pack("<h", sample)
        frames += b"\0\0" * gap
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(bytes(frames))
    return path


def wanted(settings: AlarmSoundSettings, severity: str) -> bool:
    """Whether an alarm of ``severity`` should sound under ``settings``."""
    if not settings.enabled or settings.volume == 0 or severity not in TONES:
        return False
    return bool(getattr(settings.severities, severity))


class AlarmSound(QObject):
    """Plays the alarm tone of a severity when the settings want it."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._effects: dict[str, QSoundEffect] = {}

    def play(self, severity: str) -> bool:
        """Sound an alarm of ``severity``; returns whether a sound was asked for."""
        settings = load_settings().settings.alarm_sounds
        if not wanted(settings, severity):
            return False
        effect = self._effects.get(severity)
        if effect is None:
            effect = QSoundEffect(self)
            effect.setSource(QUrl.fromLocalFile(str(tone_file(severity))))
            self._effects[severity] = effect
        effect.setVolume(settings.volume / 100)
        effect.play()
        return True

    def play_worst(self, severities: list[str]) -> bool:
        """One sound for a batch of alarms: the worst severity's (unknown ones are ignored)."""
        known = [s for s in severities if s in TONES]
        if not known:
            return False
        return self.play(max(known, key=list(TONES).index))
