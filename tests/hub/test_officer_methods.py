"""officers.roster, officer.enrol and officer.revoke against a real hub and real devices."""

from __future__ import annotations

import asyncio
import json
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from websockets.asyncio.client import connect

from console.hub.client import HubError
from console.hub.tls import client_context_trusting, self_signed, server_context
from tests.hub.support import PASSWORD, logged_in, run
from tests.hub.test_field_link import (
    OFFICER,
    closed_code,
    device,
    dispatch_task,
    field_db,  # noqa: F401  (module fixture reused)
    field_url,
    issue,
    position,
    recv_type,
    running_hub,
)

OTHER_DISTRICT_OFFICER = "officer-331003-0001"


async def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["officer_id"]: row for row in rows}


def test_roster_follows_a_real_device_and_is_scoped(field_db: str) -> None:  # noqa: F811
    token = issue(field_db)

    async def scenario() -> None:
        async with running_hub(field_db) as hub:
            events: list[dict[str, Any]] = []
            console = await logged_in(hub.url, "dispatcher", on_event=events.append)
            county = await logged_in(hub.url, "county", seat="seat-2")
            try:
                await console.subscribe(["officer.presence", "officer.moved"])
                before = by_id(await console.request("officers.roster"))
                assert set(before) == {
                    "officer-331002-0001",
                    "officer-331002-0002",
                    "officer-331003-0001",
                    "officer-331003-0002",
                }
                row = before[OFFICER]
                assert row["online"] is False
                assert row["name"] == "网格员1"
                assert row["role"] == "grid_officer"
                assert row["duty"] == "on_duty"
                assert row["grid_id"] == "331002-0001"
                assert row["current_task_id"] is None

                task_id = await dispatch_task(hub)
                ws, welcome = await device(hub, token)
                assert welcome["type"] == "welcome"
                await recv_type(ws, "task.assigned")
                await ws.send(position(battery=64.0, lon=121.031, lat=28.051))
                await wait_for(
                    lambda: (
                        any(e["topic"] == "officer.moved" for e in events)
                        and any(e["topic"] == "officer.presence" for e in events)
                    )
                )
                presence = next(e for e in events if e["topic"] == "officer.presence")
                assert presence["data"]["officer_id"] == OFFICER
                assert presence["data"]["online"] is True

                row = by_id(await console.request("officers.roster"))[OFFICER]
                assert row["online"] is True
                assert row["battery"] == 64.0
                assert row["lon"] == pytest.approx(121.031)
                assert row["lat"] == pytest.approx(28.051)
                assert row["current_task_id"] == task_id
                seen = datetime.fromisoformat(row["last_seen"])
                assert abs(datetime.now(UTC) - seen) < timedelta(seconds=10)

                await ws.close()
                await wait_for(
                    lambda: any(
                        e["topic"] == "officer.presence" and e["data"]["online"] is False
                        for e in events
                    )
                )
                row = by_id(await console.request("officers.roster"))[OFFICER]
                assert row["online"] is False
                assert row["battery"] == 64.0  # the last known level, from the stored fix
                assert row["last_seen"] is not None

                county_rows = by_id(await county.request("officers.roster"))
                assert set(county_rows) == {"officer-331002-0001", "officer-331002-0002"}
            finally:
                await console.close()
                await county.close()

    run(scenario)


