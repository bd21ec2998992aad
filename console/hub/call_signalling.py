"""Relay of live video-call signalling between a console and an officer's field app.

The hub carries no media: it rings the officer's devices, passes the SDP offer (console,
aiortc) and answer (browser) along, keeps each call's state and tells both ends when the
call ends. aiortc has no trickle ICE, so both descriptions carry complete candidates and
no ``candidate`` messages exist. The console offers, the browser answers (docs/protocol.md
"Calls").

Events for the calling console (``call.state``, ``call.answer``) go to that console only,
never to the bus, because they carry ICE credentials; the console must have subscribed to
:data:`CALL_TOPICS`. A console that goes away ends its calls; so does an officer whose
last device goes away. Recordings come back from the console in chunks and become task
attachments exactly like field uploads (SHA-256 checked, event ``attachment.added``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import os
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from console.core.model import Officer, Role
from console.hub.events import BusEvent, Subscription
from console.hub.files import append_chunk, sha256_of
from console.hub.protocol import ErrorCode
from console.hub.registry import MethodError, method
from console.hub.state import CallContext, HubState, utc_now
from console.store.field_repo import Attachment

if TYPE_CHECKING:
    from console.hub.field_link import FieldConnection, FieldLink

log = logging.getLogger(__name__)

CALL_STATE = "call.state"
CALL_ANSWER = "call.answer"
CALL_TOPICS: tuple[str, ...] = (CALL_STATE, CALL_ANSWER)
"""Event topics a console subscribes to before it starts calls."""

CALLER_ROLES = frozenset({Role.DISPATCHER, Role.COMMANDER, Role.ADMIN, Role.LEADER})
EVIDENCE_ROLES = frozenset({Role.DISPATCHER, Role.COMMANDER, Role.ADMIN})
"""Roles whose calls may carry a task (and so become recorded task evidence)."""
RING_TIMEOUT_S = 45.0
SWEEP_INTERVAL_S = 1.0
RECORDING_KIND = "video"
MAX_SDP_CHARS = 64_000
MAX_RECORDING_CHUNK = 512 * 1024
KEEP_ENDED_CALLS = 200


class CallState(StrEnum):
    RINGING = "ringing"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    ENDED = "ended"


Sdp = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SDP_CHARS)]
CallId = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{32}$")]
MediaState = Literal["connected", "reconnecting"]


@dataclass(slots=True)
class Call:
    """One call; ``console`` is the calling connection's event subscription."""

    id: str
    officer: Officer
    task_id: str | None
    caller: dict[str, str]
    console: Subscription
    state: CallState = CallState.RINGING
    device: FieldConnection | None = None
    started: float = field(default_factory=time.monotonic)
    reason: str | None = None


@dataclass(slots=True)
class _Recording:
    call: Call
    partial: Path
    received: int = 0


# --- device messages ---------------------------------------------------------------------------


class _DeviceCall(msgspec.Struct, tag_field="type", forbid_unknown_fields=True):
    call_id: CallId
    msg_id: str | int | None = None


class DeviceAccept(_DeviceCall, tag="call.accept"):
    pass


class DeviceDecline(_DeviceCall, tag="call.decline"):
    pass


class DeviceAnswer(_DeviceCall, tag="call.answer"):
    sdp: Sdp = ""


class DeviceHangup(_DeviceCall, tag="call.hangup"):
    pass


class DeviceState(_DeviceCall, tag="call.state"):
    state: MediaState = "connected"


DeviceCallMessage = DeviceAccept | DeviceDecline | DeviceAnswer | DeviceHangup | DeviceState
DEVICE_CALL_TYPES = frozenset(
    {"call.accept", "call.decline", "call.answer", "call.hangup", "call.state"}
)


class _Envelope(msgspec.Struct):
    type: Any = None
    msg_id: Any = None


_envelope = msgspec.json.Decoder(_Envelope)
_device_decoder: msgspec.json.Decoder[DeviceCallMessage] = msgspec.json.Decoder(DeviceCallMessage)
_json = msgspec.json.Encoder()


