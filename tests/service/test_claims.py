"""Claiming work: completion by simulated workers, idempotence, budgets, priorities."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from optuna.trial import TrialState
from sqlalchemy import text

from hpsearch import Client
from service.claims import _keep_or_return
from service.leases import db_time, live_trial_leases
from service.optuna_bridge import AskedTrial
from service.tables import StudyRow, TrialRow
from tests.support.simulated_workers import SimulatedWorker
from tests.support.specs import spec


def test_a_study_is_driven_to_completion_by_simulated_workers(client: Client) -> None:
    study = client.create_study(spec(max_trials=8, pruner="none", training={"epochs": 3}))
    workers = [SimulatedWorker(client, f"sim-{i}") for i in range(2)]
    while any(w.run_one() is not None for w in workers):
        pass
    final = client.get_study(study)
    assert final.state == "completed"
    assert final.counts["completed"] == 8
    assert sum(len(w.finished) for w in workers) == 8
    board = client.leaderboard(study, limit=8)
    values = [t.value for t in board]
    assert len(board) == 8 and values == sorted(values, reverse=True)
    assert final.best is not None and final.best.value == values[0]
    assert all(len(t.intermediate) == 3 for t in board)
    assert {t.worker_id for t in board} <= {"sim-0", "sim-1"}


def test_a_worker_holding_work_gets_the_same_work_again(client: Client) -> None:
    client.create_study(spec())
    first = client.claim("w1")
    again = client.claim("w1")
    assert first is not None and again is not None
    assert again.work_id == first.work_id
    assert again.trial_id == first.trial_id and again.params == first.params
    other = client.claim("w2")
    assert other is not None and other.trial_id != first.trial_id


def test_claim_answers_nothing_when_no_study_runs(client: Client) -> None:
    assert client.claim("idle") is None
    study = client.create_study(spec())
    client.pause(study)
    assert client.claim("idle") is None
    client.resume(study)
    assert client.claim("idle") is not None


def test_max_parallel_caps_the_running_trials(client: Client) -> None:
    client.create_study(spec(max_parallel=2))
    assert client.claim("a") is not None
    assert client.claim("b") is not None
    assert client.claim("c") is None


def test_max_trials_caps_the_study(client: Client) -> None:
    study = client.create_study(spec(max_trials=2, max_parallel=4, training={"epochs": 1}))
    worker = SimulatedWorker(client, "solo")
    assert worker.run_until_idle() == 2
    assert client.claim("late", kinds=("trial",)) is None
    final = client.get_study(study)
    assert final.state == "completed"
    # The spec asks for a retrain: the study's end queued one, for its best trial.
    retrain = client.claim("late")
    assert retrain is not None and retrain.kind == "retrain"
    assert final.best is not None and retrain.trial_id == final.best.trial_id


def test_the_higher_priority_study_is_claimed_first_then_the_older(client: Client) -> None:
    old = client.create_study(spec(name="old", max_parallel=1))
    new = client.create_study(spec(name="new", max_parallel=1))
    urgent = client.create_study(spec(name="urgent", priority=5, max_parallel=1))
    order = []
    for worker in ("w1", "w2", "w3"):
        assignment = client.claim(worker)
        assert assignment is not None
        order.append(assignment.study_id)
    assert order == [urgent.study_id, old.study_id, new.study_id]


def test_the_assignment_carries_what_the_worker_needs(client: Client) -> None:
    client.create_study(spec(seed=7))
    assignment = client.claim("w1")
    assert assignment is not None
    assert assignment.kind == "trial"
    assert assignment.model == "cnn" and assignment.dataset == "digits"
    assert assignment.training["epochs"] == 10 and assignment.training["batch_size"] == 64
    assert assignment.objectives[0]["metric"] == "val_accuracy"
    assert set(assignment.params) == {
        "filters", "kernel_size", "dense_units", "learning_rate", "dropout", "l2"
    }  # fmt: skip
    assert 16 <= assignment.params["filters"] <= 128 and assignment.params["filters"] % 16 == 0
    assert assignment.params["kernel_size"] in (3, 5)
    assert assignment.seed == 7 and assignment.lease_seconds == 30


def test_constants_and_conditions_shape_the_params(client: Client) -> None:
    space = {
        "conv_blocks": {"type": "categorical", "choices": [1, 2]},
        "filters": 32,
        "batch_norm": {"type": "categorical", "choices": [True, False]},
        "dropout": {"type": "float", "low": 0.1, "high": 0.2, "when": {"batch_norm": False}},
    }
    client.create_study(spec(space=space, sampler={"name": "random", "seed": 3}, max_parallel=20))
    seen = []
    for i in range(12):
        assignment = client.claim(f"w{i}")
        assert assignment is not None
        params = assignment.params
        assert params["filters"] == 32
        assert ("dropout" in params) == (params["batch_norm"] is False)
        seen.append(params["batch_norm"])
    assert set(seen) == {True, False}


def test_a_study_kept_from_the_fleet_goes_only_to_claims_that_name_it(client: Client) -> None:
    study = client.create_study(spec(name="tuner-only", fleet=False))
    assert client.claim("fleet-worker") is None
    work = client.claim("tuner", study_id=study.study_id)
    assert work is not None and work.study_id == study.study_id


def _asked_ahead(app: FastAPI, study_id: int, budget_left: bool) -> tuple[AskedTrial, str]:
    """A trial asked from Optuna for a study that, once locked, has no room: what becomes
    of it (the race of two claims asking ahead on PostgreSQL, played out by hand)."""
    ctx = app.state.ctx
    with ctx.transaction() as session:
        study = session.get_one(StudyRow, study_id)
        asked = ctx.optuna.ask(study.optuna_name, study.spec)
        if not budget_left:
            study.max_trials = study.trials_used
        _keep_or_return(ctx, session, study, asked, db_time(session))
        row = session.get(TrialRow, asked.trial_id)
        return asked, "no row" if row is None else row.state


def test_a_trial_asked_ahead_without_room_waits_ready_for_the_next_claim(
    client: Client, app: FastAPI
) -> None:
    study = client.create_study(spec(max_trials=5, max_parallel=1))
    asked, state = _asked_ahead(app, study.study_id, budget_left=True)
    assert state == "ready"
    work = client.claim("w")
    assert work is not None and work.trial_id == asked.trial_id and work.params == asked.params


# Only PostgreSQL claims ask ahead; on SQLite a write of ours before Optuna's would block it.
@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_trial_asked_ahead_past_the_budget_is_given_back_to_optuna(
    client: Client, app: FastAPI
) -> None:
    study = client.create_study(spec(max_trials=5))
    asked, state = _asked_ahead(app, study.study_id, budget_left=False)
    assert state == "no row"
    name = client.get_study(study).spec["name"]
    ctx = app.state.ctx
    with ctx.sessions() as session:
        optuna_name = session.get_one(StudyRow, study.study_id).optuna_name
    (trial,) = ctx.optuna.storage.get_all_trials(
        ctx.optuna.storage.get_study_id_from_name(optuna_name)
    )
    assert trial._trial_id == asked.trial_id and trial.state == TrialState.FAIL
    assert name == "digits-cnn" and client.claim("w") is None


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_claim_that_finds_no_room_once_locked_rolls_back_and_keeps_its_trial_ready(
    client: Client, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the trial and lease are written before the study is locked; when the
    locked count shows the study full after all (another claim got in first), nothing of
    the claim stays but its asked trial, waiting ready for the next claim."""
    import service.claims

    study = client.create_study(spec(max_trials=10, max_parallel=2))
    counts = live_trial_leases
    calls: list[int] = []

    def full_once_locked(session, study_ids, now):  # type: ignore[no-untyped-def]
        calls.append(len(calls))
        live = counts(session, study_ids, now)
        # The count under the lock (the first look comes with the runnable studies): full.
        return {s: 2 + live.get(s, 0) for s in study_ids} if len(calls) == 1 else live

    monkeypatch.setattr(service.claims, "live_trial_leases", full_once_locked)
    assert client.claim("late") is None
    monkeypatch.setattr(service.claims, "live_trial_leases", counts)
    ctx = app.state.ctx
    with ctx.sessions() as session:
        row = session.get_one(StudyRow, study.study_id)
        trials = session.query(TrialRow).filter_by(study_id=study.study_id).all()
        leases = session.execute(text("SELECT count(*) FROM hps_leases")).scalar_one()
    assert (row.trials_used, row.trials_ready) == (1, 1)
    assert [t.state for t in trials] == ["ready"] and leases == 0
    work = client.claim("next")
    assert work is not None and work.trial_id == trials[0].trial_id
    assert work.params == trials[0].params
    assert client.get_study(study).counts.get("running") == 1
