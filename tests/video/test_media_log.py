"""The media backend's per-frame log lines stay off the console's terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.__main__ import main as console_main
from console.shell.media_log import QUIET_CATEGORIES, avutil_path, quiet_libav

ROOT = Path(__file__).resolve().parents[2]
NOISE = "deprecated pixel format"


def _play(mode: str, frames: int) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("QT_FFMPEG_DEBUG", "QT_LOGGING_RULES")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    return subprocess.run(
        [sys.executable, "-m", "tests.video.play_mjpeg", mode, str(frames)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_mjpeg_playback_prints_no_libav_lines_once_quieted() -> None:
    assert avutil_path() is not None, "PySide6 ships libavutil on this platform"
    loud = _play("loud", 30)
    quiet = _play("quiet", 30)
    # Side by side: untouched, libav prints a line per converted frame; quieted, none.
    assert "frames: 30" in loud.stdout, loud.stderr[-2000:]
    assert loud.stderr.count(NOISE) >= 10
    assert "libav reached: True" in quiet.stdout
    assert "frames: 30" in quiet.stdout, quiet.stderr[-2000:]
    assert NOISE not in quiet.stderr
    assert "swscaler" not in quiet.stderr
    assert "No HW decoder found" not in quiet.stderr
    assert "Input #0" not in quiet.stderr
    assert "pipewire" not in quiet.stderr


def test_qt_ffmpeg_debug_leaves_libav_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_FFMPEG_DEBUG", "1")
    assert quiet_libav() is False


def test_window_commands_mute_probing_and_the_users_rules_still_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QT_LOGGING_RULES", "qt.multimedia.symbolsresolver=true")
    with pytest.raises(SystemExit):
        console_main(["wall", "--help"])
    rules = os.environ["QT_LOGGING_RULES"].split(";")
    assert rules[: len(QUIET_CATEGORIES)] == list(QUIET_CATEGORIES)
    assert rules[-1] == "qt.multimedia.symbolsresolver=true"  # later rules win in Qt
    monkeypatch.delenv("QT_LOGGING_RULES")
    with pytest.raises(SystemExit):
        console_main(["seed", "--help"])  # a server-side command leaves Qt's rules alone
    assert "QT_LOGGING_RULES" not in os.environ
