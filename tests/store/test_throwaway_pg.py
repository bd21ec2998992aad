"""The throwaway PostgreSQL server: real PostGIS databases, and failures that say why."""

from __future__ import annotations

import psycopg
import pytest

from console.store import throwaway_pg
from console.store.engine import normalise_url
from console.store.throwaway_pg import PostgresStartError, ThrowawayPostgres


@pytest.mark.postgres
def test_databases_have_postgis(pg_server: ThrowawayPostgres, pg_url: str) -> None:
    assert pg_url.startswith(f"postgresql+psycopg://postgres@127.0.0.1:{pg_server.port}/")
    conninfo = f"host=127.0.0.1 port={pg_server.port} user=postgres dbname={pg_url.rsplit('/')[-1]}"
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT postgis_lib_version(), current_setting('fsync')").fetchone()
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert backend is not None
        with open(f"/proc/{backend[0]}/stat") as stat:  # the backend is the server's child
            assert int(stat.read().rpartition(")")[2].split()[1]) == pg_server.server_pid
    assert row is not None
    assert row[0].startswith("3.")
    assert row[1] == "off"  # a throwaway server trades durability for speed


@pytest.mark.postgres
def test_start_failure_reports_the_server_log(
    pg_server: ThrowawayPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The port is taken by the session's server, so this second server cannot listen.
    monkeypatch.setattr(throwaway_pg, "_free_port", lambda: pg_server.port)
    second = ThrowawayPostgres()
    with pytest.raises(PostgresStartError, match="pg_ctl start failed") as failure:
        second.start()
    assert "could not" in str(failure.value)  # the server's own reason, from its log
    assert second._tmp is None  # cleaned up after the failure


def test_plain_postgresql_urls_use_psycopg() -> None:
    assert normalise_url("postgresql://u@h:5432/db") == "postgresql+psycopg://u@h:5432/db"
    assert normalise_url("sqlite:///x.sqlite3") == "sqlite:///x.sqlite3"
