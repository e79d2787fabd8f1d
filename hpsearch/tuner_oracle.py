"""A KerasTuner Oracle whose trials come from, and go back to, the hpsearch controller.

tuner = kt.Tuner(oracle=ServiceOracle(url, "my-study", dataset="digits"), hypermodel=build_model)
tuner.search(x, y, validation_data=(x_val, y_val), epochs=10,
             callbacks=[tuner.oracle.epoch_reports()])   # per-epoch reports: pruning

`create_trial` claims a trial of the study (created by name the first time, from the space the
tuner discovered; another process with the same name joins it), `update_trial` reports an
epoch and answers STOPPED when the controller prunes, `end_trial` completes the trial with its
best epoch, and `get_best_trials` reads the leaderboard. The study lives in the controller; the
oracle's own files in the tuner's project folder hold only the space.
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
import time
from collections.abc import Mapping
from typing import Any

import keras
import keras_tuner as kt
from keras_tuner.src import utils as kt_utils

from hpsearch.client import Client
from hpsearch.errors import Conflict, NotFound
from hpsearch.objects import Assignment, Study
from hpsearch.objects import Trial as ServiceTrial
from hpsearch.tuner_space import hyperparameters_for, same_space, space_from_hyperparameters
from hpsearch.tuner_study import TRAINED_BY_TUNER, TUNER_DATA, objective_of, study_spec
from hpsearch.tuner_trials import DEVICE, TrialLine, failure_reason, numbers, retrying

__all__ = ["EpochReports", "ServiceOracle"]

log = logging.getLogger(__name__)

Trial = kt.engine.trial.Trial
Status = kt.engine.trial.TrialStatus


class ServiceOracle(kt.Oracle):  # type: ignore[misc]
    """A `keras_tuner.Oracle` backed by the controller at `url`: its samplers, pruners and
    storage. Processes that use the same `study` name share one study.

    `url` None means $HPSEARCH_URL (or http://127.0.0.1:8000). `token` (None: $HPSEARCH_TOKEN)
    is used for the study calls (a user or admin token) and, unless `worker_token`
    is given, for the claim/report/complete calls too (those need a worker or admin token).
    `hypermodel` ("package.module:function") and `dataset` are recorded in the study so that
    fleet workers could train it too; left out, only KerasTuner processes can.
    """

    hyperparameters: Any  # the search space, a `kt.HyperParameters` (set by kt.Oracle)

    def __init__(
        self,
        url: str | None,
        study: str,
        token: str | None = None,
        *,
        objective: Any = "val_accuracy",
        max_trials: int = 10,
        dataset: str | None = None,
        direction: str | None = None,
        sampler: str | Mapping[str, Any] = "tpe",
        pruner: str | Mapping[str, Any] = "none",
        hypermodel: str | None = None,
        worker_token: str | None = None,
        client: Client | None = None,
        poll_seconds: float = 1.0,
        max_consecutive_failed_trials: int = 3,
        **spec_fields: Any,
    ) -> None:
        metric, sense = objective_of(objective, direction)
        super().__init__(
            objective=kt.Objective(metric, "max" if sense == "maximize" else "min"),
            max_trials=max_trials,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        self.client = client or Client(url, token)
        self.work_client = Client(self.client.url, worker_token) if worker_token else self.client
        self.study_name = study
        self.study_id: int | None = None
        self.poll_seconds = poll_seconds
        self._spec_fields: dict[str, Any] = {
            "objective": metric,
            "direction": sense,
            "dataset": dataset or TUNER_DATA,
            "reference": hypermodel or TRAINED_BY_TUNER,
            "max_trials": max_trials,
            "sampler": sampler,
            "pruner": pruner,
            **spec_fields,
        }
        self._lines: dict[str, TrialLine] = {}
        self._failures_in_a_row = 0

    # -- the study -------------------------------------------------------------------------

    def worker_id(self, tuner_id: str) -> str:
        """The name this process claims under: distinct per host, process and tuner."""
        raw = f"kt-{socket.gethostname()}-{os.getpid()}-{tuner_id}"
        return re.sub(r"[^A-Za-z0-9._:@/-]", "-", raw)[:128]

    def study_spec(self) -> dict[str, Any] | None:
        """The spec this oracle creates its study from; None before the space is known."""
        if not self.hyperparameters.space:
            return None
        fields = dict(self._spec_fields)
        space = space_from_hyperparameters(self.hyperparameters)
        reference, dataset = fields.pop("reference"), fields.pop("dataset")
        if reference == TRAINED_BY_TUNER:  # only this script's processes can train it
            fields.setdefault("fleet", False)
        return study_spec(self.study_name, reference, dataset, space, **fields)

    def ensure_study(self) -> int:
        """The study's id: created from the discovered space, or found by name."""
        if self.study_id is not None:
            return self.study_id
        spec = self.study_spec()
        study = self._existing() if spec is None else self._create_or_join(spec)
        self.study_id = study.study_id
        if not self.hyperparameters.space:
            self.hyperparameters = hyperparameters_for(study.spec.get("space", {}), {})
        log.info("KerasTuner search on study %s (%s)", study.study_id, study.name)
        return study.study_id

    def _create_or_join(self, spec: dict[str, Any]) -> Study:
        try:
            return retrying(lambda: self.client.create_study(spec), "create the study")
        except Conflict:
            study = self._existing()
        if not same_space(study.spec.get("space", {}), spec["space"]):
            log.warning(
                "study %r already exists with another space; searching its space", study.name
            )
        return study

    def _existing(self) -> Study:
        try:
            return retrying(lambda: self.client.get_study(self.study_name), "find study")
        except NotFound:
            raise RuntimeError(
                f"study {self.study_name!r} does not exist and this tuner knows no space to"
                " create it from (it was reloaded from its project folder): pass"
                " overwrite=True to the tuner"
            ) from None

    # -- the three calls of the worker protocol --------------------------------------------

    def create_trial(self, tuner_id: str) -> Any:
        """A claimed trial (RUNNING), or STOPPED once the study is over."""
        if tuner_id in self.ongoing_trials:
            return self.ongoing_trials[tuner_id]
        self.tuner_ids.add(tuner_id)
        assignment = self._claim(self.worker_id(tuner_id))
        if assignment is None:
            return Trial(self.get_space(), status=Status.STOPPED)
        trial = Trial(self._hyperparameters(assignment.params), trial_id=str(assignment.trial_id))
        self._lines[trial.trial_id] = TrialLine(
            self.work_client, assignment, self.worker_id(tuner_id)
        )
        self.trials[trial.trial_id] = trial
        self.ongoing_trials[tuner_id] = trial
        self.start_order.append(trial.trial_id)
        self._display.on_trial_begin(trial)
        return trial

    def update_trial(self, trial_id: str, metrics: Mapping[str, Any], step: int = 0) -> Any:
        """Record the metrics of epoch `step` (0-based), report it unless it was already, and
        answer with the trial: STOPPED when the controller prunes it."""
        trial = self.trials[trial_id]
        self._check_objective_found(metrics)
        values = numbers(metrics)
        for name, value in values.items():
            if not trial.metrics.exists(name):
                direction = self.objective.direction if name == self.objective.name else None
                trial.metrics.register(name, direction=direction)
            trial.metrics.update(name, value, step=step)
        if self.report_epoch(trial_id, step + 1, values):
            trial.status = Status.STOPPED
        return trial

    def report_epoch(self, trial_id: str, epoch: int, metrics: Mapping[str, Any]) -> bool:
        """Report one epoch (1 for the first) to the controller; True when the trial should
        stop (pruned, the study stopped, or the trial is no longer ours)."""
        line = self._lines.get(trial_id)
        return line.report(epoch, metrics) if line is not None else False

    def end_trial(self, trial: Any) -> None:
        """Complete the trial with its best epoch (per the objective), or fail it."""
        local = self.trials[trial.trial_id]
        local.hyperparameters, local.status = trial.hyperparameters, trial.status
        local.message = trial.message
        line = self._lines.pop(local.trial_id, None)
        if local.status == Status.COMPLETED:
            self._score(local)
        if line is not None:
            failure = None if local.status == Status.COMPLETED else failure_reason(local.message)
            maximize = self.objective.direction == "max"
            line.finish(failure, local.status == Status.INVALID, self.objective.name, maximize)
        self.end_order.append(local.trial_id)
        self._display.on_trial_end(local)
        for tuner_id, ongoing in list(self.ongoing_trials.items()):
            if ongoing.trial_id == local.trial_id:
                del self.ongoing_trials[tuner_id]
        self._count_failures(local)

    def epoch_reports(self) -> EpochReports:
        """A Keras callback for `tuner.search(..., callbacks=[...])`: reports every epoch,
        so the study's pruner can stop bad trials early."""
        return EpochReports(self)

    def close(self) -> None:
        """Stop renewing the leases of trials still running (they expire and are re-queued)."""
        for line in self._lines.values():
            line.stop()

    def running_trial(self) -> Any | None:
        """The trial this process trains now (None when none, or several tuners share us)."""
        running = list(self.ongoing_trials.values())
        return running[0] if len(running) == 1 else None

    # -- reading results -------------------------------------------------------------------

    def get_best_trials(self, num_trials: int = 1) -> list[Any]:
        """The leaderboard's best completed trials, as KerasTuner Trials with a score."""
        study_id = self._study_id_if_any()
        if study_id is None:
            return []
        board = retrying(lambda: self.client.leaderboard(study_id, num_trials), "board")
        return [self._from_service(t) for t in board]

    def get_trial(self, trial_id: str) -> Any:
        if trial_id in self.trials:
            return self.trials[trial_id]
        study_id = self._study_id_if_any()
        for found in self.client.trials(study_id) if study_id is not None else []:
            if str(found.trial_id) == str(trial_id):
                return self._from_service(found)
        raise KeyError(f"no trial {trial_id} in study {self.study_name!r}")

    def remaining_trials(self) -> int | None:
        study_id = self._study_id_if_any()
        if study_id is None:
            return int(self.max_trials)
        study = self.client.get_study(study_id)
        return max(0, study.max_trials - study.finished - study.counts.get("running", 0))

    # -- KerasTuner's project files: only the space ----------------------------------------

    def get_state(self) -> dict[str, Any]:
        return {"study": self.study_name, "hyperparameters": self.hyperparameters.get_config()}

    def set_state(self, state: dict[str, Any]) -> None:
        self.hyperparameters = kt.HyperParameters.from_config(state["hyperparameters"])

    def save(self) -> None:
        if getattr(self, "_directory", None) is not None:
            super().save()

    def reload(self) -> None:
        """Trials live in the controller; the project folder holds at most the space."""
        fname = self._get_oracle_fname()
        if os.path.exists(fname):
            self.set_state(kt_utils.load_json(fname))

    # -- helpers ---------------------------------------------------------------------------

    def _hyperparameters(self, values: Mapping[str, Any]) -> Any:
        hp = self.hyperparameters.copy()
        hp.values = dict(values)
        return hp

    def _study_id_if_any(self) -> int | None:
        if self.study_id is None:
            try:
                self.study_id = self.client.study_id(self.study_name)
            except NotFound:
                return None
        return self.study_id

    def _claim(self, worker_id: str) -> Assignment | None:
        """Claim a trial of the study; wait while others hold the rest (or a user paused it);
        None once it is over. A study the controller paused (its trials kept failing) raises."""
        study_id = self.ensure_study()
        wait = self.poll_seconds
        while True:
            assignment = retrying(
                lambda: self.work_client.claim(
                    worker_id, hostname=socket.gethostname()[:256], device=DEVICE,
                    kinds=("trial",), study_id=study_id,
                ),
                "claim",
            )  # fmt: skip
            if assignment is not None:
                return assignment
            study = retrying(lambda: self.client.get_study(study_id), "study")
            if study.is_over:
                log.info("study %s is over: the search ends", study_id)
                return None
            if study.halted:  # as KerasTuner ends a search whose trials keep failing
                raise RuntimeError(
                    f"study {study_id} was paused by the controller after {study.state_reason}"
                )
            time.sleep(wait)
            wait = min(wait * 1.5, 10.0)

    def _score(self, trial: Any) -> None:
        name = self.objective.name
        best = trial.metrics.get_best_value(name) if trial.metrics.exists(name) else None
        if best is None or math.isnan(best):
            trial.status = Status.INVALID
            trial.message = trial.message or f"no finite {name} was reported"
            return
        self.score_trial(trial)

    def _count_failures(self, trial: Any) -> None:
        """Stop the search after too many failures in a row, as KerasTuner does."""
        failed = trial.status in (Status.FAILED, Status.INVALID)
        self._failures_in_a_row = self._failures_in_a_row + 1 if failed else 0
        if self._failures_in_a_row >= self.max_consecutive_failed_trials:
            raise RuntimeError(
                f"Number of consecutive failures exceeded the limit of"
                f" {self.max_consecutive_failed_trials}.\n{trial.message or ''}"
            )

    def _from_service(self, found: ServiceTrial) -> Any:
        trial = Trial(self._hyperparameters(found.params), trial_id=str(found.trial_id))
        trial.status = Status.COMPLETED if found.state == "completed" else Status.FAILED
        trial.best_step = (found.best_epoch or 1) - 1
        for name, value in numbers(found.metrics or {}).items():
            direction = self.objective.direction if name == self.objective.name else None
            trial.metrics.register(name, direction=direction)
            trial.metrics.update(name, value, step=trial.best_step)
        trial.score = found.value
        return trial


class EpochReports(keras.callbacks.Callback):  # type: ignore[misc]
    """Reports each epoch of the running trial to the controller; stops training when the
    trial is pruned. Deep copies (KerasTuner copies callbacks per trial) share the oracle."""

    def __init__(self, oracle: ServiceOracle) -> None:
        super().__init__()
        self.oracle = oracle

    def __deepcopy__(self, memo: dict[int, Any]) -> EpochReports:
        return EpochReports(self.oracle)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        trial = self.oracle.running_trial()
        if trial is None or self.oracle.objective.name not in (logs or {}):
            return
        if self.oracle.report_epoch(trial.trial_id, epoch + 1, logs or {}):
            self.model.stop_training = True
