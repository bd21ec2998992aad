"""Real-time values: one row per upload holding its CP text, instead of one row per code.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29

Stored rows are converted in SQL: each (outlet, time) becomes one row whose text lists its
codes' ``Rtd``, ``Flag``, ``ZsRtd`` and ``Cou`` (``w01018-Rtd=231.0,w01018-Flag=N;…``), with
the earliest receipt time. Numbers are written so that they read back exactly (PostgreSQL
prints the shortest such text; SQLite 15 significant digits, or 17 where 15 would round). On
PostgreSQL the monthly partitions are rebuilt month by month. The downgrade parses the texts
with the HJ 212 codec, in batches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "monitoring_realtime"
OLD = "monitoring_realtime_old"
_MONTHLY: dict[str, Any] = {"postgresql_partition_by": "RANGE (data_time)"}
_BATCH = 20_000


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _per_code_table() -> None:
    op.create_table(
        TABLE,
        sa.Column("outlet_id", sa.String(64), nullable=False),
        sa.Column("data_time", _utc(), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("flag", sa.String(4), nullable=True),
        sa.Column("zs", sa.Float(), nullable=True),
        sa.Column("cou", sa.Float(), nullable=True),
        sa.Column("received_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("outlet_id", "data_time", "code", name=f"pk_{TABLE}"),
        **_MONTHLY,
    )


def _per_packet_table() -> None:
    op.create_table(
        TABLE,
        sa.Column("outlet_id", sa.String(64), nullable=False),
        sa.Column("data_time", _utc(), nullable=False),
        sa.Column("received_at", _utc(), nullable=False),
        sa.Column("cp", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("outlet_id", "data_time", name=f"pk_{TABLE}"),
        **_MONTHLY,
    )


def _set_aside() -> list[str]:
    """Rename the table (its key and monthly partitions too) to ``OLD``; the months found."""
    bind = op.get_bind()
    op.rename_table(TABLE, OLD)
    if bind.dialect.name != "postgresql":
        return []
    op.execute(f"ALTER INDEX pk_{TABLE} RENAME TO pk_{OLD}")
    names: Any = bind.execute(
        sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :parent"
        ),
        {"parent": OLD},
    ).scalars()
    months = []
    for name in sorted(names):
        match = re.fullmatch(rf"{TABLE}_p(\d{{6}})", name)
        if match is not None:
            months.append(match.group(1))
            op.execute(f"ALTER TABLE {name} RENAME TO {OLD}_p{match.group(1)}")
    return months


def _partitions(months: list[str]) -> None:
    for month in months:
        year, number = int(month[:4]), int(month[4:])
        start = f"{year:04d}-{number:02d}-01 00:00:00+00"
        end = f"{year + number // 12:04d}-{number % 12 + 1:02d}-01 00:00:00+00"
        op.execute(
            f"CREATE TABLE {TABLE}_p{month} PARTITION OF {TABLE} "
            f"FOR VALUES FROM ('{start}') TO ('{end}')"
        )


def _sqlite_text(column: str) -> str:
    """A column as text that reads back to the same value: SQLite prints a REAL with 15
    significant digits, so a number that needs more is printed with 17."""
    if column == "flag":
        return column
    return (
        f"CASE WHEN {column} IS NULL THEN NULL "
        f"WHEN CAST(CAST({column} AS TEXT) AS REAL) = {column} THEN CAST({column} AS TEXT) "
        f"ELSE printf('%!.17g', {column}) END"
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    months = _set_aside()
    _per_packet_table()
    _partitions(months)
    fields = [("Rtd", "value"), ("Flag", "flag"), ("ZsRtd", "zs"), ("Cou", "cou")]
    if dialect == "postgresql":
        parts = ", ".join(f"code || '-{name}=' || {column}" for name, column in fields)
        op.execute(
            f"INSERT INTO {TABLE} (outlet_id, data_time, received_at, cp) "
            f"SELECT outlet_id, data_time, min(received_at), "
            f"string_agg(concat_ws(',', {parts}), ';' ORDER BY code) "
            f"FROM {OLD} GROUP BY outlet_id, data_time"
        )
    else:
        item = " || ".join(
            f"COALESCE(code || '-{name}=' || {_sqlite_text(column)} || ',', '')"
            for name, column in fields
        )
        op.execute(
            f"INSERT INTO {TABLE} (outlet_id, data_time, received_at, cp) "
            f"SELECT outlet_id, data_time, min(received_at), group_concat(item, ';') "
            f"FROM (SELECT outlet_id, data_time, received_at, rtrim({item}, ',') AS item "
            f"FROM {OLD} ORDER BY outlet_id, data_time, code) GROUP BY outlet_id, data_time"
        )
    op.drop_table(OLD)


def downgrade() -> None:
    from console.monitoring.hj212 import HJ212Error, decode_cp

    bind = op.get_bind()
    months = _set_aside()
    _per_code_table()
    _partitions(months)
    old = sa.table(
        OLD,
        sa.column("outlet_id"),
        sa.column("data_time", _utc()),
        sa.column("received_at", _utc()),
        sa.column("cp"),
    )
    new = sa.table(
        TABLE,
        *(sa.column(name) for name in ("outlet_id", "code", "value", "flag", "zs", "cou")),
        sa.column("data_time", _utc()),
        sa.column("received_at", _utc()),
    )
    after: tuple[Any, Any] | None = None
    while True:
        query = sa.select(old).order_by(old.c.outlet_id, old.c.data_time).limit(_BATCH)
        if after is not None:
            query = query.where(sa.tuple_(old.c.outlet_id, old.c.data_time) > sa.tuple_(*after))
        rows = bind.execute(query).all()
        if not rows:
            break
        out = []
        for row in rows:
            try:
                values = decode_cp(row.cp)
            except HJ212Error:
                values = {}  # unreadable text: the per-code table has no place for it
            for code, found in values.items():
                number = {k: v if isinstance(v, float) else None for k, v in found.items()}
                flag = found.get("Flag")
                out.append(
                    {
                        "outlet_id": row.outlet_id,
                        "data_time": row.data_time,
                        "code": code,
                        "value": number.get("Rtd"),
                        "flag": flag if isinstance(flag, str) else None,
                        "zs": number.get("ZsRtd"),
                        "cou": number.get("Cou"),
                        "received_at": row.received_at,
                    }
                )
        if out:
            bind.execute(new.insert(), out)
        after = (rows[-1].outlet_id, rows[-1].data_time)
    op.drop_table(OLD)
