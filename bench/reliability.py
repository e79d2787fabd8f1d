"""Accounting for a finished study, read straight from the database and a fleet's ledger:
no trial held by two leases, none lost, no result accepted twice, Optuna in agreement."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from sqlalchemy import create_engine, func, select

from service.tables import LeaseRow, StudyRow, TrialRow

__all__ = ["Accounting", "account"]


@dataclass
class Accounting:
    study_state: str = ""
    trials: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    requeued: int = 0
    double_leases: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    double_accepts: list[int] = field(default_factory=list)
    optuna_unfinished: int = 0
    optuna_orphans: int = 0
    ledger_entries: int = 0

    @property
    def holds(self) -> bool:
        return not (
            self.double_leases
            or self.lost
            or self.double_accepts
            or self.optuna_unfinished
            or self.optuna_orphans
        )

    def lines(self) -> list[str]:
        return [
            f"study state            {self.study_state}",
            f"trials                 {self.trials} {dict(sorted(self.by_state.items()))}",
            f"re-queued              {self.requeued}",
            f"completes in ledger    {self.ledger_entries}",
            f"held by two leases     {len(self.double_leases)}",
            f"lost                   {len(self.lost)}",
            f"accepted twice         {len(self.double_accepts)}",
            f"optuna unfinished      {self.optuna_unfinished}",
            f"optuna without a row   {self.optuna_orphans}",
            f"invariants             {'HOLD' if self.holds else 'BROKEN'}",
        ]


def _finished_chain(trial: TrialRow, retries: dict[int, TrialRow]) -> bool:
    """A trial is accounted for if it finished, or its re-queued params finished later."""
    seen = 0
    while trial.state == "failed" and trial.requeued and seen < 1000:
        if trial.trial_id not in retries:
            return False
        trial, seen = retries[trial.trial_id], seen + 1
    return trial.state in ("completed", "pruned")


def account(database_url: str, study_id: int, ledger: Path | None = None) -> Accounting:
    engine = create_engine(database_url)
    result = Accounting()
    with engine.connect() as connection:
        study = connection.execute(select(StudyRow).where(StudyRow.study_id == study_id)).one()
        trials = [
            TrialRow(**row._mapping)
            for row in connection.execute(
                select(*TrialRow.__table__.columns).where(TrialRow.study_id == study_id)
            )
        ]
        leases = connection.execute(
            select(LeaseRow.trial_id, func.count())
            .where(LeaseRow.study_id == study_id, LeaseRow.trial_id.is_not(None))
            .group_by(LeaseRow.trial_id)
        ).all()
    engine.dispose()
    result.study_state, result.trials = study.state, len(trials)
    for trial in trials:
        result.by_state[trial.state] = result.by_state.get(trial.state, 0) + 1
    result.requeued = sum(t.requeued for t in trials)
    result.double_leases = [tid for tid, count in leases if count > 1]
    retries = {t.retry_of: t for t in trials if t.retry_of is not None}
    result.lost = [t.trial_id for t in trials if not t.retry_of and not _finished_chain(t, retries)]
    _check_optuna(result, database_url, study.optuna_name, {t.trial_id for t in trials})
    if ledger is not None and ledger.exists():
        _check_ledger(result, ledger, {t.trial_id: t for t in trials})
    return result


def _check_optuna(result: Accounting, url: str, name: str, ours: set[int]) -> None:
    study = optuna.load_study(study_name=name, storage=url)
    trials = study.get_trials(deepcopy=False)
    unfinished = (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)
    result.optuna_unfinished = sum(t.state in unfinished for t in trials)
    result.optuna_orphans = sum(
        t._trial_id not in ours and t.state != optuna.trial.TrialState.FAIL for t in trials
    )


def _check_ledger(result: Accounting, ledger: Path, trials: dict[int, TrialRow]) -> None:
    """Every complete the fleet saw accepted must agree with the one stored result."""
    accepted: dict[int, set[float]] = defaultdict(set)
    for line in ledger.read_text().splitlines():
        if line.strip():
            entry = json.loads(line)
            result.ledger_entries += 1
            if entry["status"] == "completed":
                accepted[entry["trial_id"]].add(round(float(entry["value"]), 12))
    for trial_id, values in accepted.items():
        stored = trials[trial_id].value
        if len(values) > 1 or stored is None or round(stored, 12) not in values:
            result.double_accepts.append(trial_id)