def test_enrol_issues_a_working_token_and_revoke_locks_the_device_out(
    field_db: str,  # noqa: F811
) -> None:
    async def scenario() -> None:
        async with running_hub(field_db) as hub:
            dispatcher = await logged_in(hub.url, "dispatcher")
            admin = await logged_in(hub.url, "admin", seat="seat-2")
            try:
                enrolment = await dispatcher.request(
                    "officer.enrol", officer_id=OFFICER, ttl_days=30
                )
                assert enrolment["officer_id"] == OFFICER
                assert "tls_fingerprint_sha256" not in enrolment
                expires = datetime.fromisoformat(enrolment["expires_at"])
                assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)
                url = urlsplit(enrolment["enrol_url"])
                assert (url.scheme, url.netloc, url.path) == (
                    "http",
                    f"127.0.0.1:{hub.port}",
                    "/field/",
                )
                assert unquote(url.fragment) == f"token={enrolment['token']}"

                ws, welcome = await device(hub, enrolment["token"])
                assert welcome["officer"]["id"] == OFFICER

                given = await dispatcher.request(
                    "officer.enrol", officer_id=OFFICER, base_url="https://10.1.2.3:8443/x"
                )
                assert given["enrol_url"].startswith("https://10.1.2.3:8443/field/#token=")

                with pytest.raises(HubError) as denied:
                    await dispatcher.request("officer.revoke", officer_id=OFFICER)
                assert denied.value.code == "forbidden"
                revoked = await admin.request("officer.revoke", officer_id=OFFICER)
                assert revoked["officer_id"] == OFFICER
                assert len(revoked["revoked"]) >= 2
                # The open connection is closed now, not at the next 30 s sweep.
                assert await asyncio.wait_for(closed_code(ws), 2) == 4401

                again = await connect(field_url(hub))
                await again.send(
                    json.dumps(
                        {"type": "hello", "token": enrolment["token"], "device": {"id": "p"}}
                    )
                )
                assert await closed_code(again) == 4401
            finally:
                await dispatcher.close()
                await admin.close()

    run(scenario)


@pytest.mark.parametrize(
    ("username", "params", "code"),
    [
        ("county", {"officer_id": OTHER_DISTRICT_OFFICER}, "out_of_scope"),
        ("dispatcher", {"officer_id": "officer-nobody"}, "not_found"),
        ("dispatcher", {"officer_id": OFFICER, "ttl_days": 0}, "bad_request"),
        ("dispatcher", {"officer_id": OFFICER, "base_url": "10.0.0.1:80"}, "bad_request"),
        ("leader", {"officer_id": OFFICER}, "forbidden"),
    ],
)
def test_enrol_refusals(
    field_db: str,  # noqa: F811
    username: str,
    params: dict[str, Any],
    code: str,
) -> None:
    async def scenario() -> None:
        async with running_hub(field_db) as hub:
            client = await logged_in(hub.url, username)
            try:
                with pytest.raises(HubError) as refused:
                    await client.request("officer.enrol", **params)
                assert refused.value.code == code, refused.value.detail
            finally:
                await client.close()

    run(scenario)


def test_enrol_over_tls_carries_the_certificate_fingerprint(
    field_db: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    files = self_signed(tmp_path / "tls")
    client_ssl: ssl.SSLContext = client_context_trusting(files.cert)

    async def scenario() -> None:
        async with running_hub(
            field_db,
            tls=server_context(files),
            tls_fingerprint_sha256=files.fingerprint(),
        ) as hub:
            assert hub.url.startswith("wss://")
            console_url = hub.url.replace("127.0.0.1", "localhost")
            async with connect(console_url, ssl=client_ssl) as console:
                await console.send(
                    json.dumps(
                        {
                            "type": "login",
                            "id": 1,
                            "username": "dispatcher",
                            "password": PASSWORD,
                            "seat": "tls",
                        }
                    )
                )
                assert json.loads(await console.recv())["type"] == "login.ok"
                await console.send(
                    json.dumps(
                        {
                            "type": "request",
                            "id": 2,
                            "method": "officer.enrol",
                            "params": {"officer_id": OFFICER},
                        }
                    )
                )
                enrolment = json.loads(await console.recv())["result"]
            assert enrolment["tls_fingerprint_sha256"] == files.fingerprint()
            assert enrolment["enrol_url"].startswith(f"https://localhost:{hub.port}/field/#")
            ws, welcome = await device(hub, enrolment["token"], ssl=client_ssl)
            assert welcome["officer"]["id"] == OFFICER
            await ws.close()

    run(scenario)
