"""Controller throughput against plain Optuna, on the same PostgreSQL.

Each cell: N simulated workers (claim → report 5 epochs → complete, no training) against
the controller, and N processes of plain Optuna (ask → report x5 with should_prune → tell,
RDBStorage), each for the same number of seconds, on a study pre-filled with P finished trials.
Prints cycles/s, reports/s, claim (ask) latency p50/p99, and the ratio hpsearch / Optuna.

    python -m bench.controller_vs_optuna [--workers 1,16,64] [--samplers tpe,random]
                                         [--prefill 0,1000,10000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import optuna
import yaml
from sqlalchemy import create_engine, select

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
    "HPSEARCH_DB_POOL_SIZE": "20",
}


@dataclass(frozen=True)
class Figures:
    cycles_per_s: float
    reports_per_s: float
    claim_p50_ms: float
    claim_p99_ms: float
    report_p50_ms: float
    report_p99_ms: float


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def figures(stats: list[dict[str, Any]], claim_key: str, reports: int | None) -> Figures:
    seconds = max(s["seconds"] for s in stats)
    cycles = sum(s["cycles"] for s in stats)
    claims = [x for s in stats for x in s["latencies"].get(claim_key, [])]
    report_times = [x for s in stats for x in s["latencies"].get("report", [])]
    report_count = reports if reports is not None else sum(s.get("reports", 0) for s in stats)
    return Figures(
        cycles / seconds,
        report_count / seconds,
        percentile(claims, 0.5),
        percentile(claims, 0.99),
        percentile(report_times, 0.5),
        percentile(report_times, 0.99),
    )


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


def run_hpsearch(workers: int, sampler: str, filled: int, seconds: float, folder: Path) -> Figures:
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
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.simulated_fleet",
                    "--url",
                    api,
                    "--workers",
                    str(workers // fleets + (i < workers % fleets)),
                    "--prefix",
                    f"b{i}",
                    "--epochs",
                    "5",
                    "--seconds",
                    str(seconds),
                    "--idle-exit",
                    str(seconds + 30),
                    "--stats",
                    str(out),
                ],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
            )
            for i, out in enumerate(outputs)
        ]
        for process in processes:
            process.wait()
        stats = [json.loads(out.read_text()) for out in outputs]
    reports = sum(len(s["latencies"].get("report", [])) for s in stats)
    return figures(stats, "claim", reports)


def run_optuna(workers: int, sampler: str, filled: int, seconds: float, folder: Path) -> Figures:
    with fresh_postgres_database() as url:
        study = optuna.create_study(study_name="bench", storage=url, direction="maximize")
        engine = create_engine(url)
        prefill(engine, study._study_id, load_spec(CANONICAL), filled)
        engine.dispose()
        outputs = [folder / f"peer{i}.json" for i in range(workers)]
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.optuna_peer",
                    "--url",
                    url,
                    "--study",
                    "bench",
                    "--sampler",
                    sampler,
                    "--seed",
                    str(i),
                    "--seconds",
                    str(seconds),
                    "--stats",
                    str(out),
                ],
                cwd=ROOT,
            )
            for i, out in enumerate(outputs)
        ]
        for process in processes:
            process.wait()
        stats = [json.loads(out.read_text()) for out in outputs]
    return figures(stats, "ask", None)


def row(label: str, ours: Figures, peer: Figures) -> str:
    ratio = ours.cycles_per_s / peer.cycles_per_s if peer.cycles_per_s else float("inf")
    return (
        f"| {label} | {ours.cycles_per_s:.1f} | {peer.cycles_per_s:.1f} | {ratio:.2f}x |"
        f" {ours.reports_per_s:.0f} | {peer.reports_per_s:.0f} |"
        f" {ours.claim_p50_ms:.0f} / {ours.claim_p99_ms:.0f} |"
        f" {peer.claim_p50_ms:.0f} / {peer.claim_p99_ms:.0f} |"
        f" {ours.report_p50_ms:.0f} / {ours.report_p99_ms:.0f} |"
        f" {peer.report_p50_ms:.0f} / {peer.report_p99_ms:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", default="1,16,64")
    parser.add_argument("--samplers", default="tpe,random")
    parser.add_argument("--prefill", default="0,1000,10000")
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    print(
        "| workers, sampler, pre-filled | hpsearch cycles/s | Optuna cycles/s | ratio |"
        " hpsearch reports/s | Optuna reports/s | claim p50 / p99 ms | ask p50 / p99 ms |"
        " report p50 / p99 ms | Optuna report+should_prune p50 / p99 ms |"
    )
    print("|" + " --- |" * 10, flush=True)
    for sampler in args.samplers.split(","):
        for filled in (int(x) for x in args.prefill.split(",")):
            for workers in (int(x) for x in args.workers.split(",")):
                with tempfile.TemporaryDirectory() as folder:
                    ours = run_hpsearch(workers, sampler, filled, args.seconds, Path(folder))
                    peer = run_optuna(workers, sampler, filled, args.seconds, Path(folder))
                print(row(f"{workers}, {sampler}, {filled:,}", ours, peer), flush=True)


if __name__ == "__main__":
    main()
