"""``python -m console demo``: seed the default database if it has no world, then open the
console on an embedded hub, logged in as the demo dispatcher, with simulated grid officers
(field link) and monitoring stations (HJ 212) feeding the hub so the demo is alive."""

from __future__ import annotations

import argparse
import socket
from dataclasses import dataclass, replace

from console.app import ConsoleOptions
from console.app import run as run_console
from console.commands import seed
from console.core.paths import default_db_url
from console.hub.embedded import EmbeddedHub
from console.hub.monitoring_service import MonitoringConfig
from console.hub.officer_sim import (
    BackgroundRun,
    OfficerSimConfig,
    OfficerSimulator,
    field_url,
    issue_tokens,
    plan_officers,
)
from console.monitoring.receiver import stations_from_world
from console.monitoring.simulator import Simulator, SimulatorConfig
from console.store import Store, camera_repo
from console.video.demo_streams import DemoStreamServer

DEMO_USER = "dispatcher"
DEMO_PASSWORD = "demo1234"  # documented demo credentials (console/store/demo_world.py)
DEMO_CAMERAS = 8
DEMO_OFFICERS = 40
DEMO_STATIONS: int | None = None
"""Stations the demo simulates; None: every outlet of the world. A registered station that
sends nothing is offline (离线) to the hub: with a few simulated among the city's 643 outlets,
the map was grey and the alarm wall listed hundreds of offline outlets."""
DEMO_ALARMING_STATIONS = 20
"""Exceedances, instrument flags and outages come as often as from this many stations at the
simulator's default rates, however many stations run. All 643 at those rates (seen before the
simulator drew flue gas for its converted value) kept about 180 alarms open and a fifth of the
enterprises red, far from a real city's picture."""


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
    demo = start_demo(db_url)
    try:
        return run_console(
            ConsoleOptions(
                hub_url=demo.hub_url,
                db_url=db_url,
                username=DEMO_USER,
                password=DEMO_PASSWORD,
                seat=args.seat,
                language=args.lang,
            )
        )
    finally:
        demo.stop()


@dataclass
class RunningDemo:
    """The live demo behind a console: hub, simulated officers and stations, camera streams."""

    hub: EmbeddedHub
    hub_url: str
    sources: BackgroundRun
    streams: DemoStreamServer

    def stop(self) -> None:
        self.sources.stop()
        self.hub.stop()
        self.streams.stop()


def start_demo(
    db_url: str,
    *,
    officers: int = DEMO_OFFICERS,
    stations: int | None = DEMO_STATIONS,
    cameras: int = DEMO_CAMERAS,
) -> RunningDemo:
    """Start the demo's hub (with HJ 212 on a free port) and everything that feeds it.

    The demo starts the embedded hub itself (same in-process hub, same loopback path as a
    plain console) so it knows the ports to point the simulators at.
    """
    streams = start_demo_cameras(db_url, cameras)
    hub = EmbeddedHub(db_url)
    hj212_port = _free_port()
    hub.config = replace(hub.config, monitoring=MonitoringConfig(port=hj212_port))
    try:
        hub_url = hub.start()
        sources = start_demo_sources(db_url, hub_url, hj212_port, officers, stations)
    except BaseException:
        hub.stop()
        streams.stop()
        raise
    return RunningDemo(hub, hub_url, sources, streams)


def demo_station_config(port: int, stations: int) -> SimulatorConfig:
    """The simulator's defaults, with event rates scaled to ``DEMO_ALARMING_STATIONS``."""
    base = SimulatorConfig(port=port, stations=stations)
    scale = min(1.0, DEMO_ALARMING_STATIONS / stations)
    return replace(
        base,
        exceedance_rate=base.exceedance_rate * scale,
        flag_rate=base.flag_rate * scale,
        outage_rate=base.outage_rate * scale,
    )


def start_demo_sources(
    db_url: str,
    hub_url: str,
    hj212_port: int,
    officer_count: int = DEMO_OFFICERS,
    station_count: int | None = DEMO_STATIONS,
) -> BackgroundRun:
    """Grid officers walking their grids and answering tasks, stations sending HJ 212 data.

    The officers' tokens are issued directly in the demo database (no enrolment step).
    """
    store = Store.open(db_url)
    try:
        world = store.load_world()
    finally:
        store.close()
    chosen = [officer.id for officer, _grid in plan_officers(world, officer_count, 0)]
    officers = OfficerSimulator(
        world,
        issue_tokens(db_url, chosen),
        OfficerSimConfig(field_url=field_url(hub_url), officers=officer_count),
    )
    if station_count is None:
        station_count = len(stations_from_world(world))
    stations = Simulator(world, demo_station_config(hj212_port, station_count))
    sources = BackgroundRun([officers.run, stations.run])
    sources.start()
    return sources


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_demo_cameras(db_url: str, count: int = DEMO_CAMERAS) -> DemoStreamServer:
    """Serve synthetic live streams on 127.0.0.1 and point the demo cameras at them."""
    store = Store.open(db_url)
    try:
        world = store.load_world()
        names = [e.name for e in world.enterprises if e.is_key][:count]
        streams = DemoStreamServer(names)
        streams.start()
        with store.session() as session:
            camera_repo.register_demo_cameras(
                session, world, [streams.url(i) for i in range(len(names))]
            )
    finally:
        store.close()
    return streams
