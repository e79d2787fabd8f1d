"""Study commands: `submit`, `studies`, `status`, `pause`, `resume`, `stop`, `delete`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from hpsearch import Client
from hpsearch.cli.connection import (
    DEFAULT_URL,
    ControllerOption,
    StudyArgument,
    TokenOption,
    open_client,
)
from hpsearch.cli.hypermodels import hypermodel_study
from hpsearch.cli.output import console, fail
from hpsearch.cli.views import (
    format_number,
    format_value,
    leaderboard_table,
    objective_metrics,
    objectives,
    retrain_summary,
    say,
    show_table,
    studies_table,
)
from hpsearch.objects import Study
from hpsearch.progress import watch as watch_study

__all__ = ["register"]

USAGE_ERROR = 2
LEADERBOARD_ROWS = 10


def submit(
    file: Annotated[
        Path | None, typer.Argument(help="A study spec, YAML or JSON.", show_default=False)
    ] = None,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Show progress until the study ends and, when its spec asks for one, the "
            "retrain of its best trial. Exits with 1 if the study is paused for failing, ends "
            "with no completed trial, or its retrain fails.",
        ),
    ] = False,
    hypermodel: Annotated[
        str | None,
        typer.Option(help="Instead of FILE: a KerasTuner build_model(hp), as module:function."),
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="With --hypermodel: the data.")] = None,
    objective: Annotated[str, typer.Option(help="With --hypermodel.")] = "val_accuracy",
    max_trials: Annotated[int | None, typer.Option(help="With --hypermodel.")] = None,
    max_parallel: Annotated[int | None, typer.Option(help="With --hypermodel.")] = None,
    epochs: Annotated[int | None, typer.Option(help="With --hypermodel.")] = None,
    name: Annotated[str | None, typer.Option(help="With --hypermodel.")] = None,
    controller: ControllerOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Create a study from a spec file (or a KerasTuner hypermodel); prints its id and name."""
    if (file is None) == (hypermodel is None):
        fail("give a spec FILE or --hypermodel module:function (exactly one)", USAGE_ERROR)
    source: Path | dict[str, Any]
    if hypermodel is not None:
        source = hypermodel_study(hypermodel, dataset=dataset, objective=objective,
                                  max_trials=max_trials, max_parallel=max_parallel,
                                  epochs=epochs, name=name)  # fmt: skip
    elif file is not None:
        source = file
        try:
            with file.open("rb"):
                pass
        except OSError as exc:
            fail(f"cannot read {file}: {exc.strerror or exc}", USAGE_ERROR)
    with open_client(controller, token) as client:
        study = client.create_study(source)
        say(f"study {study.study_id} {study.name} created")
        if not watch:
            return
        ended = watch_study(client, study.study_id, console=console)
        if ended.halted:
            _show_leaderboard(client, ended)
            why = f"paused after {ended.state_reason}"
            fail(f"study {ended.study_id} {ended.name} {why}; once that is fixed:"
                 f" hpsearch resume {ended.name}", 1)  # fmt: skip
        if not ended.counts.get("completed"):  # all failed, or stopped before one completed
            counts = ", ".join(f"{n} {state}" for state, n in ended.counts.items() if n)
            fail(f"study {ended.study_id} {ended.name} {ended.state} with no completed trial"
                 f" ({counts or 'no trials'}); why they failed:"
                 f" hpsearch trials {ended.name} --state failed", 1)  # fmt: skip
        if ended.retrain is not None:  # queued as the study completed: the spec's `retrain`
            say("retraining the best trial on train+val…")
            ended = watch_study(client, study.study_id, retrain=True, console=console)
        _show_leaderboard(client, ended)
        if ended.retrain is not None:
            say(f"retrain: {retrain_summary(ended.retrain)}")
            if ended.retrain.state == "failed":
                raise typer.Exit(1)


def list_studies(controller: ControllerOption = DEFAULT_URL, token: TokenOption = None) -> None:
    """A table of the studies you may see."""
    with open_client(controller, token) as client:
        show_table(studies_table(client.list_studies()))


def status(
    study: StudyArgument, controller: ControllerOption = DEFAULT_URL, token: TokenOption = None
) -> None:
    """One study: state, trial counts, best trial, retrain and its test metrics."""
    with open_client(controller, token) as client:
        console.print(study_view(client.get_study(study)))


