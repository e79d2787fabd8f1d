"""Ranked trials, straight from SQL: the leaderboard, the Pareto front, the best trial.

With one objective, trials with equal values rank by their `val_loss` at the chosen epoch,
lower first, then by trial number: accuracy on a small validation split ties often, and of
two trials that agree on it, the one with the lower loss is the more confident one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.tables import EpochRow, StudyRow, TrialRow

__all__ = ["best_trial", "epochs_of", "leaderboard_rows", "pareto_front"]

# The tie-break by dialect, lower first, trials without a `val_loss` last. NaN is stored as
# the string "NaN": PostgreSQL casts it to a float above all others, while SQLite would cast
# it to 0.0, so there the JSON value stays uncast (SQLite sorts numbers before text).
_TIE_BREAK = {
    "sqlite": func.json_extract(TrialRow.metrics, '$."val_loss"').asc().nulls_last(),
    "postgresql": TrialRow.metrics["val_loss"].as_float().asc().nulls_last(),
}


def _directions(study: StudyRow) -> list[str]:
    objective = study.spec["objective"]
    objectives = objective if isinstance(objective, list) else [objective]
    return [o.get("direction") or "maximize" for o in objectives]


def _ranked(session: Session, study: StudyRow, limit: int) -> list[TrialRow]:
    """The best `limit` completed trials. The value alone finds the edge (the `limit`-th
    value, from the board index); only the trials at or past it are sorted with the
    tie-break, so a board over 50,000 trials reads no more rows than it shows, plus ties."""
    maximize = _directions(study)[0] == "maximize"
    order = TrialRow.value.desc() if maximize else TrialRow.value.asc()
    completed = (
        TrialRow.study_id == study.study_id,
        TrialRow.state == "completed",
        TrialRow.value.is_not(None),
    )
    edge = session.scalar(
        select(TrialRow.value).where(*completed).order_by(order).offset(limit - 1).limit(1)
    )
    statement = select(TrialRow).where(*completed)
    if edge is not None:
        statement = statement.where(TrialRow.value >= edge if maximize else TrialRow.value <= edge)
    tie_break = _TIE_BREAK[session.get_bind().dialect.name]
    return list(
        session.scalars(statement.order_by(order, tie_break, TrialRow.trial_number).limit(limit))
    )


def leaderboard_rows(session: Session, study: StudyRow, limit: int) -> list[TrialRow]:
    """Completed trials, best first; for several objectives, the Pareto front first."""
    if len(_directions(study)) > 1:
        front = pareto_front(session, study)
        return front[:limit]
    return _ranked(session, study, limit)


def best_trial(session: Session, study: StudyRow) -> TrialRow | None:
    rows = leaderboard_rows(session, study, 1)
    return rows[0] if rows else None


def pareto_front(session: Session, study: StudyRow) -> list[TrialRow]:
    """Non-dominated completed trials, ordered by the first objective."""
    directions = _directions(study)
    statement = select(TrialRow.trial_id, TrialRow.values).where(
        TrialRow.study_id == study.study_id, TrialRow.state == "completed"
    )
    points = [
        (trial_id, _signed(values, directions))
        for trial_id, values in session.execute(statement)
        if values and all(isinstance(v, int | float) for v in values)
    ]
    front = [tid for tid, point in points if not any(_dominates(o, point) for _, o in points)]
    rows = list(session.scalars(select(TrialRow).where(TrialRow.trial_id.in_(front))))
    sign = 1 if directions[0] == "minimize" else -1
    return sorted(rows, key=lambda r: (sign * (r.value or 0.0), r.trial_number))


def _signed(values: Sequence[Any], directions: list[str]) -> tuple[float, ...]:
    """Values turned so that smaller is better for every objective."""
    return tuple(-v if d == "maximize" else v for v, d in zip(values, directions, strict=False))


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and a != b


def epochs_of(session: Session, trial_ids: list[int]) -> dict[int, list[EpochRow]]:
    if not trial_ids:
        return {}
    statement = select(EpochRow).where(EpochRow.trial_id.in_(trial_ids)).order_by(EpochRow.epoch)
    by_trial: dict[int, list[EpochRow]] = {tid: [] for tid in trial_ids}
    for row in session.scalars(statement):
        by_trial[row.trial_id].append(row)
    return by_trial
