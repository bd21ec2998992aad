"""Password hashing for console users: scrypt from the standard library, no extra dependency.

The stored string names its own parameters (``scrypt$n$r$p$salt$hash``) so the cost can be
raised later without invalidating existing hashes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

SCHEME = "scrypt"
N = 2**14
R = 8
P = 1
SALT_BYTES = 16
HASH_BYTES = 32
# Refuse absurd parameters from a tampered row instead of allocating gigabytes.
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 16


def hash_password(password: str) -> str:
    """A new salted hash of ``password``; empty passwords are refused."""
    if not password:
        raise ValueError("password must not be empty")
    salt = os.urandom(SALT_BYTES)
    digest = _scrypt(password, salt, N, R, P, HASH_BYTES)
    return "$".join((SCHEME, str(N), str(R), str(P), _b64(salt), _b64(digest)))


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``, compared in constant time.

    Raises ValueError if ``stored`` is not a hash made by :func:`hash_password`: a corrupt
    row should be noticed, not look like a wrong password.
    """
    n, r, p, salt, expected = _parse(stored)
    if not password:
        return False
    return hmac.compare_digest(_scrypt(password, salt, n, r, p, len(expected)), expected)


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise ValueError("not a scrypt password hash (expected scrypt$n$r$p$salt$hash)")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"malformed scrypt password hash: {exc}") from exc
    if not (1 < n <= _MAX_N and n & (n - 1) == 0 and 0 < r <= _MAX_R and 0 < p <= _MAX_P):
        raise ValueError(f"scrypt parameters out of range: n={n} r={r} p={p}")
    if not salt or not expected:
        raise ValueError("malformed scrypt password hash: empty salt or hash")
    return n, r, p, salt, expected


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=256 * n * r * p + 1024 * 1024,
        dklen=length,
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
