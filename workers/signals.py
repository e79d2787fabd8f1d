"""Flags one trial watches: the worker is shutting down, the study stopped, the lease is gone;
and the heartbeat thread that raises the last two."""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from workers.failures import LeaseLost
from workers.reporting import Reporter

__all__ = ["Heartbeat", "TrialFlags"]

log = logging.getLogger(__name__)


class TrialFlags:
    def __init__(self, shutdown: threading.Event) -> None:
        self.shutdown = shutdown
        self.study_stopped = False
        self.lease_lost: LeaseLost | None = None

    def should_stop(self) -> bool:
        return self.shutdown.is_set() or self.study_stopped or self.lease_lost is not None


class Heartbeat:
    """Renews the lease every `interval` seconds in a thread while a trial runs."""

    def __init__(self, reporter: Reporter, interval: float, flags: TrialFlags) -> None:
        self.reporter = reporter
        self.interval = interval
        self.flags = flags
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            try:
                if self.reporter.heartbeat():
                    self.flags.study_stopped = True
            except LeaseLost as exc:
                self.flags.lease_lost = exc
                log.warning("work %s: %s", self.reporter.work_id, exc)
                return
            except Exception:
                log.exception("heartbeat failed; trying again next beat")

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join(timeout=self.interval + 30)
