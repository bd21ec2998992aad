"""Decoding and encoding of HJ 212 packets, checked against the standard and a bitwise CRC."""

from __future__ import annotations

import pytest

from console.monitoring.hj212 import (
    DecodeOptions,
    ErrorKind,
    HJ212Error,
    crc16_hj212,
    crc16_hj212_reference,
    crc16_modbus,
    data_reply,
    decode,
    decode_cp,
    encode_packet,
    encode_segment,
    execution_result,
    frame_segment,
    notify_reply,
    request_reply,
)
from tests.monitoring.hj212_helpers import STANDARD_EXAMPLE, bitwise_crc, bitwise_modbus, handmade

pytestmark = pytest.mark.usefixtures("codec_implementation")

MN = "010000A8900016F000169DC0"
QN = "20160801085857223"


def test_standard_example_verifies() -> None:
    packet = decode(STANDARD_EXAMPLE)
    assert (packet.qn, packet.st, packet.cn, packet.pw, packet.mn) == (
        QN,
        "32",
        "1062",
        "100000",
        MN,
    )
    assert packet.flag == 5
    assert packet.version == "2017"
    assert packet.ack_requested
    assert not packet.split
    assert packet.params == {"RtdInterval": 30}
    assert packet.values == {}
    assert packet.crc_kind == "hj212"
    assert not packet.oversize
    segment = STANDARD_EXAMPLE[6:-4].encode()
    assert crc16_hj212(segment) == crc16_hj212_reference(segment) == bitwise_crc(segment) == 0x1C80


def test_example_with_crlf_and_lowercase_crc_decodes_the_same() -> None:
    assert decode(STANDARD_EXAMPLE.encode() + b"\r\n") == decode(STANDARD_EXAMPLE)
    assert decode(STANDARD_EXAMPLE[:-4] + "1c80").cn == "1062"


@pytest.mark.parametrize("size", [0, 1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1023, 1024, 4095])
def test_fast_crc_matches_bitwise_definition(size: int) -> None:
    data = bytes((i * 37 + size) & 0xFF for i in range(size))
    assert crc16_hj212(data) == bitwise_crc(data)
    assert crc16_modbus(data) == bitwise_modbus(data)


def test_appendix_a_crc_is_not_modbus() -> None:
    segment = STANDARD_EXAMPLE[6:-4].encode()
    assert crc16_modbus(segment) != crc16_hj212(segment)


WATER_VALUES = {
    "w01018": {"Rtd": 231.0, "Flag": "N"},
    "w21003": {"Rtd": 12.5, "Flag": "N"},
    "w01001": {"Rtd": 7.21, "Flag": "N"},
    "w00000": {"Rtd": 1.2, "Flag": "N"},
}
MINUTE_VALUES = {
    "a21026": {"Min": 10.0, "Avg": 12.0, "Max": 15.0, "ZsAvg": 14.4, "Flag": "N"},
    "a19001": {"Min": 8.1, "Avg": 8.5, "Max": 9.0, "Flag": "N"},
    "a00000": {"Min": 50.0, "Avg": 55.0, "Max": 60.0, "Cou": 198000.0, "Flag": "M"},
}

