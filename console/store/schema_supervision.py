"""Tables of supervision intelligence: authenticity weights, cached scores, inspection outcomes,
credit-rating history, enterprise documents and double-random draw records.

Registered on the shared ``Base.metadata``; ``console.store.tables`` imports every schema module.
Like the dispatch tables they carry no foreign keys to world rows: outcomes, weights and draw
records are an audit trail that must outlive a re-seeded world. Credit history and documents
are facts about enterprises; the demo seeding replaces its synthetic ones (``synthetic``).
Weight sets are never updated or deleted: a re-fit adds a version and the newest one is in
force, so every earlier score can be explained with the weights it was computed with.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from console.store.schema import ENUM, ID, NAME, Base
from console.store.schema_dispatch import UtcDateTime

__all__ = [
    "AuthenticityScoreRow",
    "CreditHistoryRow",
    "DrawRecordRow",
    "EnterpriseDocumentRow",
    "InspectionOutcomeRow",
    "WeightSetRow",
]


class WeightSetRow(Base):
    """One version of the authenticity weights; ``previous_version`` is what it replaced."""

    __tablename__ = "authenticity_weight_sets"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    weights: Mapped[dict[str, float]] = mapped_column(JSON)
    fitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    n_samples: Mapped[int] = mapped_column(Integer)
    previous_version: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    coefficients: Mapped[dict[str, float]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AuthenticityScoreRow(Base):
    """The latest score of an enterprise over a window of ``days``, reused while fresh."""

    __tablename__ = "authenticity_scores"

    enterprise_id: Mapped[str] = mapped_column(ID, primary_key=True)
    days: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    district_adcode: Mapped[str | None] = mapped_column(String(12), index=True)
    score: Mapped[float] = mapped_column(Float)
    checks: Mapped[dict[str, float]] = mapped_column(JSON)
    reasons: Mapped[list[str]] = mapped_column(JSON)
    worst_pollutant: Mapped[str | None] = mapped_column(String(32))
    outlet_id: Mapped[str | None] = mapped_column(ID)
    evidence: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, server_default=text("'[]'"))
    """``Reason.to_json`` of every finding, worst pollutant first (as ``reasons``)."""
    hours: Mapped[int] = mapped_column(Integer)
    weight_version: Mapped[int] = mapped_column(Integer)
    scored_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class InspectionOutcomeRow(Base):
    """What an inspection found, with the sub-scores that sent the inspectors there."""

    __tablename__ = "inspection_outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[str] = mapped_column(ID, index=True)
    falsification_confirmed: Mapped[bool] = mapped_column(Boolean)
    task_id: Mapped[str | None] = mapped_column(ID, index=True)
    checks: Mapped[dict[str, float]] = mapped_column(JSON)
    score: Mapped[float] = mapped_column(Float)
    weight_version: Mapped[int] = mapped_column(Integer)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class CreditHistoryRow(Base):
    """One change of an enterprise's environmental credit rating (企业环境信用评价)."""

    __tablename__ = "credit_rating_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[str] = mapped_column(ID, index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    rating: Mapped[str] = mapped_column(ENUM)
    reason: Mapped[str] = mapped_column(Text)
    synthetic: Mapped[bool] = mapped_column(Boolean)


class EnterpriseDocumentRow(Base):
    """A permit, an EIA approval (环评批复) or another record in the enterprise's file."""

    __tablename__ = "enterprise_documents"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    enterprise_id: Mapped[str] = mapped_column(ID, index=True)
    kind: Mapped[str] = mapped_column(ENUM)
    title: Mapped[str] = mapped_column(NAME)
    number: Mapped[str] = mapped_column(String(64))
    issuer: Mapped[str] = mapped_column(NAME)
    issued_at: Mapped[date] = mapped_column(Date)
    synthetic: Mapped[bool] = mapped_column(Boolean)


class DrawRecordRow(Base):
    """A published double-random draw: the verifiable record and the tasks it created."""

    __tablename__ = "draw_records"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    record_digest: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(NAME)
    org_id: Mapped[str] = mapped_column(ID, index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    task_ids: Mapped[list[str]] = mapped_column(JSON)
