"""Supervision methods over real websocket clients on a real hub with a seeded SQLite store.

The world: two districts with three enterprises each (clean, flat-line, zeros-with-flow
hourly data stored through the time-series API), grid officers, and squad members for draws.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from console.core.model import (
    CreditRating,
    Enterprise,
    Industry,
    Officer,
    OfficerRole,
    Outlet,
    OutletKind,
    PermitLimit,
    World,
)
from console.hub.client import HubError
from console.hub.embedded import EmbeddedHub
from console.monitoring.authenticity.phrases import render
from console.monitoring.hj212 import decode, encode_packet
from console.monitoring.receiver import (
    CHINA_TZ,
    ReceivedPacket,
    StationInfo,
    format_hj212_time,
)
from console.store import Store
from console.store.camera_repo import Camera, add_camera
from console.store.supervision_repo import seed_demo_supervision
from console.store.timeseries import TimeSeriesStore
from tests.hub.support import DISTRICTS, logged_in, run, seed_store, small_world

HOURS = 240  # ten days of hourly data
PROFILES = ("clean", "flat", "zeros")
COD = PermitLimit("w01018", "化学需氧量", "mg/L", 100.0, None, 1000.0, monthly_quota_kg=100.0)
COD_KG_PER_HOUR = 0.5
FLOW = PermitLimit("w00000", "废水流量", "L/s", 1000.0)


def _enterprise(adcode: str, west: float, number: int, profile: str) -> Enterprise:
    eid = f"ent-{adcode}-{profile}"
    lon = west + 0.01 + 0.02 * number
    return Enterprise(
        id=eid,
        name=f"{profile}化工有限公司{adcode}",
        credit_code=f"91331000MA2A{adcode}{number}",
        industry=Industry.PHARMA_CHEMICAL,
        district_adcode=adcode,
        grid_id=f"{adcode}-0001",
        lon=lon,
        lat=28.03,
        address="医化园区",
        credit_rating=CreditRating.BLUE,
        permit_no=f"PN{adcode}{number}",
        legal_representative=f"法人{number}",
        outlets=(
            Outlet(
                f"outlet-{eid}",
                "废水总排口",
                OutletKind.WATER,
                f"MN{adcode}{number:03d}",
                "pw",
                lon + 0.001,
                28.031,
                (COD, FLOW),
            ),
        ),
    )


def supervision_world() -> World:
    base = small_world()
    enterprises = [
        _enterprise(adcode, west, number, profile)
        for adcode, (west, _east) in DISTRICTS.items()
        for number, profile in enumerate(PROFILES)
    ]
    members = [
        Officer(
            f"member-{adcode}-{n}",
            f"队员{adcode}{n}",
            OfficerRole.SQUAD_MEMBER,
            f"squad-{adcode}-1",
            adcode,
            squad_id=f"squad-{adcode}-1",
            badge_no=f"B{adcode}{n}",
        )
        for adcode in DISTRICTS
        for n in range(4)
    ]
    return replace(base, enterprises=tuple(enterprises), officers=(*base.officers, *members))


def _value(profile: str, hour: int, rng: random.Random) -> float:
    if profile == "flat":
        return 45.0
    if profile == "zeros":
        return 0.0
    return round(40.0 + 10.0 * math.sin(hour / 3.0) + rng.uniform(-6.0, 6.0), 2)


def store_monitoring(url: str, world: World, now: datetime) -> None:
    """Hourly packets (CN 2061) for every outlet through the time-series API."""
    end = now.replace(minute=0, second=0, microsecond=0)
    rng = random.Random(7)
    packets = []
    for enterprise in world.enterprises:
        outlet = enterprise.outlets[0]
        profile = enterprise.id.rsplit("-", 1)[1]
        station = StationInfo(
            mn=outlet.mn,
            enterprise_id=enterprise.id,
            outlet_id=outlet.id,
            district_adcode=enterprise.district_adcode,
            password=outlet.password,
            kind=outlet.kind,
            limits=outlet.limits,
        )
        for hour in range(HOURS):
            at = end - timedelta(hours=HOURS - 1 - hour)
            values = {
                "w01018": {"Avg": _value(profile, hour, rng), "Cou": COD_KG_PER_HOUR, "Flag": "N"},
                "w00000": {"Avg": round(5.0 + rng.uniform(-1.0, 1.0), 2), "Flag": "N"},
            }
            frame = encode_packet(
                cn="2061", mn=outlet.mn, pw="pw", data_time=format_hj212_time(at), values=values
            )
            packets.append(ReceivedPacket(decode(frame), station, at, "127.0.0.1:1"))
    store = Store.open(url)
    try:
        TimeSeriesStore(store.engine).insert_packets(packets)
        seed_demo_supervision(store, world, seed=3, now=now)
        with store.session() as session:
            add_camera(
                session,
                Camera(
                    "cam-1",
                    "排口摄像头",
                    "rtsp://127.0.0.1:8554/cam1",
                    121.031,
                    28.031,
                    enterprise_id="ent-331002-clean",
                    district_adcode="331002",
                ),
            )
    finally:
        store.close()


@pytest.fixture(scope="module")
def world() -> World:
    return supervision_world()


@pytest.fixture(scope="module")
def stored_until() -> datetime:
    """The newest hour of the stored monitoring data."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory, world: World, stored_until: datetime) -> str:
    path: Path = tmp_path_factory.mktemp("supervision") / "hub.sqlite3"
    url = f"sqlite:///{path}"
    seed_store(url, world)
    store_monitoring(url, world, stored_until)
    return url


