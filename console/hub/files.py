"""Evidence files on the hub's disk: appending uploaded chunks durably and hashing them.

Field uploads, complaint attachments and call recordings all go through these, so every
stored file is written and checked the same way.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def append_chunk(path: Path, data: bytes) -> None:
    """Append ``data`` and fsync: an acknowledged chunk survives a crash of the hub."""
    with path.open("ab") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
