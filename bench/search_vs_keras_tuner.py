"""Search efficiency on digits: hpsearch (TPE + Hyperband, two worker slots) against KerasTuner
RandomSearch and KerasTuner Hyperband, on the DESIGN.md space and the same `cnn` model.

Per seed, three searches on one machine, one after the other:
- KerasTuner RandomSearch (`--trials` trials) and KerasTuner Hyperband (max_epochs `--epochs`,
  factor 3, one iteration), each `tuner.search(...)` in this process: one trial at a time,
  KerasTuner's default, with TensorFlow's threads on every core.
- hpsearch: a controller subprocess (SQLite, auth off) and two worker slot processes
  (`--cpu-threads 1` each); the canonical spec, TPE seeded, Hyperband pruning, no retrain,
  with the compute RandomSearch used in the same seed (its `--trials` x `--epochs` epochs):
  the study is stopped once its trials have trained that many epochs (Hyperband stops most
  trials early, so that is more trials than RandomSearch's). The slots are started and have
  contacted the controller before the clock starts, so TensorFlow's import is not counted
  (the cold figure adds it back).

A trial counts when it finishes, with the best val_accuracy it reached (over its epochs).
The target X of a seed is the best val_accuracy RandomSearch reached; each system's figure
is the time from the start of its search to the end of its first trial with a value >= X.
Finally each system's chosen hyperparameters are retrained the same way (train+val,
`--epochs` epochs) from `--retrain-seeds` fixed seeds, each model scored once on the held-out
test split; the figure is their mean (one retraining's score moves by a test image or two
with its seed alone, as the retrain job's `seeds: K` reports), and the first seed's score
alone is printed too.

    python -m bench.search_vs_keras_tuner [--seeds 0,1,2] [--trials 20] [--epochs 10]
        [--retrain-seeds 3]
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import keras_tuner
import numpy as np
import yaml

from bench.controller_process import ROOT, running_controller
from hpsearch import Client
from hpsearch.objects import Study, Trial
from search_spaces.spec import TrainingSpec
from workers.datasets import Dataset, load_dataset
from workers.model_builder import build_model

CANONICAL = ROOT / "search_spaces/examples/digits_cnn.yaml"
PARAM_NAMES = ("filters", "kernel_size", "dense_units", "learning_rate", "dropout", "l2")
BATCH_SIZE = 64
SLOTS = 2
RETRAIN_SEED = 1234
TOLERANCE = 1e-6  # far below one validation image (1/270)
RANDOM, HYPERBAND, HPSEARCH = "KerasTuner RandomSearch", "KerasTuner Hyperband", "hpsearch"
SYSTEMS = (RANDOM, HYPERBAND, HPSEARCH)
WARM_UP_PARAMS = {"filters": 32, "kernel_size": 3, "dense_units": 64, "learning_rate": 0.002,
                  "dropout": 0.2, "l2": 1e-5}  # fmt: skip


@dataclass(frozen=True, order=True)
class Finish:
    seconds: float  # from the start of the search to the end of the trial
    value: float  # the best val_accuracy the trial reached


@dataclass(frozen=True)
class SearchRun:
    system: str
    finishes: tuple[Finish, ...]
    wall_s: float
    trials: int
    epochs: int
    params: dict[str, Any]  # the hyperparameters the system itself calls best
    reference_test: float | None = None  # KerasTuner's own best model on the test split
    startup_s: float = 0.0  # hpsearch: worker start-up (TensorFlow import) before the clock
    first_claim_s: float = 0.0  # hpsearch: the first trial's start, after the clock started

    @property
    def best(self) -> float:
        return max((f.value for f in self.finishes), default=float("nan"))

    def time_to(self, target: float) -> float | None:
        reached = [f.seconds for f in self.finishes if f.value >= target - TOLERANCE]
        return min(reached) if reached else None


@dataclass(frozen=True)
class SeedResult:
    seed: int
    target: float
    runs: dict[str, SearchRun]
    scores: dict[str, tuple[float, ...]]  # test accuracy per retraining seed, the first first

    def test(self, system: str, first: bool = False) -> float:
        """The system's test accuracy: the mean over the retrainings, or the first alone."""
        scores = self.scores[system]
        return scores[0] if first else statistics.fmean(scores)


