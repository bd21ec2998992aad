"""Keep the media backend's diagnostics off the terminal, unless someone is debugging it.

Qt's FFmpeg backend hands libav's log lines to libav's own printer unless ``QT_FFMPEG_DEBUG``
is set, and libav prints at its default level (info). An MJPEG camera then costs a
``[swscaler @ 0x…] deprecated pixel format used`` line per frame: the demo's four tiles
printed 1,396 of them in its first minute, burying every message that matters. A stream that
really fails still reaches the user through ``QMediaPlayer.errorOccurred`` (the tile's
state), so libav is asked for fatal messages only.

The level is a setting of the one libavutil that PySide6 ships and Qt loads, so it is set
through ctypes on that very file, once Qt has loaded it: on its own the file does not load
(it takes OpenSSL's symbols from what Qt's backend loads first). Qt's own probing messages
(no PipeWire, no hardware decoder) are turned off by logging rules that the user's own
``QT_LOGGING_RULES`` still overrides.
"""

from __future__ import annotations

import ctypes
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

AV_LOG_FATAL = 8
"""libav's level for errors after which it cannot continue (``libavutil/log.h``)."""
DEBUG_VARIABLE = "QT_FFMPEG_DEBUG"
"""Qt's switch for its FFmpeg backend's logging; when set, libav's level is left alone."""
RULES_VARIABLE = "QT_LOGGING_RULES"
QUIET_CATEGORIES = (
    "qt.multimedia.symbolsresolver=false",  # optional PipeWire and VA-API libraries
    "qt.multimedia.playbackengine.codec=false",  # "No HW decoder found"
    "qt.multimedia.ffmpeg.info=false",  # FFmpeg's version on start
)
_PATTERNS = ("Qt/lib/libavutil.so.*", "avutil-*.dll", "Qt/lib/libavutil*.dylib")


def avutil_path() -> Path | None:
    """The libavutil inside the PySide6 package (also in a PyInstaller bundle), if any."""
    import PySide6

    package = Path(PySide6.__file__).parent
    for pattern in _PATTERNS:
        # The wheel holds copies, not symlinks: take the soname (libavutil.so.59), the file
        # Qt's backend loads, not libavutil.so.59.39.100.
        found = sorted(package.glob(pattern), key=lambda p: len(p.name))
        if found:
            return found[0]
    return None


def mute_media_probing() -> None:
    """Turn off Qt's media probing messages. Call before QtMultimedia is imported.

    Qt reads ``QT_LOGGING_RULES`` once, when QtMultimedia is loaded, and looks for PipeWire
    while the application object is built, before rules given to
    ``QLoggingCategory.setFilterRules`` apply. The user's own rules in the variable come
    after ours, so theirs win. Imports no Qt module.
    """
    own = os.environ.get(RULES_VARIABLE, "")
    os.environ[RULES_VARIABLE] = ";".join([*QUIET_CATEGORIES, *([own] if own else [])])


def quiet_libav() -> bool:
    """Lower libav's log level to fatal; True if the backend's libav was reached.

    Call with the application object made: this loads Qt's media backend.
    """
    if os.environ.get(DEBUG_VARIABLE):
        return False
    path = avutil_path()
    if path is None:
        log.info("no libavutil in the PySide6 package: libav's log level left as it is")
        return False
    from PySide6.QtMultimedia import QMediaPlayer

    QMediaPlayer().deleteLater()  # the first player loads the backend and its libav
    try:
        library = ctypes.CDLL(str(path))
        library.av_log_set_level.argtypes = [ctypes.c_int]
        library.av_log_set_level.restype = None
        library.av_log_set_level(AV_LOG_FATAL)
    except (OSError, AttributeError) as exc:
        log.warning("libav's log level left as it is: %s: %s", path, exc)
        return False
    return True
