"""``python -m console apikey``: keys for systems posting to the intake API (add, list, revoke).

The key is printed once, on ``add``; the database keeps only its SHA-256 hash.
"""

from __future__ import annotations

import argparse
import json
import sys

from console.core.paths import default_db_url
from console.hub.intake import hash_api_key, new_api_key
from console.hub.state import utc_now
from console.store import Store, StoreError
from console.store.dispatch_repo import DispatchRepo


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="database URL (default: SQLite file in the user data dir)")
    common = argparse.ArgumentParser(add_help=False)
    # A separate dest: a sub-parser default would overwrite a --db given before the action.
    common.add_argument("--db", dest="action_db", help=argparse.SUPPRESS)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", parents=[common], help="create a key and print it once")
    add.add_argument("name", help="the calling system, e.g. 12369-platform")
    actions.add_parser("list", parents=[common], help="list keys as JSON (names, never keys)")
    revoke = actions.add_parser("revoke", parents=[common], help="stop a key from working")
    revoke.add_argument("name")


def run(args: argparse.Namespace) -> int:
    url = args.action_db or args.db or default_db_url()
    try:
        store = Store.open(url)
    except StoreError as exc:
        return _fail(str(exc))
    try:
        repo = DispatchRepo(store)
        if args.action == "add":
            name = args.name.strip()
            if not name or len(name) > 64:
                return _fail("the name must be 1 to 64 characters")
            key = new_api_key()
            repo.add_api_key(name, hash_api_key(key), utc_now())
            print(json.dumps({"name": name, "api_key": key, "note": "shown once; store it now"}))
        elif args.action == "list":
            keys = [
                {"name": k.name, "created_at": k.created_at.isoformat(), "revoked": k.revoked}
                for k in repo.list_api_keys()
            ]
            print(json.dumps(keys, ensure_ascii=False))
        elif not repo.revoke_api_key(args.name):
            return _fail(f"no API key named {args.name!r}")
        else:
            print(json.dumps({"name": args.name, "result": "revoked"}))
        return 0
    except (StoreError, ValueError) as exc:
        return _fail(str(exc))
    finally:
        store.close()


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1
