"""How studies, trials and retrains look on the terminal: rich tables and one-line summaries,
shared by the commands and the demo."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from hpsearch.cli.output import console
from hpsearch.objects import Retrain, Study, StudySummary, Trial

__all__ = [
    "accuracy_summary",
    "format_number",
    "format_value",
    "leaderboard_table",
    "objective_metrics",
    "objectives",
    "retrain_summary",
    "say",
    "show_table",
    "studies_table",
    "table_of",
    "trials_table",
]

UNBOUNDED = 10_000


def format_value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def format_number(value: Any) -> str:
    """A hyperparameter: floats to 4 significant digits, anything else as it is."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}s"


def say(line: str) -> None:
    """Print one line as it is: no highlighting, no markup, never wrapped."""
    console.print(line, highlight=False, markup=False, soft_wrap=True)


def show_table(table: Table) -> None:
    """Print a table; on a terminal it folds to fit, elsewhere (a pipe, a log) it keeps its
    natural width, so no cell is cut short."""
    if console.is_terminal:
        console.print(table)
        return
    natural = console.measure(table, options=console.options.update_width(UNBOUNDED)).maximum
    Console(file=console.file, width=max(console.width, natural)).print(table)


def _table(title: str) -> Table:
    return Table(title=Text(title), title_justify="left")


def table_of(title: str, headers: Sequence[str]) -> Table:
    """An empty table with a left-aligned column per header."""
    table = _table(title)
    for header in headers:
        _column(table, header)
    return table


def _column(table: Table, header: str, *, right: bool = False) -> None:
    table.add_column(header, justify="right" if right else "left", overflow="fold")


def studies_table(studies: Sequence[StudySummary]) -> Table:
    table = _table("studies")
    for header in ("id", "name", "state", "progress", "best", "workers"):
        _column(table, header, right=header not in ("name", "state"))
    for study in studies:
        cells = [
            str(study.study_id),
            study.name,
            f"{study.state}: trials failing" if study.state_reason else study.state,
            f"{study.finished}/{study.max_trials}",
            format_value(study.best_value),
            str(study.active_workers),
        ]
        table.add_row(*map(Text, cells))
    return table


def objectives(study: Study) -> list[tuple[str, str]]:
    """(metric, direction) of each of a study's objectives, as its spec normalized them."""
    objective = study.spec.get("objective") or []
    listed = objective if isinstance(objective, list) else [objective]
    return [(o.get("metric", "value"), o.get("direction", study.direction)) for o in listed]


def objective_metrics(study: Study) -> list[str]:
    """The metric of each of a study's objectives, as tables head their value columns."""
    return [metric for metric, _ in objectives(study)]


def _param_names(trials: Sequence[Trial]) -> list[str]:
    names: dict[str, None] = {}
    for trial in trials:
        names.update(dict.fromkeys(trial.params))
    return list(names)


def _trial_table(
    trials: Sequence[Trial], *, title: str, ranked: bool, metrics: Sequence[str]
) -> Table:
    """One row per trial: its number, value (a column per objective when there are several,
    named by its metric), params (one column each), epochs, duration, worker; a rank first
    when `ranked`, the state and reason when not."""
    params = _param_names(trials)
    values = list(metrics) if len(metrics) > 1 else ["value"]
    table = _table(title)
    columns = [("rank", True), ("trial", True)] if ranked else [("trial", True), ("state", False)]
    columns += [*((name, True) for name in values), *((name, True) for name in params)]
    columns += [("epochs", True), ("duration", True), ("worker", False)]
    columns += [] if ranked else [("reason", False)]
    for header, right in columns:
        _column(table, header, right=right)
    for rank, trial in enumerate(trials, start=1):
        cells = [str(rank)] if ranked else []
        cells.append(str(trial.number))
        if not ranked:
            cells.append(trial.state)
        given = (trial.values or []) if len(values) > 1 else [trial.value]
        cells += [format_value(given[i] if i < len(given) else None) for i in range(len(values))]
        cells += [format_number(trial.params[n]) if n in trial.params else "-" for n in params]
        cells += [str(trial.epochs), _duration(trial.duration_s), trial.worker_id or "-"]
        if not ranked:
            cells.append(trial.reason or "")
        table.add_row(*map(Text, cells))
    return table


def leaderboard_table(
    trials: Sequence[Trial], title: str = "leaderboard", metrics: Sequence[str] = ()
) -> Table:
    """Completed trials as ranked by the controller, best first (the Pareto front, when the
    study has several objectives: `metrics` names them)."""
    return _trial_table(trials, title=title, ranked=True, metrics=metrics)


def trials_table(
    trials: Sequence[Trial], title: str = "trials", metrics: Sequence[str] = ()
) -> Table:
    return _trial_table(trials, title=title, ranked=False, metrics=metrics)


def accuracy_summary(retrain: Retrain) -> str | None:
    """`test accuracy 0.9722`, with `(mean 0.9700 ± 0.0040 over 3 seeds)` when several; None
    when the retrain reported no test accuracy."""
    metrics = retrain.test_metrics or {}
    accuracy = metrics.get("test_accuracy")
    if accuracy is None:
        return None
    line = f"test accuracy {accuracy:.4f}"
    mean, std = metrics.get("test_accuracy_mean"), metrics.get("test_accuracy_std")
    if retrain.seeds > 1 and mean is not None and std is not None:
        line += f" (mean {mean:.4f} ± {std:.4f} over {retrain.seeds} seeds)"
    return line


def _trial_of(retrain: Retrain) -> str:
    if retrain.trial_number is None:
        return f"trial id {retrain.trial_id}"
    return f"trial {retrain.trial_number}"


def retrain_summary(retrain: Retrain | None) -> str:
    """One line: state, job, trial, epochs, seeds; the test accuracy or the failure reason."""
    if retrain is None:
        return "none"
    text = (
        f"{retrain.state} (job {retrain.job_id}, {_trial_of(retrain)},"
        f" {retrain.epochs} epochs, {retrain.seeds} seed{'s' if retrain.seeds > 1 else ''})"
    )
    accuracy = accuracy_summary(retrain)
    if accuracy:
        text += f"; {accuracy}"
    if retrain.reason:
        text += f"; {retrain.reason}"
    return text
