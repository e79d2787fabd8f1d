"""Fill a study with N finished trials fast (bulk inserts), for benchmarks at 1k-50k trials.

The same rows go into Optuna's tables for both systems under test; for an hpsearch study, its
own `hps_trials` rows and budget counter too. Bench-only: it writes the tables directly.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import Any

from optuna.distributions import distribution_to_json
from optuna.storages._rdb import models
from optuna.trial import TrialState
from sqlalchemy import Engine, insert, update

from search_spaces.sampling import sample_params
from search_spaces.space import ranges
from search_spaces.spec import StudySpec
from service.optuna_bridge import to_distribution
from service.tables import StudyRow, TrialRow

__all__ = ["prefill"]

EPOCHS = 5
CHUNK = 2000
FINITE_STEP = models.TrialIntermediateValueModel.TrialIntermediateValueType.FINITE


def _trial_rows(spec: StudySpec, count: int, start_number: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        params = sample_params(spec.space, rng)
        curve = [0.5 + 0.45 * rng.random() * (step / EPOCHS) for step in range(1, EPOCHS + 1)]
        rows.append({"number": start_number + i, "params": params, "curve": curve})
    return rows


def prefill(
    engine: Engine,
    optuna_study_id: int,
    spec: StudySpec,
    count: int,
    study_id: int | None = None,
    seed: int = 0,
) -> float:
    """Insert `count` completed trials; returns the seconds it took."""
    started = time.perf_counter()
    entries = ranges(spec.space)
    distributions = {name: to_distribution(entry) for name, entry in entries.items()}
    for offset in range(0, count, CHUNK):
        rows = _trial_rows(spec, min(CHUNK, count - offset), offset, seed + offset)
        with engine.begin() as connection:
            ids = _insert_optuna(connection, optuna_study_id, rows, distributions)
            if study_id is not None:
                _insert_ours(connection, study_id, rows, ids)
    if study_id is not None:
        with engine.begin() as connection:
            connection.execute(
                update(StudyRow)
                .where(StudyRow.study_id == study_id)
                .values(trials_used=StudyRow.trials_used + count)
            )
    return time.perf_counter() - started


def _insert_optuna(
    connection: Any, study_id: int, rows: list[dict[str, Any]], distributions: dict[str, Any]
) -> list[int]:
    now = datetime.now(UTC).replace(tzinfo=None)
    trials = models.TrialModel.__table__
    result = connection.execute(
        insert(trials).returning(trials.c.trial_id, sort_by_parameter_order=True),
        [
            {
                "number": r["number"],
                "study_id": study_id,
                "state": TrialState.COMPLETE,
                "datetime_start": now,
                "datetime_complete": now,
            }
            for r in rows
        ],
    )
    ids = [row[0] for row in result]
    params, values, steps = [], [], []
    for trial_id, row in zip(ids, rows, strict=True):
        for name, dist in distributions.items():
            if name in row["params"]:
                params.append(
                    {
                        "trial_id": trial_id,
                        "param_name": name,
                        "param_value": dist.to_internal_repr(row["params"][name]),
                        "distribution_json": _dist_json(dist),
                    }
                )
        values.append(
            {
                "trial_id": trial_id,
                "objective": 0,
                "value": max(row["curve"]),
                "value_type": models.TrialValueModel.TrialValueType.FINITE,
            }
        )
        for step, value in enumerate(row["curve"], start=1):
            steps.append(
                {
                    "trial_id": trial_id,
                    "step": step,
                    "intermediate_value": value,
                    "intermediate_value_type": FINITE_STEP,
                }
            )
    connection.execute(insert(models.TrialParamModel.__table__), params)
    connection.execute(insert(models.TrialValueModel.__table__), values)
    connection.execute(insert(models.TrialIntermediateValueModel.__table__), steps)
    return ids


def _dist_json(dist: Any) -> str:
    return distribution_to_json(dist)


def _insert_ours(
    connection: Any, study_id: int, rows: list[dict[str, Any]], ids: list[int]
) -> None:
    now = time.time()
    connection.execute(
        insert(TrialRow.__table__),
        [
            {
                "trial_id": tid,
                "study_id": study_id,
                "trial_number": r["number"],
                "state": "completed",
                "attempt": 1,
                "requeued": False,
                "params": r["params"],
                "value": max(r["curve"]),
                "values": [max(r["curve"])],
                "metrics": {"val_accuracy": max(r["curve"])},
                "epochs": EPOCHS,
                "created_at": now,
                "started_at": now,
                "finished_at": now,
            }
            for tid, r in zip(ids, rows, strict=True)
        ],
    )
