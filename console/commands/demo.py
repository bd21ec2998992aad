"""``python -m console demo``: seed the default database if it has no world, then open the
console on an embedded hub, logged in as the demo dispatcher."""

from __future__ import annotations

import argparse

from console.app import ConsoleOptions
from console.app import run as run_console
from console.commands import seed
from console.core.paths import default_db_url
from console.store import Store

DEMO_USER = "dispatcher"
DEMO_PASSWORD = "demo1234"  # documented demo credentials (console/store/demo_world.py)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", metavar="URL", help="database (default: SQLite file in the user data dir)"
    )
    parser.add_argument("--seat", default="", help="seat name shown to other consoles")
    parser.add_argument("--lang", choices=("zh_CN", "en"), default="zh_CN", help="UI language")


def ensure_world(db_url: str) -> int:
    """Seed ``db_url`` with the ``seed`` command's defaults unless it has a world; exit code."""
    store = Store.open(db_url)
    try:
        if store.has_world():
            return 0
    finally:
        store.close()
    seed_parser = argparse.ArgumentParser(prog="python -m console seed")
    seed.add_arguments(seed_parser)
    return seed.run(seed_parser.parse_args(["--db", db_url]))


def run(args: argparse.Namespace) -> int:
    db_url = args.db or default_db_url()
    code = ensure_world(db_url)
    if code != 0:
        return code
    return run_console(
        ConsoleOptions(
            hub_url=None,
            db_url=db_url,
            username=DEMO_USER,
            password=DEMO_PASSWORD,
            seat=args.seat,
            language=args.lang,
        )
    )