@pytest.fixture(scope="module")
def hub_url(db_url: str) -> Iterator[str]:
    hub = EmbeddedHub(db_url)
    url = hub.start()
    yield url
    hub.stop()


async def call(url: str, user: str, name: str, **params: Any) -> Any:
    client = await logged_in(url, user)
    try:
        return await client.request(name, **params)
    finally:
        await client.close()


async def refused(url: str, user: str, name: str, **params: Any) -> str:
    with pytest.raises(HubError) as info:
        await call(url, user, name, **params)
    return info.value.code


def test_ranking_puts_flat_and_zero_data_below_clean(hub_url: str) -> None:
    ranking = run(lambda: call(hub_url, "leader", "authenticity.ranking", days=10))
    by_id = {item["enterprise_id"]: item for item in ranking}
    assert set(by_id) == {e.id for e in supervision_world().enterprises}
    order = [item["enterprise_id"] for item in ranking]
    suspicious = [eid for eid in order if not eid.endswith("clean")]
    assert order[: len(suspicious)] == suspicious  # every forged-looking one first
    for adcode in DISTRICTS:
        clean = by_id[f"ent-{adcode}-clean"]
        flat = by_id[f"ent-{adcode}-flat"]
        zeros = by_id[f"ent-{adcode}-zeros"]
        assert flat["score"] < clean["score"]
        assert zeros["score"] < clean["score"]
        assert flat["checks"]["fluctuation"] < 50
        assert any("fluctuation" in r for r in flat["reasons"])
        assert zeros["checks"]["zero"] < 50
        assert any("zero" in r for r in zeros["reasons"])
        # The same findings as data, in the same order, each sentence's values included.
        assert [f["text"] for f in zeros["findings"]] == zeros["reasons"]
        assert all(render(f["rule"], f["params"]) in f["text"] for f in zeros["findings"])
        assert zeros["worst_pollutant"] == "w01018"
        assert zeros["outlet_id"] == f"outlet-ent-{adcode}-zeros"
        span = zeros["evidence"][0]
        assert datetime.fromisoformat(span["end"]) > datetime.fromisoformat(span["start"])
    # Served from the cache the second time: same computation time.
    again = run(lambda: call(hub_url, "leader", "authenticity.ranking", days=10, limit=2))
    assert [a["scored_at"] for a in again] == [r["scored_at"] for r in ranking[:2]]


