"""Camera register through a real hub and real websocket clients; credentials stay in the hub."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.hub.client import HubError
from console.hub.embedded import EmbeddedHub
from tests.hub.support import IN_331003, logged_in, run, seed_store, small_world

SECRET = "Pa55:w/rd@cam"


@pytest.fixture(scope="module")
def camera_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('camhub') / 'hub.sqlite3'}"
    seed_store(url, small_world())
    hub = EmbeddedHub(url)
    yield hub.start()
    hub.stop()


def test_register_list_snapshot_events_and_stream_url(camera_hub: str) -> None:
    async def scenario() -> None:
        events: list[dict[str, Any]] = []
        admin = await logged_in(camera_hub, "admin", "a")
        watcher = await logged_in(camera_hub, "dispatcher", "b", on_event=events.append)
        county = await logged_in(camera_hub, "county", "c")
        leader = await logged_in(camera_hub, "leader", "d")
        try:
            await watcher.subscribe(["camera.changed"])
            added = await admin.request(
                "camera.add",
                name="排口摄像头",
                stream_url="rtsp://127.0.0.1:8554/ent",
                enterprise_id="ent-331002",
                username="viewer",
                password=SECRET,
            )
            assert added["district_adcode"] == "331002"
            assert added["has_credentials"] is True
            free = await admin.request(
                "camera.add",
                name="路口摄像头",
                stream_url="http://127.0.0.1:8080/cam.mjpg",
                lon=IN_331003[0],
                lat=IN_331003[1],
            )
            assert free["district_adcode"] == "331003"

            listed = await watcher.request("cameras.list")
            assert {c["id"] for c in listed} >= {added["id"], free["id"]}
            snapshot = await watcher.request("world.snapshot")
            by_id = {c["id"]: c for c in snapshot["cameras"]}
            assert by_id[added["id"]]["enterprise_id"] == "ent-331002"
            assert by_id[added["id"]]["online"] is True
            # The county bureau of 331002 sees only its own district's camera.
            county_ids = {c["id"] for c in await county.request("cameras.list")}
            assert added["id"] in county_ids
            assert free["id"] not in county_ids
            with pytest.raises(HubError) as hidden:
                await county.request("camera.stream_url", camera_id=free["id"])
            assert hidden.value.code == "not_found"

            playable = await watcher.request("camera.stream_url", camera_id=added["id"])
            assert playable["url"] == "rtsp://viewer:Pa55%3Aw%2Frd%40cam@127.0.0.1:8554/ent"
            with pytest.raises(HubError) as forbidden:
                await leader.request("camera.stream_url", camera_id=added["id"])
            assert forbidden.value.code == "forbidden"
            with pytest.raises(HubError) as not_admin:
                await watcher.request("camera.remove", camera_id=added["id"])
            assert not_admin.value.code == "forbidden"

            updated = await admin.request("camera.update", camera_id=added["id"], name="新名称")
            assert updated["name"] == "新名称"
            await watcher.request("camera.status", camera_id=added["id"], online=False)
            snapshot = await watcher.request("world.snapshot")
            assert {c["id"]: c for c in snapshot["cameras"]}[added["id"]]["online"] is False
            await admin.request("camera.remove", camera_id=free["id"])
            for _ in range(50):
                if len(events) >= 5:
                    break
                await asyncio.sleep(0.05)
            actions = [e["data"]["action"] for e in events]
            assert actions == ["added", "added", "updated", "status", "removed"]

            everything = json.dumps([listed, snapshot, events], ensure_ascii=False)
            assert SECRET not in everything
            assert "viewer" not in everything
        finally:
            for client in (admin, watcher, county, leader):
                await client.close()

    run(scenario)


def test_bad_cameras_are_refused_clearly(camera_hub: str) -> None:
    async def scenario() -> None:
        admin = await logged_in(camera_hub, "admin", "e")
        try:
            cases = [
                ({"name": "x", "stream_url": "ftp://host/a", "lon": 121.0, "lat": 28.0}, "rtsp"),
                ({"name": "x", "stream_url": "rtsp://u:p@host/a", "lon": 121.0, "lat": 28.0},
                 "own fields"),
                ({"name": "x", "stream_url": "rtsp://host/a"}, "enterprise_id or a location"),
                ({"name": "x", "stream_url": "rtsp://host/a", "enterprise_id": "nope"}, "nope"),
                ({"name": "x", "stream_url": "rtsp://host/a", "lon": 500, "lat": 28.0}, "lon"),
            ]  # fmt: skip
            for params, words in cases:
                with pytest.raises(HubError) as error:
                    await admin.request("camera.add", **params)
                assert words in error.value.detail
        finally:
            await admin.close()

    run(scenario)


def test_wall_layouts_are_saved_in_the_hub(camera_hub: str) -> None:
    async def scenario() -> None:
        commander = await logged_in(camera_hub, "squad", "f")
        try:
            spec = {"rows": 3, "cols": 3, "tiles": [[0, 0, 2, 2], [0, 2], [1, 2], [2, 0]]}
            await commander.request("wall.layout.save", name="报警", spec=spec)
            layouts = await commander.request("wall.layouts")
            assert layouts == [{"name": "报警", "spec": spec, "updated_by": "squad"}]
            await commander.request("wall.layout.delete", name="报警")
            assert await commander.request("wall.layouts") == []
        finally:
            await commander.close()

    run(scenario)


def test_camera_cli(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    seed_store(url, small_world())

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "console", "camera", *args, "--db", url],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    added = cli(
        *("add", "东门", "--url", "rtsp://127.0.0.1/a", "--enterprise", "ent-331002"),
        *("--username", "u", "--password-stdin", "--id", "cam-1"),
        stdin="topsecret\n",
    )
    assert added.returncode == 0, added.stderr
    listed = cli("list")
    cameras = json.loads(listed.stdout)
    assert [c["id"] for c in cameras] == ["cam-1"]
    assert cameras[0]["district_adcode"] == "331002"
    assert "topsecret" not in listed.stdout
    bad = cli("add", "x", "--url", "gopher://a", "--lon", "121", "--lat", "28")
    assert bad.returncode == 1
    assert "unsupported stream URL" in json.loads(bad.stderr)["error"]
    assert cli("remove", "cam-1").returncode == 0
    assert json.loads(cli("list").stdout) == []
