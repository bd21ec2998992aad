"""``python -m console simulate``: simulated field sources talking to a running hub.

``--stations N`` runs N HJ 212 monitoring stations (outlets of the stored demo world) against
the hub's HJ 212 port. Each kind of source is an optional group of options, so further
sources (e.g. field officers) are added as another group. Output is JSON lines: the plan
first (stations and the enterprises that falsify their data), the report at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from console.core.paths import default_db_url


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


def run(args: argparse.Namespace) -> int:
    if args.stations is None:
        print(json.dumps({"error": "nothing to simulate: give --stations N"}), file=sys.stderr)
        return 2
    from console.monitoring.simulator import Simulator, SimulatorConfig
    from console.store import Store, StoreError

    try:
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
        store = Store.open(args.db or default_db_url())
        try:
            world = store.load_world()
        finally:
            store.close()
        simulator = Simulator(world, config)
    except (ValueError, StoreError) as error:
        print(json.dumps({"error": str(error)}), file=sys.stderr)
        return 2
    _emit({"plan": simulator.plan()})
    try:
        report = asyncio.run(simulator.run())
    except KeyboardInterrupt:
        report = simulator.report()
    _emit({"report": report})
    return 0


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()
