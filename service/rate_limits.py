"""Per-token rate limits on the hot worker calls (claim, report): token buckets in memory.

Each controller process keeps its own buckets, so behind a load balancer of N controllers a
token may reach N times the rate; the limit guards a controller against a runaway client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from service.errors import RateLimited

__all__ = ["RateLimiter"]


class RateLimiter:
    """`rate` calls per second per key, with bursts of up to `burst` calls."""

    def __init__(
        self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic
    ):
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, 2 * rate)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, what: str) -> None:
        """Spend one call of `key`'s allowance; 429 with Retry-After when none is left."""
        now = self.clock()
        with self._lock:
            tokens, stamp = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - stamp) * self.rate)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                wait = (1 - tokens) / self.rate
                raise RateLimited(
                    f"too many {what} calls for this token; retry in {wait:.2f} s", wait
                )
            self._buckets[key] = (tokens - 1, now)
