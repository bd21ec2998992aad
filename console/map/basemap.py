"""Which basemap the map draws under its overlays, and in which datum that basemap is.

The choice comes from the environment variable ``ENFORCEMENT_CONSOLE_BASEMAP`` (a JSON
object, or the path of a JSON file), else from ``basemap.json`` in the data dir, else from the
``basemap`` section of the console settings (``console.shell.settings``, set in 设置…); by
default the map uses its vector basemap (district fills, grids and the city outline: no
tiles at all). Examples::

    {"kind": "xyz", "url": "https://t0.example.cn/{z}/{x}/{y}.png", "datum": "gcj02",
     "attribution": "© Amap"}
    {"kind": "folder", "path": "/srv/tiles/taizhou", "datum": "wgs84"}
    {"kind": "mbtiles", "path": "/srv/tiles/taizhou.mbtiles", "datum": "wgs84"}

Tianditu and other CGCS2000 tiles are ``wgs84`` here (the two datums are sub-metre apart);
Amap/Tencent tiles are ``gcj02``: overlays are shifted into that datum for display so a
feature never appears ~500 m off.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from console.core.paths import data_dir
from console.shell.settings import load_settings

BASEMAP_ENV = "ENFORCEMENT_CONSOLE_BASEMAP"
BASEMAP_FILE = "basemap.json"


class BasemapKind(StrEnum):
    VECTOR = "vector"
    XYZ = "xyz"
    FOLDER = "folder"
    MBTILES = "mbtiles"


class BasemapDatum(StrEnum):
    WGS84 = "wgs84"
    GCJ02 = "gcj02"


_DATUM_ALIASES = {"cgcs2000": BasemapDatum.WGS84}


@dataclass(frozen=True, slots=True)
class BasemapConfig:
    """One tile source (or the vector basemap) and the datum its tiles are drawn in."""

    kind: BasemapKind = BasemapKind.VECTOR
    url: str = ""
    """URL template with {z}/{x}/{y} (xyz only)."""
    path: Path | None = None
    """Tile folder ({z}/{x}/{y}.png) or MBTiles file (folder/mbtiles only)."""
    datum: BasemapDatum = BasemapDatum.WGS84
    attribution: str = ""
    max_zoom: int = 18

    def __post_init__(self) -> None:
        if self.kind is BasemapKind.XYZ:
            if not all(part in self.url for part in ("{z}", "{x}", "{y}")):
                raise ValueError(
                    f"an xyz basemap needs a URL with {{z}}, {{x}} and {{y}}: {self.url!r}"
                )
        elif self.kind is BasemapKind.FOLDER:
            if self.path is None or not self.path.is_dir():
                raise ValueError(f"the basemap tile folder {self.path} does not exist")
        elif self.kind is BasemapKind.MBTILES and (self.path is None or not self.path.is_file()):
            raise ValueError(f"the MBTiles file {self.path} does not exist")
        if not 1 <= self.max_zoom <= 22:
            raise ValueError(f"basemap max_zoom must be between 1 and 22, not {self.max_zoom}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BasemapConfig:
        """Build from the JSON form (see the module docstring); unknown keys are an error."""
        known = {"kind", "url", "path", "datum", "attribution", "max_zoom"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown basemap setting(s) {unknown}; expected some of {sorted(known)}"
            )
        try:
            kind = BasemapKind(str(data.get("kind", "vector")).lower())
        except ValueError:
            raise ValueError(
                f"unknown basemap kind {data.get('kind')!r}; choose one of "
                + ", ".join(k.value for k in BasemapKind)
            ) from None
        datum_text = str(data.get("datum", "wgs84")).lower()
        datum = _DATUM_ALIASES.get(datum_text)
        if datum is None:
            try:
                datum = BasemapDatum(datum_text)
            except ValueError:
                raise ValueError(
                    f"unknown basemap datum {data.get('datum')!r}; choose wgs84, cgcs2000 or gcj02"
                ) from None
        path = data.get("path")
        return cls(
            kind=kind,
            url=str(data.get("url", "")),
            path=None if path is None else Path(str(path)).expanduser(),
            datum=datum,
            attribution=str(data.get("attribution", "")),
            max_zoom=int(data.get("max_zoom", 18)),
        )


def load_basemap(environ: dict[str, str] | None = None) -> BasemapConfig:
    """The configured basemap: the environment, then ``basemap.json``, then the settings."""
    env = os.environ if environ is None else environ
    text = env.get(BASEMAP_ENV, "").strip()
    source = BASEMAP_ENV
    if text and not text.startswith("{"):
        source = text
        text = Path(text).read_text(encoding="utf-8")
    elif not text:
        file = data_dir() / BASEMAP_FILE
        if not file.is_file():
            # load_settings already fell back to vector for a bad section, and reported it
            return BasemapConfig.from_dict(load_settings().settings.basemap.as_dict())
        source = str(file)
        text = file.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"basemap settings in {source} are not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"basemap settings in {source} must be a JSON object")
    return BasemapConfig.from_dict(data)
