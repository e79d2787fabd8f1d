"""A report's writes (on PostgreSQL one statement, on SQLite several) and the curve the
pruner then sees: earlier epochs read back, a repeated epoch replacing the first."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI
from optuna.storages._rdb.models import TrialIntermediateValueModel
from sqlalchemy import select

from hpsearch import Client
from hpsearch.objects import Assignment
from service.tables import EpochRow, TrialRow
from tests.support.simulated_workers import study_with_peers

STEPS = TrialIntermediateValueModel.__table__


def good(assignment: Assignment, epoch: int) -> float:
    return 0.6 + 0.035 * epoch


def _running_trial(client: Client) -> Assignment:
    """A trial claimed in a study with six finished peers, its epoch 1 reported at 0.99
    (far better than theirs: not pruned)."""
    study_with_peers(client, 6, good, "median", epochs=4, max_parallel=2)
    work = client.claim("w")
    assert work is not None
    assert client.report(work.work_id, "w", 1, {"val_accuracy": 0.99}).prune is False
    return work


def _stored(app: FastAPI, trial_id: int) -> dict[str, Any]:
    """Our epochs, Optuna's intermediate values (our trial ids are Optuna's) and our trial."""
    with app.state.ctx.engine.connect() as connection:
        epochs = select(EpochRow.epoch, EpochRow.value).where(EpochRow.trial_id == trial_id)
        steps = select(
            STEPS.c.step, STEPS.c.intermediate_value, STEPS.c.intermediate_value_type
        ).where(STEPS.c.trial_id == trial_id)
        return {
            "epochs": dict(connection.execute(epochs).all()),
            "steps": {s: (v, kind.name) for s, v, kind in connection.execute(steps)},
            "trial": connection.execute(
                select(TrialRow).where(TrialRow.trial_id == trial_id)
            ).one(),
        }


def test_a_repeated_epoch_replaces_the_first_everywhere(app: FastAPI, client: Client) -> None:
    work = _running_trial(client)
    # The same epoch again, far worse: the pruner sees 0.05 at epoch 1, not the 0.99.
    assert client.report(work.work_id, "w", 1, {"val_accuracy": 0.05}).prune is True
    stored = _stored(app, work.trial_id)
    assert stored["epochs"] == {1: 0.05}
    assert stored["steps"] == {1: (0.05, "FINITE")}
    trial = stored["trial"]
    assert trial.epochs == 1
    # The epoch count's update touched nothing else of the running trial.
    assert (trial.state, trial.value, trial.metrics) == ("running", None, None)


def test_the_pruner_sees_the_earlier_epochs(app: FastAPI, client: Client) -> None:
    work = _running_trial(client)
    # The best epoch so far (0.99, stored by the first report) keeps it running.
    assert client.report(work.work_id, "w", 2, {"val_accuracy": 0.05}).prune is False
    assert client.report(work.work_id, "w", 3, {"val_accuracy": math.nan}).prune is False
    stored = _stored(app, work.trial_id)
    assert stored["epochs"] == {1: 0.99, 2: 0.05, 3: None}
    assert stored["steps"] == {1: (0.99, "FINITE"), 2: (0.05, "FINITE"), 3: (None, "NAN")}
    assert stored["trial"].epochs == 3
    # An older epoch reported late does not lower the trial's count of epochs.
    client.report(work.work_id, "w", 2, {"val_accuracy": 0.98})
    assert _stored(app, work.trial_id)["trial"].epochs == 3
