"""What went wrong in a trial, and what it means: failed for good, failed but may be retried,
or the trial is no longer ours (drop it without a word)."""

from __future__ import annotations

from dataclasses import dataclass

from workers.dataset_sources import DatasetError
from workers.model_builder import ModelBuildError

__all__ = ["DATASET_ERROR", "Failure", "LeaseLost", "NanLoss", "classify"]

MAX_REASON = 2000
DATASET_ERROR = "dataset error: "  # how the reason of a trial whose data did not load starts
_OOM_MARKERS = ("ResourceExhausted", "RESOURCE_EXHAUSTED", "out of memory", "OOM when allocating")


class NanLoss(ArithmeticError):
    """The loss became NaN or infinite."""


class LeaseLost(RuntimeError):
    """The controller refused our writes (409/404) or was out of reach past the lease: the
    trial is someone else's now, or gone."""


@dataclass(frozen=True)
class Failure:
    reason: str
    retryable: bool


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    text = f"{type(exc).__name__} {exc}"
    return any(marker in text for marker in _OOM_MARKERS)


def classify(exc: BaseException) -> Failure:
    """NaN loss and out of memory are not retried (not at that size); a bad combination of
    params fails with its message; anything else may be retried."""
    if isinstance(exc, NanLoss):
        return Failure("nan loss", retryable=False)
    if _is_out_of_memory(exc):
        return Failure("out of memory", retryable=False)
    if isinstance(exc, ModelBuildError):
        return Failure(f"build error: {exc}"[:MAX_REASON], retryable=False)
    if isinstance(exc, DatasetError):
        return Failure(f"{DATASET_ERROR}{exc}"[:MAX_REASON], retryable=True)
    return Failure(f"crash: {type(exc).__name__}: {exc}"[:MAX_REASON], retryable=True)
