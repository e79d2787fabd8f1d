"""Result commands: `leaderboard`, `trials`, `retrain`, `download`."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from hpsearch.cli.connection import (
    API_ERROR,
    DEFAULT_URL,
    ControllerOption,
    StudyArgument,
    TokenOption,
    open_client,
)
from hpsearch.cli.output import console, fail
from hpsearch.cli.views import (
    leaderboard_table,
    objective_metrics,
    retrain_summary,
    say,
    show_table,
    trials_table,
)
from hpsearch.client import Client
from hpsearch.objects import Retrain, Trial

__all__ = ["register", "sha256_of"]

RETRAIN_POLL = 1.0
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the API's JSON list to stdout instead of a table.")
]


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2))


def leaderboard(
    study: StudyArgument,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Rows to show.")] = 10,
    as_json: JsonOption = False,
    controller: ControllerOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Completed trials ranked by the objective, best first."""
    with open_client(controller, token) as client:
        found = client.get_study(study)
        path = f"/api/v1/studies/{found.study_id}/leaderboard"
        rows = client.request("GET", path, params={"limit": limit}).json()
        if as_json:
            _print_json(rows)
            return
        board = [Trial.from_json(row) for row in rows]
        show_table(leaderboard_table(board, metrics=objective_metrics(found)))


def trials(
    study: StudyArgument,
    state: Annotated[
        str | None,
        typer.Option(
            help="Only trials in this state: queued, running, completed, pruned, failed.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    controller: ControllerOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """A study's trials by number, with params, state, value, worker and duration."""
    with open_client(controller, token) as client:
        found = client.get_study(study)
        path = f"/api/v1/studies/{found.study_id}/trials"
        params = {"state": state} if state else {}
        rows = client.request("GET", path, params=params).json()
        if as_json:
            _print_json(rows)
            return
        listed = [Trial.from_json(row) for row in rows]
        show_table(trials_table(listed, metrics=objective_metrics(found)))


def retrain(
    study: StudyArgument,
    trial: Annotated[
        int | None,
        typer.Option("--trial", help="A trial number, as tables show (default: the best)."),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Epochs (default: the spec's retrain.epochs).")
    ] = None,
    seeds: Annotated[
        int | None, typer.Option(min=1, max=10, help="Train this many times; report mean ± std.")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the retrain ends.")] = False,
    controller: ControllerOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Queue retraining of the best (or a chosen) trial on train+val, scored on the test split."""
    with open_client(controller, token) as client:
        trial_id = None if trial is None else _trial_id(client, study, trial)
        job = client.retrain(study, trial_id=trial_id, epochs=epochs, seeds=seeds)
        say(f"retrain {retrain_summary(job)}")
        if not wait:
            return
        with console.status(f"retrain job {job.job_id} of study {study}…"):
            final = _wait_for_retrain(client, study, job.job_id)
        say(f"retrain {retrain_summary(final)}")
        if final.state != "completed":
            fail(
                f"retrain job {final.job_id} {final.state}: {final.reason or 'no reason given'}",
                API_ERROR,
            )


def _trial_id(client: Client, study: str, number: int) -> int:
    for candidate in client.trials(study):
        if candidate.number == number:
            return candidate.trial_id
    fail(f"study {study} has no trial number {number}", API_ERROR)


def _wait_for_retrain(client: Client, study: str, job_id: int) -> Retrain:
    """Poll the study until retrain job `job_id` has completed or failed."""
    while True:
        current = client.get_study(study).retrain
        if current is not None and current.job_id != job_id:
            fail(f"retrain job {job_id} was replaced by job {current.job_id}", API_ERROR)
        if current is not None and current.state in ("completed", "failed"):
            return current
        time.sleep(RETRAIN_POLL)


def download(
    study: StudyArgument,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Where to save it (default: <study-name>.keras).",
            show_default=False,
        ),
    ] = None,
    controller: ControllerOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Save the retrained model (`.keras`); prints its size and sha256."""
    with open_client(controller, token) as client:
        target = output or Path(f"{client.get_study(study).name}.keras")
        try:
            saved = client.download_model(study, target)
        except OSError as exc:
            fail(f"cannot write {target}: {exc.strerror or exc}", API_ERROR)
        say(f"saved {saved} ({saved.stat().st_size:,} bytes, sha256 {sha256_of(saved)})")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def register(app: typer.Typer) -> None:
    for command in (leaderboard, trials, retrain, download):
        app.command()(command)
