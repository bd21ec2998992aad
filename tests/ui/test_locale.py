"""Dates and times on screen follow the chosen language (QLocale) and the local time zone.

The hub speaks ISO 8601 in UTC; the console shows it in the machine's zone, formatted the
way the user's language writes dates: 2026/11/28 in zh_CN, 11/28/26 in English.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import pytest
from pytestqt.qtbot import QtBot

from console.charts.enterprise_file import local_time_text
from console.charts.style import local_time
from console.dispatch.enrol import EnrolDialog
from console.dispatch.timeline import format_time
from console.shell import i18n


@pytest.fixture
def china_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run in UTC+8 so the tests show the hub's UTC times being converted."""
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
    i18n.set_language(i18n.DEFAULT_LANGUAGE)


def test_enterprise_file_dates_in_chinese_and_english(china_time: None) -> None:
    i18n.set_language("zh_CN")
    assert local_time_text("2026-11-28") == "2026/11/28"
    assert local_time_text("2026-11-28T01:05:00+00:00") == "2026/11/28 09:05"
    i18n.set_language("en")
    assert local_time_text("2026-11-28") == "11/28/26"
    assert local_time_text("2026-11-28T01:05:00+00:00").replace("\u202f", " ") == "11/28/26 9:05 AM"
    assert local_time_text("not a date") == "not a date"


def test_timeline_and_chart_times_keep_seconds(china_time: None) -> None:
    evening = datetime(2026, 11, 28, 21, 5, 7)  # local (UTC+8) wall-clock time
    i18n.set_language("zh_CN")
    assert format_time("2026-11-28T13:05:07Z") == "2026/11/28 21:05:07"
    assert local_time(evening.timestamp()) == "2026/11/28 21:05:07"
    i18n.set_language("en")
    assert format_time("2026-11-28T13:05:07Z").replace("\u202f", " ") == "11/28/26 9:05:07 PM"
    assert local_time(evening.timestamp()).replace("\u202f", " ") == "11/28/26 9:05:07 PM"


def test_enrolment_expiry_is_shown_in_the_users_locale(qtbot: QtBot, china_time: None) -> None:
    enrolment = {
        "enrol_url": "https://127.0.0.1:8443/field/#enrol=abc",
        "token": "abc",
        "expires_at": "2026-11-28T02:30:00+00:00",
    }
    i18n.set_language("zh_CN")
    dialog = EnrolDialog(enrolment, "王磊")
    qtbot.addWidget(dialog)
    assert dialog.expires.text() == "2026/11/28 10:30"
    i18n.set_language("en")
    english = EnrolDialog(enrolment, "Wang Lei")
    qtbot.addWidget(english)
    assert english.expires.text().replace("\u202f", " ") == "11/28/26 10:30 AM"
