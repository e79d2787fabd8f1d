"""`hpsearch demo`: a whole search on this machine, from nothing to a downloaded model.

In a fresh `.hpsearch/demo/` it starts the controller (auth on, a random admin token) and
two CPU worker slots, submits the canonical digits spec, shows the progress until the
search and the retrain of its best trial are done, prints the leaderboard, the held-out
test accuracy and the model file, and stops everything again (or keeps serving).
"""

from __future__ import annotations

import importlib.resources
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from hpsearch.cli.connection import API_ERROR, explain
from hpsearch.cli.local_fleet import FleetError, LocalFleet, free_port
from hpsearch.cli.output import console, fail
from hpsearch.cli.results import sha256_of
from hpsearch.cli.views import accuracy_summary, leaderboard_table, say, show_table
from hpsearch.client import Client
from hpsearch.errors import HpsearchError
from hpsearch.objects import Study
from hpsearch.progress import watch

__all__ = ["DEMO_HOME", "register"]

DEMO_HOME = Path(".hpsearch") / "demo"
WORKER_SLOTS = 2
WORKER_IDLE_EXIT = 600.0
LEADERBOARD_ROWS = 10
INTERRUPTED = 130
DASHBOARD_URL = "http://127.0.0.1:8000/"  # where `hpsearch serve` listens by default


class DemoFailed(RuntimeError):
    """The search or the retrain did not end as it should."""


def canonical_spec() -> str:
    """The bundled `search_spaces/examples/digits_cnn.yaml`."""
    examples = importlib.resources.files("search_spaces") / "examples"
    return (examples / "digits_cnn.yaml").read_text()