# -- KerasTuner ------------------------------------------------------------------------------


def hypermodel(epochs: int) -> Callable[[Any], keras.Model]:
    """The DESIGN.md space in KerasTuner's words, building the same `cnn` model as a worker."""
    training = TrainingSpec(epochs=epochs, batch_size=BATCH_SIZE)

    def build(hp: Any) -> keras.Model:
        params = {
            "filters": hp.Int("filters", 16, 128, step=16),
            "kernel_size": hp.Choice("kernel_size", [3, 5]),
            "dense_units": hp.Int("dense_units", 32, 256, sampling="log"),
            "learning_rate": hp.Float("learning_rate", 1e-4, 1e-2, sampling="log"),
            "dropout": hp.Float("dropout", 0.0, 0.5),
            "l2": hp.Float("l2", 1e-6, 1e-3, sampling="log"),
        }
        return build_model("cnn", params, (8, 8, 1), 10, training=training)

    return build


def timed(base: type[Any], epochs: int) -> type[Any]:
    """`base` recording, at the end of each trial, the seconds since `bench_started` and the
    trial's score (its best val_accuracy), after KerasTuner's own end-of-trial work."""

    class Timed(base):  # type: ignore[misc]
        bench_started = 0.0
        bench_finishes: list[Finish]
        bench_epochs = 0

        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)
            seconds = time.perf_counter() - self.bench_started
            values = trial.hyperparameters.values
            self.bench_epochs += values.get("tuner/epochs", epochs) - values.get(
                "tuner/initial_epoch", 0
            )
            score = self.oracle.get_trial(trial.trial_id).score
            if score is not None and math.isfinite(score):
                self.bench_finishes.append(Finish(seconds, float(score)))

    return Timed


def run_keras_tuner(system: str, seed: int, data: Dataset, trials: int, epochs: int) -> SearchRun:
    keras.utils.set_random_seed(seed)
    with tempfile.TemporaryDirectory(prefix="kt-bench-") as folder:
        common = {"objective": "val_accuracy", "seed": seed, "overwrite": True,
                  "directory": folder, "project_name": f"seed{seed}"}  # fmt: skip
        if system == RANDOM:
            tuner = timed(keras_tuner.RandomSearch, epochs)(
                hypermodel(epochs), max_trials=trials, executions_per_trial=1, **common
            )
        else:
            tuner = timed(keras_tuner.Hyperband, epochs)(
                hypermodel(epochs), max_epochs=epochs, factor=3, hyperband_iterations=1, **common
            )
        tuner.bench_finishes = []
        tuner.bench_started = started = time.perf_counter()
        tuner.search(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val),
                     epochs=epochs, batch_size=BATCH_SIZE, verbose=0)  # fmt: skip
        wall = time.perf_counter() - started
        best = tuner.get_best_hyperparameters(1)[0]
        with warnings.catch_warnings():  # the checkpoint's optimizer state is not needed
            warnings.simplefilter("ignore", UserWarning)
            reference = test_accuracy(tuner.get_best_models(1)[0], data)
        keras.backend.clear_session()
    return SearchRun(
        system=system,
        finishes=tuple(tuner.bench_finishes),
        wall_s=wall,
        trials=len(tuner.oracle.trials),
        epochs=tuner.bench_epochs,
        params={name: best.get(name) for name in PARAM_NAMES},
        reference_test=reference,
    )


# -- hpsearch --------------------------------------------------------------------------------


def canonical_spec(seed: int, trials: int, epochs: int) -> dict[str, Any]:
    """digits_cnn.yaml with the trial cap, the sampler's seed and the epochs set; no retrain."""
    spec: dict[str, Any] = yaml.safe_load(CANONICAL.read_text())
    spec.pop("retrain", None)
    spec.update(name=f"bench-seed{seed}", max_trials=trials, sampler={"name": "tpe", "seed": seed},
                pruner="hyperband", seed=seed)  # fmt: skip
    spec["training"] = {**spec["training"], "epochs": epochs}
    return spec


