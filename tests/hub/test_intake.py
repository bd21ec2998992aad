"""Open311 intake over real HTTP (http.client) against a real hub on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import func, select

from console.hub.embedded import EmbeddedHub
from console.store import Store
from console.store.schema_dispatch import ComplaintRow, IntakeRequestRow
from tests.hub.support import IN_331002, OUTSIDE, seed_store, small_world


@pytest.fixture(scope="module")
def intake_hub(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("intake") / "intake.sqlite3"
    url = f"sqlite:///{path}"
    seed_store(url, small_world())
    out = subprocess.run(
        [sys.executable, "-m", "console", "apikey", "--db", url, "add", "12369-platform"],
        capture_output=True,
        text=True,
        check=True,
    )
    key = json.loads(out.stdout)["api_key"]
    hub = EmbeddedHub(url)
    ws_url = hub.start()
    yield urlsplit(ws_url).port, key, url
    hub.stop()


def post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/open311/v2/requests.json", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def form(key: str | None, **fields: Any) -> bytes:
    data = {
        "service_code": "air",
        "lat": IN_331002[1],
        "long": IN_331002[0],
        "description": "工厂夜间排放黑烟",
        "first_name": "三",
        "last_name": "张",
        "phone": "13812345678",
    }
    if key is not None:
        data["api_key"] = key
    data.update(fields)
    return urlencode(data).encode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_services_list_categories(intake_hub: Any) -> None:
    port, _key, _url = intake_hub
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/open311/v2/services.json")
    response = conn.getresponse()
    services = json.loads(response.read())
    conn.close()
    assert response.status == 200
    assert {"water", "air", "noise"} <= {s["service_code"] for s in services}


def test_bad_key_bad_body_and_unknown_service(intake_hub: Any) -> None:
    port, key, _url = intake_hub
    assert post(port, form(None), FORM) == (
        401,
        {"error": "missing_api_key", "detail": "api_key is required"},
    )
    assert post(port, form("wrong"), FORM)[0] == 401
    status, body = post(port, b"{not json", {"Content-Type": "application/json"})
    assert (status, body["error"]) == (400, "bad_json")
    status, body = post(port, form(key, lat="north"), FORM)
    assert (status, body["error"]) == (400, "bad_coordinates")
    status, body = post(port, form(key, service_code="radiation"), FORM)
    assert (status, body["error"]) == (422, "unknown_service_code")
    status, body = post(port, form(key, lat=OUTSIDE[1], long=OUTSIDE[0]), FORM)
    assert (status, body["error"]) == (422, "invalid_location")
    status, body = post(port, b"x" * 70_000, FORM)
    assert (status, body["error"]) == (413, "too_large")


def test_retries_with_one_idempotency_key_store_one_complaint(intake_hub: Any) -> None:
    port, key, url = intake_hub
    headers = {**FORM, "Idempotency-Key": "case-2026-0001"}
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: post(port, form(key), headers), range(6)))
    assert {status for status, _ in answers} == {201}
    ids = {body[0]["service_request_id"] for _, body in answers}
    assert len(ids) == 1
    store = Store.open(url)
    try:
        with store.session() as session:
            assert (
                session.scalar(
                    select(func.count()).select_from(ComplaintRow).where(ComplaintRow.id.in_(ids))
                )
                == 1
            )
            assert (
                session.scalar(
                    select(func.count())
                    .select_from(IntakeRequestRow)
                    .where(IntakeRequestRow.idempotency_key == "case-2026-0001")
                )
                == 1
            )
    finally:
        store.close()
    json_status, json_body = post(
        port,
        json.dumps(
            {
                "api_key": key,
                "service_code": "water",
                "lat": 28.05,
                "long": 121.03,
                "description": "污水直排",
            }
        ).encode(),
        {"Content-Type": "application/json", "Idempotency-Key": "case-2026-0002"},
    )
    assert json_status == 201
    assert json_body[0]["service_request_id"] not in ids


def test_revoked_key_is_403(intake_hub: Any, tmp_path: Path) -> None:
    port, _key, url = intake_hub
    out = subprocess.run(
        [sys.executable, "-m", "console", "apikey", "--db", url, "add", "wechat"],
        capture_output=True,
        text=True,
        check=True,
    )
    key = json.loads(out.stdout)["api_key"]
    subprocess.run(
        [sys.executable, "-m", "console", "apikey", "--db", url, "revoke", "wechat"],
        check=True,
        capture_output=True,
    )
    listed = subprocess.run(
        [sys.executable, "-m", "console", "apikey", "--db", url, "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert {"name": "wechat", "revoked": True}.items() <= next(
        k for k in json.loads(listed.stdout) if k["name"] == "wechat"
    ).items()
    assert key not in listed.stdout
    assert post(port, form(key), FORM)[0] == 403
