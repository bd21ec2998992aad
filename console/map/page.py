"""The offline Leaflet page: rendered once with folium against vendored assets.

folium's stock ``Map`` pulls Leaflet, jQuery, Bootstrap and Font Awesome from CDNs, which an
enforcement centre's isolated network cannot reach. ``OfflineMap`` points folium at the files
vendored under ``assets/vendor`` (and at our ``map.js``/``map.css``) without touching folium's
module-level lists, so other folium users in the process keep their defaults. The page is built
once and written to a file: ``setHtml`` fails above 2 MB, and every later update goes through
the bridge instead of re-rendering (see bench/map_update.py for why).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import folium
from branca.element import MacroElement
from jinja2 import Template

from console.core.paths import data_dir

ASSETS_DIR = Path(__file__).with_name("assets")
VENDOR_DIR = ASSETS_DIR / "vendor"

# Taizhou (台州), the demo city; the page fits itself to the districts once the world arrives.
DEFAULT_CENTER = (28.66, 121.42)
DEFAULT_ZOOM = 10
MAX_ZOOM = 19

_EXTERNAL_URL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def _asset(relative: str) -> str:
    path = ASSETS_DIR / relative
    if not path.is_file():
        raise FileNotFoundError(f"map asset {relative} is missing from {ASSETS_DIR}")
    return path.as_uri()


class OfflineMap(folium.Map):
    """A folium map whose JS/CSS dependencies are all local ``file://`` URLs."""

    default_js: list[tuple[str, str]] = [  # noqa: RUF012 (folium's own attribute)
        ("leaflet", _asset("vendor/leaflet/leaflet.js")),
        ("leaflet_markercluster", _asset("vendor/leaflet.markercluster/leaflet.markercluster.js")),
        ("leaflet_heat", _asset("vendor/leaflet.heat/leaflet-heat.js")),
        ("leaflet_geoman", _asset("vendor/leaflet-geoman/leaflet-geoman.min.js")),
        ("qwebchannel", "qrc:///qtwebchannel/qwebchannel.js"),
        ("console_map", _asset("map.js")),
    ]
    default_css: list[tuple[str, str]] = [  # noqa: RUF012 (folium's own attribute)
        ("leaflet_css", _asset("vendor/leaflet/leaflet.css")),
        ("markercluster_css", _asset("vendor/leaflet.markercluster/MarkerCluster.css")),
        (
            "markercluster_default_css",
            _asset("vendor/leaflet.markercluster/MarkerCluster.Default.css"),
        ),
        ("leaflet_geoman_css", _asset("vendor/leaflet-geoman/leaflet-geoman.css")),
        ("console_map_css", _asset("map.css")),
    ]

    def __init__(self) -> None:
        super().__init__(
            location=DEFAULT_CENTER,
            zoom_start=DEFAULT_ZOOM,
            tiles=None,
            prefer_canvas=True,
            attribution_control=False,
        )
        # markercluster throws without a maxZoom when there is no tile layer to supply one
        self.options["maxZoom"] = MAX_ZOOM


class _AttachConsoleMap(MacroElement):
    """Hands folium's map object to map.js; rendered after the map (as its child)."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "window.consoleMap.attach({{ this._parent.get_name() }});"
        "{% endmacro %}"
    )

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "AttachConsoleMap"


def render_page(circle_markers: Iterable[tuple[float, float]] = ()) -> str:
    """Render the page's HTML; ``circle_markers`` (lon, lat) are baked in by folium.

    The console passes no markers (it adds layers through the bridge); the benchmark bakes
    them in to measure the regenerate-and-reload alternative.
    """
    fmap = OfflineMap()
    for lon, lat in circle_markers:
        folium.CircleMarker(location=(lat, lon), radius=4, weight=1).add_to(fmap)
    _AttachConsoleMap().add_to(fmap)
    html: str = fmap.get_root().render()
    external = external_urls(html)
    if external:
        raise RuntimeError(f"the offline map page would load external URLs: {external}")
    return html


def external_urls(html: str) -> list[str]:
    """``src``/``href`` attributes in ``html`` that point at the network (http, https, //)."""
    return [html[m.start() : html.find(">", m.start())] for m in _EXTERNAL_URL.finditer(html)]


def write_page(
    target: Path | None = None, circle_markers: Iterable[tuple[float, float]] = ()
) -> Path:
    """Write the page to ``target`` (default: ``map/console_map.html`` in the data dir)."""
    if target is None:
        target = data_dir() / "map" / "console_map.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_page(circle_markers), encoding="utf-8")
    return target
