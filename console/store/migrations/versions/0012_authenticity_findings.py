"""Authenticity scores: their findings as data, so the console words them in its language.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29

Scores cached before this have no findings (``[]``): the console shows their English
``reasons`` until they are recomputed, which happens once they are stale.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "authenticity_scores",
        sa.Column("findings", sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
    )


def downgrade() -> None:
    op.drop_column("authenticity_scores", "findings")