def is_call_message(raw: str) -> bool:
    """Whether a device frame is call signalling (cheap test first: positions are frequent)."""
    if '"call.' not in raw[:80]:
        return False
    with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
        return _envelope.decode(raw).type in DEVICE_CALL_TYPES
    return False


def _device_error(code: str, detail: str, ref: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "detail": detail, "ref": ref}


# --- the relay ---------------------------------------------------------------------------------


class CallRelay:
    """All calls of one hub; get it with :func:`relay_for`."""

    def __init__(self, state: HubState) -> None:
        self.state = state
        self.calls: dict[str, Call] = {}
        self.ended: OrderedDict[str, Call] = OrderedDict()
        self.devices: dict[str, set[FieldConnection]] = {}
        self.recordings: dict[str, _Recording] = {}
        self._sweeper: asyncio.Task[None] | None = None

    # -- field side -------------------------------------------------------------------------

    def device_connected(self, officer_id: str, connection: FieldConnection) -> None:
        self.devices.setdefault(officer_id, set()).add(connection)

    async def device_disconnected(self, officer_id: str, connection: FieldConnection) -> None:
        """Forget the device; its accepted call (or a ringing one with no device left) ends."""
        devices = self.devices.get(officer_id, set())
        devices.discard(connection)
        if not devices:
            self.devices.pop(officer_id, None)
        for call in list(self.calls.values()):
            if call.device is connection or (call.officer.id == officer_id and not devices):
                await self.end(call, "officer_offline", notify_device=False)

    async def on_device_message(
        self, connection: FieldConnection, officer: Officer, raw: str
    ) -> None:
        """Handle one ``call.*`` frame of a device; answers errors on the device's link."""
        try:
            message = _device_decoder.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            ref = None
            with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
                ref = _envelope.decode(raw).msg_id
            await connection.send(_device_error("schema", f"invalid call message: {exc}", ref))
            return
        call = self.calls.get(message.call_id)
        if call is None or call.officer.id != officer.id:
            await connection.send(
                _device_error(
                    "unknown_call", f"no open call {message.call_id!r} for you", message.msg_id
                )
            )
            return
        if isinstance(message, DeviceAccept):
            await self._accept(call, connection, message)
        elif call.device is not None and call.device is not connection:
            await connection.send(
                _device_error(
                    "unknown_call", "the call was answered on another device", message.msg_id
                )
            )
        elif isinstance(message, DeviceDecline):
            await self.end(call, "declined", notify_device=False)
        elif isinstance(message, DeviceHangup):
            await self.end(call, "hangup_field", notify_device=False)
        elif isinstance(message, DeviceAnswer):
            self._to_console(call, CALL_ANSWER, {"call_id": call.id, "sdp": message.sdp})
        else:
            self._to_console(
                call, CALL_STATE, {"call_id": call.id, "state": call.state, "field": message.state}
            )

    async def _accept(self, call: Call, connection: FieldConnection, message: DeviceAccept) -> None:
        if call.state is not CallState.RINGING:
            await connection.send(
                _device_error("call_answered", "the call is no longer ringing", message.msg_id)
            )
            return
        call.device = connection
        self._set_state(call, CallState.CONNECTING)
        for other in self.devices.get(call.officer.id, set()) - {connection}:
            await _send_quietly(
                other, {"type": "call.hangup", "call_id": call.id, "reason": "answered_elsewhere"}
            )

    # -- console side -----------------------------------------------------------------------

    async def start(
        self, console: Subscription, caller: dict[str, str], officer: Officer, task_id: str | None
    ) -> Call:
        devices = self.devices.get(officer.id)
        if not devices:
            raise MethodError(ErrorCode.NOT_FOUND, f"officer {officer.id} is not online")
        call = Call(uuid.uuid4().hex, officer, task_id, caller, console)
        self.calls[call.id] = call
        for device in list(devices):
            await _send_quietly(
                device,
                {"type": "call.incoming", "call_id": call.id, "from": caller, "task_id": task_id},
            )
        self._ensure_sweeper()
        return call

    def console_call(self, console: Subscription, call_id: str) -> Call:
        call = self.calls.get(call_id)
        if call is None or call.console is not console:
            raise MethodError(ErrorCode.NOT_FOUND, f"no open call {call_id!r} of this console")
        return call

    async def offer(self, call: Call, sdp: str) -> None:
        if call.device is None:
            raise MethodError(ErrorCode.CONFLICT, "the officer has not accepted the call yet")
        await call.device.send({"type": "call.offer", "call_id": call.id, "sdp": sdp})

    async def media_state(self, call: Call, state: CallState) -> None:
        self._set_state(call, state)
        if call.device is not None:
            await _send_quietly(
                call.device, {"type": CALL_STATE, "call_id": call.id, "state": state}
            )

    async def end(self, call: Call, reason: str, *, notify_device: bool = True) -> None:
        """End a call once: tell the console and (unless it hung up) the officer's devices."""
        if self.calls.pop(call.id, None) is None:
            return
        call.reason = reason
        self._set_state(call, CallState.ENDED)
        self.ended[call.id] = call
        while len(self.ended) > KEEP_ENDED_CALLS:
            self.ended.popitem(last=False)
        if notify_device:
            targets = (
                [call.device]
                if call.device is not None
                else list(self.devices.get(call.officer.id, set()))
            )
            for device in targets:
                await _send_quietly(
                    device, {"type": "call.hangup", "call_id": call.id, "reason": reason}
                )

    # -- recordings -------------------------------------------------------------------------

    def recording_call(self, console: Subscription, call_id: str) -> Call:
        call = self.calls.get(call_id) or self.ended.get(call_id)
        if call is None or call.console is not console:
            raise MethodError(ErrorCode.NOT_FOUND, f"no call {call_id!r} of this console")
        if call.task_id is None:
            raise MethodError(
                ErrorCode.BAD_REQUEST, "the call has no task to attach a recording to"
            )
        return call

    async def recording_chunk(self, link: FieldLink, call: Call, offset: int, data: bytes) -> int:
        recording = self.recordings.get(call.id)
        if recording is None:
            partial = link.attachments_dir / "partial" / f"call-{call.id}.part"
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.unlink(missing_ok=True)
            recording = self.recordings[call.id] = _Recording(call, partial)
        if offset != recording.received:
            raise MethodError(
                ErrorCode.CONFLICT,
                f"offset {offset} but {recording.received} bytes are stored: send from there",
                {"received": recording.received},
            )
        await asyncio.to_thread(append_chunk, recording.partial, data)
        recording.received += len(data)
        return recording.received

    async def recording_end(
        self, link: FieldLink, call: Call, size: int, sha256: str, mime: str
    ) -> Attachment:
        recording = self.recordings.pop(call.id, None)
        if recording is None:
            raise MethodError(ErrorCode.NOT_FOUND, "no recording bytes received for this call")
        digest = await asyncio.to_thread(sha256_of, recording.partial)
        if recording.received != size or digest != sha256:
            recording.partial.unlink(missing_ok=True)
            raise MethodError(
                ErrorCode.BAD_REQUEST,
                f"received {recording.received} bytes with SHA-256 {digest}, announced {size} "
                f"bytes with {sha256}; the partial file was discarded, upload again",
            )
        target = link.attachment_path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(recording.partial, target)
        assert call.task_id is not None
        attachment = await self.state.db.run(
            link.repo.add_attachment,
            Attachment(
                id=uuid.uuid4().hex,
                task_id=call.task_id,
                officer_id=call.officer.id,
                district_adcode=call.officer.district_adcode,
                kind=RECORDING_KIND,
                mime=mime,
                size=size,
                sha256=digest,
                upload_id=f"call-{call.id}",
                created_at=utc_now(),
            ),
        )
        from console.hub.field_link import ATTACHMENT_ADDED

        self.state.bus.publish(
            ATTACHMENT_ADDED,
            {
                "task_id": attachment.task_id,
                "attachment_id": attachment.id,
                "kind": attachment.kind,
                "mime": attachment.mime,
                "size": attachment.size,
                "sha256": attachment.sha256,
                "call_id": call.id,
            },
            call.officer.district_adcode,
        )
        return attachment

    # -- internals --------------------------------------------------------------------------

    def _set_state(self, call: Call, state: CallState) -> None:
        call.state = state
        data: dict[str, Any] = {"call_id": call.id, "state": state, "officer_id": call.officer.id}
        if state is CallState.ENDED:
            data["reason"] = call.reason
        self._to_console(call, CALL_STATE, data)

    def _to_console(self, call: Call, topic: str, data: dict[str, Any]) -> None:
        call.console.offer(BusEvent(topic, msgspec.Raw(_json.encode(data)), None))

    def _ensure_sweeper(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep())

    async def _sweep(self) -> None:
        """End calls whose console left and calls nobody answered; stops when none are open."""
        while self.calls:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            now = time.monotonic()
            for call in list(self.calls.values()):
                if call.console.closed:
                    await self.end(call, "console_gone")
                elif call.state is CallState.RINGING and now - call.started > RING_TIMEOUT_S:
                    await self.end(call, "no_answer")

    async def close(self) -> None:
        for call in list(self.calls.values()):
            await self.end(call, "hub_stopping")
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for recording in self.recordings.values():
            recording.partial.unlink(missing_ok=True)
        self.recordings.clear()


