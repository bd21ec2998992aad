"""Officer moves as packed columns: validation, slots, last-row-wins and the byte layout."""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.map.layers import DUTY_WIRE_CODES, officer_moves
from console.map.packing import PackedRows, SlotTable

NUMPY_TYPES = {"f8": "<f8", "f4": "<f4", "u4": "<u4", "u1": "<u1"}


def decode(op: dict[str, Any], keys: list[str]) -> dict[str, dict[str, Any]]:
    """Read a packed op back as the page does (``unpack`` in map.js): key -> column values."""
    assert op["first_slot"] == len(keys)
    keys.extend(op["new_keys"])
    data = base64.b64decode(op["data"])
    offset, columns = 0, {}
    for name, wire in op["columns"]:
        dtype = np.dtype(NUMPY_TYPES[wire])
        assert offset % dtype.itemsize == 0, f"column {name} is not aligned"
        columns[name] = np.frombuffer(data, dtype, op["count"], offset)
        offset += op["count"] * dtype.itemsize
    assert offset == len(data)
    return {
        keys[int(slot)]: {
            name: values[row].item() for name, values in columns.items() if name != "slot"
        }
        for row, slot in enumerate(columns["slot"])
    }


def pack(name: str, *batches: list[dict[str, Any]]) -> PackedRows:
    rows = PackedRows(name)
    for moves in batches:
        rows.add(*officer_moves(moves))
    return rows


def test_moves_become_typed_columns() -> None:
    ids, columns = officer_moves(
        iter(  # any iterable, not only lists
            [
                {"id": 7, "lon": 121.5, "lat": 28.9, "heading": 90, "duty": "off_duty", "ts": 5},
                {"id": "O8", "lon": "121.25", "lat": 28.5, "ts": "2024-05-01T08:00:00"},
            ]
        )
    )
    assert ids == ["7", "O8"]
    assert columns["lon"].tolist() == [121.5, 121.25]
    assert columns["lat"].tolist() == [28.9, 28.5]
    assert columns["heading"].dtype == np.float32
    assert columns["heading"][0] == 90
    assert math.isnan(columns["heading"][1])
    assert columns["duty"].tolist() == [DUTY_WIRE_CODES["off_duty"], DUTY_WIRE_CODES[None]]
    assert columns["ts"].tolist() == [5.0, 1714550400.0]  # naive ISO means UTC


@pytest.mark.parametrize(
    ("move", "message"),
    [
        ({"id": "A", "lon": math.nan, "lat": 28.0}, "'A' is off the globe"),
        ({"id": "A", "lon": 121.0, "lat": math.inf}, "'A' is off the globe"),
        ({"id": "A", "lon": 181.0, "lat": 28.0}, "'A' is off the globe: lon=181.0"),
        ({"id": "A", "lon": 121.0, "lat": -90.5}, "'A' is off the globe"),
        ({"id": "A", "lon": None, "lat": 28.0}, "'A' has no valid lon/lat"),
        ({"id": "A", "lon": "east", "lat": 28.0}, "'A' has no valid lon/lat"),
        ({"id": "A", "lat": 28.0}, "'A' has no valid lon/lat"),
        ({"lon": 121.0, "lat": 28.0}, "has no id"),
        ({"id": "A", "lon": 121.0, "lat": 28.0, "heading": math.nan}, "'A' has a bad heading"),
        ({"id": "A", "lon": 121.0, "lat": 28.0, "heading": "north"}, "'A' has a bad heading"),
        ({"id": "A", "lon": 121.0, "lat": 28.0, "duty": "asleep"}, "'A' has unknown duty"),
        ({"id": "A", "lon": 121.0, "lat": 28.0, "duty": ["on_duty"]}, "'A' has unknown duty"),
        ({"id": "A", "lon": 121.0, "lat": 28.0, "ts": "yesterday"}, "'A' has a bad ts"),
        ({"id": "A", "lon": 121.0, "lat": 28.0, "ts": math.inf}, "'A' has a ts that is not"),
    ],
)
def test_bad_moves_are_named_and_explained(move: dict[str, Any], message: str) -> None:
    good = {"id": "OK", "lon": 121.0, "lat": 28.0}
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        officer_moves([good, move, good])


