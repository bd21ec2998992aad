"""``python -m console [gui] [--hub URL] [--user U] [--password-stdin] [--lang zh_CN|en]``."""

from __future__ import annotations

import argparse
import sys

from console.app import ConsoleOptions
from console.app import run as run_console
from console.core.paths import default_db_url


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hub",
        metavar="URL",
        help="hub websocket URL, e.g. ws://host:8765/ws/console "
        "(default: start an embedded hub on --db)",
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help="database of the embedded hub (default: SQLite in the user data dir)",
    )
    parser.add_argument("--user", default="", help="username (the login dialog asks otherwise)")
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first stdin line"
    )
    parser.add_argument("--seat", default="", help="seat name shown to other consoles")
    parser.add_argument("--lang", choices=("zh_CN", "en"), default="zh_CN", help="UI language")


def run(args: argparse.Namespace) -> int:
    if args.hub and args.db:
        print("--db only applies to the embedded hub; drop it when using --hub", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else ""
    return run_console(
        ConsoleOptions(
            hub_url=args.hub,
            db_url=args.db or default_db_url(),
            username=args.user,
            password=password,
            seat=args.seat,
            language=args.lang,
        )
    )
