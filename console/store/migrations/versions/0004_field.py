"""Field enrolment tokens, positions, attachments.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "field_tokens",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("officer_id", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("expires_at", _TZ, nullable=True),
        sa.Column("revoked_at", _TZ, nullable=True),
        sa.Column("last_used_at", _TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_field_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_field_tokens_token_hash"),
    )
    op.create_index("ix_field_tokens_officer_id", "field_tokens", ["officer_id"])
    op.create_table(
        "officer_positions",
        sa.Column("officer_id", sa.String(64), nullable=False),
        sa.Column("ts", _TZ, nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("accuracy", sa.Float(), nullable=False),
        sa.Column("speed", sa.Float(), nullable=True),
        sa.Column("heading", sa.Float(), nullable=True),
        sa.Column("battery", sa.Float(), nullable=True),
        sa.Column("received_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("officer_id", name="pk_officer_positions"),
    )
    op.create_table(
        "officer_track",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("officer_id", sa.String(64), nullable=False),
        sa.Column("ts", _TZ, nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("accuracy", sa.Float(), nullable=False),
        sa.Column("speed", sa.Float(), nullable=True),
        sa.Column("heading", sa.Float(), nullable=True),
        sa.Column("battery", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_officer_track"),
    )
    op.create_index("ix_officer_track_officer_id_ts", "officer_track", ["officer_id", "ts"])
    op.create_table(
        "attachments",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("task_id", sa.String(64), nullable=False),
        sa.Column("officer_id", sa.String(64), nullable=False),
        sa.Column("district_adcode", sa.String(12), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("mime", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("upload_id", sa.String(64), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_attachments"),
        sa.UniqueConstraint("upload_id", name="uq_attachments_upload_id"),
    )
    op.create_index("ix_attachments_task_id", "attachments", ["task_id"])
    op.create_index("ix_attachments_officer_id", "attachments", ["officer_id"])
    op.create_index("ix_attachments_sha256", "attachments", ["sha256"])


def downgrade() -> None:
    op.drop_table("attachments")
    op.drop_table("officer_track")
    op.drop_table("officer_positions")
    op.drop_table("field_tokens")
