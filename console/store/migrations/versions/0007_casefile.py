"""On-site procedure case files: checklist versions, steps, linked attachments, hash chain.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "checklist_templates",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("industry", sa.String(32), nullable=False),
        sa.Column("inspection_type", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("items", sa.Text(), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_checklist_templates"),
        sa.UniqueConstraint(
            "industry",
            "inspection_type",
            "version",
            name="uq_checklist_templates_industry_inspection_type_version",
        ),
    )
    op.create_table(
        "case_files",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("task_id", sa.String(64), nullable=False),
        sa.Column("district_adcode", sa.String(12), nullable=True),
        sa.Column("enterprise_id", sa.String(64), nullable=True),
        sa.Column("checklist_template_id", sa.String(64), nullable=False),
        sa.Column("setup", sa.Text(), nullable=False),
        sa.Column("started_at", _TZ, nullable=False),
        sa.Column("sealed_at", _TZ, nullable=True),
        sa.Column("chain_head", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_case_files"),
        sa.UniqueConstraint("task_id", name="uq_case_files_task_id"),
    )
    op.create_index("ix_case_files_district_adcode", "case_files", ["district_adcode"])
    op.create_table(
        "case_steps",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("started_at", sa.String(40), nullable=True),
        sa.Column("finished_at", sa.String(40), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("officer_id", sa.String(64), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "step", name="pk_case_steps"),
    )
    op.create_table(
        "case_attachments",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("attachment_id", sa.String(64), nullable=False),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "attachment_id", name="pk_case_attachments"),
    )
    op.create_table(
        "case_chain",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "seq", name="pk_case_chain"),
    )


def downgrade() -> None:
    op.drop_table("case_chain")
    op.drop_table("case_attachments")
    op.drop_table("case_steps")
    op.drop_index("ix_case_files_district_adcode", table_name="case_files")
    op.drop_table("case_files")
    op.drop_table("checklist_templates")
