"""``python -m console simulate``: simulated field sources talking to a running hub.

``--stations N`` runs N HJ 212 monitoring stations (outlets of the stored demo world) against
the hub's HJ 212 port. ``--officers N`` runs N grid officers as field-link clients of
``--hub`` (console/hub/officer_sim.py); their tokens are issued directly in ``--db``, which
must be the hub's database. Each kind of source is an optional group of options; both may
run together. Output is JSON lines: the plan first (stations and the enterprises that
falsify their data; officers), the report at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from typing import TYPE_CHECKING, Any

from console.core.paths import default_db_url

if TYPE_CHECKING:
    from console.core.model import World
    from console.hub.officer_sim import OfficerSimulator
    from console.monitoring.simulator import Simulator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hub-host", default="127.0.0.1", help="host of the hub (default local)")
    parser.add_argument("--db", default=None, help="database with the demo world (default: local)")
    parser.add_argument("--seconds", type=float, default=None, help="run time (default: forever)")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second (default 1)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    stations = parser.add_argument_group("monitoring stations (HJ 212)")
    stations.add_argument("--stations", type=int, default=None, help="number of stations")
    stations.add_argument("--hj212-port", type=int, default=9212, help="hub HJ 212 port")
    stations.add_argument(
        "--falsifiers",
        type=int,
        default=None,
        help="enterprises that falsify data (default: about 12 %%, one per pattern)",
    )
    stations.add_argument(
        "--rtd-interval", type=int, default=30, help="real-time interval, simulated seconds"
    )
    stations.add_argument(
        "--reply-timeout", type=float, default=10.0, help="seconds to wait for 9014 (default 10)"
    )
    officers = parser.add_argument_group("field officers (/ws/field)")
    officers.add_argument("--officers", type=int, default=None, help="number of grid officers")
    officers.add_argument(
        "--hub", default=None, help="hub URL, ws(s)://host:port (default ws://HUB_HOST:8765)"
    )
    officers.add_argument("--cafile", default=None, help="CA file to trust for wss://")
    officers.add_argument(
        "--drops-per-hour",
        type=float,
        default=1.0,
        help="network drops per officer per simulated hour (default 1)",
    )


def run(args: argparse.Namespace) -> int:
    if args.stations is None and args.officers is None:
        print(
            json.dumps({"error": "nothing to simulate: give --stations N and/or --officers N"}),
            file=sys.stderr,
        )
        return 2
    from console.store import Store, StoreError

    db_url = args.db or default_db_url()
    try:
        store = Store.open(db_url)
        try:
            world = store.load_world()
        finally:
            store.close()
        stations = _stations(args, world) if args.stations is not None else None
        officers = _officers(args, world, db_url) if args.officers is not None else None
    except (ValueError, OSError, StoreError) as error:
        print(json.dumps({"error": str(error)}), file=sys.stderr)
        return 2
    plan: dict[str, Any] = {}
    if stations is not None:
        plan.update(stations.plan())
    if officers is not None:
        plan["officers"] = officers.plan()
    _emit({"plan": plan})
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_together(stations, officers))
    report: dict[str, Any] = {}
    if stations is not None:
        report.update(stations.report())
    if officers is not None:
        report["officers"] = officers.report()
    _emit({"report": report})
    return 0


async def _together(stations: Simulator | None, officers: OfficerSimulator | None) -> None:
    """Run both kinds of sources on one loop; each returns when its --seconds are up."""
    await asyncio.gather(*(sim.run() for sim in (stations, officers) if sim is not None))


def _officers(args: argparse.Namespace, world: World, db_url: str) -> OfficerSimulator:
    import ssl

    from console.hub.officer_sim import (
        OfficerSimConfig,
        OfficerSimulator,
        field_url,
        issue_tokens,
        plan_officers,
    )
    from console.hub.state import DEFAULT_PORT

    hub = args.hub or f"ws://{args.hub_host}:{DEFAULT_PORT}"
    context = ssl.create_default_context(cafile=args.cafile) if hub.startswith("wss:") else None
    config = OfficerSimConfig(
        field_url=field_url(hub),
        officers=args.officers,
        seed=args.seed,
        speed=args.speed,
        seconds=args.seconds,
        drops_per_hour=args.drops_per_hour,
        ssl_context=context,
    )
    chosen = [officer.id for officer, _grid in plan_officers(world, args.officers, args.seed)]
    return OfficerSimulator(world, issue_tokens(db_url, chosen), config)


def _stations(args: argparse.Namespace, world: World) -> Simulator:
    from console.monitoring.simulator import Simulator, SimulatorConfig

    config = SimulatorConfig(
        host=args.hub_host,
        port=args.hj212_port,
        stations=args.stations,
        seed=args.seed,
        speed=args.speed,
        seconds=args.seconds,
        falsifiers=args.falsifiers,
        rtd_interval=args.rtd_interval,
        reply_timeout=args.reply_timeout,
    )
    return Simulator(world, config)


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()
