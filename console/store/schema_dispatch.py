"""Tables of complaints, tasks, task events, the outbox to field devices and the dispatch audit log.

Registered on the shared Base.metadata; ``console.store.tables`` imports every schema module.
"""

from __future__ import annotations

from console.store.schema import Base

__all__ = ["Base"]
