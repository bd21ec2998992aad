"""``console wall`` takes the screen, layout and tour interval it is not given from the settings."""

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
    save_settings(Settings(video_wall=VideoWallSettings(screen=1, layout="16", tour_seconds=45.0)))
    args = _parse([])
    wall.apply_wall_settings(args, load_settings().settings.video_wall)
    assert (args.screen, args.layout, args.tour) == (1, "16", 45.0)


def test_command_line_options_win_over_the_settings(isolated_home: Path) -> None:
    save_settings(Settings(video_wall=VideoWallSettings(screen=1, layout="16", tour_seconds=45.0)))
    args = _parse(["--screen", "0", "--layout", "2x3", "--tour", "7.5"])
    wall.apply_wall_settings(args, load_settings().settings.video_wall)
    assert (args.screen, args.layout, args.tour) == (0, "2x3", 7.5)


def test_without_a_settings_file_the_defaults_apply(isolated_home: Path) -> None:
    args = _parse([])
    wall.apply_wall_settings(args, load_settings().settings.video_wall)
    assert (args.screen, args.layout, args.tour) == (0, "4", 20.0)
