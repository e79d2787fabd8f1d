"""A fleet of simulated workers (no training) in one process, over real HTTP with asyncio
(each worker on one keep-alive connection of `bench.lean_http`; `--client httpx` for httpx's
`AsyncClient`).

Each worker claims, reports `epochs` epochs (sleeping `epoch_seconds` between), completes,
and again; it rides out an unreachable controller or database with backoff, drops work the
controller refuses (409/404), and appends every accepted complete to a JSONL ledger so that
invariants can be checked afterwards (see `bench/reliability.py`).

    python -m bench.simulated_fleet --url URL --workers 64 --prefix a --ledger ledger.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.lean_http import LeanClient

TRANSIENT = {429, 500, 502, 503, 504}


@dataclass
class FleetOptions:
    url: str
    workers: int = 16
    prefix: str = "sim"
    epochs: int = 3
    epoch_seconds: float = 0.0
    token: str | None = None
    ledger: Path | None = None
    idle_exit: float = 10.0
    seconds: float | None = None
    # With `warm`, each worker's `seconds` count from its first finished piece of work.
    warm: bool = False
    # "lean": bench.lean_http's client (the load generator's own cost kept small); "httpx".
    client: str = "lean"
    # (start, seconds) of every call by kind, and the end time of every finished piece.
    latencies: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    ends: list[float] = field(default_factory=list)


class Dropped(Exception):
    """The controller refused this work (409/404): it is not ours any more."""


class Fleet:
    def __init__(self, options: FleetOptions) -> None:
        self.options = options
        self.done = 0
        self._ledger = options.ledger.open("a") if options.ledger else None

    async def _call(
        self,
        http: Any,
        kind: str,
        path: str,
        body: dict[str, Any],
        give_up_after: float | None = None,
    ) -> Any:
        """POST with retries on transient failures; Dropped on 409/404."""
        started, delay = time.monotonic(), 0.05
        while True:
            try:
                wall, began = time.time(), time.perf_counter()
                response = await http.post(path, json=body)
                taken = time.perf_counter() - began
                self.options.latencies.setdefault(kind, []).append((wall, taken))
                if response.status_code not in TRANSIENT:
                    break
            except httpx.TransportError:
                pass
            if give_up_after is not None and time.monotonic() - started > give_up_after:
                raise Dropped(f"{path}: no answer for {give_up_after:.0f} s")
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 2.0)
        if response.status_code in (404, 409):
            raise Dropped(f"{path}: {response.status_code}")
        response.raise_for_status()
        return response

    async def worker(self, index: int) -> None:
        worker_id = f"{self.options.prefix}-{index}"
        headers = {"Authorization": f"Bearer {self.options.token}"} if self.options.token else {}
        async with _client(self.options.client, self.options.url, headers) as http:
            idle_since, delay = time.monotonic(), 0.05
            deadline = None if self.options.seconds is None else idle_since + self.options.seconds
            first_done = False
            while time.monotonic() - idle_since < self.options.idle_exit:
                if deadline is not None and time.monotonic() > deadline:
                    return
                # A benchmark fleet gives up half a minute past its deadline; without one, never.
                patience = None if deadline is None else max(0.0, deadline - time.monotonic()) + 30
                try:
                    claim = await self._call(
                        http,
                        "claim",
                        "/api/v1/work/claim",
                        {"worker_id": worker_id, "kinds": ["trial"]},
                        patience,
                    )
                except Dropped:
                    return
                if claim.status_code == 204:
                    await asyncio.sleep(delay * random.uniform(0.5, 1.5))
                    delay = min(delay * 2, 1.0)
                    continue
                delay, idle_since = 0.05, time.monotonic()
                try:
                    await self._run(http, worker_id, claim.json())
                except Dropped:
                    continue
                if self.options.warm and not first_done and self.options.seconds is not None:
                    first_done = True
                    deadline = time.monotonic() + self.options.seconds

    async def _run(self, http: Any, worker_id: str, work: dict[str, Any]) -> None:
        work_id, lease = work["work_id"], float(work["lease_seconds"])
        value, status = 0.0, "completed"
        # The same made-up curve for the same trial number, run after run.
        curve = random.Random(work["trial_number"])
        for epoch in range(1, self.options.epochs + 1):
            await asyncio.sleep(self.options.epoch_seconds)
            value = 0.5 + 0.4 * curve.random() * epoch / self.options.epochs
            body = {"worker_id": worker_id, "epoch": epoch, "metrics": {"val_accuracy": value}}
            answer = await self._call(http, "report", f"/api/v1/work/{work_id}/report", body, lease)
            if answer.json()["prune"]:
                status = "pruned"
                break
        body = {"worker_id": worker_id, "status": status, "metrics": {"val_accuracy": value}}
        done = await self._call(http, "complete", f"/api/v1/work/{work_id}/complete", body, lease)
        self._record(work, worker_id, body, done.json())

    def _record(
        self, work: dict[str, Any], worker_id: str, body: dict[str, Any], answer: dict[str, Any]
    ) -> None:
        self.done += 1
        self.options.ends.append(time.time())
        if self._ledger is not None:
            entry = {
                "work_id": work["work_id"],
                "trial_id": work["trial_id"],
                "worker": worker_id,
                "status": body["status"],
                "value": body["metrics"]["val_accuracy"],
                "answer": answer,
            }
            self._ledger.write(json.dumps(entry) + "\n")
            self._ledger.flush()

    async def run(self) -> int:
        await asyncio.gather(*(self.worker(i) for i in range(self.options.workers)))
        return self.done


def _client(kind: str, url: str, headers: dict[str, str]) -> Any:
    if kind == "httpx":
        return httpx.AsyncClient(base_url=url, timeout=30, headers=headers)
    return LeanClient(url, timeout=30, headers=headers)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--prefix", default="sim")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--epoch-seconds", type=float, default=0.0)
    parser.add_argument("--token", default=None)
    parser.add_argument("--ledger", type=Path, default=None)
    parser.add_argument("--idle-exit", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=None, help="stop claiming after this")
    parser.add_argument("--warm", action="store_true", help="--seconds after a first piece")
    parser.add_argument(
        "--client", choices=("lean", "httpx"), default="lean", help="the fleet's HTTP client"
    )
    parser.add_argument("--stats", type=Path, default=None, help="write latencies here (JSON)")
    args = parser.parse_args()
    options = FleetOptions(
        args.url,
        args.workers,
        args.prefix,
        args.epochs,
        args.epoch_seconds,
        args.token,
        args.ledger,
        args.idle_exit,
        args.seconds,
        args.warm,
        args.client,
    )
    started, wall = time.perf_counter(), time.time()
    done = asyncio.run(Fleet(options).run())
    if args.stats is not None:
        stats = {
            "cycles": done,
            "started": wall,
            "seconds": time.perf_counter() - started,
            "latencies": options.latencies,
            "ends": options.ends,
        }
        args.stats.write_text(json.dumps(stats))
    print(f"{args.prefix}: {done} pieces of work completed")


if __name__ == "__main__":
    main()
