"""Worker memory over many trials: one worker runs N digits trials (a different model each
time); its resident memory is printed at trials 1, N/2 and N. The peer is the same worker's
first trial: the figure is the ratio RSS(N) / RSS(1), target 1.10 at most.

    python -m bench.worker_memory [--trials 100] [--epochs 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench.controller_process import rss_mib, running_controller
from hpsearch import Client
from workers.loop import Worker, WorkerOptions

SPACE = {
    "conv_blocks": {"type": "int", "low": 1, "high": 2},
    "filters": {"type": "int", "low": 8, "high": 32, "step": 8},
    "dense_units": {"type": "int", "low": 16, "high": 64, "log": True},
    "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    checkpoints = sorted({1, args.trials // 2, args.trials})
    with (
        tempfile.TemporaryDirectory() as folder,
        running_controller(Path(folder), f"sqlite:///{folder}/bench.db") as url,
        Client(url) as client,
    ):
        client.create_study(
            {
                "name": "memory",
                "dataset": "digits",
                "model": "cnn",
                "space": SPACE,
                "objective": {"metric": "val_accuracy"},
                "pruner": "none",
                "sampler": "random",
                "max_trials": args.trials,
                "max_parallel": 1,
                "training": {"epochs": args.epochs, "batch_size": 128},
            }
        )
        worker = Worker(client, WorkerOptions(worker_id="bench-memory", max_trials=1, idle_exit=0))
        readings: dict[int, float] = {}
        for trial in range(1, args.trials + 1):
            worker.finished = 0
            worker.run()
            if trial in checkpoints:
                readings[trial] = rss_mib()
                print(f"trial {trial:4d}: worker RSS {readings[trial]:.0f} MiB", flush=True)
    first, last = readings[checkpoints[0]], readings[checkpoints[-1]]
    print(f"RSS ratio trial {args.trials} / trial 1: {last / first:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
