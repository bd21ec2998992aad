"""``python -m console seed``: build the demo world for an area and store it with demo users."""

from __future__ import annotations

import argparse
import json
import sys
import time

from sqlalchemy import make_url

from console.core.paths import default_db_url
from console.store import Store, StoreError
from console.store.supervision_repo import seed_demo_supervision


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="database URL (default: SQLite file in the user data dir)")
    parser.add_argument(
        "--adcode", default="331000", help="area code of the city/province (default: Taizhou)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed of the generator")
    parser.add_argument(
        "--force", action="store_true", help="replace an existing world and reset demo users"
    )


def run(args: argparse.Namespace) -> int:
    url = args.db or default_db_url()
    # Imported here: building the world loads boundary data, which only seeding needs.
    from console.store.demo_world import build_demo_world, demo_accounts

    started = time.perf_counter()
    try:
        store = Store.open(url)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        if store.has_world() and not args.force:
            print(
                "error: the database already has a world; use --force to replace it",
                file=sys.stderr,
            )
            return 1
        try:
            world = build_demo_world(args.adcode, args.seed)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        store.save_world(world)
        seed_demo_supervision(store, world, args.seed)
        added, kept = [], []
        for user in demo_accounts(world):
            if store.get_user(user.username) is not None:
                if not args.force:
                    kept.append(user.username)
                    continue
                store.delete_user(user.username)
            store.add_user(user)
            added.append(user.username)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    summary = {
        "db": make_url(url).render_as_string(hide_password=True),
        "world": world.summary(),
        "seed": args.seed,
        "users_added": added,
        "users_kept": kept,
        "seconds": round(time.perf_counter() - started, 2),
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0
