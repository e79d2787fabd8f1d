"""The controller's Optuna storage (`service.optuna_bridge.cache` and `records`): what it
writes straight into Optuna's tables is what Optuna itself reads back, and its cache of a
study agrees with a fresh load of the same study."""

from __future__ import annotations

import math
from typing import Any

import optuna
import pytest
import sqlalchemy
from fastapi import FastAPI
from optuna.trial import TrialState

from hpsearch import Client
from service.optuna_bridge.records import NUMBER_INDEX
from service.settings import Settings
from service.tables import StudyRow
from tests.support.simulated_workers import SimulatedWorker
from tests.support.specs import spec


def _name_and_spec(app: FastAPI, study_id: int) -> tuple[str, dict[str, Any]]:
    with app.state.ctx.sessions() as session:
        row = session.get_one(StudyRow, study_id)
        return row.optuna_name, row.spec


def _fresh(settings: Settings, app: FastAPI, study_id: int) -> optuna.Study:
    """The study as a plain Optuna process on the same database loads it."""
    name, _ = _name_and_spec(app, study_id)
    return optuna.load_study(study_name=name, storage=settings.database_url)


def _cached(app: FastAPI, study_id: int) -> optuna.Study:
    return app.state.ctx.optuna.study(*_name_and_spec(app, study_id))


def _view(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    return {
        "number": trial.number,
        "state": trial.state,
        "values": trial.values,
        "params": trial.params,
        "distributions": trial.distributions,
        "intermediate_values": trial.intermediate_values,
    }


@pytest.mark.parametrize("sampler", ["random", "tpe", "qmc"])
def test_a_fresh_optuna_load_sees_what_the_controller_cached(
    client: Client, app: FastAPI, settings: Settings, sampler: str
) -> None:
    study = client.create_study(spec(sampler=sampler, pruner="none", max_trials=6))
    worker = SimulatedWorker(client, "w")
    for _ in range(4):
        worker.run_one(epochs=3)
    crashed = client.claim("w")
    assert crashed is not None
    client.complete(crashed.work_id, "w", "failed", reason="crash: boom", retryable=False)
    running = client.claim("w")
    assert running is not None
    client.report(running.work_id, "w", 1, {"val_accuracy": 0.5})

    fresh = _fresh(settings, app, study.study_id).get_trials()
    cached = _cached(app, study.study_id).get_trials()
    assert [t.number for t in fresh] == list(range(6))
    assert [t.state for t in fresh] == [TrialState.COMPLETE] * 4 + [
        TrialState.FAIL,
        TrialState.RUNNING,
    ]
    assert [_view(t) for t in fresh[:5]] == [_view(t) for t in cached[:5]]
    assert all(len(t.params) == 6 for t in fresh)
    assert all(sorted(t.intermediate_values) == [1, 2, 3] for t in fresh[:4])
    assert fresh[-1].params == running.params and fresh[-1].intermediate_values == {1: 0.5}


def test_a_pruned_trials_value_is_its_last_intermediate_value_as_optuna_keeps_it(
    client: Client, app: FastAPI, settings: Settings
) -> None:
    study = client.create_study(spec(pruner="none", max_trials=3))
    work = client.claim("w")
    assert work is not None
    for epoch, value in ((1, 0.3), (2, 0.4), (3, math.inf)):
        client.report(work.work_id, "w", epoch, {"val_accuracy": value})
    client.complete(work.work_id, "w", "pruned", metrics={"val_accuracy": math.inf}, epochs=3)
    (trial,) = _fresh(settings, app, study.study_id).get_trials()
    assert trial.state == TrialState.PRUNED
    assert trial.intermediate_values == {1: 0.3, 2: 0.4, 3: math.inf}
    assert trial.values == [math.inf]
    # A NaN last value leaves a pruned trial without a value, as Study.tell does.
    other = client.claim("w")
    assert other is not None
    client.report(other.work_id, "w", 1, {"val_accuracy": math.nan})
    client.complete(other.work_id, "w", "pruned", metrics={}, epochs=1)
    second = _fresh(settings, app, study.study_id).get_trials()[1]
    assert second.state == TrialState.PRUNED and second.values is None
    assert math.isnan(second.intermediate_values[1])


def test_another_processes_write_reaches_the_cache_within_its_staleness(
    client: Client, app: FastAPI, settings: Settings
) -> None:
    study = client.create_study(spec(pruner="none", max_trials=5))
    SimulatedWorker(client, "w").run_one(epochs=1)
    cache = app.state.ctx.optuna.cache
    cached = _cached(app, study.study_id)
    cache.max_staleness = 3600.0
    (mine,) = cached.get_trials()
    # Another process (plain Optuna here) adds a finished trial to the same study.
    _fresh(settings, app, study.study_id).add_trial(
        optuna.trial.create_trial(params=mine.params, distributions=mine.distributions, value=0.1)
    )
    assert len(cached.get_trials()) == 1  # not re-read within the staleness bound
    cache.max_staleness = 0.0
    assert [t.value for t in cached.get_trials()] == [mine.value, 0.1]


def test_the_cached_lists_by_state_follow_trials_from_state_to_state(
    client: Client, app: FastAPI, settings: Settings
) -> None:
    """The per-state lists agree with a filter of a fresh load after every change, and a
    list is rebuilt only when one of its states changed."""
    study = client.create_study(spec(sampler="random", pruner="none", max_trials=12))
    worker = SimulatedWorker(client, "w")
    cache = app.state.ctx.optuna.cache
    optuna_id = _cached(app, study.study_id)._study_id
    groups = [
        None,
        (TrialState.COMPLETE,),
        (TrialState.RUNNING,),
        (TrialState.COMPLETE, TrialState.FAIL),
    ]

    def agree() -> None:
        cache.changed(optuna_id)  # read what changed now, not a second later
        fresh = _fresh(settings, app, study.study_id)
        for states in groups:
            ours = cache.get_all_trials(optuna_id, deepcopy=False, states=states)
            theirs = fresh.get_trials(deepcopy=False, states=states)
            assert [_view(t) for t in ours] == [_view(t) for t in theirs], states
        # Every completed trial, once, in the order it completed (here: by number).
        done = [t.number for t in fresh.get_trials(states=(TrialState.COMPLETE,))]
        assert [t.number for t in cache.completed_since(optuna_id, 0)] == done
        assert cache.completed_since(optuna_id, len(done)) == []

    for _ in range(3):
        worker.run_one(epochs=2)
        agree()
    held = client.claim("w")
    assert held is not None
    agree()
    completed = cache.get_all_trials(optuna_id, deepcopy=False, states=(TrialState.COMPLETE,))
    other = client.claim("w2")  # a new running trial: the completed list stays as it was
    assert other is not None
    again = cache.get_all_trials(optuna_id, deepcopy=False, states=(TrialState.COMPLETE,))
    assert len(again) == 3 and all(a is b for a, b in zip(again, completed, strict=True))
    client.complete(held.work_id, "w", "failed", reason="crash: boom", retryable=False)
    agree()
    client.complete(other.work_id, "w2", "completed", metrics={"val_accuracy": 0.5})
    agree()
    assert len(cache.get_all_trials(optuna_id, deepcopy=False, states=(TrialState.COMPLETE,))) == 4


def test_trials_are_numbered_in_turn_with_those_optuna_itself_creates(
    client: Client, app: FastAPI, settings: Settings
) -> None:
    """A claim numbers its trial from the index of Optuna's trials by (study, number); a
    retried trial is created by Optuna's own storage, which counts the trials before it."""
    inspector = sqlalchemy.inspect(app.state.ctx.engine)
    indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("trials")}
    assert indexes[NUMBER_INDEX] == ["study_id", "number"]
    study = client.create_study(spec(pruner="none", max_trials=6))
    worker = SimulatedWorker(client, "w")
    worker.run_one(epochs=1)
    failing = client.claim("w")
    assert failing is not None
    retry = client.complete(failing.work_id, "w", "failed", reason="oom", retryable=True)
    assert retry["requeued_as"] is not None
    for _ in range(3):
        worker.run_one(epochs=1)
    numbers = [t.number for t in _fresh(settings, app, study.study_id).get_trials()]
    assert numbers == list(range(5))


