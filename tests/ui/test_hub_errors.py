"""Hub error answers read as what the user can do, in the console's language."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from console.hub.client import CONNECTION_CLOSED, HubError
from console.hub.protocol import ErrorCode
from console.shell import i18n
from console.shell.hub_errors import error_meaning, error_text


@pytest.fixture
def chinese() -> Iterator[None]:
    i18n.set_language("zh_CN")
    yield
    i18n.set_language(i18n.DEFAULT_LANGUAGE)


LOGIN_CODES = {
    ErrorCode.BAD_CREDENTIALS,
    ErrorCode.ACCOUNT_DISABLED,
    ErrorCode.TOO_MANY_ATTEMPTS,
    ErrorCode.ALREADY_LOGGED_IN,
}
"""Answers to a login only, which the login dialog words itself."""


def test_every_protocol_error_code_has_a_meaning(chinese: None) -> None:
    for code in set(ErrorCode) - LOGIN_CODES:
        meaning = error_meaning(code)
        assert meaning, code
        assert not any("a" <= ch <= "z" for ch in meaning.lower()), meaning  # Chinese


def test_meaning_first_then_the_hubs_detail(chinese: None) -> None:
    conflict = HubError("conflict", "task T1 is at version 3, not 2")
    assert (
        error_text(conflict) == "已有他人先行修改：请刷新后重试（task T1 is at version 3, not 2）"
    )
    assert error_text(HubError(CONNECTION_CLOSED, "")) == "与枢纽的连接已断开"
    # A code from a newer hub: shown as it came.
    assert error_text(HubError("quota_full", "disk")) == "枢纽错误 quota_full：disk"
