"""Reading a spec from YAML or JSON text, refusing duplicate keys instead of keeping the last."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from search_spaces.errors import SpecError, describe_errors
from search_spaces.spec import StudySpec

__all__ = ["SpecInvalid", "load_spec", "parse_spec_text", "validate_spec"]

MAX_SPEC_BYTES = 256 * 1024


class SpecInvalid(ValueError):
    """A spec refused: `details` are `{loc, msg, type}` entries, one per problem."""

    def __init__(self, details: list[dict[str, Any]]) -> None:
        self.details = details
        super().__init__("; ".join(_one_line(d) for d in details))


def _one_line(detail: dict[str, Any]) -> str:
    loc = ".".join(str(part) for part in detail["loc"]) or "spec"
    return f"{loc}: {detail['msg']}"


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a mapping naming the same key twice."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise SpecError(
                str(key), f"duplicate key {key!r} (line {key_node.start_mark.line + 1})"
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise SpecError(key, f"duplicate key {key!r}")
        result[key] = value
    return result


def parse_spec_text(text: str | bytes, media_type: str = "application/yaml") -> Any:
    """Parse YAML (the default) or JSON (`media_type` ending in json) into plain data."""
    if len(text) > MAX_SPEC_BYTES:
        raise SpecInvalid([_detail([], f"the spec is larger than {MAX_SPEC_BYTES} bytes")])
    try:
        if media_type.endswith("json"):
            return json.loads(text, object_pairs_hook=_unique_pairs)
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except SpecError as exc:
        raise SpecInvalid([exc.as_detail()]) from None
    except (yaml.YAMLError, ValueError) as exc:
        kind = "JSON" if media_type.endswith("json") else "YAML"
        message = str(exc).replace("\n", " ")
        raise SpecInvalid([_detail([], f"not valid {kind}: {message}")]) from None


def validate_spec(data: Any) -> StudySpec:
    """A StudySpec from plain data; SpecInvalid lists every problem with its field."""
    if not isinstance(data, dict):
        raise SpecInvalid(
            [_detail([], f"expected a mapping of spec fields, got {type(data).__name__}")]
        )
    try:
        return StudySpec.model_validate(data)
    except ValidationError as exc:
        raise SpecInvalid(describe_errors(exc)) from None
    except SpecError as exc:
        raise SpecInvalid([exc.as_detail()]) from None


def load_spec(path: str | Path) -> StudySpec:
    file = Path(path)
    media = "application/json" if file.suffix == ".json" else "application/yaml"
    return validate_spec(parse_spec_text(file.read_text(), media))


def _detail(loc: list[int | str], message: str) -> dict[str, Any]:
    return {"loc": loc, "msg": message, "type": "spec_error"}
