"""One worker slot process: `python -m workers.slot --controller URL --name NAME ...`.

The supervisor starts one per GPU slot (or CPU slot) with the device already pinned in its
environment; the token comes from `HPSEARCH_TOKEN`, never the command line.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from types import FrameType

from workers.supervisor import RECYCLE_EXIT, UNFIT_EXIT

__all__ = ["main", "recycled"]

log = logging.getLogger("workers.slot")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="workers.slot")
    parser.add_argument("--controller", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--max-trials", type=int, default=None)
    parser.add_argument("--idle-exit", type=float, default=None)
    parser.add_argument(
        "--recycle-after",
        type=int,
        default=None,
        help=f"exit with {RECYCLE_EXIT} after this many pieces of work",
    )
    parser.add_argument("--cpu-threads", type=int, default=None)
    parser.add_argument(
        "--gpu", default=None, help="the GPU this slot is pinned to: refuse to train without it"
    )
    parser.add_argument("--kinds", default="trial,retrain")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format=f"%(asctime)s %(levelname)s [{args.name}] %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    shutdown = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: finishing up and handing the running work back", signum)
        shutdown.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    # Imported after the signal handlers are in place: TensorFlow takes seconds to load.
    from hpsearch import Client  # noqa: PLC0415
    from workers.devices import configure_device, describe_device, missing_gpu  # noqa: PLC0415
    from workers.loop import Worker, WorkerOptions  # noqa: PLC0415

    configure_device(args.cpu_threads)
    problem = missing_gpu(args.gpu)
    if problem is not None:
        log.error("slot %s %s", args.name, problem)
        return UNFIT_EXIT
    options = WorkerOptions(
        worker_id=args.name,
        device=describe_device(),
        hostname=socket.gethostname(),
        max_trials=_share(args.max_trials, args.recycle_after),
        idle_exit=args.idle_exit,
        kinds=tuple(k for k in args.kinds.split(",") if k),
    )
    log.info("slot %s on %s, controller %s", args.name, options.device, args.controller)
    with Client(args.controller, os.environ.get("HPSEARCH_TOKEN")) as client:
        worker = Worker(client, options, shutdown)
        done = worker.run()
    log.info("slot %s finished %d pieces of work", args.name, done)
    if worker.unfit is not None:
        return UNFIT_EXIT
    if recycled(done, args.max_trials, args.recycle_after) and not shutdown.is_set():
        return RECYCLE_EXIT
    return 0


def _share(max_trials: int | None, recycle_after: int | None) -> int | None:
    """How much work this process takes on: its slot's remaining budget, at most one
    recycling period."""
    if recycle_after is None:
        return max_trials
    return recycle_after if max_trials is None else min(max_trials, recycle_after)


def recycled(done: int, max_trials: int | None, recycle_after: int | None) -> bool:
    """Whether the process stopped because its recycling period is over, with work left."""
    if recycle_after is None or done < recycle_after:
        return False
    return max_trials is None or max_trials > done


if __name__ == "__main__":
    sys.exit(main())
