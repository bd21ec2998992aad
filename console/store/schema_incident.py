"""Tables of emergency incidents: the incident, its members, its orders and their acks.

Registered on the shared ``Base.metadata``; ``console.store.tables`` imports every schema module.
Members carry no foreign key to tasks, squads, officers or cameras: a re-seeded world or an
edited camera register must not rewrite an incident's record of who was on it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from console.store.schema import ADCODE, ENUM, ID, NAME, Base

__all__ = ["Base", "IncidentAckRow", "IncidentMemberRow", "IncidentOrderRow", "IncidentRow"]

# An order's addressee: "all", "squad:<id>" or "officer:<id>".
ADDRESS = String(80)


class IncidentRow(Base):
    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    title: Mapped[str] = mapped_column(NAME)
    level: Mapped[str] = mapped_column(ENUM)
    status: Mapped[str] = mapped_column(ENUM, index=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    address: Mapped[str] = mapped_column(NAME, default="")
    district_adcode: Mapped[str] = mapped_column(ADCODE, index=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    opened_by: Mapped[str] = mapped_column(ID)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(ID)
    summary: Mapped[str | None] = mapped_column(Text)


class IncidentMemberRow(Base):
    __tablename__ = "incident_members"

    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(ENUM, primary_key=True)
    member_id: Mapped[str] = mapped_column(ID, primary_key=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    added_by: Mapped[str] = mapped_column(ID)


class IncidentOrderRow(Base):
    __tablename__ = "incident_orders"

    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    by_user: Mapped[str] = mapped_column(ID)
    seat: Mapped[str] = mapped_column(ID)
    addressee: Mapped[str] = mapped_column(ADDRESS)
    text: Mapped[str] = mapped_column(Text)


class IncidentAckRow(Base):
    """One acknowledgement of an order by one user (an order to all gets several)."""

    __tablename__ = "incident_acks"

    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    order_seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    by_user: Mapped[str] = mapped_column(ID, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
