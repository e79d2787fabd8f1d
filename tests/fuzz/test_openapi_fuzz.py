"""Schemathesis against `/openapi.json`: every operation, with a valid token and without.
No input, however odd, may cause a server error; every 4xx carries a `detail`."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from hpsearch import Client
from service import Settings, create_app
from tests.conftest import dispose
from tests.support.specs import spec

ADMIN = "fuzzing-admin-token-0123456789"
# Per operation; RELIABILITY.md records a deeper run: HPSEARCH_FUZZ_EXAMPLES=300.
EXAMPLES = int(os.environ.get("HPSEARCH_FUZZ_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    folder: Path = tmp_path_factory.mktemp("fuzz")
    app = create_app(Settings(database_url=f"sqlite:///{folder}/fuzz.db", admin_token=ADMIN,
                              artifact_dir=folder / "artifacts", reaper_interval=3600))  # fmt: skip
    with TestClient(app) as http:
        client = Client("http://testserver", ADMIN, http=http)
        client.create_study(spec(max_trials=3))
        work = client.claim("fuzz-worker")
        assert work is not None
        yield app
    dispose(app)


def operations(app: FastAPI) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("authorized", [True, False], ids=["with-token", "without-token"])
def test_no_operation_answers_with_a_server_error(fuzzed_app: FastAPI, authorized: bool) -> None:
    headers = {"Authorization": f"Bearer {ADMIN}"} if authorized else {}
    statuses: Counter[int] = Counter()
    problems: list[str] = []
    found = operations(fuzzed_app)
    assert len(found) >= 18

    for operation in found:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def run(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                problems.append(f"{case.method} {case.formatted_path}: {response.status_code}")
            elif 400 <= response.status_code < 500 and "detail" not in response.json():
                problems.append(f"{case.method} {case.formatted_path}: 4xx without detail")

        run()
    total = sum(statuses.values())
    print(f"schemathesis: {total} cases over {len(found)} operations; statuses {dict(statuses)}")
    assert problems == []
    assert total >= len(found) * 5
