"""The kept TPE sampler asks exactly what Optuna's TPE sampler asks, trial after trial."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.samplers import BaseSampler, TPESampler
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import Trial, TrialState

from service.optuna_bridge.cache import TrialCache
from service.optuna_bridge.tpe import KeptTPESampler

optuna.logging.set_verbosity(optuna.logging.ERROR)


def suggest(trial: Trial, conditional: bool) -> dict[str, Any]:
    params: dict[str, Any] = {
        "filters": trial.suggest_int("filters", 16, 128, step=16),
        "kernel_size": trial.suggest_categorical("kernel_size", [3, 5]),
        "dense_units": trial.suggest_int("dense_units", 32, 256, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
    }
    if conditional and params["kernel_size"] == 5:
        params["l2"] = trial.suggest_float("l2", 1e-6, 1e-3, log=True)
    return params


def drive(
    sampler: BaseSampler, storage: BaseStorage | None, direction: str, seed: int, **how: bool
) -> list[dict[str, Any]]:
    """120 asks with every kind of ending: values with ties, pruned trials with and without
    (and with NaN) intermediate values, failures, trials left running for a while (constant
    liar), and, if asked, infeasible trials. Returns the params of every ask."""
    study = optuna.create_study(storage=storage, direction=direction, sampler=sampler)
    rng = random.Random(seed)
    asked, running = [], []
    for _ in range(120):
        trial = study.ask()
        asked.append(suggest(trial, how.get("conditional", False)))
        if how.get("constraints") and rng.random() < 0.3:
            trial.set_constraint("memory", rng.choice([-1.0, 0.0, 2.0]))
        roll = rng.random()
        if roll < 0.2:
            running.append(trial)
            continue
        if running and roll < 0.35:
            study.tell(running.pop(0), round(rng.random(), 1))
        if roll < 0.5:
            study.tell(trial, round(rng.random(), 1))  # one decimal: many ties
        elif roll < 0.8:
            for step in range(rng.randint(0, 4)):
                value = float("nan") if rng.random() < 0.1 else round(rng.random(), 2)
                trial.report(value, step)
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, state=TrialState.FAIL)
    return asked


@pytest.mark.parametrize(("direction", "seed"), [("maximize", 0), ("minimize", 1)])
def test_a_seeded_kept_sampler_asks_what_optunas_tpe_sampler_asks(
    tmp_path: Path, direction: str, seed: int
) -> None:
    """Ours on the controller's trial cache over SQLite, Optuna's in memory."""
    options = {"seed": seed, "multivariate": True, "constant_liar": True, "n_startup_trials": 5}
    storage = TrialCache(RDBStorage(f"sqlite:///{tmp_path / 'o.db'}"), max_staleness=0)
    ours = drive(KeptTPESampler(**options), storage, direction, seed)
    theirs = drive(TPESampler(**options), None, direction, seed)
    assert ours == theirs
    assert len({p["learning_rate"] for p in ours}) == len(ours)  # sampled, not fixed


@pytest.mark.parametrize(
    ("options", "how"),
    [
        ({"multivariate": True, "constant_liar": False}, {}),
        ({"multivariate": False, "constant_liar": True}, {}),
        ({"multivariate": True, "group": True, "constant_liar": True}, {"conditional": True}),
        ({"multivariate": True, "constant_liar": True}, {"constraints": True}),
    ],
    ids=["no-liar", "independent", "group-conditional", "infeasible-trials"],
)
def test_the_kept_sampler_agrees_with_every_option(
    options: dict[str, Any], how: dict[str, bool]
) -> None:
    options = {**options, "seed": 3, "n_startup_trials": 5}
    ours = drive(KeptTPESampler(**options), None, "maximize", 3, **how)
    theirs = drive(TPESampler(**options), None, "maximize", 3, **how)
    assert ours == theirs


def test_a_multi_objective_study_is_left_to_optunas_code() -> None:
    def run(sampler: BaseSampler) -> list[dict[str, Any]]:
        study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
        rng = random.Random(5)
        asked = []
        for _ in range(30):
            trial = study.ask()
            asked.append(suggest(trial, conditional=False))
            study.tell(trial, [rng.random(), rng.random()])
        return asked

    options = {"seed": 5, "multivariate": True, "n_startup_trials": 5}
    assert run(KeptTPESampler(**options)) == run(TPESampler(**options))
