"""Prometheus metrics of one app: its own registry, so several apps can live in one process."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["RequestTimer", "Telemetry", "TrialStates"]


class Telemetry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.claims = Counter(
            "hpsearch_claims", "Claims answered, by result.", ["result"], registry=self.registry
        )
        self.reports = Counter(
            "hpsearch_reports", "Epoch reports, by prune answer.", ["prune"], registry=self.registry
        )
        self.finished = Counter(
            "hpsearch_trials_finished",
            "Trials finished, by state.",
            ["state"],
            registry=self.registry,
        )
        self.lease_expiries = Counter(
            "hpsearch_lease_expiries", "Leases that ran out.", ["kind"], registry=self.registry
        )
        self.requeues = Counter(
            "hpsearch_requeues", "Trials re-queued with their params.", registry=self.registry
        )
        self.latency = Histogram(
            "hpsearch_request_seconds",
            "Request latency by route.",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )


class TrialStates:
    """A scrape-time gauge of trials by state, counted by the database."""

    def __init__(self, count: Callable[[], dict[str, int]]) -> None:
        self._count = count

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("hpsearch_trials", "Trials by state.", labels=["state"])
        for state, number in sorted(self._count().items()):
            gauge.add_metric([state], number)
        yield gauge

    def describe(self) -> list[GaugeMetricFamily]:
        return []


class RequestTimer:
    """Times every HTTP request by method and route template (a plain ASGI middleware:
    Starlette's `BaseHTTPMiddleware` costs a task and a stream per request)."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            elapsed = time.perf_counter() - started
            self.telemetry.latency.labels(scope["method"], path).observe(elapsed)
