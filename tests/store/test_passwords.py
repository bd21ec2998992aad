"""scrypt password hashes: self-describing, salted, verified in constant time."""

from __future__ import annotations

import base64
import hashlib

import pytest

from console.core.passwords import hash_password, verify_password


def test_hash_verifies_and_names_its_parameters() -> None:
    stored = hash_password("正确的密码 with ünïcode")
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(salt) == 24  # base64 of 16 bytes
    assert len(digest) == 44  # base64 of 32 bytes
    assert verify_password("正确的密码 with ünïcode", stored)
    assert not verify_password("正确的密码 with unicode", stored)
    assert not verify_password("", stored)


def test_same_password_gets_a_new_salt() -> None:
    assert hash_password("same") != hash_password("same")


def test_empty_password_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        hash_password("")


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ("plain-text", "not a scrypt password hash"),
        ("bcrypt$1$2$3$AAAA$AAAA", "not a scrypt password hash"),
        ("scrypt$x$8$1$AAAA$AAAA", "malformed"),
        ("scrypt$16384$8$1$!!!!$AAAA", "malformed"),
        ("scrypt$1000$8$1$AAAA$AAAA", "out of range"),
        ("scrypt$1073741824$8$1$AAAA$AAAA", "out of range"),
    ],
)
def test_malformed_hashes_are_reported(stored: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        verify_password("anything", stored)


def test_hashes_with_other_costs_still_verify() -> None:
    """Parameters come from the stored string, so raising the default cost keeps old hashes."""
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"old", salt=salt, n=2**10, r=8, p=1, dklen=32)
    stored = (
        f"scrypt$1024$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    )
    assert verify_password("old", stored)
    assert not verify_password("new", stored)
