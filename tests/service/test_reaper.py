"""Expired leases: the trial fails with `lease expired`, its params are re-queued and
finished by another worker; late writes from the old holder are 409 and change nothing."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from hpsearch import Client
from hpsearch.errors import Conflict
from service.reaper import reap_expired
from tests.support.leases import expire_lease
from tests.support.simulated_workers import SimulatedWorker
from tests.support.specs import spec


def test_an_expired_lease_is_requeued_and_finished_by_another_worker(
    client: Client, app: FastAPI
) -> None:
    study = client.create_study(spec(max_trials=1, training={"epochs": 2}, pruner="none"))
    lost = client.claim("doomed")
    assert lost is not None
    client.report(lost.work_id, "doomed", 1, {"val_accuracy": 0.5})
    expire_lease(app, lost.work_id)
    assert reap_expired(app.state.ctx) == 1

    failed = client.trials(study, state="failed")
    assert [t.trial_id for t in failed] == [lost.trial_id]
    assert failed[0].reason == "lease expired" and failed[0].requeued

    rescuer = SimulatedWorker(client, "rescuer")
    again = rescuer.run_one()
    assert again is not None
    assert again.trial_id != lost.trial_id
    assert again.params == lost.params and again.attempt == 2
    final = client.get_study(study)
    assert final.state == "completed" and final.counts["completed"] == 1


def test_late_writes_from_the_old_holder_are_409_and_change_nothing(
    client: Client, app: FastAPI
) -> None:
    study = client.create_study(spec(max_trials=2, pruner="none"))
    lost = client.claim("slow")
    assert lost is not None
    expire_lease(app, lost.work_id)
    # Before the reaper runs, the lease is already dead for writes.
    with pytest.raises(Conflict):
        client.report(lost.work_id, "slow", 1, {"val_accuracy": 0.9})
    reap_expired(app.state.ctx)
    with pytest.raises(Conflict):
        client.complete(lost.work_id, "slow", "completed", metrics={"val_accuracy": 0.99})
    with pytest.raises(Conflict):
        client.heartbeat(lost.work_id, "slow")
    trial = next(t for t in client.trials(study) if t.trial_id == lost.trial_id)
    assert trial.state == "failed" and trial.value is None and trial.intermediate == []


def test_the_retry_budget_bounds_requeues(client: Client, app: FastAPI) -> None:
    app.state.ctx.settings = app.state.ctx.settings.model_copy(update={"retry_budget": 1})
    study = client.create_study(spec(max_trials=1))
    for attempt, worker in ((1, "a"), (2, "b")):
        assignment = client.claim(worker)
        assert assignment is not None and assignment.attempt == attempt
        expire_lease(app, assignment.work_id)
        reap_expired(app.state.ctx)
    assert client.claim("c") is None
    trials = client.trials(study)
    assert [t.requeued for t in trials] == [True, False]
    assert client.get_study(study).state == "completed"


def test_a_heartbeat_keeps_the_lease_alive(client: Client, app: FastAPI) -> None:
    client.create_study(spec())
    assignment = client.claim("beating")
    assert assignment is not None
    answer = client.heartbeat(assignment.work_id, "beating")
    assert answer.lease_seconds == 30 and answer.stop is False
    assert reap_expired(app.state.ctx) == 0
    assert client.claim("beating") == assignment
