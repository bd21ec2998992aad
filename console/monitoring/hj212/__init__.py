"""HJ 212 (pollution-source online monitoring data transmission) codec, Qt-free.

``decode`` turns one frame into a :class:`Packet` or raises :class:`HJ212Error`;
``FrameScanner`` cuts frames out of a TCP stream; ``Reassembler`` joins split packets;
``encode_packet`` and the reply helpers build frames for simulators and the hub's answers.
``SPEEDUPS`` is the optional C extension (``_speedups.c``) the codec uses where it was built.
"""

from console.monitoring.hj212.codec import (
    STANDARD_MAX_LENGTH,
    DecodeOptions,
    ErrorKind,
    HJ212Error,
    Packet,
    Value,
    data_reply,
    decode,
    decode_cp,
    encode_cp,
    encode_packet,
    encode_segment,
    error_to_dict,
    execution_result,
    frame_segment,
    notify_reply,
    packet_cp,
    packet_to_dict,
    request_reply,
    without_speedups,
)
from console.monitoring.hj212.crc import (
    SPEEDUPS,
    crc16_hj212,
    crc16_hj212_python,
    crc16_hj212_reference,
    crc16_modbus,
)
from console.monitoring.hj212.stream import FrameScanner, PartialPacket, Reassembler

__all__ = [
    "SPEEDUPS",
    "STANDARD_MAX_LENGTH",
    "DecodeOptions",
    "ErrorKind",
    "FrameScanner",
    "HJ212Error",
    "Packet",
    "PartialPacket",
    "Reassembler",
    "Value",
    "crc16_hj212",
    "crc16_hj212_python",
    "crc16_hj212_reference",
    "crc16_modbus",
    "data_reply",
    "decode",
    "decode_cp",
    "encode_cp",
    "encode_packet",
    "encode_segment",
    "error_to_dict",
    "execution_result",
    "frame_segment",
    "notify_reply",
    "packet_cp",
    "packet_to_dict",
    "request_reply",
    "without_speedups",
]
