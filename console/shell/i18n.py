"""Translation of user-facing strings: ``tr("English source")`` -> the current language.

Catalogues are JSON objects keyed by the English source text, one file per feature
(``translations/<feature>.<language>.json``) so engineers working on different features
never edit the same file; all files of a language are merged at load. English needs no
catalogue: the source text is the English text. Qt's own ``qtbase`` translator is installed
alongside so standard dialog buttons (OK, Cancel …) follow the same language.

Dates, times and numbers shown to the user go through ``format_datetime``, ``format_date``,
``format_time`` and ``format_number``: they use the ``QLocale`` of the chosen language (not
the machine's locale), so a zh_CN console reads 2024/5/1 14:03 and an English one 5/1/24 2:03 PM.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

from PySide6.QtCore import (
    QCoreApplication,
    QDate,
    QDateTime,
    QLibraryInfo,
    QLocale,
    QTime,
    QTranslator,
)

TRANSLATIONS_DIR = Path(__file__).with_name("translations")
DEFAULT_LANGUAGE = "zh_CN"
LANGUAGES = ("zh_CN", "en")

_language = DEFAULT_LANGUAGE
_catalogue: dict[str, str] | None = None
_qt_translator: QTranslator | None = None


def load_catalogue(language: str) -> dict[str, str]:
    """Merge every ``*.<language>.json`` catalogue; conflicting entries are an error."""
    _check_language(language)
    merged: dict[str, str] = {}
    origin: dict[str, str] = {}
    for path in sorted(TRANSLATIONS_DIR.glob(f"*.{language}.json")):
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"translation catalogue {path.name} is not valid JSON: {exc}") from exc
        if not isinstance(entries, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in entries.items()
        ):
            raise ValueError(f"translation catalogue {path.name} must map strings to strings")
        for source, text in entries.items():
            if source in merged and merged[source] != text:
                raise ValueError(
                    f"{source!r} is translated differently in {origin[source]} and {path.name}"
                )
            merged[source] = text
            origin[source] = path.name
    return merged


def set_language(language: str) -> None:
    """Switch the language of later ``tr`` calls (widgets already built keep their text)."""
    global _language, _catalogue
    _check_language(language)
    _language = language
    _catalogue = None
    app = QCoreApplication.instance()
    if app is not None:
        install_qt_translator(app)


def language() -> str:
    """The current language code."""
    return _language


def tr(source: str, **fmt: object) -> str:
    """Translate ``source`` (English) and fill ``{name}`` placeholders from ``fmt``.

    An untranslated string falls back to the English source rather than failing at run time;
    tests/ui/test_i18n.py makes sure every literal passed here has a zh_CN entry.
    """
    global _catalogue
    if _language == "en":
        text = source
    else:
        if _catalogue is None:
            _catalogue = load_catalogue(_language)
        text = _catalogue.get(source, source)
    return text.format(**fmt) if fmt else text


def install_qt_translator(app: QCoreApplication) -> None:
    """Install (or remove, for English) Qt's own translation of its standard widgets."""
    global _qt_translator
    if _qt_translator is not None:
        app.removeTranslator(_qt_translator)
        _qt_translator = None
    if _language == "en":
        return
    translator = QTranslator(app)
    directory = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    if not translator.load(f"qtbase_{_language}", directory):
        raise FileNotFoundError(f"Qt translation qtbase_{_language}.qm not found in {directory}")
    app.installTranslator(translator)
    _qt_translator = translator


def locale() -> QLocale:
    """The QLocale of the current language (zh_CN → China, en → United States)."""
    return QLocale("en_US" if _language == "en" else _language)


def _local(moment: datetime | str) -> datetime:
    """A naive local time: ISO strings are parsed, aware times converted to the local zone."""
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            raise ValueError(f"not an ISO 8601 date/time: {moment!r}") from None
    return moment.astimezone().replace(tzinfo=None) if moment.tzinfo else moment


def _qdatetime(moment: datetime) -> QDateTime:
    return QDateTime(
        QDate(moment.year, moment.month, moment.day),
        QTime(moment.hour, moment.minute, moment.second, moment.microsecond // 1000),
    )


def format_datetime(moment: datetime | str, *, seconds: bool = False) -> str:
    """Date and time in the current language's short format (local time zone)."""
    local = _local(moment)
    fmt = locale().dateTimeFormat(QLocale.FormatType.ShortFormat)
    if seconds and ":ss" not in fmt:
        fmt = fmt.replace(":mm", ":mm:ss", 1)
    return locale().toString(_qdatetime(local), fmt)


def format_date(moment: date | datetime | str) -> str:
    """A date in the current language's short format."""
    day = _local(moment).date() if isinstance(moment, datetime | str) else moment
    return locale().toString(QDate(day.year, day.month, day.day), QLocale.FormatType.ShortFormat)


def format_time(moment: datetime | str, *, seconds: bool = False) -> str:
    """A time of day in the current language (local time zone)."""
    local = _local(moment)
    fmt = locale().timeFormat(QLocale.FormatType.ShortFormat)
    if seconds and ":ss" not in fmt:
        fmt = fmt.replace(":mm", ":mm:ss", 1)
    return locale().toString(
        QTime(local.hour, local.minute, local.second, local.microsecond // 1000), fmt
    )


def format_number(value: float, decimals: int = 0) -> str:
    """A number with the current language's digit grouping and decimal point."""
    if decimals == 0:
        return locale().toString(round(value))
    return locale().toString(float(value), "f", decimals)


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; choose one of {', '.join(LANGUAGES)}")
