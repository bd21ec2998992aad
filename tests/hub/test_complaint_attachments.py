"""Complaint attachments over the console link: real hub, real websocket clients, real files."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import pytest

from console.hub.client import HubClient, HubError
from console.hub.complaint_attachments import MAX_CHUNK_BYTES, MAX_FILE_BYTES
from tests.hub.support import IN_331002, IN_331003, logged_in, run

CHUNK = 256 * 1024


def complaint_params(point: tuple[float, float]) -> dict[str, Any]:
    return {
        "channel": "hotline_12369",
        "category": "water",
        "urgency": "urgent",
        "reporter_name": "张三丰",
        "reporter_phone": "13812345678",
        "description": "排污口冒黑水，附现场照片",
        "lon": point[0],
        "lat": point[1],
    }


async def upload(
    client: HubClient, complaint_id: str, data: bytes, sha256: str | None = None
) -> dict[str, Any]:
    begin = await client.request(
        "complaint.attachment.begin",
        complaint_id=complaint_id,
        name="现场.jpg",
        mime="image/jpeg",
        size=len(data),
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
    )
    offset = begin["received"]
    while offset < len(data):
        piece = data[offset : offset + CHUNK]
        reply = await client.request(
            "complaint.attachment.chunk",
            upload_id=begin["upload_id"],
            offset=offset,
            data_b64=base64.b64encode(piece).decode(),
        )
        offset = reply["received"]
    result: dict[str, Any] = await client.request(
        "complaint.attachment.end", upload_id=begin["upload_id"]
    )
    return result


def test_chunked_upload_is_linked_to_complaint_and_its_task(hub_url: str) -> None:
    data = os.urandom(700 * 1024)  # three chunks; larger than half the 1 MiB message cap

    async def scenario() -> None:
        county = await logged_in(hub_url, "county")
        try:
            created = await county.request("complaint.create", **complaint_params(IN_331002))
            complaint_id = created["complaint"]["id"]
            attachment = (await upload(county, complaint_id, data))["attachment"]
            assert attachment["complaint_id"] == complaint_id
            assert attachment["size"] == len(data)
            assert attachment["sha256"] == hashlib.sha256(data).hexdigest()
            assert attachment["name"] == "现场.jpg"

            task = (await county.request("task.dispatch", complaint_id=complaint_id))["task"]
            details = await county.request("task.get", task_id=task["id"])
            listed = {a["attachment_id"]: a for a in details["attachments"]}
            assert listed[attachment["attachment_id"]]["kind"] == "complaint"
            complaint = await county.request("complaint.get", id=complaint_id)
            assert [a["attachment_id"] for a in complaint["attachments"]] == [
                attachment["attachment_id"]
            ]
            link = await county.request("attachment.url", attachment_id=attachment["attachment_id"])
            assert link["attachment"]["sha256"] == attachment["sha256"]
        finally:
            await county.close()

    run(scenario)


def test_resume_after_interruption_continues_from_stored_bytes(hub_url: str) -> None:
    data = os.urandom(300 * 1024)

    async def scenario() -> None:
        county = await logged_in(hub_url, "county")
        try:
            created = await county.request("complaint.create", **complaint_params(IN_331002))
            params = {
                "complaint_id": created["complaint"]["id"],
                "name": "录音.m4a",
                "mime": "audio/mp4",
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
            first = await county.request("complaint.attachment.begin", **params)
            await county.request(
                "complaint.attachment.chunk",
                upload_id=first["upload_id"],
                offset=0,
                data_b64=base64.b64encode(data[:CHUNK]).decode(),
            )
            with pytest.raises(HubError) as wrong_offset:
                await county.request(
                    "complaint.attachment.chunk",
                    upload_id=first["upload_id"],
                    offset=0,
                    data_b64=base64.b64encode(data[:10]).decode(),
                )
            assert wrong_offset.value.code == "conflict"
            again = await county.request("complaint.attachment.begin", **params)
            assert again == {**first, "received": CHUNK}
            attachment = (await upload(county, params["complaint_id"], data))["attachment"]
            assert attachment["size"] == len(data)
        finally:
            await county.close()

    run(scenario)


def test_hash_mismatch_is_refused_and_partial_discarded(hub_url: str) -> None:
    data = os.urandom(40 * 1024)

    async def scenario() -> None:
        county = await logged_in(hub_url, "county")
        try:
            created = await county.request("complaint.create", **complaint_params(IN_331002))
            complaint_id = created["complaint"]["id"]
            with pytest.raises(HubError) as mismatch:
                await upload(county, complaint_id, data, sha256="0" * 64)
            assert mismatch.value.code == "bad_request"
            assert mismatch.value.data["reason"] == "hash_mismatch"
            resumed = await county.request(
                "complaint.attachment.begin",
                complaint_id=complaint_id,
                name="现场.jpg",
                mime="image/jpeg",
                size=len(data),
                sha256="0" * 64,
            )
            assert resumed["received"] == 0  # the partial file is gone
            complaint = await county.request("complaint.get", id=complaint_id)
            assert complaint["attachments"] == []
        finally:
            await county.close()

    run(scenario)


def test_size_cap_scope_role_and_foreign_upload(hub_url: str) -> None:
    async def scenario() -> None:
        city = await logged_in(hub_url, "dispatcher")
        county = await logged_in(hub_url, "county", seat="seat-2")
        leader = await logged_in(hub_url, "leader", seat="seat-3")
        try:
            other = await city.request("complaint.create", **complaint_params(IN_331003))
            other_id = other["complaint"]["id"]
            begin = {"name": "a.bin", "mime": "application/octet-stream", "sha256": "a" * 64}
            with pytest.raises(HubError) as too_large:
                await city.request(
                    "complaint.attachment.begin",
                    complaint_id=other_id,
                    size=MAX_FILE_BYTES + 1,
                    **begin,
                )
            assert too_large.value.code == "bad_request"
            assert "limit" in too_large.value.detail
            with pytest.raises(HubError) as out_of_scope:
                await county.request(
                    "complaint.attachment.begin", complaint_id=other_id, size=10, **begin
                )
            assert out_of_scope.value.code == "out_of_scope"
            with pytest.raises(HubError) as forbidden:
                await leader.request(
                    "complaint.attachment.begin", complaint_id=other_id, size=10, **begin
                )
            assert forbidden.value.code == "forbidden"
            opened = await city.request(
                "complaint.attachment.begin", complaint_id=other_id, size=10, **begin
            )
            with pytest.raises(HubError) as foreign:
                await county.request("complaint.attachment.end", upload_id=opened["upload_id"])
            assert foreign.value.code == "not_found"
            with pytest.raises(HubError) as big_chunk:
                await city.request(
                    "complaint.attachment.chunk",
                    upload_id=opened["upload_id"],
                    offset=0,
                    data_b64=base64.b64encode(bytes(MAX_CHUNK_BYTES + 1)).decode(),
                )
            assert big_chunk.value.code == "bad_request"
        finally:
            for client in (city, county, leader):
                await client.close()

    run(scenario)
