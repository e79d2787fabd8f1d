"""Real controller and worker processes for end-to-end tests, with logs in the test's folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.live_server import free_port

ROOT = Path(__file__).resolve().parents[2]


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("HPSEARCH_TOKEN", None)
    return {**env, **(extra or {})}


def wait_until(predicate, timeout: float, what: str, every: float = 0.2):  # type: ignore[no-untyped-def]
    """Poll `predicate` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@contextmanager
def controller(
    folder: Path, database_url: str, settings: dict[str, str] | None = None
) -> Iterator[str]:
    """`hpsearch serve` on a free port with auth off; yields its URL; stops it afterwards."""
    port = free_port()
    env = _env({"HPSEARCH_AUTH": "off", "HPSEARCH_ARTIFACT_DIR": str(folder / "artifacts"),
                **(settings or {})})  # fmt: skip
    log = (folder / f"controller-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "hpsearch", "serve", "--port", str(port),
         "--database-url", database_url, "--log-level", "warning"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _healthy(url) or process.poll() is not None, 60, "the controller")
        assert process.poll() is None, (folder / f"controller-{port}.log").read_text()[-3000:]
        yield url
    finally:
        stop(process)
        log.close()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start_slot(folder: Path, url: str, name: str, *args: str) -> subprocess.Popen[bytes]:
    """One worker slot process (no supervisor), training on the CPU."""
    log = (folder / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "workers.slot", "--controller", url, "--name", name,
         "--cpu-threads", "1", *args],
        env=_env({"CUDA_VISIBLE_DEVICES": ""}), stdout=log, stderr=subprocess.STDOUT, cwd=folder,
    )  # fmt: skip


def start_worker(folder: Path, url: str, name: str, *args: str) -> subprocess.Popen[bytes]:
    """`hpsearch worker --cpu` (a supervisor with one slot process)."""
    log = (folder / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "hpsearch", "worker", "--controller", url, "--cpu",
         "--name", name, *args],
        env=_env(), stdout=log, stderr=subprocess.STDOUT, cwd=folder,
    )  # fmt: skip


def stop(process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
