"""The peer of the controller benchmark: plain Optuna, a process doing ask → report x5 (with
should_prune) → tell against RDBStorage on the same PostgreSQL, for a fixed time.

    python -m bench.optuna_peer --url URL --study NAME --sampler tpe --seconds 20 --stats out.json
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import optuna

from bench.prefill import EPOCHS
from search_spaces import load_spec
from search_spaces.space import ranges
from service.optuna_bridge import suggest_params

optuna.logging.set_verbosity(optuna.logging.WARNING)
CANONICAL = Path(__file__).resolve().parents[1] / "search_spaces/examples/digits_cnn.yaml"


def sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":  # as the controller configures it
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
    return optuna.samplers.RandomSampler(seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--study", required=True)
    parser.add_argument("--sampler", default="tpe")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warm", action="store_true", help="--seconds after a first cycle")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stats", type=Path, required=True)
    args = parser.parse_args()
    space = load_spec(CANONICAL).space
    assert ranges(space)
    # At most two connections per process (Optuna nests a session at times).
    storage = optuna.storages.RDBStorage(
        args.url, engine_kwargs={"pool_pre_ping": True, "pool_size": 2, "max_overflow": 0}
    )
    study = optuna.load_study(
        study_name=args.study,
        storage=storage,
        sampler=sampler(args.sampler, args.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1),
    )
    asks: list[tuple[float, float]] = []
    report_times: list[tuple[float, float]] = []
    ends: list[float] = []
    reports, cycles = 0, 0
    started, wall = time.perf_counter(), time.time()
    deadline = started + args.seconds
    while time.perf_counter() < deadline:
        at, began = time.time(), time.perf_counter()
        trial = study.ask()
        suggest_params(trial, space)
        curve = random.Random(trial.number)
        asks.append((at, time.perf_counter() - began))
        value, state = 0.0, optuna.trial.TrialState.COMPLETE
        for step in range(1, EPOCHS + 1):
            value = 0.5 + 0.4 * curve.random() * step / EPOCHS
            at, began = time.time(), time.perf_counter()
            trial.report(value, step)
            prune = trial.should_prune()
            report_times.append((at, time.perf_counter() - began))
            reports += 1
            if prune:
                state = optuna.trial.TrialState.PRUNED
                break
        # As `study.optimize` does on TrialPruned: a pruned trial is told PRUNED (its value is
        # the last intermediate one), so the median pruner compares against completed only.
        study.tell(trial, None if state == optuna.trial.TrialState.PRUNED else value, state=state)
        cycles += 1
        ends.append(time.time())
        if args.warm and cycles == 1:
            deadline = time.perf_counter() + args.seconds
    stats = {
        "cycles": cycles,
        "reports": reports,
        "started": wall,
        "ends": ends,
        "seconds": time.perf_counter() - started,
        "latencies": {"ask": asks, "report": report_times},
    }
    args.stats.write_text(json.dumps(stats))


if __name__ == "__main__":
    main()
