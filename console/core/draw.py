"""Double-random inspection draws (双随机、一公开): random enterprises, random inspectors.

A draw is published, so anyone must be able to re-run it and get the same result. Everything
random comes from one documented, version-pinned stream (HMAC-SHA256 in counter mode keyed by
the SHA-256 of the canonical inputs and the seed), never from :mod:`random`, whose algorithm
may change between Python versions. Inputs are sorted canonically first, so the order the
database returns them in does not matter. The algorithm is written down in ``docs/draw.md``;
change :data:`ALGORITHM` whenever a change could alter any result.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, TypeVar

from console.core.model import CreditRating, Enterprise, Industry, Officer, OfficerRole

ALGORITHM = "double-random/hmac-sha256-ctr/v1"
RECORD_FORMAT = "enforcement-console/draw-record/1"
MIN_INSPECTORS = 2

_E = TypeVar("_E", Industry, CreditRating)


class DrawError(ValueError):
    """A plan, record or draw that cannot be used; the message says what and why."""


class InfeasibleDrawError(DrawError):
    """The constraints cannot be met for one enterprise (named in the message)."""

    def __init__(self, enterprise_id: str, message: str) -> None:
        super().__init__(message)
        self.enterprise_id = enterprise_id


# -- canonical form ---------------------------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8, no floats: the byte string every digest is taken over."""
    return json.dumps(
        value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def sha256_hex(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def register_entries(enterprises: Iterable[Enterprise]) -> list[dict[str, Any]]:
    """The attributes of the register that can change a draw, sorted by enterprise id."""
    entries: list[dict[str, Any]] = [
        {
            "id": e.id,
            "industry": e.industry.value,
            "district": e.district_adcode,
            "key": e.is_key,
            "credit": e.credit_rating.value,
        }
        for e in enterprises
    ]
    entries.sort(key=lambda entry: entry["id"])
    _reject_duplicates([entry["id"] for entry in entries], "enterprise")
    return entries


def pool_entries(inspectors: Iterable[Officer]) -> list[dict[str, Any]]:
    """The attributes of the inspector pool that can change a draw, sorted by officer id."""
    entries: list[dict[str, Any]] = [
        {"id": o.id, "badge_no": o.badge_no, "district": o.district_adcode} for o in inspectors
    ]
    entries.sort(key=lambda entry: entry["id"])
    _reject_duplicates([entry["id"] for entry in entries], "officer")
    return entries


def _reject_duplicates(sorted_ids: list[str], what: str) -> None:
    for first, second in itertools.pairwise(sorted_ids):
        if first == second:
            raise DrawError(f"duplicate {what} id {first!r} in the draw inputs")


# -- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CategoryRule:
    """One category of enterprises and how many of it to draw.

    Empty filters match everything. An enterprise belongs to the first rule it matches, so a
    last rule without filters means "all the others". Exactly one of ``ratio`` (0 < r <= 1,
    rounded up: at least that share is inspected) or ``count`` is set.
    """

    name: str
    ratio: Decimal | None = None
    count: int | None = None
    industries: tuple[Industry, ...] = ()
    districts: tuple[str, ...] = ()
    key: bool | None = None
    credit_ratings: tuple[CreditRating, ...] = ()

    def matches(self, enterprise: Enterprise) -> bool:
        return (
            (not self.industries or enterprise.industry in self.industries)
            and (not self.districts or enterprise.district_adcode in self.districts)
            and (self.key is None or enterprise.is_key == self.key)
            and (not self.credit_ratings or enterprise.credit_rating in self.credit_ratings)
        )

    def quota(self, population: int) -> int:
        """How many of ``population`` enterprises to draw: ceil(ratio x n), or min(count, n)."""
        if self.ratio is not None:
            return math.ceil(Fraction(self.ratio) * population)
        assert self.count is not None  # guaranteed by from_json / __post_init__
        return min(self.count, population)

    def __post_init__(self) -> None:
        if not self.name:
            raise DrawError("every category needs a non-empty name")
        if (self.ratio is None) == (self.count is None):
            raise DrawError(f"category {self.name!r}: give exactly one of 'ratio' or 'count'")
        if self.ratio is not None and not Decimal(0) < self.ratio <= Decimal(1):
            raise DrawError(f"category {self.name!r}: ratio must be > 0 and <= 1")
        if self.count is not None and self.count < 0:
            raise DrawError(f"category {self.name!r}: count must be >= 0")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "industries": sorted(i.value for i in self.industries),
            "districts": sorted(self.districts),
            "key": self.key,
            "credit_ratings": sorted(c.value for c in self.credit_ratings),
        }
        if self.ratio is not None:
            data["ratio"] = _decimal_text(self.ratio)
        else:
            data["count"] = self.count
        return data

    @classmethod
    def from_json(cls, data: Any, where: str) -> CategoryRule:
        obj = _object(data, where)
        _only_keys(
            obj,
            where,
            {"name", "ratio", "count", "industries", "districts", "key", "credit_ratings"},
        )
        key = obj.get("key")
        if key is not None and not isinstance(key, bool):
            raise DrawError(f"{where}.key must be true, false or absent")
        count = obj.get("count")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
            raise DrawError(f"{where}.count must be a whole number")
        return cls(
            name=_string(obj.get("name"), f"{where}.name"),
            ratio=None if obj.get("ratio") is None else _ratio(obj["ratio"], f"{where}.ratio"),
            count=count,
            # Filters are sets: stored sorted and without repeats, as in the canonical form.
            industries=tuple(
                sorted(
                    {
                        _enum(Industry, v, f"{where}.industries")
                        for v in _list(obj, "industries", where)
                    }
                )
            ),
            districts=tuple(
                sorted({_string(v, f"{where}.districts") for v in _list(obj, "districts", where)})
            ),
            key=key,
            credit_ratings=tuple(
                sorted(
                    {
                        _enum(CreditRating, v, f"{where}.credit_ratings")
                        for v in _list(obj, "credit_ratings", where)
                    }
                )
            ),
        )


@dataclass(frozen=True, slots=True)
class DrawPlan:
    """What to draw and under which constraints; read from the plan JSON (``docs/draw.md``).

    ``previous`` maps an enterprise id to the inspectors who went there last time (they may not
    go again); ``conflicts`` are declared (officer id, enterprise id) conflicts of interest.
    ``pool_districts`` restricts the qualified pool (squad members with a badge number).
    """

    name: str
    rules: tuple[CategoryRule, ...]
    inspectors_per_enterprise: int = MIN_INSPECTORS
    pool_districts: tuple[str, ...] = ()
    conflicts: tuple[tuple[str, str], ...] = ()
    previous: tuple[tuple[str, tuple[str, ...]], ...] = ()
    seed: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise DrawError("the plan needs a non-empty 'name'")
        if not self.rules:
            raise DrawError("the plan needs at least one category")
        if self.inspectors_per_enterprise < MIN_INSPECTORS:
            raise DrawError(f"inspectors_per_enterprise must be at least {MIN_INSPECTORS}")
        names = [rule.name for rule in self.rules]
        if len(set(names)) != len(names):
            raise DrawError("category names must be unique")
        if self.seed is not None and not self.seed:
            raise DrawError("seed must be a non-empty string (or absent to generate one)")

    def with_previous(self, previous: Mapping[str, Sequence[str]]) -> DrawPlan:
        """This plan with ``previous`` added to (and overriding) its own previous assignments."""
        merged = dict(self.previous)
        merged.update({eid: tuple(ids) for eid, ids in previous.items()})
        return replace(self, previous=_canonical_previous(merged))

    def to_json(self, *, with_seed: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "categories": [rule.to_json() for rule in self.rules],
            "inspectors_per_enterprise": self.inspectors_per_enterprise,
            "pool": {"districts": sorted(self.pool_districts)},
            "conflicts": [
                {"officer_id": officer, "enterprise_id": enterprise}
                for officer, enterprise in sorted(set(self.conflicts))
            ],
            "previous": {eid: sorted(ids) for eid, ids in self.previous},
        }
        if with_seed and self.seed is not None:
            data["seed"] = self.seed
        return data

    @classmethod
    def from_json(cls, data: Any) -> DrawPlan:
        obj = _object(data, "plan")
        _only_keys(
            obj,
            "plan",
            {
                "name",
                "categories",
                "inspectors_per_enterprise",
                "pool",
                "conflicts",
                "previous",
                "seed",
            },
        )
        per = obj.get("inspectors_per_enterprise", MIN_INSPECTORS)
        if not isinstance(per, int) or isinstance(per, bool):
            raise DrawError("plan.inspectors_per_enterprise must be a whole number")
        pool = _object(obj.get("pool", {}), "plan.pool")
        _only_keys(pool, "plan.pool", {"districts"})
        conflicts = []
        for index, item in enumerate(_list(obj, "conflicts", "plan")):
            where = f"plan.conflicts[{index}]"
            pair = _object(item, where)
            _only_keys(pair, where, {"officer_id", "enterprise_id"})
            conflicts.append(
                (
                    _string(pair.get("officer_id"), f"{where}.officer_id"),
                    _string(pair.get("enterprise_id"), f"{where}.enterprise_id"),
                )
            )
        previous_obj = _object(obj.get("previous", {}), "plan.previous")
        previous = {
            eid: tuple(
                _string(v, f"plan.previous[{eid!r}]")
                for v in _list(previous_obj, eid, "plan.previous")
            )
            for eid in previous_obj
        }
        seed = obj.get("seed")
        return cls(
            name=_string(obj.get("name"), "plan.name"),
            rules=tuple(
                CategoryRule.from_json(item, f"plan.categories[{index}]")
                for index, item in enumerate(_list(obj, "categories", "plan"))
            ),
            inspectors_per_enterprise=per,
            pool_districts=tuple(
                sorted(
                    {
                        _string(v, "plan.pool.districts")
                        for v in _list(pool, "districts", "plan.pool")
                    }
                )
            ),
            conflicts=tuple(sorted(set(conflicts))),
            previous=_canonical_previous(previous),
            seed=None if seed is None else _string(seed, "plan.seed"),
        )


def _canonical_previous(
    previous: Mapping[str, Sequence[str]],
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(sorted((eid, tuple(sorted(set(ids)))) for eid, ids in previous.items() if ids))


# -- the random stream ------------------------------------------------------------------------


class RandomStream:
    """Uniform integers from HMAC-SHA256(key, label || 0x00 || counter as 8 bytes big-endian).

    Blocks are consumed 8 bytes at a time as big-endian unsigned 64-bit numbers; an integer
    in [0, n) is ``x % n`` for the first ``x`` below the largest multiple of ``n`` not
    exceeding 2**64 (rejection sampling: no modulo bias).
    """

    def __init__(self, key: bytes, label: str) -> None:
        self._key = key
        self._label = label.encode("utf-8") + b"\x00"
        self._words = self._generate()

    def _generate(self) -> Iterator[int]:
        counter = 0
        while True:
            block = hmac.new(
                self._key, self._label + counter.to_bytes(8, "big"), hashlib.sha256
            ).digest()
            for offset in range(0, 32, 8):
                yield int.from_bytes(block[offset : offset + 8], "big")
            counter += 1

    def below(self, n: int) -> int:
        if n <= 0:
            raise ValueError("n must be positive")
        limit = (1 << 64) - (1 << 64) % n
        while True:
            word = next(self._words)
            if word < limit:
                return word % n

    def shuffled(self, items: Sequence[str]) -> list[str]:
        """Fisher-Yates: for i from n-1 down to 1, swap item i with item below(i + 1)."""
        result = list(items)
        for i in range(len(result) - 1, 0, -1):
            j = self.below(i + 1)
            result[i], result[j] = result[j], result[i]
        return result


# -- the record -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AssignedInspector:
    officer_id: str
    name: str
    badge_no: str
    district_adcode: str

    def to_json(self) -> dict[str, Any]:
        return {
            "officer_id": self.officer_id,
            "name": self.name,
            "badge_no": self.badge_no,
            "district": self.district_adcode,
        }


@dataclass(frozen=True, slots=True)
class Selection:
    """One drawn enterprise and its inspectors, in draw order."""

    enterprise_id: str
    enterprise_name: str
    district_adcode: str
    category: str
    inspectors: tuple[AssignedInspector, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "enterprise_id": self.enterprise_id,
            "enterprise_name": self.enterprise_name,
            "district": self.district_adcode,
            "category": self.category,
            "inspectors": [inspector.to_json() for inspector in self.inspectors],
        }


@dataclass(frozen=True, slots=True)
class CategoryOutcome:
    name: str
    population: int
    selected: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "population": self.population, "selected": self.selected}


@dataclass(frozen=True, slots=True)
class DrawRecord:
    """The published result: plan, seed, input digests, selections, and a digest over it all."""

    plan: DrawPlan
    seed: str
    seed_generated: bool
    algorithm: str
    register_digest: str
    register_size: int
    pool_digest: str
    pool_size: int
    categories: tuple[CategoryOutcome, ...]
    selections: tuple[Selection, ...]
    created_at: str
    record_digest: str = field(default="")

    def body(self) -> dict[str, Any]:
        """Everything but the record digest, which is the SHA-256 of this body's canonical JSON."""
        return {
            "format": RECORD_FORMAT,
            "algorithm": self.algorithm,
            "plan": self.plan.to_json(with_seed=False),
            "seed": self.seed,
            "seed_generated": self.seed_generated,
            "inputs": {
                "register": {"sha256": self.register_digest, "size": self.register_size},
                "pool": {"sha256": self.pool_digest, "size": self.pool_size},
            },
            "categories": [outcome.to_json() for outcome in self.categories],
            "selections": [selection.to_json() for selection in self.selections],
            "created_at": self.created_at,
        }

    def computed_digest(self) -> str:
        return sha256_hex(self.body())

    def to_json(self) -> dict[str, Any]:
        return {**self.body(), "record_digest": self.record_digest}

    def assignments(self) -> dict[str, list[str]]:
        """Enterprise id -> officer ids: the ``previous`` of the next draw."""
        return {s.enterprise_id: [i.officer_id for i in s.inspectors] for s in self.selections}

    @classmethod
    def from_json(cls, data: Any) -> DrawRecord:
        """Parse a record file; a malformed one raises :class:`DrawError` naming the problem."""
        try:
            obj = _object(data, "record")
            if obj.get("format") != RECORD_FORMAT:
                raise DrawError(f"not a draw record (format should be {RECORD_FORMAT!r})")
            plan_data = dict(_object(obj["plan"], "record.plan"))
            seed = _string(obj["seed"], "record.seed")
            inputs = _object(obj["inputs"], "record.inputs")
            register = _object(inputs["register"], "record.inputs.register")
            pool = _object(inputs["pool"], "record.inputs.pool")
            return cls(
                plan=DrawPlan.from_json({**plan_data, "seed": seed}),
                seed=seed,
                seed_generated=_bool(obj["seed_generated"], "record.seed_generated"),
                algorithm=_string(obj["algorithm"], "record.algorithm"),
                register_digest=_string(register["sha256"], "record.inputs.register.sha256"),
                register_size=_int(register["size"], "record.inputs.register.size"),
                pool_digest=_string(pool["sha256"], "record.inputs.pool.sha256"),
                pool_size=_int(pool["size"], "record.inputs.pool.size"),
                categories=tuple(
                    CategoryOutcome(
                        name=_string(item["name"], "record.categories.name"),
                        population=_int(item["population"], "record.categories.population"),
                        selected=_int(item["selected"], "record.categories.selected"),
                    )
                    for item in _list(obj, "categories", "record")
                ),
                selections=tuple(
                    Selection(
                        enterprise_id=_string(item["enterprise_id"], "selection.enterprise_id"),
                        enterprise_name=_string(
                            item["enterprise_name"], "selection.enterprise_name", empty=True
                        ),
                        district_adcode=_string(item["district"], "selection.district"),
                        category=_string(item["category"], "selection.category"),
                        inspectors=tuple(
                            AssignedInspector(
                                officer_id=_string(i["officer_id"], "inspector.officer_id"),
                                name=_string(i["name"], "inspector.name", empty=True),
                                badge_no=_string(i["badge_no"], "inspector.badge_no"),
                                district_adcode=_string(i["district"], "inspector.district"),
                            )
                            for i in item["inspectors"]
                        ),
                    )
                    for item in _list(obj, "selections", "record")
                ),
                created_at=_string(obj["created_at"], "record.created_at"),
                record_digest=_string(obj["record_digest"], "record.record_digest"),
            )
        except KeyError as exc:
            raise DrawError(f"draw record is missing the field {exc.args[0]!r}") from exc
        except TypeError as exc:
            raise DrawError(f"draw record is malformed: {exc}") from exc


# -- the draw ---------------------------------------------------------------------------------


def qualified_pool(plan: DrawPlan, officers: Iterable[Officer]) -> list[Officer]:
    """Squad members with a badge number, in the plan's pool districts if it names any."""
    return sorted(
        (
            o
            for o in officers
            if o.role is OfficerRole.SQUAD_MEMBER
            and o.badge_no.strip()
            and (not plan.pool_districts or o.district_adcode in plan.pool_districts)
        ),
        key=lambda o: o.id,
    )


def draw_key(plan: DrawPlan, seed: str, register_digest: str, pool_digest: str) -> bytes:
    """SHA-256 of the canonical JSON of algorithm, plan (without seed), input digests and seed."""
    return hashlib.sha256(
        canonical_json(
            {
                "algorithm": ALGORITHM,
                "plan": plan.to_json(with_seed=False),
                "register": register_digest,
                "pool": pool_digest,
                "seed": seed,
            }
        )
    ).digest()


def new_seed() -> str:
    """128 bits from the operating system's CSPRNG, as 32 hex digits."""
    return os.urandom(16).hex()


def run_draw(
    plan: DrawPlan,
    enterprises: Iterable[Enterprise],
    officers: Iterable[Officer],
    *,
    now: datetime | None = None,
) -> DrawRecord:
    """Draw enterprises per category and assign inspectors; the seed is generated if absent.

    Raises :class:`InfeasibleDrawError` naming the first enterprise (in draw order) that cannot
    get enough inspectors, and :class:`DrawError` for inconsistent inputs.
    """
    seed_generated = plan.seed is None
    seed = plan.seed if plan.seed is not None else new_seed()
    plan = replace(plan, seed=seed)
    register = sorted(enterprises, key=lambda e: e.id)
    pool = qualified_pool(plan, officers)
    register_digest = sha256_hex(register_entries(register))
    pool_digest = sha256_hex(pool_entries(pool))
    key = draw_key(plan, seed, register_digest, pool_digest)

    categories, drawn = _select(plan, register, key)
    selections = _assign(plan, drawn, pool, key)
    created = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    record = DrawRecord(
        plan=plan,
        seed=seed,
        seed_generated=seed_generated,
        algorithm=ALGORITHM,
        register_digest=register_digest,
        register_size=len(register),
        pool_digest=pool_digest,
        pool_size=len(pool),
        categories=categories,
        selections=selections,
        created_at=created,
    )
    return replace(record, record_digest=record.computed_digest())


def _select(
    plan: DrawPlan, register: list[Enterprise], key: bytes
) -> tuple[tuple[CategoryOutcome, ...], list[tuple[Enterprise, str]]]:
    """Each enterprise joins its first matching category; each category is shuffled and cut."""
    members: list[list[Enterprise]] = [[] for _ in plan.rules]
    for enterprise in register:
        for index, rule in enumerate(plan.rules):
            if rule.matches(enterprise):
                members[index].append(enterprise)
                break
    outcomes: list[CategoryOutcome] = []
    drawn: list[tuple[Enterprise, str]] = []
    for index, (rule, population) in enumerate(zip(plan.rules, members, strict=True)):
        quota = rule.quota(len(population))
        by_id = {e.id: e for e in population}
        order = RandomStream(key, f"select/{index}").shuffled([e.id for e in population])
        drawn.extend((by_id[eid], rule.name) for eid in order[:quota])
        outcomes.append(CategoryOutcome(rule.name, len(population), quota))
    return tuple(outcomes), drawn


def _assign(
    plan: DrawPlan, drawn: list[tuple[Enterprise, str]], pool: list[Officer], key: bytes
) -> tuple[Selection, ...]:
    """Greedy, in draw order; candidates ranked by (at fair share, other district, load, random)."""
    needed = plan.inspectors_per_enterprise
    fair_share = math.ceil(len(drawn) * needed / len(pool)) if pool else 0
    load = {o.id: 0 for o in pool}
    conflicts: dict[str, set[str]] = {}
    for officer_id, enterprise_id in plan.conflicts:
        conflicts.setdefault(enterprise_id, set()).add(officer_id)
    previous = dict(plan.previous)
    stream = RandomStream(key, "assign")
    selections: list[Selection] = []
    for enterprise, category in drawn:
        declared = conflicts.get(enterprise.id, set())
        last_time = set(previous.get(enterprise.id, ()))
        eligible = [o for o in pool if o.id not in declared and o.id not in last_time]
        if len(eligible) < needed:
            raise InfeasibleDrawError(
                enterprise.id,
                f"enterprise {enterprise.id} ({enterprise.name}) needs {needed} inspectors but "
                f"only {len(eligible)} of the {len(pool)} qualified inspectors are eligible "
                f"({len(declared & load.keys())} declared conflicts, "
                f"{len(last_time & load.keys())} inspected it last time)",
            )
        rank = {
            officer_id: r for r, officer_id in enumerate(stream.shuffled([o.id for o in eligible]))
        }
        eligible.sort(
            key=lambda o: (
                load[o.id] >= fair_share,
                o.district_adcode != enterprise.district_adcode,
                load[o.id],
                rank[o.id],
            )
        )
        chosen = eligible[:needed]
        for officer in chosen:
            load[officer.id] += 1
        selections.append(
            Selection(
                enterprise_id=enterprise.id,
                enterprise_name=enterprise.name,
                district_adcode=enterprise.district_adcode,
                category=category,
                inspectors=tuple(
                    AssignedInspector(o.id, o.name, o.badge_no, o.district_adcode) for o in chosen
                ),
            )
        )
    return tuple(selections)


# -- verification -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Difference:
    """One way a record disagrees with a re-run (or with its own digest)."""

    field: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class VerifyResult:
    equal: bool
    differences: tuple[Difference, ...]


def verify(
    record: DrawRecord, enterprises: Iterable[Enterprise], officers: Iterable[Officer]
) -> VerifyResult:
    """Re-run the record's plan and seed on these inputs and list every disagreement."""
    differences: list[Difference] = []
    if record.algorithm != ALGORITHM:
        differences.append(
            Difference(
                "algorithm",
                f"record uses {record.algorithm!r}; this program implements {ALGORITHM!r}",
            )
        )
    computed = record.computed_digest()
    if computed != record.record_digest:
        differences.append(
            Difference(
                "record_digest",
                f"recorded {record.record_digest}, the record's content hashes to {computed}",
            )
        )
    try:
        rerun = run_draw(record.plan, enterprises, officers)
    except InfeasibleDrawError as exc:
        differences.append(Difference("selections", f"the re-run cannot be completed: {exc}"))
        return VerifyResult(False, tuple(differences))
    for name, recorded, actual in (
        ("inputs.register.sha256", record.register_digest, rerun.register_digest),
        ("inputs.register.size", record.register_size, rerun.register_size),
        ("inputs.pool.sha256", record.pool_digest, rerun.pool_digest),
        ("inputs.pool.size", record.pool_size, rerun.pool_size),
    ):
        if recorded != actual:
            differences.append(Difference(name, f"recorded {recorded}, re-run {actual}"))
    if record.categories != rerun.categories:
        differences.append(
            Difference(
                "categories",
                f"recorded {[c.to_json() for c in record.categories]}, "
                f"re-run {[c.to_json() for c in rerun.categories]}",
            )
        )
    differences.extend(_selection_differences(record.selections, rerun.selections))
    return VerifyResult(not differences, tuple(differences))


def _selection_differences(
    recorded: tuple[Selection, ...], rerun: tuple[Selection, ...]
) -> list[Difference]:
    differences: list[Difference] = []
    if len(recorded) != len(rerun):
        differences.append(
            Difference("selections", f"recorded {len(recorded)} enterprises, re-run {len(rerun)}")
        )
    for index, (mine, theirs) in enumerate(zip(recorded, rerun, strict=False)):
        if _draw_facts(mine) != _draw_facts(theirs):
            differences.append(
                Difference(
                    f"selections[{index}]",
                    f"recorded {_describe(mine)}, re-run {_describe(theirs)}",
                )
            )
    return differences


def _draw_facts(selection: Selection) -> tuple[str, str, str, tuple[str, ...]]:
    """What the draw decides; names are display only (the record digest covers them)."""
    return (
        selection.enterprise_id,
        selection.district_adcode,
        selection.category,
        tuple(i.officer_id for i in selection.inspectors),
    )


def _describe(selection: Selection) -> str:
    inspectors = ",".join(i.officer_id for i in selection.inspectors)
    return f"{selection.enterprise_id} ({selection.category}) <- {inspectors}"


# -- JSON helpers -----------------------------------------------------------------------------


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DrawError(f"{where} must be a JSON object")
    return value


def _only_keys(obj: Mapping[str, Any], where: str, allowed: set[str]) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise DrawError(f"{where}: unknown field(s) {', '.join(unknown)}")


def _list(obj: Mapping[str, Any], name: str, where: str) -> list[Any]:
    value = obj.get(name, [])
    if not isinstance(value, list):
        raise DrawError(f"{where}.{name} must be a JSON array")
    return value


def _string(value: Any, where: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value):
        raise DrawError(f"{where} must be a non-empty string")
    return value


def _int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise DrawError(f"{where} must be a whole number")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise DrawError(f"{where} must be true or false")
    return value


def _enum(kind: type[_E], value: Any, where: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise DrawError(f"{where}: unknown value {value!r} (allowed: {allowed})") from None


def _ratio(value: Any, where: str) -> Decimal:
    """A ratio as the exact decimal that was written: 0.2 is 1/5, not the nearest binary float."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise DrawError(f'{where} must be a number such as 0.2 (or a string "0.2")')
    try:
        ratio = Decimal(str(value))
    except InvalidOperation:
        raise DrawError(f"{where}: {value!r} is not a number") from None
    if not ratio.is_finite():
        raise DrawError(f"{where} must be finite")
    return Decimal(_decimal_text(ratio))


def _decimal_text(value: Decimal) -> str:
    """Plain decimal notation without trailing zeros: Decimal('0.20') -> '0.2'."""
    return format(value.normalize(), "f")
