"""``verify-case ID``: re-check a case file's hash chain, its rows and every attachment file.

Prints a JSON report naming each alteration (which chain entry, row field or file) and exits
1 when anything was altered, 0 when the case file is intact, 2 when it cannot be checked.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from console.core.paths import data_dir, default_db_url
from console.store import Store, StoreError
from console.store.casefile_repo import CasefileRepo, UnknownCaseError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("case", metavar="ID", help="case id (case-…) or the task id")
    parser.add_argument("--db", default=None, help="SQLAlchemy URL (default: the local store)")
    parser.add_argument(
        "--attachments",
        type=Path,
        default=None,
        help="folder of attachment files (default: <data dir>/attachments, as the hub files them)",
    )


def file_sha256(folder: Path, sha256: str) -> str | None:
    """SHA-256 of the file the hub filed under ``sha256`` (None if it is missing)."""
    path = folder / sha256[:2] / sha256
    try:
        with path.open("rb") as source:
            digest = hashlib.sha256()
            for block in iter(lambda: source.read(1 << 20), b""):
                digest.update(block)
            return digest.hexdigest()
    except FileNotFoundError:
        return None


def run(args: argparse.Namespace) -> int:
    folder: Path = args.attachments or data_dir() / "attachments"
    try:
        store = Store.open(args.db or default_db_url(), upgrade=False)
    except StoreError as exc:
        print(json.dumps({"error": str(exc)}), file=sys.stderr)
        return 2
    try:
        report = CasefileRepo(store).verify(args.case, lambda sha: file_sha256(folder, sha))
    except UnknownCaseError as exc:
        print(json.dumps({"error": str(exc)}), file=sys.stderr)
        return 2
    finally:
        store.close()
    print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    return 0 if report.ok else 1
