"""Field-link persistence: officer enrolment tokens, positions (latest + track), attachments.

Bearer tokens are 32 random bytes (URL-safe base64); only their SHA-256 is stored, so the
token is shown once at enrolment and can be revoked but never recovered. Positions arrive in
batches from the hub's writer: one transaction appends the track and moves each officer's
latest fix forward (never backward: a late, buffered fix only goes to the track).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, Engine, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from console.store.errors import StoreError
from console.store.schema import OfficerRow
from console.store.schema_dispatch import OutboxRow
from console.store.schema_field import (
    AttachmentRow,
    FieldTokenRow,
    OfficerPositionRow,
    OfficerTrackRow,
)

TOKEN_BYTES = 32


class UnknownOfficerError(StoreError):
    """The officer id is not in the stored world."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A freshly issued token: ``token`` is the only copy of the secret."""

    token_id: str
    officer_id: str
    token: str
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token_id: str
    officer_id: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def to_json(self) -> dict[str, str | None]:
        return {
            "token_id": self.token_id,
            "officer_id": self.officer_id,
            "created_at": self.created_at.isoformat(),
            "expires_at": _iso(self.expires_at),
            "revoked_at": _iso(self.revoked_at),
            "last_used_at": _iso(self.last_used_at),
        }


@dataclass(frozen=True, slots=True)
class Fix:
    """One accepted GPS fix in WGS84."""

    officer_id: str
    ts: datetime
    lon: float
    lat: float
    accuracy: float
    speed: float | None = None
    heading: float | None = None
    battery: float | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    id: str
    task_id: str
    officer_id: str
    district_adcode: str | None
    kind: str
    mime: str
    size: int
    sha256: str
    upload_id: str
    created_at: datetime

    def to_json(self) -> dict[str, str | int]:
        return {
            "attachment_id": self.id,
            "task_id": self.task_id,
            "officer_id": self.officer_id,
            "kind": self.kind,
            "mime": self.mime,
            "size": self.size,
            "sha256": self.sha256,
            "created_at": self.created_at.isoformat(),
        }


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _utc(value: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes; everything we store is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class FieldRepo:
    """Field-link queries on one engine; each method is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        # How SQLAlchemy stores a DateTime on this database, for rows written without it.
        processor = (
            DateTime(timezone=True).dialect_impl(engine.dialect).bind_processor(engine.dialect)
        )
        self._sqlite_datetime: Callable[[datetime], object] = processor or _as_is

    # -- tokens ----------------------------------------------------------------------------

    def issue_token(
        self, officer_id: str, now: datetime, ttl: timedelta | None = None
    ) -> IssuedToken:
        """A new bearer token for ``officer_id``; UnknownOfficerError if not in the world."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        token_id = secrets.token_hex(8)
        expires_at = None if ttl is None else now + ttl
        with self._sessions.begin() as session:
            if session.get(OfficerRow, officer_id) is None:
                raise UnknownOfficerError(f"no officer {officer_id!r} in the stored world")
            session.add(
                FieldTokenRow(
                    id=token_id,
                    officer_id=officer_id,
                    token_hash=hash_token(token),
                    created_at=now,
                    expires_at=expires_at,
                )
            )
        return IssuedToken(token_id, officer_id, token, now, expires_at)

    def authenticate(self, token: str, now: datetime) -> TokenInfo | None:
        """The token's record if it is known, unrevoked and unexpired (and note its use)."""
        with self._sessions.begin() as session:
            row = session.scalars(
                select(FieldTokenRow).where(FieldTokenRow.token_hash == hash_token(token))
            ).first()
            if row is None or row.revoked_at is not None:
                return None
            expires_at = _utc(row.expires_at)
            if expires_at is not None and expires_at <= now:
                return None
            row.last_used_at = now
            return _token_info(row)

    def sweep(
        self, token_ids: Collection[str], officer_ids: Collection[str], now: datetime
    ) -> tuple[set[str], dict[str, int]]:
        """For the connected devices, in a few queries whatever their number: the token ids
        no longer active (revoked, expired or gone) and each officer's highest unacked
        outbox seq (officers with nothing pending are left out)."""
        active: set[str] = set()
        newest: dict[str, int] = {}
        with self._sessions() as session:
            for chunk in _chunks(sorted(token_ids)):
                for token_id, revoked_at, expires_at in session.execute(
                    select(
                        FieldTokenRow.id, FieldTokenRow.revoked_at, FieldTokenRow.expires_at
                    ).where(FieldTokenRow.id.in_(chunk))
                ):
                    expiry = _utc(expires_at)
                    if revoked_at is None and (expiry is None or expiry > now):
                        active.add(token_id)
            for chunk in _chunks(sorted(officer_ids)):
                for officer_id, seq in session.execute(
                    select(OutboxRow.officer_id, func.max(OutboxRow.seq))
                    .where(OutboxRow.officer_id.in_(chunk), OutboxRow.acked_at.is_(None))
                    .group_by(OutboxRow.officer_id)
                ):
                    newest[officer_id] = int(seq)
        return set(token_ids) - active, newest

    def revoke(
        self, now: datetime, *, officer_id: str | None = None, token_id: str | None = None
    ) -> list[str]:
        """Revoke one token or every token of an officer; the ids revoked by this call."""
        if (officer_id is None) == (token_id is None):
            raise ValueError("revoke needs exactly one of officer_id or token_id")
        with self._sessions.begin() as session:
            query = select(FieldTokenRow).where(FieldTokenRow.revoked_at.is_(None))
            if officer_id is not None:
                query = query.where(FieldTokenRow.officer_id == officer_id)
            else:
                query = query.where(FieldTokenRow.id == token_id)
            rows = list(session.scalars(query))
            for row in rows:
                row.revoked_at = now
            return [row.id for row in rows]

    def list_tokens(self, officer_id: str | None = None) -> list[TokenInfo]:
        with self._sessions() as session:
            query = select(FieldTokenRow).order_by(FieldTokenRow.created_at, FieldTokenRow.id)
            if officer_id is not None:
                query = query.where(FieldTokenRow.officer_id == officer_id)
            return [_token_info(row) for row in session.scalars(query)]

    # -- positions -------------------------------------------------------------------------

    def save_positions(self, fixes: Sequence[Fix], received_at: datetime) -> None:
        """Append every fix to the track and advance each officer's latest fix."""
        if not fixes:
            return
        newest: dict[str, Fix] = {}
        for fix in fixes:
            current = newest.get(fix.officer_id)
            if current is None or fix.ts >= current.ts:
                newest[fix.officer_id] = fix
        if self._engine.dialect.name == "sqlite":
            self._save_positions_sqlite(fixes, list(newest.values()), received_at)
            return
        # Core statements on the tables, not the mapped classes: the ORM bulk path costs
        # ~0.2 ms per row in Python, which capped the hub near 4,000 stored fixes/s.
        with self._sessions.begin() as session:
            session.execute(
                insert(OfficerTrackRow.metadata.tables[OfficerTrackRow.__tablename__]),
                [_fix_columns(fix) for fix in fixes],
            )
            self._upsert_latest(session, list(newest.values()), received_at)

    def _save_positions_sqlite(
        self, fixes: Sequence[Fix], newest: list[Fix], received_at: datetime
    ) -> None:
        """SQLite: the rows are built (with SQLAlchemy's own datetime format) before the
        transaction, so the database's single write lock is held only while SQLite itself
        inserts; task and outbox writes of the hub wait for that, not for Python."""
        stamp = self._sqlite_datetime
        track = [_fix_row(f, stamp) for f in fixes]
        received = stamp(received_at)
        latest = [(*_fix_row(f, stamp), received) for f in newest]
        with self._engine.begin() as connection:
            connection.exec_driver_sql(_SQLITE_TRACK_INSERT, track)
            connection.exec_driver_sql(_SQLITE_LATEST_UPSERT, latest)

    def _upsert_latest(self, session: Session, fixes: list[Fix], received_at: datetime) -> None:
        rows = [{**_fix_columns(fix), "received_at": received_at} for fix in fixes]
        latest = OfficerPositionRow.metadata.tables[OfficerPositionRow.__tablename__]
        dialect = self._engine.dialect.name
        if dialect == "postgresql":
            pg_stmt = pg_insert(latest)
            session.execute(
                pg_stmt.on_conflict_do_update(
                    index_elements=[latest.c.officer_id],
                    set_={name: pg_stmt.excluded[name] for name in rows[0] if name != "officer_id"},
                    where=latest.c.ts <= pg_stmt.excluded.ts,
                ),
                rows,
            )
        else:
            lite_stmt = sqlite_insert(latest)
            session.execute(
                lite_stmt.on_conflict_do_update(
                    index_elements=[latest.c.officer_id],
                    set_={
                        name: lite_stmt.excluded[name] for name in rows[0] if name != "officer_id"
                    },
                    where=latest.c.ts <= lite_stmt.excluded.ts,
                ),
                rows,
            )

    def latest_positions(self) -> list[Fix]:
        with self._sessions() as session:
            rows = session.scalars(
                select(OfficerPositionRow).order_by(OfficerPositionRow.officer_id)
            )
            return [_fix(row) for row in rows]

    def track(self, officer_id: str, since: datetime | None = None) -> list[Fix]:
        with self._sessions() as session:
            query = select(OfficerTrackRow).where(OfficerTrackRow.officer_id == officer_id)
            if since is not None:
                query = query.where(OfficerTrackRow.ts >= since)
            rows = session.scalars(query.order_by(OfficerTrackRow.ts, OfficerTrackRow.id))
            return [_fix(row) for row in rows]

    def track_count(self) -> int:
        with self._sessions() as session:
            return int(session.scalar(select(func.count()).select_from(OfficerTrackRow)) or 0)

    # -- attachments -----------------------------------------------------------------------

    def add_attachment(self, attachment: Attachment) -> Attachment:
        """Record an upload once; a repeated ``upload_id`` returns the first record."""
        with self._sessions.begin() as session:
            existing = session.scalars(
                select(AttachmentRow).where(AttachmentRow.upload_id == attachment.upload_id)
            ).first()
            if existing is not None:
                return _attachment(existing)
            session.add(
                AttachmentRow(
                    id=attachment.id,
                    task_id=attachment.task_id,
                    officer_id=attachment.officer_id,
                    district_adcode=attachment.district_adcode,
                    kind=attachment.kind,
                    mime=attachment.mime,
                    size=attachment.size,
                    sha256=attachment.sha256,
                    upload_id=attachment.upload_id,
                    created_at=attachment.created_at,
                )
            )
            return attachment

    def get_attachment(self, attachment_id: str) -> Attachment | None:
        with self._sessions() as session:
            row = session.get(AttachmentRow, attachment_id)
            return None if row is None else _attachment(row)

    def attachments_for_task(self, task_id: str) -> list[Attachment]:
        with self._sessions() as session:
            rows = session.scalars(
                select(AttachmentRow)
                .where(AttachmentRow.task_id == task_id)
                .order_by(AttachmentRow.created_at, AttachmentRow.id)
            )
            return [_attachment(row) for row in rows]


def _chunks(values: list[str], size: int = 500) -> Iterator[list[str]]:
    """Slices of ``values`` small enough for an ``IN (...)`` on every database."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _token_info(row: FieldTokenRow) -> TokenInfo:
    return TokenInfo(
        token_id=row.id,
        officer_id=row.officer_id,
        created_at=_aware(row.created_at),
        expires_at=_utc(row.expires_at),
        revoked_at=_utc(row.revoked_at),
        last_used_at=_utc(row.last_used_at),
    )


_FIX_COLUMNS = ("officer_id", "ts", "lon", "lat", "accuracy", "speed", "heading", "battery")
_SQLITE_TRACK_INSERT = (
    f"INSERT INTO {OfficerTrackRow.__tablename__} ({', '.join(_FIX_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _FIX_COLUMNS)})"
)
_SQLITE_LATEST_UPSERT = (
    f"INSERT INTO {OfficerPositionRow.__tablename__} ({', '.join(_FIX_COLUMNS)}, received_at) "
    f"VALUES ({', '.join('?' for _ in _FIX_COLUMNS)}, ?) "
    "ON CONFLICT (officer_id) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in (*_FIX_COLUMNS[1:], "received_at"))
    + f" WHERE {OfficerPositionRow.__tablename__}.ts <= excluded.ts"
)


def _as_is(value: datetime) -> object:
    return value


def _fix_row(fix: Fix, stamp: Callable[[datetime], object]) -> tuple[object, ...]:
    return (
        fix.officer_id,
        stamp(fix.ts),
        fix.lon,
        fix.lat,
        fix.accuracy,
        fix.speed,
        fix.heading,
        fix.battery,
    )


def _fix_columns(fix: Fix) -> dict[str, object]:
    return {
        "officer_id": fix.officer_id,
        "ts": fix.ts,
        "lon": fix.lon,
        "lat": fix.lat,
        "accuracy": fix.accuracy,
        "speed": fix.speed,
        "heading": fix.heading,
        "battery": fix.battery,
    }


def _fix(row: OfficerPositionRow | OfficerTrackRow) -> Fix:
    return Fix(
        officer_id=row.officer_id,
        ts=_aware(row.ts),
        lon=row.lon,
        lat=row.lat,
        accuracy=row.accuracy,
        speed=row.speed,
        heading=row.heading,
        battery=row.battery,
    )


def _attachment(row: AttachmentRow) -> Attachment:
    return Attachment(
        id=row.id,
        task_id=row.task_id,
        officer_id=row.officer_id,
        district_adcode=row.district_adcode,
        kind=row.kind,
        mime=row.mime,
        size=row.size,
        sha256=row.sha256,
        upload_id=row.upload_id,
        created_at=_aware(row.created_at),
    )
