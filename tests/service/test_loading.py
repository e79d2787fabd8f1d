"""Trials read with the cache's own statements are the trials Optuna's storage reads."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.storages import RDBStorage
from optuna.trial import TrialState, create_trial

from service.optuna_bridge.loading import load_trials

optuna.logging.set_verbosity(optuna.logging.ERROR)


def _fill(storage: RDBStorage) -> int:
    """A study with a trial of every kind, and a second study beside it."""
    study = optuna.create_study(
        storage=storage, study_name="a", directions=["maximize", "minimize"]
    )
    other = optuna.create_study(storage=storage, study_name="b")
    other.add_trial(create_trial(value=1.0))
    for index in range(3):
        trial = study.ask()
        trial.suggest_int("filters", 16, 128, step=16)
        trial.suggest_categorical("activation", ["relu", "gelu"])
        trial.suggest_float("lr", 1e-4, 1e-2, log=True)
        trial.set_user_attr("note", {"index": index})
        trial.storage.set_trial_system_attr(trial._trial_id, "fixed", [index, "x"])
        for step, value in enumerate([0.5, math.nan, math.inf, -math.inf][: index + 2]):
            storage.set_trial_intermediate_value(trial._trial_id, step, value)
        if index == 0:
            study.tell(trial, [math.inf, -math.inf])
        elif index == 1:
            study.tell(trial, state=TrialState.FAIL)
    study.enqueue_trial({"filters": 32})  # waiting, with its fixed params in an attribute
    return study._study_id


def _view(trial: optuna.trial.FrozenTrial) -> dict[str, object]:
    fields = ("number", "state", "values", "datetime_start", "datetime_complete", "params",
              "distributions", "user_attrs", "system_attrs", "_trial_id")  # fmt: skip
    view = {name: getattr(trial, name) for name in fields}
    view["intermediate_values"] = {s: repr(v) for s, v in trial.intermediate_values.items()}
    return view


@pytest.mark.parametrize("listed", [False, True], ids=["after-an-id", "by-id"])
def test_loaded_trials_equal_optunas_own_reads(database_url: str, listed: bool) -> None:
    storage = RDBStorage(database_url)
    study_id = _fill(storage)
    theirs = storage.get_all_trials(study_id)
    assert len(theirs) == 4
    with storage.engine.connect() as connection:
        if listed:
            ids = [t._trial_id for t in theirs[1:]]
            ours = load_trials(connection, study_id, ids=ids)
            theirs = theirs[1:]
        else:
            ours = load_trials(connection, study_id, after=-1)
    assert [_view(t) for t in ours] == [_view(t) for t in theirs]
    storage.engine.dispose()
