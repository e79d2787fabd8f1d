"""Training one trial: build the model, fit with per-epoch reports, pick the final metrics.

The test split is never touched here: it is reserved for the retrained model.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import keras

from hpsearch.objects import Assignment
from search_spaces.spec import TrainingSpec
from workers.datasets import Dataset
from workers.failures import NanLoss
from workers.model_builder import build_model
from workers.reporting import Reporter
from workers.signals import TrialFlags

__all__ = [
    "EpochCallback",
    "TrialResult",
    "build_state_eagerly",
    "choose_epoch",
    "run_trial",
    "trial_seed",
]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialResult:
    status: str  # completed | pruned | failed
    metrics: dict[str, float] = field(default_factory=dict)
    epochs: int = 0
    best_epoch: int | None = None
    n_params: int | None = None
    duration_s: float = 0.0
    reason: str | None = None
    retryable: bool = False
    seed_scores: list[dict[str, float]] | None = None

    def complete_fields(self, device: str) -> dict[str, Any]:
        """The body of the complete call, less worker id and status."""
        fields: dict[str, Any] = {
            "metrics": self.metrics,
            "reason": self.reason,
            "retryable": self.retryable,
            "duration_s": self.duration_s,
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
            "n_params": self.n_params,
            "device": device,
        }
        if self.seed_scores is not None:
            fields["seed_scores"] = self.seed_scores
        return fields


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


class EpochCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """Reports each epoch; stops training on a NaN loss, a prune, or any stop flag."""

    def __init__(self, reporter: Reporter | None, flags: TrialFlags, report_prunes: bool = True):
        super().__init__()
        self.reporter = reporter
        self.flags = flags
        self.report_prunes = report_prunes
        self.history: list[dict[str, float]] = []
        self.nan = False
        self.pruned = False

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not _finite(float(loss)):
            self.nan = True
        if self.nan or self.flags.should_stop():
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        metrics = {name: float(value) for name, value in (logs or {}).items()}
        self.history.append(metrics)
        self.nan = self.nan or not _finite(metrics.get("loss", 0.0))
        if self.reporter is not None:
            prune = self.reporter.report(epoch + 1, metrics)
            self.pruned = self.pruned or (prune and self.report_prunes)
        if self.nan or self.pruned or self.flags.should_stop():
            self.model.stop_training = True


def build_state_eagerly(model: keras.Model, x: Any, y: Any) -> None:
    """Create the optimizer's slots and the metrics' and loss's state outside `fit`.

    Left to `fit`, they are created while it traces its step function, each variable with an
    initializer graph that TensorFlow keeps alive after `clear_session()` (about a quarter of
    the memory a process loses per trial). Two samples, eagerly, build the same state. Any
    model this cannot handle is left to Keras' own lazy build.
    """
    try:
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        sample_x, sample_y = x[:2], y[:2]
        predicted = model(sample_x, training=False)
        model.compute_metrics(sample_x, sample_y, predicted)
        model.compute_loss(sample_x, sample_y, predicted)
        model.reset_metrics()
    except Exception as exc:  # an optimisation only: fit builds whatever is missing
        log.debug("eager state build skipped: %s", exc)


def trial_seed(assignment: Assignment) -> int:
    return ((assignment.seed or 0) * 1_000_003 + assignment.trial_id) % (2**31 - 1)


def choose_epoch(history: list[dict[str, float]], objective: Mapping[str, Any]) -> int:
    """Index of the epoch whose metrics stand for the trial: the best by the objective, or the
    last, as the spec says."""
    if objective.get("use") == "last" or not history:
        return len(history) - 1
    metric, sign = objective["metric"], -1 if objective.get("direction") == "minimize" else 1
    scored = [(sign * e[metric], i) for i, e in enumerate(history) if _finite(e.get(metric))]
    return max(scored)[1] if scored else len(history) - 1


def run_trial(
    assignment: Assignment, dataset: Dataset, reporter: Reporter, flags: TrialFlags
) -> TrialResult:
    started = time.perf_counter()
    keras.utils.set_random_seed(trial_seed(assignment))
    training = TrainingSpec.model_validate(assignment.training)
    model = build_model(
        assignment.model, assignment.params, dataset.input_shape, dataset.classes, training=training
    )
    callback = EpochCallback(reporter, flags)
    build_state_eagerly(model, dataset.x_train, dataset.y_train)
    model.fit(
        dataset.x_train,
        dataset.y_train,
        validation_data=(dataset.x_val, dataset.y_val),
        epochs=training.epochs,
        batch_size=int(assignment.params.get("batch_size", training.batch_size)),
        shuffle=training.shuffle,
        callbacks=[callback],
        verbose=0,
    )
    return _result(assignment, callback, flags, model.count_params(), time.perf_counter() - started)


def _result(
    assignment: Assignment,
    callback: EpochCallback,
    flags: TrialFlags,
    n_params: int,
    duration: float,
) -> TrialResult:
    if flags.lease_lost is not None:
        raise flags.lease_lost
    if callback.nan:
        raise NanLoss("the loss became NaN or infinite")
    epochs = len(callback.history)
    if flags.shutdown.is_set() and not callback.pruned:
        return TrialResult("failed", epochs=epochs, n_params=n_params, duration_s=duration,
                           reason="worker stopped", retryable=True)  # fmt: skip
    pruned = callback.pruned or flags.study_stopped
    chosen = len(callback.history) - 1 if pruned else choose_epoch(
        callback.history, assignment.objectives[0])  # fmt: skip
    return TrialResult(
        status="pruned" if pruned else "completed",
        metrics=callback.history[chosen] if callback.history else {},
        epochs=epochs,
        best_epoch=chosen + 1 if callback.history else None,
        n_params=n_params,
        duration_s=duration,
    )
