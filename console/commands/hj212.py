"""``python -m console hj212 decode|encode``: HJ 212 packets to JSON lines and back.

``decode`` reads one packet per line from stdin and prints one JSON object per line; invalid
packets are reported in their line (``"ok": false``) and do not change the exit status.
``encode`` reads one JSON object per line (the keyword arguments of ``encode_packet``) and
prints one frame per line.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from console.monitoring.hj212 import (
    DecodeOptions,
    HJ212Error,
    decode,
    encode_segment,
    error_to_dict,
    frame_segment,
    packet_to_dict,
)

_ENCODE_KEYS = frozenset(
    {"cn", "mn", "st", "pw", "qn", "flag", "pnum", "pno", "data_time", "values", "params"}
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    dec = sub.add_parser("decode", help="packets (one per line) on stdin -> JSON lines on stdout")
    dec.add_argument(
        "--accept-modbus-crc",
        action="store_true",
        help="also accept MODBUS CRC (low byte first); such packets show crc_kind=modbus",
    )
    dec.add_argument(
        "--max-length",
        type=int,
        default=4096,
        help="hard cap on the data segment length (default 4096; above 1024 is flagged oversize)",
    )
    enc = sub.add_parser("encode", help="JSON objects (one per line) on stdin -> frames on stdout")
    enc.add_argument(
        "--modbus-crc", action="store_true", help="write MODBUS CRC like non-conforming senders"
    )


def run(args: argparse.Namespace) -> int:
    if args.action == "decode":
        return _decode(DecodeOptions(args.accept_modbus_crc, args.max_length))
    return _encode(args.modbus_crc)


def _decode(options: DecodeOptions) -> int:
    out = sys.stdout
    for raw in sys.stdin.buffer:
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue
        try:
            result = packet_to_dict(decode(line, options))
        except HJ212Error as error:
            result = error_to_dict(error)
        out.write(json.dumps(result, ensure_ascii=False, separators=(",", ":")) + "\n")
    out.flush()
    return 0


def _encode(modbus_crc: bool) -> int:
    status = 0
    for number, raw in enumerate(sys.stdin, start=1):
        if not raw.strip():
            continue
        try:
            fields = _encode_fields(json.loads(raw))
            frame = frame_segment(encode_segment(**fields), modbus_crc=modbus_crc)
        except (ValueError, TypeError) as error:  # json errors and HJ212Error are ValueErrors
            sys.stderr.write(f"line {number}: {error}\n")
            status = 1
            continue
        sys.stdout.write(frame.rstrip(b"\r\n").decode("utf-8") + "\n")
    sys.stdout.flush()
    return status


def _encode_fields(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise TypeError("each line must be a JSON object")
    unknown = sorted(set(obj) - _ENCODE_KEYS)
    if unknown:
        raise TypeError(f"unknown keys {unknown}; allowed: {sorted(_ENCODE_KEYS)}")
    if "cn" not in obj or "mn" not in obj:
        raise TypeError("'cn' and 'mn' are required")
    return obj
