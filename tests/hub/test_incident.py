"""Emergency incidents against a real hub with real websocket consoles: the shared timeline,
roles, scope, tasks created through dispatch, proposed cameras; plus the pure rules."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from console.core.incident import (
    Incident,
    IncidentClosedError,
    IncidentDetail,
    IncidentError,
    IncidentLevel,
    IncidentStatus,
    Member,
    MemberKind,
    Order,
    Permission,
    check_order,
    propose_cameras,
    roles_with,
    timeline,
)
from console.core.model import Role
from console.hub.client import HubClient, HubError
from console.hub.embedded import EmbeddedHub
from tests.hub.support import logged_in, run, seed_store, small_world

SQUAD = "squad-331002-1"
OFFICER = "officer-331002-0001"
FAR_OFFICER = "officer-331003-0001"
# Incident point in 331002 and one in 331003 (see tests.hub.support.DISTRICTS).
SITE = (121.02, 28.03)
FAR_SITE = (121.17, 28.05)


@pytest.fixture(scope="module")
def incident_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A hub on its own small world, so incidents and tasks made here touch no other module."""
    path: Path = tmp_path_factory.mktemp("incident-hub") / "hub.sqlite3"
    url = f"sqlite:///{path}"
    seed_store(url, small_world())
    hub = EmbeddedHub(url)
    hub_url = hub.start()

    async def add_cameras() -> None:
        admin = await logged_in(hub_url, "admin", seat="seat-setup")
        try:
            # At the enterprise of 331002 (121.01, 28.02): ~1.5 km from SITE.
            await admin.request(
                "camera.add",
                id="cam-ent",
                name="印染厂排口",
                stream_url="http://127.0.0.1:9/ent.mjpg",
                enterprise_id="ent-331002",
            )
            await admin.request(
                "camera.add",
                id="cam-near",
                name="路口",
                stream_url="http://127.0.0.1:9/near.mjpg",
                lon=121.021,
                lat=28.031,
            )
            await admin.request(
                "camera.add",
                id="cam-far",
                name="远处",
                stream_url="http://127.0.0.1:9/far.mjpg",
                lon=121.17,
                lat=28.06,
            )
        finally:
            await admin.close()

    run(add_cameras)
    yield hub_url
    hub.stop()


async def _open(client: HubClient, site: tuple[float, float] = SITE, **extra: Any) -> Any:
    return await client.request(
        "incident.open",
        title=extra.pop("title", "化工厂泄漏"),
        level=extra.pop("level", "major"),
        lon=site[0],
        lat=site[1],
        address="工业园区1号",
        **extra,
    )


