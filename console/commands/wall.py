"""``python -m console wall [--hub URL] [--screen N] [--layout 3x3] [--user U]``: the video wall.

A wall is one more console seat: it logs in to the hub (an embedded one on --db without
--hub), then shows a full-screen ``WallWindow`` on the chosen screen. Layouts are 1, 4, 9,
16, ROWSxCOLS, a JSON spec, or the name of a layout saved in the hub (``wall.layouts``).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from typing import Any

from console.core.paths import default_db_url
from console.shell.settings import VideoWallSettings, load_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hub", metavar="URL", help="hub URL (default: embedded hub on --db)")
    parser.add_argument("--db", metavar="URL", help="database of the embedded hub")
    parser.add_argument("--screen", type=int, help="screen index (default: from the settings)")
    parser.add_argument(
        "--layout",
        help="1, 4, 9, 16, ROWSxCOLS, JSON spec or saved layout name (default: from the settings)",
    )
    parser.add_argument(
        "--tour", type=float, help="tour interval in seconds (default: from the settings)"
    )
    parser.add_argument("--no-tour", action="store_true", help="do not start the tour")
    parser.add_argument("--windowed", action="store_true", help="a normal window, not full screen")
    parser.add_argument("--user", default="", help="username (the login dialog asks otherwise)")
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first stdin line"
    )
    parser.add_argument("--seat", default="", help="seat name (default: host name + '-wall')")
    parser.add_argument(
        "--lang", choices=("zh_CN", "en"), default=None, help="UI language (default: settings)"
    )


def apply_wall_settings(
    args: argparse.Namespace, wall: VideoWallSettings, language: str = "zh_CN"
) -> None:
    """Fill --screen, --layout, --tour and --lang left out on the command line from the
    settings (the wall speaks the language the console was set to)."""
    if args.lang is None:
        args.lang = language
    if args.screen is None:
        args.screen = wall.screen
    if args.layout is None:
        args.layout = wall.layout
    if args.tour is None:
        args.tour = wall.tour_seconds


def run(args: argparse.Namespace) -> int:
    # Qt only for this command: imported here so ``python -m console --help`` stays light.
    from PySide6.QtWidgets import QApplication, QDialog

    from console.hub.embedded import EmbeddedHub
    from console.shell.controller import SessionController
    from console.shell.hub_link import HubLink
    from console.shell.i18n import install_qt_translator, set_language
    from console.shell.login import LoginDialog
    from console.shell.media_log import quiet_libav
    from console.shell.session import Session
    from console.video import VIDEO_TOPICS, WallWindow
    from console.video.layout import LayoutError, parse_layout

    settings = load_settings().settings
    apply_wall_settings(args, settings.video_wall, settings.language)
    if args.hub and args.db:
        return _fail("--db only applies to the embedded hub; drop it when using --hub")
    if args.tour <= 0:
        return _fail("--tour must be positive")
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else ""
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    quiet_libav()
    set_language(args.lang)
    install_qt_translator(app)
    screens = app.screens()
    if not 0 <= args.screen < len(screens):
        return _fail(f"no screen {args.screen}: this machine has {len(screens)} screen(s)")
    embedded = None if args.hub else EmbeddedHub(args.db or default_db_url())
    link: HubLink | None = None
    window: WallWindow | None = None
    try:
        url = args.hub or (embedded.start() if embedded is not None else "")
        link = HubLink(url)
        session = Session()
        controller = SessionController(session, link)
        controller.start()
        link.subscribe(list(VIDEO_TOPICS))
        seat = args.seat or f"{socket.gethostname()}-wall"
        dialog = LoginDialog(link, seat, args.user)
        if args.user and password:
            dialog.password.setText(password)
            dialog.submit()
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return 1
        try:
            layout = parse_layout(args.layout)
            saved = None
        except LayoutError:
            layout, saved = parse_layout("9"), args.layout
        window = WallWindow(session, layout=layout, tour_interval_s=args.tour)
        if saved is not None:
            _apply_saved_layout(link, window, saved)
        if not args.no_tour:
            window.wall.start_tour()
        window.show_on_screen(args.screen, full_screen=not args.windowed)
        return app.exec()
    finally:
        if window is not None:
            window.close()
        if link is not None:
            link.close()
        if embedded is not None:
            embedded.stop()


def _apply_saved_layout(link: Any, window: Any, name: str) -> None:
    """Look ``name`` up in the hub's saved layouts; an unknown name is reported and ignored."""
    from console.video.layout import layout_from_spec

    def found(layouts: list[dict[str, Any]]) -> None:
        for item in layouts:
            if item["name"] == name:
                window.wall.set_layout(layout_from_spec(item["spec"]))
                return
        print(json.dumps({"error": f"no saved wall layout {name!r}"}), file=sys.stderr)

    link.request("wall.layouts", on_result=found)


def _fail(message: str) -> int:
    print(json.dumps({"error": message}), file=sys.stderr)
    return 2
