"""The codec's C speed-ups give exactly what its pure-Python code gives, on any input."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.monitoring.hj212 import (
    SPEEDUPS,
    DecodeOptions,
    ErrorKind,
    HJ212Error,
    Packet,
    codec,
    crc16_hj212_python,
    crc16_hj212_reference,
    decode,
    without_speedups,
)
from tests.monitoring.hj212_helpers import (
    STANDARD_EXAMPLE,
    bitwise_crc,
    handmade,
)

MN = "010000A8900016F000169DC0"
HEADER = f"QN=20160801085857223;ST=32;CN=2011;PW=123456;MN={MN};Flag=4;CP=&&"


def test_the_speedups_are_built() -> None:
    """``./run test`` installs a C compiler; without one the codec decodes 3-5 times slower."""
    assert SPEEDUPS is not None, "console/monitoring/hj212/_speedups.c was not built"
    assert codec.crc16_hj212 is SPEEDUPS.crc16_hj212
    assert codec._split_cp is SPEEDUPS.split_cp


def _cp_outcome(cp: str) -> tuple[Any, ...]:
    """What decoding a CP body gives, with value types, signs and orders spelled out."""
    packet = Packet("2017", "", "", "")
    try:
        codec._decode_cp(cp, packet)
    except HJ212Error as error:
        return ("error", error.kind, error.detail)
    values = [
        (code, [(k, repr(v)) for k, v in fields.items()]) for code, fields in packet.values.items()
    ]
    params = [(k, repr(v)) for k, v in packet.params.items()]
    return ("ok", values, params, packet.data_time)


def _both(cp: str) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    fast = _cp_outcome(cp)
    with without_speedups():
        reference = _cp_outcome(cp)
    return fast, reference


_PLAIN_KEYS = st.sampled_from(
    [
        "w01018-Rtd", "w01018-Flag", "w01018-ZsRtd", "a21026-Avg", "a21026-Cou", "w00000-Cou",
        "DataTime", "RtdInterval", "ReCount", "SystemTime", "Info", "-Rtd", "w01018-", "x-Min",
        "中文-Rtd", "w01018-Rtd-Flag", "k" * 60 + "-Rtd",
    ]
)  # fmt: skip
_ODD_KEYS = st.sampled_from(["PolId", ""]) | st.text(alphabet="wa0123-RtdFlag", max_size=8)
_DECIMALS = st.builds(  # as loggers print them: a few decimals
    lambda number, places: f"{number / 10**places:.{places}f}",
    st.integers(-(10**12), 10**12),
    st.integers(0, 6),
)
_PLAIN_VALUES = (
    _DECIMALS
    | st.floats(allow_nan=False, allow_infinity=False).map(repr)
    | st.integers(-(10**20), 10**20).map(str)
    | st.sampled_from(["N", "D", "0.1", "-0", "+.5", "5.", "0012", "007.5", "20160801085857"])
)
_ODD_VALUES = st.sampled_from(
    [
        ".", "-", "", "1e5", "1E-3", "1_0", " 1", "1 ", "inf", "-nan", "1.2.3", "١٢", "9" * 70,
        "9" * 400, "0x10", "1234567890123456", "0.30000000000000004", "nan", "1e999",
        "1e308", "1e309", "-1e-320", "1\x00", "\x001", "123456789012345.6",
    ]
)  # fmt: skip
_ODD_SEPARATORS = st.sampled_from([";;", ",;", "=", ""])


@st.composite
def _cp_bodies(draw: st.DrawFn) -> str:
    """Mostly well-formed bodies (the C parser's own work), each with a chance of one oddity."""
    count = draw(st.integers(1, 8))
    odd_at = draw(st.integers(0, 3 * count))  # beyond count: no oddity
    parts = []
    for i in range(count):
        odd = i == odd_at
        key = draw(_ODD_KEYS if odd and draw(st.booleans()) else _PLAIN_KEYS)
        value = draw(_ODD_VALUES if odd and draw(st.booleans()) else _PLAIN_VALUES)
        separator = draw(_ODD_SEPARATORS if odd else st.sampled_from(";,"))
        parts.append(f"{key}={value}{separator}")
    body = "".join(parts)
    return body if draw(st.booleans()) else body[:-1]


@settings(max_examples=1500, deadline=None)
@given(_cp_bodies())
def test_split_cp_agrees_with_the_python_parser(cp: str) -> None:
    fast, reference = _both(cp)
    assert fast == reference


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="w0123456789-=;,.+eERtdFlagNPolIdDataTime 中", max_size=80))
def test_split_cp_agrees_on_any_text(cp: str) -> None:
    fast, reference = _both(cp)
    assert fast == reference


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=60))
def test_split_cp_agrees_on_arbitrary_text(cp: str) -> None:
    """Control characters, NUL, other scripts, lone surrogates: still the same outcome."""
    fast, reference = _both(cp)
    assert fast == reference


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=2100))
def test_crc_agrees_with_the_reference(data: bytes) -> None:
    assert SPEEDUPS is not None
    expected = crc16_hj212_reference(data)
    assert SPEEDUPS.crc16_hj212(data) == expected
    assert crc16_hj212_python(data) == expected
    assert bitwise_crc(data) == expected


