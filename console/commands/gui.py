"""``python -m console [gui] [--hub URL] [--user U] [--password-stdin] [--lang zh_CN|en]``.

Options not given on the command line come from the settings file (设置…); ``--self-test``
checks the installation end to end in a throw-away data dir (console/shell/self_test.py).
"""

from __future__ import annotations

import argparse
import json
import sys

from console.app import Console, ConsoleOptions
from console.app import run as run_console
from console.core.paths import default_db_url
from console.shell.main_window import app_version
from console.shell.self_test import run_self_test
from console.shell.settings import load_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hub",
        metavar="URL",
        help="hub websocket URL, e.g. ws://host:8765/ws/console "
        "(default: the settings' hub URL, else an embedded hub on --db)",
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help="database of the embedded hub (default: the settings' database, else SQLite in "
        "the user data dir)",
    )
    parser.add_argument("--user", default="", help="username (the login dialog asks otherwise)")
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first stdin line"
    )
    parser.add_argument("--seat", default="", help="seat name shown to other consoles")
    parser.add_argument(
        "--lang", choices=("zh_CN", "en"), default=None, help="UI language (default: settings)"
    )
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="seed a tiny world in a temp dir, start an embedded hub, draw the map, print a "
        "JSON summary and exit (0: ok)",
    )


def run(args: argparse.Namespace) -> int:
    if args.self_test:
        result = run_self_test(lambda db_url: Console(None, db_url, "self-test"), app_version())
        print(json.dumps(result, ensure_ascii=False))
        return 0 if result["ok"] else 1
    loaded = load_settings()
    for problem in loaded.problems:
        print(f"settings ({loaded.path}): {problem}", file=sys.stderr)
    settings = loaded.settings
    if args.hub and args.db:
        print("--db only applies to the embedded hub; drop it when using --hub", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else ""
    hub_url = args.hub or (None if args.db else settings.hub_url or None)
    return run_console(
        ConsoleOptions(
            hub_url=hub_url,
            db_url=args.db or settings.db_url or default_db_url(),
            username=args.user,
            password=password,
            seat=args.seat,
            language=args.lang or settings.language,
            settings_problems=tuple(str(p) for p in loaded.problems),
        )
    )