def test_tpes_relative_params_reach_the_database_with_the_trials_params(
    client: Client, app: FastAPI, settings: Settings
) -> None:
    """Constant liar: another controller's sampler reads a running trial's relative params
    from its system attributes, written in the ask's own transaction."""
    sampler = {"name": "tpe", "seed": 3, "options": {"n_startup_trials": 2}}
    study = client.create_study(spec(sampler=sampler, pruner="none", max_trials=8))
    worker = SimulatedWorker(client, "w")
    for _ in range(3):
        worker.run_one(epochs=2)
    running = client.claim("w")
    assert running is not None
    fresh = _fresh(settings, app, study.study_id).trials[running.trial_number]
    assert fresh.state == TrialState.RUNNING
    assert fresh.params == running.params
    relative = [key for key in fresh.system_attrs if key.startswith("tpe:relative_params")]
    assert relative, fresh.system_attrs
    cached = _cached(app, study.study_id).trials[running.trial_number]
    assert cached.system_attrs == fresh.system_attrs


def test_a_grid_study_walks_every_cell_once_with_its_grid_ids_stored(
    client: Client, app: FastAPI, settings: Settings
) -> None:
    """GridSampler sets `grid_id` in `before_trial` and reads it back while suggesting: the
    attribute waits in the ask with the params, and is read back from there."""
    space = {
        "filters": {"type": "categorical", "choices": [8, 16]},
        "kernel_size": {"type": "categorical", "choices": [1, 3]},
        "learning_rate": 0.01,
    }
    study = client.create_study(spec(sampler="grid", pruner="none", space=space, max_trials=10))
    worker = SimulatedWorker(client, "w")
    for _ in range(4):
        worker.run_one(epochs=1)
    after = client.claim("w")
    assert after is not None and after.kind == "retrain"  # the grid is done
    fresh = _fresh(settings, app, study.study_id).trials
    cells = sorted((t.params["filters"], t.params["kernel_size"]) for t in fresh)
    assert cells == [(8, 1), (8, 3), (16, 1), (16, 3)]
    assert sorted(t.system_attrs["grid_id"] for t in fresh) == [0, 1, 2, 3]
