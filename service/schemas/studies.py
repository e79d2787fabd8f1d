"""Bodies of the study resources: update, public views of studies, trials and retrains."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "EpochPublic",
    "ModelFilePublic",
    "RetrainPublic",
    "RetrainRequest",
    "StudyPublic",
    "StudySummary",
    "StudyUpdate",
    "TrialPublic",
]


class StudyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["paused", "running", "stopped"] | None = None
    priority: int | None = Field(default=None, ge=-1000, le=1000)
    max_trials: int | None = Field(default=None, ge=1, le=100_000)
    max_parallel: int | None = Field(default=None, ge=1, le=1024)


class RetrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trial_id: int | None = Field(
        default=None, ge=1, le=2_147_483_647, description="Default: the best trial."
    )
    epochs: int | None = Field(default=None, ge=1, le=10_000)
    seeds: int | None = Field(default=None, ge=1, le=10)


class EpochPublic(BaseModel):
    epoch: int
    value: float | None
    metrics: dict[str, Any]


class TrialPublic(BaseModel):
    trial_id: int
    number: int
    state: str
    params: dict[str, Any]
    value: float | None
    values: list[Any] | None
    metrics: dict[str, Any] | None
    epochs: int
    best_epoch: int | None
    intermediate: list[EpochPublic] = Field(default_factory=list)
    worker_id: str | None
    duration_s: float | None
    reason: str | None
    attempt: int
    retry_of: int | None
    requeued: bool
    n_params: int | None
    device: str | None
    started_at: float | None
    finished_at: float | None
    retrained: bool = False


class ModelFilePublic(BaseModel):
    filename: str
    size: int
    sha256: str
    url: str


class RetrainPublic(BaseModel):
    job_id: int
    state: str
    trial_id: int
    trial_number: int  # the number the leaderboard and the trials list show
    epochs: int
    seeds: int
    attempt: int
    test_metrics: dict[str, Any] | None = None
    seed_scores: list[dict[str, Any]] | None = None
    reason: str | None = None
    model: ModelFilePublic | None = None


class StudySummary(BaseModel):
    study_id: int
    name: str
    owner: str
    state: str
    # Why the controller paused it (a streak of failed trials); None otherwise.
    state_reason: str | None = None
    priority: int
    max_trials: int
    max_parallel: int
    counts: dict[str, int]
    best_value: float | None
    direction: str
    active_workers: int
    created_at: float
    updated_at: float


class StudyPublic(StudySummary):
    spec: dict[str, Any]
    optuna_study_name: str
    ended_at: float | None
    best: TrialPublic | None
    retrain: RetrainPublic | None
