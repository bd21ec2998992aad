"""One geometry column type for both engines.

PostgreSQL gets real PostGIS ``geometry(<type>, 4326)`` columns (so GiST indexes and ST_*
queries work there); SQLite, which has no SpatiaLite on this Python, stores ISO WKB blobs and
the hub does spatial work in shapely. Values are shapely geometries on both sides.
"""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Dialect, LargeBinary
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType

SRID = 4326


class PostGISGeometry(UserDefinedType[Any]):
    """The PostgreSQL-side column type: ``geometry(<type>, <srid>)``."""

    cache_ok = True

    def __init__(self, geometry_type: str = "GEOMETRY", srid: int = SRID) -> None:
        self.geometry_type = geometry_type.upper()
        self.srid = srid

    def get_col_spec(self, **kw: Any) -> str:
        return f"geometry({self.geometry_type},{self.srid})"


# Reflection (alembic's schema comparison) then knows PostGIS columns instead of warning.
ischema_names.setdefault("geometry", PostGISGeometry)


class Geometry(TypeDecorator[BaseGeometry]):
    """A shapely geometry in WGS84 lon/lat; PostGIS on PostgreSQL, WKB blob elsewhere."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, geometry_type: str = "GEOMETRY", srid: int = SRID) -> None:
        super().__init__()
        self.geometry_type = geometry_type.upper()
        self.srid = srid

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(PostGISGeometry(self.geometry_type, self.srid))
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: BaseGeometry | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, BaseGeometry):
            raise TypeError(f"expected a shapely geometry, got {type(value).__name__}")
        if dialect.name == "postgresql":
            # Hex EWKB is PostGIS's own text input format: no SQL function wrapper needed.
            return shapely.to_wkb(shapely.set_srid(value, self.srid), hex=True, include_srid=True)
        return shapely.to_wkb(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> BaseGeometry | None:
        if value is None:
            return None
        geometry = shapely.from_wkb(value)
        if dialect.name == "postgresql":
            geometry = shapely.set_srid(geometry, 0)
        return geometry

    def __repr__(self) -> str:
        return f"Geometry({self.geometry_type!r}, srid={self.srid})"
