"""``python -m console hub``: run the hub server until interrupted (Ctrl-C or SIGTERM)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import ssl
import sys
from pathlib import Path

from console.core.paths import data_dir, default_db_url
from console.hub.monitoring_service import DEFAULT_HJ212_PORT, MonitoringConfig
from console.hub.server import Hub, tune_gc_for_serving
from console.hub.state import DEFAULT_PORT, HubConfig
from console.hub.tls import SELF_SIGNED_DIR, TlsError, TlsFiles, self_signed, server_context
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
        "--hj212-port",
        type=int,
        default=DEFAULT_HJ212_PORT,
        help=f"HJ 212 station port, default {DEFAULT_HJ212_PORT}; 0 = any free port",
    )
    parser.add_argument(
        "--no-hj212", action="store_true", help="do not receive HJ 212 monitoring data"
    )
    parser.add_argument(
        "--hj212-workers",
        type=int,
        default=None,
        help="HJ 212 ingest worker processes (default: one per core, none on a single core; "
        "0 = receive in the hub process)",
    )
    tls = parser.add_argument_group("TLS (wss:// for field devices)")
    tls.add_argument("--tls-cert", default=None, help="PEM certificate (chain) file")
    tls.add_argument("--tls-key", default=None, help="PEM private key file")
    tls.add_argument(
        "--tls-self-signed",
        action="store_true",
        help="generate a self-signed certificate once under the data dir and use it",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )


def default_ingest_workers() -> int:
    """One ingest worker per core (at most 8); on one core the hub process receives itself."""
    cores = os.cpu_count() or 1
    return 0 if cores < 2 else min(cores, 8)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not 0 <= args.port <= 65535:
        print(f"error: --port must be 0..65535, got {args.port}", file=sys.stderr)
        return 2
    if not 0 <= args.hj212_port <= 65535:
        print(f"error: --hj212-port must be 0..65535, got {args.hj212_port}", file=sys.stderr)
        return 2
    try:
        tls, fingerprint = _tls_context(args)
    except TlsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    workers = default_ingest_workers() if args.hj212_workers is None else args.hj212_workers
    try:
        monitoring = (
            None
            if args.no_hj212
            else MonitoringConfig(host=args.host, port=args.hj212_port, workers=workers)
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = HubConfig(
        db_url=args.db or default_db_url(),
        host=args.host,
        port=args.port,
        monitoring=monitoring,
        tls=tls,
        tls_fingerprint_sha256=fingerprint,
    )
    try:
        asyncio.run(_serve(config))
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


def _tls_context(args: argparse.Namespace) -> tuple[ssl.SSLContext | None, str | None]:
    """TLS context and certificate fingerprint (shown at enrolment) from the TLS options."""
    if args.tls_self_signed and (args.tls_cert or args.tls_key):
        raise TlsError("use either --tls-self-signed or --tls-cert/--tls-key, not both")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise TlsError("--tls-cert and --tls-key go together")
    if args.tls_self_signed:
        files = self_signed(data_dir() / SELF_SIGNED_DIR)
    elif args.tls_cert:
        files = TlsFiles(Path(args.tls_cert), Path(args.tls_key))
    else:
        return None, None
    context = server_context(files)
    fingerprint = files.fingerprint()
    print(
        json.dumps({"tls_cert": str(files.cert), "tls_fingerprint_sha256": fingerprint}), flush=True
    )
    return context, fingerprint


async def _serve(config: HubConfig) -> None:
    hub = await Hub.start(config)
    tune_gc_for_serving()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    monitoring = hub.state.monitoring
    hj212 = None if monitoring is None else f"tcp://{config.host}:{monitoring.port}"
    print(json.dumps({"listening": hub.url, "db": hub.state.db_kind, "hj212": hj212}), flush=True)
    try:
        await stop.wait()
    finally:
        await hub.stop()
