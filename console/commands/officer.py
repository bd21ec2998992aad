"""``python -m console officer``: enrol field devices (tokens), revoke them, list them.

Output is JSON. The token is printed once; only its hash is stored.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta

from console.core.paths import default_db_url
from console.store import Store, StoreError
from console.store.field_repo import FieldRepo


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default=None, help="SQLAlchemy URL (default: the local store)")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    token = sub.add_parser("token", help="issue a device token for an officer")
    token.add_argument("officer_id")
    token.add_argument("--ttl-days", type=int, default=None, help="expiry (default: none)")
    token.add_argument("--hub-url", default=None, help="hub address to put in the output")
    revoke = sub.add_parser("revoke", help="revoke an officer's tokens, or one by --token-id")
    revoke.add_argument("officer_id", nargs="?")
    revoke.add_argument("--token-id", default=None)
    listing = sub.add_parser("list-tokens", help="list tokens (never the secrets)")
    listing.add_argument("officer_id", nargs="?")


def run(args: argparse.Namespace) -> int:
    if args.action == "revoke" and (args.officer_id is None) == (args.token_id is None):
        print("error: give an OFFICER_ID or --token-id (not both)", file=sys.stderr)
        return 2
    if args.action == "token" and args.ttl_days is not None and args.ttl_days < 1:
        print("error: --ttl-days must be at least 1", file=sys.stderr)
        return 2
    try:
        store = Store.open(args.db or default_db_url())
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        repo = FieldRepo(store.engine)
        now = datetime.now(UTC)
        if args.action == "token":
            ttl = None if args.ttl_days is None else timedelta(days=args.ttl_days)
            issued = repo.issue_token(args.officer_id, now, ttl)
            enrolment: dict[str, str | None] = {
                "officer_id": issued.officer_id,
                "token_id": issued.token_id,
                "token": issued.token,
                "expires_at": None if issued.expires_at is None else issued.expires_at.isoformat(),
            }
            if args.hub_url:
                enrolment["hub_url"] = args.hub_url
            out: object = enrolment
        elif args.action == "revoke":
            revoked = repo.revoke(now, officer_id=args.officer_id, token_id=args.token_id)
            out = {"revoked": revoked}
        else:
            out = [info.to_json() for info in repo.list_tokens(args.officer_id)]
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(json.dumps(out, ensure_ascii=False))
    return 0
