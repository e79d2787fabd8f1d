"""Who is calling: bearer tokens with scopes, and the FastAPI dependencies that check them.

Scopes: `admin` (everything), `user` (its own studies), `worker` (the work protocol only).
Tokens are random, shown once, stored as SHA-256 hashes. With `HPSEARCH_AUTH=off` (allowed
only on a loopback address) every caller is the local admin.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from service.context import Context
from service.errors import Forbidden, Unauthorized
from service.tables import TokenRow

__all__ = [
    "COOKIE",
    "CSRF_HEADER",
    "SCOPES",
    "AdminDep",
    "Authenticator",
    "ContextDep",
    "Principal",
    "UserDep",
    "WorkerDep",
    "hash_token",
    "new_token",
]

SCOPES = ("admin", "user", "worker")
CACHE_SECONDS = 5.0
TOKEN_PREFIX = "hps_"


@dataclass(frozen=True)
class Principal:
    name: str
    scope: str
    owner: str
    token_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.scope == "admin"

    def owns(self, owner: str) -> bool:
        return self.is_admin or owner == self.owner


LOCAL_ADMIN = Principal(name="local", scope="admin", owner="local")
BOOTSTRAP_ADMIN = Principal(name="admin", scope="admin", owner="admin")


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Authenticator:
    """Bearer token → Principal, with a short cache so the hot paths skip the lookup."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def authenticate(self, authorization: str | None) -> Principal:
        principal = self.known(authorization)
        if principal is not None:
            return principal
        digest = hash_token(_bearer(authorization))
        principal = self._lookup(digest)
        with self._lock:
            self._cache[digest] = (principal, time.monotonic() + CACHE_SECONDS)
        return principal

    def known(self, authorization: str | None) -> Principal | None:
        """The principal, when that needs no database read (auth off, the bootstrap admin
        token, a token looked up lately); None when it does. Raises on a malformed header."""
        if self.ctx.settings.auth == "off":
            return LOCAL_ADMIN
        token = _bearer(authorization)
        admin = self.ctx.settings.admin_token
        if admin and hmac.compare_digest(token.encode(), admin.encode()):
            return BOOTSTRAP_ADMIN
        with self._lock:
            cached = self._cache.get(hash_token(token))
        if cached and cached[1] > time.monotonic():
            return cached[0]
        return None

    def _lookup(self, digest: str) -> Principal:
        with self.ctx.sessions() as session:
            row = session.scalars(select(TokenRow).where(TokenRow.token_hash == digest)).first()
        if row is None or row.revoked_at is not None:
            raise Unauthorized("invalid or revoked token")
        return Principal(name=row.name, scope=row.scope, owner=row.owner, token_id=row.token_id)

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("this endpoint needs a token: Authorization: Bearer <token>")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("expected the header Authorization: Bearer <token>")
    return token.strip()


# The dependencies are coroutines: FastAPI runs a plain function dependency in its thread
# pool, a thread hand-off per dependency per request on the hot paths.
async def get_context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


COOKIE = "hpsearch_token"
CSRF_HEADER = "X-Hpsearch-Request"
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


async def get_principal(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    """From the bearer header; else from the dashboard's cookie, where a change also needs
    the `X-Hpsearch-Request` header (which another site's form or script cannot send)."""
    authenticator: Authenticator = request.app.state.authenticator
    cookie = request.cookies.get(COOKIE)
    if authorization is None and cookie and authenticator.ctx.settings.auth == "on":
        if request.method not in _SAFE_METHODS and not request.headers.get(CSRF_HEADER):
            raise Forbidden(
                f"a change made with the dashboard's cookie needs the {CSRF_HEADER} header"
            )
        authorization = f"Bearer {cookie}"
    principal = authenticator.known(authorization)
    if principal is None:  # a database read: in the thread pool
        principal = await run_in_threadpool(authenticator.authenticate, authorization)
    request.state.principal = principal
    return principal


def _require(*scopes: str):  # type: ignore[no-untyped-def]
    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.scope not in scopes:
            raise Forbidden(
                f"a {principal.scope} token cannot do this (needs {' or '.join(scopes)})"
            )
        return principal

    return check


ContextDep = Annotated[Context, Depends(get_context)]
AdminDep = Annotated[Principal, Depends(_require("admin"))]
UserDep = Annotated[Principal, Depends(_require("admin", "user"))]
WorkerDep = Annotated[Principal, Depends(_require("admin", "worker"))]