async def _send_quietly(device: FieldConnection, message: dict[str, Any]) -> None:
    """Send to a device that may be going away; its disconnect handler cleans up."""
    from websockets.exceptions import ConnectionClosed

    with contextlib.suppress(ConnectionClosed):
        await device.send(message)


_RELAYS: dict[int, CallRelay] = {}


def relay_for(state: HubState) -> CallRelay:
    """The call relay of a running hub (created on first use)."""
    relay = _RELAYS.get(id(state))
    if relay is None or relay.state is not state:
        relay = _RELAYS[id(state)] = CallRelay(state)
    return relay


def forget_relay(state: HubState) -> None:
    """Drop a stopped hub's relay (its calls ended with the connections)."""
    relay = _RELAYS.get(id(state))
    if relay is not None and relay.state is state:
        del _RELAYS[id(state)]


# --- console-link methods ------------------------------------------------------------------------


def _subscription_of(ctx: CallContext) -> Subscription:
    """The calling connection's event subscription: call events go to that console only."""
    subscription = getattr(ctx.connection, "subscription", None)
    if not isinstance(subscription, Subscription):
        raise MethodError(ErrorCode.UNAUTHENTICATED, "log in before calling")
    missing = [topic for topic in CALL_TOPICS if topic not in subscription.topics]
    if missing:
        raise MethodError(
            ErrorCode.BAD_REQUEST, f"subscribe to {', '.join(missing)} before starting calls"
        )
    return subscription


