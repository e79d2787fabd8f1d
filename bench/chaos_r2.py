"""R2, chaos: during a study, SIGKILL simulated workers at random, SIGKILL the controller
and restart it, restart PostgreSQL; the study must complete with every trial accounted for
and no manual step.

    python -m bench.chaos_r2 [--trials 200] [--fleets 4] [--workers-per-fleet 4]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.controller_process import ROOT, free_port
from bench.reliability import Accounting, account
from tests.support.databases import fresh_postgres_database

CHAOS_SETTINGS = {
    "HPSEARCH_AUTH": "off",
    "HPSEARCH_LEASE_SECONDS": "4",
    "HPSEARCH_REAPER_INTERVAL": "1",
    "HPSEARCH_RETRY_BUDGET": "50",
}


@dataclass
class Chaos:
    folder: Path
    database_url: str
    port: int = field(default_factory=free_port)
    controller: subprocess.Popen[bytes] | None = None
    fleets: list[subprocess.Popen[bytes]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    spawned: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_controller(self) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            **CHAOS_SETTINGS,
            "HPSEARCH_ARTIFACT_DIR": str(self.folder / "artifacts"),
        }
        log = (self.folder / "controller.log").open("ab")
        self.controller = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hpsearch",
                "serve",
                "--port",
                str(self.port),
                "--database-url",
                self.database_url,
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the controller did not come back")

    def start_fleet(self, workers: int) -> None:
        self.spawned += 1
        self.fleets.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.simulated_fleet",
                    "--url",
                    self.url,
                    "--workers",
                    str(workers),
                    "--prefix",
                    f"fleet{self.spawned}",
                    "--epochs",
                    "3",
                    "--epoch-seconds",
                    "0.3",
                    "--idle-exit",
                    "8",
                    "--ledger",
                    str(self.folder / "ledger.jsonl"),
                ],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
            )
        )

    def kill_a_fleet(self, workers: int) -> None:
        alive = [f for f in self.fleets if f.poll() is None]
        if alive:
            victim = random.choice(alive)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            self.events.append(f"SIGKILL fleet pid {victim.pid}")
            self.start_fleet(workers)

    def kill_controller(self) -> None:
        assert self.controller is not None
        self.controller.send_signal(signal.SIGKILL)
        self.controller.wait()
        self.events.append("SIGKILL controller")
        time.sleep(1)
        self.start_controller()
        self.events.append("controller restarted")

    def restart_postgres(self) -> None:
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
            check=True,
            capture_output=True,
        )
        self.events.append(f"PostgreSQL {version} restarted")

    def stop(self) -> None:
        for process in [*self.fleets, self.controller]:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)


def progress(url: str, study_id: int) -> tuple[str, float]:
    """The study's state and the share of its budget finished ("unreachable" when down)."""
    try:
        study = httpx.get(f"{url}/api/v1/studies/{study_id}", timeout=5).json()
        finished = sum(study["counts"][s] for s in ("completed", "pruned"))
        return str(study["state"]), finished / study["max_trials"]
    except (httpx.HTTPError, ValueError, KeyError):
        return "unreachable", 0.0


# At these shares of the budget: kill a fleet (f), the controller (c), restart PostgreSQL (p).
SCHEDULE = ((0.1, "f"), (0.25, "c"), (0.4, "f"), (0.5, "p"), (0.65, "f"), (0.8, "f"))


def run(
    folder: Path, trials: int, fleets: int, per_fleet: int, timeout: float = 900
) -> tuple[Accounting, list[str], float]:
    with fresh_postgres_database() as url:
        chaos = Chaos(folder, url)
        chaos.start_controller()
        spec = {
            "name": "chaos",
            "dataset": "digits",
            "model": "cnn",
            "pruner": "none",
            "sampler": {"name": "random", "seed": 0},
            "objective": {"metric": "val_accuracy"},
            "max_trials": trials,
            "max_parallel": fleets * per_fleet,
            "training": {"epochs": 3},
            "space": {"dropout": {"type": "float", "low": 0.0, "high": 0.5}},
        }
        study_id = httpx.post(f"{chaos.url}/api/v1/studies", json=spec, timeout=30).json()[
            "study_id"
        ]
        for _ in range(fleets):
            chaos.start_fleet(per_fleet)
        started, pending = time.monotonic(), list(SCHEDULE)
        actions = {
            "f": lambda: chaos.kill_a_fleet(per_fleet),
            "c": chaos.kill_controller,
            "p": chaos.restart_postgres,
        }
        try:
            while (state := progress(chaos.url, study_id))[0] != "completed":
                if time.monotonic() - started > timeout:
                    raise TimeoutError(f"the study did not complete in {timeout:.0f} s")
                while pending and state[1] >= pending[0][0]:
                    actions[pending.pop(0)[1]]()
                time.sleep(0.5)
            took = time.monotonic() - started
        finally:
            chaos.stop()
        return account(url, study_id, folder / "ledger.jsonl"), chaos.events, took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--fleets", type=int, default=4)
    parser.add_argument("--workers-per-fleet", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result, events, took = run(Path(folder), args.trials, args.fleets, args.workers_per_fleet)
    print(
        f"R2: {args.trials} trials, {args.fleets} x {args.workers_per_fleet} workers, {took:.0f} s"
    )
    for event in events:
        print(f"  chaos: {event}")
    for line in result.lines():
        print("  " + line)
    sys.exit(0 if result.holds and result.study_state == "completed" else 1)


if __name__ == "__main__":
    main()
