"""Intake API: external systems (the 12369 platform, a WeChat service) post complaints.

Open311 GeoReport v2 shape on the hub's own port: ``GET /open311/v2/services.json`` lists
the categories, ``POST /open311/v2/requests.json`` (form-encoded or JSON, with ``api_key``)
records a complaint. A retried POST with the same ``Idempotency-Key`` header gets the first
answer and stores nothing new, also when the retries race each other (the database's unique
key picks the winner). Errors are ``{"error": code, "detail": …}`` with a 4xx status.

The websocket server parses only bodiless GET requests (handshakes), so requests with
another method are taken over by :class:`IntakeApi.connection_class` before the websocket
protocol sees them; plain GETs go through the hub's ``process_request`` route hook.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse

from console.core.complaints import Category, Channel, Urgency
from console.core.geo import Datum
from console.hub.dispatch_methods import create_complaint, publish_complaint
from console.hub.registry import MethodError
from console.hub.state import HubState, utc_now
from console.store.dispatch_repo import DispatchRepo

log = logging.getLogger(__name__)

OPEN311_PREFIX = "/open311/v2/"
SERVICES_PATH = "/open311/v2/services.json"
REQUESTS_PATH = "/open311/v2/requests.json"
MAX_BODY_BYTES = 64 * 1024
MAX_HEADER_BYTES = 16 * 1024
MAX_IDEMPOTENCY_KEY = 200

SERVICES = [
    {
        "service_code": category.value,
        "service_name": category.value.replace("_", " "),
        "description": f"environmental complaint: {category.value.replace('_', ' ')}",
        "metadata": False,
        "type": "realtime",
        "keywords": "environment,complaint",
        "group": "environment",
    }
    for category in Category
]


def new_api_key() -> str:
    """A fresh random key (shown once; only its hash is stored)."""
    return secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """SHA-256 of the key: keys are 256-bit random tokens, so no slow hash is needed."""
    return hashlib.sha256(key.encode()).hexdigest()


class IntakeError(Exception):
    def __init__(self, status: HTTPStatus, code: str, detail: str) -> None:
        super().__init__(f"{status.value} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class PlainRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes


class IntakeApi:
    """The intake routes of one hub."""

    def __init__(self, state: HubState) -> None:
        self.state = state
        self._tasks: set[asyncio.Task[None]] = set()
        api = self

        class _Connection(ServerConnection):
            """Takes over requests that are not GET (websocket handshakes are always GET)."""

            _buffer = b""
            _mode = "sniff"  # "sniff" | "websocket" | "plain"

            def data_received(self, data: bytes) -> None:
                if self._mode == "websocket":
                    super().data_received(data)
                    return
                if self._mode == "plain":
                    self._buffer += data
                    api._maybe_complete(self)
                    return
                self._buffer += data
                if not self._buffer.startswith(b"GET ") and len(self._buffer) >= 4:
                    self._mode = "plain"
                    api._maybe_complete(self)
                elif self._buffer.startswith(b"GET "):
                    self._mode = "websocket"
                    buffered, self._buffer = self._buffer, b""
                    super().data_received(buffered)

        self.connection_class: type[ServerConnection] = _Connection

    # -- GET through the hub's process_request hook ------------------------------------------

    def response(self, connection: ServerConnection, request: HttpRequest) -> HttpResponse | None:
        """The answer to a GET under /open311/v2/, else None (not ours)."""
        path = urlsplit(request.path).path
        if not path.startswith(OPEN311_PREFIX):
            return None
        if path == SERVICES_PATH:
            status, body = HTTPStatus.OK, json.dumps(SERVICES)
        elif path == REQUESTS_PATH:
            status, body = (
                HTTPStatus.METHOD_NOT_ALLOWED,
                _error_body("method_not_allowed", f"use POST {REQUESTS_PATH} to submit a request"),
            )
        else:
            status, body = (
                HTTPStatus.NOT_FOUND,
                _error_body(
                    "not_found", f"no such path {path!r}; try {SERVICES_PATH} or {REQUESTS_PATH}"
                ),
            )
        response = connection.respond(status, body)
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json"
        return response

    # -- other methods: read the whole request off the transport ------------------------------

    def _maybe_complete(self, connection: Any) -> None:
        buffer: bytes = connection._buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEADER_BYTES:
                self._reply(connection, *_error(HTTPStatus.BAD_REQUEST, "headers_too_large"))
            return
        try:
            request = _parse_head(buffer[:end])
        except ValueError as exc:
            self._reply(connection, HTTPStatus.BAD_REQUEST, _error_body("bad_http", str(exc)))
            return
        length_text = request.headers.get("content-length", "0")
        if not length_text.isdigit():
            self._reply(
                connection,
                HTTPStatus.BAD_REQUEST,
                _error_body("bad_http", "Content-Length must be a number (no chunked bodies)"),
            )
            return
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            self._reply(
                connection,
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                _error_body("too_large", f"the body may be at most {MAX_BODY_BYTES} bytes"),
            )
            return
        body = buffer[end + 4 :]
        if len(body) < length:
            return
        connection._mode = "done"
        full = PlainRequest(
            request.method, request.path, request.query, request.headers, body[:length]
        )
        task = asyncio.get_running_loop().create_task(self._serve(connection, full))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, connection: Any, request: PlainRequest) -> None:
        try:
            status, body = await self.handle(request)
        except Exception:
            log.exception("intake request failed")
            status, body = (
                HTTPStatus.INTERNAL_SERVER_ERROR,
                _error_body(
                    "internal", "the intake request failed inside the hub; see the hub log"
                ),
            )
        self._reply(connection, status, body)

    def _reply(self, connection: Any, status: HTTPStatus, body: str) -> None:
        connection._mode = "done"
        payload = body.encode()
        head = (
            f"HTTP/1.1 {status.value} {status.phrase}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        transport = connection.transport
        if not transport.is_closing():
            transport.write(head + payload)
            transport.close()

    # -- the Open311 request -------------------------------------------------------------------

    async def handle(self, request: PlainRequest) -> tuple[HTTPStatus, str]:
        """Status and JSON body for a non-GET request."""
        try:
            if request.path != REQUESTS_PATH:
                raise IntakeError(
                    HTTPStatus.NOT_FOUND, "not_found", f"no such path {request.path!r}"
                )
            if request.method != "POST":
                raise IntakeError(
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    f"{request.method} is not supported; use POST",
                )
            fields = _fields(request)
            system = await self._authenticate(fields.get("api_key") or _query_key(request))
            answer = await self._create(system, fields, request.headers.get("idempotency-key"))
        except IntakeError as exc:
            return exc.status, _error_body(exc.code, exc.detail)
        return HTTPStatus.CREATED, json.dumps(answer, ensure_ascii=False)

    async def _authenticate(self, key: str | None) -> str:
        if not key:
            raise IntakeError(HTTPStatus.UNAUTHORIZED, "missing_api_key", "api_key is required")
        state = self.state
        found = await state.db.run(DispatchRepo(state.store).api_key_by_hash, hash_api_key(key))
        if found is None:
            raise IntakeError(HTTPStatus.UNAUTHORIZED, "bad_api_key", "unknown api_key")
        if found.revoked:
            raise IntakeError(
                HTTPStatus.FORBIDDEN, "revoked_api_key", f"the key {found.name!r} was revoked"
            )
        return found.name

    async def _create(
        self, system: str, fields: dict[str, str], idempotency_key: str | None
    ) -> list[dict[str, Any]]:
        state = self.state
        repo = DispatchRepo(state.store)
        key = (idempotency_key or "").strip() or secrets.token_hex(16)
        if len(key) > MAX_IDEMPOTENCY_KEY:
            raise IntakeError(
                HTTPStatus.BAD_REQUEST,
                "bad_idempotency_key",
                f"Idempotency-Key may be at most {MAX_IDEMPOTENCY_KEY} characters",
            )
        stored = await state.db.run(repo.intake_answer, system, key)
        if stored is not None:
            return stored
        category, lon, lat, description = _validate(fields)
        name = " ".join(p for p in (fields.get("first_name"), fields.get("last_name")) if p)
        extra = [
            f"{label}: {fields[field]}"
            for field, label in (
                ("address_string", "address"),
                ("email", "email"),
                ("media_url", "media"),
            )
            if fields.get(field)
        ]
        try:
            complaint, _found = await create_complaint(
                state,
                channel=Channel.WEB,
                category=category,
                urgency=Urgency.NORMAL,
                reporter_name=name[:200],
                reporter_phone=fields.get("phone", "")[:32],
                description="\n".join([description, *extra]),
                lon=lon,
                lat=lat,
                datum=Datum.WGS84,
                enterprise_id=None,
                external_ref=key[:100],
                scope=None,
            )
        except MethodError as exc:
            raise IntakeError(
                HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_location", exc.detail
            ) from None
        answer = [{"service_request_id": complaint.id, "service_notice": "received"}]
        stored_answer, created = await state.db.run(
            repo.add_intake_complaint, complaint, system, key, answer, utc_now()
        )
        if created:
            publish_complaint(state.bus, complaint)
        return stored_answer


def _parse_head(head: bytes) -> PlainRequest:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes any byte
        raise ValueError(str(exc)) from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1.x request line: {lines[0][:100]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"malformed header line {line[:100]!r}")
        headers[name.strip().lower()] = value.strip()
    target = urlsplit(parts[1])
    return PlainRequest(parts[0], target.path, target.query, headers, b"")


def _fields(request: PlainRequest) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise IntakeError(HTTPStatus.BAD_REQUEST, "bad_body", "the body is not UTF-8") from None
    if content_type == "application/json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IntakeError(
                HTTPStatus.BAD_REQUEST, "bad_json", f"not valid JSON: {exc}"
            ) from None
        if not isinstance(data, dict):
            raise IntakeError(HTTPStatus.BAD_REQUEST, "bad_json", "the body must be a JSON object")
        return {str(k): "" if v is None else str(v) for k, v in data.items()}
    if content_type in ("application/x-www-form-urlencoded", ""):
        return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
    raise IntakeError(
        HTTPStatus.BAD_REQUEST,
        "unsupported_content_type",
        f"{content_type!r}: send application/x-www-form-urlencoded or application/json",
    )


def _query_key(request: PlainRequest) -> str | None:
    values = parse_qs(request.query).get("api_key")
    return values[-1] if values else None


def _validate(fields: dict[str, str]) -> tuple[Category, float, float, str]:
    missing = [f for f in ("service_code", "lat", "long", "description") if not fields.get(f)]
    if missing:
        raise IntakeError(
            HTTPStatus.BAD_REQUEST, "missing_fields", f"required: {', '.join(missing)}"
        )
    try:
        lat, lon = float(fields["lat"]), float(fields["long"])
    except ValueError:
        raise IntakeError(
            HTTPStatus.BAD_REQUEST, "bad_coordinates", "lat and long must be numbers"
        ) from None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise IntakeError(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "bad_coordinates",
            f"lat {lat}, long {lon} out of range",
        )
    try:
        category = Category(fields["service_code"])
    except ValueError:
        known = ", ".join(c.value for c in Category)
        raise IntakeError(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "unknown_service_code",
            f"unknown service_code {fields['service_code']!r}; see {SERVICES_PATH} ({known})",
        ) from None
    description = fields["description"].strip()
    if len(description) > 4000:
        raise IntakeError(
            HTTPStatus.UNPROCESSABLE_ENTITY, "description_too_long", "at most 4000 characters"
        )
    return category, lon, lat, description


def _error_body(code: str, detail: str) -> str:
    return json.dumps({"error": code, "detail": detail}, ensure_ascii=False)


def _error(status: HTTPStatus, code: str) -> tuple[HTTPStatus, str]:
    return status, _error_body(code, status.phrase)
