"""Errors the store raises; callers (hub, CLI) show their messages to people."""

from __future__ import annotations


class StoreError(Exception):
    """Anything the store cannot do, with a message that says what to do instead."""


class DuplicateUserError(StoreError):
    """A user with that username already exists."""


class UnknownUserError(StoreError):
    """No user with that username."""
