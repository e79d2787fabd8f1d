"""Optuna's trials read from its tables with statements built once, for the trial cache.

`RDBStorage._get_trials` loads trials through the ORM: a study check, the trials, then one
select per related table, each built and compiled again, and an ORM object per row; about
15 ms for a single trial here, 8 s for 10,000. The same rows read with plain statements on
one connection, in the same six selects, give the same `FrozenTrial`s (the representation
of values, NaN and infinities is Optuna's own) in a fraction of that.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from optuna.distributions import BaseDistribution, json_to_distribution
from optuna.storages._rdb.models import (
    TrialIntermediateValueModel,
    TrialModel,
    TrialParamModel,
    TrialSystemAttributeModel,
    TrialUserAttributeModel,
    TrialValueModel,
)
from optuna.trial import FrozenTrial
from sqlalchemy import Connection, Select, bindparam, select

__all__ = ["load_trials"]

_TRIALS = TrialModel.__table__
_CHILDREN: dict[str, tuple[Any, tuple[str, ...]]] = {
    "params": (TrialParamModel, ("param_id", "param_name", "param_value", "distribution_json")),
    "values": (TrialValueModel, ("objective", "value", "value_type")),
    "steps": (
        TrialIntermediateValueModel,
        ("step", "intermediate_value", "intermediate_value_type"),
    ),
    "user": (TrialUserAttributeModel, ("key", "value_json")),
    "system": (TrialSystemAttributeModel, ("key", "value_json")),
}


def _statements(by_id: bool) -> dict[str, Select[Any]]:
    """The six selects, of trials listed by id (`ids`, of the study) or of the study's trials
    after an id (`after`): each child table by its trial_id index, or joined to the study's."""
    if by_id:
        wanted: Any = bindparam("ids", expanding=True)
        own = _TRIALS.c.trial_id.in_(wanted)
    else:
        own = _TRIALS.c.trial_id > bindparam("after")
        wanted = select(_TRIALS.c.trial_id).where(_TRIALS.c.study_id == bindparam("study"), own)
    columns = ("trial_id", "number", "state", "datetime_start", "datetime_complete")
    statements = {
        "trials": select(*(_TRIALS.c[c] for c in columns)).where(
            _TRIALS.c.study_id == bindparam("study"), own
        )
    }
    for name, (model, fields) in _CHILDREN.items():
        table = model.__table__
        statements[name] = select(table.c.trial_id, *(table.c[f] for f in fields)).where(
            table.c.trial_id.in_(wanted)
        )
    return statements


_BY_ID, _AFTER = _statements(by_id=True), _statements(by_id=False)


@lru_cache(maxsize=1024)
def _distribution(text: str) -> BaseDistribution:
    return json_to_distribution(text)


def load_trials(
    connection: Connection, study_id: int, after: int = -1, ids: Iterable[int] | None = None
) -> list[FrozenTrial]:
    """The study's trials in `ids`, or (without `ids`) those with an id above `after`, by id."""
    listed = None if ids is None else sorted(ids)
    statements = _AFTER if listed is None else _BY_ID
    where = {"study": study_id, "after": after, "ids": listed}
    # The trials first: a state read before its values can only be older than they are.
    rows = list(connection.execute(statements["trials"], where))
    params: defaultdict[int, list[Any]] = defaultdict(list)
    for trial_id, *rest in connection.execute(statements["params"], where):
        params[trial_id].append(rest)
    values: defaultdict[int, dict[int, float]] = defaultdict(dict)
    for trial_id, objective, value, kind in connection.execute(statements["values"], where):
        values[trial_id][objective] = TrialValueModel.stored_repr_to_value(value, kind)
    steps: defaultdict[int, dict[int, float]] = defaultdict(dict)
    to_step = TrialIntermediateValueModel.stored_repr_to_intermediate_value
    for trial_id, step, value, kind in connection.execute(statements["steps"], where):
        steps[trial_id][step] = to_step(value, kind)
    user = _attrs(connection, statements["user"], where)
    system = _attrs(connection, statements["system"], where)
    trials = []
    for trial_id, number, state, started, completed in rows:
        chosen = sorted(params.get(trial_id, []))  # by param_id, as Optuna orders them
        objectives = values.get(trial_id)
        trials.append(
            FrozenTrial(
                number=number,
                state=state,
                value=None,
                values=[objectives[i] for i in sorted(objectives)] if objectives else None,
                datetime_start=started,
                datetime_complete=completed,
                params={n: _distribution(d).to_external_repr(v) for _, n, v, d in chosen},
                distributions={n: _distribution(d) for _, n, _, d in chosen},
                user_attrs=user.get(trial_id, {}),
                system_attrs=system.get(trial_id, {}),
                intermediate_values=steps.get(trial_id, {}),
                trial_id=trial_id,
            )
        )
    return sorted(trials, key=lambda trial: trial._trial_id)


def _attrs(
    connection: Connection, statement: Select[Any], where: dict[str, Any]
) -> dict[int, dict[str, Any]]:
    found: defaultdict[int, dict[str, Any]] = defaultdict(dict)
    for trial_id, key, value in connection.execute(statement, where):
        found[trial_id][key] = json.loads(value)
    return found
