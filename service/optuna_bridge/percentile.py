"""Optuna's median pruner, with the median of the completed trials at a step kept between
reports until a trial completes.

`PercentilePruner.prune` lists a study's completed trials and takes the percentile of their
values at the reported step on every report: work that grows with the study (10,000
completed trials: 10,000 lookups per report), while the answer changes only when a trial
completes. Here the same steps run in the same order, and the percentile, computed by
Optuna's own function, is kept per (study, step) for as long as the cache's version of the
study's completed trials stays the same.
"""

from __future__ import annotations

import math
import threading

from optuna.pruners import MedianPruner
from optuna.pruners._percentile import (
    _get_best_intermediate_result_over_steps,
    _get_percentile_intermediate_result_over_trials,
    _is_first_in_interval_step,
)
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

__all__ = ["KeptMedianPruner"]

_COMPLETE = (TrialState.COMPLETE,)


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
        self._kept: dict[tuple[int, int], tuple[object, float]] = {}
        self._lock = threading.Lock()

    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        version = getattr(study._storage, "state_version", None)
        if version is None:  # not the controller's cache: Optuna's own way
            return bool(super().prune(study, trial))
        # The version first: a trial completing meanwhile makes the next report recompute.
        token = version(study._study_id, TrialState.COMPLETE)
        completed = study.get_trials(deepcopy=False, states=_COMPLETE)
        if not completed or len(completed) < self._n_startup_trials:
            return False
        step = trial.last_step
        if step is None or step < self._n_warmup_steps:
            return False
        steps = trial.intermediate_values.keys()
        if not _is_first_in_interval_step(step, steps, self._n_warmup_steps, self._interval_steps):
            return False
        direction = study.direction
        best = _get_best_intermediate_result_over_steps(trial, direction)
        if math.isnan(best):
            return True
        key = (study._study_id, step)
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and kept[0] == token:
            p = kept[1]
        else:
            p = _get_percentile_intermediate_result_over_trials(
                completed, direction, step, self._percentile, self._n_min_trials
            )
            with self._lock:
                self._kept[key] = (token, p)
        if math.isnan(p):
            return False
        return bool(best < p) if direction == StudyDirection.MAXIMIZE else bool(best > p)
