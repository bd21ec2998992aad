"""The field web app in a real Chromium against a real hub, checked from a real console.

Flow: enrol with an issued token, receive a task dispatched from the console, accept,
depart, a refused check-in outside the geofence, a check-in inside it, verify, a report with
a photo (SHA-256 computed in the browser) - and the console sees all of it. Then the offline
queue: a status given without network is synced once the network returns.
"""

from __future__ import annotations

import hashlib
import struct
import urllib.request
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, FilePayload, Page, expect

from console.core.geo import gcj02_to_bd09, wgs84_to_bd09, wgs84_to_gcj02
from tests.field.conftest import ConsoleThread, FieldHub

WAIT_MS = 15_000
SITE = (121.01, 28.02)  # ent-331002, grid 331002-0001 of the small test world
NEAR_SITE = (121.0104, 28.0202)  # about 45 m away: inside the 300 m geofence
FAR_FROM_SITE = (121.03, 28.03)  # about 2.2 km away
OFFICER = "officer-331002-0001"
OTHER_SITE = (121.08, 28.07)  # grid 331002-0002
OTHER_OFFICER = "officer-331002-0002"

# Records navigator.vibrate calls so the alert can be observed; the real vibrate still runs.
RECORD_VIBRATIONS = """
window.__vibrations = [];
const realVibrate = navigator.vibrate ? navigator.vibrate.bind(navigator) : null;
navigator.vibrate = (pattern) => {
  window.__vibrations.push(pattern);
  return realVibrate ? realVibrate(pattern) : true;
};
"""


def png(width: int = 24, height: int = 16) -> bytes:
    """A small valid RGB PNG (a camera photo stand-in)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(
        b"\x00" + b"".join(bytes((x * 10 % 256, y * 15 % 256, 160)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def open_context(chromium: Browser, position: tuple[float, float]) -> BrowserContext:
    context = chromium.new_context(
        viewport={"width": 390, "height": 844},
        locale="zh-CN",
        geolocation={"longitude": position[0], "latitude": position[1], "accuracy": 10},
        permissions=["geolocation"],
    )
    context.add_init_script(RECORD_VIBRATIONS)
    return context


class PageErrors:
    """Uncaught errors of the page; a test ends by asserting there were none."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))


def dispatch(console: ConsoleThread, site: tuple[float, float], **extra: Any) -> dict[str, Any]:
    created = console.call(
        "complaint.create",
        channel="hotline_12369",
        category=extra.pop("category", "water"),
        urgency="urgent",
        reporter_name="张三",
        reporter_phone="13900000000",
        description=extra.pop("description", "河道发黑发臭，疑似偷排"),
        lon=site[0],
        lat=site[1],
        **extra,
    )
    task: dict[str, Any] = console.call("task.dispatch", complaint_id=created["complaint"]["id"])[
        "task"
    ]
    return task


def task_state(console: ConsoleThread, task_id: str, state: str) -> dict[str, Any]:
    details: dict[str, Any] = console.wait_for(
        lambda: console.call("task.get", task_id=task_id),
        lambda got: got["task"]["state"] == state,
    )
    return details


@pytest.fixture(scope="module")
def officer_page(chromium: Browser, field_hub: FieldHub) -> Iterator[tuple[Page, PageErrors]]:
    """The first officer, enrolled through the URL fragment of an enrolment QR code."""
    context = open_context(chromium, FAR_FROM_SITE)
    page = context.new_page()
    errors = PageErrors(page)
    token = field_hub.issue_token(OFFICER)
    page.goto(f"{field_hub.base_url}/field/#token={token}")
    yield page, errors
    context.close()


def test_geo_formulas_match_python(officer_page: tuple[Page, PageErrors]) -> None:
    page, _ = officer_page
    points = [(121.42, 28.66), (116.397, 39.909), (87.6, 43.8), (113.26, 23.13), (2.35, 48.85)]
    got = page.evaluate(
        """async (points) => {
            const geo = await import("./geo.js");
            return points.map(([lon, lat]) => ({
                gcj: geo.wgs84ToGcj02(lon, lat),
                bd: geo.wgs84ToBd09(lon, lat),
                bdFromGcj: geo.gcj02ToBd09(lon, lat),
            }));
        }""",
        points,
    )
    for (lon, lat), js in zip(points, got, strict=True):
        assert js["gcj"] == pytest.approx(list(wgs84_to_gcj02(lon, lat)), abs=1e-9)
        assert js["bd"] == pytest.approx(list(wgs84_to_bd09(lon, lat)), abs=1e-9)
        assert js["bdFromGcj"] == pytest.approx(list(gcj02_to_bd09(lon, lat)), abs=1e-9)


