"""R1, load: many simulated workers over HTTP on PostgreSQL finish a large study of short
trials; the invariants are checked and printed.

    python -m bench.load_r1 [--workers 256] [--trials 10000] [--fleets 4] [--controllers 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.controller_process import ROOT, running_controller
from bench.reliability import account
from tests.support.databases import fresh_postgres_database


def run(workers: int, trials: int, fleets: int, controllers: int, folder: Path) -> int:
    with (
        fresh_postgres_database() as url,
        running_controller(
            folder,
            url,
            {"HPSEARCH_CLAIM_RATE": "100000", "HPSEARCH_REPORT_RATE": "100000"},
            processes=controllers,
        ) as api,
    ):
        spec = {
            "name": "load",
            "dataset": "digits",
            "model": "cnn",
            "pruner": "none",
            "sampler": "random",
            "objective": {"metric": "val_accuracy"},
            "max_trials": trials,
            "max_parallel": workers,
            "training": {"epochs": 1},
            "space": {"dropout": {"type": "float", "low": 0.0, "high": 0.5}},
        }
        study_id = httpx.post(f"{api}/api/v1/studies", json=spec, timeout=30).json()["study_id"]
        ledger = folder / "ledger.jsonl"
        started = time.perf_counter()
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.simulated_fleet",
                    "--url",
                    api,
                    "--workers",
                    str(workers // fleets),
                    "--prefix",
                    f"f{i}",
                    "--epochs",
                    "1",
                    "--ledger",
                    str(ledger),
                    "--idle-exit",
                    "5",
                ],
                cwd=ROOT,
            )
            for i in range(fleets)
        ]
        for process in processes:
            process.wait()
        elapsed = time.perf_counter() - started - 5  # less the fleets' idle wait at the end
        result = account(url, study_id, ledger)
    print(
        f"R1: {workers} workers, {trials} trials, {controllers} controller processes,"
        f" PostgreSQL: {elapsed:.0f} s, {trials / elapsed:.0f} trials/s"
    )
    for line in result.lines():
        print("  " + line)
    return 0 if result.holds and result.by_state.get("completed", 0) == trials else 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=256)
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--fleets", type=int, default=4)
    parser.add_argument("--controllers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        sys.exit(run(args.workers, args.trials, args.fleets, args.controllers, Path(folder)))


if __name__ == "__main__":
    main()
