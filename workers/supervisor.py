"""The supervisor: one slot process per GPU slot (or CPU slot), restarted if it dies, and a
graceful stop on SIGTERM/SIGINT that lets each slot hand its running work back. A slot that
cannot work on this node (no usable GPU, data it cannot load, a token the controller
refuses, a controller out of reach until `--idle-exit`) is not started again; once
every slot has ended, the supervisor exits with 1 if one was given up on (that, or dying
too often), else 0.

Slot processes are recycled: after `recycle_after` pieces of work a slot exits with
`RECYCLE_EXIT` and a fresh process takes its place. TensorFlow keeps each fitted model's
train-step graph (and the variables it captures) alive after `clear_session()`, so a
long-lived process grows with every trial; a fresh one starts from the bare footprint.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from types import FrameType

from workers.pinning import gpu_environment

__all__ = ["RECYCLE_EXIT", "UNFIT_EXIT", "SlotPlan", "Supervisor", "plan_slots"]

log = logging.getLogger(__name__)
RECYCLE_EXIT = 75  # EX_TEMPFAIL: "done my share, start me again"
# EX_CONFIG: "this node cannot do the work" (no usable GPU, data it cannot load); starting
# the slot again would not help.
UNFIT_EXIT = 78
RESTARTS_PER_WINDOW = 5
RESTART_WINDOW = 300.0


@dataclass(frozen=True)
class SlotPlan:
    index: int
    name: str
    gpu: str | None
    env: dict[str, str]
    cpu_threads: int | None


def plan_slots(
    name: str,
    gpus: list[str] | None,
    slots_per_device: int,
    memory_limit_mb: int | None = None,
    cpu_count: int | None = None,
) -> list[SlotPlan]:
    """Slots on each listed GPU, or CPU slots splitting the cores when `gpus` is None."""
    plans: list[SlotPlan] = []
    devices: list[str | None] = list(gpus) if gpus else [None]
    for gpu in devices:
        for k in range(slots_per_device):
            label = f"gpu{gpu}" if gpu is not None else "cpu"
            threads = None
            if gpu is None:
                threads = max(1, (cpu_count or os.cpu_count() or 1) // slots_per_device)
            plans.append(
                SlotPlan(
                    index=len(plans),
                    name=f"{name}-{label}-{k}",
                    gpu=gpu,
                    env=gpu_environment(gpu, slots_per_device, memory_limit_mb),
                    cpu_threads=threads,
                )
            )
    return plans


@dataclass
class _Slot:
    plan: SlotPlan
    process: subprocess.Popen[bytes] | None = None
    done: bool = False
    given_up: bool = False  # done without finishing: no usable GPU, or died too often
    finished: int = 0  # pieces of work done by the slot's earlier, recycled processes
    starts: deque[float] = field(default_factory=deque)


class Supervisor:
    def __init__(
        self,
        plans: list[SlotPlan],
        controller: str,
        token: str | None,
        extra_args: list[str] | None = None,
        grace: float = 60.0,
        max_trials: int | None = None,
        recycle_after: int | None = None,
        command: list[str] | None = None,
    ) -> None:
        self.slots = [_Slot(plan) for plan in plans]
        self.controller = controller
        self.token = token
        self.extra_args = extra_args or []
        self.grace = grace
        self.max_trials = max_trials
        self.recycle_after = recycle_after or None
        self.command = command or [sys.executable, "-m", "workers.slot"]
        self.stopping = threading.Event()

    def _start(self, slot: _Slot, recycle: bool = False) -> None:
        """Start the slot's process; every start but a recycle counts towards giving up on it."""
        plan = slot.plan
        command = [*self.command, "--controller", self.controller, "--name", plan.name,
                   *self.extra_args]  # fmt: skip
        if self.max_trials is not None:
            command += ["--max-trials", str(self.max_trials - slot.finished)]
        if self.recycle_after is not None:
            command += ["--recycle-after", str(self.recycle_after)]
        if plan.cpu_threads:
            command += ["--cpu-threads", str(plan.cpu_threads)]
        if plan.gpu is not None:
            command += ["--gpu", plan.gpu]
        env = {**os.environ, **plan.env}
        if self.token:
            env["HPSEARCH_TOKEN"] = self.token
        slot.process = subprocess.Popen(command, env=env)
        if not recycle:
            slot.starts.append(time.monotonic())
        log.info("slot %s started (pid %s, GPU %s)", plan.name, slot.process.pid, plan.gpu)

    def _tend(self, slot: _Slot) -> None:
        """Notice a slot that exited: done if it exited cleanly, else start it again."""
        if slot.done or slot.process is None or slot.process.poll() is None:
            return
        code = slot.process.returncode
        if code == 0:
            slot.done = True
            log.info("slot %s finished", slot.plan.name)
            return
        if code == RECYCLE_EXIT and self.recycle_after is not None:
            slot.finished += self.recycle_after
            log.info("slot %s recycled after %d pieces of work", slot.plan.name, slot.finished)
            self._start(slot, recycle=True)
            return
        if code == UNFIT_EXIT:
            log.error("slot %s cannot work on this node (its log says why); not starting it"
                      " again", slot.plan.name)  # fmt: skip
            slot.done = slot.given_up = True
            return
        now = time.monotonic()
        while slot.starts and now - slot.starts[0] > RESTART_WINDOW:
            slot.starts.popleft()
        if len(slot.starts) >= RESTARTS_PER_WINDOW:
            log.error("slot %s died %d times in %.0f s; giving up on it",
                      slot.plan.name, len(slot.starts), RESTART_WINDOW)  # fmt: skip
            slot.done = slot.given_up = True
            return
        log.warning("slot %s died (exit %s); restarting it", slot.plan.name, code)
        self._start(slot)

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        for slot in self.slots:
            self._start(slot)
        while not self.stopping.is_set() and not all(s.done for s in self.slots):
            for slot in self.slots:
                self._tend(slot)
            self.stopping.wait(0.5)
        self._stop_all()
        return 1 if any(slot.given_up for slot in self.slots) else 0

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: stopping the slots", signum)
        self.stopping.set()

    def _stop_all(self) -> None:
        running = [s.process for s in self.slots if s.process and s.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning(
                    "slot pid %s did not stop in %.0f s; killing it", process.pid, self.grace
                )
                process.kill()
