"""Storage of supervision intelligence: weights, scores, outcomes, files, draws, leader figures.

Every public method of :class:`SupervisionRepo` is one transaction. The leader dashboard's
counts are ``GROUP BY`` queries; only medians and the split into Beijing calendar days happen
in Python, over rows the database already selected. Hourly monitoring rows are read here in one
query per window (all outlets at once) so that the hub can score them as one numpy batch.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, TypeVar

from sqlalchemy import and_, case, delete, func, select
from sqlalchemy.orm import Session

from console.core.model import CreditRating, World
from console.core.tasks import Actor, Task
from console.monitoring.authenticity import (
    DEFAULT_WEIGHT_SET,
    InspectionOutcome,
    RefitResult,
    Weights,
    WeightSet,
)
from console.store import Store
from console.store.dispatch_repo import AuditEntry, DispatchRepo, TaskRecord, insert_new_task
from console.store.schema import EnterpriseRow, OutletRow, PermitLimitRow
from console.store.schema_dispatch import ComplaintRow, TaskEventRow, TaskRow
from console.store.schema_monitoring import hourly, realtime
from console.store.schema_supervision import (
    AuthenticityScoreRow,
    CreditHistoryRow,
    DrawRecordRow,
    EnterpriseDocumentRow,
    InspectionOutcomeRow,
    WeightSetRow,
)

__all__ = [
    "CLOSED_STATES",
    "DOCUMENT_KINDS",
    "DistrictDashboard",
    "DrawTask",
    "HourlyRow",
    "SupervisionRepo",
    "seed_demo_supervision",
]

T = TypeVar("T")

BEIJING = timezone(timedelta(hours=8))
DOCUMENT_KINDS = ("permit", "eia", "other")
CLOSED_STATES = ("closed", "archived")
"""Task states in which the case is closed (the dashboard's "closed" complaints)."""

HourlyRow = tuple[str, datetime, str, float | None, float | None, str]
"""(outlet_id, data_time UTC, code, avg, zs_avg, flag) of one stored hourly aggregate."""


@dataclass(frozen=True, slots=True)
class DrawTask:
    """One inspection task of a draw, stored with the draw record (see ``add_draw``)."""

    task: Task
    actor: Actor
    lon: float | None
    lat: float | None
    grid_id: str | None
    audit: AuditEntry
    note: str


@dataclass(frozen=True, slots=True)
class DistrictDashboard:
    """Figures of one district over the dashboard window (see ``district_dashboard``)."""

    adcode: str
    complaints_received: int
    complaints_closed: int
    median_closure_s: float | None
    by_category: dict[str, int]
    transmission_rate: float | None
    compliance_rate: float | None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _weight_set(row: WeightSetRow) -> WeightSet:
    return WeightSet(
        version=row.version,
        weights=Weights(**row.weights),
        fitted_at=row.fitted_at,
        n_samples=row.n_samples,
        previous_version=row.previous_version,
    )


def _weight_json(row: WeightSetRow, current: int) -> dict[str, Any]:
    return {
        "version": row.version,
        "weights": dict(row.weights),
        "fitted_at": None if row.fitted_at is None else row.fitted_at.isoformat(),
        "n_samples": row.n_samples,
        "previous_version": row.previous_version,
        "reason": row.reason,
        "coefficients": dict(row.coefficients),
        "created_at": row.created_at.isoformat(),
        "current": row.version == current,
    }


def _score_json(row: AuthenticityScoreRow) -> dict[str, Any]:
    return {
        "enterprise_id": row.enterprise_id,
        "district_adcode": row.district_adcode,
        "days": row.days,
        "score": row.score,
        "checks": dict(row.checks),
        "reasons": list(row.reasons),
        "worst_pollutant": row.worst_pollutant,
        "outlet_id": row.outlet_id,
        "evidence": list(row.evidence),
        "findings": list(row.findings or []),
        "hours": row.hours,
        "weight_version": row.weight_version,
        "scored_at": row.scored_at.isoformat(),
    }


class SupervisionRepo:
    """Supervision storage on one Store; thread-safe like the store (call from the db thread)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _run(self, work: Callable[[Session], T]) -> T:
        """One transaction: committed when ``work`` returns, rolled back when it raises."""
        with self.store.session() as session:
            return work(session)

    # -- authenticity weights -----------------------------------------------------------------

    def current_weights(self) -> WeightSet:
        """The newest stored weight set, or the hand-set default when none was ever fitted."""

        def query(session: Session) -> WeightSet:
            row = session.scalars(
                select(WeightSetRow).order_by(WeightSetRow.version.desc()).limit(1)
            ).first()
            return DEFAULT_WEIGHT_SET if row is None else _weight_set(row)

        return self._run(query)

    def weight_history(self) -> list[dict[str, Any]]:
        """Every version, newest first; the default appears as version 1 until it is stored."""

        def query(session: Session) -> list[dict[str, Any]]:
            rows = list(session.scalars(select(WeightSetRow).order_by(WeightSetRow.version.desc())))
            if not rows:
                rows = [_default_row(datetime.now(UTC))]
            return [_weight_json(row, rows[0].version) for row in rows]

        return self._run(query)

    def add_weight_set(self, result: RefitResult, at: datetime) -> None:
        """Store a re-fit; its predecessor is stored too if it was the unstored default."""

        def change(session: Session) -> None:
            previous = result.previous
            if session.get(WeightSetRow, previous.version) is None:
                session.add(_row_of(previous, "hand-set defaults", {}, at))
            session.add(_row_of(result.weights, result.reason, result.coefficients, at))

        self._run(change)

    # -- inspection outcomes ------------------------------------------------------------------

    def add_outcome(
        self,
        enterprise_id: str,
        confirmed: bool,
        task_id: str | None,
        checks: Mapping[str, float],
        score: float,
        weight_version: int,
        recorded_by: str,
        at: datetime,
    ) -> int:
        """Store one outcome; returns its id."""

        def change(session: Session) -> int:
            row = InspectionOutcomeRow(
                enterprise_id=enterprise_id,
                falsification_confirmed=confirmed,
                task_id=task_id,
                checks=dict(checks),
                score=score,
                weight_version=weight_version,
                recorded_by=recorded_by,
                recorded_at=at,
            )
            session.add(row)
            session.flush()
            return row.id

        return self._run(change)

    def outcomes(self) -> list[InspectionOutcome]:
        """All outcomes in the order they were recorded (the re-fit's training set)."""

        def query(session: Session) -> list[InspectionOutcome]:
            rows = session.scalars(select(InspectionOutcomeRow).order_by(InspectionOutcomeRow.id))
            return [
                InspectionOutcome(
                    row.enterprise_id,
                    row.falsification_confirmed,
                    dict(row.checks),
                    row.recorded_at,
                )
                for row in rows
            ]

        return self._run(query)

    # -- cached scores ------------------------------------------------------------------------

    def cached_scores(
        self, enterprise_ids: Collection[str], days: int, fresh_since: datetime, version: int
    ) -> dict[str, dict[str, Any]]:
        """Scores of these enterprises computed after ``fresh_since`` with weights ``version``."""

        def query(session: Session) -> dict[str, dict[str, Any]]:
            rows = session.scalars(
                select(AuthenticityScoreRow).where(
                    AuthenticityScoreRow.enterprise_id.in_(list(enterprise_ids)),
                    AuthenticityScoreRow.days == days,
                    AuthenticityScoreRow.scored_at >= fresh_since,
                    AuthenticityScoreRow.weight_version == version,
                )
            )
            return {row.enterprise_id: _score_json(row) for row in rows}

        return self._run(query)

    def save_scores(self, scores: Sequence[Mapping[str, Any]]) -> None:
        """Replace the cached scores of these (enterprise, days) pairs."""

        def change(session: Session) -> None:
            for item in scores:
                row = session.get(AuthenticityScoreRow, (item["enterprise_id"], item["days"]))
                if row is None:
                    row = AuthenticityScoreRow(
                        enterprise_id=item["enterprise_id"], days=item["days"]
                    )
                    session.add(row)
                for name in (
                    "district_adcode", "score", "checks", "reasons", "worst_pollutant",
                    "outlet_id", "evidence", "findings", "hours", "weight_version",
                ):  # fmt: skip
                    setattr(row, name, item[name])
                row.scored_at = datetime.fromisoformat(item["scored_at"])

        self._run(change)

    def latest_score(self, enterprise_id: str) -> dict[str, Any] | None:
        """The most recently computed score of an enterprise, whatever its window."""

        def query(session: Session) -> dict[str, Any] | None:
            row = session.scalars(
                select(AuthenticityScoreRow)
                .where(AuthenticityScoreRow.enterprise_id == enterprise_id)
                .order_by(AuthenticityScoreRow.scored_at.desc())
                .limit(1)
            ).first()
            return None if row is None else _score_json(row)

        return self._run(query)

    # -- monitoring reads ---------------------------------------------------------------------

    def hourly_rows(
        self, outlet_ids: Collection[str], start: datetime, end: datetime
    ) -> list[HourlyRow]:
        """Stored hourly aggregates of these outlets in [start, end), in one query."""
        if not outlet_ids:
            return []
        query = select(
            hourly.c.outlet_id,
            hourly.c.data_time,
            hourly.c.code,
            hourly.c.avg,
            hourly.c.zs_avg,
            hourly.c.flag,
        ).where(
            hourly.c.outlet_id.in_(list(outlet_ids)),
            hourly.c.data_time >= start.astimezone(UTC),
            hourly.c.data_time < end.astimezone(UTC),
        )
        with self.store.engine.connect() as conn:
            return [
                (row[0], _utc(row[1]), row[2], row[3], row[4], row[5] or "N")
                for row in conn.execute(query)
            ]

    def last_data_at(self, outlet_ids: Collection[str]) -> datetime | None:
        """Time of the newest real-time or hourly value of these outlets."""
        if not outlet_ids:
            return None
        ids = list(outlet_ids)
        with self.store.engine.connect() as conn:
            moments = [
                conn.execute(
                    select(func.max(table.c.data_time)).where(table.c.outlet_id.in_(ids))
                ).scalar()
                for table in (realtime, hourly)
            ]
        found = [_utc(m) for m in moments if m is not None]
        return max(found) if found else None

    # -- the enterprise file ------------------------------------------------------------------

    def credit_history(self, enterprise_id: str) -> list[dict[str, Any]]:
        def query(session: Session) -> list[dict[str, Any]]:
            rows = session.scalars(
                select(CreditHistoryRow)
                .where(CreditHistoryRow.enterprise_id == enterprise_id)
                .order_by(CreditHistoryRow.at, CreditHistoryRow.id)
            )
            return [{"at": r.at.isoformat(), "rating": r.rating, "reason": r.reason} for r in rows]

        return self._run(query)

    def add_credit_change(
        self, enterprise_id: str, at: datetime, rating: CreditRating, reason: str
    ) -> None:
        def change(session: Session) -> None:
            session.add(
                CreditHistoryRow(
                    enterprise_id=enterprise_id,
                    at=at,
                    rating=rating.value,
                    reason=reason,
                    synthetic=False,
                )
            )

        self._run(change)

    def documents(self, enterprise_id: str) -> list[dict[str, Any]]:
        def query(session: Session) -> list[dict[str, Any]]:
            rows = session.scalars(
                select(EnterpriseDocumentRow)
                .where(EnterpriseDocumentRow.enterprise_id == enterprise_id)
                .order_by(EnterpriseDocumentRow.issued_at, EnterpriseDocumentRow.id)
            )
            return [
                {
                    "id": r.id,
                    "kind": r.kind,
                    "title": r.title,
                    "number": r.number,
                    "issuer": r.issuer,
                    "issued_at": r.issued_at.isoformat(),
                }
                for r in rows
            ]

        return self._run(query)

    def complaints_of(self, enterprise_id: str, limit: int = 200) -> list[dict[str, Any]]:
        """An enterprise's complaints, newest first; status open, closed or merged."""
        closed = (
            select(TaskRow.id)
            .where(TaskRow.complaint_id == ComplaintRow.id, TaskRow.state.in_(CLOSED_STATES))
            .exists()
        )

        def query(session: Session) -> list[dict[str, Any]]:
            rows = session.execute(
                select(
                    ComplaintRow.id,
                    ComplaintRow.received_at,
                    ComplaintRow.category,
                    ComplaintRow.district_adcode,
                    ComplaintRow.merged_into,
                    closed,
                )
                .where(ComplaintRow.enterprise_id == enterprise_id)
                .order_by(ComplaintRow.received_at.desc())
                .limit(limit)
            )
            return [
                {
                    "id": cid,
                    "received_at": received.isoformat(),
                    "category": category,
                    "district_adcode": district,
                    "status": "merged" if merged else ("closed" if is_closed else "open"),
                }
                for cid, received, category, district, merged, is_closed in rows
            ]

        return self._run(query)

    def tasks_of(self, enterprise_id: str, limit: int = 200) -> list[dict[str, Any]]:
        """An enterprise's tasks, newest first, with what the hub needs for its scope check."""

        def query(session: Session) -> list[dict[str, Any]]:
            rows = session.execute(
                select(
                    TaskRow.id,
                    TaskRow.kind,
                    TaskRow.state,
                    TaskRow.created_at,
                    TaskRow.district_adcode,
                    TaskRow.owner_org_id,
                )
                .where(TaskRow.enterprise_id == enterprise_id)
                .order_by(TaskRow.created_at.desc())
                .limit(limit)
            )
            return [
                {
                    "id": tid,
                    "kind": kind,
                    "state": state,
                    "created_at": created.isoformat(),
                    "district_adcode": district,
                    "owner_org_id": owner,
                }
                for tid, kind, state, created, district, owner in rows
            ]

        return self._run(query)

    # -- draws --------------------------------------------------------------------------------

    def add_draw(
        self,
        draw_id: str,
        record: Mapping[str, Any],
        org_id: str,
        created_by: str,
        at: datetime,
        tasks: Sequence[DrawTask],
    ) -> list[TaskRecord]:
        """Store a draw and its inspection tasks together: all of them or nothing.

        The tasks are written by the dispatch repository's own task insertion (first event,
        squad outbox entries, audit entry), in the same transaction as the draw record.
        """

        def change(session: Session) -> list[TaskRecord]:
            records = [
                insert_new_task(
                    session,
                    item.task,
                    item.actor,
                    lon=item.lon,
                    lat=item.lat,
                    grid_id=item.grid_id,
                    outbox=None,
                    audit=item.audit,
                    note=item.note,
                )[0]
                for item in tasks
            ]
            session.add(
                DrawRecordRow(
                    id=draw_id,
                    record_digest=record["record_digest"],
                    name=record["plan"]["name"],
                    org_id=org_id,
                    created_by=created_by,
                    created_at=at,
                    record=dict(record),
                    task_ids=[item.task.id for item in tasks],
                )
            )
            return records

        return DispatchRepo(self.store).transaction(change)

    def draw_by_digest(self, record_digest: str) -> dict[str, Any] | None:
        """A stored draw: ``{"id", "org_id", "record", "task_ids", ...}`` or None."""

        def query(session: Session) -> dict[str, Any] | None:
            row = session.scalars(
                select(DrawRecordRow).where(DrawRecordRow.record_digest == record_digest)
            ).first()
            if row is None:
                return None
            return {
                "id": row.id,
                "org_id": row.org_id,
                "created_by": row.created_by,
                "created_at": row.created_at.isoformat(),
                "record": dict(row.record),
                "task_ids": list(row.task_ids),
            }

        return self._run(query)

    def previous_assignments(self, org_id: str) -> dict[str, list[str]]:
        """Enterprise -> officers of its latest draw by ``org_id`` (they may not go again)."""

        def query(session: Session) -> dict[str, list[str]]:
            latest: dict[str, list[str]] = {}
            record: dict[str, Any]
            for record in session.scalars(
                select(DrawRecordRow.record)
                .where(DrawRecordRow.org_id == org_id)
                .order_by(DrawRecordRow.created_at.desc(), DrawRecordRow.id.desc())
            ):
                selections: list[dict[str, Any]] = record.get("selections", [])
                for selection in selections:
                    latest.setdefault(
                        selection["enterprise_id"],
                        [i["officer_id"] for i in selection["inspectors"]],
                    )
            return latest

        return self._run(query)

    # -- leader dashboard ---------------------------------------------------------------------

    def district_dashboard(
        self, districts: Collection[str], since: datetime, until: datetime
    ) -> tuple[list[DistrictDashboard], list[dict[str, Any]]]:
        """Per district figures of complaints received in [since, until) and the daily trend.

        received: complaints not merged into another; closed: those with a task that reached
        ``closed`` (closure time: first such event minus reception); transmission: stored
        hourly records over expected (outlets x hours); compliance: flag-N hourly values
        within their permit limits (O2-converted where sent) over all such values.
        """
        adcodes = list(districts)
        hours = max(1, round((until - since).total_seconds() / 3600))

        def query(session: Session) -> tuple[list[DistrictDashboard], list[dict[str, Any]]]:
            window = and_(
                ComplaintRow.district_adcode.in_(adcodes),
                ComplaintRow.merged_into.is_(None),
                ComplaintRow.received_at >= since,
                ComplaintRow.received_at < until,
            )
            by_category: dict[str, dict[str, int]] = {a: {} for a in adcodes}
            for adcode, category, count in session.execute(
                select(ComplaintRow.district_adcode, ComplaintRow.category, func.count())
                .where(window)
                .group_by(ComplaintRow.district_adcode, ComplaintRow.category)
            ):
                by_category[str(adcode)][category] = count
            closing = session.execute(
                select(
                    ComplaintRow.district_adcode,
                    ComplaintRow.received_at,
                    func.min(TaskEventRow.at),
                )
                .join(TaskRow, TaskRow.complaint_id == ComplaintRow.id)
                .join(TaskEventRow, TaskEventRow.task_id == TaskRow.id)
                .where(window, TaskEventRow.to_state == "closed")
                .group_by(ComplaintRow.id, ComplaintRow.district_adcode, ComplaintRow.received_at)
            ).all()
            received_at = session.execute(select(ComplaintRow.received_at).where(window)).scalars()
            transmission: dict[str, int] = dict(
                session.execute(
                    _transmission_query(adcodes, since, until).group_by(
                        EnterpriseRow.district_adcode
                    )
                ).all()
            )
            outlets: dict[str, int] = dict(
                session.execute(
                    select(EnterpriseRow.district_adcode, func.count(OutletRow.id))
                    .join(OutletRow, OutletRow.enterprise_id == EnterpriseRow.id)
                    .where(EnterpriseRow.district_adcode.in_(adcodes))
                    .group_by(EnterpriseRow.district_adcode)
                ).all()
            )
            compliance: dict[str, tuple[int, int]] = {
                str(row[0]): (int(row[1]), int(row[2] or 0))
                for row in session.execute(_compliance_query(adcodes, since, until))
            }
            durations: dict[str, list[float]] = {}
            closed_days: dict[str, int] = {}
            for adcode, received, closed_at in closing:
                durations.setdefault(str(adcode), []).append(
                    (_utc(closed_at) - _utc(received)).total_seconds()
                )
                day = _utc(closed_at).astimezone(BEIJING).date().isoformat()
                closed_days[day] = closed_days.get(day, 0) + 1
            received_days: dict[str, int] = {}
            for moment in received_at:
                day = _utc(moment).astimezone(BEIJING).date().isoformat()
                received_days[day] = received_days.get(day, 0) + 1
            figures = []
            for adcode in sorted(adcodes):
                expected = outlets.get(adcode, 0) * hours
                total, within = compliance.get(adcode, (0, 0))
                figures.append(
                    DistrictDashboard(
                        adcode=adcode,
                        complaints_received=sum(by_category[adcode].values()),
                        complaints_closed=len(durations.get(adcode, [])),
                        median_closure_s=(
                            statistics.median(durations[adcode]) if adcode in durations else None
                        ),
                        by_category=by_category[adcode],
                        transmission_rate=(
                            min(1.0, transmission.get(adcode, 0) / expected) if expected else None
                        ),
                        compliance_rate=within / total if total else None,
                    )
                )
            return figures, _trend(since, until, received_days, closed_days)

        return self._run(query)


def _transmission_query(adcodes: list[str], since: datetime, until: datetime) -> Any:
    records = (
        select(hourly.c.outlet_id, hourly.c.data_time)
        .where(hourly.c.data_time >= since, hourly.c.data_time < until)
        .distinct()
        .subquery()
    )
    return (
        select(EnterpriseRow.district_adcode, func.count())
        .select_from(records)
        .join(OutletRow, OutletRow.id == records.c.outlet_id)
        .join(EnterpriseRow, EnterpriseRow.id == OutletRow.enterprise_id)
        .where(EnterpriseRow.district_adcode.in_(adcodes))
    )


def _compliance_query(adcodes: list[str], since: datetime, until: datetime) -> Any:
    measured = func.coalesce(hourly.c.zs_avg, hourly.c.avg)
    within = and_(
        measured <= PermitLimitRow.limit,
        (PermitLimitRow.lower_limit.is_(None)) | (hourly.c.avg >= PermitLimitRow.lower_limit),
    )
    return (
        select(
            EnterpriseRow.district_adcode,
            func.count(),
            func.sum(case((within, 1), else_=0)),
        )
        .select_from(hourly)
        .join(
            PermitLimitRow,
            and_(
                PermitLimitRow.outlet_id == hourly.c.outlet_id,
                PermitLimitRow.code == hourly.c.code,
            ),
        )
        .join(OutletRow, OutletRow.id == hourly.c.outlet_id)
        .join(EnterpriseRow, EnterpriseRow.id == OutletRow.enterprise_id)
        .where(
            EnterpriseRow.district_adcode.in_(adcodes),
            hourly.c.data_time >= since,
            hourly.c.data_time < until,
            hourly.c.flag == "N",
            hourly.c.avg.is_not(None),
        )
        .group_by(EnterpriseRow.district_adcode)
    )


def _trend(
    since: datetime, until: datetime, received: Mapping[str, int], closed: Mapping[str, int]
) -> list[dict[str, Any]]:
    """One entry per Beijing day of the window, zeros included, oldest first."""
    first = since.astimezone(BEIJING).date()
    last = (until - timedelta(microseconds=1)).astimezone(BEIJING).date()
    days = []
    day = first
    while day <= last:
        key = day.isoformat()
        days.append({"date": key, "received": received.get(key, 0), "closed": closed.get(key, 0)})
        day += timedelta(days=1)
    return days


def _default_row(at: datetime) -> WeightSetRow:
    return _row_of(DEFAULT_WEIGHT_SET, "hand-set defaults", {}, at)


def _row_of(
    weights: WeightSet, reason: str, coefficients: Mapping[str, float], at: datetime
) -> WeightSetRow:
    return WeightSetRow(
        version=weights.version,
        weights=weights.weights.as_dict(),
        fitted_at=weights.fitted_at,
        n_samples=weights.n_samples,
        previous_version=weights.previous_version,
        reason=reason,
        coefficients=dict(coefficients),
        created_at=at,
    )


# -- demo seeding -----------------------------------------------------------------------------

_RATING_ORDER = (
    CreditRating.GREEN,
    CreditRating.BLUE,
    CreditRating.YELLOW,
    CreditRating.RED,
    CreditRating.BLACK,
)
_RATING_REASONS = {
    CreditRating.GREEN: "年度评价：无违法记录，自行监测数据完整",
    CreditRating.BLUE: "年度评价：环境管理总体良好",
    CreditRating.YELLOW: "行政处罚：在线监测数据超标排放",
    CreditRating.RED: "行政处罚：逃避监管排放污染物",
    CreditRating.BLACK: "移送公安：篡改、伪造自动监测数据",
}


def seed_demo_supervision(
    store: Store, world: World, seed: int, now: datetime | None = None
) -> int:
    """Replace the synthetic credit history and documents of ``world``'s enterprises.

    Two to four rating changes per enterprise over the last three years, the last one being
    its current rating, plus its discharge permit and one or two EIA approvals. Deterministic
    in ``seed``. Returns the number of rows written.
    """
    now = now or datetime.now(UTC)
    rng = random.Random(f"supervision:{world.city_adcode}:{seed}")
    history: list[CreditHistoryRow] = []
    documents: list[EnterpriseDocumentRow] = []
    issuer = f"{world.city_name}生态环境局"
    for enterprise in world.enterprises:
        changes = rng.randint(2, 4)
        offsets = sorted(rng.sample(range(30, 3 * 365), changes), reverse=True)
        ratings = [rng.choice(_RATING_ORDER[:3]) for _ in range(changes - 1)]
        ratings.append(enterprise.credit_rating)
        for days_ago, rating in zip(offsets, ratings, strict=True):
            history.append(
                CreditHistoryRow(
                    enterprise_id=enterprise.id,
                    at=(now - timedelta(days=days_ago)).replace(microsecond=0),
                    rating=rating.value,
                    reason=_RATING_REASONS[rating],
                    synthetic=True,
                )
            )
        permit_day = (now - timedelta(days=rng.randint(200, 1500))).date()
        permit_no = enterprise.permit_no or f"{enterprise.credit_code}001P"
        documents.append(
            _document(
                enterprise.id, "permit", f"排污许可证（{permit_no}）", permit_no, issuer, permit_day
            )
        )
        for number in range(1, rng.randint(1, 2) + 1):
            issued = permit_day - timedelta(days=rng.randint(120, 2000))
            documents.append(
                _document(
                    enterprise.id,
                    "eia",
                    f"{enterprise.name}建设项目环境影响报告书批复（第{number}期）",
                    f"{world.city_adcode}环建〔{issued.year}〕{rng.randint(1, 200)}号",
                    issuer,
                    issued,
                    suffix=str(number),
                )
            )

    def change(session: Session) -> None:
        session.execute(delete(CreditHistoryRow).where(CreditHistoryRow.synthetic.is_(True)))
        session.execute(
            delete(EnterpriseDocumentRow).where(EnterpriseDocumentRow.synthetic.is_(True))
        )
        session.add_all(history)
        session.add_all(documents)

    with store.session() as session:
        change(session)
    return len(history) + len(documents)


def _document(
    enterprise_id: str,
    kind: str,
    title: str,
    number: str,
    issuer: str,
    issued: date,
    suffix: str = "",
) -> EnterpriseDocumentRow:
    return EnterpriseDocumentRow(
        id=f"doc-{enterprise_id}-{kind}{suffix}",
        enterprise_id=enterprise_id,
        kind=kind,
        title=title[:200],
        number=number,
        issuer=issuer,
        issued_at=issued,
        synthetic=True,
    )
