"""``python -m console locate`` as a subprocess against a database seeded by ``seed``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.core.geo import Datum, convert
from console.core.locate import Locator
from console.core.model import World

pytestmark = pytest.mark.slow

# Inside 椒江区 (Jiaojiang) in the demo world of Taizhou.
INSIDE = (121.42, 28.66)


def run_console(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ENFORCEMENT_CONSOLE_HOME": str(home), "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "console", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("locate-cli")
    url = f"sqlite:///{home / 'world.sqlite3'}"
    seeded = run_console(home, "seed", "--db", url)
    assert seeded.returncode == 0, seeded.stderr
    return home, url


def test_inside_point_matches_the_locator(seeded: tuple[Path, str], demo_world: World) -> None:
    home, url = seeded
    done = run_console(home, "locate", "--db", url, *map(str, INSIDE))
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    expected = Locator(demo_world, raster_cells=4096).locate(*INSIDE)
    assert expected is not None
    assert printed == expected.to_json()
    assert printed["district"]["adcode"] == "331002"
    assert len(printed["squads"]) == 3


def test_other_datum_and_squad_count(seeded: tuple[Path, str]) -> None:
    home, url = seeded
    gcj = convert(*INSIDE, Datum.WGS84, Datum.GCJ02)
    done = run_console(
        home, "locate", "--db", url, "--crs", "gcj02", "--squads", "1", *map(str, gcj)
    )
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["point"]["lon"] == pytest.approx(INSIDE[0], abs=1e-9)
    assert printed["point"]["lat"] == pytest.approx(INSIDE[1], abs=1e-9)
    assert len(printed["squads"]) == 1


def test_outside_point_exits_2(seeded: tuple[Path, str]) -> None:
    home, url = seeded
    done = run_console(home, "locate", "--db", url, "116.404", "39.915")
    assert done.returncode == 2
    assert json.loads(done.stdout) == {
        "error": "outside_jurisdiction",
        "point": {"lon": 116.404, "lat": 39.915},
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["abc", "28.6"], "LON: not a number: 'abc'"),
        (["121.4", "nan"], "LAT: not a finite number: 'nan'"),
        (["121.4", "95"], "latitude must be a finite number in [-90, 90], got 95.0"),
        (["--crs", "wgs72", "121.4", "28.6"], "invalid choice: 'wgs72'"),
    ],
)
def test_malformed_input_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    """Rejected before any database is opened."""
    done = run_console(tmp_path, "locate", "--db", f"sqlite:///{tmp_path / 'none.sqlite3'}", *args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert message in done.stderr
    assert not (tmp_path / "none.sqlite3").exists()


def test_database_without_world_exits_1(tmp_path: Path) -> None:
    done = run_console(
        tmp_path, "locate", "--db", f"sqlite:///{tmp_path / 'empty.sqlite3'}", *map(str, INSIDE)
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: ")
