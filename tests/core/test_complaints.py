"""Complaint intake rules: duplicate detection in real projected metres, and masking."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from console.core.complaints import (
    Category,
    Channel,
    Complaint,
    DuplicateCandidate,
    DuplicateReason,
    DuplicateRule,
    Urgency,
    find_duplicates,
    mask_name,
    mask_phone,
)
from console.core.geo import Projector

T0 = datetime(2025, 6, 3, 20, 0, tzinfo=UTC)
# Jiaojiang, Taizhou: CGCS2000 3-degree zone CM 120E (EPSG:4549).
PROJECTOR = Projector.for_lon(121.42)
BASE_X, BASE_Y = PROJECTOR.to_xy(121.42, 28.66)
RULE = DuplicateRule()


def complaint(
    complaint_id: str,
    east_m: float = 0.0,
    north_m: float = 0.0,
    hours_before: float = 0.0,
    category: Category = Category.ODOUR,
    **changes: object,
) -> Complaint:
    """A complaint placed ``east_m``/``north_m`` metres (projected) from the base point."""
    lon, lat = PROJECTOR.to_lonlat(BASE_X + east_m, BASE_Y + north_m)
    base = Complaint(
        id=complaint_id,
        channel=Channel.HOTLINE_12369,
        category=category,
        urgency=Urgency.NORMAL,
        reporter_name="王小明",
        reporter_phone="13812345678",
        description="夜间化工异味",
        lon=lon,
        lat=lat,
        received_at=T0 - timedelta(hours=hours_before),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_default_rule() -> None:
    assert (RULE.radius_m, RULE.window) == (500.0, timedelta(hours=72))


def test_radius_boundary_in_projected_metres() -> None:
    new = complaint("new")
    near = complaint("near", east_m=-299.4, north_m=399.2)  # 3-4-5 triangle: 499 m
    far = complaint("far", north_m=501.0)
    found = find_duplicates(new, [far, near], RULE, PROJECTOR.to_xy)
    assert [d.complaint_id for d in found] == ["near"]
    assert found[0].distance_m == pytest.approx(499.0, abs=0.01)
    assert found[0].reason is DuplicateReason.NEARBY_SAME_CATEGORY


def test_time_window_boundary() -> None:
    new = complaint("new")
    recent = complaint("recent", east_m=10.0, hours_before=71)
    old = complaint("old", east_m=10.0, hours_before=73)
    later = complaint("later", east_m=20.0, hours_before=-71)  # arrived after, e.g. on import
    found = find_duplicates(new, [old, recent, later], RULE, PROJECTOR.to_xy)
    assert [d.complaint_id for d in found] == ["recent", "later"]
    wide = DuplicateRule(radius_m=500.0, window=timedelta(hours=80))
    assert {d.complaint_id for d in find_duplicates(new, [old], wide, PROJECTOR.to_xy)} == {"old"}


def test_other_category_is_not_a_duplicate() -> None:
    new = complaint("new", category=Category.NOISE)
    odour = complaint("odour", east_m=5.0)
    assert find_duplicates(new, [odour], RULE, PROJECTOR.to_xy) == []


def test_open_case_at_the_same_enterprise_matches_at_any_distance_and_age() -> None:
    new = complaint("new", category=Category.WATER, enterprise_id="e-7")
    open_case = complaint("open", north_m=3000.0, hours_before=400, enterprise_id="e-7")
    closed_case = complaint("closed", north_m=2000.0, hours_before=10, enterprise_id="e-7")
    other = complaint("other", north_m=100.0, enterprise_id="e-8", category=Category.WATER)
    found = find_duplicates(
        new, [open_case, closed_case, other], RULE, PROJECTOR.to_xy, open_case_ids={"open"}
    )
    assert [(d.complaint_id, d.reason) for d in found] == [
        ("other", DuplicateReason.NEARBY_SAME_CATEGORY),
        ("open", DuplicateReason.SAME_ENTERPRISE_OPEN_CASE),
    ]
    assert found[1].distance_m == pytest.approx(3000.0, abs=0.01)
    no_enterprise = complaint("anon", category=Category.WATER)
    unlinked = find_duplicates(no_enterprise, [open_case], RULE, PROJECTOR.to_xy, {"open"})
    assert unlinked == []


def test_enterprise_link_wins_when_both_reasons_hold() -> None:
    new = complaint("new", enterprise_id="e-1")
    both = complaint("both", east_m=50.0, enterprise_id="e-1")
    [match] = find_duplicates(new, [both], RULE, PROJECTOR.to_xy, open_case_ids={"both"})
    assert match == DuplicateCandidate(
        "both", pytest.approx(50.0, abs=0.01), "same_enterprise_open_case"
    )


def test_self_and_merged_complaints_are_skipped_and_order_is_nearest_first() -> None:
    new = complaint("new")
    candidates = [
        new,
        complaint("merged", east_m=1.0, merged_into="b"),
        complaint("b", east_m=200.0),
        complaint("a", east_m=-100.0),
        complaint("c", north_m=450.0),
    ]
    found = find_duplicates(new, candidates, RULE, PROJECTOR.to_xy)
    assert [d.complaint_id for d in found] == ["a", "b", "c"]
    assert find_duplicates(new, [], RULE, PROJECTOR.to_xy) == []


def test_rule_and_complaint_validation() -> None:
    with pytest.raises(ValueError, match="radius"):
        DuplicateRule(radius_m=0)
    with pytest.raises(ValueError, match="window"):
        DuplicateRule(window=timedelta(0))
    with pytest.raises(ValueError, match="timezone-aware"):
        complaint("x", received_at=datetime(2025, 6, 3, 20))
    with pytest.raises(ValueError, match="latitude"):
        complaint("x", lat=91.0)
    with pytest.raises(ValueError, match="longitude"):
        complaint("x", lon=float("nan"))
    with pytest.raises(ValueError, match="into itself"):
        complaint("x", merged_into="x")


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812345678", "138****5678"),
        ("138 1234 5678", "138 **** 5678"),
        ("0576-88123456", "057*-****3456"),
        ("88123456", "88****56"),
        ("12369", "****9"),
        ("", ""),
    ],
)
def test_mask_phone(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


def test_mask_phone_rejects_non_numbers() -> None:
    with pytest.raises(ValueError, match="not a phone number"):
        mask_phone("call me")


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("张三丰", "张*丰"),
        ("欧阳娜娜", "欧**娜"),
        ("王", "*"),
        ("John Smith", "J*** S****"),
        ("", ""),
    ],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked
