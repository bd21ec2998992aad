"""Wire schemas of the field link (``/ws/field``), protocol version 1, as msgspec Structs.

The field app on an officer's phone speaks JSON text frames tagged by ``type`` (see
docs/protocol.md, "Field link"). Incoming frames are decoded in two passes, envelope then
tagged union, so malformed JSON, an unknown type and a schema violation each get their own
error code and the connection stays open. Range checks that need domain knowledge
(plausible coordinates, timestamps) live in the field link, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

import msgspec

FIELD_PATH = "/ws/field"
FIELD_PROTOCOL_VERSION = 1

# Close codes (RFC 6455 private range 4000-4999 for our own).
CLOSE_UNAUTHORISED = 4401
CLOSE_HELLO_TIMEOUT = 4408
CLOSE_RATE_LIMITED = 4429


@dataclass(frozen=True, slots=True)
class FieldLimits:
    """Tunables of the field link; defaults are the documented protocol values."""

    hello_timeout_s: float = 10.0
    max_chunk_bytes: int = 256 * 1024
    # Token bucket: ``rate_per_s`` refill, ``rate_per_s * burst_s`` capacity, so more than
    # 50 msgs/s sustained over 5 s closes the connection with 4429.
    rate_per_s: float = 50.0
    burst_s: float = 5.0
    # A position may be this far ahead of the hub's clock (phone clocks drift) ...
    max_future_s: float = 120.0
    # ... and this old (buffered offline for a shift).
    max_age_s: float = 7 * 24 * 3600.0
    max_accuracy_m: float = 50_000.0
    # Positions are stored every ``position_flush_s`` on the field link's own writer thread;
    # when more than ``position_backlog`` wait (the database fell behind), devices' messages
    # are no longer read until the writer catches up (TCP back-pressure, nothing dropped).
    position_flush_s: float = 0.5
    position_backlog: int = 50_000
    # Consoles get one ``officer.moved`` event per district every ``moved_coalesce_s``.
    moved_coalesce_s: float = 0.5
    # Sweep of every connected device: tokens revoked or expired elsewhere (the CLI, another
    # hub process) and outbox entries written by another hub process on the same database.
    outbox_poll_s: float = 30.0
    geofence_m: float = 300.0
    attachment_url_ttl_s: float = 300.0
    # An upload that received no chunk for this long is given up and its partial file deleted
    # (field, complaint and call-recording uploads alike); a device may resume until then.
    partial_upload_ttl_s: float = 7 * 24 * 3600.0
    partial_purge_every_s: float = 3600.0


class FieldErrorCode(StrEnum):
    BAD_JSON = "bad_json"
    UNKNOWN_TYPE = "unknown_type"
    SCHEMA = "schema"
    BAD_COORDINATES = "bad_coordinates"
    BAD_TIMESTAMP = "bad_timestamp"
    UNKNOWN_TASK = "unknown_task"
    FORBIDDEN = "forbidden"
    ILLEGAL_TRANSITION = "illegal_transition"
    CONFLICT = "conflict"
    OUTSIDE_GEOFENCE = "outside_geofence"
    HASH_MISMATCH = "hash_mismatch"
    SIZE_MISMATCH = "size_mismatch"
    UPLOAD_UNKNOWN = "upload_unknown"
    BAD_OFFSET = "bad_offset"
    TOO_LARGE = "too_large"
    ALREADY_HELLO = "already_hello"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


MsgId = str | int | None
Datum = Literal["wgs84", "gcj02", "bd09"]
Sha256 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
UploadId = Annotated[str, msgspec.Meta(pattern="^[A-Za-z0-9_-]{8,64}$")]
ShortText = Annotated[str, msgspec.Meta(max_length=200)]
LongText = Annotated[str, msgspec.Meta(max_length=20_000)]


class Envelope(msgspec.Struct):
    """First pass: only the tag and the client's message id."""

    type: str | None = None
    msg_id: Any = None


class Device(msgspec.Struct, forbid_unknown_fields=False):
    id: ShortText
    model: ShortText = ""
    app_version: ShortText = ""


class Hello(msgspec.Struct, tag="hello", tag_field="type"):
    token: Annotated[str, msgspec.Meta(max_length=200)]
    device: Device
    last_seq: Annotated[int, msgspec.Meta(ge=0)] = 0
    msg_id: MsgId = None


class Position(msgspec.Struct, tag="position", tag_field="type"):
    lat: float
    lon: float
    ts: str | int | float
    accuracy: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    speed: Annotated[float, msgspec.Meta(ge=0)] | None = None
    heading: float | None = None
    battery: Annotated[float, msgspec.Meta(ge=0, le=100)] | None = None
    datum: Datum = "wgs84"
    msg_id: MsgId = None


