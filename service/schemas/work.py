"""Bodies of the worker protocol: claim, report, heartbeat, complete."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "Assignment",
    "ClaimRequest",
    "CompleteRequest",
    "CompleteResponse",
    "HeartbeatRequest",
    "HeartbeatResponse",
    "ReportRequest",
    "ReportResponse",
    "RetrainOrder",
]

WORKER_ID = r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$"
MetricValue = float | int | None


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClaimRequest(_Request):
    worker_id: str = Field(pattern=WORKER_ID, description="A name the worker picks.")
    hostname: str | None = Field(default=None, max_length=256)
    device: str | None = Field(default=None, max_length=256, description="e.g. 'GPU:0 H100'.")
    kinds: list[Literal["trial", "retrain"]] = Field(default=["trial", "retrain"], min_length=1)
    capabilities: dict[str, Any] = Field(default_factory=dict)
    study_id: int | None = Field(
        default=None,
        ge=1,
        le=2_147_483_647,
        description="Only trials of this study (a KerasTuner ServiceOracle); no retrain jobs.",
    )

    @field_validator("capabilities")
    @classmethod
    def _small(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > 32 or len(repr(value)) > 4096:
            raise ValueError("at most 32 entries and 4 KiB")
        return value


class RetrainOrder(BaseModel):
    job_id: int
    epochs: int
    seeds: int


class Assignment(BaseModel):
    """What a claim hands a worker: everything it needs to run one trial or retrain job."""

    work_id: int
    kind: Literal["trial", "retrain"]
    study_id: int
    study_name: str
    trial_id: int
    trial_number: int
    attempt: int
    params: dict[str, Any]
    model: Any
    dataset: str
    split: dict[str, Any]
    training: dict[str, Any]
    objectives: list[dict[str, Any]]
    seed: int | None
    lease_seconds: float
    heartbeat_seconds: float
    retrain: RetrainOrder | None = None


def _check_metrics(value: dict[str, MetricValue], limit: int = 256) -> dict[str, MetricValue]:
    if len(value) > limit:
        raise ValueError(f"at most {limit} metrics")
    for name in value:
        if not 0 < len(name) <= 128:
            raise ValueError(f"metric name {name[:40]!r} must be 1..128 characters")
    return value


class ReportRequest(_Request):
    worker_id: str = Field(pattern=WORKER_ID)
    epoch: int = Field(ge=0, le=1_000_000, description="1 for the first epoch.")
    metrics: dict[str, MetricValue]

    _metrics = field_validator("metrics")(_check_metrics)


class ReportResponse(BaseModel):
    prune: bool
    lease_seconds: float
    reason: str | None = None


class HeartbeatRequest(_Request):
    worker_id: str = Field(pattern=WORKER_ID)


class HeartbeatResponse(BaseModel):
    lease_seconds: float
    stop: bool


class CompleteRequest(_Request):
    worker_id: str = Field(pattern=WORKER_ID)
    status: Literal["completed", "pruned", "failed"]
    metrics: dict[str, MetricValue] = Field(default_factory=dict)
    reason: str | None = Field(default=None, max_length=4000)
    retryable: bool = False
    duration_s: float | None = Field(default=None, ge=0)
    epochs: int | None = Field(default=None, ge=0, le=1_000_000)
    best_epoch: int | None = Field(default=None, ge=0, le=1_000_000)
    n_params: int | None = Field(default=None, ge=0)
    device: str | None = Field(default=None, max_length=256)
    seed_scores: list[dict[str, MetricValue]] | None = Field(default=None, max_length=100)

    _metrics = field_validator("metrics")(_check_metrics)

    @field_validator("duration_s")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


class CompleteResponse(BaseModel):
    work_id: int
    state: str
    trial_id: int
    values: list[float | None] | None = None
    requeued_as: int | None = None
