"""Double-random draws: reproducibility, constraints, tamper detection and the CLI round trip."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.core.draw import (
    ALGORITHM,
    CategoryRule,
    DrawError,
    DrawPlan,
    DrawRecord,
    InfeasibleDrawError,
    RandomStream,
    qualified_pool,
    run_draw,
    verify,
)
from console.core.model import (
    CreditRating,
    Enterprise,
    Industry,
    Officer,
    OfficerRole,
)

NOW = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
DISTRICTS = ("331002", "331003", "331004")


def enterprise(
    number: int,
    district: str = "331002",
    industry: Industry = Industry.DYEING,
    key: bool = True,
    credit: CreditRating = CreditRating.GREEN,
) -> Enterprise:
    return Enterprise(
        id=f"ent-{number:04d}",
        name=f"企业{number}",
        credit_code="",
        industry=industry,
        district_adcode=district,
        grid_id=None,
        lon=121.0,
        lat=28.6,
        address="",
        credit_rating=credit,
        is_key=key,
    )


def inspector(number: int, district: str = "331002", badge: bool = True) -> Officer:
    return Officer(
        id=f"sm-{number:03d}",
        name=f"队员{number}",
        role=OfficerRole.SQUAD_MEMBER,
        org_id="org",
        district_adcode=district,
        badge_no=f"3310{number:05d}" if badge else "",
    )


def grid_officer(number: int) -> Officer:
    return Officer(
        id=f"go-{number:03d}",
        name=f"网格员{number}",
        role=OfficerRole.GRID_OFFICER,
        org_id="org",
        district_adcode="331002",
        badge_no=f"9{number:05d}",
    )


# -- hypothesis strategies ----------------------------------------------------------------------

enterprises_st = st.lists(
    st.builds(
        enterprise,
        st.integers(0, 9999),
        st.sampled_from(DISTRICTS),
        st.sampled_from(list(Industry)),
        st.booleans(),
        st.sampled_from(list(CreditRating)),
    ),
    min_size=5,
    max_size=40,
    unique_by=lambda e: e.id,
)
officers_st = st.lists(
    st.one_of(
        st.builds(
            inspector,
            st.integers(0, 999),
            st.sampled_from(DISTRICTS),
            st.sampled_from([True, True, True, False]),  # most squad members hold a badge
        ),
        st.builds(grid_officer, st.integers(0, 999)),
    ),
    min_size=4,
    max_size=25,
    unique_by=lambda o: o.id,
)


@st.composite
def rules_st(draw: st.DrawFn) -> tuple[CategoryRule, ...]:
    rules = []
    for index in range(draw(st.integers(1, 3))):
        use_ratio = draw(st.booleans())
        rules.append(
            CategoryRule(
                name=f"rule{index}",
                ratio=draw(st.decimals("0.01", "1", places=2)) if use_ratio else None,
                count=None if use_ratio else draw(st.integers(0, 15)),
                # Filters are often empty, so that categories are not all empty.
                industries=tuple(draw(st.just(set()) | st.sets(st.sampled_from(list(Industry))))),
                districts=tuple(draw(st.just(set()) | st.sets(st.sampled_from(DISTRICTS)))),
                key=draw(st.none() | st.booleans()),
                credit_ratings=tuple(
                    draw(st.just(set()) | st.sets(st.sampled_from(list(CreditRating))))
                ),
            )
        )
    return tuple(rules)


@st.composite
def scenario_st(draw: st.DrawFn) -> tuple[DrawPlan, list[Enterprise], list[Officer]]:
    enterprises = draw(enterprises_st)
    officers = draw(officers_st)
    ent_ids = [e.id for e in enterprises] or ["ent-none"]
    off_ids = [o.id for o in officers] or ["sm-none"]
    conflicts = draw(
        st.lists(st.tuples(st.sampled_from(off_ids), st.sampled_from(ent_ids)), max_size=10)
    )
    previous = draw(
        st.dictionaries(st.sampled_from(ent_ids), st.lists(st.sampled_from(off_ids), max_size=3))
    )
    plan = DrawPlan(
        name="plan",
        rules=draw(rules_st()),
        inspectors_per_enterprise=draw(st.integers(2, 3)),
        pool_districts=tuple(sorted(draw(st.sets(st.sampled_from(DISTRICTS), max_size=2)))),
        conflicts=tuple(sorted(set(conflicts))),
        seed=draw(st.text(min_size=1, max_size=20)),
    ).with_previous(previous)
    return plan, enterprises, officers


def attempt(
    plan: DrawPlan, enterprises: list[Enterprise], officers: list[Officer]
) -> DrawRecord | InfeasibleDrawError:
    """The record, or the infeasibility error as a value so a property can inspect it."""
    try:
        return run_draw(plan, enterprises, officers, now=NOW)
    except InfeasibleDrawError as exc:
        return exc


HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@HYPOTHESIS
@given(scenario_st(), st.randoms(use_true_random=False))
def test_input_order_is_irrelevant(
    scenario: tuple[DrawPlan, list[Enterprise], list[Officer]], rng: Any
) -> None:
    plan, enterprises, officers = scenario
    first = attempt(plan, enterprises, officers)
    shuffled_e, shuffled_o = list(enterprises), list(officers)
    rng.shuffle(shuffled_e)
    rng.shuffle(shuffled_o)
    second = attempt(plan, shuffled_e, shuffled_o)
    if isinstance(first, InfeasibleDrawError):
        assert isinstance(second, InfeasibleDrawError)
        assert second.enterprise_id == first.enterprise_id
    else:
        assert second == first
        assert isinstance(second, DrawRecord)
        assert second.to_json() == first.to_json()


@HYPOTHESIS
@given(scenario_st())
def test_constraints_hold_or_the_error_is_justified(
    scenario: tuple[DrawPlan, list[Enterprise], list[Officer]],
) -> None:
    plan, enterprises, officers = scenario
    pool = {o.id: o for o in qualified_pool(plan, officers)}
    conflicts = set(plan.conflicts)
    previous = dict(plan.previous)
    needed = plan.inspectors_per_enterprise
    by_id = {e.id: e for e in enterprises}

    def eligible(enterprise_id: str) -> set[str]:
        return {
            oid
            for oid in pool
            if (oid, enterprise_id) not in conflicts and oid not in previous.get(enterprise_id, ())
        }

    record = attempt(plan, enterprises, officers)
    if isinstance(record, InfeasibleDrawError):
        assert len(eligible(record.enterprise_id)) < needed
        assert record.enterprise_id in str(record)
        return

    # Categories partition the register (first match wins); quotas: ceil(ratio*n), min(count, n).
    for rule_index, (rule, outcome) in enumerate(zip(plan.rules, record.categories, strict=True)):
        members = [
            e
            for e in enterprises
            if rule.matches(e) and not any(r.matches(e) for r in plan.rules[:rule_index])
        ]
        assert outcome.population == len(members)
        if rule.ratio is not None:
            expected = math.ceil(Fraction(rule.ratio) * len(members))
            assert expected / max(len(members), 1) >= rule.ratio or not members
        else:
            assert rule.count is not None
            expected = min(rule.count, len(members))
        assert outcome.selected == expected
        drawn = [s for s in record.selections if s.category == rule.name]
        assert len(drawn) == expected
        assert {s.enterprise_id for s in drawn} <= {e.id for e in members}

    ids = [s.enterprise_id for s in record.selections]
    assert len(ids) == len(set(ids))
    for selection in record.selections:
        assert selection.district_adcode == by_id[selection.enterprise_id].district_adcode
        chosen = [i.officer_id for i in selection.inspectors]
        assert len(chosen) == needed >= 2
        assert len(set(chosen)) == needed
        assert set(chosen) <= eligible(selection.enterprise_id)
        for assigned in selection.inspectors:
            assert assigned.badge_no == pool[assigned.officer_id].badge_no
            if plan.pool_districts:
                assert assigned.district_adcode in plan.pool_districts
    assert verify(record, enterprises, officers).equal


# -- fixed examples -------------------------------------------------------------------------------


def small_world() -> tuple[list[Enterprise], list[Officer]]:
    enterprises = [
        enterprise(
            n, DISTRICTS[n % 3], credit=CreditRating.RED if n % 10 == 0 else CreditRating.BLUE
        )
        for n in range(1, 41)
    ]
    officers = [inspector(n, DISTRICTS[n % 3]) for n in range(1, 13)]
    officers += [inspector(99, badge=False), grid_officer(1)]
    return enterprises, officers


PLAN_JSON: dict[str, Any] = {
    "name": "2025年第三季度双随机抽查",
    "categories": [
        {"name": "红黑名单", "credit_ratings": ["black", "red"], "ratio": 1},
        {"name": "重点排污单位", "key": True, "ratio": 0.2},
    ],
    "inspectors_per_enterprise": 2,
    "conflicts": [{"officer_id": "sm-001", "enterprise_id": "ent-0010"}],
    "previous": {"ent-0020": ["sm-002", "sm-005"]},
    "seed": "20250701-公开摇号",
}


def fixed_record() -> tuple[DrawRecord, list[Enterprise], list[Officer]]:
    enterprises, officers = small_world()
    return (
        run_draw(DrawPlan.from_json(PLAN_JSON), enterprises, officers, now=NOW),
        enterprises,
        officers,
    )


def test_fixed_draw_is_pinned_to_the_algorithm_version() -> None:
    """If this fails, the algorithm changed: bump ALGORITHM and update docs/draw.md."""
    record, _, _ = fixed_record()
    assert record.algorithm == ALGORITHM == "double-random/hmac-sha256-ctr/v1"
    assert [c.to_json() for c in record.categories] == [
        {"name": "红黑名单", "population": 4, "selected": 4},
        {"name": "重点排污单位", "population": 36, "selected": 8},  # ceil(0.2 x 36) = ceil(7.2)
    ]
    assert [(s.enterprise_id, [i.officer_id for i in s.inspectors]) for s in record.selections] == (
        PINNED_SELECTIONS
    )
    assert record.record_digest == PINNED_DIGEST


PINNED_SELECTIONS: list[tuple[str, list[str]]] = [
    ("ent-0040", ["sm-004", "sm-001"]),
    ("ent-0020", ["sm-011", "sm-008"]),
    ("ent-0010", ["sm-007", "sm-010"]),
    ("ent-0030", ["sm-012", "sm-009"]),
    ("ent-0037", ["sm-004", "sm-010"]),
    ("ent-0005", ["sm-005", "sm-002"]),
    ("ent-0012", ["sm-006", "sm-003"]),
    ("ent-0033", ["sm-009", "sm-006"]),
    ("ent-0014", ["sm-008", "sm-011"]),
    ("ent-0001", ["sm-001", "sm-007"]),
    ("ent-0016", ["sm-012", "sm-003"]),
    ("ent-0011", ["sm-005", "sm-002"]),
]
PINNED_DIGEST = "b34e5aa57a144282d36f38e70a5fe875a84e241761647b048fcc8155f4e7dc5b"


def test_random_stream_is_hmac_sha256_in_counter_mode() -> None:
    key = hashlib.sha256(b"key").digest()
    stream = RandomStream(key, "assign")
    words = [stream.below(1 << 64) for _ in range(5)]
    block0 = hmac.new(key, b"assign\x00" + (0).to_bytes(8, "big"), hashlib.sha256).digest()
    block1 = hmac.new(key, b"assign\x00" + (1).to_bytes(8, "big"), hashlib.sha256).digest()
    expected = [int.from_bytes(block0[i : i + 8], "big") for i in range(0, 32, 8)]
    expected.append(int.from_bytes(block1[:8], "big"))
    assert words == expected
    assert sorted(RandomStream(key, "x").shuffled(list("abcdef"))) == list("abcdef")


def test_ratio_rounds_up_on_the_exact_decimal() -> None:
    rule = CategoryRule.from_json({"name": "r", "ratio": 0.2}, "rule")
    assert rule.quota(330) == 66  # 0.2 * 330 in binary floats is 66.00000000000001
    assert rule.quota(21) == 5
    assert rule.quota(0) == 0
    assert CategoryRule.from_json({"name": "c", "count": 7}, "rule").quota(3) == 3


def test_generated_seed_is_recorded_and_verifiable() -> None:
    enterprises, officers = small_world()
    plan = DrawPlan.from_json({k: v for k, v in PLAN_JSON.items() if k != "seed"})
    record = run_draw(plan, enterprises, officers)
    assert record.seed_generated
    assert len(record.seed) == 32
    int(record.seed, 16)
    assert record.plan.seed == record.seed
    assert verify(
        DrawRecord.from_json(json.loads(json.dumps(record.to_json()))), enterprises, officers
    ).equal
    other = run_draw(plan, enterprises, officers)
    assert other.seed != record.seed


def test_prefers_same_district_and_balances_load() -> None:
    record, _, _ = fixed_record()
    loads: dict[str, int] = {}
    same = 0
    for selection in record.selections:
        for assigned in selection.inspectors:
            loads[assigned.officer_id] = loads.get(assigned.officer_id, 0) + 1
            same += assigned.district_adcode == selection.district_adcode
    fair_share = math.ceil(len(record.selections) * 2 / 12)
    assert max(loads.values()) <= fair_share
    assert same >= len(record.selections)  # at least half of all assignments are local


def test_record_round_trips_through_json() -> None:
    record, _, _ = fixed_record()
    text = json.dumps(record.to_json(), ensure_ascii=False)
    assert DrawRecord.from_json(json.loads(text)) == record


def test_previous_record_blocks_repeats() -> None:
    record, enterprises, officers = fixed_record()
    plan = DrawPlan.from_json(PLAN_JSON).with_previous(record.assignments())
    again = run_draw(replace(plan, seed="next"), enterprises, officers, now=NOW)
    last = record.assignments()
    for selection in again.selections:
        repeated = set(last.get(selection.enterprise_id, ())) & {
            i.officer_id for i in selection.inspectors
        }
        assert not repeated


# -- impossible constraints and bad plans ---------------------------------------------------------


def test_too_small_pool_names_the_enterprise() -> None:
    enterprises = [enterprise(1)]
    plan = DrawPlan(
        name="p", rules=(CategoryRule("all", count=1),), inspectors_per_enterprise=3, seed="s"
    )
    with pytest.raises(
        InfeasibleDrawError, match=r"ent-0001 \(企业1\) needs 3 inspectors but only 2"
    ):
        run_draw(plan, enterprises, [inspector(1), inspector(2), inspector(3, badge=False)])


def test_conflicts_and_last_time_are_counted_in_the_error() -> None:
    plan = DrawPlan(
        name="p",
        rules=(CategoryRule("all", ratio=None, count=1),),
        conflicts=(("sm-001", "ent-0001"),),
        seed="s",
    ).with_previous({"ent-0001": ["sm-002"]})
    officers = [inspector(n) for n in range(1, 4)]
    with pytest.raises(InfeasibleDrawError) as error:
        run_draw(plan, [enterprise(1)], officers)
    assert error.value.enterprise_id == "ent-0001"
    assert "1 declared conflicts, 1 inspected it last time" in str(error.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"inspectors_per_enterprise": 1}, "at least 2"),
        ({"categories": []}, "at least one category"),
        ({"categories": [{"name": "x"}]}, "exactly one of 'ratio' or 'count'"),
        ({"categories": [{"name": "x", "ratio": 0.5, "count": 2}]}, "exactly one"),
        ({"categories": [{"name": "x", "ratio": 0}]}, "ratio must be > 0"),
        ({"categories": [{"name": "x", "ratio": 1.5}]}, "ratio must be > 0"),
        ({"categories": [{"name": "x", "count": -1}]}, "count must be >= 0"),
        ({"categories": [{"name": "x", "count": 1, "industries": ["steel"]}]}, "unknown value"),
        ({"categories": [{"name": "x", "count": 1}, {"name": "x", "count": 2}]}, "unique"),
        ({"colour": "red"}, "unknown field"),
        ({"seed": ""}, "seed must be a non-empty string"),
        ({"conflicts": [{"officer_id": "a"}]}, "enterprise_id must be a non-empty string"),
    ],
)
def test_bad_plans_are_rejected_with_a_reason(change: dict[str, Any], message: str) -> None:
    with pytest.raises(DrawError, match=message):
        DrawPlan.from_json({**PLAN_JSON, **change})


def test_duplicate_register_ids_are_rejected() -> None:
    plan = DrawPlan.from_json(PLAN_JSON)
    with pytest.raises(DrawError, match="duplicate enterprise id 'ent-0001'"):
        run_draw(plan, [enterprise(1), enterprise(1)], [inspector(1), inspector(2)])


# -- tamper detection -----------------------------------------------------------------------------


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        target: Any = data
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return edit


TAMPERING: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "assignment": (
        _set(("selections", 0, "inspectors", 0, "officer_id"), "sm-012"),
        "selections[0]",
    ),
    "enterprise": (_set(("selections", 1, "enterprise_id"), "ent-0039"), "selections[1]"),
    "seed": (_set(("seed",), "another seed"), "selections"),
    "record_digest": (_set(("record_digest",), "0" * 64), "record_digest"),
    "register_digest": (_set(("inputs", "register", "sha256"), "1" * 64), "inputs.register.sha256"),
    "pool_digest": (_set(("inputs", "pool", "sha256"), "2" * 64), "inputs.pool.sha256"),
    "pool_size": (_set(("inputs", "pool", "size"), 3), "inputs.pool.size"),
    "categories": (_set(("categories", 1, "selected"), 2), "categories"),
    "plan": (_set(("plan", "categories", 1, "ratio"), "0.1"), "selections"),
    "algorithm": (_set(("algorithm",), "double-random/other/v9"), "algorithm"),
    "created_at": (_set(("created_at",), "2020-01-01T00:00:00+00:00"), "record_digest"),
    "inspector_name": (_set(("selections", 0, "inspectors", 0, "name"), "某人"), "record_digest"),
    "dropped": (lambda data: data["selections"].pop(), "selections"),
}


@pytest.mark.parametrize("name", sorted(TAMPERING))
def test_verify_detects_tampering(name: str) -> None:
    record, enterprises, officers = fixed_record()
    assert verify(record, enterprises, officers).equal
    data = json.loads(json.dumps(record.to_json()))
    edit, field = TAMPERING[name]
    edit(data)
    result = verify(DrawRecord.from_json(data), enterprises, officers)
    assert not result.equal
    assert any(d.field.startswith(field) for d in result.differences), result.differences


def test_verify_detects_a_changed_register() -> None:
    record, enterprises, officers = fixed_record()
    changed = [replace(enterprises[0], credit_rating=CreditRating.BLACK), *enterprises[1:]]
    result = verify(record, changed, officers)
    assert not result.equal
    assert "inputs.register.sha256" in {d.field for d in result.differences}


def test_malformed_record_is_a_draw_error() -> None:
    record, _, _ = fixed_record()
    data = record.to_json()
    del data["seed"]
    with pytest.raises(DrawError, match="missing the field 'seed'"):
        DrawRecord.from_json(data)
    with pytest.raises(DrawError, match="not a draw record"):
        DrawRecord.from_json({"format": "something else"})


# -- CLI round trip on a seeded SQLite database --------------------------------------------------


def run_console(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ENFORCEMENT_CONSOLE_HOME": str(home), "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "console", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("draw-cli")
    url = f"sqlite:///{home / 'world.sqlite3'}"
    done = run_console(home, "seed", "--db", url)
    assert done.returncode == 0, done.stderr
    return home, url


@pytest.mark.slow
def test_cli_draw_verify_and_tamper(seeded: tuple[Path, str], tmp_path: Path) -> None:
    home, url = seeded
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "name": "第三季度抽查",
                "categories": [
                    {"name": "红黑名单", "credit_ratings": ["red", "black"], "ratio": 1},
                    {"name": "重点排污单位", "key": True, "ratio": 0.2},
                ],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    record_path, printable = tmp_path / "record.json", tmp_path / "draw.html"
    done = run_console(
        home, "draw", "--plan", str(plan), "--db", url, "--out", str(record_path),
        "--printable", str(printable),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    record = json.loads(record_path.read_text(encoding="utf-8"))
    assert summary["seed_generated"] is True
    assert summary["seed"] == record["seed"]
    assert summary["record_digest"] == record["record_digest"]
    assert summary["selected"] == len(record["selections"]) > 0
    page = printable.read_text(encoding="utf-8")
    for text in (
        "抽查企业",
        "执法人员",
        "随机种子",
        "摘要",
        record["seed"],
        record["record_digest"],
    ):
        assert text in page

    verified = run_console(home, "draw", "--verify", str(record_path), "--db", url)
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["equal"] is True

    record["selections"][0]["inspectors"][0]["officer_id"] = "sm-forged"
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    verified = run_console(home, "draw", "--verify", str(forged), "--db", url)
    assert verified.returncode == 1
    fields = {d["field"] for d in json.loads(verified.stdout)["differences"]}
    assert {"record_digest", "selections[0]"} <= fields

    # The next draw avoids the inspectors of this one, enterprise by enterprise.
    nxt = tmp_path / "next.json"
    done = run_console(
        home, "draw", "--plan", str(plan), "--db", url, "--out", str(nxt),
        "--previous", str(record_path), "--printable", str(tmp_path / "next.txt"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    first = DrawRecord.from_json(json.loads(record_path.read_text(encoding="utf-8")))
    second = json.loads(nxt.read_text(encoding="utf-8"))
    last = first.assignments()
    for selection in second["selections"]:
        ids = {i["officer_id"] for i in selection["inspectors"]}
        assert not ids & set(last.get(selection["enterprise_id"], ()))
    assert "随机种子" in (tmp_path / "next.txt").read_text(encoding="utf-8")


@pytest.mark.slow
def test_cli_bad_input_and_infeasible(seeded: tuple[Path, str], tmp_path: Path) -> None:
    home, url = seeded
    missing = run_console(home, "draw", "--verify", str(tmp_path / "nope.json"), "--db", url)
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "categories": [{"name": "a"}]}), encoding="utf-8")
    done = run_console(home, "draw", "--plan", str(bad), "--db", url)
    assert done.returncode == 2
    assert "exactly one of 'ratio' or 'count'" in done.stderr

    impossible = tmp_path / "impossible.json"
    impossible.write_text(
        json.dumps(
            {
                "name": "x",
                "categories": [{"name": "all", "count": 1}],
                "inspectors_per_enterprise": 5,  # 椒江 has 4 squad members
                "pool": {"districts": ["331002"]},
                "seed": "s",
            }
        ),
        encoding="utf-8",
    )
    done = run_console(home, "draw", "--plan", str(impossible), "--db", url)
    assert done.returncode == 1, done.stderr
    printed = json.loads(done.stdout)
    assert printed["error"] == "infeasible"
    assert printed["enterprise_id"] in printed["message"]
