"""Binary, columnar encoding of keyed rows for the page (officer moves, 10,000 per batch).

A JSON array of 10,000 rows costs the page more to parse than to draw, and the Python side
more to build than to send. Here each column travels as one little-endian typed array
(every browser engine Chromium runs on is little-endian, so the page views the bytes without
copying them), all columns concatenated in one base64 string. String keys travel once: the
first time a key is sent it gets a slot number that both sides keep until the page reloads,
so a move is ``(slot, lon, lat, heading, …)`` and never repeats the officer's id.

Wire format of one packed operation (a plain dict in the batch, next to the JSON ones)::

    {"op": name, "count": n, "first_slot": s, "new_keys": [...],
     "columns": [[column, type], ...], "data": base64}

``new_keys[i]`` takes slot ``s + i``; the page checks that ``s`` is the size of its table.
``type`` is ``f8`` / ``f4`` / ``u4`` / ``u1``; column ``slot`` (``u4``) is always present,
columns are laid out in the listed order, 8-byte ones first so every view is aligned. A float
column that is NaN in every row is left out (the page reads a missing column as all NaN):
moves without timestamps then cost a quarter less to send.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from itertools import islice
from typing import Any

import numpy as np
import numpy.typing as npt

WIRE_TYPES: dict[np.dtype[Any], str] = {
    np.dtype("<f8"): "f8",
    np.dtype("<f4"): "f4",
    np.dtype("<u4"): "u4",
    np.dtype("<u1"): "u1",
}
SLOT_COLUMN = "slot"


class SlotTable:
    """Key -> slot numbers shared with the page; cleared when the page reloads."""

    def __init__(self) -> None:
        self._slots: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._slots)

    def assign(self, keys: Sequence[str]) -> tuple[npt.NDArray[np.uint32], list[str], int]:
        """Slots of ``keys`` (new keys take the next free ones), new keys, first new slot."""
        table = self._slots
        first = len(table)
        setdefault = table.setdefault
        # len(table) is evaluated before setdefault inserts: a new key gets the next number
        slots = np.fromiter(
            (setdefault(key, len(table)) for key in keys), dtype=np.uint32, count=len(keys)
        )
        added = len(table) - first
        new_keys = list(islice(reversed(table), added))[::-1] if added else []
        return slots, new_keys, first

    def clear(self) -> None:
        self._slots.clear()


class PackedRows:
    """Keyed columnar rows of one operation waiting for the next flush; a key's last row wins."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._keys: list[str] = []
        self._chunks: dict[str, list[npt.NDArray[Any]]] = {}

    def add(self, keys: Sequence[str], columns: Mapping[str, npt.NDArray[Any]]) -> None:
        """Queue rows: ``keys[i]`` with ``columns[c][i]`` for every column ``c``."""
        if SLOT_COLUMN in columns:
            raise ValueError(f"{self.name}: column name {SLOT_COLUMN!r} is reserved for keys")
        for column, values in columns.items():
            if values.ndim != 1 or len(values) != len(keys):
                raise ValueError(
                    f"{self.name}: column {column!r} has shape {values.shape}, "
                    f"expected ({len(keys)},) like the keys"
                )
            if values.dtype not in WIRE_TYPES:
                raise ValueError(
                    f"{self.name}: column {column!r} is {values.dtype}; the page reads "
                    f"{', '.join(str(t) for t in WIRE_TYPES)}"
                )
        if self._chunks:
            known = {c: chunks[0].dtype for c, chunks in self._chunks.items()}
            given = {c: v.dtype for c, v in columns.items()}
            if known != given:
                raise ValueError(f"{self.name}: columns {given} differ from the queued {known}")
        for column, values in columns.items():
            self._chunks.setdefault(column, []).append(values)
        self._keys.extend(keys)

    def __len__(self) -> int:
        return len(self._keys)

    def encode(self, slots: SlotTable) -> dict[str, Any]:
        """The wire form (see the module docstring), one row per key, slots from ``slots``."""
        key_slots, new_keys, first = slots.assign(self._keys)
        # keep each slot's last row: unique over the reversed rows finds last occurrences
        _, from_end = np.unique(key_slots[::-1], return_index=True)
        keep = len(key_slots) - 1 - from_end
        columns: list[tuple[str, npt.NDArray[Any]]] = [(SLOT_COLUMN, key_slots[keep])]
        for column, chunks in self._chunks.items():
            values = np.concatenate(chunks)[keep]
            if values.dtype.kind != "f" or not np.isnan(values).all():
                columns.append((column, values))
        columns.sort(key=lambda column: -column[1].dtype.itemsize)  # aligned views in JS
        data = b"".join(values.tobytes() for _, values in columns)
        return {
            "op": self.name,
            "count": len(keep),
            "first_slot": first,
            "new_keys": new_keys,
            "columns": [[c, WIRE_TYPES[values.dtype]] for c, values in columns],
            "data": base64.b64encode(data).decode("ascii"),
        }
