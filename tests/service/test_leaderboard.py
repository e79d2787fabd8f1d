"""The leaderboard's order: the objective first, then `val_loss` among equal values."""

from __future__ import annotations

from typing import Any

from hpsearch import Client
from hpsearch.objects import Study
from tests.support.specs import spec


def _complete(client: Client, study: Study, metrics: dict[str, Any]) -> int:
    assignment = client.claim("w", kinds=("trial",), study_id=study.study_id)
    assert assignment is not None
    client.complete(assignment.work_id, "w", "completed", metrics=metrics, epochs=3, best_epoch=3)
    return assignment.trial_id


def test_equal_values_rank_by_val_loss_then_trial_number(client: Client) -> None:
    study = client.create_study(spec(max_trials=6, pruner="none", training={"epochs": 3}))
    high_loss = _complete(client, study, {"val_accuracy": 0.99, "val_loss": 0.30})
    no_loss = _complete(client, study, {"val_accuracy": 0.99})
    nan_loss = _complete(client, study, {"val_accuracy": 0.99, "val_loss": float("nan")})
    low_loss = _complete(client, study, {"val_accuracy": 0.99, "val_loss": 0.14})
    better = _complete(client, study, {"val_accuracy": 0.995, "val_loss": 0.50})
    worse = _complete(client, study, {"val_accuracy": 0.98, "val_loss": 0.01})

    board = [t.trial_id for t in client.leaderboard(study, limit=10)]

    assert board == [better, low_loss, high_loss, nan_loss, no_loss, worse]
    assert [t.trial_id for t in client.leaderboard(study, limit=2)] == [better, low_loss]


def test_the_best_trial_among_ties_is_the_lower_val_loss(client: Client) -> None:
    study = client.create_study(spec(max_trials=3, pruner="none", training={"epochs": 3}))
    _complete(client, study, {"val_accuracy": 0.9926, "val_loss": 0.317})
    chosen = _complete(client, study, {"val_accuracy": 0.9926, "val_loss": 0.141})

    best = client.get_study(study).best

    assert best is not None and best.trial_id == chosen
    assert best.metrics["val_loss"] == 0.141


def test_a_loss_objective_still_ranks_lowest_first(client: Client) -> None:
    objective = {"metric": "val_loss", "direction": "minimize"}
    study = client.create_study(
        spec(objective=objective, max_trials=3, pruner="none", training={"epochs": 3})
    )
    second = _complete(client, study, {"val_loss": 0.4, "val_accuracy": 0.9})
    first = _complete(client, study, {"val_loss": 0.2, "val_accuracy": 0.8})
    tied_later = _complete(client, study, {"val_loss": 0.4, "val_accuracy": 0.95})

    board = [t.trial_id for t in client.leaderboard(study, limit=10)]

    assert board == [first, second, tied_later]