def test_enrolment_from_the_url_fragment(officer_page: tuple[Page, PageErrors]) -> None:
    page, _ = officer_page
    expect(page.locator("#conn")).to_have_attribute("data-state", "online", timeout=WAIT_MS)
    assert "token" not in page.url  # the bearer token does not stay in the address bar
    assert page.evaluate("localStorage.getItem('field.token')")
    expect(page.locator("#officer")).to_contain_text("网格员1")


def test_task_from_dispatch_to_report(
    officer_page: tuple[Page, PageErrors], field_hub: FieldHub, dispatcher: ConsoleThread
) -> None:
    page, errors = officer_page
    expect(page.locator("#conn")).to_have_attribute("data-state", "online", timeout=WAIT_MS)
    task = dispatch(dispatcher, SITE, enterprise_id="ent-331002")

    # Pushed, alerted, acked.
    item = page.locator(f'li.task[data-task-id="{task["id"]}"]')
    expect(item).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#notice")).to_have_attribute("data-kind", "alert")
    assert page.evaluate("window.__vibrations.length") >= 1
    dispatcher.wait_for(
        lambda: dispatcher.call("task.get", task_id=task["id"]),
        lambda got: got["outbox"][0]["acked_at"] is not None,
    )
    task_state(dispatcher, task["id"], "delivered")

    # Detail: enterprise file, map, navigation links in the apps' datums.
    item.click()
    expect(page.locator("#detail-title")).to_have_text(task["title"])
    expect(page.locator("#enterprise")).to_contain_text("某某印染有限公司331002")
    expect(page.locator("#map .leaflet-interactive")).to_have_count(3, timeout=WAIT_MS)
    amap = urlsplit(page.locator("#nav-amap").get_attribute("href") or "")
    assert (amap.scheme, amap.netloc, amap.path) == ("https", "uri.amap.com", "/marker")
    amap_lon, amap_lat = map(float, parse_qs(amap.query)["position"][0].split(","))
    assert (amap_lon, amap_lat) == pytest.approx(wgs84_to_gcj02(*SITE), abs=1e-6)
    baidu = urlsplit(page.locator("#nav-baidu").get_attribute("href") or "")
    assert baidu.scheme == "baidumap"
    assert parse_qs(baidu.query)["coord_type"] == ["bd09ll"]
    baidu_lat, baidu_lon = map(float, parse_qs(baidu.query)["location"][0].split(","))
    assert (baidu_lon, baidu_lat) == pytest.approx(wgs84_to_bd09(*SITE), abs=1e-6)

    state = page.locator("#detail-state")
    page.locator('[data-action="accept"]').click()
    expect(state).to_have_attribute("data-confirmed", "accepted", timeout=WAIT_MS)
    page.locator('[data-action="depart"]').click()
    expect(state).to_have_attribute("data-confirmed", "en_route", timeout=WAIT_MS)

    # Check-in 2 km away: refused by the hub, the task stays en route.
    page.locator('[data-action="arrive"]').click()
    expect(page.locator("#notice")).to_have_attribute("data-kind", "error", timeout=WAIT_MS)
    expect(page.locator("#notice")).to_contain_text("不在现场签到范围内")
    expect(state).to_have_attribute("data-state", "en_route")
    task_state(dispatcher, task["id"], "en_route")

    # Walk to the site: the check-in is accepted.
    page.context.set_geolocation(
        {"longitude": NEAR_SITE[0], "latitude": NEAR_SITE[1], "accuracy": 8}
    )
    page.locator('[data-action="arrive"]').click()
    expect(state).to_have_attribute("data-confirmed", "on_site", timeout=WAIT_MS)
    expect(page.locator("#notice")).to_contain_text("签到成功")

    # Report: notes, findings and a camera photo.
    photo = png()
    page.locator("#findings").fill("排口有黑色废水外排")
    page.locator("#notes").fill("现场采样两瓶，已拍照")
    page.locator("#photo-input").set_input_files(
        files=[FilePayload(name="site.png", mimeType="image/png", buffer=photo)]
    )
    expect(page.locator("#draft")).to_have_attribute("data-count", "1")
    # A voice memo from the (fake) microphone through MediaRecorder.
    page.locator("#voice").click()
    expect(page.locator("#voice")).to_have_text("停止录音", timeout=WAIT_MS)
    page.locator("#voice").click()
    expect(page.locator("#draft")).to_have_attribute("data-count", "2", timeout=WAIT_MS)
    page.locator("#submit-report").click()
    expect(page.locator("#notice")).to_contain_text("记录已上传", timeout=WAIT_MS)
    expect(page.locator("#sync")).to_have_attribute("data-count", "0")

    page.locator('[data-action="verify_confirmed"]').click()
    expect(state).to_have_attribute("data-confirmed", "verified_confirmed", timeout=WAIT_MS)

    details = task_state(dispatcher, task["id"], "verified_confirmed")
    actions = [event["action"] for event in details["events"]]
    assert "deliver" in actions
    transitions = [action for action in actions if action != "report"]
    assert transitions[-4:] == ["accept", "depart", "arrive", "verify_confirmed"]
    assert actions.index("report") > actions.index("arrive")  # the report is on the timeline
    assert details["task"]["findings"] == "排口有黑色废水外排"
    sha = hashlib.sha256(photo).hexdigest()
    photos = [a for a in details["attachments"] if a["kind"] == "photo"]
    voices = [a for a in details["attachments"] if a["kind"] == "voice"]
    assert [(a["sha256"], a["size"], a["mime"]) for a in photos] == [(sha, len(photo), "image/png")]
    assert len(voices) == 1
    assert voices[0]["mime"].startswith("audio/")
    assert voices[0]["size"] > 0
    # The bytes the console downloads are the photo the officer took.
    link = dispatcher.call("attachment.url", attachment_id=photos[0]["attachment_id"])
    with urllib.request.urlopen(field_hub.base_url + link["path"], timeout=10) as response:
        assert response.read() == photo
    assert errors.errors == []


