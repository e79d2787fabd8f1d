"""Controller throughput against plain Optuna, on the same PostgreSQL.

Each cell: N simulated workers (claim → report 5 epochs → complete, no training) against
the controller (two `hpsearch serve` processes), and N processes of plain Optuna (ask →
report x5 with should_prune → tell, RDBStorage), on a study pre-filled with P finished trials.
Every process runs for 1.5 x `--seconds` after its own first finished cycle, and the figures
come from two windows of `--seconds` each:

- warm: from the moment every process has finished a first cycle (caches loaded: the
  controller's once per controller process, Optuna's once per worker process);
- cold: from the moment every process has started, warm-up included.

The simulated workers speak HTTP with `bench.lean_http` (one keep-alive connection each,
bytes in and out): with one worker the cycle is serial, and the load generator's own HTTP
parsing would count against the controller (`--fleet-client httpx` for httpx's client).

Prints cycles/s, reports/s, claim (ask) and report (report + should_prune) latency p50/p99,
the ratio hpsearch / Optuna of cycles/s, and how long the warm-up took on each side.

    python -m bench.controller_vs_optuna [--workers 1,16,64] [--samplers tpe,random]
                                         [--prefill 0,1000,10000] [--seconds 15] [--repeats 1]
                                         [--fleet-client lean]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import optuna
import yaml
from sqlalchemy import create_engine, select, text

from bench.controller_process import ROOT, running_controller
from bench.prefill import prefill
from search_spaces import load_spec
from service.tables import StudyRow
from tests.support.databases import fresh_postgres_database

CANONICAL = ROOT / "search_spaces/examples/digits_cnn.yaml"
CONTROLLER_ENV = {
    "HPSEARCH_CLAIM_RATE": "1000000",
    "HPSEARCH_REPORT_RATE": "1000000",
    "HPSEARCH_LEASE_SECONDS": "120",
    "HPSEARCH_DB_POOL_SIZE": "10",
    "HPSEARCH_DB_MAX_OVERFLOW": "5",
}
RUN_FACTOR = 1.5  # each process runs this many windows after its first cycle


@dataclass(frozen=True)
class Figures:
    cycles_per_s: float
    reports_per_s: float
    claim_p50_ms: float
    claim_p99_ms: float
    report_p50_ms: float
    report_p99_ms: float


@dataclass(frozen=True)
class Run:
    """One side's processes: their stats files, read back."""

    stats: list[dict[str, Any]]
    claim_key: str

    @property
    def started(self) -> float:
        return max(s["started"] for s in self.stats)

    @property
    def warm(self) -> float:
        """When every process had finished its first cycle (inf if one never did)."""
        return max((min(s["ends"]) if s["ends"] else math.inf) for s in self.stats)

    def window(self, start: float, seconds: float) -> Figures:
        end = start + seconds

        def inside(kind: str) -> list[float]:
            samples = [x for s in self.stats for x in s["latencies"].get(kind, [])]
            return [taken for at, taken in samples if start <= at < end]

        cycles = sum(1 for s in self.stats for t in s["ends"] if start <= t < end)
        claims, reports = inside(self.claim_key), inside("report")
        return Figures(
            cycles / seconds,
            len(reports) / seconds,
            percentile(claims, 0.5),
            percentile(claims, 0.99),
            percentile(reports, 0.5),
            percentile(reports, 0.99),
        )


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def spec_dict(sampler: str, workers: int) -> dict[str, Any]:
    spec = yaml.safe_load(CANONICAL.read_text())
    spec.update(
        name="bench",
        sampler={"name": sampler, "seed": 0},
        pruner="median",
        max_trials=100_000,
        max_parallel=workers,
        training={"epochs": 5},
        retrain=None,
    )
    return spec


def _wait_all(processes: list[subprocess.Popen[bytes]], outputs: list[Path]) -> list[Any]:
    for process in processes:
        process.wait()
    return [json.loads(out.read_text()) for out in outputs]


def run_hpsearch(
    workers: int, sampler: str, filled: int, seconds: float, folder: Path, client: str = "lean"
) -> Run:
    with (
        fresh_postgres_database() as url,
        running_controller(folder, url, CONTROLLER_ENV, processes=2) as api,
    ):
        created = httpx.post(f"{api}/api/v1/studies", json=spec_dict(sampler, workers), timeout=60)
        study_id = created.json()["study_id"]
        engine = create_engine(url)
        with engine.connect() as connection:
            optuna_id = connection.execute(
                select(StudyRow.optuna_study_id).where(StudyRow.study_id == study_id)
            ).scalar_one()
        prefill(engine, optuna_id, load_spec(CANONICAL), filled, study_id=study_id)
        engine.dispose()
        fleets = min(2, workers)
        outputs = [folder / f"fleet{i}.json" for i in range(fleets)]
        run_for = str(seconds * RUN_FACTOR)
        commands = [
            [sys.executable, "-m", "bench.simulated_fleet", "--url", api,
             "--workers", str(workers // fleets + (i < workers % fleets)),
             "--prefix", f"b{i}", "--epochs", "5", "--seconds", run_for, "--warm",
             "--idle-exit", "600", "--client", client, "--stats", str(out)]
            for i, out in enumerate(outputs)
        ]  # fmt: skip
        processes = [
            subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL) for command in commands
        ]
        return Run(_wait_all(processes, outputs), "claim")