def start_slot(folder: Path, url: str, name: str) -> subprocess.Popen[bytes]:
    """One worker slot process on the CPU, one TensorFlow thread (as `hpsearch worker` runs)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
           "CUDA_VISIBLE_DEVICES": ""}  # fmt: skip
    env.pop("HPSEARCH_TOKEN", None)
    command = [sys.executable, "-m", "workers.slot", "--controller", url, "--name", name,
               "--cpu-threads", "1", "--kinds", "trial", "--idle-exit", "900"]  # fmt: skip
    with (folder / f"{name}.log").open("wb") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder)


def check_slots(slots: Sequence[subprocess.Popen[bytes]], folder: Path) -> None:
    for index, slot in enumerate(slots):
        if slot.poll() is not None:
            tail = (folder / f"slot-{index}.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"worker slot-{index} exited with {slot.returncode}:\n{tail}")


def wait_for_slots(
    client: Client, slots: Sequence[subprocess.Popen[bytes]], folder: Path, timeout: float = 180
) -> None:
    """Until every slot has claimed once (it has imported TensorFlow and is polling)."""
    names = {f"slot-{index}" for index in range(len(slots))}
    deadline = time.monotonic() + timeout
    while not names <= {worker["worker_id"] for worker in client.workers()}:
        check_slots(slots, folder)
        if time.monotonic() > deadline:
            raise RuntimeError(f"the worker slots did not contact the controller in {timeout} s")
        time.sleep(0.1)


def stop_slots(slots: Sequence[subprocess.Popen[bytes]]) -> None:
    for slot in slots:
        if slot.poll() is None:
            slot.send_signal(signal.SIGTERM)
    for slot in slots:
        try:
            slot.wait(timeout=60)
        except subprocess.TimeoutExpired:
            slot.kill()
            slot.wait()


def _after_running_trials_end(client: Client, study_id: int) -> list[Trial]:
    """The trials, once those running when the study stopped have ended (pruned at their
    next report)."""
    deadline = time.monotonic() + 600
    while True:
        history = client.trials(study_id)
        if not any(t.state == "running" for t in history) or time.monotonic() > deadline:
            return history
        time.sleep(0.25)


def observed(trial: Trial) -> float | None:
    """The best val_accuracy a finished trial reached: its epochs' values, else its value."""
    values = [e.value for e in trial.intermediate if e.value is not None]
    if not values and trial.value is not None:
        values = [trial.value]
    finite = [v for v in values if math.isfinite(v)]
    return max(finite) if finite else None


def run_hpsearch(seed: int, budget: int, epochs: int) -> SearchRun:
    """The canonical study until its trials have trained `budget` epochs in all."""
    with (
        tempfile.TemporaryDirectory(prefix="hps-bench-") as name,
        running_controller(Path(name), f"sqlite:///{name}/bench.db") as url,
        Client(url) as client,
    ):
        folder, slots = Path(name), []
        try:
            spawned = time.perf_counter()
            slots = [start_slot(folder, url, f"slot-{index}") for index in range(SLOTS)]
            wait_for_slots(client, slots, folder)
            startup = time.perf_counter() - spawned
            started = time.time()  # the controller stamps trials with the same (system) clock
            study = client.create_study(canonical_spec(seed, budget, epochs))

            def on_update(current: Study) -> None:
                check_slots(slots, folder)
                spent = sum(t.epochs for t in client.trials(current.study_id))
                if current.state == "running" and spent >= budget:
                    client.stop(current.study_id)

            client.wait(study.study_id, poll=0.25, timeout=3600, on_update=on_update)
            history = _after_running_trials_end(client, study.study_id)
            done = client.get_study(study.study_id)
        finally:
            stop_slots(slots)
    ended = [t.finished_at for t in history if t.finished_at is not None]
    finishes = sorted(
        Finish(t.finished_at - started, value)
        for t in history
        if t.finished_at is not None and t.state in ("completed", "pruned")
        and (value := observed(t)) is not None
    )  # fmt: skip
    if done.best is None:
        raise RuntimeError(f"hpsearch seed {seed}: no completed trial")
    return SearchRun(
        system=HPSEARCH,
        finishes=tuple(finishes),
        wall_s=(done.ended_at or max(ended)) - started,
        trials=len(history),
        epochs=sum(t.epochs for t in history),
        params={name: done.best.params[name] for name in PARAM_NAMES},
        startup_s=startup,
        first_claim_s=min(t.started_at for t in history if t.started_at is not None) - started,
    )


