"""``python -m console locate LON LAT``: district, grid, grid officer and nearest squads.

Prints one JSON object (``LocateResult.to_json``). A point outside the jurisdiction prints
``{"error": "outside_jurisdiction", "point": ...}`` and exits 2, like malformed input (whose
message goes to stderr). Database problems exit 1.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from console.core.geo import Datum, convert, validate_lonlat
from console.core.locate import Locator
from console.core.paths import default_db_url

# One point needs no big pre-index: a small raster keeps start-up short on large worlds.
_CLI_RASTER_CELLS = 4096


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="database URL (default: SQLite file in the user data dir)")
    parser.add_argument(
        "--crs",
        choices=[d.value for d in Datum],
        default=Datum.WGS84.value,
        help="datum of LON LAT: wgs84 (GPS, CGCS2000), gcj02 (Amap/Tencent), bd09 (Baidu)",
    )
    parser.add_argument(
        "--squads", type=int, default=3, help="how many nearest squads to list (default 3)"
    )
    parser.add_argument("lon", type=_number, metavar="LON", help="longitude in degrees")
    parser.add_argument("lat", type=_number, metavar="LAT", help="latitude in degrees")


def run(args: argparse.Namespace) -> int:
    datum = Datum(args.crs)
    try:
        validate_lonlat(args.lon, args.lat)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.squads < 0:
        print(f"error: --squads must be >= 0, got {args.squads}", file=sys.stderr)
        return 2
    # Imported here so malformed input is rejected without loading the database stack.
    from console.store import Store, StoreError

    try:
        store = Store.open(args.db or default_db_url())
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        world = store.load_world()
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    locator = Locator(world, raster_cells=_CLI_RASTER_CELLS)
    result = locator.locate(args.lon, args.lat, datum=datum, squads=args.squads)
    if result is None:
        lon, lat = convert(args.lon, args.lat, datum, Datum.WGS84)
        outside = {"error": "outside_jurisdiction", "point": {"lon": lon, "lat": lat}}
        print(json.dumps(outside))
        return 2
    print(json.dumps(result.to_json(), ensure_ascii=False))
    return 0
