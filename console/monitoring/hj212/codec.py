"""HJ 212 packet decoding and encoding (HJ/T 212-2005, HJ 212-2017, HJ 212-2025).

A frame is ``##`` + 4-digit length + data segment + 4 hex CRC + ``\\r\\n``; the length and the
CRC cover exactly the data segment ``QN=…;ST=…;CN=…;PW=…;MN=…;Flag=…;CP=&&…&&``. Decoding
never raises anything but :class:`HJ212Error`, whatever it is given: the receiver logs the
error kind and carries on. Numbers are parsed as numbers, codes are kept as sent.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from console.monitoring.hj212.crc import (
    SPEEDUPS,
    crc16_hj212,
    crc16_hj212_python,
    crc16_modbus,
)

__all__ = [
    "STANDARD_MAX_LENGTH",
    "DecodeOptions",
    "ErrorKind",
    "HJ212Error",
    "Packet",
    "Value",
    "data_reply",
    "decode",
    "encode_packet",
    "encode_segment",
    "error_to_dict",
    "execution_result",
    "frame_segment",
    "notify_reply",
    "packet_to_dict",
    "request_reply",
    "without_speedups",
]

STANDARD_MAX_LENGTH = 1024
"""Longest data segment the standard allows; longer ones are accepted with ``oversize``."""

Value = float | str
"""A CP sub-item value: numbers for measured quantities, strings for flags, times and codes."""

CrcKind = Literal["hj212", "modbus"]


class ErrorKind(StrEnum):
    """Why a packet was rejected, coarse enough to count per station."""

    FRAME = "frame"  # not ``##`` + 4 digits + … + CRC, or not text
    LENGTH = "length"  # declared length differs from the segment, or above the hard cap
    CRC = "crc"  # checksum missing, malformed or wrong
    FIELD = "field"  # a header or CP field is missing or malformed
    UNSUPPORTED = "unsupported"  # well formed, but a protocol version we do not know


class HJ212Error(ValueError):
    """The one exception the codec raises; ``kind`` says which check failed."""

    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(f"{kind.value}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """Tolerances for real-world senders; the defaults follow the standard."""

    accept_modbus_crc: bool = False
    """Also accept MODBUS CRC (printed low byte first); such packets get ``crc_kind="modbus"``."""
    max_length: int = 4096
    """Hard cap on the data segment; between 1024 and this the packet is flagged ``oversize``."""


_DEFAULT_OPTIONS = DecodeOptions()


@dataclass(slots=True)
class Packet:
    """One decoded HJ 212 packet (or a reassembled split packet)."""

    version: Literal["2005", "2017", "2025"]
    cn: str
    st: str
    mn: str
    qn: str | None = None
    pw: str | None = None
    flag: int | None = None
    pnum: int | None = None
    pno: int | None = None
    data_time: str | None = None
    values: dict[str, dict[str, Value]] = field(default_factory=dict)
    """Per code (``w01018``, ``SB1`` …): suffix (``Rtd``, ``Flag``, ``RS`` …) -> value."""
    params: dict[str, int | float | str] = field(default_factory=dict)
    """CP keys that are not per-code values, e.g. ``RtdInterval``, ``SystemTime``, ``QnRtn``."""
    extra: dict[str, str] = field(default_factory=dict)
    """Header fields this codec does not know (kept for tolerance towards HJ 212-2025)."""
    crc_kind: CrcKind = "hj212"
    oversize: bool = False
    cp: str = ""
    """The CP body (between the ``&&``) as received, the parts of a split packet joined by
    ``;``: what the store keeps of a real-time upload. Empty for a packet built in code
    (:func:`packet_cp` encodes one from the values then)."""

    @property
    def ack_requested(self) -> bool:
        """Flag bit A: the sender expects a reply (9014 for data uploads)."""
        return self.flag is not None and bool(self.flag & 1)

    @property
    def split(self) -> bool:
        """Flag bit D: this is one part (PNO of PNUM) of a split packet."""
        return self.flag is not None and bool(self.flag & 2)


# CP value suffixes holding measured numbers; every other suffix (Flag, EFlag, SampleTime,
# RS, Info …) is a code or a time and is kept as the sender wrote it.
_NUMERIC_SUFFIXES = frozenset(
    {"Rtd", "Min", "Avg", "Max", "Cou", "ZsRtd", "ZsMin", "ZsAvg", "ZsMax", "ZsCou", "RT"}
)
# CP parameters that are quantities (seconds, minutes, counts, hours).
_NUMERIC_PARAMS = frozenset({"RtdInterval", "MinInterval", "OverTime", "ReCount", "Ctime", "Stime"})
_HEADER_KEYS = frozenset({"QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO"})
_VERSIONS: dict[int, Literal["2005", "2017", "2025"]] = {0: "2005", 1: "2017", 2: "2025"}
_HEX = b"0123456789abcdefABCDEF"
# The header every conforming 2017/2025 uploader sends, in the standard's order, unsplit: taken
# in one match. Any other header (2005 without QN, extra or reordered fields, split packets,
# anything malformed) goes through the field-by-field parser, which also words the errors.
_COMMON_HEADER = re.compile(
    r"QN=([0-9]{17});ST=([0-9]{1,2});CN=([0-9]{4});PW=([^;=]*);MN=([^;=]+);Flag=([0-9]{1,3})"
)
_UNSAFE = re.compile(r"[;,=&\r\n]")
"""Characters a field value cannot hold: the separators, and line ends (the frame's end)."""


def decode(
    frame: bytes | bytearray | memoryview | str, options: DecodeOptions | None = None
) -> Packet:
    """Decode one frame (with or without the trailing ``\\r\\n``).

    Raises :class:`HJ212Error` for every kind of bad input, and nothing else.
    """
    opts = _DEFAULT_OPTIONS if options is None else options
    data = _as_bytes(frame)
    if data[:2] != b"##":
        raise HJ212Error(ErrorKind.FRAME, "frame does not start with '##'")
    end = len(data) - 2 if data[-2:] == b"\r\n" else len(data)
    if end < 10:
        raise HJ212Error(ErrorKind.FRAME, f"frame too short ({end} bytes)")
    declared = data[2:6]
    if not declared.isdigit():
        raise HJ212Error(ErrorKind.FRAME, f"length field {declared!r} is not 4 digits")
    length = int(declared)
    if length > opts.max_length:
        raise HJ212Error(
            ErrorKind.LENGTH, f"data segment length {length} exceeds the cap {opts.max_length}"
        )
    seg_end = end - 4
    actual = seg_end - 6
    if length != actual:
        raise HJ212Error(
            ErrorKind.LENGTH, f"declared length {length} but data segment has {actual} bytes"
        )
    crc_field = data[seg_end:end]
    if crc_field.strip(_HEX):
        raise HJ212Error(ErrorKind.CRC, f"CRC field {crc_field!r} is not 4 hex digits")
    segment = data[6:seg_end]
    sent = int(crc_field, 16)
    crc_kind: CrcKind = "hj212"
    computed = crc16_hj212(segment)
    if sent != computed:
        modbus = crc16_modbus(segment) if opts.accept_modbus_crc else -1
        # MODBUS senders print the CRC low byte first.
        if modbus < 0 or sent != ((modbus & 0xFF) << 8 | modbus >> 8):
            raise HJ212Error(
                ErrorKind.CRC, f"CRC {crc_field.decode('ascii')} sent, {computed:04X} computed"
            )
        crc_kind = "modbus"
    packet = _decode_segment(_segment_text(segment))
    packet.crc_kind = crc_kind
    packet.oversize = length > STANDARD_MAX_LENGTH
    return packet


def _as_bytes(frame: object) -> bytes:
    if isinstance(frame, bytes):
        return frame
    if isinstance(frame, str):
        try:
            return frame.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise HJ212Error(ErrorKind.FRAME, f"frame text is not encodable: {exc.reason}") from exc
    if isinstance(frame, bytearray | memoryview):
        return bytes(frame)
    raise HJ212Error(ErrorKind.FRAME, f"expected bytes or str, got {type(frame).__name__}")


def _segment_text(segment: bytes) -> str:
    try:
        return segment.decode("ascii")
    except UnicodeDecodeError:
        pass
    for encoding in ("utf-8", "gb18030"):  # free-text fields from Chinese loggers
        try:
            return segment.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise HJ212Error(ErrorKind.FIELD, "data segment is neither ASCII, UTF-8 nor GB 18030 text")


def _decode_segment(text: str) -> Packet:
    cp_at = text.find("CP=&&")
    if cp_at < 0:
        raise HJ212Error(ErrorKind.FIELD, "no 'CP=&&' in the data segment")
    if len(text) < cp_at + 7 or not text.endswith("&&"):
        raise HJ212Error(ErrorKind.FIELD, "CP is not closed with '&&' at the end of the segment")
    if cp_at == 0 or text[cp_at - 1] != ";":
        raise HJ212Error(ErrorKind.FIELD, "header fields must precede 'CP=&&', ending with ';'")
    common = _COMMON_HEADER.fullmatch(text, 0, cp_at - 1)
    if common is not None:
        qn, st, cn, pw, mn, flag_text = common.groups()
        flag = int(flag_text)
        version = _VERSIONS.get(flag >> 2)
        if flag <= 255 and not flag & 2 and version is not None:
            packet = Packet(version, cn, st, mn, qn, pw, flag)
            packet.cp = cp = text[cp_at + 5 : -2]
            _decode_cp(cp, packet)
            return packet
    header: dict[str, str] = {}
    extra: dict[str, str] = {}
    for part in text[: cp_at - 1].split(";"):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise HJ212Error(ErrorKind.FIELD, f"header field {part!r} is not key=value")
        target = header if key in _HEADER_KEYS else extra
        if key in target:
            raise HJ212Error(ErrorKind.FIELD, f"header field {key} appears twice")
        target[key] = value
    packet = _header_packet(header)
    packet.extra = extra
    packet.cp = cp = text[cp_at + 5 : -2]
    _decode_cp(cp, packet)
    return packet


def _header_packet(header: dict[str, str]) -> Packet:
    st = header.get("ST")
    cn = header.get("CN")
    mn = header.get("MN")
    if cn is None or not (len(cn) == 4 and cn.isdigit() and cn.isascii()):
        raise HJ212Error(ErrorKind.FIELD, f"CN must be 4 digits, got {cn!r}")
    if st is None or not (1 <= len(st) <= 2 and st.isdigit() and st.isascii()):
        raise HJ212Error(ErrorKind.FIELD, f"ST must be 2 digits, got {st!r}")
    if not mn:
        raise HJ212Error(ErrorKind.FIELD, "MN (device id) is missing or empty")
    qn = header.get("QN")
    if qn is not None and not (len(qn) == 17 and qn.isdigit() and qn.isascii()):
        raise HJ212Error(ErrorKind.FIELD, f"QN must be 17 digits YYYYMMDDhhmmsszzz, got {qn!r}")
    flag = _small_int(header, "Flag", 255)
    version = _VERSIONS.get(flag >> 2) if flag is not None else "2005"
    if version is None:
        raise HJ212Error(ErrorKind.UNSUPPORTED, f"Flag={flag} carries unknown version bits")
    pnum = _small_int(header, "PNUM", 9999)
    pno = _small_int(header, "PNO", 9999)
    if flag is not None and flag & 2:
        if pnum is None or pno is None:
            raise HJ212Error(ErrorKind.FIELD, "split packet (Flag bit D) without PNUM and PNO")
        if not 1 <= pno <= pnum:
            raise HJ212Error(ErrorKind.FIELD, f"PNO {pno} outside 1..PNUM {pnum}")
    return Packet(
        version=version,
        cn=cn,
        st=st,
        mn=mn,
        qn=qn,
        pw=header.get("PW"),
        flag=flag,
        pnum=pnum,
        pno=pno,
    )


def _small_int(header: dict[str, str], key: str, maximum: int) -> int | None:
    text = header.get(key)
    if text is None:
        return None
    if not (text.isdigit() and text.isascii() and len(text) <= 4) or int(text) > maximum:
        raise HJ212Error(ErrorKind.FIELD, f"{key} must be an integer 0..{maximum}, got {text!r}")
    return int(text)


def _decode_cp(cp: str, packet: Packet) -> None:
    """Fill values, params and data_time from the CP body (between the ``&&``).

    The common form (``key=value`` sub-items, no PolId groups, no empty items, plain numbers)
    is taken apart in one call of the C speed-ups where they are built, else by
    :func:`_decode_cp_split`; anything else, and every error, goes through the general parser,
    which words the errors.
    """
    if not cp:
        return
    split = _split_cp
    if split is None:
        _decode_cp_split(cp, packet)
        return
    found = split(cp)
    if found is None:
        _decode_cp_items(cp, packet)
    else:
        packet.values, packet.params, data_time = found
        if data_time is not None:
            packet.data_time = data_time


def _decode_cp_split(cp: str, packet: Packet) -> None:
    """The pure-Python common form: split in C-level string operations, placed key by key.

    The pattern check makes every sub-item one ``key=value``: counting separators alone let
    ``a=1=b;2`` through as ``a=1, b=2``.
    """
    if "PolId" in cp or _COMMON_CP.fullmatch(cp) is None:
        _decode_cp_items(cp, packet)
        return
    parts = cp.replace(",", ";").replace("=", ";").split(";")
    try:
        _fill_by_key(parts[0::2], parts[1::2], packet)
    except ValueError:
        # A bad number: start over with the general parser, which words the error.
        packet.values = {}
        packet.params = {}
        packet.data_time = None
        _decode_cp_items(cp, packet)


_COMMON_CP = re.compile(r"[^;,=]+=[^;,=]*(?:[;,][^;,=]+=[^;,=]*)*")


def _fill_by_key(keys: list[str], texts: list[str], packet: Packet) -> None:
    """Place each value by its key's meaning; raises ValueError (HJ212Error is one) for a bad
    number."""
    values = packet.values
    params = packet.params
    cache = _KEY_CACHE
    last_code = ""
    target: dict[str, Value] = {}
    for key, value in zip(keys, texts, strict=True):
        info = cache.get(key)
        if info is None:
            info = _key_info(key)
        code, name, kind = info
        if kind <= _VALUE_TEXT:  # a per-code value
            if code is not last_code:  # cached codes are shared objects
                found = values.get(code)
                if found is None:
                    found = values[code] = {}
                target = found
                last_code = code
            if kind == _VALUE_NUMBER:
                number = float(value)
                if number - number:  # nan or inf
                    raise ValueError(value)
                target[name] = number
            else:
                target[name] = value
        elif kind == _DATA_TIME:
            packet.data_time = value
        elif kind == _PARAM_NUMBER:
            params[name] = _quantity(name, value)
        else:
            params[name] = value


# What a CP key means, cached because stations repeat the same few dozen keys forever.
_VALUE_NUMBER, _VALUE_TEXT, _DATA_TIME, _PARAM_NUMBER, _PARAM_TEXT = range(5)
_KEY_CACHE: dict[str, tuple[str, str, int]] = {}
_KEY_CACHE_SIZE = 20_000


def _key_info(key: str) -> tuple[str, str, int]:
    dash = key.find("-")
    if dash > 0:
        suffix = key[dash + 1 :]
        kind = _VALUE_NUMBER if suffix in _NUMERIC_SUFFIXES else _VALUE_TEXT
        info = (sys.intern(key[:dash]), suffix, kind)
    elif key == "DataTime":
        info = ("", key, _DATA_TIME)
    else:
        info = ("", key, _PARAM_NUMBER if key in _NUMERIC_PARAMS else _PARAM_TEXT)
    if len(_KEY_CACHE) < _KEY_CACHE_SIZE:
        _KEY_CACHE[key] = info
    return info


CpParts = tuple[dict[str, dict[str, Value]], dict[str, int | float | str], str | None]
"""(values, params, data_time) of a CP body, as the C speed-ups return them."""
_split_cp: Callable[[str], CpParts | None] | None = None
if SPEEDUPS is not None:
    SPEEDUPS.configure(_NUMERIC_SUFFIXES, _NUMERIC_PARAMS)
    _split_cp = SPEEDUPS.split_cp


@contextlib.contextmanager
def without_speedups() -> Iterator[None]:
    """Decode with the pure-Python code only, as where the C speed-ups were not built.

    For the tests (which compare the two) and the benchmark (which measures both); it changes
    the codec for every thread while it lasts.
    """
    global _split_cp, crc16_hj212
    saved = _split_cp, crc16_hj212
    _split_cp, crc16_hj212 = None, crc16_hj212_python
    try:
        yield
    finally:
        _split_cp, crc16_hj212 = saved


def _decode_cp_items(cp: str, packet: Packet) -> None:
    """General CP parser: PolId groups, empty items, and precise error messages."""
    values = packet.values
    params = packet.params
    numeric = _NUMERIC_SUFFIXES
    for item in cp.split(";"):
        if not item:
            continue  # tolerate ';;' and a trailing ';'
        group: dict[str, Value] | None = None  # a PolId=… item's sub-items describe that code
        for sub in item.split(","):
            key, sep, value = sub.partition("=")
            if not sep or not key:
                raise HJ212Error(ErrorKind.FIELD, f"CP sub-item {sub!r} is not key=value")
            dash = key.find("-")
            if dash > 0:
                suffix = key[dash + 1 :]
                if group is None:
                    target = values.get(key[:dash])
                    if target is None:
                        target = values[key[:dash]] = {}
                else:
                    target, suffix = group, key
                if suffix in numeric:
                    target[suffix] = _number(key, value)
                else:
                    target[suffix] = value
            elif key == "DataTime":
                packet.data_time = value
            elif key == "PolId":
                group = values.get(value)
                if group is None:
                    group = values[value] = {}
            elif key in _NUMERIC_PARAMS:
                params[key] = _quantity(key, value)
            else:
                params[key] = value


def _quantity(key: str, text: str) -> int | float:
    """A count or interval parameter: an integer as written, else a number."""
    if not (text.isdigit() and text.isascii()):
        return _number(key, text)
    if len(text) > 64:  # int() refuses more than 4,300 digits; no count has more than a few
        raise HJ212Error(ErrorKind.FIELD, f"{key}={text[:20]}… is not a count")
    return int(text)


def _number(key: str, text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise HJ212Error(ErrorKind.FIELD, f"{key}={text!r} is not a number") from None
    if number - number != 0.0:  # inf and nan: not a measurement, and not valid JSON
        raise HJ212Error(ErrorKind.FIELD, f"{key}={text!r} is not a finite number")
    return number


# ---------------------------------------------------------------------------------------------
# Encoding


def frame_segment(segment: str, *, modbus_crc: bool = False) -> bytes:
    """Wrap a data segment into a frame: ``##`` + length + segment + CRC + ``\\r\\n``.

    ``modbus_crc`` imitates the non-conforming senders (for tests and simulators only).
    """
    data = segment.encode("utf-8")
    if len(data) > 9999:
        raise HJ212Error(ErrorKind.LENGTH, f"data segment of {len(data)} bytes cannot be framed")
    if modbus_crc:
        crc = crc16_modbus(data)
        crc = (crc & 0xFF) << 8 | crc >> 8
    else:
        crc = crc16_hj212(data)
    return b"##%04d%b%04X\r\n" % (len(data), data, crc)


def encode_segment(
    *,
    cn: str,
    mn: str,
    st: str = "32",
    pw: str = "123456",
    qn: str | None = None,
    flag: int | None = 4,
    pnum: int | None = None,
    pno: int | None = None,
    data_time: str | None = None,
    values: dict[str, dict[str, Any]] | None = None,
    params: dict[str, Any] | None = None,
) -> str:
    """Build the data segment; ``flag=None`` and ``qn=None`` give a bare HJ/T 212-2005 header.

    Params come first in CP, then DataTime, then the values of each code in the given order.
    """
    header = []
    if qn is not None:
        header.append(f"QN={_text('QN', qn)}")
    header.append(f"ST={_text('ST', st)};CN={_text('CN', cn)}")
    if pw is not None:
        header.append(f"PW={_text('PW', pw)}")
    header.append(f"MN={_text('MN', mn)}")
    if flag is not None:
        header.append(f"Flag={int(flag)}")
    if pnum is not None or pno is not None:
        header.append(f"PNUM={int(pnum or 0)};PNO={int(pno or 0)}")
    return ";".join(header) + ";CP=&&" + encode_cp(data_time, values, params) + "&&"


def encode_cp(
    data_time: str | None,
    values: Mapping[str, Mapping[str, Any]] | None,
    params: Mapping[str, Any] | None = None,
) -> str:
    """The CP body (without the ``&&``): params, then DataTime, then each code's values."""
    items = [f"{_text('param', k)}={_format_value(k, v)}" for k, v in (params or {}).items()]
    if data_time is not None:
        items.append(f"DataTime={_text('DataTime', data_time)}")
    for code, fields in (values or {}).items():
        if not fields:
            raise HJ212Error(ErrorKind.FIELD, f"code {code!r} has no fields to encode")
        items.append(
            ",".join(
                f"{_text('code', code)}-{_text('suffix', s)}={_format_value(s, v)}"
                for s, v in fields.items()
            )
        )
    return ";".join(items)


def packet_cp(packet: Packet) -> str:
    """The CP body of a packet: as received, or encoded from its fields if built in code."""
    return packet.cp or encode_cp(packet.data_time, packet.values, packet.params)


def decode_cp(cp: str) -> dict[str, dict[str, Value]]:
    """The per-code values of a CP body (``Packet.cp``), e.g. one the store kept.

    Any thread may read stored texts (the C speed-ups run under the GIL). Raises
    :class:`HJ212Error` for a body :func:`decode` would not have accepted.
    """
    packet = Packet("2017", "", "", "")
    _decode_cp(cp, packet)
    return packet.values


def encode_packet(**fields: Any) -> bytes:
    """Encode a packet to a complete frame; takes the keywords of :func:`encode_segment`."""
    return frame_segment(encode_segment(**fields))


def _text(name: str, value: object) -> str:
    text = str(value)
    if not text or _UNSAFE.search(text):
        raise HJ212Error(
            ErrorKind.FIELD, f"{name} {text!r} is empty or contains ; , = & or a newline"
        )
    return text


def _format_value(name: str, value: object) -> str:
    if isinstance(value, bool):
        raise HJ212Error(ErrorKind.FIELD, f"{name}: booleans have no HJ 212 encoding")
    if isinstance(value, float):
        if value - value != 0.0:
            raise HJ212Error(ErrorKind.FIELD, f"{name}: {value} is not a finite number")
        text = repr(value)
        # The standard's numbers are plain decimals: no exponent.
        return format(Decimal(text), "f") if "e" in text else text
    return _text(name, value)


def _reply(packet: Packet, cn: str, params: dict[str, Any] | None) -> bytes:
    flag = None if packet.flag is None else packet.flag & 0xFC  # same version, no A/D bits
    if params is None and (packet.qn is None or _UNSAFE.search(packet.qn) is None):
        # The hub answers every upload: build the echo directly (same bytes as encode_packet,
        # whose per-field checks the decoded header already passed).
        tail = _reply_tail(cn, packet.pw, packet.mn, flag)
        if tail is not None:
            return frame_segment(tail if packet.qn is None else f"QN={packet.qn};{tail}")
    return encode_packet(
        qn=packet.qn, st="91", cn=cn, pw=packet.pw, mn=packet.mn, flag=flag, params=params
    )


@functools.lru_cache(maxsize=8192)
def _reply_tail(cn: str, pw: str | None, mn: str, flag: int | None) -> str | None:
    """What follows the QN in a station's replies (the same for all of them); None if unsafe."""
    if _UNSAFE.search(f"{pw}{mn}") is not None:
        return None
    tail = f"ST=91;CN={cn}"
    if pw is not None:
        tail = f"{tail};PW={pw}"
    tail = f"{tail};MN={mn}"
    if flag is not None:
        tail = f"{tail};Flag={flag}"
    return tail + ";CP=&&&&"


def data_reply(packet: Packet) -> bytes:
    """9014 data reply to an upload that asked for one: echoes QN, ``CP=&&&&``."""
    return _reply(packet, "9014", None)


def notify_reply(packet: Packet) -> bytes:
    """9013 notification reply: echoes QN, ``CP=&&&&``."""
    return _reply(packet, "9013", None)


def request_reply(packet: Packet, qn_rtn: str = "1") -> bytes:
    """9011 request reply (QnRtn: 1 ready to execute, 2 refused, 3 bad PW, 4 bad MN …)."""
    return _reply(packet, "9011", {"QnRtn": qn_rtn})


def execution_result(packet: Packet, exe_rtn: str = "1") -> bytes:
    """9012 execution result (ExeRtn: 1 success, 2 failed, 100 no data …)."""
    return _reply(packet, "9012", {"ExeRtn": exe_rtn})


def packet_to_dict(packet: Packet) -> dict[str, Any]:
    """JSON-ready view of a packet (the shape printed by ``hj212 decode``)."""
    return {
        "ok": True,
        "error": None,
        "detail": None,
        "version": packet.version,
        "qn": packet.qn,
        "st": packet.st,
        "cn": packet.cn,
        "pw": packet.pw,
        "mn": packet.mn,
        "flag": packet.flag,
        "pnum": packet.pnum,
        "pno": packet.pno,
        "data_time": packet.data_time,
        "values": packet.values,
        "params": packet.params,
        "crc_kind": packet.crc_kind,
        "oversize": packet.oversize,
    }


def error_to_dict(error: HJ212Error) -> dict[str, Any]:
    """JSON-ready view of a rejected packet, with the same keys as :func:`packet_to_dict`."""
    result: dict[str, Any] = dict.fromkeys(
        ("version", "qn", "st", "cn", "pw", "mn", "flag", "pnum", "pno", "data_time")
    )
    return {
        "ok": False,
        "error": error.kind.value,
        "detail": error.detail,
        **result,
        "values": {},
        "params": {},
        "crc_kind": None,
        "oversize": None,
    }
