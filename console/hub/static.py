"""Serves the officers' field web app at ``/field/`` from the hub's own port.

Phones load the app from the hub they talk to, so there is no second server to run and
the page and ``/ws/field`` share one origin (one TLS certificate, one address to enrol).
Leaflet comes from the map package's vendored copy under ``/field/vendor/leaflet/``:
nothing is fetched from a CDN.
"""

from __future__ import annotations

import hashlib
import mimetypes
import threading
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from websockets.datastructures import Headers
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse

FIELD_PREFIX = "/field/"
FIELD_APP_DIR = Path(__file__).resolve().parent / "field_app"
# The map feature's vendored Leaflet; read as files only (hub must not import console.map).
LEAFLET_DIR = Path(__file__).resolve().parent.parent / "map" / "assets" / "vendor" / "leaflet"
VENDOR_PREFIX = "vendor/leaflet/"

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
# Same-origin only; blob:/data: for photo previews and voice playback; ws(s) to the hub.
_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    content_type: str
    etag: str


class FieldAppFiles:
    """Resolves ``/field/…`` paths to files, refusing anything outside the two folders.

    Files are read once and kept (the whole app is a few hundred KB); set ``cache=False``
    while editing the app to see changes without restarting the hub.
    """

    def __init__(
        self, app_dir: Path = FIELD_APP_DIR, leaflet_dir: Path = LEAFLET_DIR, cache: bool = True
    ) -> None:
        self.app_dir = app_dir
        self.leaflet_dir = leaflet_dir
        self.cache = cache
        self._assets: dict[str, _Asset | None] = {}
        self._lock = threading.Lock()

    def response(self, request: HttpRequest) -> HttpResponse | None:
        """The HTTP answer for a ``/field`` path, or None when the path is not the app's."""
        path = request.path.split("?", 1)[0]
        if path == FIELD_PREFIX.rstrip("/"):
            return _response(
                HTTPStatus.MOVED_PERMANENTLY, b"", "text/plain", {"Location": FIELD_PREFIX}
            )
        if not path.startswith(FIELD_PREFIX):
            return None
        asset = self._asset(unquote(path[len(FIELD_PREFIX) :]) or "index.html")
        if asset is None:
            body = f"no such file in the field app: {path}".encode()
            return _response(HTTPStatus.NOT_FOUND, body, "text/plain; charset=utf-8")
        if request.headers.get("If-None-Match") == asset.etag:
            return _response(HTTPStatus.NOT_MODIFIED, b"", asset.content_type, {"ETag": asset.etag})
        return _response(HTTPStatus.OK, asset.body, asset.content_type, {"ETag": asset.etag})

    def _asset(self, relative: str) -> _Asset | None:
        with self._lock:
            if self.cache and relative in self._assets:
                return self._assets[relative]
            asset = self._load(relative)
            if self.cache:
                self._assets[relative] = asset
            return asset

    def _load(self, relative: str) -> _Asset | None:
        parts = PurePosixPath(relative).parts
        if not parts or any(part in ("..", ".") or part.startswith(".") for part in parts):
            return None
        if relative.startswith(VENDOR_PREFIX):
            root, inner = self.leaflet_dir, parts[2:]
        else:
            root, inner = self.app_dir, parts
        file = root.joinpath(*inner).resolve()
        if not file.is_relative_to(root.resolve()) or not file.is_file():
            return None
        suffix = file.suffix.lower()
        content_type = _TYPES.get(suffix) or mimetypes.guess_type(file.name)[0]
        if content_type is None:
            return None
        body = file.read_bytes()
        return _Asset(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def _response(
    status: HTTPStatus, body: bytes, content_type: str, extra: dict[str, str] | None = None
) -> HttpResponse:
    headers = Headers(
        {
            "Content-Type": content_type,
            "Content-Length": str(len(body)),
            # Revalidate every load (cheap with the ETag) so a hub upgrade reaches phones.
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Content-Security-Policy": _CSP,
        }
    )
    for name, value in (extra or {}).items():
        headers[name] = value
    return HttpResponse(status.value, status.phrase, headers, body)
