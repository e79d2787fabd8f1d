"""A controller and a worker supervisor run as child processes of this one, on this machine,
with their database, artifacts and logs in one folder: what `hpsearch demo` runs.

Each child gets its own session (process group), so a Ctrl-C reaches only this process,
which then stops the workers (they hand their work back) and then the controller.
"""

from __future__ import annotations

import _thread
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

import httpx

__all__ = ["FleetError", "LocalFleet", "free_port", "log_tail", "port_is_free"]

log = logging.getLogger(__name__)

STARTUP_SECONDS = 60.0
HEALTH_POLL = 0.2
WORKER_STOP_SECONDS = 90.0
CONTROLLER_STOP_SECONDS = 30.0
GUARD_POLL = 0.5


class FleetError(RuntimeError):
    """A child process did not start, or died while it was needed."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def log_tail(path: Path, lines: int = 15) -> str:
    """The last `lines` lines of a log file, indented, for an error message."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"  ({path} is missing)"
    kept = text.rstrip("\n").splitlines()[-lines:]
    return "\n".join(f"  {line}" for line in kept) or f"  ({path} is empty)"


class LocalFleet:
    """The controller at `127.0.0.1:port` with auth on (the admin token is `token`) and one
    worker supervisor; everything they write goes under `home`."""

    def __init__(self, home: Path, port: int, token: str) -> None:
        self.home = home
        self.port = port
        self.token = token
        self.controller: subprocess.Popen[bytes] | None = None
        self.workers: subprocess.Popen[bytes] | None = None
        self.failure: str | None = None
        self._logs: list[IO[bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def controller_log(self) -> Path:
        return self.home / "controller.log"

    @property
    def worker_log(self) -> Path:
        return self.home / "worker.log"

    def _spawn(
        self, command: list[str], log_path: Path, env: dict[str, str]
    ) -> subprocess.Popen[bytes]:
        output = log_path.open("ab")
        self._logs.append(output)
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    def start_controller(self) -> None:
        """Start `hpsearch serve` and wait until `/healthz` answers 200."""
        if not port_is_free(self.port):
            raise FleetError(f"port {self.port} is in use; give another with --port")
        command = [
            sys.executable, "-m", "hpsearch", "serve",
            "--host", "127.0.0.1", "--port", str(self.port), "--auth", "on",
            "--database-url", f"sqlite:///{self.home / 'hpsearch.db'}",
            "--artifact-dir", str(self.home / "artifacts"),
        ]  # fmt: skip
        env = {**os.environ, "HPSEARCH_ADMIN_TOKEN": self.token}
        self.controller = self._spawn(command, self.controller_log, env)
        self._wait_healthy(self.controller)

    def _wait_healthy(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise FleetError(
                    f"the controller exited with status {process.returncode} before it answered;"
                    f" the end of {self.controller_log}:\n{log_tail(self.controller_log)}"
                )
            with suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            time.sleep(HEALTH_POLL)
        raise FleetError(
            f"the controller did not answer {self.url}/healthz within {STARTUP_SECONDS:.0f} s;"
            f" the end of {self.controller_log}:\n{log_tail(self.controller_log)}"
        )

    def start_workers(self, slots: int, idle_exit: float | None) -> None:
        """One `hpsearch worker --cpu` supervisor with `slots` slot processes; the token
        travels in the environment, never on the command line."""
        command = [
            sys.executable, "-m", "hpsearch", "worker", "--controller", self.url,
            "--cpu", "--slots-per-gpu", str(slots), "--name", "demo",
        ]  # fmt: skip
        if idle_exit is not None:
            command += ["--idle-exit", str(idle_exit)]
        env = {**os.environ, "HPSEARCH_TOKEN": self.token}
        self.workers = self._spawn(command, self.worker_log, env)

    def problem(self) -> str | None:
        """What went wrong, if a child has exited: one line and the end of its log."""
        for name, process, path in (
            ("controller", self.controller, self.controller_log),
            ("worker supervisor", self.workers, self.worker_log),
        ):
            if process is not None and process.poll() is not None:
                return (
                    f"the {name} exited with status {process.returncode};"
                    f" the end of {path}:\n{log_tail(path)}"
                )
        return None

    @contextmanager
    def guard(self) -> Iterator[None]:
        """While the block runs, a child that exits interrupts the main thread (a
        KeyboardInterrupt there), with the reason left in `failure`."""
        done = threading.Event()
        lock = threading.Lock()

        def keep_watch() -> None:
            while not done.wait(GUARD_POLL):
                found = self.problem()
                with lock:
                    if found is not None and not done.is_set():
                        self.failure = found
                        _thread.interrupt_main()
                        return

        watcher = threading.Thread(target=keep_watch, name="fleet-guard", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            with lock:
                done.set()
            watcher.join()

    def stop(self) -> None:
        """Workers first (SIGTERM: they hand their running work back), then the controller;
        whatever does not stop in time, and anything at all on a second Ctrl-C, is killed."""
        try:
            _stop(self.workers, WORKER_STOP_SECONDS)
            _stop(self.controller, CONTROLLER_STOP_SECONDS)
        except KeyboardInterrupt:
            for process in (self.workers, self.controller):
                _kill_group(process)
            raise
        finally:
            for output in self._logs:
                output.close()
            self._logs.clear()


def _stop(process: subprocess.Popen[bytes] | None, grace: float) -> None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL the process and its group."""
    if process is None:
        return
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log.warning("pid %s did not stop in %.0f s; killing it", process.pid, grace)
    _kill_group(process)


def _kill_group(process: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL everything left in the child's process group (a worker's slots, say)."""
    if process is None:
        return
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
