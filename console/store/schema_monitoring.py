"""Tables of HJ 212 time series, aggregates, alarms, quarantined packets.

Registered on the shared Base.metadata; ``console.store.tables`` imports every schema module.
"""

from __future__ import annotations

from console.store.schema import Base

__all__ = ["Base"]
