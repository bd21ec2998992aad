"""The camera register and saved video-wall layouts.

A camera is placed either at an enterprise (its outlet cameras) or at a free location; the
hub fills in ``district_adcode`` so scope filtering needs no spatial query. Credentials stay
in these rows: ``Camera.public_json`` is what consoles see, ``Camera.playable_url`` is only
produced for ``camera.stream_url``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from console.core.model import World
from console.store.errors import StoreError
from console.store.schema_video import CameraRow, WallLayoutRow

STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "http", "https", "file"})
"""RTSP cameras, HTTP(S) MJPEG and HLS (.m3u8), and local files (recordings, demos)."""


class CameraError(StoreError):
    """A camera that cannot be stored as given (bad URL, coordinates, duplicate id)."""


class UnknownCameraError(StoreError):
    """No camera with that id."""


def check_stream_url(url: str) -> str:
    """Return ``url`` if a player can open it; credentials belong in username/password."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in STREAM_SCHEMES:
        raise CameraError(
            f"unsupported stream URL {url!r}: use rtsp://, rtsps://, http(s):// (MJPEG or "
            "HLS .m3u8) or file://"
        )
    if parts.scheme.lower() != "file" and not parts.hostname:
        raise CameraError(f"stream URL {url!r} has no host")
    if parts.username or parts.password:
        raise CameraError(
            "put the stream's username and password in their own fields, not in the URL: "
            "the URL is shown to every console"
        )
    return url.strip()


def check_location(lon: float, lat: float) -> None:
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise CameraError(f"invalid camera location ({lon}, {lat}): expected WGS84 lon, lat")


@dataclass(frozen=True, slots=True)
class Camera:
    id: str
    name: str
    stream_url: str
    lon: float
    lat: float
    enterprise_id: str | None = None
    district_adcode: str | None = None
    username: str = ""
    password: str = ""
    group: str = ""
    online: bool = True

    def public_json(self) -> dict[str, Any]:
        """What any console in scope may see: no username, no password."""
        return {
            "id": self.id,
            "name": self.name,
            "lon": round(self.lon, 6),
            "lat": round(self.lat, 6),
            "enterprise_id": self.enterprise_id,
            "district_adcode": self.district_adcode,
            "group": self.group,
            "online": self.online,
            "stream_url": self.stream_url,
            "has_credentials": bool(self.username or self.password),
        }

    def playable_url(self) -> str:
        """The stream URL with the credentials put in (percent-encoded), for the player only."""
        if not (self.username or self.password):
            return self.stream_url
        parts = urlsplit(self.stream_url)
        if parts.scheme == "file":
            return self.stream_url
        userinfo = quote(self.username, safe="")
        if self.password:
            userinfo += ":" + quote(self.password, safe="")
        netloc = f"{userinfo}@{parts.netloc}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def add_camera(session: Session, camera: Camera) -> None:
    check_stream_url(camera.stream_url)
    check_location(camera.lon, camera.lat)
    if not camera.id or not camera.name.strip():
        raise CameraError("a camera needs an id and a name")
    if session.get(CameraRow, camera.id) is not None:
        raise CameraError(f"camera {camera.id!r} already exists")
    seq = session.scalar(select(func.coalesce(func.max(CameraRow.seq), 0))) or 0
    row = CameraRow(id=camera.id, seq=seq + 1)
    _fill(row, camera)
    session.add(row)


def replace_camera(session: Session, camera: Camera) -> None:
    """Overwrite every field of an existing camera (the hub merges partial updates first)."""
    check_stream_url(camera.stream_url)
    check_location(camera.lon, camera.lat)
    _fill(_require(session, camera.id), camera)


def remove_camera(session: Session, camera_id: str) -> bool:
    row = session.get(CameraRow, camera_id)
    if row is None:
        return False
    session.delete(row)
    return True


def get_camera(session: Session, camera_id: str) -> Camera | None:
    row = session.get(CameraRow, camera_id)
    return None if row is None else _to_camera(row)


def set_online(session: Session, camera_id: str, online: bool) -> bool:
    """Record a console's report; True when the state changed."""
    row = _require(session, camera_id)
    changed = row.online != online
    row.online = online
    return changed


def list_cameras(session: Session) -> list[Camera]:
    return [_to_camera(row) for row in session.scalars(select(CameraRow).order_by(CameraRow.seq))]


def save_layout(session: Session, name: str, spec: dict[str, Any], username: str) -> None:
    """Create or replace the wall layout ``name``; ``spec`` is stored as JSON."""
    if not name.strip():
        raise StoreError("a wall layout needs a name")
    text = json.dumps(spec, ensure_ascii=False, sort_keys=True)
    row = session.get(WallLayoutRow, name)
    if row is None:
        session.add(WallLayoutRow(name=name, spec=text, updated_by=username))
    else:
        row.spec, row.updated_by = text, username


def list_layouts(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(select(WallLayoutRow).order_by(WallLayoutRow.name))
    return [
        {"name": row.name, "spec": json.loads(row.spec), "updated_by": row.updated_by}
        for row in rows
    ]


def delete_layout(session: Session, name: str) -> bool:
    row = session.get(WallLayoutRow, name)
    if row is None:
        return False
    session.delete(row)
    return True


def _fill(row: CameraRow, camera: Camera) -> None:
    row.name = camera.name.strip()
    row.stream_url = camera.stream_url
    row.lon, row.lat = camera.lon, camera.lat
    row.enterprise_id = camera.enterprise_id
    row.district_adcode = camera.district_adcode
    row.username, row.password = camera.username, camera.password
    row.group_name = camera.group
    row.online = camera.online


def _require(session: Session, camera_id: str) -> CameraRow:
    row = session.get(CameraRow, camera_id)
    if row is None:
        raise UnknownCameraError(f"no camera {camera_id!r}")
    return row


def _to_camera(row: CameraRow) -> Camera:
    return Camera(
        id=row.id,
        name=row.name,
        stream_url=row.stream_url,
        lon=row.lon,
        lat=row.lat,
        enterprise_id=row.enterprise_id,
        district_adcode=row.district_adcode,
        username=row.username,
        password=row.password,
        group=row.group_name,
        online=row.online,
    )


DEMO_CAMERA_PREFIX = "demo-cam-"


def demo_cameras(world: World, urls: list[str]) -> list[Camera]:
    """One outlet camera per key enterprise (in world order) for each demo stream URL."""
    key = [e for e in world.enterprises if e.is_key][: len(urls)]
    return [
        Camera(
            id=f"{DEMO_CAMERA_PREFIX}{number}",
            name=f"{enterprise.name} 排口监控",
            stream_url=url,
            lon=enterprise.lon,
            lat=enterprise.lat,
            enterprise_id=enterprise.id,
            district_adcode=enterprise.district_adcode,
            group=enterprise.district_adcode,
        )
        for number, (enterprise, url) in enumerate(zip(key, urls, strict=False), start=1)
    ]


def register_demo_cameras(session: Session, world: World, urls: list[str]) -> list[Camera]:
    """Point the demo cameras at this run's stream URLs (ports change between runs)."""
    cameras = demo_cameras(world, urls)
    for camera in cameras:
        if session.get(CameraRow, camera.id) is None:
            add_camera(session, camera)
        else:
            replace_camera(session, camera)
    return cameras
