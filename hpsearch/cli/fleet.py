"""`hpsearch workers`: the fleet as the controller sees it."""

from __future__ import annotations

from typing import Any

import typer
from rich.text import Text

from hpsearch.cli.connection import DEFAULT_URL, ControllerOption, TokenOption, open_client
from hpsearch.cli.views import say, show_table, table_of

__all__ = ["register"]


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def _doing(current: dict[str, Any] | None) -> str:
    if not current:
        return "idle"
    study, expires = current["study_id"], current["expires_in"]
    if current["kind"] == "retrain":
        return f"retrain job {current['job_id']} of study {study} (lease {expires:.0f}s)"
    return f"study {study} trial {current['trial_number']} (lease {expires:.0f}s)"


def workers(controller: ControllerOption = DEFAULT_URL, token: TokenOption = None) -> None:
    """The fleet: each worker slot's host, device, last contact and current work."""
    with open_client(controller, token) as client:
        fleet = client.workers()
    if not fleet:
        say("no worker has contacted this controller yet")
        return
    table = table_of("workers", ["worker", "host", "device", "last contact", "doing"])
    for worker in fleet:
        cells = [
            worker["worker_id"],
            worker.get("hostname") or "-",
            worker.get("device") or "-",
            _ago(worker["seconds_since_contact"]),
            _doing(worker.get("current")),
        ]
        table.add_row(*map(Text, cells))
    show_table(table)


def register(app: typer.Typer) -> None:
    app.command()(workers)
