"""The console link end to end: real websocket clients against a hub on 127.0.0.1."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

from console.core.model import Role, User
from console.core.passwords import hash_password
from console.hub.client import HubClient, HubError
from console.hub.embedded import EmbeddedHub
from console.store import Store
from tests.hub.support import (
    IN_331002,
    IN_331003,
    OUTSIDE,
    PASSWORD,
    logged_in,
    run,
    seed_store,
    small_world,
)


def http_get(ws_url: str, path: str) -> tuple[int, str, dict[str, Any]]:
    url = ws_url.replace("ws://", "http://").replace("/ws/console", path)
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], json.load(exc)


async def raw_exchange(url: str, messages: list[str | bytes]) -> list[dict[str, Any]]:
    """Send each message on one raw connection and collect one answer per message."""
    answers = []
    async with connect(url) as ws:
        for message in messages:
            await ws.send(message)
            answers.append(json.loads(await ws.recv()))
    return answers


def test_healthz_reports_db_world_and_consoles(hub_url: str) -> None:
    status, content_type, body = http_get(hub_url, "/healthz")
    assert status == 200
    assert content_type == "application/json"
    assert body["status"] == "ok"
    assert body["db"] == "sqlite"
    assert body["version"]
    assert body["world"]["districts"] == 2
    assert body["world"]["grids"] == 4
    assert body["uptime_s"] >= 0
    assert isinstance(body["consoles"], int)


def test_other_paths_are_json_404(hub_url: str) -> None:
    status, content_type, body = http_get(hub_url, "/nothing-here")
    assert status == 404
    assert content_type == "application/json"
    assert body["error"] == "not_found"


def test_login_ok_returns_user_scope_and_time(hub_url: str) -> None:
    async def scenario() -> dict[str, Any]:
        client = HubClient()
        await client.connect(hub_url)
        try:
            return await client.login("county", PASSWORD, "dispatcher-1")
        finally:
            await client.close()

    answer = run(scenario)
    assert answer["type"] == "login.ok"
    assert answer["user"] == {
        "username": "county",
        "display_name": "用户county",
        "role": "dispatcher",
        "org_id": "org-331002",
        "org_name": "分局331002",
    }
    assert answer["scope"] == {"org_id": "org-331002", "districts": ["331002"]}
    assert answer["server_time"].endswith("+00:00")


@pytest.mark.parametrize(
    ("username", "password", "code"),
    [
        ("county", "wrong-password", "bad_credentials"),
        ("nobody", PASSWORD, "bad_credentials"),
        ("retired", PASSWORD, "account_disabled"),
        ("retired", "wrong-password", "bad_credentials"),
    ],
)
def test_login_refusals(hub_url: str, username: str, password: str, code: str) -> None:
    async def scenario() -> tuple[HubError, Any]:
        client = HubClient()
        await client.connect(hub_url)
        try:
            with pytest.raises(HubError) as refused:
                await client.login(username, password, "seat")
            # The connection stays usable: a correct login still works afterwards.
            ok = await client.login("county", PASSWORD, "seat")
            return refused.value, ok
        finally:
            await client.close()

    error, ok = run(scenario)
    assert error.code == code
    assert ok["type"] == "login.ok"


def test_unknown_user_and_wrong_password_look_the_same(hub_url: str) -> None:
    async def scenario() -> list[tuple[str, str]]:
        details = []
        for username in ("county", "nobody"):
            client = HubClient()
            await client.connect(hub_url)
            with pytest.raises(HubError) as refused:
                await client.login(username, "wrong-password", "seat")
            details.append((refused.value.code, refused.value.detail))
            await client.close()
        return details

    first, second = run(scenario)
    assert first == second


def test_requests_before_login_are_unauthenticated(hub_url: str) -> None:
    requests = [
        {"type": "request", "id": n, "method": method, "params": {}}
        for n, method in enumerate(["hub.info", "world.snapshot", "users.list", "no.such"], 1)
    ]
    answers = run(lambda: raw_exchange(hub_url, [json.dumps(r) for r in requests]))
    assert [a["type"] for a in answers] == ["error"] * 4
    assert {a["code"] for a in answers} == {"unauthenticated"}
    assert [a["id"] for a in answers] == [1, 2, 3, 4]
    assert all("result" not in a for a in answers)


def test_malformed_messages_keep_the_connection_usable(hub_url: str) -> None:
    login = json.dumps(
        {"type": "login", "id": 9, "username": "county", "password": PASSWORD, "seat": "s"}
    )
    messages: list[str | bytes] = [
        "this is not json",
        "[1, 2, 3]",
        json.dumps({"id": 1}),
        json.dumps({"type": "teleport", "id": 2}),
        json.dumps({"type": "request", "id": 3}),  # no method
        b'{"type": "request"}',  # binary frame
        json.dumps({"type": "login", "id": 8, "username": "county", "password": "x", "seat": ""}),
        login,
        json.dumps({"type": "request", "id": 4, "method": "locate", "params": {"lon": "east"}}),
        json.dumps({"type": "request", "id": 5, "method": "no.such.method"}),
        json.dumps({"type": "request", "id": 6, "method": "hub.info"}),
    ]
    answers = run(lambda: raw_exchange(hub_url, messages))
    codes = [a.get("code", a["type"]) for a in answers]
    assert codes == [
        "bad_json",
        "bad_message",
        "bad_message",
        "bad_message",
        "bad_request",
        "bad_message",
        "bad_request",
        "login.ok",
        "bad_request",
        "unknown_method",
        "response",
    ]
    assert answers[3]["id"] == 2
    assert "seat" in answers[6]["detail"]
    assert "lon" in answers[8]["detail"]
    assert answers[10]["result"]["world"]["grids"] == 2  # the county sees its own grids


def test_oversize_message_closes_with_1009(hub_url: str) -> None:
    async def scenario() -> int | None:
        async with connect(hub_url, max_size=None) as ws:
            await ws.send("x" * ((1 << 20) + 1))
            with pytest.raises(ConnectionClosedError):
                await ws.recv()
            return ws.close_code

    assert run(scenario) == 1009


def test_role_refusal_users_list_needs_admin(hub_url: str) -> None:
    async def scenario() -> tuple[HubError, list[dict[str, Any]]]:
        dispatcher = await logged_in(hub_url, "dispatcher")
        admin = await logged_in(hub_url, "admin")
        try:
            with pytest.raises(HubError) as refused:
                await dispatcher.request("users.list")
            return refused.value, await admin.request("users.list")
        finally:
            await dispatcher.close()
            await admin.close()

    refused, users = run(scenario)
    assert refused.code == "forbidden"
    assert {u["username"] for u in users} >= {"admin", "county", "retired"}
    assert all("password_hash" not in u for u in users)
    assert next(u for u in users if u["username"] == "retired")["active"] is False


def test_county_dispatcher_snapshot_is_scoped(hub_url: str) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        county = await logged_in(hub_url, "county")
        city = await logged_in(hub_url, "dispatcher")
        try:
            return await county.request("world.snapshot"), await city.request("world.snapshot")
        finally:
            await county.close()
            await city.close()

    county, city = run(scenario)
    assert [d["adcode"] for d in county["districts"]] == ["331002"]
    assert {g["district_adcode"] for g in county["grids"]} == {"331002"}
    assert {o["district_adcode"] for o in county["officers"]} == {"331002"}
    assert [s["id"] for s in county["squads"]] == ["squad-331002-1"]
    assert [e["id"] for e in county["enterprises"]] == ["ent-331002"]
    assert "org-331003" not in {o["id"] for o in county["organisations"]}
    assert sorted(d["adcode"] for d in city["districts"]) == ["331002", "331003"]
    assert len(city["grids"]) == 4
    geometry = county["districts"][0]["geometry"]
    assert geometry["type"] == "Polygon"
    assert [121.0, 28.0] in geometry["coordinates"][0]
    outlet = county["enterprises"][0]["outlets"][0]
    assert "password" not in outlet
    assert outlet["mn"].startswith("331002")


def test_squad_commander_sees_its_county_district(hub_url: str) -> None:
    async def scenario() -> dict[str, Any]:
        client = HubClient()
        await client.connect(hub_url)
        try:
            return await client.login("squad", PASSWORD, "wall")
        finally:
            await client.close()

    assert run(scenario)["scope"]["districts"] == ["331002"]


def test_locate_in_scope_out_of_scope_and_outside(hub_url: str) -> None:
    async def scenario() -> tuple[Any, HubError, tuple[Any, str | None], HubError]:
        county = await logged_in(hub_url, "county")
        try:
            inside = await county.request("locate", lon=IN_331002[0], lat=IN_331002[1])
            with pytest.raises(HubError) as other_district:
                await county.request("locate", lon=IN_331003[0], lat=IN_331003[1])
            outside = await county.request_with_reason("locate", lon=OUTSIDE[0], lat=OUTSIDE[1])
            with pytest.raises(HubError) as bad_crs:
                await county.request("locate", lon=121.0, lat=28.0, crs="mars")
            return inside, other_district.value, outside, bad_crs.value
        finally:
            await county.close()

    inside, other_district, outside, bad_crs = run(scenario)
    assert inside["district"]["adcode"] == "331002"
    assert inside["grid"]["id"] == "331002-0001"
    # Squads of districts outside the caller's scope are not offered.
    assert [s["id"] for s in inside["squads"]] == ["squad-331002-1"]
    assert other_district.code == "out_of_scope"
    assert outside == (None, "outside_jurisdiction")
    assert bad_crs.code == "bad_request"
    assert "gcj02" in bad_crs.detail


def test_locate_accepts_gcj02(hub_url: str) -> None:
    from console.core.geo import Datum, convert

    gcj_lon, gcj_lat = convert(IN_331003[0], IN_331003[1], Datum.WGS84, Datum.GCJ02)

    async def scenario() -> Any:
        city = await logged_in(hub_url, "dispatcher")
        try:
            return await city.request("locate", lon=float(gcj_lon), lat=float(gcj_lat), crs="gcj02")
        finally:
            await city.close()

    result = run(scenario)
    assert result["district"]["adcode"] == "331003"
    assert result["point"]["lon"] == pytest.approx(IN_331003[0], abs=1e-6)


def test_two_consoles_see_seats_changed(hub_url: str) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        events: list[dict[str, Any]] = []
        first = await logged_in(hub_url, "dispatcher", seat="dispatcher-1", on_event=events.append)
        await first.subscribe(["seats.changed"])
        second = await logged_in(hub_url, "leader", seat="leader-laptop")
        seats = await first.request("seats.list")
        await second.close()
        # seats.changed for the login and for the logout, in order.
        while len(events) < 2:
            await first.request("hub.info")  # round trips until the events arrived
        await first.close()
        return events, seats

    events, seats = run(scenario)
    assert [e["topic"] for e in events] == ["seats.changed", "seats.changed"]
    assert events[0]["seq"] < events[1]["seq"]
    assert [e["data"] for e in events] == [{}, {}]  # who sits where: seats.list, by scope
    assert {"dispatcher-1", "leader-laptop"} <= {s["seat"] for s in seats}
    mine = next(s for s in seats if s["seat"] == "leader-laptop")
    assert mine["username"] == "leader"
    assert mine["role"] == "leader"
    assert mine["since"]


def test_subscribe_rejects_bad_topics(hub_url: str) -> None:
    async def scenario() -> HubError:
        client = await logged_in(hub_url, "dispatcher")
        try:
            with pytest.raises(HubError) as refused:
                await client.subscribe(["Officer Moved!"])
            return refused.value
        finally:
            await client.close()

    error = run(scenario)
    assert error.code == "bad_request"
    assert "officer.moved" in error.detail


def test_client_accepts_the_bare_hub_address(hub_url: str) -> None:
    async def scenario() -> dict[str, Any]:
        client = await logged_in(hub_url.removesuffix("/ws/console"), "admin")
        try:
            result: dict[str, Any] = await client.request("hub.info")
            return result
        finally:
            await client.close()

    info = run(scenario)
    assert "users.list" in info["methods"]
    assert info["consoles"] >= 1


def test_seats_list_shows_only_related_organisations(tmp_path: Path) -> None:
    """A county bureau sees the city centre and its own squad, not the other county's seats."""
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    seed_store(url, small_world())
    store = Store.open(url)
    try:
        store.add_user(
            User("county3", "用户county3", Role.DISPATCHER, "org-331003", hash_password(PASSWORD))
        )
    finally:
        store.close()
    hub = EmbeddedHub(url)
    hub_url = hub.start()

    async def scenario() -> dict[str, set[str]]:
        clients = {
            name: await logged_in(hub_url, name, seat=f"seat-{name}")
            for name in ("dispatcher", "county", "squad", "county3")
        }
        try:
            return {
                name: {seat["seat"] for seat in await client.request("seats.list")}
                for name, client in clients.items()
            }
        finally:
            for client in clients.values():
                await client.close()

    try:
        seen = run(scenario)
    finally:
        hub.stop()
    everyone = {"seat-dispatcher", "seat-county", "seat-squad", "seat-county3"}
    assert seen["dispatcher"] == everyone  # the city centre sees every county below it
    assert seen["county"] == {"seat-dispatcher", "seat-county", "seat-squad"}
    assert seen["squad"] == {"seat-dispatcher", "seat-county", "seat-squad"}
    assert seen["county3"] == {"seat-dispatcher", "seat-county3"}
