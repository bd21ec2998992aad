"""``python -m console user``: manage console users (add, list, passwd, disable, enable, remove).

Passwords are never echoed nor accepted as arguments (they would end up in shell history and
``ps``): they come from stdin with ``--password-stdin`` or from an interactive prompt.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from console.core.model import Role, User
from console.core.passwords import hash_password
from console.core.paths import default_db_url
from console.store import Store, StoreError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="database URL (default: SQLite file in the user data dir)")
    common = argparse.ArgumentParser(add_help=False)
    # A separate dest: a sub-parser default would overwrite a --db given before the action.
    common.add_argument("--db", dest="action_db", help=argparse.SUPPRESS)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = actions.add_parser("add", parents=[common], help="add a user")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=[role.value for role in Role])
    add.add_argument("--org", required=True, help="organisation id the user works for")
    add.add_argument("--name", help="display name (default: the username)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")

    actions.add_parser("list", parents=[common], help="list users as JSON")

    passwd = actions.add_parser("passwd", parents=[common], help="set a new password")
    passwd.add_argument("username")
    passwd.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )

    for name, help_text in (
        ("disable", "block the user from logging in"),
        ("enable", "allow the user to log in again"),
        ("remove", "delete the user"),
    ):
        actions.add_parser(name, parents=[common], help=help_text).add_argument("username")


def run(args: argparse.Namespace) -> int:
    url = args.action_db or args.db or default_db_url()
    try:
        store = Store.open(url)
    except StoreError as exc:
        return _fail(str(exc))
    try:
        return _ACTIONS[args.action](store, args)
    except StoreError as exc:
        return _fail(str(exc))
    except ValueError as exc:  # empty or mismatched password
        return _fail(str(exc))
    finally:
        store.close()


def _add(store: Store, args: argparse.Namespace) -> int:
    if store.has_world() and not store.has_organisation(args.org):
        return _fail(f"no organisation {args.org!r} in the stored world")
    password_hash = hash_password(_read_password(args.password_stdin))
    user = User(args.username, args.name or args.username, Role(args.role), args.org, password_hash)
    store.add_user(user)
    return _done(args.username, "added")


def _list(store: Store, _args: argparse.Namespace) -> int:
    users = [
        {
            "username": u.username,
            "display_name": u.display_name,
            "role": u.role.value,
            "org_id": u.org_id,
            "active": u.active,
        }
        for u in store.list_users()
    ]
    print(json.dumps(users, ensure_ascii=False))
    return 0


def _passwd(store: Store, args: argparse.Namespace) -> int:
    if store.get_user(args.username) is None:
        return _fail(f"no user {args.username!r}")
    store.set_password(args.username, hash_password(_read_password(args.password_stdin)))
    return _done(args.username, "password changed")


def _disable(store: Store, args: argparse.Namespace) -> int:
    store.set_active(args.username, False)
    return _done(args.username, "disabled")


def _enable(store: Store, args: argparse.Namespace) -> int:
    store.set_active(args.username, True)
    return _done(args.username, "enabled")


def _remove(store: Store, args: argparse.Namespace) -> int:
    if not store.delete_user(args.username):
        return _fail(f"no user {args.username!r}")
    return _done(args.username, "removed")


_ACTIONS = {
    "add": _add,
    "list": _list,
    "passwd": _passwd,
    "disable": _disable,
    "enable": _enable,
    "remove": _remove,
}


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Repeat password: "):
            raise ValueError("the passwords do not match")
    if not password:
        raise ValueError("password must not be empty")
    return password


def _done(username: str, action: str) -> int:
    print(json.dumps({"user": username, "result": action}, ensure_ascii=False))
    return 0


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1
