"""Squad mode of the field app in a real Chromium, against a real hub, checked by a console.

A squad leader's tablet receives the squad's enforcement task (pushed to every member), runs
the seven steps - a check-in refused outside the geofence until the officer walks in, one step
recorded offline and synced later, an inspection with a photo and a sample, an interview
skipped (refused by the hub without a reason, accepted with one), signatures drawn on the
canvas, a printable record, the seal - then a console reads the complete case file, the
attachments' SHA-256 match the bytes, and ``python -m console verify-case`` passes.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, FilePayload, Page, expect

from console.core.complaints import Category, Urgency
from console.core.model import Officer, OfficerRole
from console.core.paths import HOME_ENV
from console.core.tasks import Actor, ActorRole, TaskDraft, TaskKind
from console.hub.embedded import EmbeddedHub
from console.store import Store
from console.store.dispatch_repo import AuditEntry, DispatchRepo
from console.store.field_repo import FieldRepo
from tests.field.conftest import ConsoleThread
from tests.field.test_field_app import PageErrors, png
from tests.hub.support import seed_store, small_world

WAIT_MS = 15_000
SQUAD = "squad-331002-1"
LEADER = "squad-331002-1-a"
PARTNER = "squad-331002-1-b"
TASK_ID = "T-enf-ui-1"
SITE = (121.01, 28.02)  # ent-331002, a dyeing works
NEAR_SITE = (121.0104, 28.0202)
FAR_FROM_SITE = (121.03, 28.03)

RECORD_PRINTS = "window.__prints = 0; window.print = () => { window.__prints += 1; };"


@dataclass(frozen=True, slots=True)
class SquadHub:
    base_url: str
    console_url: str
    db_url: str
    home: Path


@pytest.fixture(scope="module")
def squad_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SquadHub]:
    """A hub whose world has a two-member squad and an enforcement task for it."""
    root = tmp_path_factory.mktemp("squad-hub")
    db_url = f"sqlite:///{root / 'hub.sqlite3'}"
    world = small_world()
    members = tuple(
        Officer(oid, name, OfficerRole.SQUAD_MEMBER, SQUAD, "331002", squad_id=SQUAD, badge_no=no)
        for oid, name, no in ((LEADER, "王队长", "33100201"), (PARTNER, "李队员", "33100202"))
    )
    seed_store(db_url, replace(world, officers=world.officers + members))
    store = Store.open(db_url)
    try:
        now = datetime.now(UTC)
        DispatchRepo(store).create_task(
            TaskDraft(
                kind=TaskKind.ENFORCEMENT,
                owner_org_id="org-331002",
                district_adcode="331002",
                urgency=Urgency.URGENT,
                category=Category.WATER,
                title="印染企业偷排执法检查",
                enterprise_id="ent-331002",
                assignee_squad_id=SQUAD,
            ),
            TASK_ID,
            now,
            now + timedelta(hours=4),
            Actor(user="dispatcher", seat="seat-1", role=ActorRole.DISPATCHER),
            lon=SITE[0],
            lat=SITE[1],
            grid_id="331002-0001",
            outbox=None,
            audit=AuditEntry(at=now, user="dispatcher", seat="seat-1", action="task.create"),
        )
    finally:
        store.close()
    home = root / "home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(HOME_ENV, str(home))  # where the hub files attachments
        hub = EmbeddedHub(db_url)
        url = hub.start()
    try:
        base = url.removeprefix("ws://").split("/", 1)[0]
        yield SquadHub(f"http://{base}", url, db_url, home)
    finally:
        hub.stop()


def token(db_url: str, officer_id: str) -> str:
    store = Store.open(db_url)
    try:
        return FieldRepo(store.engine).issue_token(officer_id, datetime.now(UTC)).token
    finally:
        store.close()


def draw_on(page: Page, selector: str, seed: int) -> None:
    """A signature: a few pointer strokes across the canvas with the mouse."""
    box = page.locator(selector).bounding_box()
    assert box is not None
    x0, y0 = box["x"] + 20, box["y"] + box["height"] / 2
    page.mouse.move(x0, y0)
    page.mouse.down()
    for i in range(1, 12):
        page.mouse.move(x0 + i * box["width"] / 14, y0 + ((i + seed) % 3 - 1) * 15, steps=2)
    page.mouse.up()


def step_status(page: Page, step: str, status: str) -> None:
    expect(page.locator(f'#proc-steps li[data-step="{step}"]')).to_have_attribute(
        "data-status", status, timeout=WAIT_MS
    )


def panel(page: Page, step: str) -> None:
    expect(page.locator("#proc-panel")).to_have_attribute("data-step", step, timeout=WAIT_MS)


def test_squad_runs_the_procedure_to_a_sealed_case(chromium: Browser, squad_hub: SquadHub) -> None:
    console = ConsoleThread(squad_hub.console_url, "dispatcher")
    context = chromium.new_context(
        viewport={"width": 1024, "height": 768},  # the squad's tablet
        locale="zh-CN",
        geolocation={"longitude": FAR_FROM_SITE[0], "latitude": FAR_FROM_SITE[1], "accuracy": 10},
        permissions=["geolocation"],
    )
    context.add_init_script(RECORD_PRINTS)
    try:
        page = context.new_page()
        errors = PageErrors(page)
        page.goto(f"{squad_hub.base_url}/field/#token={token(squad_hub.db_url, LEADER)}")
        expect(page.locator("#conn")).to_have_attribute("data-state", "online", timeout=WAIT_MS)

        # The squad's task reached this member's tablet; the hub records the delivery.
        page.locator(f'li.task[data-task-id="{TASK_ID}"]').click()
        console.wait_for(
            lambda: console.call("task.get", task_id=TASK_ID),
            lambda got: (
                got["task"]["state"] == "delivered"
                and {e["officer_id"] for e in got["outbox"]} == {LEADER, PARTNER}
            ),
        )
        page.locator('[data-action="accept"]').click()
        expect(page.locator("#detail-state")).to_have_attribute(
            "data-confirmed", "accepted", timeout=WAIT_MS
        )
        page.locator("#start-procedure").click()
        panel(page, "checkin")
        expect(page.locator("#proc-panel")).to_contain_text("定位签到")

        # 定位签到: 2 km away the device asks for a reason; at the site the hub accepts.
        page.locator("#checkin-submit").click()
        expect(page.locator("#notice")).to_contain_text("不在现场签到范围内", timeout=WAIT_MS)
        context.set_geolocation(
            {"longitude": NEAR_SITE[0], "latitude": NEAR_SITE[1], "accuracy": 8}
        )
        page.locator("#checkin-submit").click()
        panel(page, "notify")
        step_status(page, "checkin", "done")

        # 亮证告知 recorded offline: shown as waiting, synced when the network returns.
        expect(page.locator("#notify-officers")).to_contain_text("33100202")
        expect(page.locator("#notice-text")).to_contain_text("出示执法证件")
        context.set_offline(True)
        expect(page.locator("#conn")).to_have_attribute("data-state", "offline", timeout=WAIT_MS)
        page.locator("#notify-confirm").check()
        page.locator("#notify-submit").click()
        step_status(page, "notify", "waiting")
        panel(page, "verify_info")
        context.set_offline(False)
        step_status(page, "notify", "done")

        # 企业信息核实: prefilled; the address is corrected.
        address = page.locator('#proc-panel input[name="address"]')
        expect(address).to_have_value("工业园区1号")
        address.fill("工业园区1号东区")
        page.locator("#verify-submit").click()
        panel(page, "inspect")

        # 现场检查: every item answered; a non-compliant photo item needs its photo.
        items = page.locator(".check-item")
        assert items.count() >= 8
        for i in range(items.count()):
            items.nth(i).locator('input[value="compliant"]').check()
        evidence = page.locator('.check-item[data-item="dyeing_wastewater"]')
        evidence.locator('input[value="non_compliant"]').check()
        evidence.locator(".item-note").fill("预处理设施停运，出水发黑")
        page.locator("#inspect-submit").click()
        expect(page.locator("#notice")).to_contain_text("须拍照取证")
        photo = png(32, 20)
        evidence.locator(".item-photo").set_input_files(
            files=[FilePayload(name="outlet.png", mimeType="image/png", buffer=photo)]
        )
        expect(evidence.locator(".photo-count")).to_have_attribute("data-count", "1")
        page.locator("#add-sample").click()
        page.locator(".sample-point").fill("废水总排口")
        page.locator(".sample-pollutants").fill("COD，色度")
        page.locator("#inspect-submit").click()
        panel(page, "interview")
        # The next step opens at once; wait for the hub's answer so it can't overwrite the
        # validation notice below.
        expect(page.locator("#notice")).to_contain_text("已记录：现场检查")

        # 笔录制作: required questions are enforced; a skip needs a reason (the hub says so).
        page.locator("#interviewee-name").fill("赵经理")
        page.locator("#interviewee-position").fill("生产厂长")
        page.locator("#interview-submit").click()
        expect(page.locator("#notice")).to_contain_text("必答问题未填写")
        page.locator("#skip-step").click()
        page.locator("#skip-confirm").click()
        expect(page.locator("#notice")).to_contain_text("跳过步骤须填写原因", timeout=WAIT_MS)
        panel(page, "interview")
        page.locator("#skip-step").click()
        page.locator("#skip-reason").fill("当事人拒绝接受询问，已现场录像")
        page.locator("#skip-confirm").click()
        panel(page, "sign")
        step_status(page, "interview", "skipped")

        # 打印签名: signatures drawn with the pointer; the record prints.
        page.locator("#party-name").fill("赵经理")
        draw_on(page, 'canvas.signature[data-role="party"]', 0)
        draw_on(page, 'canvas.signature[data-role="officer"]', 1)
        page.locator("#print-record").click()
        assert page.evaluate("window.__prints") == 1
        expect(page.locator("#print-view")).to_contain_text("赵经理")
        expect(page.locator("#print-view img")).to_have_count(2)
        page.locator("#sign-submit").click()
        panel(page, "archive")

        # 电子归档 seals the case file.
        page.locator("#archive-submit").click()
        expect(page.locator("#proc-sealed")).to_be_visible(timeout=WAIT_MS)
        expect(page.locator("#sync")).to_have_attribute("data-count", "0", timeout=WAIT_MS)

        case: dict[str, Any] = console.call("case.get", task_id=TASK_ID)
        assert case["sealed"] is True
        statuses = {s["step"]: s["status"] for s in case["steps"]}
        assert statuses == {
            "checkin": "done",
            "notify": "done",
            "verify_info": "done",
            "inspect": "done",
            "interview": "skipped",
            "sign": "done",
            "archive": "done",
        }
        steps = {s["step"]: s for s in case["steps"]}
        assert steps["interview"]["reason"] == "当事人拒绝接受询问，已现场录像"
        assert steps["checkin"]["data"]["inside"] is True
        assert steps["notify"]["data"]["officer_ids"] == [LEADER, PARTNER]
        assert steps["verify_info"]["data"] == {
            "confirmed": False,
            "corrections": {"address": "工业园区1号东区"},
        }
        assert steps["inspect"]["data"]["samples"][0]["pollutants"] == ["COD", "色度"]
        photos = [a for a in case["attachments"] if a["kind"] == "photo"]
        assert [(a["item_id"], a["sha256"]) for a in photos] == [
            ("dyeing_wastewater", hashlib.sha256(photo).hexdigest())
        ]
        signatures = [a for a in case["attachments"] if a["kind"] == "signature"]
        assert sorted(a["item_id"] for a in signatures) == ["officer", "party"]
        for attachment in [*photos, *signatures]:
            link = console.call("attachment.url", attachment_id=attachment["attachment_id"])
            with urllib.request.urlopen(squad_hub.base_url + link["path"], timeout=10) as got:
                body = got.read()
            assert hashlib.sha256(body).hexdigest() == attachment["sha256"]
        assert body.startswith(b"\x89PNG")  # a signature drawn on the canvas
        assert console.call("task.get", task_id=TASK_ID)["task"]["state"] == "procedure_complete"

        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "console",
                "verify-case",
                case["case_id"],
                "--db",
                squad_hub.db_url,
                "--attachments",
                str(squad_hub.home / "attachments"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert errors.errors == []
    finally:
        context.close()
        console.close()
