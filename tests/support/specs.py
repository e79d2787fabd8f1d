"""Study specs for tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

CANONICAL = Path(__file__).resolve().parents[2] / "search_spaces" / "examples" / "digits_cnn.yaml"


def canonical_text() -> str:
    return CANONICAL.read_text()


def spec(**overrides: Any) -> dict[str, Any]:
    """The canonical digits spec as a dict, with top-level fields overridden."""
    data: dict[str, Any] = yaml.safe_load(canonical_text())
    data = copy.deepcopy(data)
    data.update(overrides)
    return data
