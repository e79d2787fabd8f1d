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

The sorted trial list a sampler or pruner asks for is kept between reads, so a study of
50,000 trials is not sorted again on every request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Container, Iterable, Sequence
from typing import Any

from optuna.storages import RDBStorage
from optuna.storages._cached_storage import _CachedStorage
from optuna.trial import FrozenTrial, TrialState

__all__ = ["TrialCache"]

DEFAULT_STALENESS = 0.5
LISTABLE = (tuple, list, set, frozenset)


class TrialCache(_CachedStorage):
    def __init__(self, backend: RDBStorage, max_staleness: float = DEFAULT_STALENESS) -> None:
        super().__init__(backend)
        self.max_staleness = max_staleness
        self._read_at: dict[int, float] = {}
        self._versions: dict[int, int] = {}
        self._sorted: dict[tuple[int, tuple[int, ...] | None], tuple[int, list[FrozenTrial]]] = {}
        self._freshness = threading.Lock()

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
        super()._read_trials_from_remote_storage(study_id)

    def _add_trials_to_cache(self, study_id: int, trials: list[FrozenTrial]) -> None:
        super()._add_trials_to_cache(study_id, trials)
        self._versions[study_id] = self._versions.get(study_id, 0) + 1

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
            version = self._versions.get(study_id, 0)
            cached = self._sorted.get((study_id, key))
            if cached is None or cached[0] != version:
                trials: Iterable[FrozenTrial] = self._studies[study_id].trials.values()
                if key is not None:
                    trials = [t for t in trials if t.state.value in key]
                cached = (version, sorted(trials, key=lambda t: t.number))
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

    def delete_study(self, study_id: int) -> None:
        super().delete_study(study_id)
        with self._lock:
            for key in [k for k in self._sorted if k[0] == study_id]:
                del self._sorted[key]
        self.changed(study_id)


def _states_key(states: Container[TrialState] | None) -> tuple[int, ...] | None:
    """A hashable key for a listable set of states."""
    if states is None:
        return None
    members: Any = states
    return tuple(sorted(int(s.value) for s in members))