def check_connections(url: str, workers: int) -> None:
    """N Optuna processes hold up to 2N connections: refuse to start what cannot connect."""
    engine = create_engine(url)
    with engine.connect() as connection:
        allowed = int(connection.execute(text("SHOW max_connections")).scalar_one())
    engine.dispose()
    if allowed < 2 * workers + 20:
        sys.exit(
            f"{workers} Optuna processes need up to {2 * workers} connections and this "
            f"PostgreSQL allows {allowed}: ALTER SYSTEM SET max_connections = "
            f"{2 * workers + 100}, then restart it"
        )


def run_optuna(workers: int, sampler: str, filled: int, seconds: float, folder: Path) -> Run:
    with fresh_postgres_database() as url:
        check_connections(url, workers)
        study = optuna.create_study(study_name="bench", storage=url, direction="maximize")
        engine = create_engine(url)
        prefill(engine, study._study_id, load_spec(CANONICAL), filled)
        engine.dispose()
        outputs = [folder / f"peer{i}.json" for i in range(workers)]
        commands = [
            [sys.executable, "-m", "bench.optuna_peer", "--url", url, "--study", "bench",
             "--sampler", sampler, "--seed", str(i), "--seconds", str(seconds * RUN_FACTOR),
             "--warm", "--stats", str(out)]
            for i, out in enumerate(outputs)
        ]  # fmt: skip
        processes = [subprocess.Popen(command, cwd=ROOT) for command in commands]
        return Run(_wait_all(processes, outputs), "ask")


def ratio(ours: Figures, peer: Figures) -> float:
    """hpsearch's cycles/s over Optuna's."""
    return ours.cycles_per_s / peer.cycles_per_s if peer.cycles_per_s else float("inf")


def row(label: str, ours: Figures, peer: Figures) -> str:
    return (
        f"| {label} | {ours.cycles_per_s:.1f} | {peer.cycles_per_s:.1f} |"
        f" {ratio(ours, peer):.2f}x |"
        f" {ours.reports_per_s:.0f} | {peer.reports_per_s:.0f} |"
        f" {ours.claim_p50_ms:.0f} / {ours.claim_p99_ms:.0f} |"
        f" {peer.claim_p50_ms:.0f} / {peer.claim_p99_ms:.0f} |"
        f" {ours.report_p50_ms:.0f} / {ours.report_p99_ms:.0f} |"
        f" {peer.report_p50_ms:.0f} / {peer.report_p99_ms:.0f} |"
    )


HEADER = (
    "| workers, sampler, pre-filled | hpsearch cycles/s | Optuna cycles/s | ratio |"
    " hpsearch reports/s | Optuna reports/s | claim p50 / p99 ms | ask p50 / p99 ms |"
    " report p50 / p99 ms | Optuna report+should_prune p50 / p99 ms |\n" + "|" + " --- |" * 10
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", default="1,16,64")
    parser.add_argument("--samplers", default="tpe,random")
    parser.add_argument("--prefill", default="0,1000,10000")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument(
        "--repeats", type=int, default=1,
        help="run each cell this many times, hpsearch and Optuna in turn, and print the "
        "median ratio (the VM's speed drifts between runs minutes apart)",
    )  # fmt: skip
    parser.add_argument(
        "--fleet-client", choices=("lean", "httpx"), default="lean",
        help="the simulated workers' HTTP client: bench.lean_http's (default) or httpx's "
        "AsyncClient (this benchmark's client until 2026-12-07)",
    )  # fmt: skip
    args = parser.parse_args()
    warm_rows, cold_rows, warm_ups, medians = [], [], [], []
    print(f"warm table as it comes ({args.seconds:g} s windows):\n{HEADER}", flush=True)
    for sampler in args.samplers.split(","):
        for filled in (int(x) for x in args.prefill.split(",")):
            for workers in (int(x) for x in args.workers.split(",")):
                label = f"{workers}, {sampler}, {filled:,}"
                ratios = []
                for repeat in range(args.repeats):
                    with tempfile.TemporaryDirectory() as folder:
                        ours = run_hpsearch(
                            workers, sampler, filled, args.seconds, Path(folder), args.fleet_client
                        )
                        peer = run_optuna(workers, sampler, filled, args.seconds, Path(folder))
                    run = label if args.repeats == 1 else f"{label} (run {repeat + 1})"
                    ours_warm = ours.window(ours.warm, args.seconds)
                    peer_warm = peer.window(peer.warm, args.seconds)
                    ratios.append(ratio(ours_warm, peer_warm))
                    warm = row(run, ours_warm, peer_warm)
                    warm_rows.append(warm)
                    cold_rows.append(row(run, ours.window(ours.started, args.seconds),
                                         peer.window(peer.started, args.seconds)))  # fmt: skip
                    warm_ups.append(f"| {run} | {ours.warm - ours.started:.1f} |"
                                    f" {peer.warm - peer.started:.1f} |")  # fmt: skip
                    print(warm, flush=True)
                each = ", ".join(f"{r:.2f}x" for r in ratios)
                medians.append(f"| {label} | {each} | {statistics.median(ratios):.2f}x |")
    print(f"\nwarm: every process past its first cycle\n{HEADER}")
    print("\n".join(warm_rows))
    print(f"\ncold: from the start, warm-up included\n{HEADER}")
    print("\n".join(cold_rows))
    print("\nwarm-up: seconds from start until every process finished a first cycle")
    print("| workers, sampler, pre-filled | hpsearch | Optuna |\n| --- | --- | --- |")
    print("\n".join(warm_ups), flush=True)
    if args.repeats > 1:
        print("\nwarm cycles/s ratio per run, and the median")
        print("| workers, sampler, pre-filled | per run | median |\n| --- | --- | --- |")
        print("\n".join(medians), flush=True)


if __name__ == "__main__":
    main()
