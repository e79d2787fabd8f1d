"""Reports and heartbeats ride out an unreachable controller until the lease is surely lost."""

from __future__ import annotations

from typing import Any

import pytest

from hpsearch.errors import Conflict, ControllerUnreachable
from hpsearch.objects import Assignment, HeartbeatAnswer, ReportAnswer
from workers.failures import LeaseLost
from workers.reporting import Reporter


def assignment() -> Assignment:
    return Assignment(
        work_id=7, kind="trial", study_id=1, study_name="s", trial_id=3, trial_number=2,
        attempt=1, params={}, model="cnn", dataset="digits", split={}, training={},
        objectives=[{"metric": "val_accuracy"}], seed=None, lease_seconds=30,
        heartbeat_seconds=5,
    )  # fmt: skip


class FlakyClient:
    """Fails the first `outages` calls as unreachable, then answers; records what arrived."""

    def __init__(self, outages: int = 0, refuse: bool = False, prune_at: int | None = None):
        self.outages = outages
        self.refuse = refuse
        self.prune_at = prune_at
        self.delivered: list[int] = []

    def _maybe_fail(self) -> None:
        if self.refuse:
            raise Conflict(409, "the lease on work 7 expired")
        if self.outages > 0:
            self.outages -= 1
            raise ControllerUnreachable("connection refused")

    def report(self, work_id: int, worker_id: str, epoch: int, metrics: Any) -> ReportAnswer:
        self._maybe_fail()
        self.delivered.append(epoch)
        return ReportAnswer(prune=epoch == self.prune_at, lease_seconds=30)

    def heartbeat(self, work_id: int, worker_id: str) -> HeartbeatAnswer:
        self._maybe_fail()
        return HeartbeatAnswer(lease_seconds=30, stop=False)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_undelivered_reports_wait_and_go_in_order_once_the_controller_answers() -> None:
    client = FlakyClient(outages=2)
    clock = Clock()
    reporter = Reporter(client, assignment(), "w", clock=clock)  # type: ignore[arg-type]
    assert reporter.report(1, {"val_accuracy": 0.5}) is False
    clock.now += 10
    assert reporter.report(2, {"val_accuracy": 0.6}) is False
    assert client.delivered == []
    clock.now += 10
    assert reporter.report(3, {"val_accuracy": 0.7}) is False
    assert client.delivered == [1, 2, 3]


def test_the_lease_is_surely_lost_only_after_a_whole_lease_without_contact() -> None:
    client = FlakyClient(outages=100)
    clock = Clock()
    reporter = Reporter(client, assignment(), "w", clock=clock)  # type: ignore[arg-type]
    clock.now += 29
    assert reporter.report(1, {"val_accuracy": 0.5}) is False
    clock.now += 2
    with pytest.raises(LeaseLost):
        reporter.report(2, {"val_accuracy": 0.6})


def test_a_refusal_means_the_lease_is_lost_at_once() -> None:
    reporter = Reporter(FlakyClient(refuse=True), assignment(), "w")  # type: ignore[arg-type]
    with pytest.raises(LeaseLost):
        reporter.report(1, {"val_accuracy": 0.5})
    with pytest.raises(LeaseLost):
        reporter.heartbeat()


def test_a_prune_answer_is_passed_on_with_its_reason() -> None:
    reporter = Reporter(FlakyClient(prune_at=2), assignment(), "w")  # type: ignore[arg-type]
    assert reporter.report(1, {"val_accuracy": 0.5}) is False
    assert reporter.report(2, {"val_accuracy": 0.1}) is True
    assert reporter.prune_reason == "pruner"


def test_a_heartbeat_delivers_pending_reports_first() -> None:
    client = FlakyClient(outages=1)
    reporter = Reporter(client, assignment(), "w")  # type: ignore[arg-type]
    reporter.report(1, {"val_accuracy": 0.5})
    assert client.delivered == []
    reporter.heartbeat()
    assert client.delivered == [1]


def test_deliver_retries_a_complete_until_it_goes_through() -> None:
    client = FlakyClient()
    reporter = Reporter(client, assignment(), "w")  # type: ignore[arg-type]
    attempts = []

    def send() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ControllerUnreachable("down")
        return "ok"

    assert reporter.deliver(send, "complete", backoff=0.01) == "ok"
    assert len(attempts) == 3
