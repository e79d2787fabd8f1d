"""The worker's per-trial overhead against a bare `model.fit` of the same model and data,
in the same warm process: build + fit alone, then the same trial through the worker (claim,
per-epoch reports, heartbeats, complete, memory cleanup). Prints medians and ratios.

    python -m bench.worker_overhead [--trials 10] [--epochs 10]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

from bench.controller_process import running_controller
from hpsearch import Client
from search_spaces.spec import TrainingSpec
from workers.datasets import load_dataset
from workers.loop import Worker, WorkerOptions
from workers.model_builder import build_model

PARAMS = {
    "filters": 32,
    "kernel_size": 3,
    "dense_units": 64,
    "learning_rate": 0.002,
    "dropout": 0.2,
    "l2": 1e-5,
}


def bare_fit(epochs: int, batch_size: int) -> tuple[float, float]:
    """(build + fit seconds, fit-only seconds) of one run outside the worker."""
    data = load_dataset("digits")
    training = TrainingSpec(epochs=epochs, batch_size=batch_size)
    started = time.perf_counter()
    model = build_model("cnn", PARAMS, data.input_shape, data.classes, training=training)
    built = time.perf_counter()
    model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
    )
    done = time.perf_counter()
    del model
    keras.backend.clear_session()
    gc.collect()
    return done - started, done - built


def through_worker(client: Client, trials: int) -> list[float]:
    worker = Worker(client, WorkerOptions(worker_id="bench-overhead", max_trials=1, idle_exit=0))
    times = []
    for _ in range(trials):
        worker.finished = 0
        started = time.perf_counter()
        worker.run()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    bare_fit(args.epochs, args.batch_size)  # warm-up: kernels, dataset cache
    with (
        tempfile.TemporaryDirectory() as folder,
        running_controller(Path(folder), f"sqlite:///{folder}/bench.db") as url,
        Client(url) as client,
    ):
        client.create_study(
            {
                "name": "overhead",
                "dataset": "digits",
                "model": "cnn",
                "space": PARAMS,
                "objective": {"metric": "val_accuracy"},
                "pruner": "none",
                "sampler": "random",
                "max_trials": args.trials + 1,
                "max_parallel": 1,
                "training": {"epochs": args.epochs, "batch_size": args.batch_size},
            }
        )
        through_worker(client, 1)  # warm-up of the worker path
        bare = [bare_fit(args.epochs, args.batch_size) for _ in range(args.trials)]
        worker = through_worker(client, args.trials)
    full, fit_only = statistics.median(b[0] for b in bare), statistics.median(b[1] for b in bare)
    trial = statistics.median(worker)
    print(f"bare build+fit median   {full:.3f} s   (fit only {fit_only:.3f} s)")
    print(f"through the worker      {trial:.3f} s")
    ratio = trial / full
    print(f"overhead vs build+fit   {ratio - 1:+.1%}  (ratio {ratio:.3f}, target <= 1.05)")
    print(f"overhead vs fit only    {trial / fit_only - 1:+.1%}  (ratio {trial / fit_only:.3f})")


if __name__ == "__main__":
    main()