def test_offline_status_syncs_when_the_network_returns(
    chromium: Browser, field_hub: FieldHub, dispatcher: ConsoleThread
) -> None:
    context = open_context(chromium, OTHER_SITE)
    try:
        page = context.new_page()
        errors = PageErrors(page)
        page.goto(f"{field_hub.base_url}/field/")
        # Enrolment by pasting the token.
        page.locator("#token-input").fill(field_hub.issue_token(OTHER_OFFICER))
        page.locator("#enrol-form button[type=submit]").click()
        expect(page.locator("#conn")).to_have_attribute("data-state", "online", timeout=WAIT_MS)

        task = dispatch(dispatcher, OTHER_SITE, category="noise", description="夜间施工噪声扰民")
        page.locator(f'li.task[data-task-id="{task["id"]}"]').click()
        state = page.locator("#detail-state")
        expect(state).to_have_attribute("data-confirmed", "delivered")

        context.set_offline(True)
        expect(page.locator("#conn")).to_have_attribute("data-state", "offline", timeout=WAIT_MS)
        page.locator('[data-action="accept"]').click()
        # Shown as accepted at once, marked as waiting; the hub has not seen it.
        expect(state).to_have_attribute("data-state", "accepted")
        expect(state).to_have_attribute("data-confirmed", "delivered")
        expect(page.locator("#sync")).not_to_have_attribute("data-count", "0")
        assert dispatcher.call("task.get", task_id=task["id"])["task"]["state"] == "delivered"

        context.set_offline(False)
        expect(state).to_have_attribute("data-confirmed", "accepted", timeout=WAIT_MS)
        expect(page.locator("#sync")).to_have_attribute("data-count", "0", timeout=WAIT_MS)
        task_state(dispatcher, task["id"], "accepted")

        # A reload keeps the task (IndexedDB) and the hub does not push it again.
        page.reload()
        expect(page.locator("#conn")).to_have_attribute("data-state", "online", timeout=WAIT_MS)
        expect(page.locator("li.task")).to_have_count(1)
        assert errors.errors == []
    finally:
        context.close()
