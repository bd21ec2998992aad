"""Alembic migrations run from code: the package ships them, no alembic.ini on disk."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.runtime.migration import MigrationContext as RuntimeContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, Engine, text
from sqlalchemy.schema import SchemaItem
from sqlalchemy.types import TypeEngine

from console.store.geometry import Geometry
from console.store.tables import SPATIAL_INDEXES, metadata

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Tables the postgis extension creates in the public schema; not ours to compare.
POSTGIS_TABLES = frozenset({"spatial_ref_sys"})
# Monthly partitions of the monitoring tables, created at run time (console.store.timeseries).
PARTITION_NAME = re.compile(r"^monitoring_(realtime|minute|hourly)_p\d{6}$")
_SPATIAL_INDEX_NAMES = frozenset(index.name for index in SPATIAL_INDEXES)


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the package ships at least one migration"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` in one transaction."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def schema_diff(engine: Engine) -> list[Any]:
    """What alembic autogenerate would change to make the database match the ORM (empty: agree)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts=comparison_options(connection))
        return list(compare_metadata(context, metadata))


def comparison_options(connection: Connection) -> dict[str, Any]:
    """Shared by env.py and :func:`schema_diff` so both compare the same way."""
    dialect = connection.dialect.name

    def include_object(
        obj: SchemaItem, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        if type_ == "table" and reflected and name in POSTGIS_TABLES:
            return False
        if type_ == "table" and reflected and name is not None and PARTITION_NAME.match(name):
            return False
        # GiST indexes exist on PostgreSQL only (Index.ddl_if), so SQLite must not miss them.
        return not (type_ == "index" and name in _SPATIAL_INDEX_NAMES and dialect != "postgresql")

    return {
        "include_object": include_object,
        "compare_type": _compare_type,
        "render_as_batch": dialect == "sqlite",
    }


def _compare_type(
    context: RuntimeContext,
    inspected_column: Column[Any],
    metadata_column: Column[Any],
    inspected_type: TypeEngine[Any],
    metadata_type: TypeEngine[Any],
) -> bool | None:
    """PostGIS types are compared via ``geometry_columns``; reflection loses type and SRID."""
    if not isinstance(metadata_type, Geometry) or context.dialect.name != "postgresql":
        return None
    row = (
        context.connection.execute(
            text(
                "SELECT type, srid FROM geometry_columns "
                "WHERE f_table_name = :table AND f_geometry_column = :column"
            ),
            {"table": inspected_column.table.name, "column": inspected_column.name},
        ).first()
        if context.connection is not None
        else None
    )
    if row is None:
        return True
    return (str(row.type).upper(), int(row.srid)) != (
        metadata_type.geometry_type,
        metadata_type.srid,
    )
