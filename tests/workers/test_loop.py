"""The worker loop in-process against the in-process controller, training real (tiny) Keras
models on digits: completion, NaN loss, build errors, shutdown hand-back."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from hpsearch import Client
from hpsearch.errors import ControllerUnreachable, Unauthorized, Unavailable
from hpsearch.objects import ReportAnswer
from tests.support.specs import spec
from workers.loop import DATASET_STREAK, Worker, WorkerOptions

pytestmark = pytest.mark.keras

SMALL = {
    "filters": 8,
    "conv_blocks": 1,
    "dense_units": 16,
    "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
}


def small_study(client: Client, **overrides: Any) -> int:
    fields = {
        "max_trials": 2,
        "max_parallel": 1,
        "pruner": "none",
        "retrain": None,
        "training": {"epochs": 2, "batch_size": 128},
        "space": SMALL,
        **overrides,
    }
    return client.create_study(spec(**fields)).study_id


def run_worker(client: Client, shutdown: threading.Event | None = None, **options: Any) -> int:
    worker = Worker(client, WorkerOptions(worker_id="loop-test", idle_exit=0, **options), shutdown)
    return worker.run()


def test_the_worker_trains_reports_and_completes_each_trial(client: Client) -> None:
    study = small_study(client)
    assert run_worker(client) == 2
    final = client.get_study(study)
    assert final.state == "completed" and final.counts["completed"] == 2
    for trial in client.trials(study):
        assert [e.epoch for e in trial.intermediate] == [1, 2]
        assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(trial.metrics or {})
        assert trial.value == trial.metrics["val_accuracy"]  # type: ignore[index]
        assert trial.n_params and trial.n_params > 1000
        assert trial.device == "CPU" and trial.duration_s and trial.duration_s > 0
        assert trial.best_epoch in (1, 2)


def test_a_nan_loss_fails_the_trial_without_a_retry(client: Client) -> None:
    space = {**SMALL, "optimizer": "sgd", "learning_rate": 1.0e6}
    study = small_study(client, max_trials=1, space=space)
    run_worker(client)
    trials = client.trials(study)
    assert [(t.state, t.reason, t.requeued) for t in trials] == [("failed", "nan loss", False)]


def test_a_shape_that_cannot_build_fails_with_the_layer_named(client: Client) -> None:
    # With `valid` padding, 1x1 kernels keep two blocks on 8x8 inputs; 3x3 kernels do not.
    space = {
        **SMALL,
        "learning_rate": 0.005,
        "padding": "valid",
        "conv_blocks": 2,
        "kernel_size": {"type": "categorical", "choices": [1, 3]},
    }
    study = small_study(client, space=space, sampler="grid")
    run_worker(client)
    trials = {t.params["kernel_size"]: t for t in client.trials(study)}
    assert trials[1].state == "completed"
    failed = trials[3]
    assert failed.state == "failed" and not failed.requeued
    assert failed.reason is not None and failed.reason.startswith("build error")
    assert "Conv2D" in failed.reason


class StopAfterFirstReport(Client):
    """A client whose worker is told to shut down once its first report is delivered."""

    def __init__(self, inner: Client, shutdown: threading.Event) -> None:
        super().__init__(inner.url, http=inner._http)
        self.shutdown = shutdown

    def report(self, *args: Any, **kwargs: Any) -> ReportAnswer:
        answer = super().report(*args, **kwargs)
        self.shutdown.set()
        return answer


def test_a_shutdown_hands_the_running_trial_back_at_once(client: Client) -> None:
    study = small_study(client, max_trials=1, training={"epochs": 50, "batch_size": 128})
    shutdown = threading.Event()
    assert run_worker(StopAfterFirstReport(client, shutdown), shutdown) == 1
    (handed_back, waiting) = client.trials(study)
    assert handed_back.state == "failed" and handed_back.reason == "worker stopped"
    assert handed_back.requeued and handed_back.epochs < 50
    assert waiting.state == "queued" and waiting.params == handed_back.params


def test_a_node_that_cannot_load_the_data_stops_after_a_few_pieces_of_work(
    client: Client, tmp_path: Path
) -> None:
    study = small_study(client, max_trials=20, dataset=f"npz:{tmp_path / 'missing.npz'}")
    worker = Worker(client, WorkerOptions(worker_id="loop-test", idle_exit=0))
    assert worker.run() == DATASET_STREAK
    assert worker.unfit is not None and "could not load their data on this node" in worker.unfit
    trials = client.trials(study)
    assert len([t for t in trials if t.state == "failed"]) == DATASET_STREAK
    assert all((t.reason or "").startswith("dataset error: ") for t in trials if t.reason)
    # The study itself runs on, for nodes that can load the data.
    assert client.get_study(study).state == "running"


def test_one_dataset_failure_among_trained_trials_does_not_stop_the_node(
    app: FastAPI, client: Client
) -> None:
    app.state.ctx.settings = app.state.ctx.settings.model_copy(update={"retry_budget": 0})
    worker = Worker(client, WorkerOptions(worker_id="loop-test", idle_exit=0))
    small_study(client, max_trials=1, name="no-data", dataset="npz:/nonexistent/x.npz")
    small_study(client, max_trials=2)
    assert worker.run() == 3  # the oldest study's trial first: it fails, then two train
    assert worker.unfit is None and worker.dataset_failures == 0


class RefusingClient(Client):
    """A client whose claims all fail with `error`; counts them."""

    def __init__(self, inner: Client, error: Exception) -> None:
        super().__init__(inner.url, http=inner._http)
        self.error, self.claims = error, 0

    def claim(self, *args: Any, **kwargs: Any) -> Any:
        self.claims += 1
        raise self.error


def test_a_refused_token_stops_the_slot_at_its_first_claim(client: Client) -> None:
    refusing = RefusingClient(client, Unauthorized(401, "invalid or revoked token"))
    worker = Worker(refusing, WorkerOptions(worker_id="loop-test", idle_exit=3600))
    assert worker.run() == 0
    assert refusing.claims == 1  # no retries: a token does not mend itself
    assert worker.unfit is not None
    assert "refused this worker's token (401: invalid or revoked token)" in worker.unfit


@pytest.mark.parametrize(
    ("error", "unfit"),
    [
        (ControllerUnreachable("cannot reach http://ctl: refused"), True),
        (Unavailable(503, "database unavailable"), False),  # it answered: no work to give
    ],
)
def test_idle_exit_while_the_controller_is_out_of_reach_is_not_a_clean_exit(
    client: Client, error: Exception, unfit: bool
) -> None:
    worker = Worker(RefusingClient(client, error), WorkerOptions(worker_id="w", idle_exit=0))
    assert worker.run() == 0
    if unfit:
        assert (
            worker.unfit
            == "the controller was out of reach for 0 s (cannot reach http://ctl: refused)"
        )
    else:
        assert worker.unfit is None
