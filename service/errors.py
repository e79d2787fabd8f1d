"""One error root for the controller, and the one place that maps errors to HTTP statuses.

Use cases raise these; `install_error_handlers` turns each into `{"detail": ...}` with its
status. The client (`hpsearch.errors`) maps statuses back into errors of the same names.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from search_spaces import SpecError, SpecInvalid
from service.tables import json_safe

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "Invalid",
    "NotFound",
    "RateLimited",
    "ServiceError",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "install_error_handlers",
]

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """The root of every error a use case raises on purpose."""

    status = 500

    def __init__(self, detail: Any) -> None:
        super().__init__(detail if isinstance(detail, str) else repr(detail))
        self.detail = detail

    def headers(self) -> dict[str, str] | None:
        return None


class BadRequest(ServiceError, ValueError):
    status = 400


class Unauthorized(ServiceError, PermissionError):
    status = 401

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(ServiceError, PermissionError):
    status = 403


class NotFound(ServiceError, LookupError):
    status = 404


class Conflict(ServiceError):
    status = 409


class TooLarge(ServiceError, ValueError):
    status = 413


class Invalid(ServiceError, ValueError):
    """422 with a list of `{loc, msg, type}` details, like FastAPI's own validation errors."""

    status = 422

    @classmethod
    def at(cls, loc: list[int | str], message: str) -> Invalid:
        return cls([{"loc": loc, "msg": message, "type": "value_error"}])

    @classmethod
    def from_spec(cls, exc: SpecError | SpecInvalid, prefix: tuple[str, ...] = ()) -> Invalid:
        details = exc.details if isinstance(exc, SpecInvalid) else [exc.as_detail()]
        return cls([{**d, "loc": [*prefix, *d["loc"]]} for d in details])


class RateLimited(ServiceError):
    status = 429

    def __init__(self, detail: str, retry_after: float) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, round(self.retry_after)))}


class Unavailable(ServiceError):
    status = 503


def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return JSONResponse(
        {"detail": json_safe(exc.detail)}, status_code=exc.status, headers=exc.headers()
    )


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": details}, status_code=422)


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(
        {"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None)
    )


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "internal error; see the controller's log"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
