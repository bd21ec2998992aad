"""``python -m console camera``: the camera register on a database (add, list, remove).

Stream passwords are not accepted as arguments (shell history, ``ps``): ``--password-stdin``.
``list`` prints cameras as JSON without credentials.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys

from sqlalchemy.orm import Session

from console.core.paths import default_db_url
from console.store import Store, StoreError, camera_repo, world_repo
from console.store.camera_repo import Camera


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="database URL (default: SQLite file in the user data dir)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", dest="action_db", help=argparse.SUPPRESS)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = actions.add_parser("add", parents=[common], help="register a camera")
    add.add_argument("name")
    add.add_argument("--url", required=True, help="rtsp://, http(s):// MJPEG or .m3u8, file://")
    add.add_argument("--enterprise", help="enterprise id (position and district from it)")
    add.add_argument("--lon", type=float, help="WGS84 longitude (without --enterprise)")
    add.add_argument("--lat", type=float, help="WGS84 latitude (without --enterprise)")
    add.add_argument("--id", help="camera id (default: generated)")
    add.add_argument("--group", default="", help="group for wall tours")
    add.add_argument("--username", default="", help="stream username")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the stream password from stdin"
    )

    actions.add_parser("list", parents=[common], help="list cameras as JSON")
    actions.add_parser("remove", parents=[common], help="remove a camera").add_argument("id")


def run(args: argparse.Namespace) -> int:
    url = args.action_db or args.db or default_db_url()
    try:
        store = Store.open(url)
    except StoreError as exc:
        return _fail(str(exc))
    try:
        with store.session() as session:
            if args.action == "list":
                cameras = camera_repo.list_cameras(session)
                print(json.dumps([c.public_json() for c in cameras], ensure_ascii=False))
                return 0
            if args.action == "remove":
                if not camera_repo.remove_camera(session, args.id):
                    return _fail(f"no camera {args.id!r}")
                print(json.dumps({"removed": args.id}))
                return 0
            camera = _new_camera(session, args)
            camera_repo.add_camera(session, camera)
        print(json.dumps(camera.public_json(), ensure_ascii=False))
        return 0
    except StoreError as exc:
        return _fail(str(exc))
    finally:
        store.close()


def _new_camera(session: Session, args: argparse.Namespace) -> Camera:
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else ""
    if args.enterprise:
        world = world_repo.load_world(session)
        enterprise = next((e for e in world.enterprises if e.id == args.enterprise), None)
        if enterprise is None:
            raise StoreError(f"no enterprise {args.enterprise!r} in the stored world")
        lon = enterprise.lon if args.lon is None else args.lon
        lat = enterprise.lat if args.lat is None else args.lat
        district: str | None = enterprise.district_adcode
    elif args.lon is None or args.lat is None:
        raise StoreError("give --enterprise or both --lon and --lat")
    else:
        lon, lat, district = args.lon, args.lat, None
    return Camera(
        id=args.id or f"cam-{secrets.token_hex(6)}",
        name=args.name,
        stream_url=args.url,
        lon=lon,
        lat=lat,
        enterprise_id=args.enterprise,
        district_adcode=district,
        username=args.username,
        password=password,
        group=args.group,
    )


def _fail(message: str) -> int:
    print(json.dumps({"error": message}), file=sys.stderr)
    return 1
