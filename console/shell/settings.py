"""Typed, versioned console settings, kept as ``settings.json`` in the data dir.

The file is read field by field: a bad value (wrong type, out of range, unknown key) costs
only that field, which falls back to its default, and every such fallback is reported as a
``SettingsProblem`` naming the field, so the console can tell the user instead of crashing or
silently resetting. A file that is not JSON at all is reported the same way and is kept as
``settings.json.bad`` before the first save overwrites it. Older file versions are migrated
on load (``MIGRATIONS``); the file is written back in the current version only on save.

This module has no Qt: the CLI and the self-test read settings without a GUI.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from console.core.paths import data_dir

SETTINGS_FILE = "settings.json"
SETTINGS_VERSION = 2

Language = Literal["zh_CN", "en"]
BasemapKindName = Literal["vector", "xyz", "folder", "mbtiles"]
DatumName = Literal["wgs84", "cgcs2000", "gcj02"]
LayoutName = Literal["1", "4", "9", "16"]


class BasemapSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The tile source under the map's overlays (see ``console.map.basemap``)."""

    kind: BasemapKindName = "vector"
    url: str = ""
    path: str = ""
    datum: DatumName = "wgs84"
    attribution: str = ""
    max_zoom: Annotated[int, msgspec.Meta(ge=1, le=22)] = 18

    def as_dict(self) -> dict[str, Any]:
        """The JSON form ``console.map.basemap.BasemapConfig.from_dict`` takes."""
        data: dict[str, Any] = msgspec.to_builtins(self)
        if not self.path:
            del data["path"]
        return data

    def inconsistency(self) -> str | None:
        """Why the fields do not fit together (checked here: the shell cannot import the map)."""
        if self.kind == "xyz" and not all(p in self.url for p in ("{z}", "{x}", "{y}")):
            return f"an xyz basemap needs a URL with {{z}}, {{x}} and {{y}}, not {self.url!r}"
        if self.kind == "folder" and not (self.path and Path(self.path).expanduser().is_dir()):
            return f"the tile folder {self.path!r} does not exist"
        if self.kind == "mbtiles" and not (self.path and Path(self.path).expanduser().is_file()):
            return f"the MBTiles file {self.path!r} does not exist"
        return None


class SeveritySounds(msgspec.Struct, frozen=True, kw_only=True):
    """Which alarm severities (``console.monitoring.alarms.Severity``) play a sound."""

    info: bool = False
    warning: bool = True
    critical: bool = True


class AlarmSoundSettings(msgspec.Struct, frozen=True, kw_only=True):
    enabled: bool = True
    volume: Annotated[int, msgspec.Meta(ge=0, le=100)] = 70
    severities: SeveritySounds = msgspec.field(default_factory=SeveritySounds)


class VideoWallSettings(msgspec.Struct, frozen=True, kw_only=True):
    screen: Annotated[int, msgspec.Meta(ge=0, le=15)] = 0
    layout: LayoutName = "4"
    tour_seconds: Annotated[float, msgspec.Meta(ge=3, le=3600)] = 20.0


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the user can set; defaults are a working single-seat console."""

    version: int = SETTINGS_VERSION
    hub_url: str = ""
    """Websocket URL of a centre's hub; empty: start an embedded hub on ``db_url``."""
    db_url: str = ""
    """Database of the embedded hub (and of ``hub``); empty: SQLite in the data dir."""
    language: Language = "zh_CN"
    basemap: BasemapSettings = msgspec.field(default_factory=BasemapSettings)
    alarm_sounds: AlarmSoundSettings = msgspec.field(default_factory=AlarmSoundSettings)
    video_wall: VideoWallSettings = msgspec.field(default_factory=VideoWallSettings)


