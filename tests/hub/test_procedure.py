"""The on-site procedure over a real field link and console link, then verify-case on the result.

A squad officer's device runs all seven steps of an enforcement task (geofenced check-in,
photo evidence uploaded with SHA-256, signatures as PNG), a console reads the sealed case
file, and ``python -m console verify-case`` (a subprocess) passes it - and then names the
row and the file that were altered behind the hub's back.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import sqlite3
import struct
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from console.core.complaints import Category, Urgency
from console.core.model import Officer, OfficerRole
from console.core.paths import data_dir
from console.core.tasks import Action, Actor, ActorRole, TaskDraft, TaskKind
from console.dispatch.procedures import ProcedureRow
from console.hub.client import HubError
from console.hub.field_protocol import FIELD_PATH
from console.hub.server import Hub
from console.hub.state import HubConfig
from console.store import Store
from console.store.dispatch_repo import AuditEntry, DispatchRepo
from console.store.field_repo import FieldRepo
from tests.hub.support import logged_in, run, seed_store, small_world

SQUAD = "squad-331002-1"
LEADER = "squad-331002-1-a"
PARTNER = "squad-331002-1-b"
SITE = (121.01, 28.02)  # ent-331002 (dyeing)
NEAR = (121.0104, 28.0202)
FAR = (121.03, 28.03)


def png(seed: int) -> bytes:
    """A small valid PNG; ``seed`` makes the bytes (and the hash) differ."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + bytes((seed, y, x)) * 1 for y in range(4) for x in range(1))
    header = struct.pack(">IIBBBBB", 1, 4, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    world = small_world()
    squad_members = tuple(
        Officer(
            oid, name, OfficerRole.SQUAD_MEMBER, SQUAD, "331002", squad_id=SQUAD, badge_no=badge
        )
        for oid, name, badge in ((LEADER, "王队长", "33100201"), (PARTNER, "李队员", "33100202"))
    )
    enterprises = tuple(
        replace(e, legal_representative="赵某某") if e.id == "ent-331002" else e
        for e in world.enterprises
    )
    world = replace(world, officers=world.officers + squad_members, enterprises=enterprises)
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    seed_store(url, world)
    return url


def enforcement_task(url: str) -> str:
    """An enforcement task for the squad at the dyeing works, delivered to the squad."""
    store = Store.open(url)
    try:
        repo = DispatchRepo(store)
        now = datetime.now(UTC)
        dispatcher = Actor(user="dispatcher", seat="seat-1", role=ActorRole.DISPATCHER)
        draft = TaskDraft(
            kind=TaskKind.ENFORCEMENT,
            owner_org_id="org-331002",
            district_adcode="331002",
            urgency=Urgency("urgent"),
            category=Category("water"),
            title="印染企业偷排核查执法",
            enterprise_id="ent-331002",
            assignee_squad_id=SQUAD,
        )
        record, _ = repo.create_task(
            draft,
            "task-enf-1",
            now,
            now + timedelta(hours=4),
            dispatcher,
            lon=SITE[0],
            lat=SITE[1],
            grid_id="331002-0001",
            outbox=None,
            audit=AuditEntry(at=now, user="dispatcher", seat="seat-1", action="task.create"),
        )
        officer = Actor(user=LEADER, seat="field", role=ActorRole.OFFICER, squad_id=SQUAD)
        repo.apply_action(
            record.task.id,
            Action.DELIVER,
            officer,
            now,
            expected_version=record.task.version,
            payload={},
            org_parents={},
            follow_up_deadline=lambda d, a: a,
            outbox_for=lambda b, a, e: [],
        )
        return record.task.id
    finally:
        store.close()


def token(url: str, officer_id: str) -> str:
    store = Store.open(url)
    try:
        return FieldRepo(store.engine).issue_token(officer_id, datetime.now(UTC)).token
    finally:
        store.close()


@asynccontextmanager
async def running_hub(url: str) -> AsyncIterator[Hub]:
    hub = await Hub.start(HubConfig(db_url=url, port=0, monitoring=None))
    try:
        yield hub
    finally:
        await hub.stop()


class Device:
    """A squad tablet on the field link: send a message, read the answer to it."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.n = 0

    @classmethod
    async def open(cls, hub: Hub, bearer: str) -> Device:
        ws = await connect(hub.url.replace("/ws/console", FIELD_PATH), max_size=4 * 2**20)
        await ws.send(json.dumps({"type": "hello", "token": bearer, "device": {"id": "tab-1"}}))
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome", welcome
        return cls(ws)

    async def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        self.n += 1
        msg_id = f"m{self.n}"
        await self.ws.send(json.dumps({**message, "msg_id": msg_id}))
        while True:
            answer: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if answer.get("ref") == msg_id:
                return answer

    async def step(
        self, task_id: str, step: str, data: dict[str, Any], **extra: Any
    ) -> dict[str, Any]:
        return await self.ask(
            {"type": "procedure.step", "task_id": task_id, "step": step, "data": data, **extra}
        )

    async def upload(self, task_id: str, content: bytes, upload_id: str) -> str:
        """A photo through the field link's resumable, hash-checked upload."""
        sha = hashlib.sha256(content).hexdigest()
        begin = {
            "type": "upload.begin",
            "upload_id": upload_id,
            "task_id": task_id,
            "kind": "photo",
            "mime": "image/png",
            "size": len(content),
            "sha256": sha,
        }
        chunk = {
            "type": "upload.chunk",
            "upload_id": upload_id,
            "offset": 0,
            "data": base64.b64encode(content).decode(),
        }
        for message in (begin, chunk, {"type": "upload.end", "upload_id": upload_id}):
            await self.ws.send(json.dumps(message))
        while True:
            answer = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            assert answer["type"] != "error", answer
            if answer["type"] == "upload.done":
                return str(answer["attachment_id"])


def signature(role: str, name: str, seed: int, officer_id: str | None = None) -> dict[str, Any]:
    image = png(seed)
    return {
        "role": role,
        "name": name,
        "officer_id": officer_id,
        "png_base64": base64.b64encode(image).decode(),
        "sha256": hashlib.sha256(image).hexdigest(),
    }


def verify_case(url: str, case_id: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "console", "verify-case", case_id, "--db", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, json.loads(done.stdout) if done.stdout else {"stderr": done.stderr}


async def full_procedure(hub: Hub, url: str, task_id: str) -> dict[str, Any]:
    device = await Device.open(hub, token(url, LEADER))
    events: list[dict[str, Any]] = []
    console = await logged_in(hub.url, "dispatcher", on_event=events.append)
    await console.request("events.subscribe", topics=["procedure.updated"])
    accepted = await device.ask({"type": "task.status", "task_id": task_id, "action": "accept"})
    assert accepted["type"] == "task.status.ok", accepted

    state = await device.ask({"type": "procedure.start", "task_id": task_id})
    assert state["type"] == "procedure.state", state
    assert state["current_step"] == "checkin"
    assert state["enterprise"]["name"] == "某某印染有限公司331002"
    assert state["enterprise"]["legal_representative"] == "赵某某"
    assert state["template"]["industry"] == "dyeing"
    assert state["template"]["inspection_type"] == "routine"
    assert {o["id"] for o in state["officers"]} == {LEADER, PARTNER}
    assert all(item["legal_basis"] for item in state["template"]["items"])

    # Out of order and a skip without a reason are refused; nothing is recorded.
    early = await device.step(task_id, "inspect", {"items": [], "samples": []})
    assert early["code"] == "step_out_of_order", early
    no_reason = await device.step(task_id, "checkin", {}, skip_reason="  ")
    assert no_reason["code"] == "skip_needs_reason", no_reason
    outside = await device.step(task_id, "checkin", {"lat": FAR[1], "lon": FAR[0], "accuracy": 8})
    assert outside["code"] == "outside_geofence", outside

    state = await device.step(task_id, "checkin", {"lat": NEAR[1], "lon": NEAR[0], "accuracy": 8})
    assert state["steps"][0]["status"] == "done"
    assert state["steps"][0]["data"]["inside"] is True
    task = await console.request("task.get", task_id=task_id)
    assert task["task"]["state"] == "on_site"

    state = await device.step(
        task_id, "notify", {"confirmed": True, "officer_ids": [LEADER, PARTNER]}
    )
    assert state["current_step"] == "verify_info"
    state = await device.step(
        task_id, "verify_info", {"confirmed": False, "corrections": {"address": "工业园区1号东门"}}
    )

    photo = await device.upload(task_id, png(7), "photo-0001")
    # The first item answered is one that needs photo evidence when non-compliant.
    template_items = sorted(state["template"]["items"], key=lambda i: not i["requires_photo"])
    items = [
        {"id": i["id"], "result": "compliant", "note": "", "attachment_ids": []}
        for i in template_items
    ]
    items[0] = {
        "id": items[0]["id"],
        "result": "non_compliant",
        "note": "暗管排放",
        "attachment_ids": [],
    }
    refused = await device.step(task_id, "inspect", {"items": items, "samples": []})
    assert refused["code"] == "schema", refused
    assert "photo" in refused["detail"]
    items[0]["attachment_ids"] = [photo]
    sample = {
        "sample_id": "S-001",
        "point": "废水总排口",
        "pollutants": ["COD", "色度"],
        "taken_at": "2026-11-28T10:00:00+08:00",
    }
    state = await device.step(task_id, "inspect", {"items": items, "samples": [sample]})
    assert state["current_step"] == "interview", state

    questions = state["interview_template"]["questions"]
    partial = [{"question_id": q["id"], "answer": "是"} for q in questions[:2]]
    refused = await device.step(
        task_id,
        "interview",
        {"answers": partial, "interviewee": {"name": "赵厂长", "position": "厂长"}},
    )
    assert refused["code"] == "schema", refused
    assert "required" in refused["detail"]
    answers = [{"question_id": q["id"], "answer": "如实回答"} for q in questions if q["required"]]
    state = await device.step(
        task_id,
        "interview",
        {"answers": answers, "interviewee": {"name": "赵厂长", "position": "厂长"}},
    )

    sigs = [
        signature("party", "赵厂长", 1),
        signature("officer", "王队长", 2, LEADER),
        signature("officer", "李队员", 3, PARTNER),
    ]
    state = await device.step(task_id, "sign", {"signatures": sigs})
    assert state["current_step"] == "archive", state
    state = await device.step(task_id, "archive", {})
    assert state["sealed"] is True
    assert state["current_step"] is None
    after = await device.step(task_id, "archive", {})
    assert after["code"] == "case_sealed", after

    task = await console.request("task.get", task_id=task_id)
    assert task["task"]["state"] == "procedure_complete"
    case = await console.request("case.get", task_id=task_id)
    verified = await console.request("case.verify", case_id=case["case_id"])
    active = await console.request("procedures.active")
    for _ in range(50):
        if len([e for e in events if e.get("topic") == "procedure.updated"]) >= 7:
            break
        await asyncio.sleep(0.05)
    await console.close()
    await device.ws.close()
    return {"case": case, "events": events, "active": active, "verified": verified}


async def hub_verify(url: str, **ref: str) -> dict[str, Any]:
    """``case.verify`` as the leader (who may read every case in the city) on a fresh hub."""
    async with running_hub(url) as hub:
        leader = await logged_in(hub.url, "leader")
        try:
            answer: dict[str, Any] = await leader.request("case.verify", **ref)
            return answer
        finally:
            await leader.close()


def test_full_procedure_then_tampering_is_named(db_url: str) -> None:
    task_id = enforcement_task(db_url)

    async def scenario() -> dict[str, Any]:
        async with running_hub(db_url) as hub:
            return await full_procedure(hub, db_url, task_id)

    result = run(scenario, timeout=60)
    case = result["case"]
    assert [s["status"] for s in case["steps"]] == ["done"] * 7
    assert case["sealed"] is True
    assert case["chain"]["length"] >= 11
    kinds = sorted(a["kind"] for a in case["attachments"])
    assert kinds == ["photo", "signature", "signature", "signature"]
    assert case["steps"][3]["data"]["samples"][0]["pollutants"] == ["COD", "色度"]
    assert all("png_base64" not in s for s in case["steps"][5]["data"]["signatures"])
    assert case["task_id"] not in {p["task_id"] for p in result["active"]}
    updates = [e for e in result["events"] if e.get("topic") == "procedure.updated"]
    assert [u["data"]["step"] for u in updates][-1] == "archive"

    code, report = verify_case(db_url, case["case_id"])
    assert (code, report["ok"]) == (0, True), report
    # The hub's case.verify runs the same check and answers with the same report.
    verified = result["verified"]
    assert verified == report
    assert (verified["ok"], verified["sealed"]) == (True, True)
    assert verified["entries"] == case["chain"]["length"]
    assert verified["head"] == case["chain"]["head"]

    # An edited database row is named with the field that changed.
    db = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    row = db.execute(
        "SELECT data FROM case_steps WHERE case_id=? AND step='inspect'", (case["case_id"],)
    ).fetchone()
    data = json.loads(row[0])
    data["items"][0]["result"] = "compliant"
    db.execute(
        "UPDATE case_steps SET data=? WHERE case_id=? AND step='inspect'",
        (json.dumps(data), case["case_id"]),
    )
    db.commit()
    db.close()
    code, report = verify_case(db_url, task_id)
    assert code == 1
    assert {"where": "case_steps inspect", "what": "data.items[0].result"} in [
        {"where": p["where"], "what": p["what"]} for p in report["problems"]
    ], report
    assert run(lambda: hub_verify(db_url, task_id=task_id), timeout=30) == report

    # An altered attachment file is named too.
    photo = next(a for a in case["attachments"] if a["kind"] == "photo")
    path = data_dir() / "attachments" / photo["sha256"][:2] / photo["sha256"]
    path.write_bytes(path.read_bytes() + b"x")
    code, report = verify_case(db_url, case["case_id"])
    assert code == 1
    assert any(
        p["where"] == f"attachment {photo['attachment_id']}" and p["what"] == "file"
        for p in report["problems"]
    ), report
    assert run(lambda: hub_verify(db_url, case_id=case["case_id"]), timeout=30) == report


def test_case_verify_refuses_bad_references(db_url: str) -> None:
    async def scenario() -> list[str]:
        async with running_hub(db_url) as hub:
            console = await logged_in(hub.url, "dispatcher")
            codes = []
            for ref in ({"case_id": "case-missing"}, {}, {"case_id": "a", "task_id": "b"}):
                try:
                    await console.request("case.verify", **ref)
                except HubError as exc:
                    codes.append(exc.code)
            await console.close()
            return codes

    assert run(scenario, timeout=30) == ["not_found", "bad_request", "bad_request"]


def test_skip_with_reason_and_checklist_versions(db_url: str) -> None:
    task_id = enforcement_task(db_url)

    async def scenario() -> None:
        async with running_hub(db_url) as hub:
            admin = await logged_in(hub.url, "admin")
            listed = await admin.request("checklists.list")
            industries = {t["industry"] for t in listed}
            assert {
                "electroplating",
                "dyeing",
                "pharma_chemical",
                "boiler_power",
                "wastewater_plant",
            } <= industries
            dyeing = next(t for t in listed if t["id"] == "dyeing.routine.v1")
            saved = await admin.request(
                "checklist.save",
                industry="dyeing",
                inspection_type="routine",
                items=[
                    {"id": "only", "text": "新检查项", "legal_basis": "《环境保护法》第四十二条"}
                ],
            )
            assert saved["version"] == 2
            listed = await admin.request("checklists.list")
            assert "dyeing.routine.v1" in {t["id"] for t in listed}
            await admin.close()

            device = await Device.open(hub, token(db_url, PARTNER))
            await device.ask({"type": "task.status", "task_id": task_id, "action": "accept"})
            state = await device.ask({"type": "procedure.start", "task_id": task_id})
            assert state["template"]["version"] == 2
            assert len(dyeing["items"]) > 1
            state = await device.step(task_id, "checkin", {"reason": "GPS 信号弱，已电话报备"})
            assert state["steps"][0]["data"]["inside"] is False
            state = await device.step(task_id, "notify", {}, skip_reason="当事人拒绝到场，已录像")
            assert state["steps"][1]["status"] == "skipped"
            assert state["steps"][1]["reason"] == "当事人拒绝到场，已录像"
            refused = await device.step(task_id, "archive", {}, skip_reason="x")
            assert refused["code"] == "step_out_of_order"
            await device.ws.close()

            leader = await logged_in(hub.url, "leader")
            active = await leader.request("procedures.active")
            await leader.close()
            running = next(p for p in active if p["task_id"] == task_id)
            assert running["officers"] == [
                {"id": PARTNER, "name": "李队员", "badge_no": "33100202"},
                {"id": LEADER, "name": "王队长", "badge_no": "33100201"},
            ]
            assert ProcedureRow.from_json(running, datetime.now(UTC)).officers == "李队员、王队长"

    run(scenario, timeout=60)
