"""The seed and user commands, run as real subprocesses against an SQLite file."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from console.__main__ import main
from console.core.passwords import verify_password
from console.store import Store
from console.store.demo_world import DEMO_USERS


def console(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def seeded_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One seeded database for the module: building the demo world takes seconds."""
    url = f"sqlite:///{tmp_path_factory.mktemp('seeded') / 'console.sqlite3'}"
    result = console("seed", "--db", url, "--seed", "5")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["world"]["adcode"] == "331000"
    assert summary["world"]["grids"] > 1000
    assert summary["seed"] == 5
    assert summary["users_added"] == [name for name, *_ in DEMO_USERS]
    return url


def test_seed_stores_world_and_demo_users(seeded_url: str) -> None:
    store = Store.open(seeded_url)
    try:
        world = store.load_world()
        assert world.city_adcode == "331000"
        assert world.meta["seed"] == "5"
        org_ids = {org.id for org in world.organisations}
        for username, password, role, org_id in DEMO_USERS:
            user = store.get_user(username)
            assert user is not None
            assert user.role == role
            assert user.org_id in org_ids
            if org_id is not None:
                assert user.org_id == org_id
            assert verify_password(password, user.password_hash)
    finally:
        store.close()


def test_seed_refuses_to_overwrite_without_force(seeded_url: str) -> None:
    result = console("seed", "--db", seeded_url, "--seed", "6")
    assert result.returncode == 1
    assert "already has a world" in result.stderr
    assert "--force" in result.stderr


def test_seed_uses_the_data_dir_by_default_and_force_replaces(isolated_home: Path) -> None:
    # One county keeps this quick; the full-city seed runs once in ``seeded_url``.
    first = console("seed", "--adcode", "331002", "--seed", "1")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["world"]["districts"] == 1
    assert (isolated_home / "console.sqlite3").exists()
    second = console("seed", "--adcode", "331002", "--seed", "2", "--force")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["users_added"] == [name for name, *_ in DEMO_USERS]
    store = Store.open(f"sqlite:///{isolated_home / 'console.sqlite3'}")
    try:
        assert store.load_world().meta["seed"] == "2"
    finally:
        store.close()


def test_seed_reports_unknown_areas(tmp_path: Path) -> None:
    result = console("seed", "--db", f"sqlite:///{tmp_path / 'x.sqlite3'}", "--adcode", "999999")
    assert result.returncode == 1
    assert "unknown adcode '999999'" in result.stderr


def test_user_lifecycle(seeded_url: str) -> None:
    secret = "很长的口令-correct horse"
    added = console(
        "user",
        "add",
        "wang",
        "--role",
        "leader",
        "--org",
        "org-331002",
        "--name",
        "王领导",
        "--password-stdin",
        "--db",
        seeded_url,
        stdin=secret + "\n",
    )
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) == {"user": "wang", "result": "added"}
    assert secret not in added.stdout + added.stderr

    listed = console("user", "--db", seeded_url, "list")
    assert listed.returncode == 0, listed.stderr
    wang = next(u for u in json.loads(listed.stdout) if u["username"] == "wang")
    assert wang == {
        "username": "wang",
        "display_name": "王领导",
        "role": "leader",
        "org_id": "org-331002",
        "active": True,
    }
    assert "scrypt" not in listed.stdout

    passwd = console(
        "user", "passwd", "wang", "--password-stdin", "--db", seeded_url, stdin="new-pass\n"
    )
    assert passwd.returncode == 0, passwd.stderr
    assert console("user", "disable", "wang", "--db", seeded_url).returncode == 0
    store = Store.open(seeded_url)
    try:
        user = store.get_user("wang")
        assert user is not None
        assert not user.active
        assert verify_password("new-pass", user.password_hash)
    finally:
        store.close()
    assert main(["user", "enable", "wang", "--db", seeded_url]) == 0  # in-process: quicker
    store = Store.open(seeded_url)
    try:
        assert store.get_user("wang").active  # type: ignore[union-attr]
    finally:
        store.close()
    assert console("user", "remove", "wang", "--db", seeded_url).returncode == 0
    store = Store.open(seeded_url)
    try:
        assert store.get_user("wang") is None
    finally:
        store.close()


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("add", "li", "--role", "leader", "--org", "no-such-org"), "pw\n", "no organisation"),
        (("add", "li", "--role", "leader", "--org", "org-331000"), "\n", "must not be empty"),
        (("passwd", "ghost"), "pw\n", "no user 'ghost'"),
        (("disable", "ghost"), "", "no user 'ghost'"),
        (("enable", "ghost"), "", "no user 'ghost'"),
        (("remove", "ghost"), "", "no user 'ghost'"),
        (("add", "admin", "--role", "admin", "--org", "org-331000"), "pw\n", "already exists"),
    ],
)
def test_user_errors_are_clear(
    seeded_url: str,
    args: tuple[str, ...],
    stdin: str,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """In-process (same code as the subprocess runs) to keep the suite quick."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    extra = ("--password-stdin",) if args[0] in ("add", "passwd") else ()
    assert main(["user", *args, *extra, "--db", seeded_url]) == 1
    assert message in capsys.readouterr().err


def test_user_rejects_unknown_roles(seeded_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["user", "add", "li", "--role", "boss", "--org", "x", "--db", seeded_url])
    assert exit_info.value.code == 2
    assert "invalid choice: 'boss'" in capsys.readouterr().err
