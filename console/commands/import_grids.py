"""``python -m console import-grids FILE.geojson``: replace the world's grids with your own layer.

Checks the whole layer first (console.core.grid_import) and stores it in one transaction, or
not at all. Prints a JSON summary on success (and with ``--dry-run``, which writes nothing).
Exit codes: 0 imported (or would be), 2 the file is bad (every problem on stderr, each naming
its feature), 1 the database cannot be used (no world, cannot open).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from console.core.grid_import import (
    GridImportError,
    datum_names,
    parse_datum,
    parse_grid_layer,
    plan_grid_import,
)
from console.core.paths import default_db_url


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE", help="GeoJSON FeatureCollection")
    parser.add_argument("--db", help="database URL (default: SQLite file in the user data dir)")
    parser.add_argument(
        "--datum",
        default="auto",
        choices=list(datum_names()),
        help="datum of the file: auto (decide by fit to the district boundaries, default), "
        "wgs84 / cgcs2000 (GPS, GIS), gcj02 (Amap, Tencent), bd09 (Baidu)",
    )
    parser.add_argument("--id-field", default="id", help="property holding the grid id")
    parser.add_argument("--name-field", default="name", help="property holding the grid name")
    parser.add_argument(
        "--officer-field",
        default="officer_id",
        help="property holding the id of the grid's officer (an officer of the stored world)",
    )
    parser.add_argument(
        "--require-cover",
        action="store_true",
        help="refuse the layer if any district has area no grid covers (else a warning)",
    )
    parser.add_argument("--dry-run", action="store_true", help="check and summarise, write nothing")


def run(args: argparse.Namespace) -> int:
    path: Path = args.file
    try:
        text = path.read_text(encoding="utf-8-sig")  # GIS exports on Windows often carry a BOM
    except OSError as exc:
        print(f"error: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        print(
            f"error: {path} is not UTF-8 text ({exc.reason}): not a GeoJSON file", file=sys.stderr
        )
        return 2
    try:
        features = parse_grid_layer(
            text,
            id_field=args.id_field,
            name_field=args.name_field,
            officer_field=args.officer_field,
        )
    except GridImportError as exc:
        return _bad_input(path, exc)
    # Imported here so a malformed file is rejected without loading the database stack.
    from sqlalchemy.exc import IntegrityError

    from console.store import Store, StoreError
    from console.store.grid_repo import replace_grids

    try:
        store = Store.open(args.db or default_db_url())
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        world = store.load_world()
        try:
            plan = plan_grid_import(
                features, world, datum=parse_datum(args.datum), require_cover=args.require_cover
            )
        except GridImportError as exc:
            return _bad_input(path, exc)
        if not args.dry_run:
            source = f"imported from {path.name} ({plan.datum.value})"
            try:
                with store.session() as session:
                    replace_grids(session, plan.grids, plan.enterprise_grids, source=source)
            except IntegrityError as exc:
                raise StoreError(f"grid layer rejected by the database: {exc.orig}") from exc
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    summary = {"file": str(path), "dry_run": bool(args.dry_run), **plan.summary(world)}
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def _bad_input(path: Path, exc: GridImportError) -> int:
    print(f"error: {path} cannot be imported ({len(exc.problems)} problems):", file=sys.stderr)
    for line in str(exc).splitlines():
        print(f"  {line}", file=sys.stderr)
    return 2