def test_crc_takes_any_bytes_like_object() -> None:
    assert SPEEDUPS is not None
    data = STANDARD_EXAMPLE[6:-4].encode()  # the standard's own segment
    assert SPEEDUPS.crc16_hj212(data) == SPEEDUPS.crc16_hj212(bytearray(data)) == 0x1C80
    assert SPEEDUPS.crc16_hj212(memoryview(data)) == 0x1C80
    with pytest.raises(TypeError):
        SPEEDUPS.crc16_hj212("text")


@pytest.mark.usefixtures("codec_implementation")
def test_a_sub_item_with_two_equals_signs_is_an_error() -> None:
    """The separator count alone once let ``a=1=b;2`` through as a=1, b=2."""
    with pytest.raises(HJ212Error) as error:
        decode(handmade(f"{HEADER}w01018-Rtd=1=w21003-Rtd;2&&"))
    assert error.value.kind is ErrorKind.FIELD
    assert "w01018-Rtd" in error.value.detail


@pytest.mark.usefixtures("codec_implementation")
@pytest.mark.parametrize("digits", [70, 5000])
def test_a_count_of_many_digits_is_a_field_error(digits: int) -> None:
    """No interval or count has 70 digits; and int() refuses 4,300 with its own ValueError."""
    segment = f"{HEADER}RtdInterval={'9' * digits}&&"
    with pytest.raises(HJ212Error) as error:
        decode(handmade(segment), DecodeOptions(max_length=9999))
    assert error.value.kind is ErrorKind.FIELD


@pytest.mark.usefixtures("codec_implementation")
def test_many_distinct_codes_decode_right_after_the_key_cache_fills() -> None:
    """The C key cache empties itself when half full; nothing decoded changes."""
    for i in range(6000):
        code = f"w{i:05d}"
        packet = decode(handmade(f"{HEADER}{code}-Rtd={i}.5,{code}-Flag=N;RtdInterval={i}&&"))
        assert packet.values == {code: {"Rtd": i + 0.5, "Flag": "N"}}
        assert packet.params == {"RtdInterval": i}


def test_a_stored_text_with_a_lone_surrogate_reads_as_in_python() -> None:
    """Never in a decoded frame, but ``decode_cp`` takes any str."""
    fast, reference = _both("w01018-Rtd=1.5,w01018-Flag=\ud800")
    assert fast == reference
    assert fast[0] == "ok"


@pytest.mark.usefixtures("codec_implementation")
def test_text_outside_ascii_and_long_keys_and_numbers() -> None:
    long_code = "c" * 60
    cp = f"中文-Rtd=1.25;w01018-Info=超标 排放;{long_code}-Avg={'1' * 70};Note=备注"
    packet = decode(handmade(f"{HEADER}{cp}&&"))
    assert packet.values == {
        "中文": {"Rtd": 1.25},
        "w01018": {"Info": "超标 排放"},
        long_code: {"Avg": float("1" * 70)},
    }
    assert packet.params == {"Note": "备注"}
    assert packet.cp == cp
