"""Hash chain of a case file: every recorded fact is appended, nothing is edited in place.

``entry_hash = SHA-256(prev_hash || canonical JSON of {seq, kind, at, body})``. Canonical JSON
is UTF-8, sorted keys, no insignificant whitespace, no NaN: the same facts always hash the
same on any machine, so anyone holding the entries can re-check them. Verification reports
every problem it finds (which entry, which link) rather than stopping at the first, because
the reader wants to know exactly what was altered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
"""The ``prev_hash`` of the first entry."""


def canonical_json(value: Any) -> bytes:
    """Deterministic UTF-8 JSON; ValueError for NaN/Infinity or non-JSON values."""
    try:
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except TypeError as exc:
        raise ValueError(f"not canonical JSON: {exc}") from None
    return text.encode("utf-8")


@dataclass(frozen=True, slots=True)
class ChainEntry:
    seq: int
    kind: str
    at: str
    body: Mapping[str, Any]
    prev_hash: str
    entry_hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "at": self.at,
            "body": dict(self.body),
            "prev_hash": self.prev_hash,
            "entry_hash": self.entry_hash,
        }


def entry_hash(prev_hash: str, seq: int, kind: str, at: str, body: Mapping[str, Any]) -> str:
    content = canonical_json({"seq": seq, "kind": kind, "at": at, "body": body})
    return hashlib.sha256(prev_hash.encode("ascii") + content).hexdigest()


def append(head: ChainEntry | None, kind: str, at: str, body: Mapping[str, Any]) -> ChainEntry:
    """The entry that follows ``head`` (None: the first entry of a chain)."""
    seq = 1 if head is None else head.seq + 1
    prev = GENESIS if head is None else head.entry_hash
    return ChainEntry(seq, kind, at, body, prev, entry_hash(prev, seq, kind, at, body))


@dataclass(frozen=True, slots=True)
class Problem:
    """One detected alteration: ``where`` names the entry / row / file, ``what`` the field."""

    where: str
    what: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"where": self.where, "what": self.what, "detail": self.detail}


def verify_chain(entries: Sequence[ChainEntry], head: str | None) -> list[Problem]:
    """Re-hash every entry and check the links and the recorded head."""
    problems: list[Problem] = []
    prev = GENESIS
    for expected_seq, entry in enumerate(entries, start=1):
        where = f"chain entry {entry.seq} ({entry.kind})"
        if entry.seq != expected_seq:
            problems.append(
                Problem(where, "seq", f"expected seq {expected_seq}: an entry is missing")
            )
        if entry.prev_hash != prev:
            problems.append(
                Problem(where, "prev_hash", "does not link to the previous entry's hash")
            )
        actual = entry_hash(entry.prev_hash, entry.seq, entry.kind, entry.at, entry.body)
        if actual != entry.entry_hash:
            problems.append(
                Problem(where, "entry_hash", "content altered: recomputed hash differs")
            )
        prev = entry.entry_hash
    if head is not None and head != prev:
        problems.append(
            Problem("case file", "chain_head", "the recorded chain head is not the last entry")
        )
    return problems


def diff_paths(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Paths (``data.items[0].result``) at which two JSON values differ."""
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        paths: list[str] = []
        for key in sorted(set(expected) | set(actual), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in expected or key not in actual:
                paths.append(sub)
            else:
                paths.extend(diff_paths(expected[key], actual[key], sub))
        return paths
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [
            p
            for n, (e, a) in enumerate(zip(expected, actual, strict=True))
            for p in diff_paths(e, a, f"{path}[{n}]")
        ]
    return [] if expected == actual else [path or "(value)"]


def latest_by(entries: Iterable[ChainEntry], kind: str, key: str) -> dict[str, ChainEntry]:
    """The last entry of ``kind`` for each value of ``body[key]`` (later records win)."""
    latest: dict[str, ChainEntry] = {}
    for entry in entries:
        if entry.kind == kind and key in entry.body:
            latest[str(entry.body[key])] = entry
    return latest