class TaskAck(msgspec.Struct, tag="task.ack", tag_field="type"):
    seq: Annotated[int, msgspec.Meta(ge=1)]
    msg_id: MsgId = None


TaskStatusAction = Literal[
    "accept", "depart", "arrive", "verify_confirmed", "verify_unfounded", "complete_procedure"
]


class TaskStatus(msgspec.Struct, tag="task.status", tag_field="type"):
    task_id: ShortText
    action: TaskStatusAction
    lat: float | None = None
    lon: float | None = None
    accuracy: Annotated[float, msgspec.Meta(ge=0)] | None = None
    datum: Datum = "wgs84"
    findings: LongText | None = None
    note: LongText | None = None
    msg_id: MsgId = None


class Report(msgspec.Struct, tag="report", tag_field="type"):
    task_id: ShortText
    findings: LongText = ""
    notes: LongText = ""
    attachment_ids: Annotated[list[ShortText], msgspec.Meta(max_length=100)] = []
    msg_id: MsgId = None


class UploadBegin(msgspec.Struct, tag="upload.begin", tag_field="type"):
    upload_id: UploadId
    task_id: ShortText
    kind: Literal["photo", "voice"]
    mime: Annotated[str, msgspec.Meta(pattern=r"^[a-z]+/[A-Za-z0-9.+-]+$", max_length=100)]
    size: Annotated[int, msgspec.Meta(ge=1)]
    sha256: Sha256
    msg_id: MsgId = None


class UploadChunk(msgspec.Struct, tag="upload.chunk", tag_field="type"):
    upload_id: UploadId
    offset: Annotated[int, msgspec.Meta(ge=0)]
    data: str
    msg_id: MsgId = None


class UploadEnd(msgspec.Struct, tag="upload.end", tag_field="type"):
    upload_id: UploadId
    msg_id: MsgId = None


class Pong(msgspec.Struct, tag="pong", tag_field="type"):
    msg_id: MsgId = None


DeviceMessage = (
    Hello | Position | TaskAck | TaskStatus | Report | UploadBegin | UploadChunk | UploadEnd | Pong
)
DEVICE_MESSAGE_TYPES: frozenset[str] = frozenset(
    {
        "hello",
        "position",
        "task.ack",
        "task.status",
        "report",
        "upload.begin",
        "upload.chunk",
        "upload.end",
        "pong",
    }
)


class FieldProtocolError(Exception):
    """A bad device message; answered with an error, the connection stays open."""

    def __init__(self, code: FieldErrorCode, detail: str, ref: Any = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.ref = ref

    def to_message(self) -> dict[str, Any]:
        return error_message(self.code, self.detail, self.ref)


def error_message(code: FieldErrorCode, detail: str, ref: Any = None) -> dict[str, Any]:
    return {"type": "error", "code": str(code), "detail": detail, "ref": _ref(ref)}


def _ref(value: Any) -> str | int | None:
    return value if isinstance(value, str | int) and not isinstance(value, bool) else None


_envelope_decoder = msgspec.json.Decoder(Envelope)
_message_decoder: msgspec.json.Decoder[DeviceMessage] = msgspec.json.Decoder(DeviceMessage)


def decode_known(raw: str | bytes) -> DeviceMessage | None:
    """One-pass decode of a well-formed message of this module's types, else None.

    The fast path for the steady stream of positions; for anything else (call signalling,
    feature messages, malformed frames) ``decode_device_message`` says what is wrong.
    """
    try:
        return _message_decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def decode_device_message(raw: str | bytes) -> DeviceMessage:
    """Decode one frame; FieldProtocolError(bad_json | unknown_type | schema) otherwise."""
    try:
        envelope = _envelope_decoder.decode(raw)
    except msgspec.ValidationError:
        raise FieldProtocolError(
            FieldErrorCode.BAD_JSON, "a message must be a JSON object with a 'type'"
        ) from None
    except msgspec.DecodeError as exc:
        raise FieldProtocolError(FieldErrorCode.BAD_JSON, f"not JSON: {exc}") from None
    if envelope.type not in DEVICE_MESSAGE_TYPES:
        known = ", ".join(sorted(DEVICE_MESSAGE_TYPES))
        raise FieldProtocolError(
            FieldErrorCode.UNKNOWN_TYPE,
            f"unknown message type {envelope.type!r}; expected one of {known}",
            envelope.msg_id,
        )
    try:
        return _message_decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise FieldProtocolError(
            FieldErrorCode.SCHEMA, f"invalid {envelope.type!r}: {exc}", envelope.msg_id
        ) from None


_encoder = msgspec.json.Encoder()


def encode(message: dict[str, Any]) -> str:
    return _encoder.encode(message).decode()
