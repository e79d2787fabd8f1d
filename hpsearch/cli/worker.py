"""`hpsearch worker`: a supervisor that runs one worker process per GPU slot (or CPU slot)."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
from typing import Annotated

import typer

from hpsearch.cli.output import fail

__all__ = ["DEFAULT_RECYCLE_AFTER", "detect_gpus", "register"]
DEFAULT_RECYCLE_AFTER = 10


def detect_gpus() -> list[str]:
    """GPU indices that `nvidia-smi -L` lists; none when it is missing or fails."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listing = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(listing.splitlines()) if line.startswith("GPU ")]


def worker(
    controller: Annotated[
        str, typer.Option(envvar="HPSEARCH_URL", help="The controller's URL.")
    ] = "http://127.0.0.1:8000",
    token: Annotated[
        str | None, typer.Option(envvar="HPSEARCH_TOKEN", help="A worker token.")
    ] = None,
    gpus: Annotated[
        str | None, typer.Option(help="GPU indices to use, e.g. 0,1 (default: all found).")
    ] = None,
    cpu: Annotated[bool, typer.Option("--cpu", help="Train on the CPU, even with GPUs.")] = False,
    slots_per_gpu: Annotated[
        int, typer.Option(min=1, help="Worker processes per GPU (or on the CPU with --cpu).")
    ] = 1,
    memory_limit_mb: Annotated[
        int | None, typer.Option(min=64, help="GPU memory cap per slot, in MiB.")
    ] = None,
    max_trials: Annotated[
        int | None, typer.Option(min=1, help="Each slot stops after this many pieces of work.")
    ] = None,
    idle_exit: Annotated[
        float | None, typer.Option(min=0, help="Each slot exits after this long without work.")
    ] = None,
    recycle_after: Annotated[
        int,
        typer.Option(
            min=0,
            help="Start a fresh slot process after this many pieces of work (0: never). "
            "TensorFlow keeps a little of every fitted model alive; recycling keeps memory flat.",
        ),
    ] = DEFAULT_RECYCLE_AFTER,
    name: Annotated[
        str | None, typer.Option(help="Name prefix of the slots (default: host and pid).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
) -> None:
    """Pull trials from the controller and train them, one process per GPU slot."""
    from workers.supervisor import Supervisor, plan_slots

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if cpu and gpus:
        fail("give --gpus or --cpu, not both")
    devices = (
        None
        if cpu
        else ([g.strip() for g in gpus.split(",") if g.strip()] if gpus else detect_gpus())
    )
    prefix = name or f"{socket.gethostname()}-{os.getpid()}"
    plans = plan_slots(prefix, devices or None, slots_per_gpu, memory_limit_mb)
    extra = ["--log-level", log_level]
    if idle_exit is not None:
        extra += ["--idle-exit", str(idle_exit)]
    typer.echo(f"{len(plans)} slot(s) on {'GPU ' + ','.join(devices) if devices else 'the CPU'}"
               f", controller {controller}")  # fmt: skip
    supervisor = Supervisor(plans, controller, token, extra, max_trials=max_trials,
                            recycle_after=recycle_after or None)  # fmt: skip
    raise typer.Exit(supervisor.run())


def register(app: typer.Typer) -> None:
    app.command()(worker)
