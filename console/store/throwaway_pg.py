"""A private PostgreSQL+PostGIS server in a temp dir, for tests and benchmarks.

Tests and ``bench/locate.py`` must exercise the real PostGIS engine without touching any
system cluster, so this starts its own: ``initdb`` into a temp dir, listen on a free
127.0.0.1 port (unix sockets stay in the temp dir), create a database with PostGIS, and
remove everything on exit. As root the server runs as the ``postgres`` OS user, because
PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import psycopg

SUPERUSER = "postgres"
_PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"


class PostgresStartError(RuntimeError):
    """The throwaway server could not be created or started; the message says why."""


def find_pg_bin() -> Path:
    """Directory of the newest installed PostgreSQL server binaries (Debian layout)."""
    candidates = [Path(p) for p in glob.glob(_PG_BIN_GLOB) if (Path(p) / "initdb").exists()]
    if not candidates:
        raise PostgresStartError(
            f"no PostgreSQL server binaries under {_PG_BIN_GLOB}: install postgresql-15 "
            "and postgresql-15-postgis-3"
        )

    def major(path: Path) -> float:
        try:
            return float(path.parent.name)
        except ValueError:
            return 0.0

    return max(candidates, key=major)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrowawayPostgres:
    """Context manager: ``with ThrowawayPostgres() as url:`` gives a PostGIS database URL.

    The instance stays usable inside the block for more databases
    (:meth:`create_database`), e.g. one per test cloned from a PostGIS template.
    """

    def __init__(self, database: str = "console") -> None:
        self.database = database
        self.port = 0
        self._tmp: Path | None = None
        self._bin = find_pg_bin()
        self._as_postgres_user = os.geteuid() == 0

    # -- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> str:
        self.start()
        return self.url

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """initdb, start the server and create :attr:`database` with PostGIS."""
        self._tmp = Path(tempfile.mkdtemp(prefix="console-pg-"))
        if self._as_postgres_user:
            shutil.chown(self._tmp, user=SUPERUSER)
        try:
            self._run(
                [
                    str(self._bin / "initdb"),
                    "-D",
                    str(self._data_dir),
                    "-U",
                    SUPERUSER,
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                "initdb",
            )
            self.port = _free_port()
            options = (
                f"-p {self.port} -k {self._tmp} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=100"
            )
            self._run(
                [
                    str(self._bin / "pg_ctl"),
                    "-D",
                    str(self._data_dir),
                    "-l",
                    str(self._tmp / "server.log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "30",
                    "start",
                ],
                "pg_ctl start",
            )
            self.create_database(self.database)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its directory."""
        if self._tmp is None:
            return
        if (self._data_dir / "postmaster.pid").exists():
            subprocess.run(
                self._command(
                    [
                        str(self._bin / "pg_ctl"),
                        "-D",
                        str(self._data_dir),
                        "-m",
                        "immediate",
                        "stop",
                    ]
                ),
                capture_output=True,
                check=False,
            )
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp = None

    # -- databases -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the main database."""
        return self.url_for(self.database)

    @property
    def server_pid(self) -> int:
        """Process id of the server (its backends are its children), e.g. to read its CPU."""
        self._require_running()
        return int((self._data_dir / "postmaster.pid").read_text().split()[0])

    def url_for(self, database: str) -> str:
        self._require_running()
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create a database and return its URL.

        Without a template PostGIS is installed into it; with one (a database that already
        has PostGIS, and no open connections) the copy is much faster than CREATE EXTENSION.
        """
        self._require_running()
        if not name.isidentifier() or (template is not None and not template.isidentifier()):
            raise ValueError(f"database names must be plain identifiers: {name!r}, {template!r}")
        with psycopg.connect(self._conninfo("postgres"), autocommit=True) as conn:
            suffix = f" TEMPLATE {template}" if template else ""
            conn.execute(f"CREATE DATABASE {name}{suffix}".encode())
        if template is None:
            with psycopg.connect(self._conninfo(name), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        self._require_running()
        if not name.isidentifier():
            raise ValueError(f"database names must be plain identifiers: {name!r}")
        with psycopg.connect(self._conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())

    # -- helpers ---------------------------------------------------------------------------

    @property
    def _data_dir(self) -> Path:
        assert self._tmp is not None
        return self._tmp / "data"

    def _conninfo(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database}"

    def _require_running(self) -> None:
        if self._tmp is None or not self.port:
            raise PostgresStartError("the throwaway PostgreSQL server is not running")

    def _command(self, argv: list[str]) -> list[str]:
        if self._as_postgres_user:
            return ["runuser", "-u", SUPERUSER, "--", *argv]
        return argv

    def _run(self, argv: list[str], what: str) -> None:
        result = subprocess.run(
            self._command(argv), capture_output=True, text=True, check=False, cwd=self._tmp
        )
        if result.returncode != 0:
            log = ""
            if self._tmp is not None and (self._tmp / "server.log").exists():
                log = (self._tmp / "server.log").read_text(errors="replace")[-4000:]
            raise PostgresStartError(
                f"{what} failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}\n"
                f"{log}".strip()
            )
