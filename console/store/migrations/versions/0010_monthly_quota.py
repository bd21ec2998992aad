"""Permit limits: a monthly total-quantity quota next to the annual one.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("permit_limits", sa.Column("monthly_quota_kg", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("permit_limits", "monthly_quota_kg")
