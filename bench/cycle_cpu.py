"""The cost of one cycle inside the controller, against plain Optuna, one thread, no HTTP.

hpsearch: the controller's own functions (`claim_work`, `report_epoch` x5, `complete_work`)
called in this process on PostgreSQL, as a request's thread would call them. Peer: plain
Optuna on `RDBStorage` on the same PostgreSQL, `study.ask()` → (`trial.report` +
`trial.should_prune`) x5 → `study.tell`. Both studies pre-filled with P finished trials,
the same sampler, the median pruner and the curves of `bench.controller_vs_optuna`.

Prints, per cycle: CPU of this thread (the Python side: SQLAlchemy, the driver, Optuna,
ours) and wall time (CPU plus waiting for PostgreSQL), for each kind of call, and the
ratio Optuna / hpsearch. Nothing else runs: the figures do not depend on core contention.

    python -m bench.cycle_cpu [--samplers random,tpe] [--prefill 0,10000] [--cycles 100]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import optuna

from bench.controller_vs_optuna import CANONICAL, spec_dict
from bench.optuna_peer import sampler as peer_sampler
from bench.prefill import EPOCHS, prefill
from search_spaces import StudySpec, load_spec
from service import Settings
from service.app import build_context
from service.auth import LOCAL_ADMIN
from service.claims import claim_work
from service.completion import complete_work
from service.optuna_bridge import suggest_params
from service.progress import report_epoch
from service.schemas.work import ClaimRequest, CompleteRequest, ReportRequest
from service.studies import create_study
from tests.support.databases import fresh_postgres_database

optuna.logging.set_verbosity(optuna.logging.WARNING)
T = TypeVar("T")
WARM = 10  # cycles before the measured ones (caches loaded, statements prepared)


class Meter:
    """CPU (this thread) and wall seconds by kind of call, over the measured cycles."""

    def __init__(self) -> None:
        self.cpu: Counter[str] = Counter()
        self.wall: Counter[str] = Counter()
        self.on = False

    def time(self, kind: str, call: Callable[..., T], *args: Any) -> T:
        cpu, wall = time.thread_time(), time.perf_counter()
        result = call(*args)
        if self.on:
            self.cpu[kind] += time.thread_time() - cpu
            self.wall[kind] += time.perf_counter() - wall
        return result


def _value(number: int, epoch: int) -> float:
    return 0.5 + 0.4 * random.Random(number * 1000 + epoch).random() * epoch / EPOCHS


def run_hpsearch(url: str, sampler: str, filled: int, cycles: int) -> Meter:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            database_url=url, auth="off", artifact_dir=Path(folder), reaper_interval=3600
        )
        ctx = build_context(settings)
        spec = StudySpec.model_validate(spec_dict(sampler, 4))
        study = create_study(ctx, LOCAL_ADMIN, spec)
        prefill(ctx.engine, study.optuna_study_id, load_spec(CANONICAL), filled, study.study_id)
        meter = Meter()
        for cycle in range(WARM + cycles):
            meter.on = cycle >= WARM
            work = meter.time("claim", claim_work, ctx, ClaimRequest(worker_id="w"), None)
            assert work is not None
            state = "completed"
            for epoch in range(1, EPOCHS + 1):
                metrics = {"val_accuracy": _value(work.trial_number, epoch)}
                report = ReportRequest(worker_id="w", epoch=epoch, metrics=metrics)
                if meter.time("report", report_epoch, ctx, work.work_id, report).prune:
                    state = "pruned"
                    break
            done = CompleteRequest(worker_id="w", status=state, metrics=metrics)
            meter.time("complete", complete_work, ctx, work.work_id, done)
        ctx.engine.dispose()
        ctx.optuna.storage.engine.dispose()
    return meter


def run_optuna(url: str, sampler: str, filled: int, cycles: int) -> Meter:
    storage = optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    study = optuna.create_study(
        study_name="bench",
        storage=storage,
        direction="maximize",
        sampler=peer_sampler(sampler, 0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1),
    )
    space = load_spec(CANONICAL).space
    prefill(storage.engine, study._study_id, load_spec(CANONICAL), filled)
    meter = Meter()
    for cycle in range(WARM + cycles):
        meter.on = cycle >= WARM
        trial = meter.time("claim", _ask, study, space)
        state, value = optuna.trial.TrialState.COMPLETE, 0.0
        for epoch in range(1, EPOCHS + 1):
            value = _value(trial.number, epoch)
            if meter.time("report", _report, trial, value, epoch):
                state = optuna.trial.TrialState.PRUNED
                break
        told = None if state == optuna.trial.TrialState.PRUNED else value
        meter.time("complete", study.tell, trial, told, state)
    storage.engine.dispose()
    return meter


def _ask(study: optuna.Study, space: Any) -> optuna.Trial:
    trial = study.ask()
    suggest_params(trial, space)
    return trial


def _report(trial: optuna.Trial, value: float, step: int) -> bool:
    trial.report(value, step)
    return trial.should_prune()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samplers", default="random,tpe")
    parser.add_argument("--prefill", default="0,10000")
    parser.add_argument("--cycles", type=int, default=100)
    args = parser.parse_args()
    print(
        "| sampler, pre-filled | hpsearch CPU ms/cycle (claim / report / complete) |"
        " Optuna CPU ms/cycle (ask / report+should_prune / tell) | CPU ratio |"
        " hpsearch wall ms/cycle | Optuna wall ms/cycle | wall ratio |\n" + "|" + " --- |" * 7
    )
    for sampler in args.samplers.split(","):
        for filled in (int(x) for x in args.prefill.split(",")):
            with fresh_postgres_database() as url:
                ours = run_hpsearch(url, sampler, filled, args.cycles)
            with fresh_postgres_database() as url:
                peer = run_optuna(url, sampler, filled, args.cycles)
            print(_row(f"{sampler}, {filled:,}", ours, peer, args.cycles), flush=True)


def _row(label: str, ours: Meter, peer: Meter, cycles: int) -> str:
    def per_cycle(meter: Meter, counter: Counter[str]) -> tuple[float, str]:
        parts = [1000 * counter[k] / cycles for k in ("claim", "report", "complete")]
        return sum(parts), " / ".join(f"{p:.1f}" for p in parts)

    (our_cpu, our_parts), (peer_cpu, peer_parts) = (
        per_cycle(ours, ours.cpu),
        per_cycle(peer, peer.cpu),
    )
    our_wall, _ = per_cycle(ours, ours.wall)
    peer_wall, _ = per_cycle(peer, peer.wall)
    return (
        f"| {label} | {our_cpu:.1f} ({our_parts}) | {peer_cpu:.1f} ({peer_parts}) |"
        f" {peer_cpu / our_cpu:.2f}x | {our_wall:.1f} | {peer_wall:.1f} |"
        f" {peer_wall / our_wall:.2f}x |"
    )


if __name__ == "__main__":
    main()