def test_enterprise_file_is_complete(hub_url: str, world: World, stored_until: datetime) -> None:
    run(lambda: call(hub_url, "leader", "authenticity.ranking", days=10))
    eid = "ent-331002-clean"
    file = run(lambda: call(hub_url, "leader", "enterprise.file", enterprise_id=eid))
    assert file["enterprise"]["id"] == eid
    assert file["enterprise"]["permit_no"] == "PN3310020"
    assert file["enterprise"]["legal_representative"] == "法人0"
    outlet = file["outlets"][0]
    assert outlet["mn"] == "MN331002000"
    assert {limit["code"] for limit in outlet["limits"]} == {"w01018", "w00000"}
    history = file["credit_history"]
    assert len(history) >= 2
    assert history[-1]["rating"] == "blue"  # the current rating is the latest change
    assert {d["kind"] for d in file["documents"]} >= {"permit", "eia"}
    days = file["monitoring"]["days"]
    assert len(days) == 7
    assert days[-2]["transmission_rate"] == 1.0  # yesterday: all 24 hours stored, flag N
    assert days[-2]["effective_rate"] == 1.0
    assert file["monitoring"]["last_data_at"] is not None
    assert file["monitoring"]["open_alarms"] == 0
    assert file["authenticity"]["score"] > 80
    assert file["cameras"] == [{"id": "cam-1", "name": "排口摄像头", "online": True}]
    assert file["complaints"] == [] or all("status" in c for c in file["complaints"])
    # Total-quantity control: the hours stored in this Beijing year and month, 0.5 kg each.
    quota = file["quota"]
    hours = [(stored_until - timedelta(hours=h)).astimezone(CHINA_TZ) for h in range(HOURS)]
    in_year = sum(1 for h in hours if h.year == quota["year"])
    in_month = sum(1 for h in hours if (h.year, h.month) == (quota["year"], quota["month"]))
    [cod] = quota["items"]  # the flow limit has no quota
    assert cod["code"] == "w01018"
    assert cod["outlet_name"] == "废水总排口"
    assert cod["annual_quota_kg"] == 1000.0
    assert cod["monthly_quota_kg"] == 100.0
    assert cod["used_year_kg"] == pytest.approx(COD_KG_PER_HOUR * in_year)
    assert cod["used_month_kg"] == pytest.approx(COD_KG_PER_HOUR * in_month)
    assert outlet["limits"][0]["monthly_quota_kg"] == 100.0


def test_inspection_create_assigns_the_grid_officer(hub_url: str) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        client = await logged_in(hub_url, "dispatcher")
        try:
            created = await client.request(
                "inspection.create",
                enterprise_id="ent-331003-flat",
                reason="数据长时间无波动",
                evidence=[
                    {"start": "2026-11-20T00:00:00+00:00", "end": "2026-11-21T00:00:00+00:00"}
                ],
            )
            detail = await client.request("task.get", task_id=created["task"]["id"])
            return created, detail
        finally:
            await client.close()

    created, detail = run(scenario)
    task = created["task"]
    assert task["kind"] == "verification"
    assert task["assignee_officer_id"] == "officer-331003-0001"
    assert task["enterprise_id"] == "ent-331003-flat"
    assert task["district_adcode"] == "331003"
    assert not task["substitute"]
    assert [e["officer_id"] for e in detail["outbox"]] == ["officer-331003-0001"]


def test_outcomes_refit_the_weights_and_keep_the_previous(hub_url: str) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        client = await logged_in(hub_url, "dispatcher")
        answers = []
        try:
            await client.request("authenticity.ranking", days=10)
            for n in range(20):
                profile = PROFILES[n % 3]
                answers.append(
                    await client.request(
                        "authenticity.outcome",
                        enterprise_id=f"ent-331002-{profile}",
                        falsification_confirmed=profile != "clean",
                    )
                )
            weights = await client.request("authenticity.weights")
        finally:
            await client.close()
        return answers, weights

    answers, weights = run(scenario)
    assert [a["refit"]["refitted"] for a in answers] == [False] * 19 + [True]
    assert answers[-1]["outcomes"] == 20
    assert answers[-1]["refit"]["version"] == 2
    assert [w["version"] for w in weights] == [2, 1]
    assert weights[0]["current"]
    assert weights[0]["previous_version"] == 1
    assert weights[0]["n_samples"] == 20
    assert weights[1]["weights"]["fluctuation"] == 1.0  # the hand-set defaults, kept for audit
    assert weights[0]["weights"] != weights[1]["weights"]
    code = run(
        lambda: refused(
            hub_url,
            "leader",
            "authenticity.outcome",
            enterprise_id="ent-331002-flat",
            falsification_confirmed=True,
        )
    )
    assert code == "forbidden"


