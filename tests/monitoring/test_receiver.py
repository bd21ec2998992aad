"""The HJ 212 receiver with real TCP clients on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from console.core.model import OutletKind, PermitLimit
from console.monitoring.hj212 import FrameScanner, Packet, decode, encode_packet
from console.monitoring.receiver import (
    ClockDrift,
    InMemoryQuarantine,
    InMemoryRegistry,
    InMemorySink,
    ReceivedPacket,
    ReceiverConfig,
    ReceiverStats,
    StationInfo,
    StationReceiver,
    format_hj212_time,
    parse_hj212_time,
)

LIMITS = (PermitLimit("w01018", "COD", "mg/L", 100.0, None, 1000.0),)


def station(i: int) -> StationInfo:
    return StationInfo(
        mn=f"MN{i:022d}",
        enterprise_id=f"ent-{i // 2}",
        outlet_id=f"ent-{i // 2}-W{i % 2}",
        district_adcode="331002",
        password=f"{i:06d}",
        kind=OutletKind.WATER,
        limits=LIMITS,
    )


STATIONS = {s.mn: s for s in (station(i) for i in range(600))}


def qn_at(moment: datetime) -> str:
    return format_hj212_time(moment, millis=True)


def data_frame(
    st: StationInfo, n: int = 0, *, flag: int = 5, pw: str | None = None, cn: str = "2011"
) -> tuple[bytes, str]:
    now = datetime.now(UTC) + timedelta(milliseconds=n)
    qn = qn_at(now)
    frame = encode_packet(
        qn=qn,
        cn=cn,
        mn=st.mn,
        pw=st.password if pw is None else pw,
        flag=flag,
        data_time=format_hj212_time(now),
        values={"w01018": {"Rtd": 40.0 + n, "Flag": "N"}, "w00000": {"Rtd": 12.5, "Flag": "N"}},
    )
    return frame, qn


async def read_frames(
    reader: asyncio.StreamReader, count: int, timeout: float = 5.0
) -> list[Packet]:
    scanner = FrameScanner()
    packets: list[Packet] = []

    async def collect() -> None:
        while len(packets) < count:
            chunk = await reader.read(4096)
            if not chunk:
                return
            packets.extend(decode(frame) for frame in scanner.feed(chunk))

    await asyncio.wait_for(collect(), timeout)
    return packets


Body = Callable[[StationReceiver, InMemorySink, InMemoryQuarantine], Awaitable[None]]


def serve(body: Body, config: ReceiverConfig | None = None, **kwargs: Any) -> None:
    """Run ``body`` against a receiver on a free port, with in-memory registry and sinks."""
    sink = kwargs.pop("sink", None) or InMemorySink()
    quarantine = InMemoryQuarantine()

    async def main() -> None:
        receiver = StationReceiver(
            InMemoryRegistry(STATIONS),
            sink,
            quarantine,
            config or ReceiverConfig(port=0, batch_interval=0.02),
            **kwargs,
        )
        async with receiver:
            await body(receiver, sink, quarantine)

    asyncio.run(main())


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def test_one_byte_chunks_with_garbage_between_frames() -> None:
    async def body(rx: StationReceiver, sink: InMemorySink, _q: InMemoryQuarantine) -> None:
        st = STATIONS[station(1).mn]
        frames = [data_frame(st, n) for n in range(3)]
        stream = b"noise##12" + frames[0][0] + b"\x00\xffjunk" + frames[1][0] + b"#" + frames[2][0]
        reader, writer = await asyncio.open_connection("127.0.0.1", rx.port)
        for i in range(len(stream)):
            writer.write(stream[i : i + 1])
            await writer.drain()
        replies = await read_frames(reader, 3)
        writer.close()
        assert [r.qn for r in replies] == [qn for _, qn in frames]
        assert {r.cn for r in replies} == {"9014"}
        assert [p.packet.values["w01018"]["Rtd"] for p in sink.packets] == [40.0, 41.0, 42.0]
        assert rx.stats.discarded_bytes >= len(b"noise##12\x00\xffjunk#")
        assert rx.stats.packets_accepted == 3
        assert rx.last_seen[st.mn] is not None

    serve(body)


def test_concatenated_frames_in_one_write() -> None:
    async def body(rx: StationReceiver, sink: InMemorySink, _q: InMemoryQuarantine) -> None:
        st = station(2)
        frames = [data_frame(st, n) for n in range(10)]
        reader, writer = await asyncio.open_connection("127.0.0.1", rx.port)
        writer.write(b"\r\n".join(frame for frame, _ in frames))
        await writer.drain()
        replies = await read_frames(reader, 10)
        writer.close()
        assert [r.qn for r in replies] == [qn for _, qn in frames]
        assert len(sink.packets) == 10
        event = sink.packets[0].to_event()
        assert event["mn"] == st.mn
        assert event["cn"] == "2011"
        assert event["values"]["w01018"] == {"value": 40.0, "flag": "N", "zs": None, "cou": None}
        assert event["district_adcode"] == "331002"

    serve(body)


def test_oversize_frame_is_discarded_and_the_stream_continues() -> None:
    async def body(rx: StationReceiver, sink: InMemorySink, _q: InMemoryQuarantine) -> None:
        st = station(3)
        big = encode_packet(
            qn=qn_at(datetime.now(UTC)),
            cn="2011",
            mn=st.mn,
            pw=st.password,
            flag=4,
            values={f"w{i:05d}": {"Rtd": 1.0} for i in range(40)},
        )
        assert len(big) > 400
        good, qn = data_frame(st)
        reader, writer = await asyncio.open_connection("127.0.0.1", rx.port)
        writer.write(big + good)
        await writer.drain()
        replies = await read_frames(reader, 1)
        writer.close()
        assert [r.qn for r in replies] == [qn]
        assert len(sink.packets) == 1
        assert rx.stats.discarded_bytes >= len(big) - 2

    serve(body, ReceiverConfig(port=0, batch_interval=0.02, max_frame=300))


def test_idle_connection_is_closed() -> None:
    async def body(rx: StationReceiver, sink: InMemorySink, _q: InMemoryQuarantine) -> None:
        frame, _ = data_frame(station(4))
        reader, writer = await asyncio.open_connection("127.0.0.1", rx.port)
        writer.write(frame[:20])  # a slow sender that never finishes its frame
        await writer.drain()
        assert await asyncio.wait_for(reader.read(100), 3.0) == b""  # closed by the receiver
        writer.close()
        await until(lambda: rx.stats.connections_open == 0)
        assert rx.stats.idle_closed == 1
        assert sink.packets == []

    serve(body, ReceiverConfig(port=0, idle_timeout=0.3))


def test_500_concurrent_stations_all_accepted_and_answered() -> None:
    async def client(port: int, st: StationInfo) -> list[tuple[str, str | None]]:
        frames = [data_frame(st, n) for n in range(3)]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"".join(f for f, _ in frames))
        await writer.drain()
        replies = await read_frames(reader, 3, timeout=30.0)
        writer.close()
        assert [r.qn for r in replies] == [qn for _, qn in frames]
        return [(r.mn, r.qn) for r in replies]

    async def body(rx: StationReceiver, sink: InMemorySink, _q: InMemoryQuarantine) -> None:
        stations = [station(i) for i in range(500)]
        results = await asyncio.gather(*(client(rx.port, st) for st in stations))
        assert sum(len(r) for r in results) == 1500
        assert all(mn == st.mn for r, st in zip(results, stations, strict=True) for mn, _ in r)
        assert len(sink.packets) == 1500
        assert len({(p.station.mn, p.packet.qn) for p in sink.packets}) == 1500
        assert rx.stats.connections_total == 500
        assert rx.stats.replies_sent == 1500
        assert max(len(b) for b in sink.batches) <= rx.config.batch_size

    serve(body)


def test_unknown_mn_wrong_password_and_decode_error_are_quarantined() -> None:
    async def body(rx: StationReceiver, sink: InMemorySink, q: InMemoryQuarantine) -> None:
        st = station(5)
        stranger = StationInfo("UNKNOWN000000000000000001", "x", "x-W1", "331002", "1", st.kind)
        unknown, _ = data_frame(stranger)
        bad_pw, _ = data_frame(st, pw="999999")
        good, qn = data_frame(st, 1)
        corrupt = bytearray(data_frame(st, 2)[0])
        corrupt[-4] = ord("0") if corrupt[-4] != ord("0") else ord("1")  # break the CRC
        reader, writer = await asyncio.open_connection("127.0.0.1", rx.port)
        writer.write(unknown + bad_pw + bytes(corrupt) + good)
        await writer.drain()
        replies = await read_frames(reader, 1)
        writer.close()
        assert [r.qn for r in replies] == [qn]  # only the good packet is answered
        assert len(sink.packets) == 1
        reasons = {item.reason: item for item in q.items}
        assert set(reasons) == {"unknown_mn", "bad_password", "decode_error"}
        assert reasons["unknown_mn"].mn == stranger.mn
        assert reasons["bad_password"].mn == st.mn
        assert reasons["decode_error"].error == "crc"
        assert reasons["decode_error"].mn == st.mn
        assert reasons["decode_error"].raw == bytes(corrupt)
        assert rx.stats.quarantined == {"unknown_mn": 1, "bad_password": 1, "decode_error": 1}
        assert rx.stats.errors["crc"] == 1
        event = reasons["unknown_mn"].to_event()
        assert event["reason"] == "unknown_mn"
        assert event["peer"].startswith("127.0.0.1:")

    serve(body, ReceiverConfig(port=0, batch_interval=0.02, raw_excerpt=4096))


def test_raw_bytes_of_a_quarantined_frame_are_truncated() -> None:
    async def body(rx: StationReceiver, _s: InMemorySink, q: InMemoryQuarantine) -> None:
        frame, _ = data_frame(station(6), pw="wrong")
        _reader, writer = await asyncio.open_connection("127.0.0.1", rx.port)
        writer.write(frame)
        await writer.drain()
        await until(lambda: len(q.items) == 1)
        writer.close()
        assert q.items[0].raw == frame[:16]

    serve(body, ReceiverConfig(port=0, raw_excerpt=16))


def test_heartbeat_keeps_the_station_alive_and_carries_no_data() -> None:
    async def body(rx: StationReceiver, sink: InMemorySink, _q: InMemoryQuarantine) -> None:
        st = station(7)
        qn = qn_at(datetime.now(UTC))
        beat = encode_packet(qn=qn, st="32", cn="8013", mn=st.mn, pw=st.password, flag=5)
        reader, writer = await asyncio.open_connection("127.0.0.1", rx.port)
        writer.write(beat)
        await writer.drain()
        replies = await read_frames(reader, 1)
        writer.close()
        assert replies[0].qn == qn
        assert replies[0].cn == "9014"
        assert rx.stats.heartbeats == 1
        assert st.mn in rx.last_seen
        assert sink.packets == []

    serve(body)


def test_split_packet_is_reassembled() -> None:
    async def body(rx: StationReceiver, sink: InMemorySink, _q: InMemoryQuarantine) -> None:
        st = station(8)
        qn = qn_at(datetime.now(UTC))
        common: dict[str, Any] = {"qn": qn, "cn": "2011", "mn": st.mn, "pw": st.password}
        part2 = encode_packet(
            **common, flag=7, pnum=2, pno=2, values={"w21003": {"Rtd": 2.0, "Flag": "N"}}
        )
        part1 = encode_packet(
            **common,
            flag=7,
            pnum=2,
            pno=1,
            data_time="20240101120000",
            values={"w01018": {"Rtd": 30.0, "Flag": "N"}},
        )
        reader, writer = await asyncio.open_connection("127.0.0.1", rx.port)
        writer.write(part2 + part1)  # out of order
        await writer.drain()
        replies = await read_frames(reader, 2)
        writer.close()
        assert [r.qn for r in replies] == [qn, qn]
        (item,) = sink.packets
        assert set(item.packet.values) == {"w01018", "w21003"}
        assert item.data_time == datetime(2024, 1, 1, 4, 0, tzinfo=UTC)

    serve(body)


def test_clock_drift_is_reported_and_answered_with_a_time_set_command() -> None:
    drifts: list[ClockDrift] = []

    async def body(rx: StationReceiver, sink: InMemorySink, _q: InMemoryQuarantine) -> None:
        st = station(9)
        ahead = datetime.now(UTC) + timedelta(hours=1)
        qn = qn_at(ahead)
        frame = encode_packet(
            qn=qn, cn="2011", mn=st.mn, pw=st.password, flag=5, values={"w01018": {"Rtd": 1.0}}
        )
        in_sync, qn2 = data_frame(st, 5)
        reader, writer = await asyncio.open_connection("127.0.0.1", rx.port)
        writer.write(frame)
        await writer.drain()
        first = await read_frames(reader, 2)
        writer.write(in_sync)
        await writer.drain()
        second = await read_frames(reader, 1)
        writer.close()
        by_cn = {p.cn: p for p in first}
        assert by_cn["9014"].qn == qn
        time_set = by_cn["1012"]
        assert time_set.mn == st.mn
        assert time_set.pw == st.password
        sent = parse_hj212_time(str(time_set.params["SystemTime"]))
        assert sent is not None
        assert abs((sent - datetime.now(UTC)).total_seconds()) < 5
        assert second[0].qn == qn2
        assert [d.drifting for d in drifts] == [True, False]
        assert 3500 < drifts[0].drift_seconds < 3700
        assert rx.stats.time_set_sent == 1
        assert rx.stats.clock_drifts == 1
        assert len(sink.packets) == 2  # drifting data is still data

    serve(
        body,
        ReceiverConfig(port=0, batch_interval=0.02, send_time_set=True),
        on_clock_drift=drifts.append,
    )


def test_drift_reported_before_a_restart_is_cleared_when_the_clock_agrees() -> None:
    drifts: list[ClockDrift] = []

    async def body(rx: StationReceiver, sink: InMemorySink, _q: InMemoryQuarantine) -> None:
        st = station(9)
        rx.resume_drift(st.mn, datetime.now(UTC) - timedelta(minutes=5))
        ahead = encode_packet(
            qn=qn_at(datetime.now(UTC) + timedelta(hours=1)), cn="2011", mn=st.mn,
            pw=st.password, flag=5, values={"w01018": {"Rtd": 1.0}},
        )  # fmt: skip
        in_sync, _qn = data_frame(st, 5)
        reader, writer = await asyncio.open_connection("127.0.0.1", rx.port)
        writer.write(ahead)  # still drifting: already reported, not reported again
        await writer.drain()
        await read_frames(reader, 1)
        writer.write(in_sync)
        await writer.drain()
        await read_frames(reader, 1)
        writer.close()
        assert [d.drifting for d in drifts] == [False]

    serve(body, ReceiverConfig(port=0, batch_interval=0.02), on_clock_drift=drifts.append)


class RecordingSlowSink(InMemorySink):
    """A slow database; records how many decoded packets were waiting at each batch."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        self.receiver: StationReceiver | None = None
        self.waiting: list[int] = []

    async def accept(self, batch: list[ReceivedPacket]) -> None:
        assert self.receiver is not None
        stats = self.receiver.stats
        self.waiting.append(stats.frames - stats.packets_accepted)
        await super().accept(batch)


