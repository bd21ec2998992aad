"""Console-link upload of complaint attachments (photos, recordings the reporter sent in).

The console link caps a message at 1 MiB, so a file travels in base64 chunks of at most
512 KiB: ``complaint.attachment.begin`` -> ``chunk`` ... -> ``end``. The bytes land in the
field link's content-addressed store (one attachment store for devices and consoles) and the
row goes to the same ``attachments`` table, its ``task_id`` column holding the complaint id
(complaint and task ids never collide: ``C-…`` vs ``T-…``) and ``kind`` = ``complaint``.
``task.get`` of the complaint's tasks and ``complaint.get`` list them.

A begin for the same user, complaint, size and SHA-256 gets the same ``upload_id`` and the
number of bytes already stored, so an interrupted upload resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import msgspec

from console.hub.dispatch_methods import DISPATCH_ROLES, audit_entry, visible_complaint
from console.hub.field_link import (
    ATTACHMENT_ADDED,
    FIELD_LINKS,
    FieldLink,
)
from console.hub.files import append_chunk, sha256_of
from console.hub.protocol import ErrorCode
from console.hub.registry import MethodError, method
from console.hub.state import CallContext, utc_now
from console.store.dispatch_repo import DispatchRepo
from console.store.field_repo import Attachment

COMPLAINT_KIND = "complaint"
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_CHUNK_BYTES = 512 * 1024

Sha256Hex = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]


class BeginParams(msgspec.Struct, forbid_unknown_fields=True):
    complaint_id: str
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    mime: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    size: Annotated[int, msgspec.Meta(ge=1)]
    sha256: Sha256Hex


class ChunkParams(msgspec.Struct, forbid_unknown_fields=True):
    upload_id: str
    offset: Annotated[int, msgspec.Meta(ge=0)]
    data_b64: str


class EndParams(msgspec.Struct, forbid_unknown_fields=True):
    upload_id: str


@dataclass(slots=True)
class _Upload:
    username: str
    complaint_id: str
    district_adcode: str | None
    params: BeginParams
    partial: Path
    received: int
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


_UPLOADS: dict[int, dict[str, _Upload]] = {}
"""Open uploads of each running hub state (by id), by upload id."""


def attachment_json(attachment: Attachment, name: str | None = None) -> dict[str, Any]:
    """A complaint attachment as sent to consoles (``complaint_id`` instead of ``task_id``)."""
    return {
        "attachment_id": attachment.id,
        "complaint_id": attachment.task_id,
        "uploaded_by": attachment.officer_id,
        "kind": attachment.kind,
        "mime": attachment.mime,
        "size": attachment.size,
        "sha256": attachment.sha256,
        "created_at": attachment.created_at.isoformat(),
        **({} if name is None else {"name": name}),
    }


def _link(ctx: CallContext) -> FieldLink:
    link = FIELD_LINKS.get(id(ctx.hub))
    if link is None:
        raise MethodError(ErrorCode.NOT_FOUND, "this hub has no attachment store (field link)")
    return link


def _upload(ctx: CallContext, upload_id: str) -> _Upload:
    upload = _UPLOADS.get(id(ctx.hub), {}).get(upload_id)
    if upload is None or upload.username != ctx.principal.user.username:
        raise MethodError(
            ErrorCode.NOT_FOUND,
            f"no upload {upload_id!r} of yours: call complaint.attachment.begin first",
        )
    return upload


@method("complaint.attachment.begin", params=BeginParams, roles=DISPATCH_ROLES)
async def attachment_begin(ctx: CallContext, params: BeginParams) -> dict[str, Any]:
    """Open (or resume) an upload; answer its id and how many bytes are already stored."""
    if params.size > MAX_FILE_BYTES:
        raise MethodError(
            ErrorCode.BAD_REQUEST,
            f"file {params.name!r} has {params.size} bytes; the limit is {MAX_FILE_BYTES} "
            f"({MAX_FILE_BYTES // (1024 * 1024)} MB)",
        )
    complaint = await visible_complaint(ctx, params.complaint_id)
    link = _link(ctx)
    username = ctx.principal.user.username
    upload_id = hashlib.sha256(
        f"{username}\0{complaint.id}\0{params.sha256}\0{params.size}".encode()
    ).hexdigest()[:32]
    partial = link.attachments_dir / "partial" / f"complaint-{upload_id}.part"
    partial.parent.mkdir(parents=True, exist_ok=True)
    received = partial.stat().st_size if partial.exists() else 0
    if received > params.size:
        partial.unlink()
        received = 0
    _UPLOADS.setdefault(id(ctx.hub), {})[upload_id] = _Upload(
        username, complaint.id, complaint.district_adcode, params, partial, received
    )
    return {"upload_id": upload_id, "received": received, "max_chunk_bytes": MAX_CHUNK_BYTES}


@method("complaint.attachment.chunk", params=ChunkParams, roles=DISPATCH_ROLES)
async def attachment_chunk(ctx: CallContext, params: ChunkParams) -> dict[str, Any]:
    """Append one chunk at ``offset`` (must equal the bytes stored so far)."""
    upload = _upload(ctx, params.upload_id)
    try:
        data = base64.b64decode(params.data_b64, validate=True)
    except (binascii.Error, ValueError):
        raise MethodError(ErrorCode.BAD_REQUEST, "data_b64 is not valid base64") from None
    if len(data) > MAX_CHUNK_BYTES:
        raise MethodError(ErrorCode.BAD_REQUEST, f"chunk of {len(data)} bytes > {MAX_CHUNK_BYTES}")
    async with upload.lock:
        if params.offset != upload.received:
            raise MethodError(
                ErrorCode.CONFLICT,
                f"offset {params.offset} but {upload.received} bytes are stored: "
                f"send from {upload.received}",
                {"received": upload.received},
            )
        if upload.received + len(data) > upload.params.size:
            raise MethodError(
                ErrorCode.BAD_REQUEST,
                f"chunk goes past the announced size {upload.params.size}",
            )
        await asyncio.to_thread(append_chunk, upload.partial, data)
        upload.received += len(data)
        return {"upload_id": params.upload_id, "received": upload.received}


@method("complaint.attachment.end", params=EndParams, roles=DISPATCH_ROLES)
async def attachment_end(ctx: CallContext, params: EndParams) -> dict[str, Any]:
    """Check size and SHA-256, store the file by its hash and link it to the complaint."""
    upload = _upload(ctx, params.upload_id)
    link = _link(ctx)
    begin = upload.params
    async with upload.lock:
        if upload.received != begin.size:
            raise MethodError(
                ErrorCode.BAD_REQUEST,
                f"{upload.received} of {begin.size} bytes received: send the rest first",
                {"received": upload.received},
            )
        digest = await asyncio.to_thread(sha256_of, upload.partial)
        _UPLOADS[id(ctx.hub)].pop(params.upload_id, None)
        if digest != begin.sha256:
            upload.partial.unlink(missing_ok=True)
            raise MethodError(
                ErrorCode.BAD_REQUEST,
                f"SHA-256 of the received bytes is {digest}, not {begin.sha256}; "
                "the partial file was discarded, upload again",
                {"reason": "hash_mismatch", "sha256": digest},
            )
        target = link.attachment_path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(upload.partial, target)
    now = utc_now()
    attachment = await ctx.hub.db.run(
        link.repo.add_attachment,
        Attachment(
            id=uuid.uuid4().hex,
            task_id=upload.complaint_id,
            officer_id=upload.username,
            district_adcode=upload.district_adcode,
            kind=COMPLAINT_KIND,
            mime=begin.mime,
            size=begin.size,
            sha256=digest,
            upload_id=f"complaint-{params.upload_id}",  # the same file again: the first record
            created_at=now,
        ),
    )
    await ctx.hub.db.run(
        DispatchRepo(ctx.hub.store).audit,
        audit_entry(
            ctx,
            now,
            "complaint.attachment",
            complaint_id=upload.complaint_id,
            detail={"attachment_id": attachment.id, "name": begin.name, "size": begin.size},
        ),
    )
    ctx.hub.bus.publish(
        ATTACHMENT_ADDED,
        {"complaint_id": upload.complaint_id, **attachment_json(attachment, begin.name)},
        upload.district_adcode,
    )
    return {"attachment": attachment_json(attachment, begin.name)}