@dataclass(frozen=True, slots=True)
class SettingsProblem:
    """One value that could not be used; ``field`` is dotted (``basemap.max_zoom``)."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass(frozen=True, slots=True)
class LoadedSettings:
    settings: Settings
    problems: tuple[SettingsProblem, ...]
    path: Path


def settings_path() -> Path:
    return data_dir() / SETTINGS_FILE


# ---- validation ----------------------------------------------------------------------

S = TypeVar("S", bound=msgspec.Struct)


def _decode_struct(cls: type[S], data: object, prefix: str, problems: list[SettingsProblem]) -> S:
    """Build ``cls`` from ``data`` keeping every good field; bad ones default and are reported."""
    if not isinstance(data, dict):
        problems.append(
            SettingsProblem(
                prefix, f"must be a JSON object, not {type(data).__name__}; using the defaults"
            )
        )
        return cls()
    known = {f.encode_name: f for f in msgspec.structs.fields(cls)}
    for key in sorted(set(data) - set(known)):
        problems.append(SettingsProblem(_join(prefix, str(key)), "unknown setting, ignored"))
    values: dict[str, Any] = {}
    for name, info in known.items():
        if name not in data:
            continue
        path = _join(prefix, name)
        value = data[name]
        if isinstance(info.type, type) and issubclass(info.type, msgspec.Struct):
            values[info.name] = _decode_struct(info.type, value, path, problems)
            continue
        try:
            values[info.name] = msgspec.convert(value, type=info.type, strict=True)
        except msgspec.ValidationError as exc:
            default = info.default if info.default is not msgspec.NODEFAULT else None
            problems.append(
                SettingsProblem(
                    path,
                    f"{_describe(exc)} (found {json.dumps(value, ensure_ascii=False)}); "
                    f"using the default {json.dumps(default, ensure_ascii=False)}",
                )
            )
    return cls(**values)


def _describe(exc: msgspec.ValidationError) -> str:
    """msgspec's message without its ``- at `$...``` suffix (we name the field ourselves)."""
    return str(exc).split(" - at ", 1)[0]


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def validate(data: object) -> tuple[Settings, list[SettingsProblem]]:
    """Settings from a decoded JSON value (already migrated), plus what had to be dropped."""
    problems: list[SettingsProblem] = []
    settings = _decode_struct(Settings, data, "", problems)
    inconsistency = settings.basemap.inconsistency()
    if inconsistency is not None:
        problems.append(SettingsProblem("basemap", f"{inconsistency}; using the vector basemap"))
        settings = msgspec.structs.replace(settings, basemap=BasemapSettings())
    if settings.hub_url and not settings.hub_url.startswith(("ws://", "wss://")):
        problems.append(
            SettingsProblem(
                "hub_url",
                f"must start with ws:// or wss:// (found {settings.hub_url!r}); "
                "using the embedded hub",
            )
        )
        settings = msgspec.structs.replace(settings, hub_url="")
    return msgspec.structs.replace(settings, version=SETTINGS_VERSION), problems


def check(settings: Settings) -> list[SettingsProblem]:
    """Problems of settings built in code (the dialog) before they are saved."""
    _validated, problems = validate(msgspec.to_builtins(settings))
    return problems


# ---- migration -----------------------------------------------------------------------


def _from_v1(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 had ``hub`` / ``lang`` and a boolean ``alarm_sound``."""
    out = {k: v for k, v in data.items() if k not in ("hub", "lang", "alarm_sound")}
    if "hub" in data:
        out["hub_url"] = data["hub"]
    if "lang" in data:
        out["language"] = data["lang"]
    if "alarm_sound" in data:
        out["alarm_sounds"] = {"enabled": data["alarm_sound"]}
    return out


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _from_v1}
"""``version -> function`` turning that version's dict into the next version's."""


def migrate(data: dict[str, Any]) -> tuple[dict[str, Any], list[SettingsProblem]]:
    """Bring an older file's dict to ``SETTINGS_VERSION``; a newer or bad version is reported."""
    version = data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return data, [
            SettingsProblem(
                "version",
                f"must be a positive integer, not {version!r}; "
                "reading the file as the current version",
            )
        ]
    if version > SETTINGS_VERSION:
        return data, [
            SettingsProblem(
                "version",
                f"the file is version {version}, newer than this console "
                f"(version {SETTINGS_VERSION}); settings it does not know are ignored",
            )
        ]
    while version < SETTINGS_VERSION:
        data = MIGRATIONS[version](data)
        version += 1
    return data, []


# ---- file ----------------------------------------------------------------------------


def load_settings(path: Path | None = None) -> LoadedSettings:
    """Read the settings file (defaults when it does not exist); never raises for bad content."""
    path = settings_path() if path is None else path
    if not path.is_file():
        return LoadedSettings(Settings(), (), path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problem = SettingsProblem(
            "", f"{path} could not be read ({exc}); using the default settings"
        )
        return LoadedSettings(Settings(), (problem,), path)
    if not isinstance(data, dict):
        problem = SettingsProblem(
            "", f"{path} must hold a JSON object, not {type(data).__name__}; using the defaults"
        )
        return LoadedSettings(Settings(), (problem,), path)
    data, problems = migrate(data)
    settings, more = validate(data)
    return LoadedSettings(settings, tuple(problems + more), path)


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write ``settings`` atomically; a file that could not be read is kept as ``*.bad``.

    Raises ValueError listing the problems if ``settings`` would not load back unchanged.
    """
    problems = check(settings)
    if problems:
        raise ValueError("invalid settings: " + "; ".join(str(p) for p in problems))
    path = settings_path() if path is None else path
    if path.is_file() and load_settings(path).problems:
        path.replace(path.with_name(path.name + ".bad"))
    text = json.dumps(msgspec.to_builtins(settings), ensure_ascii=False, indent=2)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
