"""A live view of a running study: a rich progress bar of trials done / pruned / failed and
the best value so far, until the study (and, if asked, its retrain) ends."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from hpsearch.client import Client, StudyRef
    from hpsearch.objects import Study

__all__ = ["describe_progress", "watch"]


def describe_progress(study: Study) -> str:
    counts = study.counts
    best = "-" if study.best_value is None else f"{study.best_value:.4f}"
    text = (
        f"done {counts.get('completed', 0)}  pruned {counts.get('pruned', 0)}"
        f"  failed {counts.get('failed', 0)}  running {counts.get('running', 0)}"
        f"  best {best}  [{study.state}]"
    )
    if study.retrain is not None:
        text += f"  retrain {study.retrain.state}"
    elif study.state == "running" and not study.active_workers and not counts.get("running"):
        text += "  waiting for a worker (hpsearch worker)"
    return text


def watch(
    client: Client,
    study: StudyRef,
    *,
    retrain: bool = False,
    poll: float = 1.0,
    timeout: float | None = None,
    console: Console | None = None,
) -> Study:
    """Show progress until the study ends (or the controller pauses it: `Study.halted`);
    returns its last state."""
    columns = (
        TextColumn("[bold]{task.fields[name]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )
    current = client.get_study(study)
    deadline = None if timeout is None else time.monotonic() + timeout
    with Progress(*columns, console=console or Console(), transient=False) as bar:
        task = bar.add_task("study", total=current.max_trials, name=current.name, status="")
        while True:
            bar.update(
                task,
                completed=current.finished,
                total=current.max_trials,
                status=describe_progress(current),
            )
            if current.settled(retrain) or current.halted:
                return current
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"study {current.study_id} still {current.state}")
            time.sleep(poll)
            current = client.get_study(study)