def _field_link(ctx: CallContext) -> FieldLink:
    from console.hub.field_link import FIELD_LINKS

    link = FIELD_LINKS.get(id(ctx.hub))
    if link is None:
        raise MethodError(ErrorCode.NOT_FOUND, "this hub has no field link")
    return link


class CallStartParams(msgspec.Struct, forbid_unknown_fields=True):
    officer_id: str
    task_id: str | None = None


@method("call.start", params=CallStartParams, roles=CALLER_ROLES)
async def call_start(ctx: CallContext, params: CallStartParams) -> dict[str, Any]:
    """Ring the officer's online devices; the answer comes as ``call.state`` events."""
    subscription = _subscription_of(ctx)
    link = _field_link(ctx)
    officer = link.officers.get(params.officer_id)
    if officer is None:
        raise MethodError(ErrorCode.NOT_FOUND, f"no officer {params.officer_id!r}")
    if not ctx.principal.scope.covers(officer.district_adcode):
        raise MethodError(ErrorCode.OUT_OF_SCOPE, "the officer is outside your scope")
    if params.task_id is not None:
        if ctx.principal.user.role not in EVIDENCE_ROLES:
            raise MethodError(
                ErrorCode.FORBIDDEN,
                "leaders may call officers but not record evidence: call without task_id",
            )
        record = await ctx.hub.db.run(link.dispatch.get_task, params.task_id)
        if record is None or not ctx.principal.scope.sees(
            record.task.district_adcode, record.task.owner_org_id
        ):
            raise MethodError(ErrorCode.NOT_FOUND, f"no task {params.task_id!r} in your scope")
    user = ctx.principal.user
    caller = {
        "username": user.username,
        "name": user.display_name,
        "org_name": ctx.principal.org_name,
        "seat": ctx.principal.seat,
    }
    call = await relay_for(ctx.hub).start(subscription, caller, officer, params.task_id)
    return {"call_id": call.id, "state": call.state, "officer_id": officer.id}


