"""Writes and reads on Optuna's own tables inside the caller's transaction.

A report's intermediate value goes into Optuna's `trial_intermediate_values` in the same
transaction as the report's own rows: one statement instead of a transaction of Optuna's
storage per epoch. The lease the report renews guarantees the trial is running, which is
what Optuna's storage would otherwise check. The representation (NaN and infinities as a
type column) is Optuna's own, so `optuna-dashboard` and Optuna's readers see what
`Trial.report` would have written.
"""

from __future__ import annotations

import json
from typing import Any

from optuna.storages._rdb.models import (
    TrialIntermediateValueModel,
    TrialSystemAttributeModel,
)
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

__all__ = ["read_system_attrs", "record_intermediate"]

_VALUES = TrialIntermediateValueModel.__table__
_ATTRS = TrialSystemAttributeModel.__table__


def record_intermediate(session: Session, trial_id: int, step: int, value: float) -> None:
    """Optuna's intermediate value of a trial at a step (a repeated step replaces it)."""
    stored, kind = TrialIntermediateValueModel.intermediate_value_to_stored_repr(value)
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(_VALUES).values(
        trial_id=trial_id, step=step, intermediate_value=stored, intermediate_value_type=kind
    )
    changes = {
        "intermediate_value": statement.excluded.intermediate_value,
        "intermediate_value_type": statement.excluded.intermediate_value_type,
    }
    session.execute(
        statement.on_conflict_do_update(index_elements=["trial_id", "step"], set_=changes)
    )


def read_system_attrs(session: Session, trial_id: int) -> dict[str, Any]:
    """A trial's system attributes, as Optuna stores them (JSON text per key)."""
    rows = session.execute(
        select(_ATTRS.c.key, _ATTRS.c.value_json).where(_ATTRS.c.trial_id == trial_id)
    )
    return {key: json.loads(value) for key, value in rows}
