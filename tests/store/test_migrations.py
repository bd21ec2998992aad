"""Schema: migrations reach head, agree with the ORM, and use the engine's real features."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import DateTime, column, inspect, select, table, text

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


def test_realtime_values_survive_the_move_to_one_row_per_packet(store_url: str) -> None:
    """0011 turns per-code rows into one CP text per upload and back, losing no value."""
    from datetime import UTC, datetime

    from console.store.timeseries import TimeSeriesStore

    store = Store.open(store_url)
    at = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
    rows = [
        ("o-1", at, "w01018", 231.5, "N", None, None),
        ("o-1", at, "w21003", 0.25, "D", None, 1.5e-05),
        ("o-1", at, "w00000", 6.750591392526425, "N", None, 1234567.891),  # 16 digits
        ("o-1", at.replace(minute=1), "a21026", 40.0, None, 52.125, None),
        ("o-2", at, "w01018", None, "B", None, None),
    ]
    per_code = table(
        "monitoring_realtime",
        *(column(name) for name in ("outlet_id", "code", "value", "flag", "zs", "cou")),
        column("data_time", DateTime(timezone=True)),
        column("received_at", DateTime(timezone=True)),
    )
    try:
        with store.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0010")
            if store.dialect == "postgresql":
                conn.execute(
                    text(
                        "CREATE TABLE monitoring_realtime_p202611 PARTITION OF monitoring_realtime "
                        "FOR VALUES FROM ('2026-11-01 00:00+00') TO ('2026-12-01 00:00+00')"
                    )
                )
            conn.execute(
                per_code.insert(),
                [
                    {"outlet_id": outlet, "data_time": when, "code": code, "value": value,
                     "flag": flag, "zs": zs, "cou": cou, "received_at": when}
                    for outlet, when, code, value, flag, zs, cou in rows
                ],
            )  # fmt: skip
            command.upgrade(alembic_config(conn), "head")
        assert schema_diff(store.engine) == []
        series = TimeSeriesStore(store.engine)
        one = series.series("o-1", "2011", at)
        assert one["w01018"] == {"t": [at.timestamp()], "v": [231.5], "flag": ["N"]}
        assert one["w21003"]["v"] == [0.25]
        assert one["w21003"]["flag"] == ["D"]
        assert one["a21026"]["v"] == [40.0]
        assert one["w00000"]["v"] == [6.750591392526425]  # exactly
        assert series.series("o-2", "2011", at)["w01018"] == {
            "t": [at.timestamp()], "v": [None], "flag": ["B"]
        }  # fmt: skip
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM monitoring_realtime")).scalar() == 3
        with store.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0010")
        with store.engine.connect() as conn:
            back = conn.execute(
                select(*(per_code.c[name] for name in ("outlet_id", "code", "value", "flag")))
                .add_columns(per_code.c.zs, per_code.c.cou, per_code.c.data_time)
                .order_by(per_code.c.outlet_id, per_code.c.data_time, per_code.c.code)
            ).all()
            children = (
                conn.execute(
                    text(
                        "SELECT c.relname FROM pg_inherits i "
                        "JOIN pg_class c ON c.oid = i.inhrelid "
                        "JOIN pg_class p ON p.oid = i.inhparent "
                        "WHERE p.relname = 'monitoring_realtime'"
                    )
                ).scalars()
                if store.dialect == "postgresql"
                else None
            )
            if children is not None:
                assert list(children) == ["monitoring_realtime_p202611"]
        expected = sorted(rows, key=lambda row: (row[0], row[1], row[2]))
        assert [tuple(row[:6]) for row in back] == [
            (outlet, code, value, flag, zs, cou)
            for outlet, _when, code, value, flag, zs, cou in expected
        ]
        moments = [
            t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC) for t in (r[6] for r in back)
        ]
        assert moments == [row[1] for row in expected]
    finally:
        store.close()
