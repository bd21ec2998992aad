"""The database schema as typed SQLAlchemy 2 ORM classes, one table per domain concept.

Enumerations are stored as their string values (no native enum types) so adding a member
never needs a migration. Every world table has a ``seq`` column: the store gives back the
world in the order it was saved. ``users.org_id`` deliberately has no foreign key: users
outlive a re-seeded world, and the hub checks the organisation when they log in.
"""

from __future__ import annotations

from shapely.geometry.base import BaseGeometry
from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from console.store.geometry import Geometry

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(64)
NAME = String(200)
ENUM = String(32)
ADCODE = String(12)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _spatial_index(name: str, column: Mapped[BaseGeometry]) -> Index:
    """A GiST index, created on PostgreSQL only (a btree over WKB blobs would be useless)."""
    return Index(name, column, postgresql_using="gist").ddl_if(dialect="postgresql")


class MetaEntry(Base):
    """World-level facts: city adcode and name, generator seed and version."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class OrganisationRow(Base):
    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(NAME)
    level: Mapped[str] = mapped_column(ENUM)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    adcode: Mapped[str | None] = mapped_column(ADCODE)


class DistrictRow(Base):
    __tablename__ = "districts"

    adcode: Mapped[str] = mapped_column(ADCODE, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(NAME)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    boundary: Mapped[BaseGeometry] = mapped_column(Geometry())


class GridRow(Base):
    __tablename__ = "grids"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(NAME)
    district_adcode: Mapped[str] = mapped_column(ForeignKey("districts.adcode"), index=True)
    geometry: Mapped[BaseGeometry] = mapped_column(Geometry())
    # use_alter: grids and officers reference each other.
    officer_id: Mapped[str | None] = mapped_column(
        ForeignKey("officers.id", use_alter=True), index=True
    )


class SquadRow(Base):
    __tablename__ = "squads"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(NAME)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    district_adcode: Mapped[str] = mapped_column(ForeignKey("districts.adcode"), index=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    location: Mapped[BaseGeometry] = mapped_column(Geometry("POINT"))
    available: Mapped[bool] = mapped_column(Boolean)


class OfficerRow(Base):
    __tablename__ = "officers"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(NAME)
    role: Mapped[str] = mapped_column(ENUM)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    district_adcode: Mapped[str] = mapped_column(ForeignKey("districts.adcode"), index=True)
    grid_id: Mapped[str | None] = mapped_column(ForeignKey("grids.id"), index=True)
    squad_id: Mapped[str | None] = mapped_column(ForeignKey("squads.id"), index=True)
    phone: Mapped[str] = mapped_column(String(32))
    badge_no: Mapped[str] = mapped_column(String(32))
    duty: Mapped[str] = mapped_column(ENUM)


class EnterpriseRow(Base):
    __tablename__ = "enterprises"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(NAME)
    credit_code: Mapped[str] = mapped_column(String(32), index=True)
    industry: Mapped[str] = mapped_column(ENUM)
    district_adcode: Mapped[str] = mapped_column(ForeignKey("districts.adcode"), index=True)
    grid_id: Mapped[str | None] = mapped_column(ForeignKey("grids.id"), index=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    location: Mapped[BaseGeometry] = mapped_column(Geometry("POINT"))
    address: Mapped[str] = mapped_column(Text)
    credit_rating: Mapped[str] = mapped_column(ENUM)
    is_key: Mapped[bool] = mapped_column(Boolean)
    permit_no: Mapped[str] = mapped_column(String(64))
    synthetic: Mapped[bool] = mapped_column(Boolean)
    legal_representative: Mapped[str] = mapped_column(NAME, server_default="")


class OutletRow(Base):
    __tablename__ = "outlets"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    enterprise_id: Mapped[str] = mapped_column(
        ForeignKey("enterprises.id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(NAME)
    kind: Mapped[str] = mapped_column(ENUM)
    # The HJ 212 receiver looks outlets up by the data logger's MN.
    mn: Mapped[str] = mapped_column(String(64), unique=True)
    password: Mapped[str] = mapped_column(String(64))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)


class PermitLimitRow(Base):
    __tablename__ = "permit_limits"

    outlet_id: Mapped[str] = mapped_column(
        ForeignKey("outlets.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(NAME)
    unit: Mapped[str] = mapped_column(String(32))
    limit: Mapped[float] = mapped_column("limit_value", Float)
    lower_limit: Mapped[float | None] = mapped_column(Float)
    annual_quota_kg: Mapped[float | None] = mapped_column(Float)
    monthly_quota_kg: Mapped[float | None] = mapped_column(Float)


class UserRow(Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(NAME)
    role: Mapped[str] = mapped_column(ENUM)
    org_id: Mapped[str] = mapped_column(ID, index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean)


SPATIAL_INDEXES = (
    _spatial_index("ix_districts_boundary", DistrictRow.boundary),
    _spatial_index("ix_grids_geometry", GridRow.geometry),
    _spatial_index("ix_squads_location", SquadRow.location),
    _spatial_index("ix_enterprises_location", EnterpriseRow.location),
)

metadata = Base.metadata
