"""``verify-case ID``: re-check a case file's hash chain, its rows and every attachment file.

Prints a JSON report naming each alteration (which chain entry, row field or file) and exits
1 when anything was altered, 0 when the case file is intact, 2 when it cannot be checked.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path

from console.core.paths import data_dir, default_db_url
from console.store import Store, StoreError
from console.store.casefile_repo import CasefileRepo, UnknownCaseError, stored_file_sha256


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("case", metavar="ID", help="case id (case-…) or the task id")
    parser.add_argument("--db", default=None, help="SQLAlchemy URL (default: the local store)")
    parser.add_argument(
        "--attachments",
        type=Path,
        default=None,
        help="folder of attachment files (default: <data dir>/attachments, as the hub files them)",
    )


def run(args: argparse.Namespace) -> int:
    folder: Path = args.attachments or data_dir() / "attachments"
    try:
        store = Store.open(args.db or default_db_url(), upgrade=False)
    except StoreError as exc:
        print(json.dumps({"error": str(exc)}), file=sys.stderr)
        return 2
    try:
        report = CasefileRepo(store).verify(args.case, partial(stored_file_sha256, folder))
    except UnknownCaseError as exc:
        print(json.dumps({"error": str(exc)}), file=sys.stderr)
        return 2
    finally:
        store.close()
    print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    return 0 if report.ok else 1
