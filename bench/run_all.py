"""`make bench`: every benchmark in turn, printing its figures (BENCHMARKS.md records them).

Run it on an idle machine: the benchmarks time real work and share the CPU with nothing.
Takes about two hours on 2 cores (64 Optuna processes need PostgreSQL's max_connections
at 148 or more); `--quick` runs small versions of each in a few minutes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

FULL = [
    ["bench.controller_vs_optuna", "--workers", "1,16,64", "--samplers", "random,tpe",
     "--prefill", "0,10000", "--seconds", "10"],
    ["bench.controller_vs_optuna", "--workers", "1,16", "--samplers", "random",
     "--prefill", "50000", "--seconds", "10"],
    ["bench.controller_vs_optuna", "--workers", "1,16,64", "--samplers", "random,tpe",
     "--prefill", "1000", "--seconds", "10"],
    ["bench.cycle_cpu", "--samplers", "random,tpe", "--prefill", "0,10000,50000",
     "--cycles", "200"],
    ["bench.worker_memory", "--trials", "100", "--epochs", "2", "--recycle-after", "0,10"],
    ["bench.worker_overhead", "--trials", "10", "--epochs", "10"],
    ["bench.worker_cold_start", "--runs", "3"],
    ["bench.controller_memory", "--trials", "10000"],
    ["bench.search_vs_keras_tuner", "--seeds", "0,1,2"],
]  # fmt: skip
QUICK = [
    ["bench.worker_memory", "--trials", "10", "--epochs", "1", "--recycle-after", "0,5"],
    ["bench.worker_overhead", "--trials", "3", "--epochs", "3"],
    ["bench.worker_cold_start", "--runs", "1"],
    ["bench.controller_vs_optuna", "--workers", "4", "--samplers", "random",
     "--prefill", "0,1000", "--seconds", "5"],
    ["bench.controller_memory", "--trials", "1000"],
    ["bench.cycle_cpu", "--samplers", "random", "--prefill", "0,1000", "--cycles", "20"],
    ["bench.search_vs_keras_tuner", "--seeds", "0", "--trials", "3", "--epochs", "2"],
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small versions, a few minutes")
    args = parser.parse_args()
    failed = []
    for command in QUICK if args.quick else FULL:
        print(f"\n$ python -m {' '.join(command)}", flush=True)
        if subprocess.run([sys.executable, "-m", *command], check=False).returncode:
            failed.append(command[0])
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