# -- the held-out score ----------------------------------------------------------------------


def test_accuracy(model: keras.Model, data: Dataset) -> float:
    _, accuracy = model.evaluate(data.x_test, data.y_test, batch_size=256, verbose=0)
    return float(accuracy)


def retrained_test_accuracy(
    params: Mapping[str, Any], data: Dataset, epochs: int, seed: int = RETRAIN_SEED
) -> float:
    """The one retraining for every system: the params' `cnn` model, fit on train+val for
    `epochs` epochs from `seed`, scored once on the test split."""
    keras.utils.set_random_seed(seed)
    training = TrainingSpec(epochs=epochs, batch_size=BATCH_SIZE)
    model = build_model("cnn", params, data.input_shape, data.classes, training=training)
    x = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    model.fit(x, y, epochs=epochs, batch_size=BATCH_SIZE, verbose=0)
    accuracy = test_accuracy(model, data)
    keras.backend.clear_session()
    return accuracy


# -- one seed, and the report ----------------------------------------------------------------


def run_seed(seed: int, data: Dataset, trials: int, epochs: int, retrain_seeds: int) -> SeedResult:
    runs = {
        RANDOM: run_keras_tuner(RANDOM, seed, data, trials, epochs),
        HYPERBAND: run_keras_tuner(HYPERBAND, seed, data, trials, epochs),
    }
    runs[HPSEARCH] = run_hpsearch(seed, runs[RANDOM].epochs, epochs)
    seeds = [RETRAIN_SEED + 7919 * index for index in range(retrain_seeds)]
    scores = {
        system: tuple(retrained_test_accuracy(run.params, data, epochs, s) for s in seeds)
        for system, run in runs.items()
    }
    return SeedResult(seed, runs[RANDOM].best, runs, scores)


def seconds(value: float | None, unit: str = " s") -> str:
    return "not reached" if value is None or math.isinf(value) else f"{value:.1f}{unit}"


def print_seed(result: SeedResult) -> None:
    print(f"\nseed {result.seed}: X = RandomSearch's best val_accuracy = {result.target:.4f}")
    reference = result.runs[RANDOM].time_to(result.target)
    for system, run in result.runs.items():
        reached = run.time_to(result.target)
        ratio = f"{reached / reference:.2f}" if reached is not None and reference else "-"
        extra = ""
        if run.reference_test is not None:
            extra = f", its own best model's test accuracy {run.reference_test:.4f}"
        if run.startup_s:
            cold = seconds(None if reached is None else reached + run.startup_s)
            extra = (f", first trial claimed at {run.first_claim_s:.1f} s, worker start-up "
                     f"{run.startup_s:.1f} s before the clock (cold time to X {cold})")  # fmt: skip
        test = result.test(system)
        each = " ".join(f"{score:.4f}" for score in result.scores[system])
        print(f"  {system:24} time to X {seconds(reached):>11} (ratio {ratio}), "
              f"wall {run.wall_s:.1f} s, {run.trials} trials / {run.epochs} epochs, "
              f"best val {run.best:.4f}, test (retrained) {test:.4f} [{each}]{extra}")  # fmt: skip
        improvements = []
        best = -math.inf
        for finish in run.finishes:
            if finish.value > best:
                best = finish.value
                improvements.append(f"{finish.seconds:.1f}s:{finish.value:.4f}")
        print(f"    best so far at trial ends: {' '.join(improvements)}")
        print(f"    chosen params: {run.params}")


def median_time(results: Sequence[SeedResult], system: str) -> float:
    times = [r.runs[system].time_to(r.target) for r in results]
    return statistics.median(math.inf if t is None else t for t in times)


