"""Tables of field-device enrolment tokens, positions and attachments.

Registered on the shared Base.metadata; ``console.store.tables`` imports every schema module.
"""

from __future__ import annotations

from console.store.schema import Base

__all__ = ["Base"]
