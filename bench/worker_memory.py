"""Worker memory over many trials, through the real `hpsearch worker --cpu` (supervisor and
one slot process): N digits trials, a different model each time. The slot process's resident
memory is sampled twice a second; the figures are its RSS after the first trial (the peer),
its peak over the whole run, and its RSS when the last trial finished. Run once with
`--recycle-after 0` (one long-lived process) and once with the default recycling period.

    python -m bench.worker_memory [--trials 100] [--epochs 2] [--recycle-after 0,10]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.controller_process import ROOT, rss_mib, running_controller
from hpsearch import Client

SPACE = {
    "conv_blocks": {"type": "int", "low": 1, "high": 2},
    "filters": {"type": "int", "low": 8, "high": 32, "step": 8},
    "dense_units": {"type": "int", "low": 16, "high": 64, "log": True},
    "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
}


def slot_rss(supervisor: int) -> float:
    """Resident memory of the supervisor's children (its slot processes), from /proc."""
    total = 0.0
    try:
        pids = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
        for pid in pids:
            total += rss_mib(int(pid))
    except (OSError, StopIteration):
        pass  # a slot that is being recycled
    return total


def one_run(trials: int, epochs: int, recycle_after: int) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory() as folder,
        running_controller(Path(folder), f"sqlite:///{folder}/bench.db") as url,
        Client(url) as client,
    ):
        study = client.create_study(
            {
                "name": "memory",
                "dataset": "digits",
                "model": "cnn",
                "space": SPACE,
                "objective": {"metric": "val_accuracy"},
                "pruner": "none",
                "sampler": "random",
                "max_trials": trials,
                "max_parallel": 1,
                "training": {"epochs": epochs, "batch_size": 128},
            }
        )
        worker = subprocess.Popen(
            [sys.executable, "-m", "hpsearch", "worker", "--controller", url, "--cpu",
             "--name", "mem", "--idle-exit", "5", "--recycle-after", str(recycle_after),
             "--log-level", "warning"],
            env={**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""},
        )  # fmt: skip
        first = peak = last = 0.0
        middle = None
        started = time.monotonic()
        try:
            done = 0
            while done < trials and worker.poll() is None:
                rss = slot_rss(worker.pid)
                peak = max(peak, rss)
                now = client.get_study(study.study_id).finished
                if now >= 1 and not first:
                    first = rss
                if now > done:
                    done, last = now, rss
                    if middle is None and done >= trials // 2:
                        middle = rss
                time.sleep(0.5)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=120)
        return {
            "first": first,
            "middle": middle or 0.0,
            "peak": peak,
            "last": last,
            "seconds": time.monotonic() - started,
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--recycle-after", default="0,10", help="periods to run, 0 = never")
    args = parser.parse_args()
    print(f"{args.trials} digits trials x {args.epochs} epochs, one CPU slot")
    half = args.trials // 2
    print(f"{'recycle after':>13} {'RSS trial 1':>12} {f'trial {half}':>10} "
          f"{f'trial {args.trials}':>10} {'peak':>8} {'end / 1':>8} {'peak / 1':>9}"
          f" {'wall':>6}")  # fmt: skip
    for period in (int(p) for p in args.recycle_after.split(",")):
        r = one_run(args.trials, args.epochs, period)
        label = "never" if period == 0 else str(period)
        print(f"{label:>13} {r['first']:>8.0f} MiB {r['middle']:>6.0f} MiB {r['last']:>6.0f} MiB "
              f"{r['peak']:>4.0f} MiB {r['last'] / r['first']:>8.3f} {r['peak'] / r['first']:>9.3f}"
              f" {r['seconds']:>5.0f}s", flush=True)  # fmt: skip
    print("target: within 10 % of trial 1 (ratio <= 1.10)")


if __name__ == "__main__":
    main()
