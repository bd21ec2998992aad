"""Field link against a real hub on 127.0.0.1 with real websocket clients."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from console.core.geo import Datum, convert
from console.core.paths import data_dir
from console.hub.field_link import PositionWriter
from console.hub.field_protocol import FIELD_PATH, FieldLimits
from console.hub.server import Hub
from console.hub.state import HubConfig
from console.hub.tls import client_context_trusting, self_signed, server_context
from console.store import Store
from console.store.field_repo import FieldRepo, Fix
from tests.hub.support import IN_331002, logged_in, run, seed_store, small_world

OFFICER = "officer-331002-0001"
FAST = FieldLimits(hello_timeout_s=0.5, position_flush_s=0.05, moved_coalesce_s=0.05)


@pytest.fixture(scope="module")
def field_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('field') / 'hub.sqlite3'}"
    seed_store(url, small_world())
    return url


def issue(url: str, officer_id: str = OFFICER) -> str:
    store = Store.open(url)
    try:
        return FieldRepo(store.engine).issue_token(officer_id, datetime.now(UTC)).token
    finally:
        store.close()


@asynccontextmanager
async def running_hub(url: str, **config: Any) -> AsyncIterator[Hub]:
    config.setdefault("field_limits", FAST)
    hub = await Hub.start(HubConfig(db_url=url, port=0, monitoring=None, **config))
    try:
        yield hub
    finally:
        await hub.stop()


def field_url(hub: Hub) -> str:
    return hub.url.replace("/ws/console", FIELD_PATH)


async def device(
    hub: Hub, token: str, last_seq: int = 0, **kwargs: Any
) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(field_url(hub), **kwargs)
    await ws.send(
        json.dumps(
            {
                "type": "hello",
                "token": token,
                "device": {"id": "phone-1", "model": "test", "app_version": "1"},
                "last_seq": last_seq,
            }
        )
    )
    return ws, json.loads(await ws.recv())


async def recv_type(ws: ClientConnection, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next message of ``kind`` (task pushes may interleave with answers)."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message["type"] == kind:
            return message


async def closed_code(ws: ClientConnection) -> int | None:
    """Read until the hub closes the connection; its close code."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    except ConnectionClosed:
        return ws.close_code


