"""Tables of HJ 212 time series, aggregates, alarms, quarantined packets and quota usage.

Registered on the shared Base.metadata; ``console.store.tables`` imports every schema module.

One table per resolution (real-time 2011, minute 2051, hourly 2061, daily 2031), as HJ 212
platforms do: each resolution has its own retention, and on PostgreSQL the three high-volume
ones are partitioned by month on ``data_time`` so that retention drops whole partitions
(children are named ``<table>_pYYYYMM`` and created ahead on demand by
``console.store.timeseries``). The primary keys (outlet, data_time, code) of the aggregates
and (outlet, data_time) of the real-time uploads make a retransmitted packet a no-op and serve
"one outlet over a time range" without another index. Time-series rows carry no foreign key
to ``outlets``: measurements outlive a re-seeded world.
Times are UTC (``timestamptz`` on PostgreSQL, UTC text on SQLite). Aggregate rows: ``data_time``
is the period start, ``count`` the real-time values behind a computed one (0 when as sent),
``source`` is ``sent`` or ``computed``. A real-time row holds one upload's CP text; a second
packet of the same outlet and time adds its text in front, so the first value of a code
wins. ``monitoring_alarms.detail`` is a JSON object and ``complaint_id`` the case opened
from the alarm (``alarms.to_task``), if any; ``monitoring_quota_usage.year`` is the Beijing
calendar year.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from console.store.schema import ADCODE, ENUM, ID, Base

__all__ = [
    "AGGREGATE_TABLES",
    "PARTITIONED_TABLES",
    "alarms",
    "daily",
    "hourly",
    "minute",
    "quarantine",
    "quota_usage",
    "realtime",
]

metadata = Base.metadata
CODE = String(32)
FLAG = String(4)


def _utc() -> DateTime:
    return DateTime(timezone=True)


realtime = Table(
    "monitoring_realtime",
    metadata,
    Column("outlet_id", ID, nullable=False),
    Column("data_time", _utc(), nullable=False),
    Column("received_at", _utc(), nullable=False),
    Column("cp", Text, nullable=False),
    PrimaryKeyConstraint("outlet_id", "data_time"),
    postgresql_partition_by="RANGE (data_time)",
)
"""One row per real-time upload: its CP body as the station sent it (``Packet.cp``).

Values stay in the station's own text, parsed on reading (``hj212.decode_cp``): the record
is exactly what arrived, and a 2011 packet costs one row instead of one per code (less than
half the disk, and the ingest writers' biggest cost). Charts, computed aggregates and the
authenticity rules read a few hours of one outlet or one period of all, never single codes
across years, so nothing needs the values as columns; the aggregate tables have them.
"""


def _aggregate_table(name: str, *, partitioned: bool) -> Table:
    options: dict[str, Any] = (
        {"postgresql_partition_by": "RANGE (data_time)"} if partitioned else {}
    )
    return Table(
        name,
        metadata,
        Column("outlet_id", ID, nullable=False),
        Column("data_time", _utc(), nullable=False),
        Column("code", CODE, nullable=False),
        Column("period_s", Integer, nullable=False),
        Column("min", Float),
        Column("avg", Float),
        Column("max", Float),
        Column("zs_avg", Float),
        Column("cou", Float),
        Column("flag", FLAG, nullable=False),
        Column("count", Integer, nullable=False),
        Column("normal", Integer, nullable=False),
        Column("source", ENUM, nullable=False),
        Column("received_at", _utc(), nullable=False),
        PrimaryKeyConstraint("outlet_id", "data_time", "code"),
        **options,
    )


minute = _aggregate_table("monitoring_minute", partitioned=True)
hourly = _aggregate_table("monitoring_hourly", partitioned=True)
daily = _aggregate_table("monitoring_daily", partitioned=False)
# Daily transmission rates read one day of hourly rows of every outlet.
Index("ix_monitoring_hourly_data_time", hourly.c.data_time)

AGGREGATE_TABLES = {"2051": minute, "2061": hourly, "2031": daily}
"""Aggregate upload CN -> its table."""
PARTITIONED_TABLES = (realtime, minute, hourly)

alarms = Table(
    "monitoring_alarms",
    metadata,
    Column("id", ID, primary_key=True),
    Column("kind", ENUM, nullable=False),
    Column("severity", ENUM, nullable=False),
    Column("enterprise_id", ID, nullable=False),
    Column("outlet_id", ID, nullable=False),
    Column("mn", String(64), nullable=False),
    Column("district_adcode", ADCODE, nullable=False, index=True),
    Column("pollutant", CODE),
    Column("value", Float),
    Column("limit_value", Float),
    Column("flag", FLAG),
    Column("started_at", _utc(), nullable=False, index=True),
    Column("cleared_at", _utc(), index=True),
    Column("detail", Text, nullable=False),
    Column("complaint_id", ID),
)

quarantine = Table(
    "monitoring_quarantine",
    metadata,
    Column("id", ID, primary_key=True),
    Column("mn", String(64)),
    Column("reason", ENUM, nullable=False),
    Column("peer", String(64), nullable=False),
    Column("received_at", _utc(), nullable=False, index=True),
    Column("raw", LargeBinary, nullable=False),
    Column("error", ENUM),
    Column("detail", Text, nullable=False),
)

quota_usage = Table(
    "monitoring_quota_usage",
    metadata,
    Column("outlet_id", ID, nullable=False),
    Column("code", CODE, nullable=False),
    Column("year", Integer, nullable=False),
    Column("used_kg", Float, nullable=False),
    Column("updated_at", _utc(), nullable=False),
    PrimaryKeyConstraint("outlet_id", "code", "year"),
)
