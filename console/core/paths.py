"""Where the program keeps its data; tests redirect it with ``ENFORCEMENT_CONSOLE_HOME``."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

HOME_ENV = "ENFORCEMENT_CONSOLE_HOME"
APP_NAME = "enforcement-console"


def data_dir() -> Path:
    """The user data dir (created on first use)."""
    override = os.environ.get(HOME_ENV)
    path = Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_db_url() -> str:
    """SQLite file in the user data dir: the embedded single-seat store."""
    return f"sqlite:///{data_dir() / 'console.sqlite3'}"
