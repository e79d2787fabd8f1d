"""Optuna's median pruner, with each step's values of the completed trials kept between
reports and taken in as trials complete.

`PercentilePruner.prune` lists a study's completed trials and gathers their values at the
reported step on every report: work that grows with the study (50,000 completed trials:
50,000 lookups per report, 10 ms of Python), while the answer changes only when a trial
completes. Here the same checks run in the same order; the values at a step are kept per
(study, step) in an array that takes in only the trials completed since the last report at
that step (the cache lists them in order, `TrialCache.completed_since`), and the percentile
is Optuna's own `np.nanpercentile` of that array, computed again only when it grew.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np
from optuna.pruners import MedianPruner
from optuna.pruners._percentile import (
    _get_best_intermediate_result_over_steps,
    _is_first_in_interval_step,
)
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial

__all__ = ["KeptMedianPruner"]


class _StepValues:
    """The values at one step of a study's completed trials, and their percentile."""

    def __init__(self) -> None:
        self.seen = 0  # completed trials taken in (with or without a value at the step)
        self.values = np.empty(64)
        self.count = 0  # values held
        self.kept: tuple[int, float] | None = None  # (count, percentile) last computed

    def take(self, trials: list[FrozenTrial], step: int) -> None:
        self.seen += len(trials)
        new = [t.intermediate_values[step] for t in trials if step in t.intermediate_values]
        if self.count + len(new) > len(self.values):
            grown = np.empty(max(2 * len(self.values), self.count + len(new)))
            grown[: self.count] = self.values[: self.count]
            self.values = grown
        self.values[self.count : self.count + len(new)] = new
        self.count += len(new)

    def percentile(self, q: float, n_min_trials: int) -> float:
        """As `_get_percentile_intermediate_result_over_trials`: NaN below `n_min_trials`."""
        if self.count < n_min_trials:
            return math.nan
        if self.kept is None or self.kept[0] != self.count:
            value = float(np.nanpercentile(self.values[: self.count], q))
            self.kept = (self.count, value)
        return self.kept[1]


class KeptMedianPruner(MedianPruner):
    def __init__(
        self,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        *,
        n_min_trials: int = 1,
    ) -> None:
        super().__init__(
            n_startup_trials, n_warmup_steps, interval_steps, n_min_trials=n_min_trials
        )
        self._steps: dict[tuple[int, int], _StepValues] = {}
        self._lock = threading.Lock()

    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        since: Callable[[int, int], list[FrozenTrial]] | None
        since = getattr(study._storage, "completed_since", None)
        if since is None:  # not the controller's cache: Optuna's own way
            return bool(super().prune(study, trial))
        step = trial.last_step
        if step is None:  # Optuna's answer too, whatever the study holds
            return False
        completed = self._take_completed(study, since, step)
        if completed == 0 or completed < self._n_startup_trials or step < self._n_warmup_steps:
            return False
        steps = trial.intermediate_values.keys()
        if not _is_first_in_interval_step(step, steps, self._n_warmup_steps, self._interval_steps):
            return False
        direction = study.direction
        best = _get_best_intermediate_result_over_steps(trial, direction)
        if math.isnan(best):
            return True
        q = 100 - self._percentile if direction == StudyDirection.MAXIMIZE else self._percentile
        with self._lock:
            p = self._steps[(study._study_id, step)].percentile(q, self._n_min_trials)
        if math.isnan(p):
            return False
        return bool(best < p) if direction == StudyDirection.MAXIMIZE else bool(best > p)

    def _take_completed(
        self, study: Study, since: Callable[[int, int], list[FrozenTrial]], step: int
    ) -> int:
        """Take in the trials completed since the last report at `step`; returns how many
        completed trials the study has (the cache is read outside the lock: a thread that
        took some of the same trials meanwhile is allowed for)."""
        with self._lock:
            kept = self._steps.setdefault((study._study_id, step), _StepValues())
            start = kept.seen
        new = since(study._study_id, start)
        with self._lock:
            kept.take(new[kept.seen - start :], step)
            return kept.seen
