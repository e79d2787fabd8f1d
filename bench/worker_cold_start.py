"""Cold start: from `hpsearch worker --cpu` being launched to the controller holding the first
finished epoch of its first trial. The peer, in the same run: a fresh `python` process that
imports Keras, loads digits, builds the same model and fits until its first epoch ends.

    python -m bench.worker_cold_start [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.controller_process import ROOT, running_controller
from bench.worker_overhead import PARAMS
from hpsearch import Client

PEER = """
import keras
from search_spaces.spec import TrainingSpec
from workers.datasets import load_dataset
from workers.model_builder import build_model

params = {params!r}
data = load_dataset("digits")
model = build_model("cnn", params, data.input_shape, data.classes, training=TrainingSpec(epochs=1))


class FirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        print("EPOCH", flush=True)


model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), epochs=1,
          batch_size=64, verbose=0, callbacks=[FirstEpoch()])
"""


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


def peer_seconds() -> float:
    """A bare script's launch → first finished epoch (a line it prints)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", PEER.format(params=PARAMS)],
        cwd=ROOT,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("EPOCH"):
            elapsed = time.perf_counter() - started
            process.wait()
            return elapsed
    raise RuntimeError(f"the peer script exited ({process.wait()}) before its first epoch")


def worker_seconds(client: Client, url: str, run: int) -> float:
    """`hpsearch worker --cpu` launch → the controller has epoch 1 of the worker's trial."""
    study = client.create_study(
        {
            "name": f"cold-{run}",
            "dataset": "digits",
            "model": "cnn",
            "space": PARAMS,
            "objective": {"metric": "val_accuracy"},
            "pruner": "none",
            "sampler": "random",
            "max_trials": 1,
            "training": {"epochs": 2, "batch_size": 64},
        }
    )
    command = [sys.executable, "-m", "hpsearch", "worker", "--cpu", "--controller", url,
               "--max-trials", "1", "--idle-exit", "30", "--log-level", "warning"]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while time.perf_counter() - started < 180:
            exited = process.poll() is not None
            if any(trial.intermediate for trial in client.trials(study)):
                return time.perf_counter() - started
            if exited:
                raise RuntimeError(f"the worker exited ({process.returncode}) before an epoch")
            time.sleep(0.1)
        raise RuntimeError("no epoch reported within 180 s")
    finally:
        process.wait(timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as folder,
        running_controller(Path(folder), f"sqlite:///{folder}/bench.db") as url,
        Client(url) as client,
    ):
        ours = [worker_seconds(client, url, run) for run in range(args.runs)]
        peer = [peer_seconds() for _ in range(args.runs)]
    worker, bare = statistics.median(ours), statistics.median(peer)
    runs = ", ".join(f"{x:.2f}" for x in ours)
    peer_runs = ", ".join(f"{x:.2f}" for x in peer)
    print(f"cold start, `hpsearch worker` launch -> first epoch at the controller: "
          f"median {worker:.2f} s over {args.runs} ({runs})")  # fmt: skip
    print(f"bare script launch -> first epoch ended (same model, data):          "
          f"median {bare:.2f} s ({peer_runs})")  # fmt: skip
    print(f"ratio worker / bare script: {worker / bare:.2f}")


if __name__ == "__main__":
    main()
