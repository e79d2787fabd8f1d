"""Each kind of failure gets its reason and its retry decision."""

from __future__ import annotations

import pytest

from workers.dataset_sources import DatasetError
from workers.failures import NanLoss, classify
from workers.model_builder import ModelBuildError


class ResourceExhaustedError(RuntimeError):
    """Stands in for tf.errors.ResourceExhaustedError (matched by name, backend-neutral)."""


@pytest.mark.parametrize(
    ("error", "reason", "retryable"),
    [
        (NanLoss("loss is nan"), "nan loss", False),
        (ResourceExhaustedError("OOM when allocating tensor"), "out of memory", False),
        (
            RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate"),
            "out of memory",
            False,
        ),
        (MemoryError(), "out of memory", False),
        (
            ModelBuildError("model[3]: Conv2D: input 2 smaller than window 5"),
            "build error: model[3]",
            False,
        ),
        (DatasetError("npz:/x.npz: no such file"), "dataset error: npz:/x.npz", True),
        (ValueError("something odd"), "crash: ValueError: something odd", True),
    ],
)
def test_failures_are_classified(error: BaseException, reason: str, retryable: bool) -> None:
    failure = classify(error)
    assert failure.reason.startswith(reason)
    assert failure.retryable is retryable