def print_table(results: Sequence[SeedResult]) -> None:
    print(f"\nmedians over {len(results)} seed(s); 'not reached' counts as infinitely slow\n")
    print("| system | median time to RandomSearch's best (s) | ratio to KerasTuner RandomSearch "
          "| median search wall time (s) | median best val_accuracy "
          "| median test accuracy (retrained, mean over seeds) "
          "| median test accuracy (retrained, first seed) |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    reference = median_time(results, RANDOM)
    for system in SYSTEMS:
        time_to = median_time(results, system)
        ratio = "-" if math.isinf(time_to) or not reference else f"{time_to / reference:.2f}"
        wall = statistics.median(r.runs[system].wall_s for r in results)
        best = statistics.median(r.runs[system].best for r in results)
        test = statistics.median(r.test(system) for r in results)
        first = statistics.median(r.test(system, first=True) for r in results)
        cells = (system, seconds(time_to, ""), ratio, f"{wall:.1f}", f"{best:.4f}", f"{test:.4f}",
                 f"{first:.4f}")  # fmt: skip
        print(f"| {' | '.join(cells)} |")
    print_verdict(results)


def print_verdict(results: Sequence[SeedResult]) -> None:
    ours = median_time(results, HPSEARCH)
    startup = statistics.median(r.runs[HPSEARCH].startup_s for r in results)
    print(f"\nhpsearch cold (worker start-up added, median {startup:.1f} s): "
          f"time to X {seconds(ours + startup)}")  # fmt: skip
    for system in (RANDOM, HYPERBAND):
        theirs = median_time(results, system)
        ratio = _ratio(ours, theirs)
        verdict = "met" if ratio <= 1 / 3 else "not met"
        print(f"time to X: hpsearch / {system} = {ratio:.2f} (target <= 0.33): {verdict}")
    for system in (RANDOM, HYPERBAND):
        kt = [r.runs[system].reference_test for r in results]
        own = statistics.median(t for t in kt if t is not None)
        for label, first in (("mean over seeds", False), ("first seed", True)):
            test = statistics.median(r.test(HPSEARCH, first) for r in results)
            theirs = statistics.median(r.test(system, first) for r in results)
            verdict = "met" if test >= theirs else "not met"
            print(f"test accuracy (retrained, {label}): hpsearch {test:.4f} vs {system} "
                  f"{theirs:.4f} (its own best model {own:.4f}) (target >=): "
                  f"{verdict}")  # fmt: skip


def _ratio(ours: float, theirs: float) -> float:
    """Our median time over theirs: 0 where only we reached X, NaN where neither did."""
    if math.isinf(theirs):
        return math.nan if math.isinf(ours) else 0.0
    return ours / theirs if theirs else math.nan


def machine_line() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((x.split(":", 1)[1].strip() for x in cpuinfo.splitlines()
                  if x.startswith("model name")), platform.processor() or "unknown")  # fmt: skip
    versions = ", ".join(f"{p} {_version(p)}" for p in ("tensorflow-cpu", "tensorflow", "keras",
                         "keras-tuner", "optuna") if _version(p))  # fmt: skip
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"machine: nproc {os.cpu_count()} (usable {len(os.sched_getaffinity(0))}), "
            f"CPU {model}, load average {load} at start; "
            f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; "
            f"Python {platform.python_version()}, {versions}")  # fmt: skip


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--retrain-seeds", type=int, default=3)
    args = parser.parse_args()
    if args.retrain_seeds < 1:
        parser.error("--retrain-seeds must be at least 1")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    print(machine_line())
    print(f"digits, the DESIGN.md space on the `cnn` template, {args.trials} trials, "
          f"{args.epochs} epochs, batch {BATCH_SIZE}, seeds {seeds}")  # fmt: skip
    print(__doc__.split("\n\n")[1].strip())
    print(__doc__.split("\n\n")[2].strip())
    data = load_dataset("digits")
    print(f"split: {len(data.y_train)} train, {len(data.y_val)} val, {len(data.y_test)} test")
    retrained_test_accuracy(WARM_UP_PARAMS, data, 1)  # this process's TensorFlow warm-up
    results = []
    for seed in seeds:
        results.append(run_seed(seed, data, args.trials, args.epochs, args.retrain_seeds))
        print_seed(results[-1])
    print_table(results)


if __name__ == "__main__":
    main()
