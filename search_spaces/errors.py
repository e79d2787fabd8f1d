"""The spec language's errors, and one way to turn pydantic's into readable field paths."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

__all__ = ["SpecError", "describe_errors"]

_TAG_SEGMENTS = {"~range", "~constant", "~layer", "~repeat", "~residual", "~hypermodel"}
_RANGE_TYPES = {"int", "float", "categorical"}
# Pydantic's labels for the members of an undiscriminated union: `function-after[...]`, `list[...]`.
_UNION_MEMBER = re.compile(r"^[a-z][a-z-]*\[.*\]$")


class SpecError(ValueError):
    """A spec that parses but cannot work: `field` is the dotted path of the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    @property
    def loc(self) -> list[int | str]:
        return split_path(self.field)

    def as_detail(self) -> dict[str, Any]:
        return {"loc": self.loc, "msg": self.message, "type": "spec_error"}


_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def split_path(path: str) -> list[int | str]:
    """`model[3].filters` → `["model", 3, "filters"]`."""
    parts: list[int | str] = []
    for name, index in _SEGMENT.findall(path):
        parts.append(int(index) if index else name)
    return parts


def _clean_loc(loc: tuple[int | str, ...]) -> list[int | str]:
    cleaned: list[int | str] = []
    previous: int | str | None = None
    for part in loc:
        skip = part in _TAG_SEGMENTS or (previous == "~range" and part in _RANGE_TYPES)
        skip = skip or (isinstance(part, str) and _UNION_MEMBER.match(part) is not None)
        if not skip:
            cleaned.append(part)
        previous = part
    return cleaned


def _clean_message(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def describe_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors with internal union tags removed: `{loc, msg, type, input}` each."""
    details = []
    for error in exc.errors(include_url=False):
        cause = (error.get("ctx") or {}).get("error")
        loc = _clean_loc(tuple(error["loc"]))
        if isinstance(cause, SpecError):
            detail: dict[str, Any] = {"loc": [*loc, *cause.loc], "msg": cause.message}
            detail["type"] = "spec_error"
        else:
            detail = {"loc": loc, "msg": _clean_message(error["msg"]), "type": error["type"]}
        if "input" in error and _is_small(error["input"]):
            detail["input"] = error["input"]
        details.append(detail)
    return details


def _is_small(value: object) -> bool:
    return isinstance(value, bool | int | float | str | type(None)) and len(repr(value)) < 200
