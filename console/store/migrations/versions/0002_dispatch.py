"""Complaints, tasks, task events, outbox, audit log, intake API keys and requests.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.String(64)
_ENUM = sa.String(32)
_NAME = sa.String(200)
_ADCODE = sa.String(12)


def _time(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _indexes(table: str, *columns: str) -> None:
    for column in columns:
        op.create_index(f"ix_{table}_{column}", table, [column])


def upgrade() -> None:
    op.create_table(
        "complaints",
        sa.Column("id", _ID, nullable=False),
        sa.Column("channel", _ENUM, nullable=False),
        sa.Column("category", _ENUM, nullable=False),
        sa.Column("urgency", _ENUM, nullable=False),
        sa.Column("reporter_name", _NAME, nullable=False),
        sa.Column("reporter_phone", sa.String(32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        _time("received_at"),
        sa.Column("enterprise_id", _ID, nullable=True),
        sa.Column("district_adcode", _ADCODE, nullable=True),
        sa.Column("grid_id", _ID, nullable=True),
        sa.Column("merged_into", _ID, nullable=True),
        sa.Column("external_ref", sa.String(100), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["merged_into"], ["complaints.id"], name="fk_complaints_merged_into_complaints"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_complaints"),
    )
    _indexes("complaints", "received_at", "enterprise_id", "district_adcode", "merged_into")

    op.create_table(
        "tasks",
        sa.Column("id", _ID, nullable=False),
        sa.Column("kind", _ENUM, nullable=False),
        sa.Column("state", _ENUM, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("owner_org_id", _ID, nullable=False),
        sa.Column("district_adcode", _ADCODE, nullable=False),
        sa.Column("grid_id", _ID, nullable=True),
        sa.Column("urgency", _ENUM, nullable=False),
        sa.Column("category", _ENUM, nullable=False),
        sa.Column("title", _NAME, nullable=False),
        _time("created_at"),
        _time("deadline"),
        sa.Column("complaint_id", _ID, nullable=True),
        sa.Column("enterprise_id", _ID, nullable=True),
        sa.Column("assignee_officer_id", _ID, nullable=True),
        sa.Column("assignee_squad_id", _ID, nullable=True),
        sa.Column("parent_task_id", _ID, nullable=True),
        sa.Column("substitute", sa.Boolean(), nullable=False),
        sa.Column("findings", sa.Text(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        _time("updated_at", nullable=True),
        _time("clock_stopped_at", nullable=True),
        _time("delivered_at", nullable=True),
        _time("acked_at", nullable=True),
        _time("overdue_notified_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["complaint_id"], ["complaints.id"], name="fk_tasks_complaint_id_complaints"
        ),
        sa.ForeignKeyConstraint(
            ["parent_task_id"], ["tasks.id"], name="fk_tasks_parent_task_id_tasks"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_tasks"),
    )
    _indexes(
        "tasks",
        "state",
        "owner_org_id",
        "district_adcode",
        "deadline",
        "complaint_id",
        "assignee_officer_id",
        "assignee_squad_id",
        "parent_task_id",
    )

    op.create_table(
        "task_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", _ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", _ENUM, nullable=False),
        sa.Column("from_state", _ENUM, nullable=True),
        sa.Column("to_state", _ENUM, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("seat", sa.String(64), nullable=False),
        sa.Column("role", _ENUM, nullable=False),
        _time("at"),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name="fk_task_events_task_id_tasks"),
        sa.PrimaryKeyConstraint("id", name="pk_task_events"),
    )
    _indexes("task_events", "task_id")

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("officer_id", _ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("task_id", _ID, nullable=False),
        sa.Column("kind", _ENUM, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        _time("created_at"),
        _time("delivered_at", nullable=True),
        _time("acked_at", nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name="fk_outbox_task_id_tasks"),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("officer_id", "seq", name="uq_outbox_officer_id_seq"),
    )
    _indexes("outbox", "task_id")

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _time("at"),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("seat", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("task_id", _ID, nullable=True),
        sa.Column("complaint_id", _ID, nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    _indexes("audit_log", "at", "username", "task_id", "complaint_id")

    op.create_table(
        "api_keys",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(128), nullable=False),
        _time("created_at"),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )

    op.create_table(
        "intake_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("system", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("complaint_id", _ID, nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        _time("created_at"),
        sa.ForeignKeyConstraint(
            ["complaint_id"], ["complaints.id"], name="fk_intake_requests_complaint_id_complaints"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_intake_requests"),
        sa.UniqueConstraint(
            "system", "idempotency_key", name="uq_intake_requests_system_idempotency_key"
        ),
    )
    _indexes("intake_requests", "complaint_id")


def downgrade() -> None:
    for table in (
        "intake_requests",
        "api_keys",
        "audit_log",
        "outbox",
        "task_events",
        "tasks",
        "complaints",
    ):
        op.drop_table(table)
