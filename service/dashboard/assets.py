"""The dashboard's CSS and JavaScript, and plotly.js from the installed `plotly` package:
nothing comes from a CDN, so the dashboard works offline."""

from __future__ import annotations

import functools
import gzip
from importlib import metadata, resources
from pathlib import Path

from fastapi.responses import FileResponse, Response

from service.errors import NotFound

__all__ = ["PLOTLY_MEDIA_TYPE", "plotly_response", "plotly_version", "static_response"]

STATIC_DIR = Path(str(resources.files("service.dashboard") / "static"))
STATIC_FILES = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
}
PLOTLY_MEDIA_TYPE = "text/javascript; charset=utf-8"
# plotly.js is addressed with its version (`?v=`), so a browser may keep it for a year.
LONG_CACHE = "public, max-age=31536000, immutable"


@functools.cache
def plotly_version() -> str:
    return metadata.version("plotly")


@functools.cache
def _plotly_bundle() -> tuple[bytes, bytes]:
    """plotly.min.js as shipped (about 5 MB), and gzipped once for the browsers that ask."""
    raw = (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    return raw, gzip.compress(raw, compresslevel=6)


def plotly_response(accept_encoding: str) -> Response:
    raw, packed = _plotly_bundle()
    headers = {
        "Cache-Control": LONG_CACHE,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if "gzip" in accept_encoding.lower():
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type=PLOTLY_MEDIA_TYPE, headers=headers)
    return Response(raw, media_type=PLOTLY_MEDIA_TYPE, headers=headers)


def static_response(name: str) -> FileResponse:
    """One of the dashboard's own files, by name from a fixed list (no paths, no listing)."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise NotFound(f"there is no dashboard file {name!r}")
    return FileResponse(
        STATIC_DIR / name,
        media_type=media_type,
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )
