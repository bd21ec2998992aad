"""Initial schema: the world (organisations … permit limits), users and meta.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from console.store.geometry import Geometry

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index name, table, column) of the GiST indexes, PostgreSQL only.
SPATIAL_INDEXES = (
    ("ix_districts_boundary", "districts", "boundary"),
    ("ix_grids_geometry", "grids", "geometry"),
    ("ix_squads_location", "squads", "location"),
    ("ix_enterprises_location", "enterprises", "location"),
)


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _indexes(table: str, *columns: str) -> None:
    for column in columns:
        op.create_index(f"ix_{table}_{column}", table, [column])


def upgrade() -> None:
    postgresql = _is_postgresql()
    if postgresql:
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")

    op.create_table(
        "meta",
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_meta"),
    )
    op.create_table(
        "organisations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("level", sa.String(32), nullable=False),
        sa.Column("parent_id", sa.String(64), nullable=True),
        sa.Column("adcode", sa.String(12), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["organisations.id"], name="fk_organisations_parent_id_organisations"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_organisations"),
    )
    _indexes("organisations", "parent_id")

    op.create_table(
        "users",
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("username", name="pk_users"),
    )
    _indexes("users", "org_id")

    op.create_table(
        "districts",
        sa.Column("adcode", sa.String(12), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("boundary", Geometry("GEOMETRY"), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name="fk_districts_org_id_organisations"
        ),
        sa.PrimaryKeyConstraint("adcode", name="pk_districts"),
    )
    _indexes("districts", "org_id")

    # grids and officers reference each other: on PostgreSQL the grid→officer key is added
    # once officers exists; SQLite cannot add it later but does not check targets at CREATE.
    grid_officer_fk = sa.ForeignKeyConstraint(
        ["officer_id"], ["officers.id"], name="fk_grids_officer_id_officers"
    )
    op.create_table(
        "grids",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("district_adcode", sa.String(12), nullable=False),
        sa.Column("geometry", Geometry("GEOMETRY"), nullable=False),
        sa.Column("officer_id", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["district_adcode"], ["districts.adcode"], name="fk_grids_district_adcode_districts"
        ),
        *([] if postgresql else [grid_officer_fk]),
        sa.PrimaryKeyConstraint("id", name="pk_grids"),
    )
    _indexes("grids", "district_adcode", "officer_id")

    op.create_table(
        "squads",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("district_adcode", sa.String(12), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("location", Geometry("POINT"), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["district_adcode"], ["districts.adcode"], name="fk_squads_district_adcode_districts"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name="fk_squads_org_id_organisations"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_squads"),
    )
    _indexes("squads", "district_adcode", "org_id")

    op.create_table(
        "enterprises",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("credit_code", sa.String(32), nullable=False),
        sa.Column("industry", sa.String(32), nullable=False),
        sa.Column("district_adcode", sa.String(12), nullable=False),
        sa.Column("grid_id", sa.String(64), nullable=True),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("location", Geometry("POINT"), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("credit_rating", sa.String(32), nullable=False),
        sa.Column("is_key", sa.Boolean(), nullable=False),
        sa.Column("permit_no", sa.String(64), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["district_adcode"],
            ["districts.adcode"],
            name="fk_enterprises_district_adcode_districts",
        ),
        sa.ForeignKeyConstraint(["grid_id"], ["grids.id"], name="fk_enterprises_grid_id_grids"),
        sa.PrimaryKeyConstraint("id", name="pk_enterprises"),
    )
    _indexes("enterprises", "credit_code", "district_adcode", "grid_id")

    op.create_table(
        "officers",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("district_adcode", sa.String(12), nullable=False),
        sa.Column("grid_id", sa.String(64), nullable=True),
        sa.Column("squad_id", sa.String(64), nullable=True),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("badge_no", sa.String(32), nullable=False),
        sa.Column("duty", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["district_adcode"],
            ["districts.adcode"],
            name="fk_officers_district_adcode_districts",
        ),
        sa.ForeignKeyConstraint(["grid_id"], ["grids.id"], name="fk_officers_grid_id_grids"),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name="fk_officers_org_id_organisations"
        ),
        sa.ForeignKeyConstraint(["squad_id"], ["squads.id"], name="fk_officers_squad_id_squads"),
        sa.PrimaryKeyConstraint("id", name="pk_officers"),
    )
    _indexes("officers", "district_adcode", "grid_id", "org_id", "squad_id")
    if postgresql:
        op.create_foreign_key(
            "fk_grids_officer_id_officers", "grids", "officers", ["officer_id"], ["id"]
        )

    op.create_table(
        "outlets",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("enterprise_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("mn", sa.String(64), nullable=False),
        sa.Column("password", sa.String(64), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name="fk_outlets_enterprise_id_enterprises",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_outlets"),
        sa.UniqueConstraint("mn", name="uq_outlets_mn"),
    )
    _indexes("outlets", "enterprise_id")

    op.create_table(
        "permit_limits",
        sa.Column("outlet_id", sa.String(64), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("limit_value", sa.Float(), nullable=False),
        sa.Column("lower_limit", sa.Float(), nullable=True),
        sa.Column("annual_quota_kg", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["outlet_id"],
            ["outlets.id"],
            name="fk_permit_limits_outlet_id_outlets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("outlet_id", "code", name="pk_permit_limits"),
    )

    if postgresql:
        for name, table, column in SPATIAL_INDEXES:
            op.create_index(name, table, [column], postgresql_using="gist")


def downgrade() -> None:
    if _is_postgresql():
        op.drop_constraint("fk_grids_officer_id_officers", "grids", type_="foreignkey")
    for table in (
        "permit_limits",
        "outlets",
        "officers",
        "enterprises",
        "squads",
        "grids",
        "districts",
        "users",
        "organisations",
        "meta",
    ):
        op.drop_table(table)
