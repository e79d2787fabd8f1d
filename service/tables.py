"""The service's own tables, beside Optuna's (`studies`, `trials`, ...) in the same database.

Optuna keeps params, values and intermediate values; these tables keep what it lacks: the
spec, owner, state and priority of a study; per-trial outcome details (reason, worker,
duration, all final metrics); per-epoch metrics; leases; workers; retrain jobs; artifacts;
API tokens. Times are epoch seconds from the database clock (`service.db.db_now`).
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "ArtifactRow",
    "Base",
    "EpochRow",
    "JobRow",
    "LeaseRow",
    "StudyRow",
    "TokenRow",
    "TrialRow",
    "WorkerRow",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def json_safe(value: Any) -> Any:
    """Non-finite floats as the strings "NaN", "Infinity", "-Infinity" (valid JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


class SafeJSON(TypeDecorator[Any]):
    """JSON that stores NaN and infinities as strings, so PostgreSQL accepts them."""

    impl = JSON
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(none_as_null=True)

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return json_safe(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class StudyRow(Base):
    __tablename__ = "hps_studies"

    study_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # False: only claims naming this study get its trials (a KerasTuner ServiceOracle's).
    fleet: Mapped[bool] = mapped_column(Boolean, default=True)
    max_trials: Mapped[int] = mapped_column(Integer)
    max_parallel: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]] = mapped_column(SafeJSON)
    optuna_name: Mapped[str] = mapped_column(String(160), unique=True)
    optuna_study_id: Mapped[int] = mapped_column(Integer)
    # Budget counters, changed only under this row's lock: trials that count towards
    # max_trials (running or finished, less those re-queued), and re-queued trials waiting.
    trials_used: Mapped[int] = mapped_column(Integer, default=0)
    trials_queued: Mapped[int] = mapped_column(Integer, default=0)
    # Trials asked ahead of claims (`service.prefetch`), counted in trials_used.
    trials_ready: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Why the controller (not a user) paused the study: say, a streak of failed trials.
    state_reason: Mapped[str | None] = mapped_column(String(2000), nullable=True)

    __table_args__ = (
        UniqueConstraint("owner", "name"),
        Index("ix_hps_studies_runnable", "state", "priority", "created_at"),
    )


class TrialRow(Base):
    __tablename__ = "hps_trials"

    trial_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    study_id: Mapped[int] = mapped_column(ForeignKey("hps_studies.study_id", ondelete="CASCADE"))
    trial_number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    retry_of: Mapped[int | None] = mapped_column(Integer, nullable=True)
    requeued: Mapped[bool] = mapped_column(Boolean, default=False)
    params: Mapped[dict[str, Any]] = mapped_column(SafeJSON, default=dict)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    values: Mapped[list[Any] | None] = mapped_column(SafeJSON, nullable=True)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(SafeJSON, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    epochs: Mapped[int] = mapped_column(Integer, default=0)
    best_epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    n_params: Mapped[int | None] = mapped_column(Integer, nullable=True)
    device: Mapped[str | None] = mapped_column(String(128), nullable=True)
    worker_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (Index("ix_hps_trials_board", "study_id", "state", "value"),)


class EpochRow(Base):
    __tablename__ = "hps_epochs"

    trial_id: Mapped[int] = mapped_column(
        ForeignKey("hps_trials.trial_id", ondelete="CASCADE"), primary_key=True
    )
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(SafeJSON)
    reported_at: Mapped[float] = mapped_column(Float)


class JobRow(Base):
    __tablename__ = "hps_jobs"

    job_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("hps_studies.study_id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="retrain")
    trial_id: Mapped[int] = mapped_column(Integer)
    epochs: Mapped[int] = mapped_column(Integer)
    seeds: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[dict[str, Any] | None] = mapped_column(SafeJSON, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    worker_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (Index("ix_hps_jobs_queue", "state", "created_at"),)


class LeaseRow(Base):
    """One claim of one piece of work by one worker; its id is the `work_id`."""

    __tablename__ = "hps_leases"

    lease_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    study_id: Mapped[int] = mapped_column(ForeignKey("hps_studies.study_id", ondelete="CASCADE"))
    trial_id: Mapped[int | None] = mapped_column(
        ForeignKey("hps_trials.trial_id", ondelete="CASCADE"), nullable=True
    )
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("hps_jobs.job_id", ondelete="CASCADE"), nullable=True
    )
    worker_id: Mapped[str] = mapped_column(String(128))
    # The token that claimed it: only the same token may write to it (None: no auth).
    token_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[float] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    renewed_at: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    outcome: Mapped[dict[str, Any] | None] = mapped_column(SafeJSON, nullable=True)

    __table_args__ = (
        Index("ix_hps_leases_expiry", "state", "expires_at"),
        Index("ix_hps_leases_worker", "worker_id", "state"),
        Index("ix_hps_leases_study", "study_id", "state"),
    )


class WorkerRow(Base):
    __tablename__ = "hps_workers"

    worker_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    hostname: Mapped[str | None] = mapped_column(String(256), nullable=True)
    device: Mapped[str | None] = mapped_column(String(256), nullable=True)
    capabilities: Mapped[dict[str, Any]] = mapped_column(SafeJSON, default=dict)
    token_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    first_seen: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float] = mapped_column(Float)


class ArtifactRow(Base):
    __tablename__ = "hps_artifacts"

    artifact_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("hps_studies.study_id", ondelete="CASCADE"))
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("hps_jobs.job_id", ondelete="CASCADE"), nullable=True
    )
    key: Mapped[str] = mapped_column(String(512))
    filename: Mapped[str] = mapped_column(String(256))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)


class TokenRow(Base):
    __tablename__ = "hps_tokens"

    token_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float)
    last_used_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
