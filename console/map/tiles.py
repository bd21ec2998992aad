"""Serves local tiles (a {z}/{x}/{y} folder or an MBTiles file) to the map page itself.

Centres without internet keep their tiles on disk. The page asks for
``maptiles://<source>/<z>/<x>/<y>`` and a ``QWebEngineUrlSchemeHandler`` answers from the
folder or the SQLite file, so no HTTP server, port or firewall rule is involved and the
request recorder can still insist that nothing goes to the network. The scheme must be
registered before QtWebEngine starts (its first profile); importing ``console.map`` does it.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject
from PySide6.QtWebEngineCore import (
    QWebEngineUrlRequestJob,
    QWebEngineUrlScheme,
    QWebEngineUrlSchemeHandler,
)

TILE_SCHEME = "maptiles"
_TILE_PATH = re.compile(r"^/(\d{1,2})/(\d{1,8})/(\d{1,8})(?:\.\w+)?$")
_MIME = {"png": b"image/png", "jpg": b"image/jpeg", "jpeg": b"image/jpeg", "webp": b"image/webp"}


def register_tile_scheme() -> None:
    """Declare ``maptiles://`` to QtWebEngine (idempotent; before the first profile).

    A local scheme, like file://: our file:// page may load it, pages from the network may not.
    """
    if QWebEngineUrlScheme.schemeByName(TILE_SCHEME.encode()).name():
        return
    scheme = QWebEngineUrlScheme(TILE_SCHEME.encode())
    scheme.setSyntax(QWebEngineUrlScheme.Syntax.Host)
    scheme.setFlags(
        QWebEngineUrlScheme.Flag.LocalScheme | QWebEngineUrlScheme.Flag.LocalAccessAllowed
    )
    QWebEngineUrlScheme.registerScheme(scheme)


class TileSource(Protocol):
    def read(self, z: int, x: int, y: int) -> tuple[bytes, bytes] | None:
        """(data, MIME type) of tile z/x/y in XYZ numbering, or None if there is none."""
        ...


class FolderTiles:
    """Tiles in ``root/{z}/{x}/{y}.png`` (or .jpg/.webp), XYZ numbering."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise ValueError(f"tile folder {root} does not exist")
        self.root = root

    def read(self, z: int, x: int, y: int) -> tuple[bytes, bytes] | None:
        for ext, mime in _MIME.items():
            path = self.root / str(z) / str(x) / f"{y}.{ext}"
            if path.is_file():
                return path.read_bytes(), mime
        return None


class MBTiles:
    """An MBTiles 1.x file (SQLite, TMS row numbering), opened read-only."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise ValueError(f"MBTiles file {path} does not exist")
        self.path = path
        self._db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            row = self._db.execute("SELECT value FROM metadata WHERE name = 'format'").fetchone()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise ValueError(f"{path} is not an MBTiles file: {exc}") from exc
        self.mime = _MIME.get(str(row[0]).lower() if row else "png", b"image/png")

    def read(self, z: int, x: int, y: int) -> tuple[bytes, bytes] | None:
        tms_row = (1 << z) - 1 - y
        row = self._db.execute(
            "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
            (z, x, tms_row),
        ).fetchone()
        return None if row is None else (bytes(row[0]), self.mime)

    def close(self) -> None:
        self._db.close()


class TileSchemeHandler(QWebEngineUrlSchemeHandler):
    """Answers ``maptiles://<source>/z/x/y`` from the registered sources (GUI thread)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._sources: dict[str, TileSource] = {}
        self.served = 0
        """Tiles answered so far (tests check the page really got them from here)."""

    def add_source(self, kind: str, path: Path) -> str:
        """Register a folder or MBTiles file; returns the page's URL template for it."""
        key = hashlib.sha1(f"{kind}:{path.resolve()}".encode()).hexdigest()[:12]
        if key not in self._sources:
            self._sources[key] = MBTiles(path) if kind == "mbtiles" else FolderTiles(path)
        return f"{TILE_SCHEME}://{key}/{{z}}/{{x}}/{{y}}"

    def close(self) -> None:
        for source in self._sources.values():
            if isinstance(source, MBTiles):
                source.close()
        self._sources.clear()

    def requestStarted(self, job: QWebEngineUrlRequestJob) -> None:  # noqa: N802 (Qt API)
        url = job.requestUrl()
        source = self._sources.get(url.host())
        match = _TILE_PATH.match(url.path())
        if source is None or match is None:
            job.fail(QWebEngineUrlRequestJob.Error.UrlNotFound)
            return
        z, x, y = (int(g) for g in match.groups())
        tile = source.read(z, x, y)
        if tile is None:
            job.fail(QWebEngineUrlRequestJob.Error.UrlNotFound)
            return
        data, mime = tile
        buffer = QBuffer(job)
        buffer.setData(QByteArray(data))
        buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        self.served += 1
        job.reply(mime, buffer)
