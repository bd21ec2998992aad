"""Command line: one sub-command per module in ``console.commands``.

Sub-command modules are imported lazily so that server-side commands (hub, seed, locate,
hj212) never load Qt.
"""

from __future__ import annotations

import argparse
import importlib
import multiprocessing
import sys
from collections.abc import Sequence

from console.shell.media_log import mute_media_probing

# name -> (module, one-line help). Each module has add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "gui": ("console.commands.gui", "open the console (default when no command is given)"),
    "demo": ("console.commands.demo", "seed the demo world if needed and open the console"),
    "hub": ("console.commands.hub", "run the hub server"),
    "seed": ("console.commands.seed", "create the demo world in a database"),
    "locate": ("console.commands.locate", "district, grid, grid officer and squads of a point"),
    "user": ("console.commands.user", "manage console users"),
    "hj212": ("console.commands.hj212", "HJ 212 tools (decode, encode)"),
    "simulate": ("console.commands.simulate", "simulated monitoring stations against a hub"),
    "officer": ("console.commands.officer", "field device tokens: issue, revoke, list"),
    "fraud": ("console.commands.fraud", "data-authenticity scores from hourly monitoring data"),
    "apikey": ("console.commands.apikey", "manage API keys of the complaint intake API"),
    "camera": ("console.commands.camera", "manage the camera register (add, list, remove)"),
    "wall": ("console.commands.wall", "open the video wall full screen on a chosen screen"),
    "draw": ("console.commands.draw", "double-random inspection draw and its verification"),
    "verify-case": ("console.commands.verify_case", "re-check a case file's hash chain and files"),
    "import-grids": ("console.commands.import_grids", "replace the grids with your GeoJSON layer"),
}


QT_COMMANDS = frozenset({"gui", "demo", "wall"})
"""Commands that open windows: Qt's logging rules are set before their modules load Qt."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m console", description="Enforcement dispatch console"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in COMMANDS.items():
        # Only the module of the chosen command is imported, see main().
        sub.add_parser(name, help=help_text, description=help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # In a frozen bundle a spawned process (the hub's HJ 212 ingest workers) starts this
    # executable again: let multiprocessing take it over instead of the command line.
    multiprocessing.freeze_support()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["gui", *argv]
    parser = build_parser()
    if argv[0] in COMMANDS:
        if argv[0] in QT_COMMANDS:
            mute_media_probing()
        module = importlib.import_module(COMMANDS[argv[0]][0])
        sub = argparse.ArgumentParser(
            prog=f"python -m console {argv[0]}", description=COMMANDS[argv[0]][1]
        )
        module.add_arguments(sub)
        args = sub.parse_args(argv[1:])
        return int(module.run(args))
    parser.parse_args(argv)  # prints help / the error for unknown commands
    return 2


if __name__ == "__main__":
    sys.exit(main())
