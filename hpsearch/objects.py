"""Typed objects the client returns, read from the controller's JSON."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

__all__ = [
    "Assignment",
    "Epoch",
    "HeartbeatAnswer",
    "ModelFile",
    "ReportAnswer",
    "Retrain",
    "RetrainOrder",
    "Study",
    "StudySummary",
    "Trial",
]

T = TypeVar("T")


def _known(cls: type[T], data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return {k: v for k, v in data.items() if k in names}


@dataclass(frozen=True)
class Epoch:
    epoch: int
    value: float | None
    metrics: dict[str, Any]


@dataclass(frozen=True)
class Trial:
    trial_id: int
    number: int
    state: str
    params: dict[str, Any]
    value: float | None
    values: list[Any] | None
    metrics: dict[str, Any] | None
    epochs: int
    best_epoch: int | None
    worker_id: str | None
    duration_s: float | None
    reason: str | None
    attempt: int = 1
    retry_of: int | None = None
    requeued: bool = False
    n_params: int | None = None
    device: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    retrained: bool = False
    intermediate: list[Epoch] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Trial:
        known = _known(cls, data)
        known["intermediate"] = [Epoch(**e) for e in data.get("intermediate", [])]
        return cls(**known)


@dataclass(frozen=True)
class ModelFile:
    filename: str
    size: int
    sha256: str
    url: str


@dataclass(frozen=True)
class Retrain:
    job_id: int
    state: str
    trial_id: int
    epochs: int
    seeds: int
    attempt: int
    test_metrics: dict[str, Any] | None = None
    seed_scores: list[dict[str, Any]] | None = None
    reason: str | None = None
    model: ModelFile | None = None
    trial_number: int | None = None  # None from a controller older than the field

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Retrain:
        known = _known(cls, data)
        known["model"] = ModelFile(**data["model"]) if data.get("model") else None
        return cls(**known)


@dataclass(frozen=True)
class StudySummary:
    study_id: int
    name: str
    owner: str
    state: str
    priority: int
    max_trials: int
    max_parallel: int
    counts: dict[str, int]
    best_value: float | None
    direction: str
    active_workers: int
    created_at: float
    updated_at: float
    # Why the controller paused the study (its trials kept failing); None otherwise.
    state_reason: str | None = None

    @property
    def finished(self) -> int:
        return sum(self.counts.get(s, 0) for s in ("completed", "pruned", "failed"))

    @property
    def is_over(self) -> bool:
        return self.state in ("completed", "stopped")

    @property
    def halted(self) -> bool:
        """Paused by the controller, not by a user: it waits for a fix and `resume`."""
        return self.state == "paused" and self.state_reason is not None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StudySummary:
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class Study(StudySummary):
    spec: dict[str, Any] = field(default_factory=dict)
    optuna_study_name: str = ""
    ended_at: float | None = None
    best: Trial | None = None
    retrain: Retrain | None = None

    def settled(self, retrain: bool = False) -> bool:
        """Over (completed or stopped), and when `retrain`, its retrain finished too."""
        if not self.is_over:
            return False
        return not retrain or (
            self.retrain is not None and self.retrain.state in ("completed", "failed")
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Study:
        known = _known(cls, data)
        known["best"] = Trial.from_json(data["best"]) if data.get("best") else None
        known["retrain"] = Retrain.from_json(data["retrain"]) if data.get("retrain") else None
        return cls(**known)


@dataclass(frozen=True)
class RetrainOrder:
    job_id: int
    epochs: int
    seeds: int


@dataclass(frozen=True)
class Assignment:
    """One piece of work from a claim: a trial to train, or a retrain job."""

    work_id: int
    kind: str
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

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Assignment:
        known = _known(cls, data)
        known["retrain"] = RetrainOrder(**data["retrain"]) if data.get("retrain") else None
        return cls(**known)


@dataclass(frozen=True)
class ReportAnswer:
    prune: bool
    lease_seconds: float
    reason: str | None = None


@dataclass(frozen=True)
class HeartbeatAnswer:
    lease_seconds: float
    stop: bool
