"""Schema: migrations reach head, agree with the ORM, and use the engine's real features."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from console.store import Store, StoreError
from console.store.migrate import alembic_config, current_revision, head_revision, schema_diff

WORLD_TABLES = {
    "meta",
    "organisations",
    "districts",
    "grids",
    "officers",
    "squads",
    "enterprises",
    "outlets",
    "permit_limits",
    "users",
}


def test_open_upgrades_to_head(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        assert current_revision(store.engine) == head_revision()
        assert set(inspect(store.engine).get_table_names()) >= WORLD_TABLES
        assert store.dialect == store_url.split(":")[0].split("+")[0]
    finally:
        store.close()


def test_metadata_and_migrations_agree(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        assert schema_diff(store.engine) == []
    finally:
        store.close()


def test_schema_diff_notices_drift(store_url: str) -> None:
    """The agreement test has teeth: a hand-made change to the database shows up."""
    store = Store.open(store_url)
    try:
        with store.engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_officers_squad_id"))
            if store.dialect == "postgresql":
                conn.execute(
                    text(
                        "ALTER TABLE squads ALTER COLUMN location "
                        "TYPE geometry(MULTIPOINT, 4326) USING ST_Multi(location)"
                    )
                )
        kinds: set[str] = set()
        for change in schema_diff(store.engine):
            # Additions are (kind, ...) tuples; column modifications come as lists of them.
            ops = change if isinstance(change, list) else [change]
            kinds.update(op[0] for op in ops)
        assert "add_index" in kinds
        if store.dialect == "postgresql":
            assert "modify_type" in kinds
    finally:
        store.close()


def test_downgrade_to_base_and_back(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        with store.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        assert not WORLD_TABLES & set(inspect(store.engine).get_table_names())
        with store.engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
        assert schema_diff(store.engine) == []
    finally:
        store.close()


def test_open_without_upgrade_refuses_an_old_schema(store_url: str) -> None:
    with pytest.raises(StoreError, match="open it with upgrade"):
        Store.open(store_url, upgrade=False)
    Store.open(store_url).close()
    Store.open(store_url, upgrade=False).close()


def test_bad_urls_are_refused_clearly() -> None:
    with pytest.raises(StoreError, match="unsupported database 'mysql'"):
        Store.open("mysql://localhost/x")
    with pytest.raises(StoreError, match="not a database URL"):
        Store.open("not a url")


def test_sqlite_connection_settings(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/settings.sqlite3")
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10_000
            assert conn.execute(text("PRAGMA cache_size")).scalar() == -65_536
    finally:
        store.close()


@pytest.mark.postgres
def test_postgis_columns_and_gist_indexes(pg_url: str) -> None:
    store = Store.open(pg_url)
    try:
        with store.engine.connect() as conn:
            columns = {
                (row.f_table_name, row.f_geometry_column): (row.type, row.srid)
                for row in conn.execute(
                    text("SELECT f_table_name, f_geometry_column, type, srid FROM geometry_columns")
                )
            }
            gist = {
                row.indexname
                for row in conn.execute(
                    text("SELECT indexname FROM pg_indexes WHERE indexdef ILIKE '%USING gist%'")
                )
            }
    finally:
        store.close()
    assert columns == {
        ("districts", "boundary"): ("GEOMETRY", 4326),
        ("grids", "geometry"): ("GEOMETRY", 4326),
        ("squads", "location"): ("POINT", 4326),
        ("enterprises", "location"): ("POINT", 4326),
    }
    assert gist == {
        "ix_districts_boundary",
        "ix_grids_geometry",
        "ix_squads_location",
        "ix_enterprises_location",
    }
