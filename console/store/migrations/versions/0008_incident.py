"""Emergency incidents: incidents, members, orders and acknowledgements.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)


def _incident_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["incident_id"], ["incidents.id"], name=f"fk_{table}_incident_id_incidents"
    )


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("level", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("address", sa.String(200), nullable=False),
        sa.Column("district_adcode", sa.String(12), nullable=False),
        sa.Column("opened_at", _TZ, nullable=False),
        sa.Column("opened_by", sa.String(64), nullable=False),
        sa.Column("closed_at", _TZ, nullable=True),
        sa.Column("closed_by", sa.String(64), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
    )
    op.create_index("ix_incidents_status", "incidents", ["status"])
    op.create_index("ix_incidents_district_adcode", "incidents", ["district_adcode"])
    op.create_table(
        "incident_members",
        sa.Column("incident_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("added_at", _TZ, nullable=False),
        sa.Column("added_by", sa.String(64), nullable=False),
        _incident_fk("incident_members"),
        sa.PrimaryKeyConstraint("incident_id", "kind", "member_id", name="pk_incident_members"),
    )
    op.create_table(
        "incident_orders",
        sa.Column("incident_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", _TZ, nullable=False),
        sa.Column("by_user", sa.String(64), nullable=False),
        sa.Column("seat", sa.String(64), nullable=False),
        sa.Column("addressee", sa.String(80), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        _incident_fk("incident_orders"),
        sa.PrimaryKeyConstraint("incident_id", "seq", name="pk_incident_orders"),
    )
    op.create_table(
        "incident_acks",
        sa.Column("incident_id", sa.String(64), nullable=False),
        sa.Column("order_seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("by_user", sa.String(64), nullable=False),
        sa.Column("at", _TZ, nullable=False),
        _incident_fk("incident_acks"),
        sa.PrimaryKeyConstraint("incident_id", "order_seq", "by_user", name="pk_incident_acks"),
    )


def downgrade() -> None:
    op.drop_table("incident_acks")
    op.drop_table("incident_orders")
    op.drop_table("incident_members")
    op.drop_index("ix_incidents_district_adcode", table_name="incidents")
    op.drop_index("ix_incidents_status", table_name="incidents")
    op.drop_table("incidents")
