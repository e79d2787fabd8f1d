"""Who is looking at a dashboard page, and logging in and out.

Pages read the `hpsearch_token` cookie (or a bearer header, for scripts). A page request
without a valid admin or user token is sent to `/login`, which checks the token with the
app's Authenticator and sets the cookie: HttpOnly (page scripts never see it),
SameSite=Strict (another site's links and forms do not carry it), Path=/. Changes made
with that cookie through the REST API also need the `X-Hpsearch-Request` header
(`service.auth.get_principal`), which another site cannot send.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, HTTPException, Request, Response

from service.auth import COOKIE, Authenticator, Principal
from service.errors import Forbidden, Unauthorized

__all__ = [
    "PAGE_SCOPES",
    "PageUserDep",
    "auth_is_on",
    "forget_login",
    "log_in",
    "page_principal",
    "remember_login",
    "safe_next",
    "same_origin",
]

PAGE_SCOPES = ("admin", "user")


def _authenticator(request: Request) -> Authenticator:
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator


def auth_is_on(request: Request) -> bool:
    return _authenticator(request).ctx.settings.auth == "on"


def page_principal(request: Request) -> Principal | None:
    """The caller from the bearer header or the cookie; None when neither is a valid
    admin or user token (with auth off, everyone is the local admin)."""
    header = request.headers.get("authorization")
    cookie = request.cookies.get(COOKIE)
    credentials = header or (f"Bearer {cookie}" if cookie else None)
    try:
        principal = _authenticator(request).authenticate(credentials)
    except Unauthorized:
        return None
    return principal if principal.scope in PAGE_SCOPES else None


def require_page_user(request: Request) -> Principal:
    """The page's principal, or a 303 to the login form that comes back here afterwards."""
    principal = page_principal(request)
    if principal is None:
        target = quote(request.url.path, safe="/")
        raise HTTPException(status_code=303, headers={"Location": f"/login?next={target}"})
    request.state.principal = principal
    return principal


PageUserDep = Annotated[Principal, Depends(require_page_user)]


def log_in(request: Request, token: str) -> Principal:
    """The principal of a token typed into the login form: admin or user scope only."""
    principal = _authenticator(request).authenticate(f"Bearer {token.strip()}")
    if principal.scope not in PAGE_SCOPES:
        raise Forbidden(f"a {principal.scope} token cannot open the dashboard")
    return principal


def remember_login(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token.strip(),
        httponly=True,
        samesite="strict",
        path="/",
        secure=request.url.scheme == "https",
    )


def forget_login(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site, never another site."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def same_origin(request: Request) -> bool:
    """False when the browser says the form was posted from another site."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host")