def study_view(study: Study) -> Table:
    """State, counts, best trial and its params, retrain and model, one row each."""
    counts = ", ".join(f"{state} {n}" for state, n in study.counts.items())
    rows = [
        ("study", f"{study.study_id} {study.name} (owner {study.owner})"),
        ("state", f"{study.state} ({study.state_reason})" if study.state_reason else study.state),
        ("trials", f"{study.finished}/{study.max_trials} finished: {counts}"),
        ("workers", _workers_on(study)),
        *_best_rows(study),
        ("retrain", retrain_summary(study.retrain)),
    ]
    if study.retrain is not None and study.retrain.model is not None:
        model = study.retrain.model
        rows.append(("model", f"{model.filename}, {model.size:,} bytes, sha256 {model.sha256}"))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for name, value in rows:
        grid.add_row(name, Text(value))
    return grid


def _workers_on(study: Study) -> str:
    """How many workers hold its trials now; the hint to start one when it waits for one."""
    if study.active_workers:
        return f"{study.active_workers} on its trials now (hpsearch workers)"
    if study.state == "running":
        return "none on its trials now: start one with hpsearch worker"
    return "none"


def _show_leaderboard(client: Client, study: Study) -> None:
    board = client.leaderboard(study.study_id, LEADERBOARD_ROWS)
    show_table(leaderboard_table(board, metrics=objective_metrics(study)))


def _best_rows(study: Study) -> list[tuple[str, str]]:
    """The best trial (with several objectives: the first of the Pareto front) and its
    params."""
    best = study.best
    if best is None:
        return [("best", "none yet")]
    named = objectives(study)
    values = best.values if len(named) > 1 and best.values else [best.value]
    scored = ", ".join(
        f"{metric} {format_value(value)} ({direction})"
        for (metric, direction), value in zip(named, values, strict=False)
    )
    front = " (the first of the Pareto front)" if len(named) > 1 else ""
    params = "  ".join(f"{k}={format_number(v)}" for k, v in best.params.items())
    return [("best", f"trial {best.number}{front}: {scored}"), ("params", params)]


def pause(
    study: StudyArgument, controller: ControllerOption = DEFAULT_URL, token: TokenOption = None
) -> None:
    """Stop handing out new trials of a study; running ones finish."""
    with open_client(controller, token) as client:
        _said(client.pause(study))


def resume(
    study: StudyArgument, controller: ControllerOption = DEFAULT_URL, token: TokenOption = None
) -> None:
    """Hand out trials of a paused study again."""
    with open_client(controller, token) as client:
        _said(client.resume(study))


def stop(
    study: StudyArgument, controller: ControllerOption = DEFAULT_URL, token: TokenOption = None
) -> None:
    """End a study for good; its running trials are told to stop."""
    with open_client(controller, token) as client:
        _said(client.stop(study))


def set_study(
    study: StudyArgument,
    max_trials: Annotated[
        int | None, typer.Option(min=1, help="The budget (raise it to go on past the end).")
    ] = None,
    max_parallel: Annotated[int | None, typer.Option(min=1, help="Trials at once.")] = None,
    priority: Annotated[
        int | None, typer.Option(help="Higher first, among the studies workers pull from.")
    ] = None,
    controller: ControllerOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Change a study's budget, parallelism or priority. A study that ended on its budget
    goes on once the budget is raised and it is resumed (`hpsearch resume`)."""
    changes = {"max_trials": max_trials, "max_parallel": max_parallel, "priority": priority}
    changes = {name: value for name, value in changes.items() if value is not None}
    if not changes:
        fail("nothing to change: give --max-trials, --max-parallel or --priority", USAGE_ERROR)
    with open_client(controller, token) as client:
        changed = client.update_study(study, **changes)
    said = ", ".join(f"{name} {getattr(changed, name)}" for name in changes)
    say(f"study {changed.study_id} {changed.name}: {said}; {changed.state}")
    if changed.state == "completed" and changed.finished < changed.max_trials:
        more = changed.max_trials - changed.finished
        say(f"to run the {more} more: hpsearch resume {changed.name}")


def _said(study: Study) -> None:
    say(f"study {study.study_id} {study.name} is {study.state}")


def delete(
    study: StudyArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask to confirm.")] = False,
    controller: ControllerOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Delete a study with its trials and model files."""
    with open_client(controller, token) as client:
        found = client.get_study(study)
        question = f"delete study {found.study_id} {found.name} and its {found.finished} trials?"
        if not yes and not typer.confirm(question, default=False):
            fail("not deleted", USAGE_ERROR)
        client.delete_study(found.study_id)
        say(f"study {found.study_id} {found.name} deleted")


def register(app: typer.Typer) -> None:
    app.command()(submit)
    app.command("studies")(list_studies)
    for command in (status, pause, resume, stop, delete):
        app.command()(command)
    app.command("set")(set_study)
