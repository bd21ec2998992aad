"""Console login: password check off the event loop, uniform failures, per-connection throttle."""

from __future__ import annotations

import asyncio
import functools
import secrets

from console.core.model import User
from console.core.passwords import hash_password, verify_password
from console.hub.protocol import ErrorCode
from console.hub.state import HubConfig, HubState


class LoginError(Exception):
    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


BAD_CREDENTIALS_DETAIL = "unknown user or wrong password"


@functools.cache
def _decoy_hash() -> str:
    """A hash to verify against for unknown users, so they cost as much time as known ones."""
    return hash_password(secrets.token_urlsafe(16))


async def authenticate(hub: HubState, username: str, password: str) -> User:
    """The active user with these credentials, else LoginError.

    Unknown user and wrong password get the same answer; a disabled account is only
    reported once its password is proven, so the answer does not reveal which accounts exist.
    """
    user = await hub.db.run(hub.store.get_user, username) if username else None
    stored = user.password_hash if user is not None else None
    loop = asyncio.get_running_loop()
    ok = await loop.run_in_executor(None, _check, password, stored)
    if user is None or not ok:
        raise LoginError(ErrorCode.BAD_CREDENTIALS, BAD_CREDENTIALS_DETAIL)
    if not user.active:
        raise LoginError(ErrorCode.ACCOUNT_DISABLED, f"account {username!r} is disabled")
    return user


def _check(password: str, stored: str | None) -> bool:
    if not password:
        return False
    if stored is None:
        verify_password(password, _decoy_hash())
        return False
    return verify_password(password, stored)


class LoginThrottle:
    """Counts failed logins of one connection and says how long to hold the next answer."""

    def __init__(self, config: HubConfig) -> None:
        self._config = config
        self.failures = 0

    def record_failure(self) -> None:
        self.failures += 1

    def record_success(self) -> None:
        self.failures = 0

    @property
    def exhausted(self) -> bool:
        return self.failures >= self._config.login_max_failures

    def delay_s(self) -> float:
        """Wait before answering the current failure: 0 for the first few, then doubling."""
        extra = self.failures - self._config.login_free_failures
        if extra <= 0:
            return 0.0
        return float(min(self._config.login_delay_s * 2 ** (extra - 1), 30.0))