class CallOfferParams(msgspec.Struct, forbid_unknown_fields=True):
    call_id: str
    sdp: Sdp


@method("call.offer", params=CallOfferParams, roles=CALLER_ROLES)
async def call_offer(ctx: CallContext, params: CallOfferParams) -> dict[str, Any]:
    """Pass the console's complete SDP offer (all candidates inside) to the accepting device."""
    relay = relay_for(ctx.hub)
    call = relay.console_call(_subscription_of(ctx), params.call_id)
    await relay.offer(call, params.sdp)
    return {"call_id": call.id, "state": call.state}


class CallStateParams(msgspec.Struct, forbid_unknown_fields=True):
    call_id: str
    state: MediaState


@method("call.state", params=CallStateParams, roles=CALLER_ROLES)
async def call_state(ctx: CallContext, params: CallStateParams) -> dict[str, Any]:
    """The console's media state (connected / reconnecting after an ICE failure)."""
    relay = relay_for(ctx.hub)
    call = relay.console_call(_subscription_of(ctx), params.call_id)
    await relay.media_state(call, CallState(params.state))
    return {"call_id": call.id, "state": call.state}


class CallHangupParams(msgspec.Struct, forbid_unknown_fields=True):
    call_id: str
    reason: Annotated[str, msgspec.Meta(max_length=64)] = "hangup_console"


@method("call.hangup", params=CallHangupParams, roles=CALLER_ROLES)
async def call_hangup(ctx: CallContext, params: CallHangupParams) -> dict[str, Any]:
    """End the call (idempotent for a call that already ended)."""
    relay = relay_for(ctx.hub)
    subscription = _subscription_of(ctx)
    ended = relay.ended.get(params.call_id)
    if ended is not None and ended.console is subscription:
        return {"call_id": ended.id, "state": ended.state, "reason": ended.reason}
    call = relay.console_call(subscription, params.call_id)
    await relay.end(call, params.reason)
    return {"call_id": call.id, "state": call.state, "reason": call.reason}


class RecordingChunkParams(msgspec.Struct, forbid_unknown_fields=True):
    call_id: str
    offset: Annotated[int, msgspec.Meta(ge=0)]
    data: str


@method("call.recording.chunk", params=RecordingChunkParams, roles=CALLER_ROLES)
async def call_recording_chunk(ctx: CallContext, params: RecordingChunkParams) -> dict[str, Any]:
    """Append base64 bytes of the call's recording (max 512 KiB raw per chunk, in order)."""
    relay = relay_for(ctx.hub)
    call = relay.recording_call(_subscription_of(ctx), params.call_id)
    try:
        data = base64.b64decode(params.data, validate=True)
    except (binascii.Error, ValueError):
        raise MethodError(ErrorCode.BAD_REQUEST, "data is not base64") from None
    if len(data) > MAX_RECORDING_CHUNK:
        raise MethodError(
            ErrorCode.BAD_REQUEST, f"chunk of {len(data)} bytes > {MAX_RECORDING_CHUNK}"
        )
    received = await relay.recording_chunk(_field_link(ctx), call, params.offset, data)
    return {"call_id": call.id, "received": received}


class RecordingEndParams(msgspec.Struct, forbid_unknown_fields=True):
    call_id: str
    size: Annotated[int, msgspec.Meta(ge=1)]
    sha256: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
    mime: Annotated[str, msgspec.Meta(pattern="^video/(webm|mp4)$")]


@method("call.recording.end", params=RecordingEndParams, roles=CALLER_ROLES)
async def call_recording_end(ctx: CallContext, params: RecordingEndParams) -> dict[str, Any]:
    """Check size and SHA-256, store the recording and attach it to the call's task."""
    relay = relay_for(ctx.hub)
    call = relay.recording_call(_subscription_of(ctx), params.call_id)
    attachment = await relay.recording_end(
        _field_link(ctx), call, params.size, params.sha256, params.mime
    )
    return attachment.to_json()
