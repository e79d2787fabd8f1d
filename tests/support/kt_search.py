"""A KerasTuner search on a ServiceOracle, as a user runs the same script on each machine.

`python -m tests.support.kt_search URL STUDY FOLDER REPORT` searches the tutorial hypermodel
on digits, then writes what this process saw afterwards to REPORT (JSON): the trials it
trained, the best hyperparameters, `results_summary()`'s text, and what `get_best_models()`
gave (a model's first filters, or the error when another process trained the best trial).
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.processes import ROOT, _env

MAX_TRIALS = 4
EPOCHS = 2


def start_search(folder: Path, url: str, study: str, name: str) -> subprocess.Popen[bytes]:
    """One search process; its log is FOLDER/NAME.log, its report FOLDER/NAME.json."""
    log = (folder / f"{name}.log").open("wb")
    report = folder / f"{name}.json"
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.kt_search", url, study, str(folder / name),
         str(report)],
        env=_env({"CUDA_VISIBLE_DEVICES": ""}), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip


def search(url: str, study: str, folder: str) -> dict[str, Any]:
    import keras
    import keras_tuner as kt

    from hpsearch.keras_tuner import ServiceOracle
    from tests.support.fashion_hypermodel import build_model
    from workers.datasets import load_dataset
    from workers.devices import configure_device

    configure_device(cpu_threads=1)
    data = load_dataset("digits")
    oracle = ServiceOracle(
        url, study, max_trials=MAX_TRIALS, dataset="digits", objective="val_accuracy"
    )
    tuner = kt.Tuner(oracle=oracle, hypermodel=build_model, directory=folder, project_name="p")
    tuner.search(
        data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), epochs=EPOCHS,
        batch_size=64, callbacks=[oracle.epoch_reports()], verbose=0,
    )  # fmt: skip
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        tuner.results_summary(1)
    try:
        model = tuner.get_best_models(1)[0]
        conv = next(la for la in model.layers if isinstance(la, keras.layers.Conv2D))
        best_model: Any = {"conv_1_filter": conv.filters}
    except Exception as exc:
        best_model = f"{type(exc).__name__}: {exc}"
    return {
        "trained": [int(t) for t in oracle.start_order],
        "best_values": tuner.get_best_hyperparameters()[0].values,
        "summary": summary.getvalue(),
        "best_model": best_model,
        "worker_id": oracle.worker_id(tuner.tuner_id),
    }


def main(argv: list[str] | None = None) -> int:
    url, study, folder, report = argv if argv is not None else sys.argv[1:]
    Path(report).write_text(json.dumps(search(url, study, folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