async def _wait_for(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


def test_two_consoles_share_one_timeline(incident_hub: str) -> None:
    async def scenario() -> None:
        seen_admin: list[dict[str, Any]] = []
        seen_commander: list[dict[str, Any]] = []
        admin = await logged_in(incident_hub, "admin", seat="wall", on_event=seen_admin.append)
        commander = await logged_in(
            incident_hub, "squad", seat="field-cmd", on_event=seen_commander.append
        )
        try:
            await admin.subscribe(["incident.updated"])
            await commander.subscribe(["incident.updated"])
            opened = await _open(admin)
            incident = opened["incident"]
            incident_id = incident["id"]
            assert incident["district_adcode"] == "331002"
            assert incident["status"] == "open"
            assert incident["level"] == "major"
            # Nearby cameras proposed nearest first, in metres; the far one is left out.
            proposed = opened["proposed_cameras"]
            assert [c["id"] for c in proposed] == ["cam-near", "cam-ent"]
            assert 100 < proposed[0]["distance_m"] < 200
            assert 1000 < proposed[1]["distance_m"] < 2000

            for kind, member in (("squad", SQUAD), ("officer", OFFICER), ("camera", "cam-ent")):
                await commander.request(
                    "incident.link", incident_id=incident_id, kind=kind, id=member
                )
            # Linking twice changes nothing.
            again = await commander.request(
                "incident.link", incident_id=incident_id, kind="squad", id=SQUAD
            )
            assert [(m["kind"], m["id"]) for m in again["members"]] == [
                ("squad", SQUAD),
                ("officer", OFFICER),
                ("camera", "cam-ent"),
            ]
            assert again["members"][0]["name"] == "执法一中队331002"
            assert again["members"][2]["distance_m"] == pytest.approx(
                proposed[1]["distance_m"], abs=0.2
            )
            assert [c["id"] for c in again["proposed_cameras"]] == ["cam-near"]

            before = (len(seen_admin), len(seen_commander))
            sent = time.monotonic()
            await commander.request(
                "incident.order",
                incident_id=incident_id,
                to=f"squad:{SQUAD}",
                text="立即封堵雨水排口，20分钟内回报",
            )

            def order_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
                return [
                    e["data"]["change"]["order"]
                    for e in events
                    if e["topic"] == "incident.updated" and e["data"]["change"]["kind"] == "order"
                ]

            await _wait_for(
                lambda: order_events(seen_admin) and order_events(seen_commander), timeout=1.0
            )
            assert time.monotonic() - sent < 1.0
            assert len(seen_admin) > before[0]
            assert len(seen_commander) > before[1]
            order = order_events(seen_admin)[0]
            assert order == order_events(seen_commander)[0]
            assert (order["seq"], order["by"], order["to"]) == (1, "squad", f"squad:{SQUAD}")

            acked = await admin.request("incident.ack", incident_id=incident_id, seq=1)
            assert [a["by"] for a in acked["orders"][0]["acks"]] == ["admin"]
            view_admin = await admin.request("incident.get", incident_id=incident_id)
            view_commander = await commander.request("incident.get", incident_id=incident_id)
            assert view_admin["timeline"] == view_commander["timeline"]
            assert [e["kind"] for e in view_admin["timeline"]] == [
                "opened",
                "linked",
                "linked",
                "linked",
                "order",
                "ack",
            ]

            with pytest.raises(HubError) as no_summary:
                await admin.request("incident.close", incident_id=incident_id, summary="   ")
            assert no_summary.value.code == "bad_request"
            closed = await admin.request(
                "incident.close", incident_id=incident_id, summary="泄漏已封堵，无人员伤亡"
            )
            assert closed["incident"]["status"] == "closed"
            assert closed["timeline"][-1]["kind"] == "closed"
            assert closed["proposed_cameras"] == []
            with pytest.raises(HubError) as after_close:
                await commander.request(
                    "incident.order", incident_id=incident_id, to="all", text="再次确认"
                )
            assert after_close.value.code == "conflict"
            listed = await commander.request("incident.list", status="closed")
            assert incident_id in [i["id"] for i in listed]
            assert incident_id not in [i["id"] for i in await commander.request("incident.list")]
        finally:
            await admin.close()
            await commander.close()

    run(scenario)


def test_roles_and_scope_are_enforced(incident_hub: str) -> None:
    async def scenario() -> None:
        seen_commander: list[dict[str, Any]] = []
        admin = await logged_in(incident_hub, "admin", seat="s-admin")
        commander = await logged_in(
            incident_hub, "squad", seat="s-cmd", on_event=seen_commander.append
        )
        leader = await logged_in(incident_hub, "leader", seat="s-leader")
        dispatcher = await logged_in(incident_hub, "dispatcher", seat="s-disp")
        try:
            await commander.subscribe(["incident.updated"])
            near = (await _open(admin))["incident"]["id"]
            far = (await _open(admin, FAR_SITE, title="河道死鱼", level="general"))["incident"]
            assert far["district_adcode"] == "331003"

            # Leaders read, never act.
            assert (await leader.request("incident.get", incident_id=near))["incident"][
                "id"
            ] == near
            for method, params in (
                ("incident.order", {"incident_id": near, "to": "all", "text": "出发"}),
                ("incident.link", {"incident_id": near, "kind": "squad", "id": SQUAD}),
                (
                    "incident.open",
                    {"title": "x", "level": "general", "lon": SITE[0], "lat": SITE[1]},
                ),
            ):
                with pytest.raises(HubError) as refused:
                    await leader.request(method, **params)
                assert refused.value.code == "forbidden", method
            # Dispatchers add members but give no orders and close nothing.
            await dispatcher.request("incident.link", incident_id=near, kind="officer", id=OFFICER)
            for method, params in (
                ("incident.order", {"incident_id": near, "to": "all", "text": "出发"}),
                ("incident.close", {"incident_id": near, "summary": "完"}),
            ):
                with pytest.raises(HubError) as refused:
                    await dispatcher.request(method, **params)
                assert refused.value.code == "forbidden", method

            # The county-level commander sees nothing of the other district.
            with pytest.raises(HubError) as out:
                await commander.request("incident.get", incident_id=far["id"])
            assert out.value.code == "out_of_scope"
            with pytest.raises(HubError) as out:
                await _open(commander, FAR_SITE)
            assert out.value.code == "out_of_scope"
            with pytest.raises(HubError) as out:
                await commander.request(
                    "incident.link", incident_id=near, kind="officer", id=FAR_OFFICER
                )
            assert out.value.code == "out_of_scope"
            with pytest.raises(HubError) as hidden:
                await commander.request(
                    "incident.link", incident_id=near, kind="camera", id="cam-far"
                )
            assert hidden.value.code == "not_found"
            listed = {i["id"] for i in await commander.request("incident.list", status="all")}
            assert near in listed
            assert far["id"] not in listed

            # Orders go to linked people or to everyone, nothing else.
            with pytest.raises(HubError) as bad:
                await commander.request(
                    "incident.order", incident_id=near, to=f"squad:{SQUAD}", text="出发"
                )
            assert bad.value.code == "bad_request"
            assert f"officer:{OFFICER}" in bad.value.detail
            with pytest.raises(HubError) as bad:
                await admin.request(
                    "incident.open", title="x", level="red", lon=SITE[0], lat=SITE[1]
                )
            assert bad.value.code == "bad_request"
            assert "especially_major" in bad.value.detail

            # Events: the far incident's changes never reach the county commander.
            await admin.request("incident.order", incident_id=far["id"], to="all", text="远处命令")
            await admin.request("incident.order", incident_id=near, to="all", text="近处命令")
            await _wait_for(
                lambda: any(
                    e["data"]["change"].get("order", {}).get("text") == "近处命令"
                    for e in seen_commander
                ),
                timeout=2.0,
            )
            districts = {e["data"]["incident"]["district_adcode"] for e in seen_commander}
            assert districts == {"331002"}
        finally:
            for client in (admin, commander, leader, dispatcher):
                await client.close()

    run(scenario)


def test_incident_tasks_are_created_through_dispatch(incident_hub: str) -> None:
    async def scenario() -> None:
        seen: list[dict[str, Any]] = []
        dispatcher = await logged_in(incident_hub, "dispatcher", seat="s-d", on_event=seen.append)
        admin = await logged_in(incident_hub, "admin", seat="s-a")
        try:
            await dispatcher.subscribe(["task.updated", "incident.updated"])
            incident_id = (await _open(admin, level="especially_major"))["incident"]["id"]
            made = await dispatcher.request(
                "incident.task",
                incident_id=incident_id,
                title="现场封控与取样",
                squad_id=SQUAD,
                category="water",
                note="带采样箱",
            )
            task = made["task"]
            assert task["kind"] == "enforcement"
            assert task["assignee_squad_id"] == SQUAD
            assert task["urgency"] == "critical"
            assert task["district_adcode"] == "331002"
            assert (task["lon"], task["lat"]) == SITE
            member = next(m for m in made["members"] if m["kind"] == "task")
            assert member["id"] == task["id"]
            assert member["task"]["state"] == "assigned"
            # The task is a real dispatch task: on the board, with its creation event and audit.
            board = await dispatcher.request("tasks.board", queue="all")
            assert task["id"] in [t["id"] for t in board]
            details = await dispatcher.request("task.get", task_id=task["id"])
            assert details["events"][0]["action"] == "dispatch"
            audit = await admin.request("audit.query", task_id=task["id"])
            assert [a["action"] for a in audit] == ["incident.task"]

            pushed = await dispatcher.request(
                "incident.task", incident_id=incident_id, title="核查周边水体", officer_id=OFFICER
            )
            assert pushed["task"]["kind"] == "verification"
            outbox = (await dispatcher.request("task.get", task_id=pushed["task"]["id"]))["outbox"]
            assert [(o["officer_id"], o["kind"]) for o in outbox] == [(OFFICER, "task.assigned")]

            await _wait_for(
                lambda: (
                    {e["data"]["task"]["id"] for e in seen if e["topic"] == "task.updated"}
                    >= {task["id"], pushed["task"]["id"]}
                ),
                timeout=2.0,
            )
            with pytest.raises(HubError) as both:
                await dispatcher.request(
                    "incident.task",
                    incident_id=incident_id,
                    title="x",
                    squad_id=SQUAD,
                    officer_id=OFFICER,
                )
            assert both.value.code == "bad_request"
            # Linking an existing task works too, and an unknown one is refused.
            await admin.request(
                "incident.link", incident_id=incident_id, kind="task", id=task["id"]
            )
            with pytest.raises(HubError) as unknown:
                await admin.request(
                    "incident.link", incident_id=incident_id, kind="task", id="T-none"
                )
            assert unknown.value.code == "not_found"
        finally:
            await dispatcher.close()
            await admin.close()

    run(scenario)


# --- the pure rules -------------------------------------------------------------------------


def _detail(status: IncidentStatus = IncidentStatus.OPEN) -> IncidentDetail:
    t0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    incident = Incident(
        id="E1",
        title="泄漏",
        level=IncidentLevel.LARGER,
        lon=121.4,
        lat=28.6,
        address="",
        district_adcode="331002",
        status=status,
        opened_at=t0,
        opened_by="cmd",
        closed_at=None if status is IncidentStatus.OPEN else t0 + timedelta(hours=2),
        closed_by=None if status is IncidentStatus.OPEN else "cmd",
        summary=None if status is IncidentStatus.OPEN else "done",
    )
    return IncidentDetail(
        incident,
        members=(
            Member(MemberKind.SQUAD, "sq1", t0 + timedelta(minutes=1), "disp"),
            Member(MemberKind.CAMERA, "c1", t0 + timedelta(minutes=1), "disp"),
        ),
        orders=(Order(1, t0 + timedelta(minutes=5), "cmd", "seat", "squad:sq1", "go", ()),),
    )


def test_orders_address_people_on_the_incident() -> None:
    detail = _detail()
    assert check_order(detail, "squad:sq1", "  go  ") == ("squad:sq1", "go")
    assert check_order(detail, "all", "go")[0] == "all"
    with pytest.raises(IncidentError, match="Linked: squad:sq1"):
        check_order(detail, "camera:c1", "go")
    with pytest.raises(IncidentError, match="needs a text"):
        check_order(detail, "all", "   ")
    with pytest.raises(IncidentClosedError):
        check_order(_detail(IncidentStatus.CLOSED), "all", "go")


def test_timeline_merges_everything_in_time_order() -> None:
    entries = timeline(_detail(IncidentStatus.CLOSED))
    assert [e["kind"] for e in entries] == ["opened", "linked", "linked", "order", "closed"]
    assert entries[3]["to"] == "squad:sq1"
    assert entries[-1]["summary"] == "done"


def test_camera_proposals_are_measured_in_metres() -> None:
    # At 28.6N a degree of longitude is ~97.7 km and a degree of latitude ~110.8 km: the
    # camera 0.009 deg north (~997 m) is nearer than the one 0.0105 deg east (~1026 m),
    # although it is the other way round in degrees.
    cameras = [("east", 121.4105, 28.6), ("north", 121.4, 28.609), ("far", 121.5, 28.6)]
    proposals = propose_cameras(121.4, 28.6, cameras, radius_m=2000)
    assert [p.camera_id for p in proposals] == ["north", "east"]
    assert 990 < proposals[0].distance_m < 1005
    assert propose_cameras(121.4, 28.6, cameras, radius_m=2000, exclude=["north"])[0].camera_id == (
        "east"
    )
    assert propose_cameras(121.4, 28.6, [], radius_m=2000) == []


def test_permissions_by_role() -> None:
    assert roles_with(Permission.ACT) == {Role.ADMIN, Role.COMMANDER}
    assert roles_with(Permission.ADD) == {Role.ADMIN, Role.COMMANDER, Role.DISPATCHER}
    assert roles_with(Permission.READ) == set(Role)
