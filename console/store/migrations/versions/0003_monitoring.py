"""Monitoring time series, alarms, quarantine.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

On PostgreSQL the real-time, minute and hourly tables are partitioned by month on
``data_time``; partitions are created on demand by ``console.store.timeseries``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MONTHLY: dict[str, Any] = {"postgresql_partition_by": "RANGE (data_time)"}


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _aggregate(name: str, partitioned: bool) -> None:
    op.create_table(
        name,
        sa.Column("outlet_id", sa.String(64), nullable=False),
        sa.Column("data_time", _utc(), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("period_s", sa.Integer(), nullable=False),
        sa.Column("min", sa.Float(), nullable=True),
        sa.Column("avg", sa.Float(), nullable=True),
        sa.Column("max", sa.Float(), nullable=True),
        sa.Column("zs_avg", sa.Float(), nullable=True),
        sa.Column("cou", sa.Float(), nullable=True),
        sa.Column("flag", sa.String(4), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("normal", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("received_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("outlet_id", "data_time", "code", name=f"pk_{name}"),
        **(_MONTHLY if partitioned else {}),
    )


def upgrade() -> None:
    op.create_table(
        "monitoring_realtime",
        sa.Column("outlet_id", sa.String(64), nullable=False),
        sa.Column("data_time", _utc(), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("flag", sa.String(4), nullable=True),
        sa.Column("zs", sa.Float(), nullable=True),
        sa.Column("cou", sa.Float(), nullable=True),
        sa.Column("received_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("outlet_id", "data_time", "code", name="pk_monitoring_realtime"),
        **_MONTHLY,
    )
    _aggregate("monitoring_minute", partitioned=True)
    _aggregate("monitoring_hourly", partitioned=True)
    _aggregate("monitoring_daily", partitioned=False)
    op.create_index("ix_monitoring_hourly_data_time", "monitoring_hourly", ["data_time"])
    op.create_table(
        "monitoring_alarms",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(32), nullable=False),
        sa.Column("enterprise_id", sa.String(64), nullable=False),
        sa.Column("outlet_id", sa.String(64), nullable=False),
        sa.Column("mn", sa.String(64), nullable=False),
        sa.Column("district_adcode", sa.String(12), nullable=False),
        sa.Column("pollutant", sa.String(32), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("limit_value", sa.Float(), nullable=True),
        sa.Column("flag", sa.String(4), nullable=True),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("cleared_at", _utc(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("complaint_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_monitoring_alarms"),
    )
    for column in ("district_adcode", "started_at", "cleared_at"):
        op.create_index(f"ix_monitoring_alarms_{column}", "monitoring_alarms", [column])
    op.create_table(
        "monitoring_quarantine",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("mn", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("peer", sa.String(64), nullable=False),
        sa.Column("received_at", _utc(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("error", sa.String(32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_monitoring_quarantine"),
    )
    op.create_index(
        "ix_monitoring_quarantine_received_at", "monitoring_quarantine", ["received_at"]
    )
    op.create_table(
        "monitoring_quota_usage",
        sa.Column("outlet_id", sa.String(64), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("used_kg", sa.Float(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("outlet_id", "code", "year", name="pk_monitoring_quota_usage"),
    )


def downgrade() -> None:
    # Dropping a partitioned parent drops its monthly partitions with it.
    for table in (
        "monitoring_quota_usage",
        "monitoring_quarantine",
        "monitoring_alarms",
        "monitoring_daily",
        "monitoring_hourly",
        "monitoring_minute",
        "monitoring_realtime",
    ):
        op.drop_table(table)
