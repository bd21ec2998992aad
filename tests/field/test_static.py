"""The hub serves the field app and the vendored Leaflet at /field/, and nothing else there."""

from __future__ import annotations

import re

import pytest

from console.hub.static import FIELD_APP_DIR
from tests.field.conftest import FieldHub


def body(hub: FieldHub, path: str) -> tuple[int, dict[str, str], bytes]:
    connection = hub.http()
    connection.request("GET", path)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def test_index_is_served_with_security_headers(field_hub: FieldHub) -> None:
    status, headers, data = body(field_hub, "/field/")
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert data == (FIELD_APP_DIR / "index.html").read_bytes()


def test_no_asset_comes_from_another_origin(field_hub: FieldHub) -> None:
    """Offline-first: no CDN; the Amap deep link is the only absolute http(s) URL."""
    for name in ("index.html", "app.js", "app.css", "link.js", "db.js", "geo.js", "i18n.js"):
        status, _, data = body(field_hub, f"/field/{name}")
        assert status == 200, name
        urls = re.findall(r"https?://[^\s\"'`?]+", data.decode())
        assert set(urls) <= {"https://uri.amap.com/marker"}, (name, urls)


def test_modules_have_a_javascript_type(field_hub: FieldHub) -> None:
    status, headers, _ = body(field_hub, "/field/app.js")
    assert status == 200
    assert headers["content-type"].startswith("text/javascript")


def test_vendored_leaflet_is_served(field_hub: FieldHub) -> None:
    status, headers, data = body(field_hub, "/field/vendor/leaflet/leaflet.js")
    assert status == 200
    assert headers["content-type"].startswith("text/javascript")
    assert b"Leaflet" in data[:2000]
    status, headers, _ = body(field_hub, "/field/vendor/leaflet/images/marker-icon.png")
    assert status == 200
    assert headers["content-type"] == "image/png"


def test_bare_path_redirects(field_hub: FieldHub) -> None:
    status, headers, _ = body(field_hub, "/field")
    assert status == 301
    assert headers["location"] == "/field/"


def test_etag_revalidation(field_hub: FieldHub) -> None:
    _, headers, _ = body(field_hub, "/field/app.css")
    connection = field_hub.http()
    connection.request("GET", "/field/app.css", headers={"If-None-Match": headers["etag"]})
    response = connection.getresponse()
    assert response.status == 304
    assert response.read() == b""
    connection.close()


@pytest.mark.parametrize(
    "path",
    [
        "/field/../server.py",
        "/field/%2e%2e/server.py",
        "/field/vendor/leaflet/../../../../hub/server.py",
        "/field/vendor/leaflet/%2e%2e/%2e%2e/map.js",
        "/field/.hidden",
        "/field/nope.js",
        "/field/vendor/leaflet/",
    ],
)
def test_nothing_outside_the_app_is_served(field_hub: FieldHub, path: str) -> None:
    status, headers, data = body(field_hub, path)
    assert status == 404, path
    assert b"no such file" in data
    assert headers["content-type"].startswith("text/plain")
