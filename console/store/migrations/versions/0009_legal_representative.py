"""Enterprises: the legal representative (法定代表人) for the on-site record.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing rows get "" (not recorded yet); the next world save fills it in.
    op.add_column(
        "enterprises",
        sa.Column("legal_representative", sa.String(200), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_column("enterprises", "legal_representative")
