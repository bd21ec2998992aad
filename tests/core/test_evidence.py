"""Hash chain: canonical JSON, appending, and detection of each kind of alteration."""

from __future__ import annotations

from dataclasses import replace

import pytest

from console.core.evidence import (
    GENESIS,
    ChainEntry,
    append,
    canonical_json,
    diff_paths,
    verify_chain,
)


def chain(n: int = 4) -> list[ChainEntry]:
    entries: list[ChainEntry] = []
    for i in range(n):
        head = entries[-1] if entries else None
        entries.append(append(head, "step", f"2026-11-28T09:0{i}:00+00:00", {"n": i, "名": "值"}))
    return entries


def test_canonical_json_is_deterministic_and_strict() -> None:
    assert canonical_json({"b": 1, "a": [1, "中"]}) == '{"a":[1,"中"],"b":1}'.encode()
    with pytest.raises(ValueError, match=r"Out of range|NaN|not canonical"):
        canonical_json({"x": float("nan")})
    with pytest.raises(ValueError, match="not canonical"):
        canonical_json({"x": object()})


def test_intact_chain_verifies() -> None:
    entries = chain()
    assert entries[0].prev_hash == GENESIS
    assert verify_chain(entries, entries[-1].entry_hash) == []


def test_altered_body_is_named() -> None:
    entries = chain()
    entries[1] = replace(entries[1], body={"n": 99, "名": "值"})
    problems = verify_chain(entries, entries[-1].entry_hash)
    assert [(p.where, p.what) for p in problems] == [("chain entry 2 (step)", "entry_hash")]


def test_rehashed_entry_breaks_the_next_link() -> None:
    entries = chain()
    forged = append(entries[0], "step", entries[1].at, {"n": 99})
    entries[1] = forged
    problems = verify_chain(entries, entries[-1].entry_hash)
    assert [(p.where, p.what) for p in problems] == [("chain entry 3 (step)", "prev_hash")]


def test_removed_entry_and_wrong_head() -> None:
    entries = chain()
    del entries[2]
    whats = {p.what for p in verify_chain(entries, "f" * 64)}
    assert whats == {"seq", "prev_hash", "chain_head"}


def test_truncated_chain_detected_by_head() -> None:
    entries = chain()
    problems = verify_chain(entries[:-1], entries[-1].entry_hash)
    assert [p.what for p in problems] == ["chain_head"]


def test_diff_paths_names_fields() -> None:
    before = {"data": {"items": [{"result": "non_compliant"}, {"result": "compliant"}]}, "x": 1}
    after = {"data": {"items": [{"result": "compliant"}, {"result": "compliant"}]}, "y": 1}
    assert diff_paths(before, after) == ["data.items[0].result", "x", "y"]
