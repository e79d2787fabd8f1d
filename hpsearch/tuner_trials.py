"""One trial a KerasTuner process trains for the controller: its epoch reports, the heartbeat
that keeps its lease while an epoch runs, and its completion.

Transient trouble (controller out of reach, 503, 429) is retried; a 409/404 means the trial
is no longer ours (its lease expired and it was re-queued): the line goes quiet and the
tuner is told to stop the trial.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from hpsearch.client import Client
from hpsearch.errors import (
    Conflict,
    ControllerUnreachable,
    Invalid,
    NotFound,
    RateLimited,
    Unavailable,
)
from hpsearch.objects import Assignment

__all__ = ["DEVICE", "TrialLine", "failure_reason", "numbers", "retrying"]

log = logging.getLogger(__name__)
T = TypeVar("T")

DEVICE = "keras-tuner"
MAX_REASON = 2000
_TRANSIENT = (ControllerUnreachable, Unavailable, RateLimited)
_LOST = (Conflict, NotFound)


def retrying(call: Callable[[], T], what: str, patience: float = 60.0) -> T:
    """`call`, again while the controller is out of reach (for `patience` seconds)."""
    deadline, wait = time.monotonic() + patience, 0.5
    while True:
        try:
            return call()
        except _TRANSIENT as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("%s: controller out of reach (%s); trying again", what, exc)
            time.sleep(wait)
            wait = min(wait * 2, 10.0)


class TrialLine:
    """A claimed trial's line to the controller; its heartbeat runs from creation to `stop`."""

    def __init__(self, client: Client, assignment: Assignment, worker_id: str) -> None:
        self.client = client
        self.assignment = assignment
        self.worker_id = worker_id
        self.epochs: dict[int, dict[str, float]] = {}
        self.pruned = False
        self.lost = False
        self._stopped = threading.Event()
        threading.Thread(target=self._beat, daemon=True, name=f"heartbeat-{worker_id}").start()

    @property
    def work_id(self) -> int:
        return self.assignment.work_id

    @property
    def should_stop(self) -> bool:
        """Pruned, the study stopped, or the trial is no longer ours."""
        return self.pruned or self.lost

    def report(self, epoch: int, metrics: Mapping[str, Any]) -> bool:
        """Report epoch `epoch` (1 for the first) unless it was already; True: stop."""
        if epoch in self.epochs or self.lost:
            return self.should_stop
        values = numbers(metrics)
        self.epochs[epoch] = values
        try:
            answer = retrying(
                lambda: self.client.report(self.work_id, self.worker_id, epoch, values), "report"
            )
            self.pruned = self.pruned or answer.prune
        except _LOST as exc:
            log.warning("work %s is no longer ours: %s", self.work_id, exc)
            self.lost = True
        return self.should_stop

    def stop(self) -> None:
        """Stop the heartbeat (the lease then expires unless the trial is completed)."""
        self._stopped.set()

    def finish(self, failure: str | None, retryable: bool, metric: str, maximize: bool) -> None:
        """Complete with the best epoch by `metric` (the last when pruned), or fail."""
        self.stop()
        if self.lost:
            log.warning("work %s was taken back by the controller; not completed", self.work_id)
            return
        status, fields = self._outcome(failure, retryable, metric, maximize)
        try:
            self._complete(status, fields)
        except Invalid as exc:
            self._complete("failed", {"reason": f"invalid result: {exc}"[:MAX_REASON]})
        except _LOST as exc:
            log.warning("work %s was taken back by the controller: %s", self.work_id, exc)

    def _complete(self, status: str, fields: dict[str, Any]) -> None:
        retrying(
            lambda: self.client.complete(self.work_id, self.worker_id, status, **fields),
            "complete",
        )

    def _outcome(
        self, failure: str | None, retryable: bool, metric: str, maximize: bool
    ) -> tuple[str, dict[str, Any]]:
        last = max(self.epochs, default=0)
        fields: dict[str, Any] = {"epochs": last, "device": DEVICE}
        if failure is not None:
            return "failed", {**fields, "reason": failure, "retryable": retryable}
        chosen = last if self.pruned else best_epoch(self.epochs, metric, maximize)
        fields |= {"metrics": self.epochs.get(chosen, {}), "best_epoch": chosen or None}
        return ("pruned" if self.pruned else "completed"), fields

    def _beat(self) -> None:
        """Renew the lease while the trial trains (an epoch can outlast it)."""
        every = self.assignment.heartbeat_seconds
        while not self._stopped.wait(every):
            try:
                answer = self.client.heartbeat(self.work_id, self.worker_id)
            except _LOST:
                self.lost = True
                return
            except Exception as exc:  # a heartbeat must never take the tuner down
                log.warning("heartbeat of work %s failed: %s", self.work_id, exc)
                continue
            self.pruned = self.pruned or answer.stop


def best_epoch(epochs: Mapping[int, Mapping[str, float]], metric: str, maximize: bool) -> int:
    """The epoch whose `metric` is best (the last when none reported it), as KerasTuner
    scores a trial by its best epoch."""
    sign = 1 if maximize else -1
    scored = [(sign * m[metric], e) for e, m in epochs.items() if _finite(m.get(metric))]
    return max(scored)[1] if scored else max(epochs, default=0)


def _finite(value: object) -> bool:
    return isinstance(value, float) and math.isfinite(value)


def numbers(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numeric metrics as floats (numpy scalars included); others are left out."""
    values: dict[str, float] = {}
    for name, value in metrics.items():
        try:
            values[str(name)] = float(value)
        except (TypeError, ValueError):
            continue
    return values


def failure_reason(message: str | None) -> str:
    """The last line of KerasTuner's traceback message: the error itself."""
    lines = [line for line in (message or "").strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "the trial failed in KerasTuner")[:MAX_REASON]
