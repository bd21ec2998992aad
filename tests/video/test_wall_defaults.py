"""``console wall`` takes the screen, layout, tour interval and language it is not given from the
settings."""

from __future__ import annotations

import argparse
from pathlib import Path

from console.commands import wall
from console.shell.settings import Settings, VideoWallSettings, load_settings, save_settings


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    wall.add_arguments(parser)
    return parser.parse_args(argv)


def test_missing_options_come_from_the_saved_settings(isolated_home: Path) -> None:
    save_settings(
        Settings(
            language="en",
            video_wall=VideoWallSettings(screen=1, layout="16", tour_seconds=45.0),
        )
    )
    args = _parse([])
    settings = load_settings().settings
    wall.apply_wall_settings(args, settings.video_wall, settings.language)
    assert (args.screen, args.layout, args.tour, args.lang) == (1, "16", 45.0, "en")


def test_command_line_options_win_over_the_settings(isolated_home: Path) -> None:
    save_settings(Settings(video_wall=VideoWallSettings(screen=1, layout="16", tour_seconds=45.0)))
    args = _parse(["--screen", "0", "--layout", "2x3", "--tour", "7.5", "--lang", "zh_CN"])
    wall.apply_wall_settings(args, load_settings().settings.video_wall, "en")
    assert (args.screen, args.layout, args.tour, args.lang) == (0, "2x3", 7.5, "zh_CN")


def test_without_a_settings_file_the_defaults_apply(isolated_home: Path) -> None:
    args = _parse([])
    settings = load_settings().settings
    wall.apply_wall_settings(args, settings.video_wall, settings.language)
    assert (args.screen, args.layout, args.tour, args.lang) == (0, "4", 20.0, "zh_CN")
