"""``python -m console fraud score`` through a real subprocess on CSV files."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from console.monitoring.authenticity import CHINA_TZ, SeriesBatch
from console.monitoring.authenticity.synthetic import Pattern, make_batch

HEADER = "ts,enterprise,pollutant,value,limit,flow,o2,range_max,flag"


def _csv_lines(batch: SeriesBatch) -> list[str]:
    """One row per hour, naive Beijing timestamps, columns deliberately not in canonical order."""
    assert batch.flow is not None
    assert batch.o2 is not None
    assert batch.range_max is not None
    lines = []
    for i in range(batch.size):
        rng = "" if batch.range_max[i] != batch.range_max[i] else f"{batch.range_max[i]:g}"
        for h in range(batch.value.shape[1]):
            ts = datetime.fromtimestamp(int(batch.start[i]) + 3600 * h, CHINA_TZ)
            lines.append(
                f"{ts.strftime('%Y-%m-%dT%H:%M:%S')},{batch.enterprise[i]},{batch.pollutant[i]},"
                f"{batch.value[i, h]:.3f},{batch.limit[i]:g},{batch.flow[i, h]:.2f},"
                f"{batch.o2[i, h]:.2f},{rng},N"
            )
    return lines


def _run(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console", "fraud", "score", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def rows() -> list[str]:
    patterns = [Pattern.CLEAN, Pattern.ZEROS, Pattern.CLEAN, Pattern.CLEAN, Pattern.FLAT]
    batch = make_batch(
        patterns,
        hours=240,
        seed=21,
        enterprises=["E-clean", "E-zeros", "E-zeros", "E-other", "E-flat"],
        pollutants=["a21026", "a21026", "a21002", "a21026", "a21026"],
    )
    return _csv_lines(batch)


def test_scores_one_line_per_enterprise_most_suspicious_first(
    tmp_path: Path, rows: list[str]
) -> None:
    path = tmp_path / "hourly.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    done = _run([str(path)])
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["enterprise"] for r in results[2:]] == ["E-clean", "E-other"]
    assert {r["enterprise"] for r in results[:2]} == {"E-zeros", "E-flat"}
    scores = [r["score"] for r in results]
    assert scores == sorted(scores)
    zeros = next(r for r in results if r["enterprise"] == "E-zeros")
    assert set(zeros) == {"enterprise", "score", "checks", "pollutants", "reasons"}
    assert set(zeros["checks"]) == {"exceedance", "fluctuation", "zero", "box", "condition"}
    assert zeros["score"] == min(p["score"] for p in zeros["pollutants"].values())
    assert zeros["pollutants"]["a21026"]["checks"]["zero"] < 50
    assert any(r.startswith("a21026 zero") for r in zeros["reasons"])
    assert results[-1]["score"] >= 90


def test_bad_rows_are_reported_by_line_and_do_not_change_the_scores(
    tmp_path: Path, rows: list[str]
) -> None:
    good = _run(["-"], stdin="\n".join([HEADER, *rows]) + "\n")
    assert good.returncode == 0
    bad = [
        "2026-01-02T00:00:00,E-clean,a21026,1.0,35",  # too few fields
        "2026-01-02T00:00:00,E-clean,a21026,abc,35,10,9,,N",
        "yesterday,E-clean,a21026,1.0,35,10,9,,N",
        "2026-03-01T00:00:00,E-clean,a21026,1.0,-35,10,9,,N",
        "2026-03-01T00:00:00,E-clean,a21026,1.0,35,10,9,,X",
        ",".join([*rows[5].split(",")[:3], "99.9", *rows[5].split(",")[4:]]),  # same hour again
        "2026-03-01T00:00:00+08:00,E-new,a21026,nan,35,10,9,,N",
    ]
    mixed = [HEADER, *rows[:10], bad[0], bad[1], *rows[10:300], *bad[2:], *rows[300:]]
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join(mixed) + "\n", encoding="utf-8")
    done = _run([str(path)])
    assert done.returncode == 0
    assert done.stdout == good.stdout
    errors = done.stderr.splitlines()
    assert len(errors) == 7, errors
    expected = [
        (12, "5 fields, the header has 9"),
        (13, "cannot parse value 'abc' as a number"),
        (304, "cannot parse ts 'yesterday'"),
        (305, "limit must be positive"),
        (306, "flag 'X' is not an HJ 212 data flag"),
        (307, "second row for E-clean/a21026"),
        (308, "value must be a finite number"),
    ]
    for message, (line, words) in zip(errors, expected, strict=True):
        assert message.startswith(f"{path}: line {line}: "), message
        assert words in message
    assert "(first on line 7)" in errors[5]


def test_exit_status_for_unusable_input(tmp_path: Path) -> None:
    only_bad = tmp_path / "bad.csv"
    only_bad.write_text(HEADER + "\n2026-01-01,E,a21026,x,35,1,9,,N\n", encoding="utf-8")
    done = _run([str(only_bad)])
    assert (done.returncode, done.stdout) == (1, "")
    assert "line 2: cannot parse value 'x'" in done.stderr
    assert "no valid rows" in done.stderr

    no_limit = tmp_path / "nolimit.csv"
    no_limit.write_text("enterprise,pollutant,ts,value\nE,a21026,2026-01-01,1\n", encoding="utf-8")
    done = _run([str(no_limit)])
    assert done.returncode == 2
    assert "missing required column(s) limit" in done.stderr

    done = _run([str(tmp_path / "absent.csv")])
    assert done.returncode == 2
    assert "cannot read" in done.stderr

    done = _run(["-"], stdin="")
    assert done.returncode == 2
    assert "header line is required" in done.stderr
