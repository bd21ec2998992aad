"""Tables of the camera register (streams, credentials kept server-side) and video-wall layouts.

Registered on the shared ``Base.metadata``; ``console.store.tables`` imports every schema module.
Cameras carry no foreign key to ``enterprises``: a re-seeded world must not delete the register.
The stream password is stored as given because the hub must hand it to the player; it never
leaves the hub except through ``camera.stream_url``.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from console.store.schema import ADCODE, ID, NAME, Base

__all__ = ["Base", "CameraRow", "WallLayoutRow"]


class CameraRow(Base):
    __tablename__ = "cameras"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(NAME)
    enterprise_id: Mapped[str | None] = mapped_column(ID, index=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    # None: outside every district, visible to every scope.
    district_adcode: Mapped[str | None] = mapped_column(ADCODE, index=True)
    stream_url: Mapped[str] = mapped_column(Text)
    username: Mapped[str] = mapped_column(String(200), default="")
    password: Mapped[str] = mapped_column(String(200), default="")
    group_name: Mapped[str] = mapped_column(NAME, default="")
    # Last state reported by a console playing the stream; True until one reports it down.
    online: Mapped[bool] = mapped_column(Boolean, default=True)


class WallLayoutRow(Base):
    """A named video-wall layout: the JSON spec of its grid and the cameras in its tiles."""

    __tablename__ = "wall_layouts"

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    spec: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(64))
