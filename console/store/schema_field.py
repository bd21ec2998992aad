"""Tables of field-device enrolment tokens, officer positions and task attachments.

Registered on the shared Base.metadata; ``console.store.tables`` imports every schema module.
Times are stored as UTC. Tokens are kept only as SHA-256 hashes: a stolen database does not
let anyone impersonate an officer. ``officer_positions`` holds the latest fix per officer
(what the map shows), ``officer_track`` every accepted fix (what an audit replays).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from console.store.schema import ADCODE, ENUM, ID, Base

__all__ = ["AttachmentRow", "Base", "FieldTokenRow", "OfficerPositionRow", "OfficerTrackRow"]

SHA256_HEX = String(64)


class FieldTokenRow(Base):
    __tablename__ = "field_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    officer_id: Mapped[str] = mapped_column(ID, index=True)
    token_hash: Mapped[str] = mapped_column(SHA256_HEX, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OfficerPositionRow(Base):
    __tablename__ = "officer_positions"

    officer_id: Mapped[str] = mapped_column(ID, primary_key=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    accuracy: Mapped[float] = mapped_column(Float)
    speed: Mapped[float | None] = mapped_column(Float)
    heading: Mapped[float | None] = mapped_column(Float)
    battery: Mapped[float | None] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OfficerTrackRow(Base):
    __tablename__ = "officer_track"
    __table_args__ = (Index("ix_officer_track_officer_id_ts", "officer_id", "ts"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    officer_id: Mapped[str] = mapped_column(ID)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    accuracy: Mapped[float] = mapped_column(Float)
    speed: Mapped[float | None] = mapped_column(Float)
    heading: Mapped[float | None] = mapped_column(Float)
    battery: Mapped[float | None] = mapped_column(Float)


class AttachmentRow(Base):
    """A photo or voice note uploaded for a task; the file lives under the data dir."""

    __tablename__ = "attachments"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    task_id: Mapped[str] = mapped_column(ID, index=True)
    officer_id: Mapped[str] = mapped_column(ID, index=True)
    # The officer's district: consoles see attachments of their scope only.
    district_adcode: Mapped[str | None] = mapped_column(ADCODE)
    kind: Mapped[str] = mapped_column(ENUM)
    mime: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(SHA256_HEX, index=True)
    upload_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
