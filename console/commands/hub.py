"""``python -m console hub``: run the hub server until interrupted (Ctrl-C or SIGTERM)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys

from console.core.paths import default_db_url
from console.hub.server import Hub
from console.hub.state import DEFAULT_PORT, HubConfig
from console.store import StoreError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", default=None, help="SQLAlchemy URL (default: SQLite in the user data dir)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}; 0 = any free port"
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not 0 <= args.port <= 65535:
        print(f"error: --port must be 0..65535, got {args.port}", file=sys.stderr)
        return 2
    config = HubConfig(db_url=args.db or default_db_url(), host=args.host, port=args.port)
    try:
        asyncio.run(_serve(config))
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(config: HubConfig) -> None:
    hub = await Hub.start(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(json.dumps({"listening": hub.url, "db": hub.state.db_kind}), flush=True)
    try:
        await stop.wait()
    finally:
        await hub.stop()