# (cn, st, data_time, values, params) of every command the hub meets.
CASES = {
    "2011 real-time water": ("2011", "32", "20160801085857", WATER_VALUES, {}),
    "2051 minute gas": ("2051", "31", "20160801085800", MINUTE_VALUES, {}),
    "2061 hourly gas": ("2061", "31", "20160801080000", MINUTE_VALUES, {}),
    "2031 daily water": (
        "2031",
        "32",
        "20160801000000",
        {"w01018": {"Avg": 40.0, "Flag": "N"}},
        {},
    ),
    "2041 running time": (
        "2041",
        "32",
        "20160801000000",
        {"SB1": {"RT": 23.5}, "SB2": {"RT": 0.0}},
        {},
    ),
    "2021 equipment status": (
        "2021",
        "32",
        "20160801085857",
        {"SB1": {"RS": "1"}, "SB2": {"RS": "0"}},
        {},
    ),
    "2081 logger restart": ("2081", "32", "20160801085857", {}, {"RestartTime": "20160801085000"}),
    "1011 get time": ("1011", "32", None, {}, {"PolId": "w01018"}),
    "1012 set time": ("1012", "32", None, {}, {"SystemTime": "20160801085857"}),
    "1061 get interval": ("1061", "32", None, {}, {}),
    "1062 set interval": ("1062", "32", None, {}, {"RtdInterval": 30}),
    "9011 request reply": ("9011", "91", None, {}, {"QnRtn": "1"}),
    "9012 execution result": ("9012", "91", None, {}, {"ExeRtn": "1"}),
    "9013 notify reply": ("9013", "91", None, {}, {}),
    "9014 data reply": ("9014", "91", None, {}, {}),
    "8013 heartbeat": ("8013", "32", None, {}, {}),
    "2072 alarm": ("2072", "32", "20160801085857", {"w01018": {"Ala": "1"}}, {"AlarmType": "1"}),
    "3011 zero calibration": ("3011", "32", None, {}, {"PolId": "w01018"}),
    "3012 sample now": ("3012", "32", None, {}, {"PolId": "w01018"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_command_round_trips_and_crc_is_independent(case: str) -> None:
    cn, st, data_time, values, params = CASES[case]
    frame = encode_packet(
        qn=QN, st=st, cn=cn, pw="123456", mn=MN, flag=5, data_time=data_time,
        values=values, params=params,
    )  # fmt: skip
    segment = frame[6:-6]
    assert frame[-6:-2] == b"%04X" % bitwise_crc(segment)
    assert frame[2:6] == b"%04d" % len(segment)
    assert frame == handmade(segment.decode())
    packet = decode(frame)
    assert (packet.cn, packet.st, packet.mn, packet.qn, packet.data_time) == (
        cn, st, MN, QN, data_time,
    )  # fmt: skip
    if "PolId" in params:  # a PolId item opens a group for that code
        assert packet.values == {params["PolId"]: {}}
        assert packet.params == {k: v for k, v in params.items() if k != "PolId"}
    else:
        assert packet.values == values
        assert packet.params == params


def test_numbers_are_numbers_and_codes_stay_as_sent() -> None:
    segment = (
        f"QN={QN};ST=32;CN=2011;PW=123456;MN={MN};Flag=4;CP=&&DataTime=20160801085857;"
        "w01018-Rtd=0231.50,w01018-Flag=N,w01018-SampleTime=20160801085000;"
        "SB1-RS=1,SB1-RT=-2.5e1;a21026-ZsRtd=10&&"
    )
    packet = decode(handmade(segment))
    assert packet.values == {
        "w01018": {"Rtd": 231.5, "Flag": "N", "SampleTime": "20160801085000"},
        "SB1": {"RS": "1", "RT": -25.0},
        "a21026": {"ZsRtd": 10.0},
    }
    assert packet.data_time == "20160801085857"


def test_polid_groups_and_trailing_separator() -> None:
    segment = (
        f"QN={QN};ST=32;CN=3020;PW=123456;MN={MN};Flag=5;"
        "CP=&&DataTime=20160801085857;PolId=w01018,i12001-Info=ok,i13004-Info=12.5;&&"
    )
    packet = decode(handmade(segment))
    assert packet.values == {"w01018": {"i12001-Info": "ok", "i13004-Info": "12.5"}}


@pytest.mark.parametrize(
    ("flag", "version"),
    [(None, "2005"), (0, "2005"), (1, "2005"), (4, "2017"), (7, "2017"), (8, "2025"), (9, "2025")],
)
def test_version_from_flag_bits(flag: int | None, version: str) -> None:
    qn = None if flag is None else QN
    split = {"pnum": 1, "pno": 1} if flag is not None and flag & 2 else {}
    packet = decode(encode_packet(qn=qn, cn="2011", mn="88888880000001", flag=flag, **split))
    assert packet.version == version


def test_2005_packet_without_qn_and_flag() -> None:
    segment = (
        "ST=32;CN=2011;PW=123456;MN=88888880000001;"
        "CP=&&DataTime=20040516020111;011-Rtd=14.2,011-Flag=N;B01-Rtd=3.1&&"
    )
    packet = decode(handmade(segment))
    assert packet.version == "2005"
    assert packet.qn is None
    assert packet.flag is None
    assert not packet.ack_requested
    assert packet.values == {"011": {"Rtd": 14.2, "Flag": "N"}, "B01": {"Rtd": 3.1}}


def test_unknown_version_bits_are_unsupported() -> None:
    with pytest.raises(HJ212Error) as caught:
        decode(encode_packet(qn=QN, cn="2011", mn=MN, flag=12))
    assert caught.value.kind is ErrorKind.UNSUPPORTED


def _kind(frame: bytes | str, options: DecodeOptions | None = None) -> ErrorKind:
    with pytest.raises(HJ212Error) as caught:
        decode(frame, options)
    assert caught.value.detail
    return caught.value.kind


GOOD = f"QN={QN};ST=32;CN=2011;PW=123456;MN={MN};Flag=4;CP=&&w01018-Rtd=1.5&&"


@pytest.mark.parametrize(
    ("frame", "kind"),
    [
        (b"", ErrorKind.FRAME),
        (b"garbage", ErrorKind.FRAME),
        (b"##01", ErrorKind.FRAME),
        (b"##x101" + GOOD.encode() + b"1C80", ErrorKind.FRAME),
        (handmade(GOOD, length=len(GOOD) + 1), ErrorKind.LENGTH),
        (handmade(GOOD, crc=0x1234), ErrorKind.CRC),
        (handmade(GOOD)[:-6] + b"12G4\r\n", ErrorKind.CRC),
        (handmade(GOOD.replace("CP=&&", "CP=")), ErrorKind.FIELD),
        (handmade(GOOD[:-2]), ErrorKind.FIELD),
        (handmade(GOOD.replace("CN=2011", "CN=20x1")), ErrorKind.FIELD),
        (handmade(GOOD.replace("QN=20160801085857223", "QN=2016")), ErrorKind.FIELD),
        (handmade(GOOD.replace(f"MN={MN}", "MN=")), ErrorKind.FIELD),
        (handmade(GOOD.replace("Flag=4", "Flag=4;Flag=4")), ErrorKind.FIELD),
        (handmade(GOOD.replace("Flag=4", "Flag=6")), ErrorKind.FIELD),  # split without PNUM
        (handmade(GOOD.replace("Flag=4", "Flag=6;PNUM=2;PNO=3")), ErrorKind.FIELD),
        (handmade(GOOD.replace("1.5", "abc")), ErrorKind.FIELD),
        (handmade(GOOD.replace("1.5", "nan")), ErrorKind.FIELD),
        (handmade(GOOD.replace("1.5", "inf")), ErrorKind.FIELD),
        (handmade(GOOD.replace("=1.5", "")), ErrorKind.FIELD),
        (handmade(GOOD.replace("Flag=4", "Flag=16")), ErrorKind.UNSUPPORTED),
    ],
)
def test_error_kinds(frame: bytes, kind: ErrorKind) -> None:
    assert _kind(frame) is kind


def test_non_text_input_is_a_frame_error() -> None:
    assert _kind("##\udc80") is ErrorKind.FRAME
    assert _kind(12345) is ErrorKind.FRAME  # type: ignore[arg-type]


def test_oversize_flag_and_hard_cap() -> None:
    values = {f"w{i:05d}": {"Rtd": 1.0 + i, "Flag": "N"} for i in range(40)}
    frame = encode_packet(qn=QN, cn="2011", mn=MN, values=values)
    assert 1024 < len(frame) - 12 < 4096
    packet = decode(frame)
    assert packet.oversize
    assert packet.values == values
    assert _kind(frame, DecodeOptions(max_length=1024)) is ErrorKind.LENGTH


def test_modbus_crc_only_when_configured_and_flagged() -> None:
    frame = frame_segment(GOOD, modbus_crc=True)
    modbus = bitwise_modbus(GOOD.encode())
    assert frame[-6:-2] == b"%02X%02X" % (modbus & 0xFF, modbus >> 8)  # low byte first
    assert _kind(frame) is ErrorKind.CRC
    packet = decode(frame, DecodeOptions(accept_modbus_crc=True))
    assert packet.crc_kind == "modbus"
    assert decode(handmade(GOOD), DecodeOptions(accept_modbus_crc=True)).crc_kind == "hj212"


def test_replies_echo_qn_and_keep_version() -> None:
    upload = decode(STANDARD_EXAMPLE)
    reply = data_reply(upload)
    assert reply == handmade(f"QN={QN};ST=91;CN=9014;PW=100000;MN={MN};Flag=4;CP=&&&&")
    assert decode(notify_reply(upload)).cn == "9013"
    assert decode(request_reply(upload, "1")).params == {"QnRtn": "1"}
    assert decode(execution_result(upload, "100")).params == {"ExeRtn": "100"}
    v2025 = decode(encode_packet(qn=QN, cn="2011", mn=MN, flag=9))
    assert decode(data_reply(v2025)).flag == 8


def test_encoder_rejects_what_it_cannot_write() -> None:
    with pytest.raises(HJ212Error):
        encode_segment(cn="2011", mn="A;B")
    with pytest.raises(HJ212Error):
        encode_segment(cn="2011", mn=MN, values={"w01018": {"Rtd": float("nan")}})
    with pytest.raises(HJ212Error):
        encode_segment(cn="2011", mn=MN, params={"Bad": True})


def test_encoder_writes_plain_decimals() -> None:
    segment = encode_segment(cn="2011", mn=MN, values={"w01018": {"Rtd": 1e-7, "Max": 2e20}})
    assert "e" not in segment.split("CP=")[1]
    assert decode(frame_segment(segment)).values == {"w01018": {"Rtd": 1e-7, "Max": 2e20}}


def _upload_segment(cod: str, flag: str, interval: str, code_twice: str) -> str:
    """One station's upload: params, DataTime, values, and a code repeated later on."""
    return (
        f"QN={QN};ST=32;CN=2011;PW=123456;MN={MN};Flag=4;CP=&&RtdInterval={interval};"
        f"DataTime=20160801085857;w01018-Rtd={cod},w01018-Flag={flag};"
        f"w21003-Rtd=1.5,w21003-Flag=N;w01018-ZsRtd={code_twice};Note=x&&"
    )


def test_repeated_uploads_decode_like_the_first() -> None:
    """The key cache (Python's and the C speed-ups') changes nothing from one packet to the next."""
    cases = [("231.5", "N", "30", "2"), ("0", "M", "30.5", "-7.25"), ("12", "D", "60", "1e2")]
    for _ in range(3):
        for cod, flag, interval, zs in cases:
            packet = decode(handmade(_upload_segment(cod, flag, interval, zs)))
            assert packet.values == {
                "w01018": {"Rtd": float(cod), "Flag": flag, "ZsRtd": float(zs)},
                "w21003": {"Rtd": 1.5, "Flag": "N"},
            }
            assert list(packet.values) == ["w01018", "w21003"]
            assert list(packet.values["w01018"]) == ["Rtd", "Flag", "ZsRtd"]
            assert packet.data_time == "20160801085857"
            expected_interval = int(interval) if interval.isdigit() else float(interval)
            assert packet.params == {"RtdInterval": expected_interval, "Note": "x"}


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "abc", "1x"])
def test_repeated_uploads_still_reject_bad_numbers(bad: str) -> None:
    for _ in range(3):
        decode(handmade(_upload_segment("1", "N", "30", "2")))
    with pytest.raises(HJ212Error) as error:
        decode(handmade(_upload_segment(bad, "N", "30", "2")))
    assert error.value.kind is ErrorKind.FIELD
    assert "w01018-Rtd" in error.value.detail


def test_later_duplicate_key_wins() -> None:
    segment = (
        f"QN={QN};ST=32;CN=2011;PW=123456;MN={MN};Flag=4;CP=&&"
        "w01018-Rtd={a},w01018-Rtd={b};w01018-Flag=N&&"
    )
    for a, b in [("1", "2"), ("3", "4"), ("5", "6"), ("7", "8")]:
        packet = decode(handmade(segment.format(a=a, b=b)))
        assert packet.values == {"w01018": {"Rtd": float(b), "Flag": "N"}}


def test_station_changing_its_layout_is_decoded_by_the_new_layout() -> None:
    """Same MN and CN, the logger reconfigured: new keys, or the same keys with other separators."""
    layouts = [
        "w01018-Rtd={v},w01018-Flag=N;w21003-Rtd=2",
        "w01018-Rtd={v};w01018-Flag=N;w21003-Rtd=2",  # same keys, ';' instead of ','
        "w01018-Rtd={v},w01018-Flag=N;w21003-Rtd=2;w21011-Rtd=3",  # a code added
    ]
    for layout in layouts:
        for value in range(4):
            cp = layout.format(v=value)
            segment = f"QN={QN};ST=32;CN=2011;PW=123456;MN={MN};Flag=4;CP=&&{cp}&&"
            packet = decode(handmade(segment))
            assert packet.values["w01018"] == {"Rtd": float(value), "Flag": "N"}
            assert packet.values["w21003"] == {"Rtd": 2.0}
            assert ("w21011" in packet.values) == layout.endswith("3")


def test_value_holding_a_separator_is_not_taken_by_the_station_layout() -> None:
    base = f"QN={QN};ST=32;CN=2011;PW=123456;MN={MN};Flag=4;CP=&&"
    for value in ("1", "2", "3"):
        decode(handmade(f"{base}w01018-Rtd={value},w01018-Flag=N&&"))
    with pytest.raises(HJ212Error) as error:
        decode(handmade(f"{base}w01018-Rtd=1=2,w01018-Flag=N&&"))
    assert error.value.kind is ErrorKind.FIELD


def test_a_stored_cp_body_reads_back_or_raises_the_codecs_error() -> None:
    assert decode(STANDARD_EXAMPLE).cp == "RtdInterval=30"  # the body as sent
    values = {"w01018": {"Rtd": 231.0, "Flag": "N"}, "w00000": {"Rtd": 5.5, "Cou": 19800.0}}
    packet = decode(encode_packet(cn="2011", mn="MN1", data_time="20260101000000", values=values))
    assert packet.cp == "DataTime=20260101000000;w01018-Rtd=231.0,w01018-Flag=N;" + (
        "w00000-Rtd=5.5,w00000-Cou=19800.0"
    )
    assert decode_cp(packet.cp) == values
    with pytest.raises(HJ212Error) as raised:
        decode_cp("DataTime=20260101000000;w01018-Rtd=abc")
    assert raised.value.kind is ErrorKind.FIELD
    assert decode_cp("") == {}
