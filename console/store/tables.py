"""The complete schema: importing this registers every table on one metadata.

Feature schemas live in their own modules (``schema_dispatch``, ``schema_monitoring``,
``schema_field``) so that they can grow independently; migrations and the schema-drift check
compare against this metadata.
"""

from __future__ import annotations

from console.store import (
    schema_casefile,
    schema_dispatch,
    schema_field,
    schema_incident,
    schema_monitoring,
    schema_supervision,
    schema_video,
)
from console.store.schema import SPATIAL_INDEXES, metadata

__all__ = [
    "SPATIAL_INDEXES",
    "metadata",
    "schema_casefile",
    "schema_dispatch",
    "schema_field",
    "schema_incident",
    "schema_monitoring",
    "schema_supervision",
    "schema_video",
]