def test_slow_sink_makes_the_receiver_stop_reading() -> None:
    sink = RecordingSlowSink(delay=0.03)
    config = ReceiverConfig(port=0, batch_interval=0.01, batch_size=5, queue_limit=5)

    async def body(rx: StationReceiver, _s: InMemorySink, _q: InMemoryQuarantine) -> None:
        sink.receiver = rx
        st = station(10)
        frames = [data_frame(st, n) for n in range(120)]
        reader, writer = await asyncio.open_connection("127.0.0.1", rx.port)
        writer.write(b"".join(f for f, _ in frames))
        await writer.drain()
        replies = await read_frames(reader, 120, timeout=20.0)
        writer.close()
        assert [r.qn for r in replies] == [qn for _, qn in frames]
        # Never more decoded than the queue, one batch and the one frame blocked on the queue.
        assert max(sink.waiting) <= config.queue_limit + config.batch_size + 1
        assert len(sink.batches) >= 120 // config.batch_size

    serve(body, config, sink=sink)


class FailingSink(InMemorySink):
    async def accept(self, batch: list[ReceivedPacket]) -> None:
        raise RuntimeError("database is down")


def test_refused_batch_is_not_acknowledged(caplog: pytest.LogCaptureFixture) -> None:
    async def body(rx: StationReceiver, _s: InMemorySink, _q: InMemoryQuarantine) -> None:
        frame, _ = data_frame(station(11))
        reader, writer = await asyncio.open_connection("127.0.0.1", rx.port)
        writer.write(frame)
        await writer.drain()
        await until(lambda: rx.stats.errors["sink"] == 1)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(100), 0.2)
        writer.close()
        assert rx.stats.replies_sent == 0

    serve(body, sink=FailingSink())
    assert "packet sink refused a batch" in caplog.text


