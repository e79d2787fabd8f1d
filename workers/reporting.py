"""Talking to the controller during a trial: per-epoch reports and heartbeats that survive a
controller that is briefly out of reach.

Reports that cannot be delivered wait in order and go with the next epoch or heartbeat;
training goes on meanwhile. Only when no contact has succeeded for longer than the lease is
the lease surely lost, and the trial dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from hpsearch import Client
from hpsearch.errors import Conflict, ControllerUnreachable, NotFound, RateLimited, Unavailable
from hpsearch.objects import Assignment
from workers.failures import LeaseLost

__all__ = ["Reporter"]

log = logging.getLogger(__name__)
_TRANSIENT = (ControllerUnreachable, Unavailable, RateLimited)


class Reporter:
    """One trial's line to the controller. Thread-safe: the heartbeat thread shares it."""

    def __init__(
        self,
        client: Client,
        assignment: Assignment,
        worker_id: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.assignment = assignment
        self.worker_id = worker_id
        self.clock = clock
        self.lease_seconds = assignment.lease_seconds
        self.last_contact = clock()
        self.prune_reason: str | None = None
        self._pending: list[tuple[int, dict[str, float | None]]] = []
        self._lock = threading.Lock()

    @property
    def work_id(self) -> int:
        return self.assignment.work_id

    def report(self, epoch: int, metrics: Mapping[str, float]) -> bool:
        """Queue the epoch and deliver what is pending; True when told to prune."""
        values: dict[str, float | None] = {k: float(v) for k, v in metrics.items()}
        with self._lock:
            self._pending.append((epoch, values))
            return self._flush()

    def flush(self) -> bool:
        with self._lock:
            return self._flush()

    def _flush(self) -> bool:
        prune = False
        while self._pending:
            epoch, metrics = self._pending[0]
            try:
                answer = self.client.report(self.work_id, self.worker_id, epoch, metrics)
            except _TRANSIENT as exc:
                self._out_of_reach(exc)
                return False
            except (Conflict, NotFound) as exc:
                raise LeaseLost(str(exc)) from exc
            self._pending.pop(0)
            self._touch(answer.lease_seconds)
            if answer.prune:
                prune, self.prune_reason = True, answer.reason or "pruner"
        return prune

    def heartbeat(self) -> bool:
        """Renew the lease (delivering pending reports first); True when the study stopped."""
        with self._lock:
            if self._pending:
                return self._flush()
            try:
                answer = self.client.heartbeat(self.work_id, self.worker_id)
            except _TRANSIENT as exc:
                self._out_of_reach(exc)
                return False
            except (Conflict, NotFound) as exc:
                raise LeaseLost(str(exc)) from exc
            self._touch(answer.lease_seconds)
            if answer.stop:
                self.prune_reason = "study stopped"
            return answer.stop

    def deliver(self, send: Callable[[], object], what: str, backoff: float = 0.5) -> object:
        """Call `send` (a complete or an upload) until it goes through or the lease is surely
        lost; waits between tries grow, capped by what is left of the lease."""
        self.flush_until_delivered()
        while True:
            try:
                result = send()
            except _TRANSIENT as exc:
                self._out_of_reach(exc)
                time.sleep(min(backoff, max(0.05, self._time_left())))
                backoff = min(backoff * 2, 10.0)
                continue
            except (Conflict, NotFound) as exc:
                raise LeaseLost(f"{what}: {exc}") from exc
            self._touch(self.lease_seconds)
            return result

    def flush_until_delivered(self, backoff: float = 0.5) -> bool:
        prune = False
        while True:
            with self._lock:
                prune = self._flush() or prune
                if not self._pending:
                    return prune
            time.sleep(min(backoff, max(0.05, self._time_left())))
            backoff = min(backoff * 2, 10.0)

    def _touch(self, lease_seconds: float) -> None:
        self.last_contact = self.clock()
        self.lease_seconds = lease_seconds

    def _time_left(self) -> float:
        return self.lease_seconds - (self.clock() - self.last_contact)

    def _out_of_reach(self, exc: Exception) -> None:
        if self._time_left() <= 0:
            raise LeaseLost(
                f"no contact with the controller for {self.lease_seconds:.0f} s: the lease is lost"
            ) from exc
        log.warning("controller out of reach (%s); training goes on", exc)
