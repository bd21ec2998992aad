"""Test helpers independent of the codec: a bit-by-bit Appendix A CRC and frame builder."""

from __future__ import annotations

STANDARD_EXAMPLE = (
    "##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;"
    "Flag=5;CP=&&RtdInterval=30&&1C80"
)


def bitwise_crc(data: bytes) -> int:
    """HJ 212-2017 Appendix A, written out bit by bit exactly as the standard describes."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ byte
        for _ in range(8):
            carry = crc & 1
            crc >>= 1
            if carry:
                crc ^= 0xA001
    return crc


def bitwise_modbus(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            carry = crc & 1
            crc >>= 1
            if carry:
                crc ^= 0xA001
    return crc


def handmade(segment: str, *, crc: int | None = None, length: int | None = None) -> bytes:
    """Frame a segment without using the encoder (for checking the encoder against)."""
    data = segment.encode()
    value = bitwise_crc(data) if crc is None else crc
    size = len(data) if length is None else length
    return b"##%04d%b%04X\r\n" % (size, data, value)
