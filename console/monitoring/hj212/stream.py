"""Getting HJ 212 packets out of a TCP connection: frame scanning and split-packet reassembly."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from console.monitoring.hj212.codec import ErrorKind, HJ212Error, Packet

__all__ = ["FrameScanner", "PartialPacket", "Reassembler"]

_OVERHEAD = 12  # "##" + 4 length digits + 4 CRC + "\r\n"


class FrameScanner:
    """Cuts frames out of a byte stream that arrives in arbitrary chunks.

    A frame starts at ``##`` + 4 digits and normally ends where its declared length says, with
    ``\\r\\n``. If the ``\\r\\n`` is not there (a sender that miscounts), the frame is cut at the
    next ``\\r\\n`` instead, so that the decoder can report a length error rather than the
    stream stalling. Bytes outside frames are dropped and counted in ``discarded``. No frame
    longer than ``max_length`` + 12 bytes is ever buffered.
    """

    def __init__(self, max_length: int = 4096) -> None:
        if max_length < 1:
            raise ValueError(f"max_length must be positive, got {max_length}")
        self.max_length = max_length
        self.discarded = 0
        """Bytes dropped so far: garbage between frames and frames above the cap."""
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buffer)

    def feed(self, chunk: bytes) -> list[bytes]:
        """Add received bytes; return the complete frames now available, in order."""
        buf = self._buffer
        buf += chunk
        frames: list[bytes] = []
        pos = 0
        limit = self.max_length + _OVERHEAD
        while True:
            start = buf.find(b"##", pos)
            if start < 0:
                keep = len(buf) - 1 if buf.endswith(b"#") else len(buf)
                self.discarded += keep - pos
                pos = keep
                break
            self.discarded += start - pos
            pos = start
            if len(buf) - start < 6:
                break
            digits = bytes(buf[start + 2 : start + 6])
            if not digits.isdigit() or int(digits) > self.max_length:
                self.discarded += 1  # not a frame start (or above the cap): skip one '#'
                pos = start + 1
                continue
            end = start + int(digits) + _OVERHEAD
            if len(buf) >= end and buf[end - 2 : end] == b"\r\n":
                frames.append(bytes(buf[start:end]))
                pos = end
                continue
            crlf = buf.find(b"\r\n", start + 6, start + limit)
            if crlf >= 0:
                # The declared end is not a line end: a miscounting sender, or a false start.
                restart = buf.find(b"##", start + 1, crlf)
                if restart >= 0:  # another frame begins first: this '##' was garbage
                    self.discarded += restart - start
                    pos = restart
                else:  # cut at the line end; the decoder reports the length error
                    frames.append(bytes(buf[start : crlf + 2]))
                    pos = crlf + 2
                continue
            if len(buf) - start >= limit:  # no line end within the cap: not a frame
                self.discarded += 1
                pos = start + 1
                continue
            break  # wait for more bytes
        del buf[:pos]
        return frames


@dataclass(slots=True)
class PartialPacket:
    """The parts of a split packet received so far."""

    first_seen: float
    pnum: int
    parts: dict[int, Packet] = field(default_factory=dict)


class Reassembler:
    """Joins split packets (Flag bit D, PNUM/PNO) keyed by (MN, QN), with a timeout.

    Unsplit packets pass straight through. Parts may arrive in any order; duplicates replace
    the earlier copy. Groups not completed within ``timeout`` seconds are dropped by
    :meth:`expire` (also run on every :meth:`add`) and returned so that they can be logged.
    """

    def __init__(self, timeout: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.timeout = timeout
        self._clock = clock
        self._groups: dict[tuple[str, str | None], PartialPacket] = {}

    @property
    def waiting(self) -> int:
        """Number of split packets still incomplete."""
        return len(self._groups)

    def add(self, packet: Packet) -> Packet | None:
        """Return the complete packet, or None while parts are missing.

        Raises :class:`HJ212Error` (kind ``field``) when a part contradicts its group's PNUM;
        the group is dropped.
        """
        if not packet.split:
            return packet
        now = self._clock()
        self.expire(now)
        if packet.pnum is None or packet.pno is None:
            raise HJ212Error(ErrorKind.FIELD, "split packet (Flag bit D) without PNUM and PNO")
        key = (packet.mn, packet.qn)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = PartialPacket(first_seen=now, pnum=packet.pnum)
        elif group.pnum != packet.pnum:
            del self._groups[key]
            raise HJ212Error(
                ErrorKind.FIELD,
                f"split packet MN={packet.mn} QN={packet.qn}: PNUM {packet.pnum} "
                f"after {group.pnum}",
            )
        group.parts[packet.pno] = packet
        if len(group.parts) < group.pnum:
            return None
        del self._groups[key]
        return _join([group.parts[n] for n in range(1, group.pnum + 1)])

    def expire(
        self, now: float | None = None
    ) -> list[tuple[tuple[str, str | None], PartialPacket]]:
        """Drop and return the groups older than the timeout."""
        at = self._clock() if now is None else now
        stale = [k for k, g in self._groups.items() if at - g.first_seen > self.timeout]
        return [(k, self._groups.pop(k)) for k in stale]


def _join(parts: list[Packet]) -> Packet:
    first = parts[0]
    joined = Packet(
        version=first.version,
        cn=first.cn,
        st=first.st,
        mn=first.mn,
        qn=first.qn,
        pw=first.pw,
        flag=None if first.flag is None else first.flag & ~2,
        pnum=first.pnum,
        pno=None,
        data_time=next((p.data_time for p in parts if p.data_time is not None), None),
        extra=dict(first.extra),
        crc_kind="modbus" if any(p.crc_kind == "modbus" for p in parts) else "hj212",
        oversize=any(p.oversize for p in parts),
        cp=";".join(p.cp for p in parts if p.cp),
    )
    for part in parts:
        for code, fields in part.values.items():
            joined.values.setdefault(code, {}).update(fields)
        joined.params.update(part.params)
    return joined
