"""Measure: moving 10,000 officer markers through the bridge vs regenerating the folium page.

(a) one ``move_officers`` call with 10,000 moves, repeated; time until the page reports the
    batch painted (two animation frames after applying it); median per batch. Afterwards the
    officer canvas is read back at the last officer's place to prove it was really drawn.
(b) render the folium page with the same 10,000 markers baked in, write it, load it; time
    until the new page is ready and has painted; median of a few runs.
(c) first render of the Taizhou demo world (9 districts, ~11,000 grids, 330 enterprises,
    18 squads): from ``show()`` of a new map window until the world batch is painted.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python bench/map_update.py [--markers N]``
(as root also ``QTWEBENGINE_DISABLE_SANDBOX=1``). Prints one JSON line per measurement and
a final ``map_update: N ms per 10k batch (Rx faster than re-render)`` line. ``--no-world``
skips (c) (building the demo world takes a few seconds). Each JSON line carries the load
average: the machine is shared and wall-clock figures mean little without it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QEventLoop, QTimer, QUrl
from PySide6.QtWidgets import QApplication

from console.map.page import write_page
from console.map.view import MapView

TIMEOUT_S = 60.0


def wait_for(predicate: Callable[[], bool]) -> None:
    """Run the event loop until ``predicate`` holds (checked every few ms)."""
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(2)
    deadline = time.monotonic() + TIMEOUT_S

    def check() -> None:
        if predicate():
            loop.quit()
        elif time.monotonic() > deadline:
            loop.exit(1)

    timer.timeout.connect(check)
    timer.start()
    if not predicate() and loop.exec() != 0:
        raise TimeoutError(f"the map did not answer within {TIMEOUT_S:.0f} s")
    timer.stop()


def random_positions(rng: random.Random, count: int) -> list[tuple[float, float, float]]:
    """(lon, lat, heading) per officer, scattered over Taizhou."""
    return [
        (rng.uniform(120.9, 121.7), rng.uniform(28.3, 29.1), rng.uniform(0, 360))
        for _ in range(count)
    ]


def bridge_batches(view: MapView, count: int, repeats: int) -> list[float]:
    """Seconds per batch of ``count`` moves, from the Python call until painted."""
    rng = random.Random(212)
    bridge = view.bridge
    times = []
    for _ in range(repeats + 1):  # the first batch creates the markers: not a move
        moves = [
            {"id": f"O{n}", "lon": lon, "lat": lat, "heading": heading}
            for n, (lon, lat, heading) in enumerate(random_positions(rng, count))
        ]
        target = bridge.sent_seq + 1
        start = time.perf_counter()
        view.move_officers(moves)
        wait_for(lambda: bridge.rendered_seq >= target)  # noqa: B023 (waited on right here)
        times.append(time.perf_counter() - start)
    last = moves[-1]  # drawn last, so on top: its centre must show on the canvas
    if query(view, "officer_pixel", *query(view, "point_of", last["lon"], last["lat"]))[3] != 255:
        raise RuntimeError("the page reported the batch painted but the officer is not there")
    return times[1:]


def query(view: MapView, name: str, *args: Any) -> Any:
    """The page's answer to ``consoleMap.query(name, *args)``."""
    answer: list[Any] = []
    view.bridge.query(name, list(args), answer.append)
    wait_for(lambda: bool(answer))
    return answer[0]


def rerender(view: MapView, directory: Path, count: int, run: int) -> float:
    """Seconds to regenerate the folium page with ``count`` markers, load and paint it."""
    markers = [(lon, lat) for lon, lat, _ in random_positions(random.Random(run), count)]
    bridge = view.bridge
    start = time.perf_counter()
    path = write_page(directory / f"rerender_{run}.html", markers)
    view.web_view.load(QUrl.fromLocalFile(str(path)))
    wait_for(lambda: not bridge.ready)
    wait_for(lambda: bridge.ready)
    target = bridge.sent_seq + 1
    view.set_layer_visible("officers", True)  # one trivial batch: its "painted" ends the run
    wait_for(lambda: bridge.rendered_seq >= target)
    return time.perf_counter() - start


def first_world_render(page: Path) -> float:
    """Seconds from showing a new map with the demo world's snapshot until it is painted."""
    from console.hub.snapshot import build_snapshot
    from console.store.demo_world import build_demo_world

    snapshot = build_snapshot(build_demo_world("331000", seed=0))
    view = MapView(page_path=page)
    view.resize(1280, 800)
    view.set_snapshot(snapshot)
    start = time.perf_counter()
    view.show()
    wait_for(lambda: view.bridge.ready and view.bridge.rendered_seq >= 1)
    elapsed = time.perf_counter() - start
    view.close()
    view.deleteLater()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markers", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--reloads", type=int, default=3)
    parser.add_argument("--no-world", action="store_true", help="skip the demo-world render")
    args = parser.parse_args(argv)
    if args.markers < 1 or args.repeats < 1 or args.reloads < 1:
        parser.error("--markers, --repeats and --reloads must be positive")

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    with tempfile.TemporaryDirectory(prefix="map_bench_") as tmp:
        os.environ.setdefault("ENFORCEMENT_CONSOLE_HOME", tmp)
        app = QApplication.instance() or QApplication(sys.argv)
        view = MapView(page_path=write_page(Path(tmp) / "console_map.html"))
        view.resize(1280, 800)
        view.show()  # hidden pages get no animation frames
        wait_for(lambda: view.bridge.ready)

        batches = bridge_batches(view, args.markers, args.repeats)
        bridge_ms = statistics.median(batches) * 1000
        print(
            json.dumps(
                {
                    "measure": "bridge_batch",
                    "markers": args.markers,
                    "median_ms": round(bridge_ms, 1),
                    "all_ms": [round(t * 1000, 1) for t in batches],
                    "loadavg": os.getloadavg(),
                }
            )
        )
        reloads = [rerender(view, Path(tmp), args.markers, run) for run in range(args.reloads)]
        reload_ms = statistics.median(reloads) * 1000
        print(
            json.dumps(
                {
                    "measure": "folium_rerender",
                    "markers": args.markers,
                    "median_ms": round(reload_ms, 1),
                    "all_ms": [round(t * 1000, 1) for t in reloads],
                    "loadavg": os.getloadavg(),
                }
            )
        )
        view.close()
        view.deleteLater()
        if not args.no_world:
            world_s = first_world_render(Path(tmp) / "console_map.html")
            world = {"measure": "first_world_render", "ms": round(world_s * 1000, 1)}
            print(json.dumps({**world, "loadavg": os.getloadavg()}))
        # the page must be gone before the shared profile dies with the application
        app.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
        per_10k = bridge_ms * 10_000 / args.markers
        print(
            f"map_update: {per_10k:.0f} ms per 10k batch "
            f"({reload_ms / bridge_ms:.0f}x faster than re-render)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
