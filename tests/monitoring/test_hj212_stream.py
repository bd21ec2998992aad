"""FrameScanner on chunked TCP-like streams and split-packet reassembly."""

from __future__ import annotations

import random

import pytest

from console.monitoring.hj212 import (
    ErrorKind,
    FrameScanner,
    HJ212Error,
    Reassembler,
    decode,
    decode_cp,
    encode_packet,
)
from tests.monitoring.hj212_helpers import STANDARD_EXAMPLE, handmade

MN = "010000A8900016F000169DC0"


def _frames(count: int, rng: random.Random) -> list[bytes]:
    return [
        encode_packet(
            qn=f"20260101000000{i % 1000:03d}",
            cn=rng.choice(["2011", "2051", "2061"]),
            mn=MN,
            values={
                f"w{c:05d}": {"Rtd": rng.uniform(0, 500), "Flag": "N"}
                for c in range(rng.randint(1, 12))
            },
        )
        for i in range(count)
    ]


def _chunks(stream: bytes, rng: random.Random) -> list[bytes]:
    out, pos = [], 0
    while pos < len(stream):
        size = rng.choice([1, 2, 3, 7, 64, 500, 1460, 5000])
        out.append(stream[pos : pos + size])
        pos += size
    return out


@pytest.mark.parametrize("seed", range(20))
def test_random_chunking_with_garbage_between_frames(seed: int) -> None:
    rng = random.Random(seed)
    frames = _frames(30, rng)
    garbage = [b"", b"\r\n", b"xx", b"#", b"##", b"##12", b"\x00\xff#", b"##abcd", b"noise##9999"]
    stream = b"".join(rng.choice(garbage) + f for f in frames)
    scanner = FrameScanner()
    got = [f for chunk in _chunks(stream, rng) for f in scanner.feed(chunk)]
    assert got == frames
    assert scanner.pending <= 12
    assert all(decode(f) for f in got)


def test_several_frames_in_one_chunk_and_byte_by_byte() -> None:
    frames = _frames(5, random.Random(1))
    assert FrameScanner().feed(b"".join(frames)) == frames
    scanner = FrameScanner()
    assert [f for b in b"".join(frames) for f in scanner.feed(bytes([b]))] == frames
    assert scanner.discarded == 0


def test_miscounted_length_is_cut_at_line_end_and_reported_by_decoder() -> None:
    body = STANDARD_EXAMPLE[6:-4]
    bad = handmade(body, length=len(body) + 30)
    good = STANDARD_EXAMPLE.encode() + b"\r\n"
    scanner = FrameScanner()
    got = scanner.feed(bad + good)
    assert got == [bad, good]
    with pytest.raises(HJ212Error) as caught:
        decode(got[0])
    assert caught.value.kind is ErrorKind.LENGTH


def test_oversize_guard_never_buffers_beyond_the_cap() -> None:
    scanner = FrameScanner(max_length=200)
    assert scanner.feed(b"##9000" + b"A" * 10_000) == []
    assert scanner.pending <= 212
    assert scanner.feed(b"##0150" + b"B" * 1000) == []  # no line end within the cap
    assert scanner.pending <= 212
    good = STANDARD_EXAMPLE.encode() + b"\r\n"
    assert scanner.feed(good) == [good]
    assert scanner.discarded > 10_000


class FakeClock:
    """A settable clock: the reassembler's timeout is tested without sleeping."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _parts(qn: str, pnum: int) -> list[bytes]:
    return [
        encode_packet(
            qn=qn,
            cn="2061",
            mn=MN,
            flag=7,
            pnum=pnum,
            pno=n,
            data_time="20260101100000",
            values={f"w0{n:04d}": {"Avg": float(n), "Flag": "N"}},
        )
        for n in range(1, pnum + 1)
    ]


def test_split_packets_reassemble_in_any_order() -> None:
    reassembler = Reassembler(timeout=30)
    parts = [decode(f) for f in _parts("20260101100000001", 3)]
    other = [decode(f) for f in _parts("20260101100000002", 2)]
    assert reassembler.add(parts[2]) is None
    assert reassembler.add(other[0]) is None
    assert reassembler.add(parts[0]) is None
    assert reassembler.waiting == 2
    joined = reassembler.add(parts[1])
    assert joined is not None
    assert joined.values == {f"w0{n:04d}": {"Avg": float(n), "Flag": "N"} for n in (1, 2, 3)}
    assert decode_cp(joined.cp) == joined.values  # the parts' texts, in part order
    assert joined.cp.index("w00001") < joined.cp.index("w00002") < joined.cp.index("w00003")
    assert joined.pnum == 3
    assert not joined.split
    assert joined.ack_requested
    assert reassembler.waiting == 1
    plain = decode(STANDARD_EXAMPLE)
    assert reassembler.add(plain) is plain


def test_incomplete_split_packets_expire() -> None:
    clock = FakeClock()
    reassembler = Reassembler(timeout=10, clock=clock)
    parts = [decode(f) for f in _parts("20260101100000001", 2)]
    assert reassembler.add(parts[0]) is None
    clock.now = 5
    assert reassembler.expire() == []
    clock.now = 11
    dropped = reassembler.expire()
    assert [key for key, _ in dropped] == [(MN, "20260101100000001")]
    assert list(dropped[0][1].parts) == [1]
    assert reassembler.add(parts[1]) is None  # starts a new group: the first part is gone


def test_contradicting_pnum_is_a_field_error() -> None:
    reassembler = Reassembler()
    assert reassembler.add(decode(_parts("20260101100000001", 3)[0])) is None
    with pytest.raises(HJ212Error) as caught:
        reassembler.add(decode(_parts("20260101100000001", 2)[1]))
    assert caught.value.kind is ErrorKind.FIELD
    assert reassembler.waiting == 0
