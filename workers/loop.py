"""The pull loop of one worker slot: claim, train, report, complete; again.

It never spins: when there is no work, or the controller is out of reach, it waits with
exponential backoff and jitter. A shutdown (SIGTERM) stops the running trial at its next
batch and hands it back to the queue at once. A token the controller refuses (401, 403)
stops the slot at once, as does `idle_exit` reached while the controller was out of reach:
neither is "no work", and the slot's exit says so (`unfit`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass

import keras

from hpsearch import Client
from hpsearch.errors import ApiError, ControllerUnreachable, Forbidden, Invalid, Unauthorized
from hpsearch.objects import Assignment
from workers.datasets import Split, load_dataset
from workers.failures import DATASET_ERROR, Failure, LeaseLost, classify
from workers.reporting import Reporter
from workers.retrain import run_retrain
from workers.signals import Heartbeat, TrialFlags
from workers.trainer import TrialResult, run_trial

__all__ = ["DATASET_STREAK", "Backoff", "Worker", "WorkerOptions"]

log = logging.getLogger(__name__)
# Pieces of work in a row whose data would not load on this node before the slot stops: such
# a node fails each piece at once and would otherwise take trial after trial of the fleet's.
DATASET_STREAK = 3


@dataclass
class Backoff:
    """Waits that double from `base` to `cap`, each jittered by ±50 %."""

    base: float = 0.5
    cap: float = 15.0
    current: float = 0.0

    def next(self) -> float:
        self.current = self.base if self.current == 0 else min(self.cap, self.current * 2)
        return self.current * random.uniform(0.5, 1.5)

    def reset(self) -> None:
        self.current = 0.0


@dataclass(frozen=True)
class WorkerOptions:
    worker_id: str
    device: str = "CPU"
    hostname: str | None = None
    max_trials: int | None = None
    idle_exit: float | None = None
    kinds: tuple[str, ...] = ("trial", "retrain")


class Worker:
    def __init__(
        self,
        client: Client,
        options: WorkerOptions,
        shutdown: threading.Event | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.client = client
        self.options = options
        self.shutdown = shutdown or threading.Event()
        self.backoff = backoff or Backoff()
        self.finished = 0
        self.dataset_failures = 0
        # Why this slot cannot do the work: DATASET_STREAK dataset errors in a row, a refused
        # token, or a controller out of reach until `idle_exit`.
        self.unfit: str | None = None
        self.unreachable: str | None = None  # the last claim's failure to reach the controller

    def run(self) -> int:
        """Work until shutdown, `max_trials`, or `idle_exit` seconds without work."""
        idle_since = time.monotonic()
        limit, idle_exit = self.options.max_trials, self.options.idle_exit
        while not self.shutdown.is_set() and (limit is None or self.finished < limit):
            assignment = self._claim()
            if self.unfit is not None:
                break
            if assignment is None:
                if idle_exit is not None and time.monotonic() - idle_since >= idle_exit:
                    self._idle_exit(idle_exit)
                    break
                self.shutdown.wait(self.backoff.next())
                continue
            self.backoff.reset()
            self.work(assignment)
            self.finished += 1
            if self.unfit is not None:
                break
            idle_since = time.monotonic()
        if self.unfit is not None:
            log.error("this slot stops: %s", self.unfit)
        return self.finished

    def _idle_exit(self, idle_exit: float) -> None:
        if self.unreachable is None:
            log.info("no work for %.0f s; exiting", idle_exit)
        else:
            self.unfit = (
                f"the controller was out of reach for {idle_exit:.0f} s ({self.unreachable})"
            )

    def _claim(self) -> Assignment | None:
        self.unreachable = None
        try:
            return self.client.claim(
                self.options.worker_id,
                hostname=self.options.hostname,
                device=self.options.device,
                kinds=self.options.kinds,
            )
        except (Unauthorized, Forbidden) as exc:
            self.unfit = (
                f"the controller refused this worker's token ({exc}); HPSEARCH_TOKEN must be"
                " a worker or admin token of this controller"
            )
        except ControllerUnreachable as exc:
            log.warning("claim failed: %s", exc)
            self.unreachable = str(exc)
        except ApiError as exc:
            log.warning("claim failed: %s", exc)
        return None

    def work(self, assignment: Assignment) -> None:
        """Run one assignment and complete it (or drop it if the lease is lost)."""
        reporter = Reporter(self.client, assignment, self.options.worker_id)
        flags = TrialFlags(self.shutdown)
        log.info("%s %s of study %s (work %s): %s", assignment.kind, assignment.trial_number,
                 assignment.study_id, assignment.work_id, assignment.params)  # fmt: skip
        try:
            with Heartbeat(reporter, assignment.heartbeat_seconds, flags):
                result = self._run(assignment, reporter, flags)
            self._complete(reporter, result)
            self._count_dataset_failures(result)
        except LeaseLost as exc:
            log.warning("work %s dropped: %s", assignment.work_id, exc)
        finally:
            keras.backend.clear_session()  # collects garbage too

    def _run(self, assignment: Assignment, reporter: Reporter, flags: TrialFlags) -> TrialResult:
        try:
            split = Split(**assignment.split)
            dataset = load_dataset(assignment.dataset, split)
            run = run_retrain if assignment.kind == "retrain" else run_trial
            return run(assignment, dataset, reporter, flags)
        except LeaseLost:
            raise
        except Exception as exc:
            failure = Failure("worker stopped", True) if self.shutdown.is_set() else classify(exc)
            log.warning("work %s failed: %s", assignment.work_id, failure.reason)
            return TrialResult("failed", reason=failure.reason, retryable=failure.retryable)

    def _count_dataset_failures(self, result: TrialResult) -> None:
        if result.status == "failed" and (result.reason or "").startswith(DATASET_ERROR):
            self.dataset_failures += 1
        else:
            self.dataset_failures = 0
        if self.dataset_failures >= DATASET_STREAK:
            self.unfit = (
                f"{self.dataset_failures} pieces of work in a row could not load their data on"
                f" this node; the last: {result.reason}"
            )

    def _complete(self, reporter: Reporter, result: TrialResult) -> None:
        fields = result.complete_fields(self.options.device)
        wid, work_id = self.options.worker_id, reporter.work_id
        try:
            reporter.deliver(lambda: self.client.complete(work_id, wid, result.status, **fields),
                             "complete")  # fmt: skip
        except Invalid as exc:
            # A completed trial whose objective came out unusable: record it as a failure.
            log.warning("work %s refused as completed (%s); recording a failure", work_id, exc)
            reason = f"invalid result: {exc}"[:2000]
            reporter.deliver(
                lambda: self.client.complete(
                    work_id, wid, "failed", reason=reason,
                    metrics=result.metrics, epochs=result.epochs, device=self.options.device,
                ),
                "complete",
            )  # fmt: skip
        log.info("work %s %s %s", work_id, result.status, result.metrics or result.reason)
