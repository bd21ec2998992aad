"""The station simulator against the real receiver: handshake, packets and falsification."""

from __future__ import annotations

import asyncio
import statistics
from typing import Any

import pytest

from console.__main__ import main
from console.core.model import World
from console.monitoring.receiver import (
    InMemoryQuarantine,
    InMemoryRegistry,
    InMemorySink,
    ReceiverConfig,
    StationReceiver,
    stations_from_world,
)
from console.monitoring.simulator import PATTERNS, Simulator, SimulatorConfig, plan_stations


@pytest.fixture(scope="module")
def simulated(demo_world: World) -> tuple[Simulator, dict[str, Any], InMemorySink, StationReceiver]:
    """Eight stations, four falsifiers, 2.5 s real = 50 simulated minutes."""
    sink = InMemorySink()

    async def scenario() -> tuple[Simulator, dict[str, Any], StationReceiver]:
        receiver = StationReceiver(
            InMemoryRegistry(stations_from_world(demo_world)),
            sink,
            InMemoryQuarantine(),
            ReceiverConfig(port=0, batch_interval=0.005),
        )
        async with receiver:
            config = SimulatorConfig(
                port=receiver.port,
                stations=8,
                seed=3,
                speed=1200.0,
                seconds=2.5,
                falsifiers=4,
                reply_timeout=10.0,  # a busy machine delays replies; no resend for that
                outage_rate=0.0,
            )
            simulator = Simulator(demo_world, config)
            report = await simulator.run()
        return simulator, report, receiver

    simulator, report, receiver = asyncio.run(scenario())
    return simulator, report, sink, receiver


def test_every_packet_is_acknowledged_and_arrives(
    simulated: tuple[Simulator, dict[str, Any], InMemorySink, StationReceiver],
) -> None:
    simulator, report, sink, receiver = simulated
    assert report["sent"]["2011"] >= 8 * 40
    assert report["sent"].get("2051", 0) >= 8 * 3
    assert report["unacked"] == 0
    assert report["resent"] == 0
    assert report["acked"] == sum(report["sent"].values())  # the last replies included
    assert len(sink.packets) >= report["acked"]
    assert receiver.stats.quarantined == {}
    assert receiver.stats.clock_drifts == 0
    mns = {p.station.mn for p in sink.packets}
    assert mns == {s.station.mn for s in simulator.stations}
    minute = next(p for p in sink.packets if p.packet.cn == "2051")
    assert {"Min", "Avg", "Max", "Flag"} <= set(next(iter(minute.packet.values.values())))


