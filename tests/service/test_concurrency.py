"""Concurrent claimers, over real HTTP: no trial is ever handed to two workers.

On PostgreSQL two controllers (separate engines, pools and Optuna caches) share one database,
as several controller processes behind a load balancer would.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from fastapi import FastAPI

from hpsearch import Client
from service import Settings, create_app
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


def test_concurrent_claimers_never_get_the_same_trial(controllers: list[str]) -> None:
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
    assert sorted(numbers) == list(range(TRIALS))