PLAN = {
    "name": "2026年第四季度双随机抽查",
    "categories": [{"name": "重点排污单位", "key": True, "count": 2}],
    "inspectors_per_enterprise": 2,
    "seed": "0123456789abcdef",
}


def test_draw_creates_tasks_and_verifies(hub_url: str) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[Any]]:
        client = await logged_in(hub_url, "dispatcher")
        try:
            drawn = await client.request("draw.run", plan=PLAN)
            ok = await client.request("draw.verify", record=drawn["record"])
            tampered = copy.deepcopy(drawn["record"])
            inspectors = tampered["selections"][0]["inspectors"]
            inspectors[0]["officer_id"] = "member-331002-3"
            bad = await client.request("draw.verify", record=tampered)
            tasks = [await client.request("task.get", task_id=t) for t in drawn["tasks"]]
            return drawn, ok, bad, tasks
        finally:
            await client.close()

    drawn, ok, bad, tasks = run(scenario)
    selections = drawn["record"]["selections"]
    assert len(selections) == 2
    assert len(drawn["tasks"]) == 2
    assert ok == {"equal": True, "differences": [], "draw_id": drawn["draw_id"]}
    assert bad["equal"] is False
    fields = {d["field"] for d in bad["differences"]}
    assert "record_digest" in fields
    assert "published" in fields
    for selection, detail in zip(selections, tasks, strict=True):
        task = detail["task"]
        assert task["kind"] == "enforcement"
        assert task["enterprise_id"] == selection["enterprise_id"]
        assert task["assignee_squad_id"] == f"squad-{selection['district']}-1"
    code = run(
        lambda: refused(
            hub_url, "county", "draw.run", plan={**PLAN, "pool": {"districts": ["331003"]}}
        )
    )
    assert code == "out_of_scope"
    bad_plan = run(lambda: refused(hub_url, "dispatcher", "draw.run", plan={"name": "x"}))
    assert bad_plan == "bad_request"


def _direct_counts(url: str, since: datetime, until: datetime) -> dict[str, dict[str, Any]]:
    store = Store.open(url)
    try:
        with store.engine.connect() as conn:
            received = dict(
                conn.execute(
                    text(
                        "SELECT district_adcode, count(*) FROM complaints WHERE merged_into IS NULL"
                        " AND received_at >= :since AND received_at < :until"
                        " GROUP BY district_adcode"
                    ),
                    {"since": since.replace(tzinfo=None), "until": until.replace(tzinfo=None)},
                ).all()
            )
            records = dict(
                conn.execute(
                    text(
                        "SELECT e.district_adcode, count(*) FROM"
                        " (SELECT DISTINCT outlet_id, data_time FROM monitoring_hourly"
                        "  WHERE data_time >= :since AND data_time < :until) h"
                        " JOIN outlets o ON o.id = h.outlet_id"
                        " JOIN enterprises e ON e.id = o.enterprise_id GROUP BY e.district_adcode"
                    ),
                    {
                        "since": since.strftime("%Y-%m-%d %H:%M:%S.%f"),
                        "until": until.strftime("%Y-%m-%d %H:%M:%S.%f"),
                    },
                ).all()
            )
            outlets = dict(
                conn.execute(
                    text(
                        "SELECT e.district_adcode, count(*) FROM outlets o"
                        " JOIN enterprises e ON e.id = o.enterprise_id GROUP BY e.district_adcode"
                    )
                ).all()
            )
            open_cases = dict(
                conn.execute(
                    text(
                        "SELECT district_adcode, count(DISTINCT coalesce(complaint_id,"
                        " parent_task_id, id)) FROM tasks WHERE state NOT IN"
                        " ('verified_confirmed', 'verified_unfounded', 'procedure_complete',"
                        "  'closed', 'archived', 'cancelled') GROUP BY district_adcode"
                    )
                ).all()
            )
            awaiting = dict(
                conn.execute(
                    text(
                        "SELECT district_adcode, count(*) FROM complaints c"
                        " WHERE merged_into IS NULL AND NOT EXISTS"
                        " (SELECT 1 FROM tasks t WHERE t.complaint_id = c.id)"
                        " GROUP BY district_adcode"
                    )
                ).all()
            )
    finally:
        store.close()
    return {
        adcode: {
            "received": received.get(adcode, 0),
            "records": records.get(adcode, 0),
            "outlets": outlets.get(adcode, 0),
            "open": open_cases.get(adcode, 0) + awaiting.get(adcode, 0),
        }
        for adcode in DISTRICTS
    }