def demo(
    port: Annotated[
        int | None, typer.Option(help="The controller's port (default: a free one).")
    ] = None,
    keep_serving: Annotated[
        bool,
        typer.Option("--keep-serving", help="Leave the controller and workers up until Ctrl-C."),
    ] = False,
    spec: Annotated[
        Path | None,
        typer.Option(
            help="A study spec (default: the bundled digits_cnn.yaml).", show_default=False
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds the search and retrain may take.")
    ] = 1800.0,
) -> None:
    """Run a complete search here: controller, two workers, a study, its retrained model."""
    if spec is not None and not spec.is_file():
        fail(f"cannot read {spec}: no such file")
    spec_source = spec if spec is not None else canonical_spec()
    fleet = LocalFleet(_fresh_home(), port or free_port(), secrets.token_urlsafe(32))
    with _terminate_as_interrupt():
        try:
            _run(fleet, spec_source, keep_serving, timeout)
        except (FleetError, DemoFailed, HpsearchError, OSError, KeyboardInterrupt) as exc:
            fail(*_failure(exc, fleet, timeout))
        finally:
            with console.status("stopping the workers and the controller…"):
                fleet.stop()


def _failure(exc: BaseException, fleet: LocalFleet, timeout: float) -> tuple[str, int]:
    """The one line (and exit status) that says why the demo stopped."""
    if isinstance(exc, KeyboardInterrupt):
        if fleet.failure is not None:
            return fleet.failure, API_ERROR
        return "interrupted; stopping the workers and the controller", INTERRUPTED
    if isinstance(exc, HpsearchError):
        return explain(exc), API_ERROR
    if isinstance(exc, TimeoutError):
        late = f"the search and its retrain took over {timeout:.0f} s (--timeout)"
        return f"{late}; see {fleet.worker_log}", API_ERROR
    return str(exc), API_ERROR


def _fresh_home() -> Path:
    """`.hpsearch/demo/`, emptied of any earlier demo's database, models and logs."""
    shutil.rmtree(DEMO_HOME, ignore_errors=True)
    DEMO_HOME.mkdir(parents=True)
    return DEMO_HOME


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM acts like Ctrl-C while the demo runs, so its children are stopped too."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(fleet: LocalFleet, spec: str | Path, keep_serving: bool, timeout: float) -> None:
    with console.status("starting the controller…"):
        fleet.start_controller()
    say(f"controller at {fleet.url} (log: {fleet.controller_log})")
    fleet.start_workers(WORKER_SLOTS, idle_exit=None if keep_serving else WORKER_IDLE_EXIT)
    say(f"{WORKER_SLOTS} CPU worker slots (log: {fleet.worker_log})")
    token_file = _save_token(fleet)
    with Client(fleet.url, fleet.token) as client:
        study = client.create_study(spec)
        say(
            f"study {study.study_id} {study.name}: {study.max_trials} trials,"
            f" {study.max_parallel} at a time"
        )
        final = _follow(client, fleet, study.study_id, time.monotonic() + timeout)
        _report(client, fleet, final)
    if keep_serving:
        say(f"dashboard: {fleet.url}/ (admin token in {token_file})")
        _serve_until_interrupted(fleet, token_file)
        return
    # The controller stops with the demo: say how to serve what it left for the dashboard.
    say("the demo's controller and workers stop now; to browse its study on the dashboard:")
    say(
        f"  HPSEARCH_ADMIN_TOKEN=$(cat {token_file}) {_this_command()} serve"
        f" --database-url sqlite:///{fleet.home / 'hpsearch.db'}"
        f" --artifact-dir {fleet.home / 'artifacts'}"
    )
    say(f"  then open {DASHBOARD_URL} and log in with the token in {token_file}")


def _this_command() -> str:
    """`hpsearch` as this process can be started again: the script beside its interpreter
    (relative to here when below it: `.venv/bin/hpsearch` after `make demo`)."""
    script = Path(sys.executable).parent / "hpsearch"
    if not script.is_file():
        return "hpsearch"
    with suppress(ValueError):
        return str(script.relative_to(Path.cwd()))
    return str(script)


def _save_token(fleet: LocalFleet) -> Path:
    """The admin token, readable by its owner only, for the dashboard and the CLI."""
    path = fleet.home / "admin-token"
    path.touch(mode=0o600)
    path.write_text(fleet.token + "\n")
    return path


def _follow(client: Client, fleet: LocalFleet, study_id: int, deadline: float) -> Study:
    """Progress until the search ends, then until its retrain ends; the final study."""
    with fleet.guard():
        ended = watch(client, study_id, timeout=_left(deadline), console=console)
        if ended.state != "completed":
            raise DemoFailed(f"study {study_id} ended {ended.state}, not completed")
        if ended.retrain is None:
            if ended.best is None:
                raise DemoFailed(f"no trial of study {study_id} completed; see {fleet.worker_log}")
            client.retrain(study_id)
        say("retraining the best trial on train+val…")
        final = watch(client, study_id, retrain=True, timeout=_left(deadline), console=console)
    if final.retrain is None or final.retrain.state != "completed":
        reason = final.retrain.reason if final.retrain else None
        raise DemoFailed(f"the retrain failed: {reason or 'no reason given'}")
    return final


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("no time left")
    return left


def _report(client: Client, fleet: LocalFleet, study: Study) -> None:
    """The leaderboard, the test accuracy, and the model file with its sha256."""
    board = client.leaderboard(study.study_id, LEADERBOARD_ROWS)
    show_table(leaderboard_table(board, title=f"{study.name}: top {LEADERBOARD_ROWS}"))
    retrain = study.retrain
    assert retrain is not None
    accuracy = accuracy_summary(retrain)
    if accuracy is None:
        raise DemoFailed("the retrain reported no test accuracy")
    best = study.best
    which = f"trial {best.number}" if best and best.trial_id == retrain.trial_id else "the best"
    say(f"retrained {which} for {retrain.epochs} epochs on train+val: held-out {accuracy}")
    model = client.download_model(study.study_id, fleet.home / "best-model.keras")
    say(f"model: {model} ({model.stat().st_size:,} bytes, sha256 {sha256_of(model)})")


def _serve_until_interrupted(fleet: LocalFleet, token_file: Path) -> None:
    environment = f"HPSEARCH_URL={fleet.url} HPSEARCH_TOKEN=$(cat {token_file})"
    say(f"serving; try: {environment} hpsearch studies")
    say("press Ctrl-C to stop the controller and the workers")
    try:
        with fleet.guard():
            while True:
                time.sleep(1)
    except KeyboardInterrupt:
        if fleet.failure is not None:
            raise
        say("stopping")


def register(app: typer.Typer) -> None:
    app.command()(demo)
