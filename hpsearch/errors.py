"""Client-side errors: each HTTP status of the controller comes back as the error of the
same name as the controller raised (`service.errors`), under one root."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = [
    "ApiError",
    "BadRequest",
    "Conflict",
    "ControllerUnreachable",
    "Forbidden",
    "HpsearchError",
    "Invalid",
    "NotFound",
    "RateLimited",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "error_for",
]


class HpsearchError(Exception):
    """The root of every error the client raises."""


class ControllerUnreachable(HpsearchError, ConnectionError):
    """No answer from the controller (refused, timed out, DNS)."""


class ApiError(HpsearchError):
    status = 0

    def __init__(self, status: int, detail: Any) -> None:
        self.status = status
        self.detail = detail
        super().__init__(f"{status}: {describe(detail)}")


class BadRequest(ApiError, ValueError): ...


class Unauthorized(ApiError, PermissionError): ...


class Forbidden(ApiError, PermissionError): ...


class NotFound(ApiError, LookupError): ...


class Conflict(ApiError): ...


class TooLarge(ApiError, ValueError): ...


class Invalid(ApiError, ValueError): ...


class RateLimited(ApiError):
    def __init__(self, status: int, detail: Any, retry_after: float) -> None:
        super().__init__(status, detail)
        self.retry_after = retry_after


class Unavailable(ApiError): ...


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    422: Invalid,
    503: Unavailable,
}


def describe(detail: Any) -> str:
    """One line: validation details as `loc: msg; ...`, anything else as text."""
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict) and "msg" in item:
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item['msg']}" if loc else str(item["msg"]))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)


def error_for(response: httpx.Response) -> ApiError:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text or response.reason_phrase
    if response.status_code == 429:
        retry_after = float(response.headers.get("Retry-After", "1") or 1)
        return RateLimited(429, detail, retry_after)
    cls = _BY_STATUS.get(response.status_code)
    if cls is None:
        cls = Unavailable if response.status_code >= 500 else ApiError
    return cls(response.status_code, detail)
