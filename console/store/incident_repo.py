"""Storage of emergency incidents: the incident, its members, orders and acknowledgements.

Every public method is one transaction. The rules (what an order may be addressed to, that a
closed incident is final) are ``console.core.incident``'s; they are checked here inside the
transaction against what is stored, so two seats acting at once cannot slip past them.
Order numbers are per incident; two writers picking the same number collide on the
primary key and the loser retries with the next one.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from console.core.incident import (
    Ack,
    Incident,
    IncidentClosedError,
    IncidentDetail,
    IncidentLevel,
    IncidentStatus,
    Member,
    MemberKind,
    Order,
    check_ack,
    check_order,
    check_summary,
    require_open,
)
from console.store import Store
from console.store.errors import StoreError
from console.store.schema_incident import (
    IncidentAckRow,
    IncidentMemberRow,
    IncidentOrderRow,
    IncidentRow,
)

T = TypeVar("T")


class UnknownIncidentError(StoreError):
    """No incident with that id."""


class DuplicateIncidentError(StoreError):
    """An incident with that id already exists."""


def _aware(value: datetime) -> datetime:
    """SQLite gives back naive datetimes; everything we store is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _incident(row: IncidentRow) -> Incident:
    return Incident(
        id=row.id,
        title=row.title,
        level=IncidentLevel(row.level),
        lon=row.lon,
        lat=row.lat,
        address=row.address,
        district_adcode=row.district_adcode,
        status=IncidentStatus(row.status),
        opened_at=_aware(row.opened_at),
        opened_by=row.opened_by,
        closed_at=None if row.closed_at is None else _aware(row.closed_at),
        closed_by=row.closed_by,
        summary=row.summary,
    )