def test_dashboard_figures_equal_direct_sql_counts(hub_url: str, db_url: str) -> None:
    async def scenario() -> dict[str, Any]:
        client = await logged_in(hub_url, "dispatcher")
        try:
            created = []
            for lon, category in ((121.03, "water"), (121.04, "air"), (121.17, "water")):
                created.append(
                    await client.request(
                        "complaint.create",
                        channel="hotline_12369",
                        category=category,
                        urgency="normal",
                        reporter_name="张三",
                        reporter_phone="13800001111",
                        description="河水发黑",
                        lon=lon,
                        lat=28.05,
                    )
                )
            # One case dispatched, two awaiting their task: all three are open cases.
            await client.request("task.dispatch", complaint_id=created[0]["complaint"]["id"])
            return await client.request("dashboard.districts", days=30)
        finally:
            await client.close()

    figures = run(scenario)
    now = datetime.fromisoformat(figures["generated_at"])
    expected = _direct_counts(db_url, now - timedelta(days=30), now)
    rows = {d["adcode"]: d for d in figures["districts"]}
    assert set(rows) == set(DISTRICTS)
    for adcode, counts in expected.items():
        row = rows[adcode]
        assert row["complaints_received"] == counts["received"]
        assert sum(row["by_category"].values()) == counts["received"]
        assert row["open"] == counts["open"]
        assert row["transmission_rate"] == pytest.approx(
            counts["records"] / (counts["outlets"] * 30 * 24)
        )
        # Flat 45 and zeros are within the limit; the clean series stays under 100 too.
        assert row["compliance_rate"] == 1.0
    assert rows["331002"]["by_category"] == {"water": 1, "air": 1}
    assert rows["331002"]["open"] >= 2  # the dispatched one and the one awaiting its task
    assert len(figures["trend"]) in (30, 31)
    assert sum(day["received"] for day in figures["trend"]) == sum(
        c["received"] for c in expected.values()
    )
    ranking = figures["enterprise_ranking"]
    assert ranking
    assert not ranking[-1]["enterprise_id"].endswith("zeros")


def test_scope_refusals(hub_url: str) -> None:
    outside = run(
        lambda: refused(hub_url, "county", "enterprise.file", enterprise_id="ent-331003-clean")
    )
    assert outside == "out_of_scope"
    ranking = run(lambda: call(hub_url, "county", "authenticity.ranking", days=10))
    assert ranking
    assert {r["district_adcode"] for r in ranking} == {"331002"}
    figures = run(lambda: call(hub_url, "county", "dashboard.districts", days=90))
    assert [d["adcode"] for d in figures["districts"]] == ["331002"]
    leader = run(
        lambda: refused(
            hub_url, "leader", "inspection.create", enterprise_id="ent-331002-flat", reason="x"
        )
    )
    assert leader == "forbidden"
    county = run(
        lambda: refused(
            hub_url, "county", "inspection.create", enterprise_id="ent-331003-flat", reason="x"
        )
    )
    assert county == "out_of_scope"
    missing = run(lambda: refused(hub_url, "leader", "enterprise.file", enterprise_id="nope"))
    assert missing == "not_found"
    bad_days = run(lambda: refused(hub_url, "leader", "dashboard.districts", days=45))
    assert bad_days == "bad_request"
