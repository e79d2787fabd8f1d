"""Controller settings, read from `HPSEARCH_*` environment variables in one place.

`Settings.from_env()` is called by the process entry point (`hpsearch serve`), never at
import time; tests build `Settings(...)` directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["ENV_PREFIX", "Settings"]

ENV_PREFIX = "HPSEARCH_"
DEFAULT_HOME = Path(".hpsearch")


class Settings(BaseModel):
    """Every knob of the controller; each maps to `HPSEARCH_<NAME>` (upper case)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_HOME / 'hpsearch.db'}",
        description="SQLAlchemy URL: sqlite:///FILE or postgresql+psycopg://USER@HOST/DB.",
    )
    artifact_dir: Path = Field(default=DEFAULT_HOME / "artifacts")
    lease_seconds: float = Field(default=60.0, gt=0, le=86_400)
    reaper_interval: float = Field(default=5.0, gt=0, le=3600)
    retry_budget: int = Field(default=2, ge=0, le=100, description="Re-queues per trial.")
    failure_streak: int = Field(
        default=5, ge=0, le=10_000, description="Failed trials in a row pausing a study (0: off)."
    )
    auth: Literal["on", "off"] = "on"
    admin_token: str | None = Field(
        default=None, min_length=16, description="Bootstrap admin token (a secret)."
    )
    bind_host: str = "127.0.0.1"
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_upload_bytes: int = Field(default=2 * 1024**3, ge=1024)
    max_model_weights: int = Field(default=50_000_000, ge=1000)
    max_metrics_per_report: int = Field(default=64, ge=1)
    claim_rate: float = Field(default=200.0, gt=0, description="Claims per second per token.")
    report_rate: float = Field(default=2000.0, gt=0, description="Reports per second per token.")
    cors_origins: tuple[str, ...] = ()
    prefetch: int = Field(
        default=0, ge=0, le=64, description="Trials asked ahead per study (0: at claim time)."
    )
    db_pool_size: int = Field(default=10, ge=1, le=500)
    db_max_overflow: int = Field(default=20, ge=0, le=1000)

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql", "mysql")):
            raise ValueError(f"expected a sqlite:// or postgresql:// URL, got {value!r}")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from `HPSEARCH_*` variables, then explicit overrides (CLI flags)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name, field in cls.model_fields.items():
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is not None:
                values[name] = _parse_env(raw, field.annotation)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @classmethod
    def env_names(cls) -> list[str]:
        return [ENV_PREFIX + name.upper() for name in cls.model_fields]


def _parse_env(raw: str, annotation: object) -> object:
    if annotation == tuple[str, ...]:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw
