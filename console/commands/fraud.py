"""``python -m console fraud score FILE.csv``: authenticity scores, one JSON line per enterprise.

Most suspicious enterprise first. Each bad row is reported on stderr with its line number and
left out; the other rows are scored as if it were not there. Exit status: 0 when something was
scored, 1 when the file had no valid rows, 2 when the file is unreadable or lacks a required
column. Formulas: docs/authenticity.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from console.monitoring.authenticity import (
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    SeriesScore,
    TableError,
    read_hourly_csv,
    score_batch,
    score_enterprises,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    score = sub.add_parser(
        "score",
        help="score hourly monitoring data (CSV) per enterprise, most suspicious first",
        description=(
            f"CSV with a header; required columns {','.join(REQUIRED_COLUMNS)}, optional "
            f"{','.join(OPTIONAL_COLUMNS)}. Naive timestamps are Asia/Shanghai."
        ),
    )
    score.add_argument("file", help="CSV file, or - for stdin")


def run(args: argparse.Namespace) -> int:
    try:
        if args.file == "-":
            return _score(sys.stdin, "<stdin>")
        with open(args.file, encoding="utf-8-sig", newline="") as stream:
            return _score(stream, args.file)
    except (OSError, UnicodeDecodeError) as error:
        print(f"fraud score: cannot read {args.file}: {error}", file=sys.stderr)
        return 2


def _score(stream: TextIO, name: str) -> int:
    try:
        table = read_hourly_csv(stream)
    except TableError as error:
        print(f"{name}: {error}", file=sys.stderr)
        return 2
    for column in table.ignored_columns:
        print(f"{name}: ignoring unknown column {column!r}", file=sys.stderr)
    for message in table.errors:
        print(f"{name}: {message}", file=sys.stderr)
    if table.rows == 0:
        print(f"{name}: no valid rows to score", file=sys.stderr)
        return 1
    series: list[SeriesScore] = []
    for batch in table.batches:
        series.extend(score_batch(batch))
    for result in score_enterprises(series):
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return 0