def test_falsification_patterns_are_present_in_what_arrives(
    simulated: tuple[Simulator, dict[str, Any], InMemorySink, StationReceiver],
) -> None:
    simulator, _report, sink, _receiver = simulated
    plan = simulator.plan()
    assert sorted(f["pattern"] for f in plan["falsifiers"]) == sorted(PATTERNS)
    by_pattern = {f["pattern"]: set(f["outlets"]) for f in plan["falsifiers"]}
    realtime = [p for p in sink.packets if p.packet.cn == "2011"]

    def series(
        outlets: set[str], code_filter: str | None = None, *, judged: bool = False
    ) -> dict[str, list[float]]:
        """Real-time values; ``judged``: the O2-converted one where sent (flue gas)."""
        out: dict[str, list[float]] = {}
        for p in realtime:
            if p.station.outlet_id in outlets:
                for code, fields in p.packet.values.items():
                    if (code_filter is None or code == code_filter) and fields.get("Flag") == "N":
                        value = fields.get("ZsRtd", fields["Rtd"]) if judged else fields["Rtd"]
                        out.setdefault(f"{p.station.outlet_id}/{code}", []).append(float(value))
        return out

    limits = {
        (s.station.outlet_id, lim.code): lim for s in simulator.stations for lim in s.station.limits
    }
    polluting = {k: v for k, v in limits.items() if v.lower_limit is None}
    for key, values in series(by_pattern["flat_line"]).items():
        outlet, code = key.split("/")
        if (outlet, code) in polluting:
            assert statistics.pstdev(values) == 0.0
    for key, values in series(by_pattern["zeros_with_flow"]).items():
        outlet, code = key.split("/")
        if (outlet, code) in polluting:
            assert set(values) == {0.0}
        if code in ("w00000", "a00000"):
            assert min(values) > 0.0
    for key, values in series(by_pattern["hug_limit"], judged=True).items():
        outlet, code = key.split("/")
        if (outlet, code) in polluting:
            limit = polluting[(outlet, code)].limit
            assert all(0.9 * limit <= v < limit for v in values)
    # Flue gas is drawn for its converted value: honest stacks exceed only in bursts, and a
    # hugging stack stays under the limit where it is judged.
    hugging_gas = [k for k in series(by_pattern["hug_limit"]) if k.split("/")[1].startswith("a")]
    honest_gas = {
        s.station.outlet_id
        for s in simulator.stations
        if s.pattern is None and s.station.kind.value == "gas"
    }
    judged = [
        v / polluting[tuple(k.split("/"))].limit  # type: ignore[index]
        for k, values in series(honest_gas, judged=True).items()
        if tuple(k.split("/")) in polluting
        for v in values
    ]
    assert hugging_gas or judged, "the plan has flue-gas stations"
    if judged:
        assert sum(v > 1.0 for v in judged) / len(judged) < 0.05
    o2 = series(by_pattern["air_o2"], "a19001")
    assert o2
    assert all(min(v) >= 20.3 for v in o2.values())
    honest = {s.station.outlet_id for s in simulator.stations if s.pattern is None}
    honest_o2 = series(honest, "a19001")
    assert honest_o2
    assert all(max(v) < 15.0 for v in honest_o2.values())


@pytest.mark.parametrize("grace", [5.0, 0.0])
def test_stopping_counts_each_packet_once(demo_world: World, grace: float) -> None:
    """Replies still pending at the end arrive within the grace, or count as unacked."""
    sink = InMemorySink(delay=0.4)  # a slow database: every reply is late

    async def scenario() -> dict[str, Any]:
        receiver = StationReceiver(
            InMemoryRegistry(stations_from_world(demo_world)),
            sink,
            InMemoryQuarantine(),
            ReceiverConfig(port=0, batch_interval=0.005),
        )
        async with receiver:
            config = SimulatorConfig(
                port=receiver.port, stations=3, seed=1, speed=600.0, seconds=0.2,
                reply_timeout=10.0, outage_rate=0.0, stop_grace=grace,
            )  # fmt: skip
            return await Simulator(demo_world, config).run()

    report = asyncio.run(scenario())
    sent = sum(report["sent"].values())
    assert sent >= 3
    assert report["resent"] == 0
    assert report["acked"] + report["unacked"] == sent
    if grace:
        assert report["unacked"] == 0
    else:
        assert report["acked"] == 0  # the first batch is still in the database at the stop


def test_plan_is_deterministic_by_seed(demo_world: World) -> None:
    config = SimulatorConfig(stations=30, seed=7)
    first = [s.as_dict() for s in plan_stations(demo_world, config)]
    assert first == [s.as_dict() for s in plan_stations(demo_world, config)]
    assert {s["kind"] for s in first} == {"water", "gas"}
    assert {s["pattern"] for s in first} >= set(PATTERNS)
    with pytest.raises(ValueError, match="outlets"):
        plan_stations(demo_world, SimulatorConfig(stations=100_000))


def test_config_and_cli_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="speed"):
        SimulatorConfig(speed=0)
    with pytest.raises(ValueError, match="min_interval"):
        SimulatorConfig(min_interval=45)
    with pytest.raises(ValueError, match="stop_grace"):
        SimulatorConfig(stop_grace=-1)
    assert main(["simulate"]) == 2
    assert "--stations" in capsys.readouterr().err
