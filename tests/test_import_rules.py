"""The rules of the house, checked by importing in a fresh interpreter: the controller never
loads TensorFlow or Keras; workers never load SQLAlchemy, Optuna or the controller; the spec
language loads neither Optuna nor Keras; the client loads none of the controller."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("tensorflow", "keras", "keras_tuner")
STORE = ("sqlalchemy", "optuna", "service")


def loaded_after(statement: str) -> set[str]:
    report = "import json, sys; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    code = f"{statement}\n{report}"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    ("statement", "forbidden"),
    [
        ("import service.app, service.routes.dashboard, service.reaper", HEAVY),
        ("import workers.loop, workers.slot, workers.supervisor, workers.retrain", STORE),
        ("import workers.hypermodels, workers.model_builder", STORE),
        # The supervisor starts slot processes; only they load TensorFlow.
        ("import workers.supervisor, workers.pinning", (*HEAVY, *STORE)),
        ("import search_spaces, search_spaces.capacity, search_spaces.sampling", (*HEAVY, *STORE)),
        ("import hpsearch, hpsearch.client, hpsearch.progress", (*HEAVY, *STORE)),
        ("import hpsearch.cli", (*HEAVY, *STORE)),
    ],
)
def test_an_import_loads_nothing_it_must_not(statement: str, forbidden: tuple[str, ...]) -> None:
    loaded = loaded_after(statement)
    assert loaded & set(forbidden) == set()
    # The check can fail: the statement did load what it names.
    assert statement.split()[1].strip(",").split(".", maxsplit=1)[0] in loaded
