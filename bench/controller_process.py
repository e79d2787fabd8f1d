"""A controller subprocess for benchmarks (`hpsearch serve` on a free port)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_controller(
    folder: Path, database_url: str, env: dict[str, str] | None = None, processes: int = 1
) -> Iterator[str]:
    port = free_port()
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HPSEARCH_AUTH": "off",
        "HPSEARCH_ARTIFACT_DIR": str(folder / "artifacts"),
        **(env or {}),
    }
    log = (folder / "controller.log").open("wb")
    command = [
        sys.executable,
        "-m",
        "hpsearch",
        "serve",
        "--port",
        str(port),
        "--database-url",
        database_url,
        "--log-level",
        "warning",
        "--processes",
        str(processes),
    ]
    process = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((folder / "controller.log").read_text()[-2000:])
            time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        log.close()


def rss_mib(pid: int | None = None) -> float:
    """Resident memory of a process (default: this one), in MiB, from /proc."""
    status = Path(f"/proc/{pid or 'self'}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024
