"""Property tests: encode -> decode round trips, and fuzzing that only HJ212Error escapes."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.monitoring.hj212 import (
    DecodeOptions,
    FrameScanner,
    HJ212Error,
    Reassembler,
    decode,
    decode_cp,
    encode_cp,
    encode_packet,
    packet_cp,
)
from tests.monitoring.hj212_helpers import STANDARD_EXAMPLE, bitwise_crc

pytestmark = pytest.mark.usefixtures("codec_implementation")

_SAFE = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters=";,=&-"),
    min_size=1,
    max_size=12,
)
_CODE = st.from_regex(r"[a-z][0-9]{5}|SB[0-9]{1,3}|[0-9]{3}", fullmatch=True)
_NUMBER = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "Rtd": _NUMBER, "Avg": _NUMBER, "Min": _NUMBER, "Max": _NUMBER, "Cou": _NUMBER,
        "ZsAvg": _NUMBER, "Flag": st.sampled_from("NFMSDCTB"), "RS": st.sampled_from("012"),
    },
).filter(bool)  # fmt: skip
_QN = st.from_regex(r"20[0-9]{15}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(
    qn=st.none() | _QN,
    cn=st.sampled_from(["2011", "2051", "2061", "2031", "2041", "2021", "1062", "9014"]),
    st_=st.sampled_from(["21", "31", "32", "91"]),
    mn=_SAFE,
    pw=_SAFE,
    flag=st.none() | st.sampled_from([0, 1, 4, 5, 8, 9]),
    data_time=st.none() | st.from_regex(r"20[0-9]{12}", fullmatch=True),
    values=st.dictionaries(_CODE, _FIELDS, max_size=12),
    interval=st.none() | st.integers(min_value=1, max_value=3600),
)
def test_round_trip(
    qn: str | None,
    cn: str,
    st_: str,
    mn: str,
    pw: str,
    flag: int | None,
    data_time: str | None,
    values: dict[str, dict[str, object]],
    interval: int | None,
) -> None:
    params = {} if interval is None else {"RtdInterval": interval}
    frame = encode_packet(
        qn=qn, st=st_, cn=cn, pw=pw, mn=mn, flag=flag, data_time=data_time,
        values=values, params=params,
    )  # fmt: skip
    packet = decode(frame, DecodeOptions(max_length=9999))
    assert (packet.qn, packet.st, packet.cn, packet.pw, packet.mn, packet.flag) == (
        qn, st_, cn, pw, mn, flag,
    )  # fmt: skip
    assert packet.data_time == data_time
    assert packet.values == values
    assert packet.params == params
    # What the store keeps of the packet reads back to the same values.
    assert packet.cp == encode_cp(data_time, values, params)
    assert decode_cp(packet.cp) == values
    assert packet_cp(replace(packet, cp="")) == packet.cp


def _check(data: bytes | str) -> None:
    try:
        packet = decode(data, DecodeOptions(accept_modbus_crc=True))
    except HJ212Error as error:
        detail = error.detail
        assert detail
    else:
        assert packet.cn.isdigit()
        if packet.split:
            assert Reassembler().add(packet) is None


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_hj212error(data: bytes) -> None:
    _check(data)
    _check(b"##%04d" % max(0, len(data) - 4) + data)


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=200))
def test_random_text_raises_only_hj212error(text: str) -> None:
    _check(text)
    _check("##" + text)


def test_mutated_valid_frames_raise_only_hj212error() -> None:
    rng = random.Random(212)
    base = [
        STANDARD_EXAMPLE.encode(),
        encode_packet(
            qn="20160801085857223",
            cn="2051",
            mn="X",
            flag=7,
            pnum=2,
            pno=1,
            data_time="20160801085800",
            values={"w01018": {"Avg": 1.0, "Flag": "N"}, "SB1": {"RS": "1", "RT": 2.0}},
        ),
    ]
    alphabet = b"#;,=&-.0123456789ACNQPWFlagDtp\r\n\x00\xff"
    for _ in range(5000):
        frame = bytearray(rng.choice(base))
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            at = rng.randrange(len(frame))
            if op < 0.4:
                frame[at] = rng.choice(alphabet)
            elif op < 0.7:
                del frame[at]
            else:
                frame.insert(at, rng.choice(alphabet))
        _check(bytes(frame))
        # Fix up length and CRC so mutations reach the field parser.
        body = bytes(frame[6:-6]) if len(frame) > 12 else b""
        _check(b"##%04d%b%04X\r\n" % (len(body), body, bitwise_crc(body)))


@settings(max_examples=200, deadline=None)
@given(data=st.lists(st.binary(max_size=50), max_size=20), seed=st.integers(0, 2**16))
def test_scanner_survives_random_streams(data: list[bytes], seed: int) -> None:
    rng = random.Random(seed)
    good = STANDARD_EXAMPLE.encode() + b"\r\n"
    stream = b"".join(piece + (good if rng.random() < 0.5 else b"") for piece in data)
    scanner = FrameScanner(max_length=300)
    for start in range(0, len(stream), 17):
        for frame in scanner.feed(stream[start : start + 17]):
            assert frame.startswith(b"##")
            _check(frame)
        assert scanner.pending <= 312
