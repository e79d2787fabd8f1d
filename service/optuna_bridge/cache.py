"""Optuna's trial cache, shared by every study of a controller process and re-read less often.

Optuna's `_CachedStorage` re-reads a study's unfinished trials (with their params, values,
intermediate values and attributes) from the database on every `get_trials()`: the sampler
calls it on each ask, the pruner on each report, so each request costs a round of ORM loads
that grows with the number of running trials. A controller knows when trials change state,
because it makes those changes: here a study is re-read when this process has changed a
trial's state since the last read (a tell, a re-queue, a failed trial), and otherwise at
most every `max_staleness` seconds, which bounds how late it sees the writes of other
controller processes on the same database. Intermediate values and system attributes of
running trials may be that much late; the pruner reads the reporting trial itself fresh.

The cache also keeps each study's trials by state, each state with a version that moves
when a trial enters or leaves it, and the sorted list a sampler or pruner asks for (say,
the completed trials) between requests: the list is rebuilt only when one of its states
changed, so that the claims and reports of a study of 50,000 trials neither filter nor sort
them all again (a claim changes the running trials, not the completed ones). And it keeps
the completed trials in the order they completed, so that the median pruner takes in only
the trials completed since it last looked (`completed_since`).

Inside `asking()` (an ask and its suggestions), a new trial is written in one short
transaction of plain statements, the `Trial` reads it back from the cache instead of the
database, and its params are written together when the suggestions are done, instead of a
transaction of ORM queries per param.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    check_distribution_compatibility,
    json_to_distribution,
)
from optuna.storages import RDBStorage
from optuna.storages._cached_storage import _CachedStorage, _StudyInfo
from optuna.trial import FrozenTrial, TrialState

from service.heap import HeapFreezer
from service.optuna_bridge.loading import load_trials
from service.optuna_bridge.records import (
    create_running_trial,
    first_distribution,
    insert_params,
    insert_system_attrs,
    trial_states_since,
)

__all__ = ["EndedTrial", "TrialCache"]

DEFAULT_STALENESS = 1.0
LISTABLE = (tuple, list, set, frozenset)


@dataclass(frozen=True)
class EndedTrial:
    """A trial this process finished, as written: the cache takes it without a re-read."""

    study_id: int
    trial_id: int
    state: TrialState
    values: list[float] | None
    curve: dict[int, float]
    system_attrs: dict[str, Any] | None  # None: keep the cached ones


class TrialCache(_CachedStorage):
    def __init__(self, backend: RDBStorage, max_staleness: float = DEFAULT_STALENESS) -> None:
        super().__init__(backend)
        self.max_staleness = max_staleness
        self._read_at: dict[int, float] = {}
        # Per study: its trials by state (number -> trial), and a version per state.
        self._by_state: dict[int, dict[TrialState, dict[int, FrozenTrial]]] = {}
        self._versions: dict[tuple[int, TrialState], int] = {}
        self._sorted: dict[_ListKey, tuple[tuple[int, ...], list[FrozenTrial]]] = {}
        # Per study: its completed trials, in the order this cache saw them complete.
        self._completions: dict[int, list[FrozenTrial]] = {}
        self._freshness = threading.Lock()
        # Per thread, inside `asking()`: params and system attributes waiting per new trial.
        self._local = threading.local()
        self.heap = HeapFreezer()

    def changed(self, study_id: int) -> None:
        """A trial of the study changed state outside this cache: read it on the next use."""
        with self._freshness:
            self._read_at.pop(study_id, None)

    def _read_trials_from_remote_storage(self, study_id: int) -> None:
        now = time.monotonic()
        with self._freshness:
            read_at = self._read_at.get(study_id)
            if read_at is not None and now - read_at < self.max_staleness:
                return
            self._read_at[study_id] = now
        self._read_changes(study_id)
        self.heap.settle()

    def _read_changes(self, study_id: int) -> None:
        """Optuna's re-read of the trials that may have changed (every trial after the last
        one known finished in turn, and the unfinished ones before it), except that a trial
        this cache already holds finished, as this process wrote it, is not loaded again:
        the states come first, in one light query, then only the others in full."""
        with self._lock:
            study = self._studies.setdefault(study_id, _StudyInfo())
            with self._backend.engine.connect() as connection:
                states = trial_states_since(
                    connection, study_id, study.last_finished_trial_id, study.unfinished_trial_ids
                )
                stale = {trial_id for trial_id, _ in states if not self._holds_finished(trial_id)}
                if stale:
                    self._add_trials_to_cache(study_id, _load(connection, study_id, stale))
            for trial_id, state in states:
                if not state.is_finished():
                    study.unfinished_trial_ids.add(trial_id)
                    continue
                study.last_finished_trial_id = max(study.last_finished_trial_id, trial_id)
                study.unfinished_trial_ids.discard(trial_id)

    def _holds_finished(self, trial_id: int) -> bool:
        """(Called with the lock held.)"""
        place = self._trial_id_to_study_id_and_number.get(trial_id)
        if place is None:
            return False
        trial = self._studies[place[0]].trials.get(place[1])
        return trial is not None and trial.state.is_finished()

    def _add_trials_to_cache(self, study_id: int, trials: list[FrozenTrial]) -> None:
        """(Called with the lock held.) Also files each trial under its state."""
        known = self._studies[study_id].trials
        buckets = self._by_state.setdefault(study_id, {})
        self.heap.took(sum(trial.number not in known for trial in trials))
        for trial in trials:
            previous = known.get(trial.number)
            if previous is not None:
                buckets.get(previous.state, {}).pop(trial.number, None)
                self._bump(study_id, previous.state)
            buckets.setdefault(trial.state, {})[trial.number] = trial
            self._bump(study_id, trial.state)
            if trial.state == TrialState.COMPLETE and (
                previous is None or previous.state != TrialState.COMPLETE
            ):
                self._completions.setdefault(study_id, []).append(trial)
        super()._add_trials_to_cache(study_id, trials)

    def completed_since(self, study_id: int, start: int) -> list[FrozenTrial]:
        """The study's trials in the order they completed in this cache, from the `start`-th
        on (a completed trial never changes again, so the list only grows)."""
        self._read_trials_from_remote_storage(study_id)
        with self._lock:
            return self._completions.get(study_id, [])[start:]

    def state_version(self, study_id: int, state: TrialState) -> int:
        """Moves whenever a trial of the study enters or leaves `state` in this cache."""
        with self._lock:
            return self._versions.get((study_id, state), 0)

    def _bump(self, study_id: int, state: TrialState) -> None:
        key = (study_id, state)
        self._versions[key] = self._versions.get(key, 0) + 1

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        if deepcopy or not (states is None or isinstance(states, LISTABLE)):
            return list(super().get_all_trials(study_id, deepcopy=deepcopy, states=states))
        key = _states_key(states)
        self._read_trials_from_remote_storage(study_id)
        with self._lock:
            wanted = list(TrialState) if key is None else [TrialState(v) for v in key]
            versions = tuple(self._versions.get((study_id, state), 0) for state in wanted)
            cached = self._sorted.get((study_id, key))
            if cached is None or cached[0] != versions:
                buckets = self._by_state.get(study_id, {})
                merged: dict[int, FrozenTrial] = {}
                for state in wanted:
                    merged.update(buckets.get(state, {}))
                cached = (versions, [merged[number] for number in sorted(merged)])
                self._sorted[(study_id, key)] = cached
            return list(cached[1])

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        changed = bool(super().set_trial_state_values(trial_id, state=state, values=values))
        study = self._trial_id_to_study_id_and_number.get(trial_id)
        if study is not None:
            self.changed(study[0])
        return changed

    def ended(self, trial: EndedTrial) -> None:
        """Put a trial this process just finished into the cache as it now is (a trial the
        cache does not hold yet makes the study be re-read instead)."""
        with self._lock:
            place = self._trial_id_to_study_id_and_number.get(trial.trial_id)
            if place is not None:
                cached = self._studies[place[0]].trials[place[1]]
                attrs = trial.system_attrs
                ended = _with(
                    cached,
                    state=trial.state,
                    values=trial.values,
                    datetime_complete=datetime.now(),
                    intermediate_values=trial.curve,
                    system_attrs=dict(cached.system_attrs) if attrs is None else attrs,
                )
                self._add_trials_to_cache(place[0], [ended])
        if place is None:
            self.changed(trial.study_id)

    @contextlib.contextmanager
    def asking(self) -> Iterator[Container[int]]:
        """An ask and its suggestions: the new trial's params are written at the end. Yields
        the ids of the trials created inside (not a waiting trial the ask popped)."""
        self._local.params, self._local.attrs = {}, {}
        try:
            yield self._local.params.keys()
            for trial_id, params in self._local.params.items():
                self._write_params(trial_id, params, self._local.attrs.get(trial_id, {}))
        finally:
            self._local.params = self._local.attrs = None

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        waiting: dict[int, list[Any]] | None = getattr(self._local, "params", None)
        if template_trial is not None or waiting is None:
            return int(super().create_new_trial(study_id, template_trial))
        started = datetime.now()
        with self._backend.engine.begin() as connection:
            trial_id, number = create_running_trial(connection, study_id, started)
        frozen = FrozenTrial(
            number=number,
            state=TrialState.RUNNING,
            value=None,
            datetime_start=started,
            datetime_complete=None,
            params={},
            distributions={},
            user_attrs={},
            system_attrs={},
            intermediate_values={},
            trial_id=trial_id,
        )
        with self._lock:
            self._studies.setdefault(study_id, _StudyInfo())
            self._add_trials_to_cache(study_id, [frozen])
        waiting[trial_id] = []
        return trial_id

    def get_trial(self, trial_id: int) -> FrozenTrial:
        """A trial created inside `asking()` is read from the cache with the params and
        system attributes that wait to be written (a sampler such as GridSampler reads back
        the attribute it set in `before_trial`)."""
        waiting: dict[int, list[Any]] | None = getattr(self._local, "params", None)
        if waiting is None or trial_id not in waiting:
            return super().get_trial(trial_id)
        attrs = self._local.attrs.get(trial_id, {})
        with self._lock:
            study_id, number = self._trial_id_to_study_id_and_number[trial_id]
            cached = self._studies[study_id].trials[number]
        return _with_written(cached, waiting[trial_id], copy.deepcopy(attrs))

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        waiting: dict[int, list[Any]] | None = getattr(self._local, "params", None)
        if waiting is None or trial_id not in waiting:
            super().set_trial_param(trial_id, param_name, param_value_internal, distribution)
            return
        waiting[trial_id].append((param_name, param_value_internal, distribution))

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        """Inside `asking()`, an attribute of the new trial (TPE's constant liar keeps the
        relative params there) waits to be written with its params."""
        waiting: dict[int, dict[str, Any]] | None = getattr(self._local, "attrs", None)
        if waiting is None or trial_id not in self._local.params:
            super().set_trial_system_attr(trial_id, key, value)
            return
        waiting.setdefault(trial_id, {})[key] = value

    def _write_params(
        self,
        trial_id: int,
        params: list[tuple[str, float, BaseDistribution]],
        attrs: dict[str, Any],
    ) -> None:
        """Check each param's distribution against the study's, then write them all, and
        the trial's system attributes set during the ask, in one transaction."""
        if not params and not attrs:
            return
        with self._lock:
            study_id, number = self._trial_id_to_study_id_and_number[trial_id]
            known = self._studies[study_id].param_distribution
        with self._backend.engine.begin() as connection:
            for name, _, distribution in params:
                previous = known.get(name)
                if previous is None:
                    stored = first_distribution(connection, study_id, name)
                    previous = json_to_distribution(stored) if stored else None
                if previous is not None:
                    check_distribution_compatibility(previous, distribution)
            insert_params(connection, trial_id, params)
            insert_system_attrs(connection, trial_id, attrs)
        with self._lock:
            for name, _, distribution in params:
                known.setdefault(name, distribution)
            given = _with_written(self._studies[study_id].trials[number], params, attrs)
            self._add_trials_to_cache(study_id, [given])

    def delete_study(self, study_id: int) -> None:
        super().delete_study(study_id)
        with self._lock:
            for key in [k for k in self._sorted if k[0] == study_id]:
                del self._sorted[key]
            self._by_state.pop(study_id, None)
            self._completions.pop(study_id, None)
            for version in [k for k in self._versions if k[0] == study_id]:
                del self._versions[version]
        self.changed(study_id)