class IncidentRepo:
    """Incident storage on one Store."""

    RETRIES = 5

    def __init__(self, store: Store) -> None:
        self.store = store

    def _transaction(self, work: Callable[[Session], T]) -> T:
        with self.store.session() as session:
            return work(session)

    def _retrying(self, change: Callable[[Session], T]) -> T:
        """Run ``change`` in a transaction, again if it lost an order-number race."""
        for attempt in range(self.RETRIES):
            try:
                with self.store.session() as session:
                    return change(session)
            except IntegrityError as exc:
                if "incident_orders" not in str(exc.orig) or attempt == self.RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    # -- reads -------------------------------------------------------------------------------

    def get(self, incident_id: str) -> IncidentDetail | None:
        return self._transaction(lambda session: _detail(session, incident_id))

    def list(
        self, status: IncidentStatus | None = None, districts: Collection[str] | None = None
    ) -> list[Incident]:
        """Incidents, newest first; ``districts`` None means every district."""

        def query(session: Session) -> list[Incident]:
            statement = select(IncidentRow).order_by(
                IncidentRow.opened_at.desc(), IncidentRow.id.desc()
            )
            if status is not None:
                statement = statement.where(IncidentRow.status == status.value)
            if districts is not None:
                statement = statement.where(IncidentRow.district_adcode.in_(list(districts)))
            return [_incident(row) for row in session.scalars(statement)]

        return self._transaction(query)

    # -- writes ------------------------------------------------------------------------------

    def open(self, incident: Incident) -> IncidentDetail:
        def change(session: Session) -> IncidentDetail:
            if session.get(IncidentRow, incident.id) is not None:
                raise DuplicateIncidentError(f"incident {incident.id!r} already exists")
            session.add(
                IncidentRow(
                    id=incident.id,
                    title=incident.title,
                    level=incident.level.value,
                    status=IncidentStatus.OPEN.value,
                    lon=incident.lon,
                    lat=incident.lat,
                    address=incident.address,
                    district_adcode=incident.district_adcode,
                    opened_at=incident.opened_at,
                    opened_by=incident.opened_by,
                )
            )
            session.flush()
            return _require(session, incident.id)

        return self._transaction(change)

    def link(
        self, incident_id: str, kind: MemberKind, member_id: str, at: datetime, by: str
    ) -> tuple[IncidentDetail, bool]:
        """Add a member; False (and no change) when it is linked already."""

        def change(session: Session) -> tuple[IncidentDetail, bool]:
            require_open(_require(session, incident_id).incident)
            key = (incident_id, kind.value, member_id)
            if session.get(IncidentMemberRow, key) is not None:
                return _require(session, incident_id), False
            session.add(
                IncidentMemberRow(
                    incident_id=incident_id,
                    kind=kind.value,
                    member_id=member_id,
                    added_at=at,
                    added_by=by,
                )
            )
            session.flush()
            return _require(session, incident_id), True

        return self._transaction(change)

    def add_order(
        self, incident_id: str, to: str, text: str, at: datetime, by: str, seat: str
    ) -> tuple[IncidentDetail, Order]:
        """Record an order with the incident's next number (rules: ``check_order``)."""

        def change(session: Session) -> tuple[IncidentDetail, Order]:
            to_checked, body = check_order(_require(session, incident_id), to, text)
            last = session.scalar(
                select(func.max(IncidentOrderRow.seq)).where(
                    IncidentOrderRow.incident_id == incident_id
                )
            )
            order = Order(seq=(last or 0) + 1, at=at, by=by, seat=seat, to=to_checked, text=body)
            session.add(
                IncidentOrderRow(
                    incident_id=incident_id,
                    seq=order.seq,
                    at=at,
                    by_user=by,
                    seat=seat,
                    addressee=order.to,
                    text=body,
                )
            )
            session.flush()
            return _require(session, incident_id), order

        return self._retrying(change)

    def ack(self, incident_id: str, seq: int, at: datetime, by: str) -> tuple[IncidentDetail, bool]:
        """Acknowledge order ``seq`` as ``by``; False when ``by`` had acknowledged it already."""

        def change(session: Session) -> tuple[IncidentDetail, bool]:
            check_ack(_require(session, incident_id), seq)
            if session.get(IncidentAckRow, (incident_id, seq, by)) is not None:
                return _require(session, incident_id), False
            session.add(IncidentAckRow(incident_id=incident_id, order_seq=seq, by_user=by, at=at))
            session.flush()
            return _require(session, incident_id), True

        return self._transaction(change)

    def close(self, incident_id: str, summary: str, at: datetime, by: str) -> IncidentDetail:
        """Close with a summary; a conditional update, so only one of two closers wins."""

        def change(session: Session) -> IncidentDetail:
            require_open(_require(session, incident_id).incident)
            text = check_summary(summary)
            result = session.execute(
                update(IncidentRow)
                .where(
                    IncidentRow.id == incident_id,
                    IncidentRow.status == IncidentStatus.OPEN.value,
                )
                .values(
                    status=IncidentStatus.CLOSED.value, closed_at=at, closed_by=by, summary=text
                )
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 1) != 1:
                raise IncidentClosedError(f"incident {incident_id} was closed meanwhile")
            session.expire_all()
            return _require(session, incident_id)

        return self._transaction(change)


def _require(session: Session, incident_id: str) -> IncidentDetail:
    detail = _detail(session, incident_id)
    if detail is None:
        raise UnknownIncidentError(f"no incident {incident_id!r}")
    return detail


def _detail(session: Session, incident_id: str) -> IncidentDetail | None:
    row = session.get(IncidentRow, incident_id)
    if row is None:
        return None
    members = session.scalars(
        select(IncidentMemberRow)
        .where(IncidentMemberRow.incident_id == incident_id)
        .order_by(IncidentMemberRow.added_at, IncidentMemberRow.kind, IncidentMemberRow.member_id)
    )
    acks: dict[int, list[Ack]] = {}
    for ack in session.scalars(
        select(IncidentAckRow)
        .where(IncidentAckRow.incident_id == incident_id)
        .order_by(IncidentAckRow.at, IncidentAckRow.by_user)
    ):
        acks.setdefault(ack.order_seq, []).append(Ack(by=ack.by_user, at=_aware(ack.at)))
    orders = session.scalars(
        select(IncidentOrderRow)
        .where(IncidentOrderRow.incident_id == incident_id)
        .order_by(IncidentOrderRow.seq)
    )
    return IncidentDetail(
        incident=_incident(row),
        members=tuple(
            Member(MemberKind(m.kind), m.member_id, _aware(m.added_at), m.added_by) for m in members
        ),
        orders=tuple(
            Order(
                seq=o.seq,
                at=_aware(o.at),
                by=o.by_user,
                seat=o.seat,
                to=o.addressee,
                text=o.text,
                acks=tuple(acks.get(o.seq, ())),
            )
            for o in orders
        ),
    )