def test_invalid_config_is_rejected() -> None:
    with pytest.raises(ValueError, match="idle_timeout"):
        ReceiverConfig(idle_timeout=0)
    with pytest.raises(ValueError, match="queue_limit"):
        ReceiverConfig(queue_limit=0)


def test_hj212_times_are_beijing_time() -> None:
    assert parse_hj212_time("20240101080000123") == datetime(2024, 1, 1, 0, 0, 0, 123000, UTC)
    assert parse_hj212_time("2024010108") is None
    assert parse_hj212_time("20241301080000") is None
    moment = datetime(2024, 6, 30, 16, 30, tzinfo=UTC)
    # The seconds are cached; the milliseconds of a QN still count, and bad ones still fail.
    assert parse_hj212_time("20240701003000007") == moment.replace(microsecond=7000)
    assert parse_hj212_time("20240701003000999") == moment.replace(microsecond=999000)
    assert parse_hj212_time("2024070100300012x") is None
    assert parse_hj212_time("2024070100300x123") is None
    assert parse_hj212_time("2024070100300٣123") is None  # a non-ASCII digit
    assert parse_hj212_time("20240701003000") == moment
    assert format_hj212_time(moment) == "20240701003000"


def test_counters_of_several_receivers_add_up() -> None:
    one, two = ReceiverStats(frames=3, packets_accepted=2), ReceiverStats(frames=4, heartbeats=1)
    one.errors["crc"] += 1
    two.errors["crc"] += 2
    two.quarantined["unknown_mn"] += 1
    total = ReceiverStats.merged([one.as_dict(), two.as_dict(), {}])
    assert total.as_dict() == {
        **ReceiverStats().as_dict(),
        "frames": 7,
        "packets_accepted": 2,
        "heartbeats": 1,
        "errors": {"crc": 3},
        "quarantined": {"unknown_mn": 1},
    }