_ListKey = tuple[int, tuple[int, ...] | None]
MAX_LISTED = 500  # trials loaded by id; more are loaded as a range


def _load(connection: Any, study_id: int, stale: set[int]) -> list[FrozenTrial]:
    if len(stale) > MAX_LISTED:  # a first load: everything from the oldest stale one on
        return load_trials(connection, study_id, after=min(stale) - 1)
    return load_trials(connection, study_id, ids=stale)


def _states_key(states: Container[TrialState] | None) -> tuple[int, ...] | None:
    """A hashable key for a listable set of states."""
    if states is None:
        return None
    members: Any = states
    return tuple(sorted(int(s.value) for s in members))


def _with_written(
    trial: FrozenTrial, params: list[tuple[str, float, BaseDistribution]], attrs: dict[str, Any]
) -> FrozenTrial:
    """A cached trial as it is once an ask's params and system attributes are written."""
    return _with(
        trial,
        params={**trial.params, **{n: d.to_external_repr(v) for n, v, d in params}},
        distributions={**trial.distributions, **{n: d for n, _, d in params}},
        system_attrs={**trial.system_attrs, **attrs},
    )


def _with(trial: FrozenTrial, **changes: Any) -> FrozenTrial:
    """A copy of a cached trial with some fields replaced (cached trials are never changed
    in place: samplers hold them)."""
    fields: dict[str, Any] = {
        "number": trial.number,
        "state": trial.state,
        "value": None,
        "values": trial.values,
        "datetime_start": trial.datetime_start,
        "datetime_complete": trial.datetime_complete,
        "params": dict(trial.params),
        "distributions": dict(trial.distributions),
        "user_attrs": dict(trial.user_attrs),
        "system_attrs": dict(trial.system_attrs),
        "intermediate_values": dict(trial.intermediate_values),
        "trial_id": trial._trial_id,
    }
    fields.update(changes)
    return FrozenTrial(**fields)