def test_a_later_row_for_the_same_key_wins_and_keys_travel_once() -> None:
    slots, page_keys = SlotTable(), []
    first = pack(
        "officers.move",
        [{"id": "A", "lon": 121.0, "lat": 28.0}, {"id": "B", "lon": 121.1, "lat": 28.1}],
        [{"id": "A", "lon": 121.2, "lat": 28.2, "heading": 10.0}],
    ).encode(slots)
    assert first["first_slot"] == 0
    assert first["new_keys"] == ["A", "B"]
    rows = decode(first, page_keys)
    assert rows["A"]["lon"] == 121.2
    assert rows["A"]["heading"] == 10.0
    assert rows["B"]["lon"] == 121.1
    assert math.isnan(rows["B"]["heading"])
    assert first["count"] == 2
    second = pack(
        "officers.move", [{"id": "C", "lon": 1, "lat": 2}, {"id": "A", "lon": 3, "lat": 4}]
    )
    encoded = second.encode(slots)
    assert (encoded["first_slot"], encoded["new_keys"]) == (2, ["C"])  # A keeps its slot
    assert decode(encoded, page_keys) == {
        "A": {"lon": 3.0, "lat": 4.0, "duty": 255},
        "C": {"lon": 1.0, "lat": 2.0, "duty": 255},
    }
    slots.clear()  # the page reloaded: every key is new again
    assert pack("officers.move", [{"id": "A", "lon": 5, "lat": 6}]).encode(slots)["new_keys"] == [
        "A"
    ]


def test_layout_puts_wide_columns_first_and_leaves_out_empty_floats() -> None:
    op = pack("officers.move", [{"id": "A", "lon": 121.0, "lat": 28.0, "heading": 1}]).encode(
        SlotTable()
    )
    assert [c[1] for c in op["columns"]] == ["f8", "f8", "u4", "f4", "u1"]
    assert {c[0] for c in op["columns"]} == {"lon", "lat", "slot", "heading", "duty"}  # no ts
    assert len(base64.b64decode(op["data"])) == 8 + 8 + 4 + 4 + 1


def test_bad_columns_are_refused_and_the_queue_is_unchanged() -> None:
    rows = pack("officers.move", [{"id": "A", "lon": 121.0, "lat": 28.0}])
    with pytest.raises(ValueError, match="column 'x' has shape"):
        rows.add(["B"], {"x": np.zeros(2)})
    with pytest.raises(ValueError, match="'slot' is reserved"):
        rows.add(["B"], {"slot": np.zeros(1, np.uint32)})
    with pytest.raises(ValueError, match="column 'x' is int64"):
        rows.add(["B"], {"x": np.zeros(1, np.int64)})
    with pytest.raises(ValueError, match="differ from the queued"):
        rows.add(["B"], {"lon": np.zeros(1)})
    assert len(rows) == 1
    assert decode(rows.encode(SlotTable()), []) == {"A": {"lon": 121.0, "lat": 28.0, "duty": 255}}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.sampled_from("ABCDEFGH"),
                st.floats(-180, 180),
                st.floats(-90, 90),
                st.one_of(st.none(), st.floats(0, 359)),
            ),
            max_size=12,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_encoded_rows_are_the_last_move_of_each_officer(
    batches: list[list[tuple[str, float, float, float | None]]],
) -> None:
    moves = [
        [{"id": key, "lon": lon, "lat": lat, "heading": heading} for key, lon, lat, heading in b]
        for b in batches
    ]
    last = {m["id"]: m for batch in moves for m in batch}
    op = pack("officers.move", *moves).encode(SlotTable())
    rows = decode(op, [])
    assert set(rows) == set(last)
    for key, row in rows.items():
        assert (row["lon"], row["lat"]) == (last[key]["lon"], last[key]["lat"])
        heading = last[key]["heading"]
        if heading is None:
            assert math.isnan(row.get("heading", math.nan))
        else:
            assert row["heading"] == pytest.approx(heading, abs=1e-4)
