"""Concurrent claimers, over real HTTP: no trial is ever handed to two workers.

On PostgreSQL two controllers (separate engines, pools and Optuna caches) share one database,
as several controller processes behind a load balancer would.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack

import optuna
import pytest
from fastapi import FastAPI
from optuna.trial import TrialState
from sqlalchemy import create_engine, select

from hpsearch import Client
from service import Settings, create_app
from service.tables import StudyRow
from tests.conftest import dispose
from tests.support.live_server import live_server
from tests.support.specs import spec

THREADS = 8
TRIALS = 48


@pytest.fixture
def controllers(settings: Settings) -> Iterator[list[str]]:
    count = 2 if settings.database_url.startswith("postgresql") else 1
    apps: list[FastAPI] = [create_app(settings) for _ in range(count)]
    with ExitStack() as stack:
        urls = [stack.enter_context(live_server(app)) for app in apps]
        yield urls
    for app in apps:
        dispose(app)


def claim_and_finish(
    url: str, worker_id: str, seen: list[int], errors: list[BaseException]
) -> None:
    try:
        with Client(url) as client:
            while (work := client.claim(worker_id, kinds=("trial",))) is not None:
                seen.append(work.trial_id)
                client.report(work.work_id, worker_id, 1, {"val_accuracy": 0.5})
                client.complete(work.work_id, worker_id, "completed", metrics={"val_accuracy": 0.5})
    except BaseException as exc:  # surfaced by the test below
        errors.append(exc)


def _given_back(settings: Settings, study_id: int) -> list[int]:
    """Numbers of the study's Optuna trials failed without ever running (given back)."""
    engine = create_engine(settings.database_url)
    with engine.connect() as connection:
        name = connection.execute(
            select(StudyRow.optuna_name).where(StudyRow.study_id == study_id)
        ).scalar_one()
    engine.dispose()
    trials = optuna.load_study(study_name=name, storage=settings.database_url).trials
    return [t.number for t in trials if t.state == TrialState.FAIL]


def test_concurrent_claimers_never_get_the_same_trial(
    controllers: list[str], settings: Settings
) -> None:
    with Client(controllers[0]) as client:
        study = client.create_study(spec(max_trials=TRIALS, max_parallel=THREADS, pruner="none"))
    seen: list[int] = []
    errors: list[BaseException] = []
    threads = [
        threading.Thread(
            target=claim_and_finish,
            args=(controllers[i % len(controllers)], f"thread-{i}", seen, errors),
        )
        for i in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    duplicates = [tid for tid, n in Counter(seen).items() if n > 1]
    assert duplicates == []
    assert len(seen) == TRIALS
    with Client(controllers[-1]) as client:
        final = client.get_study(study)
        numbers = [t.number for t in client.trials(study)]
    assert final.state == "completed" and final.counts["completed"] == TRIALS
    # On PostgreSQL a claim asks Optuna before it locks the study; when other claims spent
    # the budget meanwhile, its trial is given back (failed in Optuna, never handed out).
    # Every Optuna number is either one of the study's trials or such a trial.
    given_back = _given_back(settings, study.study_id)
    assert len(set(numbers)) == TRIALS and len(given_back) < THREADS
    assert sorted(numbers + given_back) == list(range(TRIALS + len(given_back)))
