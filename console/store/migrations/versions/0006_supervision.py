"""Supervision intelligence: weights, cached scores, outcomes, credit history, documents, draws.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "authenticity_weight_sets",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("fitted_at", _TZ, nullable=True),
        sa.Column("n_samples", sa.Integer(), nullable=False),
        sa.Column("previous_version", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("coefficients", sa.JSON(), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("version", name="pk_authenticity_weight_sets"),
    )
    op.create_table(
        "authenticity_scores",
        sa.Column("enterprise_id", sa.String(64), nullable=False),
        sa.Column("days", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("district_adcode", sa.String(12), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("worst_pollutant", sa.String(32), nullable=True),
        sa.Column("outlet_id", sa.String(64), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("hours", sa.Integer(), nullable=False),
        sa.Column("weight_version", sa.Integer(), nullable=False),
        sa.Column("scored_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("enterprise_id", "days", name="pk_authenticity_scores"),
    )
    op.create_index(
        "ix_authenticity_scores_district_adcode", "authenticity_scores", ["district_adcode"]
    )
    op.create_index("ix_authenticity_scores_scored_at", "authenticity_scores", ["scored_at"])
    op.create_table(
        "inspection_outcomes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("enterprise_id", sa.String(64), nullable=False),
        sa.Column("falsification_confirmed", sa.Boolean(), nullable=False),
        sa.Column("task_id", sa.String(64), nullable=True),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("weight_version", sa.Integer(), nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("recorded_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_inspection_outcomes"),
    )
    op.create_index(
        "ix_inspection_outcomes_enterprise_id", "inspection_outcomes", ["enterprise_id"]
    )
    op.create_index("ix_inspection_outcomes_task_id", "inspection_outcomes", ["task_id"])
    op.create_index("ix_inspection_outcomes_recorded_at", "inspection_outcomes", ["recorded_at"])
    op.create_table(
        "credit_rating_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("enterprise_id", sa.String(64), nullable=False),
        sa.Column("at", _TZ, nullable=False),
        sa.Column("rating", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_credit_rating_history"),
    )
    op.create_index(
        "ix_credit_rating_history_enterprise_id", "credit_rating_history", ["enterprise_id"]
    )
    op.create_table(
        "enterprise_documents",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("enterprise_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("issuer", sa.String(200), nullable=False),
        sa.Column("issued_at", sa.Date(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_enterprise_documents"),
    )
    op.create_index(
        "ix_enterprise_documents_enterprise_id", "enterprise_documents", ["enterprise_id"]
    )
    op.create_table(
        "draw_records",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("record_digest", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("task_ids", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_draw_records"),
        sa.UniqueConstraint("record_digest", name="uq_draw_records_record_digest"),
    )
    op.create_index("ix_draw_records_org_id", "draw_records", ["org_id"])
    op.create_index("ix_draw_records_created_at", "draw_records", ["created_at"])


def downgrade() -> None:
    op.drop_table("draw_records")
    op.drop_table("enterprise_documents")
    op.drop_table("credit_rating_history")
    op.drop_table("inspection_outcomes")
    op.drop_table("authenticity_scores")
    op.drop_table("authenticity_weight_sets")
