"""Alembic environment: always run from code with a connection (see console.store.migrate)."""

from __future__ import annotations

from alembic import context

from console.store.migrate import comparison_options
from console.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through console.store (Store.open or console.store.migrate.upgrade); "
        "offline SQL generation is not supported"
    )

context.configure(connection=connection, target_metadata=metadata, **comparison_options(connection))
with context.begin_transaction():
    context.run_migrations()
