"""Optuna studies in Optuna's own RDB storage, one cached `optuna.Study` per study.

The cache keeps each study's sampler state and Optuna's trial cache between requests, so a
claim or report does not rebuild the study. Several controllers may share one database:
the trial cache (`service.optuna_bridge.cache`) re-reads the trials that changed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.pruners import HyperbandPruner, SuccessiveHalvingPruner
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState, create_trial
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from search_spaces import StudySpec
from service.db import engine_options
from service.optuna_bridge.cache import EndedTrial, TrialCache
from service.optuna_bridge.distributions import suggest_params
from service.optuna_bridge.records import (
    index_trial_numbers,
    read_intermediate,
    read_system_attrs,
    record_outcome,
)
from service.optuna_bridge.strategies import make_pruner, make_sampler
from service.settings import Settings

__all__ = ["AskedTrial", "OptunaStudies", "PruneQuestion", "SpecData"]

log = logging.getLogger(__name__)
optuna.logging.set_verbosity(optuna.logging.WARNING)
_STORAGE_LOCK_KEY = 0x6870_7366
# Samplers whose `after_trial` does nothing: a trial's end is written without `Study.tell`.
PASSIVE_SAMPLERS = frozenset({"random", "tpe"})
# A study's spec as stored, or what reads it: needed only when the study is not cached yet.
SpecData = Mapping[str, Any] | Callable[[], Mapping[str, Any]]


@dataclass(frozen=True)
class AskedTrial:
    trial_id: int
    number: int
    params: dict[str, Any]
    # Created by this ask; False for a waiting (re-queued) trial the ask popped.
    fresh: bool = False


@dataclass(frozen=True)
class PruneQuestion:
    """A running trial as the pruner sees it: its values so far and its system attributes."""

    trial_id: int
    trial_number: int
    step: int
    curve: Mapping[int, float]
    system_attrs: Mapping[str, Any]


@dataclass(frozen=True)
class _Handle:
    spec: StudySpec
    study: optuna.Study


class OptunaStudies:
    """Create, load (cached), ask, report, tell and re-queue, by Optuna study name."""

    def __init__(self, storage: RDBStorage) -> None:
        self.storage = storage
        self.cache = TrialCache(storage)
        self._handles: dict[str, _Handle] = {}
        self._lock = threading.Lock()

    @classmethod
    def connect(cls, settings: Settings, engine: Engine) -> OptunaStudies:
        """Open Optuna's storage, its tables created if new, with our index of trial numbers;
        on PostgreSQL one controller at a time does this."""
        options = engine_options(settings)
        if engine.dialect.name != "postgresql":
            storage = RDBStorage(settings.database_url, engine_kwargs=options)
            with engine.begin() as connection:
                index_trial_numbers(connection)
            return cls(storage)
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _STORAGE_LOCK_KEY})
            try:
                storage = RDBStorage(settings.database_url, engine_kwargs=options)
                index_trial_numbers(connection)
                return cls(storage)
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _STORAGE_LOCK_KEY})
                connection.commit()

    def create(self, name: str, spec: StudySpec) -> int:
        directions: list[Any] = list(spec.directions)
        study = optuna.create_study(
            storage=self.cache,
            study_name=name,
            directions=directions,
            sampler=make_sampler(spec),
            pruner=make_pruner(spec),
        )
        with self._lock:
            self._handles[name] = _Handle(spec, study)
        return study._study_id

    def delete(self, name: str) -> None:
        self.forget(name)
        try:
            optuna.delete_study(study_name=name, storage=self.cache)
        except KeyError:
            log.warning("optuna study %s was already gone", name)

    def forget(self, name: str) -> None:
        with self._lock:
            self._handles.pop(name, None)

    def _handle(self, name: str, spec_data: SpecData) -> _Handle:
        with self._lock:
            handle = self._handles.get(name)
        if handle is None:
            spec = StudySpec.model_validate(spec_data() if callable(spec_data) else spec_data)
            study = optuna.load_study(
                study_name=name,
                storage=self.cache,
                sampler=make_sampler(spec),
                pruner=make_pruner(spec),
            )
            handle = _Handle(spec, study)
            with self._lock:
                handle = self._handles.setdefault(name, handle)
        return handle

    def spec(self, name: str, spec_data: SpecData) -> StudySpec:
        return self._handle(name, spec_data).spec

    def study(self, name: str, spec_data: SpecData) -> optuna.Study:
        """The cached `optuna.Study`, for reading (the dashboard's plots)."""
        return self._handle(name, spec_data).study

    def ask(self, name: str, spec_data: SpecData) -> AskedTrial:
        handle = self._handle(name, spec_data)
        with self.cache.asking() as created:
            trial = handle.study.ask()
            params = suggest_params(trial, handle.spec.space)
            fresh = trial._trial_id in created
        return AskedTrial(trial._trial_id, trial.number, params, fresh)

    def reads_rungs(self, name: str, spec_data: SpecData) -> bool:
        """Whether the study's pruner keeps state in trials' system attributes (successive
        halving and Hyperband keep their rungs there)."""
        pruner = self._handle(name, spec_data).study.pruner
        return isinstance(pruner, SuccessiveHalvingPruner | HyperbandPruner)

    def prune(self, name: str, spec_data: SpecData, question: PruneQuestion, value: float) -> bool:
        """Whether the study's pruner stops the trial after `value` at `question.step` (the
        value is already stored)."""
        handle = self._handle(name, spec_data)
        frozen = FrozenTrial(
            number=question.trial_number,
            state=TrialState.RUNNING,
            value=None,
            datetime_start=None,
            datetime_complete=None,
            params={},
            distributions={},
            user_attrs={},
            system_attrs=dict(question.system_attrs),
            intermediate_values={**question.curve, question.step: value},
            trial_id=question.trial_id,
        )
        return bool(handle.study.pruner.prune(handle.study, frozen))

    def finish(
        self,
        session: Session,
        name: str,
        spec_data: SpecData,
        trial: tuple[int, int],
        state: TrialState,
        values: Sequence[float] | None = None,
    ) -> None:
        """End trial `(trial_id, number)`: in the caller's transaction when the sampler does
        nothing as a trial ends (random, TPE), else through `Study.tell`."""
        handle = self._handle(name, spec_data)
        if handle.spec.sampler.name not in PASSIVE_SAMPLERS:
            self.tell(name, spec_data, trial[1], state, values)
            return
        finished, written = record_outcome(session, trial[0], state, values)
        if not finished:
            return
        ended = EndedTrial(
            study_id=handle.study._study_id,
            trial_id=trial[0],
            state=state,
            values=written,
            curve=read_intermediate(session, trial[0]),
            system_attrs=read_system_attrs(session, trial[0])
            if self.reads_rungs(name, spec_data)
            else None,
        )
        event.listen(session, "after_commit", lambda _: self.cache.ended(ended), once=True)

    def tell(
        self,
        name: str,
        spec_data: SpecData,
        trial_number: int,
        state: TrialState,
        values: Sequence[float] | None = None,
    ) -> None:
        handle = self._handle(name, spec_data)
        try:
            handle.study.tell(
                trial_number,
                values=list(values) if values is not None else None,
                state=state,
                skip_if_finished=True,
            )
        except RuntimeError as exc:
            # The grid sampler calls study.stop() once its grid is covered, which Optuna only
            # allows inside optimize(); the trial's state is stored before that, and the
            # study's budget (capped at the grid's size) ends the search instead.
            if "Study.stop" not in str(exc):
                raise

    def unfinished(self, optuna_study_id: int) -> list[int]:
        """Ids of the study's Optuna trials that are running or waiting."""
        states = (TrialState.RUNNING, TrialState.WAITING)
        trials = self.storage.get_all_trials(optuna_study_id, deepcopy=False, states=states)
        return [t._trial_id for t in trials]

    def fail(self, trial_id: int) -> None:
        """Mark an Optuna trial failed (one we have no record of)."""
        try:
            self.cache.set_trial_state_values(trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            log.debug("trial %s had already finished", trial_id)

    def requeue(self, optuna_study_id: int, params: dict[str, Any]) -> tuple[int, int]:
        """A waiting trial with fixed params; the next ask() pops it. Returns (id, number)."""
        waiting = create_trial(state=TrialState.WAITING, system_attrs={"fixed_params": params})
        trial_id = self.storage.create_new_trial(optuna_study_id, template_trial=waiting)
        self.cache.changed(optuna_study_id)
        return trial_id, self.storage.get_trial_number_from_id(trial_id)