async def wait_for_value(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def position(**fields: Any) -> str:
    message = {"type": "position", "lat": 28.05, "lon": 121.03, "accuracy": 8, "ts": _now_ms()}
    message.update(fields)
    return json.dumps(message)


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


async def dispatch_task(hub: Hub, officer_id: str = OFFICER, text: str = "污水直排") -> str:
    client = await logged_in(hub.url, "dispatcher")
    try:
        created = await client.request(
            "complaint.create",
            channel="hotline_12369",
            category="water",
            urgency="urgent",
            reporter_name="张三",
            reporter_phone="13900000000",
            description=text,
            lon=IN_331002[0],
            lat=IN_331002[1],
        )
        result = await client.request(
            "task.dispatch", complaint_id=created["complaint"]["id"], officer_id=officer_id
        )
        return str(result["task"]["id"])
    finally:
        await client.close()


# --- authentication and limits ---------------------------------------------------------------


def test_hello_welcome_and_token_refusals(field_db: str) -> None:
    token = issue(field_db)

    async def scenario() -> None:
        async with running_hub(field_db) as hub:
            ws, welcome = await device(hub, token)
            assert welcome["type"] == "welcome"
            assert welcome["officer"]["id"] == OFFICER
            assert welcome["officer"]["district_adcode"] == "331002"
            assert welcome["protocol"] == 1
            assert welcome["limits"]["max_chunk_bytes"] == 256 * 1024
            await ws.close()

            bad = await connect(field_url(hub))
            await bad.send(json.dumps({"type": "hello", "token": "nope", "device": {"id": "x"}}))
            assert await closed_code(bad) == 4401

            store = Store.open(field_db)
            FieldRepo(store.engine).revoke(datetime.now(UTC), officer_id=OFFICER)
            store.close()
            revoked = await connect(field_url(hub))
            await revoked.send(json.dumps({"type": "hello", "token": token, "device": {"id": "x"}}))
            assert await closed_code(revoked) == 4401

            silent = await connect(field_url(hub))
            assert await closed_code(silent) == 4408

    run(scenario)


def test_errors_keep_connection_and_positions_are_stored(field_db: str) -> None:
    token = issue(field_db, "officer-331002-0002")
    events: list[dict[str, Any]] = []

    async def scenario() -> None:
        async with running_hub(field_db) as hub:
            console = await logged_in(hub.url, "dispatcher", on_event=events.append)
            await console.request("events.subscribe", topics=["officer.moved", "officer.presence"])
            ws, _ = await device(hub, token)
            cases = [
                ("{not json", "bad_json"),
                (json.dumps({"type": "teleport"}), "unknown_type"),
                (json.dumps({"type": "position", "lat": "north", "msg_id": 7}), "schema"),
                (position(lat=95.0, msg_id="m1"), "bad_coordinates"),
                (position(lat=0.0, lon=0.0), "bad_coordinates"),
                (position(ts=_now_ms() + 3_600_000), "bad_timestamp"),
            ]
            for raw, code in cases:
                await ws.send(raw)
                error = await recv_type(ws, "error")
                assert error["code"] == code, error
            assert error["ref"] is None
            # GCJ-02 input is stored as WGS84 (the GCJ offset is a few hundred metres).
            await ws.send(position(datum="gcj02", battery=81, speed=1.2, heading=90))
            await ws.send(json.dumps({"type": "pong"}))
            await asyncio.sleep(0.4)
            await ws.close()
            await asyncio.sleep(0.2)
            await console.close()
        store = Store.open(field_db)
        try:
            repo = FieldRepo(store.engine)
            latest = {fix.officer_id: fix for fix in repo.latest_positions()}
            fix = latest["officer-331002-0002"]
            assert fix.battery == 81
            expected = convert(121.03, 28.05, Datum.GCJ02, Datum.WGS84)
            assert (fix.lon, fix.lat) == pytest.approx(expected, abs=1e-7)
            assert len(repo.track("officer-331002-0002")) == 1
        finally:
            store.close()
        topics = [event["topic"] for event in events]
        assert "officer.moved" in topics
        presence = [e["data"]["online"] for e in events if e["topic"] == "officer.presence"]
        assert presence == [True, False]

    run(scenario)


def test_oversize_and_rate_limit_close(field_db: str) -> None:
    token = issue(field_db)
    limits = replace(FAST, rate_per_s=20.0, burst_s=1.0)

    async def scenario() -> None:
        async with running_hub(field_db, max_message_bytes=64 * 1024, field_limits=limits) as hub:
            ws, _ = await device(hub, token)
            await ws.send(json.dumps({"type": "pong", "msg_id": "x" * 70_000}))
            assert await closed_code(ws) == 1009
            ws, _ = await device(hub, token)
            for _ in range(60):
                try:
                    await ws.send(json.dumps({"type": "pong"}))
                except ConnectionClosed:
                    break
            assert await closed_code(ws) == 4429

    run(scenario)


# --- delivery --------------------------------------------------------------------------------


def test_delivery_order_ack_idempotent_and_task_actions(field_db: str) -> None:
    officer = "officer-331002-0001"
    token = issue(field_db, officer)
    events: list[dict[str, Any]] = []

    async def scenario() -> None:
        async with running_hub(field_db) as hub:
            console = await logged_in(hub.url, "dispatcher", on_event=events.append)
            await console.request("events.subscribe", topics=["outbox.delivered", "outbox.acked"])
            first = await dispatch_task(hub, officer, "第一件")
            ws, _ = await device(hub, token)
            pushed = await recv_type(ws, "task.assigned")
            assert pushed["task"]["id"] == first
            assert pushed["task"]["geofence_m"] == 300
            second = await dispatch_task(hub, officer, "第二件")
            pushed2 = await recv_type(ws, "task.assigned")
            assert pushed2["task"]["id"] == second
            assert pushed2["seq"] > pushed["seq"]
            for _ in range(3):  # duplicate acks are fine
                await ws.send(json.dumps({"type": "task.ack", "seq": pushed["seq"]}))
            await ws.send(json.dumps({"type": "task.ack", "seq": pushed2["seq"]}))
            await ws.send(json.dumps({"type": "task.status", "task_id": first, "action": "accept"}))
            accepted = await recv_type(ws, "task.status.ok")
            assert accepted["state"] == "accepted"
            await ws.send(json.dumps({"type": "task.status", "task_id": first, "action": "depart"}))
            await recv_type(ws, "task.status.ok")
            far = {"type": "task.status", "task_id": first, "action": "arrive"}
            await ws.send(json.dumps({**far, "lon": 121.09, "lat": 28.09}))
            error = await recv_type(ws, "error")
            assert error["code"] == "outside_geofence"
            await ws.send(json.dumps({**far, "lon": IN_331002[0], "lat": IN_331002[1]}))
            arrived = await recv_type(ws, "task.status.ok")
            assert arrived["state"] == "on_site"
            assert arrived["checkin"]["inside"]
            await ws.send(
                json.dumps(
                    {"type": "task.status", "task_id": "T-nope", "action": "accept", "msg_id": 3}
                )
            )
            unknown = await recv_type(ws, "error")
            assert unknown["code"] == "unknown_task"
            assert unknown["ref"] == 3
            await ws.close()
            # Acked entries are not sent again after a reconnect from last_seq 0.
            ws, _ = await device(hub, token)
            with pytest.raises(TimeoutError):
                await recv_type(ws, "task.assigned", timeout=0.5)
            await ws.close()
            detail = await console.request("task.get", task_id=first)
            assert detail["task"]["state"] == "on_site"
            await asyncio.sleep(0.2)
            await console.close()
        acked = [e for e in events if e["topic"] == "outbox.acked"]
        assert [e["data"]["seq"] for e in acked] == [pushed["seq"], pushed2["seq"]]

    run(scenario)


# --- attachments -----------------------------------------------------------------------------


def test_upload_resumes_and_hash_mismatch_is_rejected(field_db: str) -> None:
    officer = "officer-331002-0001"
    token = issue(field_db, officer)
    content = bytes(range(256)) * 1500  # 384,000 bytes: two chunks
    sha = hashlib.sha256(content).hexdigest()
    chunk = 256 * 1024

    async def scenario() -> None:
        async with running_hub(field_db) as hub:
            task_id = await dispatch_task(hub, officer, "照片")
            begin = {
                "type": "upload.begin",
                "upload_id": "photo-0001",
                "task_id": task_id,
                "kind": "photo",
                "mime": "image/jpeg",
                "size": len(content),
                "sha256": sha,
            }
            ws, _ = await device(hub, token)
            await ws.send(json.dumps(begin))
            assert (await recv_type(ws, "upload.ready"))["received"] == 0
            data = base64.b64encode(content[:chunk]).decode()
            await ws.send(
                json.dumps(
                    {"type": "upload.chunk", "upload_id": "photo-0001", "offset": 0, "data": data}
                )
            )
            assert (await recv_type(ws, "upload.progress"))["received"] == chunk
            await ws.close()  # the phone lost its signal

            ws, _ = await device(hub, token)
            await ws.send(json.dumps(begin))
            ready = await recv_type(ws, "upload.ready")
            assert ready["received"] == chunk
            rest = base64.b64encode(content[chunk:]).decode()
            await ws.send(
                json.dumps(
                    {
                        "type": "upload.chunk",
                        "upload_id": "photo-0001",
                        "offset": chunk,
                        "data": rest,
                    }
                )
            )
            await recv_type(ws, "upload.progress")
            await ws.send(json.dumps({"type": "upload.end", "upload_id": "photo-0001"}))
            done = await recv_type(ws, "upload.done")

            wrong = {**begin, "upload_id": "photo-0002", "sha256": "0" * 64, "size": 10}
            await ws.send(json.dumps(wrong))
            await recv_type(ws, "upload.ready")
            await ws.send(
                json.dumps(
                    {
                        "type": "upload.chunk",
                        "upload_id": "photo-0002",
                        "offset": 0,
                        "data": base64.b64encode(b"0123456789").decode(),
                    }
                )
            )
            await recv_type(ws, "upload.progress")
            await ws.send(json.dumps({"type": "upload.end", "upload_id": "photo-0002"}))
            assert (await recv_type(ws, "error"))["code"] == "hash_mismatch"
            await ws.send(json.dumps({"type": "upload.end", "upload_id": "photo-0003"}))
            assert (await recv_type(ws, "error"))["code"] == "upload_unknown"
            await ws.close()

            console = await logged_in(hub.url, "dispatcher")
            link = await console.request("attachment.url", attachment_id=done["attachment_id"])
            await console.close()
            http = hub.url.replace("ws://", "http://").replace("/ws/console", "")
            body = await asyncio.to_thread(_get, http + link["path"])
            assert hashlib.sha256(body).hexdigest() == sha
            with pytest.raises(urllib.error.HTTPError) as refused:
                await asyncio.to_thread(_get, http + link["path"].replace("sig=", "sig=0"))
            assert refused.value.code == 403

    run(scenario)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        data: bytes = response.read()
        return data


# --- TLS -------------------------------------------------------------------------------------


def test_wss_with_self_signed_certificate(field_db: str, tmp_path: Path) -> None:
    files = self_signed(tmp_path / "tls")
    assert self_signed(tmp_path / "tls").cert.read_bytes() == files.cert.read_bytes()
    assert len(files.fingerprint().split(":")) == 32
    token = issue(field_db)

    async def scenario() -> None:
        async with running_hub(field_db, tls=server_context(files)) as hub:
            assert hub.url.startswith("wss://")
            ws, welcome = await device(hub, token, ssl=client_context_trusting(files.cert))
            assert welcome["type"] == "welcome"
            await ws.close()
            with pytest.raises(ssl.SSLCertVerificationError):
                await connect(field_url(hub), ssl=ssl.create_default_context())

    run(scenario)


# --- load paths: compression, batched moves, writer back-pressure, the sweep ----------------


def test_field_link_declines_permessage_deflate_and_the_console_link_keeps_it(
    field_db: str,
) -> None:
    token = issue(field_db)

    async def scenario() -> None:
        async with running_hub(field_db) as hub:
            ws, welcome = await device(hub, token)  # the client offers permessage-deflate
            console = await connect(hub.url)
            try:
                assert welcome["type"] == "welcome"
                assert ws.response is not None
                assert console.response is not None
                assert "Sec-WebSocket-Extensions" not in ws.response.headers
                offered = console.response.headers["Sec-WebSocket-Extensions"]
                assert "permessage-deflate" in offered
                assert "server_max_window_bits=12" in offered  # the hub's own settings
                await ws.send(position())  # the link works uncompressed
                await ws.send(json.dumps({"type": "teleport", "msg_id": 3}))
                assert (await recv_type(ws, "error"))["ref"] == 3
            finally:
                await ws.close()
                await console.close()

    run(scenario)


def test_officer_moved_is_one_event_per_district_with_each_officers_newest_fix(
    field_db: str,
) -> None:
    officers = ["officer-331002-0001", "officer-331002-0002", "officer-331003-0001"]
    tokens = [issue(field_db, officer_id) for officer_id in officers]
    # The coalescer never fires on its own here: the test ticks it (publish_moved).
    limits = replace(FAST, moved_coalesce_s=3600.0)

    async def scenario() -> None:
        async with running_hub(field_db, field_limits=limits) as hub:
            city_events: list[dict[str, Any]] = []
            county_events: list[dict[str, Any]] = []
            city = await logged_in(hub.url, "dispatcher", on_event=city_events.append)
            county = await logged_in(
                hub.url, "county", seat="seat-2", on_event=county_events.append
            )
            await city.subscribe(["officer.moved"])
            await county.subscribe(["officer.moved"])
            devices = [(await device(hub, token))[0] for token in tokens]
            try:
                now = _now_ms()
                for ws, lon in zip(devices, (121.031, 121.032, 121.171), strict=True):
                    await ws.send(position(lon=lon - 0.001, ts=now - 2000))
                    await ws.send(position(lon=lon, ts=now - 1000, battery=55))
                    await ws.send(position(lon=lon + 0.5, ts=now - 60_000))  # late, buffered
                await wait_for_value(lambda: hub.field.positions_received == 9)
                hub.field.publish_moved()
                await wait_for_value(lambda: len(city_events) == 2 and len(county_events) == 1)
                hub.field.publish_moved()  # nothing moved since: no event
                await hub.field.flush_positions()
                await asyncio.sleep(0.2)
                assert len(city_events) == 2
                by_district = {
                    tuple(sorted(m["officer_id"] for m in e["data"])): e["data"]
                    for e in city_events
                }
                assert set(by_district) == {tuple(officers[:2]), (officers[2],)}
                assert county_events[0]["data"] == by_district[tuple(officers[:2])]
                for moves in by_district.values():
                    for move in moves:
                        expected = {officers[0]: 121.031, officers[1]: 121.032}.get(
                            move["officer_id"], 121.171
                        )
                        assert move["lon"] == pytest.approx(expected)  # newest, not the late one
                        assert move["battery"] == 55
                        assert move["duty"] == "on_duty"
                store = Store.open(field_db)
                try:
                    repo = FieldRepo(store.engine)
                    assert all(len(repo.track(officer_id)) >= 3 for officer_id in officers)
                    latest = {fix.officer_id: fix for fix in repo.latest_positions()}
                    assert latest[officers[2]].lon == pytest.approx(121.171)
                finally:
                    store.close()
            finally:
                for ws in devices:
                    await ws.close()
                await city.close()
                await county.close()

    run(scenario)


def test_position_writer_holds_readers_when_the_backlog_is_full(field_db: str) -> None:
    store = Store.open(field_db)
    repo = FieldRepo(store.engine)
    writer = PositionWriter(repo, backlog=3)
    before = len(repo.track("officer-331003-0002"))

    async def scenario() -> None:
        now = datetime.now(UTC)
        for second in range(3):
            assert not writer.full
            writer.add(Fix("officer-331003-0002", now - timedelta(seconds=second), 121.2, 28.1, 5))
        assert writer.full
        reader = asyncio.create_task(writer.wait_for_room())
        await asyncio.sleep(0.05)
        assert not reader.done()  # a device reader waits here: TCP back-pressure
        await writer.flush()
        await asyncio.wait_for(reader, 1)
        assert not writer.full
        assert writer.stored == 3

    try:
        run(scenario)
        assert len(repo.track("officer-331003-0002")) == before + 3
    finally:
        writer.shutdown()
        store.close()


def test_sweep_locks_out_tokens_revoked_elsewhere_and_pushes_another_hubs_outbox(
    field_db: str,
) -> None:
    officer = "officer-331002-0002"
    store = Store.open(field_db)
    try:
        repo = FieldRepo(store.engine)
        doomed_token = repo.issue_token(officer, datetime.now(UTC))
        token = repo.issue_token(officer, datetime.now(UTC)).token
    finally:
        store.close()
    limits = replace(FAST, outbox_poll_s=0.2)

    async def scenario() -> None:
        async with (
            running_hub(field_db, field_limits=limits) as hub,
            running_hub(field_db) as other,
        ):
            doomed, _ = await device(hub, doomed_token.token)
            ws, _ = await device(hub, token)
            try:
                # Revoked by the CLI (another process): the sweep closes that device only.
                store = Store.open(field_db)
                try:
                    FieldRepo(store.engine).revoke(
                        datetime.now(UTC), token_id=doomed_token.token_id
                    )
                finally:
                    store.close()
                assert await asyncio.wait_for(closed_code(doomed), 2) == 4401
                # A task dispatched through another hub on the same database reaches the
                # device through this hub's sweep (the other hub's bus is not this one's).
                task_id = await dispatch_task(other, officer, "另一台汇聚服务器派发")
                pushed = await recv_type(ws, "task.assigned", timeout=3.0)
                while pushed["task"]["id"] != task_id:  # entries earlier tests left
                    pushed = await recv_type(ws, "task.assigned", timeout=3.0)
            finally:
                await doomed.close()
                await ws.close()

    run(scenario)


def test_abandoned_partial_uploads_are_deleted_and_recent_ones_kept(field_db: str) -> None:
    partial = data_dir() / "attachments" / "partial"
    partial.mkdir(parents=True, exist_ok=True)
    abandoned, recent, not_an_upload = (
        partial / "abandoned.part", partial / "recent.part", partial / "notes.txt"
    )  # fmt: skip
    for path in (abandoned, recent, not_an_upload):
        path.write_bytes(b"half a photo")
    eight_days_ago = time.time() - 8 * 24 * 3600
    for path in (abandoned, not_an_upload):
        os.utime(path, (eight_days_ago, eight_days_ago))

    async def scenario() -> None:
        async with running_hub(field_db) as hub:
            await wait_for_value(lambda: not abandoned.exists())  # the first sweep, at start
            assert recent.exists()  # a device may still resume it
            assert not_an_upload.exists()
            a_week_on = time.time() + 8 * 24 * 3600
            assert hub.field.purge_partial_uploads(now=a_week_on) == 1
            assert not recent.exists()

    run(scenario)


def test_reassigning_tells_the_previous_officers_device_at_once(field_db: str) -> None:
    """The cancellation for the officer a task is taken from goes out now, not at the sweep."""
    officer, other = "officer-331002-0001", "officer-331002-0002"
    token = issue(field_db, officer)

    async def scenario() -> None:
        async with running_hub(field_db) as hub:  # the sweep runs every 30 s
            task_id = await dispatch_task(hub, officer, "改派前")
            ws, _ = await device(hub, token)
            assigned = await recv_type(ws, "task.assigned")
            while assigned["task"]["id"] != task_id:  # entries left by earlier tests first
                assigned = await recv_type(ws, "task.assigned")
            console = await logged_in(hub.url, "dispatcher")
            try:
                detail = await console.request("task.get", task_id=task_id)
                await console.request(
                    "task.action",
                    task_id=task_id,
                    action="reassign",
                    expected_version=detail["task"]["version"],
                    payload={"reason": "就近改派", "to": other},
                )
            finally:
                await console.close()
            cancelled = await recv_type(ws, "task.cancelled", timeout=2.0)
            assert cancelled["task"]["id"] == task_id
            assert cancelled["task"]["reason"] == "就近改派"
            await ws.close()

    run(scenario)
