"""Camera register and video-wall layouts.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cameras",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("enterprise_id", sa.String(64), nullable=True),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("district_adcode", sa.String(12), nullable=True),
        sa.Column("stream_url", sa.Text(), nullable=False),
        sa.Column("username", sa.String(200), nullable=False),
        sa.Column("password", sa.String(200), nullable=False),
        sa.Column("group_name", sa.String(200), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cameras"),
    )
    op.create_index("ix_cameras_enterprise_id", "cameras", ["enterprise_id"])
    op.create_index("ix_cameras_district_adcode", "cameras", ["district_adcode"])
    op.create_table(
        "wall_layouts",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_wall_layouts"),
    )


def downgrade() -> None:
    op.drop_table("wall_layouts")
    op.drop_index("ix_cameras_district_adcode", table_name="cameras")
    op.drop_index("ix_cameras_enterprise_id", table_name="cameras")
    op.drop_table("cameras")
