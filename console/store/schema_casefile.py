"""Tables of on-site procedure case files: checklist versions, steps, linked files, hash chain.

Registered on the shared ``Base.metadata``; ``console.store.tables`` imports every schema module.
Step data and chain bodies are stored as canonical JSON text (not a JSON column) so that what
was hashed is byte-for-byte what is stored, on SQLite and PostgreSQL alike. ``case_chain`` is
append-only; the other case tables are the readable copy that ``verify-case`` checks against it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from console.store.schema import ADCODE, ENUM, ID, Base

__all__ = [
    "Base",
    "CaseAttachmentRow",
    "CaseChainRow",
    "CaseFileRow",
    "CaseStepRow",
    "ChecklistTemplateRow",
]

SHA256_HEX = String(64)


class ChecklistTemplateRow(Base):
    """One version of a checklist; a new version is a new row, old ones stay for old cases."""

    __tablename__ = "checklist_templates"
    __table_args__ = (UniqueConstraint("industry", "inspection_type", "version"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    industry: Mapped[str] = mapped_column(ENUM)
    inspection_type: Mapped[str] = mapped_column(ENUM)
    version: Mapped[int] = mapped_column(Integer)
    items: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(ID)


class CaseFileRow(Base):
    __tablename__ = "case_files"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    task_id: Mapped[str] = mapped_column(ID, unique=True)
    district_adcode: Mapped[str | None] = mapped_column(ADCODE, index=True)
    enterprise_id: Mapped[str | None] = mapped_column(ID)
    checklist_template_id: Mapped[str] = mapped_column(ID)
    # Canonical JSON of what the case started with (template, notice, officers, enterprise).
    setup: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sealed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    chain_head: Mapped[str] = mapped_column(SHA256_HEX)


class CaseStepRow(Base):
    __tablename__ = "case_steps"

    case_id: Mapped[str] = mapped_column(ID, primary_key=True)
    step: Mapped[str] = mapped_column(ENUM, primary_key=True)
    status: Mapped[str] = mapped_column(ENUM)
    started_at: Mapped[str | None] = mapped_column(String(40))
    finished_at: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(Text)
    officer_id: Mapped[str | None] = mapped_column(ID)
    data: Mapped[str] = mapped_column(Text)


class CaseAttachmentRow(Base):
    """An attachment (photo, voice, signature) linked to a case with the SHA-256 it had."""

    __tablename__ = "case_attachments"

    case_id: Mapped[str] = mapped_column(ID, primary_key=True)
    attachment_id: Mapped[str] = mapped_column(ID, primary_key=True)
    step: Mapped[str] = mapped_column(ENUM)
    item_id: Mapped[str | None] = mapped_column(ID)
    sha256: Mapped[str] = mapped_column(SHA256_HEX)


class CaseChainRow(Base):
    __tablename__ = "case_chain"

    case_id: Mapped[str] = mapped_column(ID, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(ENUM)
    at: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(SHA256_HEX)
    entry_hash: Mapped[str] = mapped_column(SHA256_HEX)
