"""Retraining the chosen params on train+val, scored once on the held-out test split.

With `seeds: K > 1` the model is trained K times with different seeds; the test score is
reported as mean ± std over the K runs (a single run chosen by a noisy validation score is
optimistic), and the best of the K model files is uploaded with all K scores.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from hpsearch.objects import Assignment
from search_spaces.spec import TrainingSpec
from workers.datasets import Dataset
from workers.failures import NanLoss
from workers.model_builder import build_model
from workers.reporting import Reporter
from workers.signals import TrialFlags
from workers.trainer import EpochCallback, TrialResult, build_state_eagerly, trial_seed

__all__ = ["run_retrain", "summarize_seeds"]

MODEL_FILE = "model.keras"


def run_retrain(
    assignment: Assignment, dataset: Dataset, reporter: Reporter, flags: TrialFlags
) -> TrialResult:
    order = assignment.retrain
    if order is None:
        raise ValueError("a retrain assignment without its order")
    started = time.perf_counter()
    x = np.concatenate([dataset.x_train, dataset.x_val])
    y = np.concatenate([dataset.y_train, dataset.y_val])
    scores: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="hpsearch-retrain-") as folder:
        best_path, best_score, n_params = Path(folder) / MODEL_FILE, -np.inf, 0
        for index in range(order.seeds):
            score, model = _fit_once(assignment, dataset, x, y, index, reporter, flags)
            scores.append(score)
            n_params = model.count_params()
            if score["test_accuracy"] > best_score:
                best_score = score["test_accuracy"]
                model.save(best_path)
            del model
            keras.backend.clear_session()
        reporter.deliver(
            lambda: reporter.client.upload_artifact(
                reporter.work_id, reporter.worker_id, best_path
            ),
            "upload",
        )
    kept = max(scores, key=lambda s: s["test_accuracy"])
    return TrialResult(
        status="completed",
        metrics={**kept, **summarize_seeds(scores)},
        epochs=order.epochs,
        n_params=n_params,
        duration_s=time.perf_counter() - started,
        seed_scores=scores,
    )


def _fit_once(
    assignment: Assignment,
    dataset: Dataset,
    x: np.ndarray,
    y: np.ndarray,
    index: int,
    reporter: Reporter,
    flags: TrialFlags,
) -> tuple[dict[str, float], keras.Model]:
    order = assignment.retrain
    assert order is not None
    seed = trial_seed(assignment) + 7919 * (index + 1)
    keras.utils.set_random_seed(seed)
    training = TrainingSpec.model_validate(assignment.training)
    model = build_model(
        assignment.model, assignment.params, dataset.input_shape, dataset.classes, training=training
    )
    callback = EpochCallback(reporter, flags, report_prunes=False)
    build_state_eagerly(model, x, y)
    model.fit(
        x,
        y,
        epochs=order.epochs,
        batch_size=int(assignment.params.get("batch_size", training.batch_size)),
        shuffle=training.shuffle,
        callbacks=[callback],
        verbose=0,
    )
    if flags.lease_lost is not None:
        raise flags.lease_lost
    if callback.nan:
        raise NanLoss("the loss became NaN or infinite while retraining")
    if flags.should_stop():
        raise InterruptedError("the worker is stopping")
    evaluated = model.evaluate(dataset.x_test, dataset.y_test, verbose=0, return_dict=True)
    score = {f"test_{name}": float(value) for name, value in evaluated.items()}
    score["seed"] = float(seed)
    return score, model


def summarize_seeds(scores: list[dict[str, float]]) -> dict[str, float]:
    """Mean and standard deviation of every test metric over the seeds."""
    summary: dict[str, float] = {}
    for name in scores[0]:
        if name == "seed":
            continue
        values = [s[name] for s in scores]
        summary[f"{name}_mean"] = statistics.fmean(values)
        summary[f"{name}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return summary
