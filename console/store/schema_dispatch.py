"""Tables of complaints, tasks, task events, the outbox to field devices and the dispatch audit log.

Registered on the shared Base.metadata; ``console.store.tables`` imports every schema module.
Dispatch rows deliberately carry no foreign keys to world rows (enterprises, officers,
organisations): a re-seeded world must not delete or block the case history.
``tasks.version`` is the optimistic-concurrency counter: every update is
``UPDATE … WHERE id = ? AND version = ?``. Times are timezone-aware UTC on both engines.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from console.store.schema import ADCODE, ENUM, ID, NAME, Base

__all__ = [
    "ApiKeyRow",
    "AuditRow",
    "Base",
    "ComplaintRow",
    "IntakeRequestRow",
    "OutboxRow",
    "TaskEventRow",
    "TaskRow",
    "UtcDateTime",
]


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; SQLite has no time zones and would hand back naive ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"refusing to store a naive datetime {value!r}: use UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        result: datetime = value
        if result.tzinfo is None:
            return result.replace(tzinfo=UTC)
        return result.astimezone(UTC)


class ComplaintRow(Base):
    __tablename__ = "complaints"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    channel: Mapped[str] = mapped_column(ENUM)
    category: Mapped[str] = mapped_column(ENUM)
    urgency: Mapped[str] = mapped_column(ENUM)
    reporter_name: Mapped[str] = mapped_column(NAME)
    reporter_phone: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    enterprise_id: Mapped[str | None] = mapped_column(ID, index=True)
    district_adcode: Mapped[str | None] = mapped_column(ADCODE, index=True)
    grid_id: Mapped[str | None] = mapped_column(ID)
    merged_into: Mapped[str | None] = mapped_column(ForeignKey("complaints.id"), index=True)
    external_ref: Mapped[str | None] = mapped_column(String(100))
    created_by: Mapped[str] = mapped_column(String(64))


class TaskRow(Base):
    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(ENUM)
    state: Mapped[str] = mapped_column(ENUM, index=True)
    version: Mapped[int] = mapped_column(Integer)
    owner_org_id: Mapped[str] = mapped_column(ID, index=True)
    district_adcode: Mapped[str] = mapped_column(ADCODE, index=True)
    grid_id: Mapped[str | None] = mapped_column(ID)
    urgency: Mapped[str] = mapped_column(ENUM)
    category: Mapped[str] = mapped_column(ENUM)
    title: Mapped[str] = mapped_column(NAME)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    deadline: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    complaint_id: Mapped[str | None] = mapped_column(ForeignKey("complaints.id"), index=True)
    enterprise_id: Mapped[str | None] = mapped_column(ID)
    assignee_officer_id: Mapped[str | None] = mapped_column(ID, index=True)
    assignee_squad_id: Mapped[str | None] = mapped_column(ID, index=True)
    parent_task_id: Mapped[str | None] = mapped_column(ForeignKey("tasks.id"), index=True)
    substitute: Mapped[bool] = mapped_column(Boolean)
    findings: Mapped[str | None] = mapped_column(Text)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    clock_stopped_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    acked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Set by the first hub that announces the task overdue: once per task, whatever the
    # number of hub processes (a conditional UPDATE claims it).
    overdue_notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class TaskEventRow(Base):
    __tablename__ = "task_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(ENUM)
    from_state: Mapped[str | None] = mapped_column(ENUM)
    to_state: Mapped[str] = mapped_column(ENUM)
    user: Mapped[str] = mapped_column("username", String(64))
    seat: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(ENUM)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class OutboxRow(Base):
    """Messages to one officer's device, numbered per officer so the device can resume."""

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("officer_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    officer_id: Mapped[str] = mapped_column(ID)
    seq: Mapped[int] = mapped_column(Integer)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), index=True)
    kind: Mapped[str] = mapped_column(ENUM)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    acked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer)


class AuditRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    user: Mapped[str] = mapped_column("username", String(64), index=True)
    seat: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    task_id: Mapped[str | None] = mapped_column(ID, index=True)
    complaint_id: Mapped[str | None] = mapped_column(ID, index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class ApiKeyRow(Base):
    """Keys of external systems posting to the intake API; only a hash is kept."""

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked: Mapped[bool] = mapped_column(Boolean)


class IntakeRequestRow(Base):
    """One accepted intake request: the idempotency key maps a retry to the first answer."""

    __tablename__ = "intake_requests"
    __table_args__ = (UniqueConstraint("system", "idempotency_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    system: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    complaint_id: Mapped[str] = mapped_column(ForeignKey("complaints.id"), index=True)
    response: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
