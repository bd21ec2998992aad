"""Tables of the camera register (streams, credentials kept server-side) and video-wall layouts.

Registered on the shared ``Base.metadata``; ``console.store.tables`` imports every schema module.
"""

from __future__ import annotations

from console.store.schema import Base

__all__ = ["Base"]
