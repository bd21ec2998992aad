"""Wire schemas of the console link (``/ws/console``), as msgspec Structs.

Every message is a JSON text frame holding an object with a ``type`` tag:

- console -> hub: ``login`` {id, username, password, seat}; ``request`` {id, method, params}.
- hub -> console: ``login.ok`` {id, user, scope, server_time}; ``response`` {id, result,
  reason?}; ``error`` {id?, code, detail}; ``event`` {topic, seq, data}. ``seq`` counts the
  events sent on this connection (1, 2, ...), so a console can tell it missed none.

Incoming messages are decoded in two steps (envelope, then the tagged union) so that each
kind of bad input maps to its own error code instead of an exception that would end the
connection. Messages above 1 MiB close the connection with 1009; a console too slow for
its event stream is closed with 1013.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import msgspec

PROTOCOL_VERSION = 1
CONSOLE_PATH = "/ws/console"
HEALTH_PATH = "/healthz"


class ErrorCode(StrEnum):
    """Codes of ``{"type": "error"}`` answers; clients translate them for the user."""

    BAD_JSON = "bad_json"
    BAD_MESSAGE = "bad_message"
    BAD_REQUEST = "bad_request"
    BAD_CREDENTIALS = "bad_credentials"
    ACCOUNT_DISABLED = "account_disabled"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    ALREADY_LOGGED_IN = "already_logged_in"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    ILLEGAL_TRANSITION = "illegal_transition"
    OUT_OF_SCOPE = "out_of_scope"
    UNKNOWN_METHOD = "unknown_method"
    NOT_FOUND = "not_found"
    INTERNAL = "internal"


# --- client -> hub ---------------------------------------------------------------------------


class Envelope(msgspec.Struct):
    """First decoding pass: only the tag and the id, every other field is skipped."""

    type: str | None = None
    id: Any = None


class Login(msgspec.Struct, tag="login", tag_field="type", forbid_unknown_fields=True):
    id: int
    username: Annotated[str, msgspec.Meta(max_length=150)]
    password: Annotated[str, msgspec.Meta(max_length=1024)]
    seat: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class Request(msgspec.Struct, tag="request", tag_field="type", forbid_unknown_fields=True):
    id: int
    method: str
    # Kept raw: the method's own params Struct validates it (see registry.py).
    params: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"{}"))


ClientMessage = Login | Request
CLIENT_MESSAGE_TYPES: frozenset[str] = frozenset({"login", "request"})


# --- hub -> client ---------------------------------------------------------------------------


class UserInfo(msgspec.Struct):
    username: str
    display_name: str
    role: str
    org_id: str
    org_name: str


class ScopeInfo(msgspec.Struct):
    org_id: str
    districts: list[str]


class LoginOk(msgspec.Struct, tag="login.ok", tag_field="type"):
    id: int
    user: UserInfo
    scope: ScopeInfo
    server_time: str


class Response(msgspec.Struct, tag="response", tag_field="type", omit_defaults=True):
    id: int
    result: Any
    # Set when ``result`` is null for a reason the client should show (e.g. outside the city).
    reason: str | None = None


class Error(msgspec.Struct, tag="error", tag_field="type", omit_defaults=True):
    code: str
    detail: str
    id: int | None = None
    # Machine-readable context, e.g. the current task with a "conflict" error.
    data: Any = None


class Event(msgspec.Struct, tag="event", tag_field="type"):
    topic: str
    seq: int
    data: Any


ServerMessage = LoginOk | Response | Error | Event

_encoder = msgspec.json.Encoder()


def encode(message: msgspec.Struct) -> bytes:
    """Encode one outgoing message (UTF-8 JSON)."""
    return _encoder.encode(message)


class ProtocolError(Exception):
    """A message that cannot be processed; answered with an error, the connection stays open."""

    def __init__(self, code: ErrorCode, detail: str, request_id: int | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.request_id = request_id

    def to_message(self) -> Error:
        return Error(code=self.code.value, detail=self.detail, id=self.request_id)


_envelope_decoder = msgspec.json.Decoder(Envelope)
_message_decoder: msgspec.json.Decoder[Login | Request] = msgspec.json.Decoder(ClientMessage)


def decode_client_message(data: str | bytes) -> ClientMessage:
    """Decode one incoming message or raise ProtocolError with the matching code."""
    if isinstance(data, str):
        data = data.encode()
    try:
        envelope = _envelope_decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, f"not a message object: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ProtocolError(ErrorCode.BAD_JSON, f"not valid JSON: {exc}") from None
    request_id = envelope.id if type(envelope.id) is int else None
    if envelope.type is None:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "missing field 'type'", request_id)
    if envelope.type not in CLIENT_MESSAGE_TYPES:
        known = ", ".join(sorted(CLIENT_MESSAGE_TYPES))
        raise ProtocolError(
            ErrorCode.BAD_MESSAGE,
            f"unknown message type {envelope.type!r}; expected one of: {known}",
            request_id,
        )
    try:
        return _message_decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, f"invalid {envelope.type!r} message: {exc}", request_id
        ) from None
