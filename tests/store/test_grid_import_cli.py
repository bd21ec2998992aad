"""``import-grids`` end to end against a real SQLite store: all or nothing, then locate."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import mapping, shape

from console.__main__ import main
from console.core.geo import Datum, convert
from console.core.model import World
from console.store import Store
from tests.core.test_grid_import import adjacent_pair, layer, same_shapes, two_district_world


def load(url: str) -> World:
    store = Store.open(url)
    try:
        return store.load_world()
    finally:
        store.close()


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory, demo_world: World) -> Path:
    """A stored two-district world, copied for each test (saving it once is the slow part)."""
    path = tmp_path_factory.mktemp("grids") / "template.sqlite3"
    store = Store.open(f"sqlite:///{path}")
    try:
        store.save_world(two_district_world(demo_world))
    finally:
        store.close()
    return path


@pytest.fixture
def db_url(template_db: Path, tmp_path: Path) -> str:
    path = tmp_path / "console.sqlite3"
    shutil.copyfile(template_db, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def world(template_db: Path) -> World:
    return load(f"sqlite:///{template_db}")


def write(tmp_path: Path, data: dict[str, Any] | str, name: str = "grids.geojson") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def import_grids(
    capsys: pytest.CaptureFixture[str], path: Path, url: str, *args: str
) -> tuple[int, str, str]:
    code = main(["import-grids", str(path), "--db", url, *args])
    out, err = capsys.readouterr()
    return code, out, err


def _bad_layers(world: World) -> list[tuple[str, dict[str, Any] | str, str]]:
    """(case, file content, text the error must contain) for every kind of bad file."""
    cases: list[tuple[str, dict[str, Any] | str, str]] = [
        ("not json", '{"type": "FeatureCollection", ', "not JSON"),
        ("not geojson", json.dumps({"hello": "world"}), "not GeoJSON"),
    ]
    point = layer(world)
    point["features"][4]["geometry"] = {"type": "Point", "coordinates": [121.4, 28.6]}
    cases.append(("point", point, f"feature 4 (id '{world.grids[4].id}'): geometry is a Point"))
    line = layer(world)
    line["features"][6]["geometry"] = {
        "type": "MultiLineString",
        "coordinates": [[[121.4, 28.6], [121.5, 28.7]]],
    }
    cases.append(("line", line, f"feature 6 (id '{world.grids[6].id}'): geometry is a Multi"))
    x0, y0, x1, y1 = world.grids[8].geometry.bounds
    bowtie = layer(world)
    bowtie["features"][8]["geometry"] = {
        "type": "Polygon",
        "coordinates": [[[x0, y0], [x1, y1], [x1, y0], [x0, y1], [x0, y0]]],
    }
    cases.append(("self-intersecting", bowtie, f"feature 8 (id '{world.grids[8].id}'): invalid"))
    out_of_range = layer(world)
    out_of_range["features"][2]["geometry"] = {
        "type": "Polygon",
        "coordinates": [[[121.4, 28.6], [221.4, 28.6], [121.5, 28.7], [121.4, 28.6]]],
    }
    cases.append(("out of range", out_of_range, f"feature 2 (id '{world.grids[2].id}'): coord"))
    duplicate = layer(world)
    duplicate["features"][10]["properties"]["id"] = world.grids[3].id
    cases.append(("duplicate id", duplicate, "feature 10 (id "))
    a, _ = adjacent_pair(world, across_districts=False)
    overlap = layer(world)
    index_a = world.grids.index(a)
    grown = shapely.buffer(a.geometry, 0.002, join_style="mitre")
    overlap["features"][index_a]["geometry"] = mapping(grown)
    cases.append(("overlap", overlap, f"feature {index_a} (id '{a.id}') overlaps"))
    c, d = adjacent_pair(world, across_districts=True)
    straddle = layer(world)
    index_c, index_d = world.grids.index(c), world.grids.index(d)
    straddle["features"][index_c]["geometry"] = mapping(shapely.union(c.geometry, d.geometry))
    del straddle["features"][index_d]
    cases.append(("straddle", straddle, f"feature {index_c} (id '{c.id}'): straddles"))
    unknown_officer = layer(world)
    unknown_officer["features"][1]["properties"]["officer_id"] = "go-nobody"
    cases.append(("unknown officer", unknown_officer, "officer 'go-nobody' is not in"))
    return cases


def test_every_bad_file_exits_2_naming_the_feature_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], db_url: str, world: World, tmp_path: Path
) -> None:
    for case, content, expected in _bad_layers(world):
        path = write(tmp_path, content, f"{case.replace(' ', '-')}.geojson")
        code, out, err = import_grids(capsys, path, db_url)
        assert code == 2, (case, err)
        assert expected in err, (case, err)
        assert out == "", case
    assert load(db_url) == world


def test_wrong_declared_datum_is_refused_and_gaps_fail_with_require_cover(
    capsys: pytest.CaptureFixture[str], db_url: str, world: World, tmp_path: Path
) -> None:
    gcj = write(tmp_path, layer(world, Datum.GCJ02))
    code, _, err = import_grids(capsys, gcj, db_url, "--datum", "wgs84")
    assert code == 2
    assert "--datum gcj02" in err
    assert "500 m" in err
    data = layer(world)
    del data["features"][0]
    gap = write(tmp_path, data, "gap.geojson")
    code, _, err = import_grids(capsys, gap, db_url, "--require-cover")
    assert code == 2
    assert "covered by no grid (--require-cover)" in err
    missing = tmp_path / "missing.geojson"
    code, _, err = import_grids(capsys, missing, db_url)
    assert code == 2
    assert "cannot read" in err
    assert load(db_url) == world


def test_dry_run_checks_and_summarises_but_writes_nothing(
    capsys: pytest.CaptureFixture[str], db_url: str, world: World, tmp_path: Path
) -> None:
    path = write(tmp_path, layer(world, Datum.BD09))
    code, out, err = import_grids(capsys, path, db_url, "--dry-run")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["dry_run"] is True
    assert summary["datum"] == "bd09"
    assert summary["grids"] == len(world.grids)
    assert load(db_url) == world


@pytest.mark.parametrize("datum", [Datum.WGS84, Datum.GCJ02])
def test_a_layer_in_wgs84_or_gcj02_imports_to_the_same_grids_and_locate_uses_them(
    capsys: pytest.CaptureFixture[str],
    db_url: str,
    world: World,
    tmp_path: Path,
    datum: Datum,
) -> None:
    a, b = adjacent_pair(world, across_districts=False)
    data = layer(world, datum)
    for item in data["features"]:
        item["properties"] = {
            "code": "imp-" + item["properties"]["id"],
            "title": item["properties"]["name"],
            "officer": item["properties"]["officer_id"],
        }
    index_a, index_b = world.grids.index(a), world.grids.index(b)
    # Merge b into a, drawn in the file's datum like the rest of the layer.
    feature_a, feature_b = data["features"][index_a], data["features"][index_b]
    merged = shapely.union(shape(feature_a["geometry"]), shape(feature_b["geometry"]))
    feature_a["geometry"] = mapping(merged)
    del data["features"][index_b]
    path = write(tmp_path, data)
    code, out, err = import_grids(
        capsys,
        path,
        db_url,
        "--id-field",
        "code",
        "--name-field",
        "title",
        "--officer-field",
        "officer",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["datum"] == datum.value
    assert summary["datum_declared"] == "auto"
    assert summary["dry_run"] is False
    assert summary["grids"] == len(world.grids) - 1
    assert summary["officers_without_grid"] == [b.officer_id]
    assert {d["adcode"]: d["grids"] for d in summary["districts"]} == {
        adcode: sum(1 for g in world.grids if g.district_adcode == adcode)
        - (adcode == a.district_adcode)
        for adcode in ("331002", "331004")
    }

    after = load(db_url)
    assert after.meta["grids_source"] == f"imported from grids.geojson ({datum.value})"
    assert after.districts == world.districts
    assert after.squads == world.squads
    expected = {f"imp-{g.id}": g for g in world.grids if g.id != b.id}
    assert [g.id for g in after.grids] == list(expected)
    for grid in after.grids:
        old = expected[grid.id]
        assert grid.district_adcode == old.district_adcode
        assert grid.officer_id == old.officer_id
        if old.id != a.id:
            assert same_shapes(grid.geometry, old.geometry), grid.id
    officers = {o.id: o for o in after.officers}
    assert officers[a.officer_id].grid_id == f"imp-{a.id}"  # type: ignore[index]
    assert officers[b.officer_id].grid_id is None  # type: ignore[index]
    for enterprise in after.enterprises:
        assert enterprise.grid_id is not None
        assert enterprise.grid_id.startswith("imp-")

    inside_b = shapely.point_on_surface(b.geometry)
    lon, lat = convert(inside_b.x, inside_b.y, Datum.WGS84, Datum.GCJ02)
    assert main(["locate", "--db", db_url, "--crs", "gcj02", str(lon), str(lat)]) == 0
    located = json.loads(capsys.readouterr().out)
    assert located["grid"]["id"] == f"imp-{a.id}"
    assert located["grid_officer"]["id"] == a.officer_id


def test_the_command_runs_as_a_program(db_url: str, world: World, tmp_path: Path) -> None:
    path = write(tmp_path, layer(world, Datum.GCJ02))
    result = subprocess.run(
        [sys.executable, "-m", "console", "import-grids", str(path), "--db", db_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["datum"] == "gcj02"
    assert [g.id for g in load(db_url).grids] == [g.id for g in world.grids]
