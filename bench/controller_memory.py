"""Controller memory serving a 10,000-trial study, against plain Optuna holding the same study.

The controller (one process, PostgreSQL) serves the leaderboard, a page of trials, the
dashboard's study page and claim → report → complete cycles (which load the study into
Optuna's cache) for a study pre-filled with N trials; its RSS is read from /proc. The peer is
one plain Optuna process that loads the same study, reads all trials and asks once (TPE).

    python -m bench.controller_memory [--trials 10000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import optuna
from sqlalchemy import create_engine, select

from bench.controller_process import ROOT, rss_mib, running_controller
from bench.controller_vs_optuna import CANONICAL, spec_dict
from bench.prefill import prefill
from search_spaces import load_spec
from service.tables import StudyRow
from tests.support.databases import fresh_postgres_database

PEER = """
import resource, sys, optuna
from bench.optuna_peer import sampler
from search_spaces import load_spec
from service.optuna_bridge import suggest_params
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.load_study(study_name="peer", storage=sys.argv[1], sampler=sampler("tpe", 0))
trials = study.get_trials(deepcopy=False)
trial = study.ask()
suggest_params(trial, load_spec(sys.argv[2]).space)
status = open("/proc/self/status").read().splitlines()
print(len(trials), next(l for l in status if l.startswith("VmRSS")).split()[1])
"""


def controller_rss(url: str, count: int, folder: Path) -> tuple[float, float]:
    """(RSS after start, RSS after serving) of the controller process, in MiB."""
    with running_controller(folder, url, {"HPSEARCH_CLAIM_RATE": "100000"}) as api:
        port = api.rsplit(":", 1)[1]
        found = subprocess.check_output(["pgrep", "-f", "--", f"serve --port {port} "])
        pid = int(found.split()[0])
        study_id = httpx.post(f"{api}/api/v1/studies", json=spec_dict("tpe", 4), timeout=60).json()[
            "study_id"
        ]
        engine = create_engine(url)
        with engine.connect() as connection:
            optuna_id = connection.execute(select(StudyRow.optuna_study_id)).scalar_one()
        prefill(engine, optuna_id, load_spec(CANONICAL), count, study_id=study_id)
        engine.dispose()
        started = rss_mib(pid)
        with httpx.Client(base_url=api, timeout=120) as http:
            http.get(f"/api/v1/studies/{study_id}/leaderboard", params={"limit": 100})
            http.get(f"/api/v1/studies/{study_id}/trials", params={"limit": 1000})
            http.get(f"/studies/{study_id}")
            for i in range(5):
                work = http.post("/api/v1/work/claim", json={"worker_id": f"m{i}"}).json()
                body = {"worker_id": f"m{i}", "epoch": 1, "metrics": {"val_accuracy": 0.5}}
                http.post(f"/api/v1/work/{work['work_id']}/report", json=body)
                done = {
                    "worker_id": f"m{i}",
                    "status": "completed",
                    "metrics": {"val_accuracy": 0.5},
                }
                http.post(f"/api/v1/work/{work['work_id']}/complete", json=done)
        return started, rss_mib(pid)


def peer_rss(url: str, count: int) -> float:
    study = optuna.create_study(study_name="peer", storage=url, direction="maximize")
    engine = create_engine(url)
    prefill(engine, study._study_id, load_spec(CANONICAL), count)
    engine.dispose()
    out = subprocess.check_output([sys.executable, "-c", PEER, url, str(CANONICAL)], cwd=ROOT)
    loaded, rss_kib = out.decode().split()
    assert int(loaded) == count
    return int(rss_kib) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, fresh_postgres_database() as url:
        started, served = controller_rss(url, args.trials, Path(folder))
    with fresh_postgres_database() as url:
        peer = peer_rss(url, args.trials)
    print(
        f"controller RSS with a {args.trials:,}-trial study: {started:.0f} MiB at start,"
        f" {served:.0f} MiB after serving it"
    )
    print(f"plain Optuna process holding the same study: {peer:.0f} MiB")
    print(f"ratio controller / Optuna process: {served / peer:.2f}")


if __name__ == "__main__":
    main()
