"""Ready trials asked ahead of claims (HPSEARCH_PREFETCH): claims take them without running
the sampler; the budget, stop and completion account for them."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from fastapi import FastAPI

from hpsearch import Client
from service.prefetch import refill
from tests.support.simulated_workers import SimulatedWorker
from tests.support.specs import spec

DEPTH = 3


@pytest.fixture
def prefetching(app: FastAPI) -> FastAPI:
    """The app without its background prefetcher (prefetch is off): tests call refill()."""
    assert app.state.ctx.settings.prefetch == 0
    return app


def optuna_states(settings_url: str, name: str) -> list[str]:
    study = optuna.load_study(study_name=name, storage=settings_url)
    return sorted(t.state.name for t in study.get_trials(deepcopy=False))


def test_refill_asks_ahead_up_to_the_depth_and_the_budget(
    prefetching: FastAPI, client: Client
) -> None:
    ctx = prefetching.state.ctx
    big = client.create_study(spec(name="big", max_trials=10))
    small = client.create_study(spec(name="small", max_trials=2))
    assert refill(ctx, DEPTH) == 5
    assert client.get_study(big).counts["ready"] == 3
    assert client.get_study(small).counts["ready"] == 2
    assert refill(ctx, DEPTH) == 0
    url = ctx.settings.database_url
    assert optuna_states(url, client.get_study(small).optuna_study_name) == ["RUNNING", "RUNNING"]


def test_a_claim_takes_a_ready_trial_without_asking(
    prefetching: FastAPI, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = prefetching.state.ctx
    study = client.create_study(spec(max_trials=5))
    refill(ctx, DEPTH)
    ready = {t.trial_id: t.params for t in client.trials(study, state="ready")}

    def no_asking(*args: Any) -> Any:
        raise AssertionError("the claim ran the sampler")

    monkeypatch.setattr(ctx.optuna, "ask", no_asking)
    work = client.claim("w1")
    assert work is not None and work.trial_id == min(ready) and work.params == ready[work.trial_id]
    assert ctx.prefetch_wanted.is_set()
    assert client.get_study(study).counts["ready"] == 2


def test_the_study_completes_only_once_its_ready_trials_ran(
    prefetching: FastAPI, client: Client
) -> None:
    study = client.create_study(
        spec(max_trials=4, pruner="none", training={"epochs": 1}, retrain=None)
    )
    refill(prefetching.state.ctx, DEPTH)
    worker = SimulatedWorker(client, "w")
    assert worker.run_until_idle() == 4
    final = client.get_study(study)
    assert final.state == "completed" and final.counts["completed"] == 4
    assert final.counts["ready"] == 0


def test_stopping_gives_ready_trials_back(prefetching: FastAPI, client: Client) -> None:
    ctx = prefetching.state.ctx
    study = client.create_study(spec(max_trials=5))
    refill(ctx, DEPTH)
    stopped = client.stop(study)
    assert stopped.counts["ready"] == 0 and sum(stopped.counts.values()) == 0
    assert optuna_states(ctx.settings.database_url, stopped.optuna_study_name) == ["FAIL"] * 3
    assert client.claim("w") is None


def test_a_new_budget_re_asks_instead_of_overrunning(prefetching: FastAPI, client: Client) -> None:
    ctx = prefetching.state.ctx
    study = client.create_study(spec(max_trials=5))
    refill(ctx, DEPTH)
    assert client.update_study(study, max_trials=2).counts["ready"] == 0
    refill(ctx, DEPTH)
    assert client.get_study(study).counts["ready"] == 2


def test_the_background_task_keeps_the_queue_full(settings: Any, tmp_path: Any) -> None:
    from fastapi.testclient import TestClient

    from service import create_app
    from tests.conftest import dispose
    from tests.support.processes import wait_until

    app = create_app(settings.model_copy(update={"prefetch": 2}))
    with TestClient(app) as http:
        client = Client("http://testserver", http=http)
        study = client.create_study(spec(max_trials=10))
        wait_until(lambda: client.get_study(study).counts["ready"] == 2, 30, "two ready trials")
        work = client.claim("w")
        assert work is not None
        wait_until(lambda: client.get_study(study).counts["ready"] == 2, 30, "a refill")
        assert client.get_study(study).counts["running"] == 1
    dispose(app)
