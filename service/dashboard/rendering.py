"""Rendering dashboard pages: the Jinja2 environment (autoescaped), its filters, and the
security headers every page carries.

Pages hold no inline script: the page's data travels in `<script type="application/json">`
blocks that `dashboard.js` (served from this origin) reads, so the CSP allows scripts from
'self' only. Styles allow 'unsafe-inline' because Plotly sets style attributes as it draws.
"""

from __future__ import annotations

import datetime
import functools
import math
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from service.dashboard.access import auth_is_on
from service.dashboard.assets import plotly_version

__all__ = ["PAGE_HEADERS", "TEMPLATES_DIR", "render_page", "script_json"]

TEMPLATES_DIR = Path(str(resources.files("service.dashboard") / "templates"))

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_JSON_IN_HTML = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def script_json(text: str) -> Markup:
    """JSON text made safe inside a `<script type="application/json">` block (the three
    characters can only occur inside JSON strings, where their escapes mean the same)."""
    return Markup(text.translate(_JSON_IN_HTML))


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def number(value: Any, digits: int = 4) -> str:
    """A metric for reading: 4 significant digits; NaN, infinities and text as they are."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}g}"


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} s" if value < 600 else f"{value / 60:.1f} min"


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(clock=clock, ago=ago, number=number, seconds=seconds)
    env.globals.update(plotly_version=plotly_version())
    return env


def render_page(
    request: Request, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A page from `template`, with the principal and the security headers."""
    principal = getattr(request.state, "principal", None)
    html = (
        environment()
        .get_template(template)
        .render(principal=principal, auth_on=auth_is_on(request), **context)
    )
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)
