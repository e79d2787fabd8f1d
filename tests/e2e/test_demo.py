"""`hpsearch demo` as a user runs it, with a small spec: controller, two worker slots, a
search, its retrain, the leaderboard, the test accuracy, the model file; nothing left behind."""

from __future__ import annotations

import hashlib
import itertools
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from hpsearch import Client
from hpsearch.errors import HpsearchError, Unauthorized
from tests.support.live_server import free_port
from tests.support.processes import wait_until
from tests.support.specs import spec

pytestmark = [pytest.mark.e2e, pytest.mark.keras]

ROOT = Path(__file__).resolve().parents[2]
SMALL_SPACE = {
    "conv_blocks": 1,
    "filters": {"type": "int", "low": 8, "high": 16, "step": 8},
    "dense_units": {"type": "int", "low": 16, "high": 32, "log": True},
    "learning_rate": {"type": "float", "low": 3e-3, "high": 1e-2, "log": True},
}


@dataclass(frozen=True)
class Demo:
    returncode: int
    stdout: str
    stderr: str


def small_spec(folder: Path) -> Path:
    fields = {
        "name": "demo-small",
        "max_trials": 4,
        "max_parallel": 2,
        "pruner": "none",
        "sampler": "random",
        "training": {"epochs": 2, "batch_size": 64},
        "space": SMALL_SPACE,
        "retrain": {"epochs": 3},
    }
    path = folder / "small.yaml"
    path.write_text(yaml.safe_dump(spec(**fields)))
    return path


def run_demo(args: list[str], cwd: Path, timeout: float, **env: str) -> Demo:
    """`hpsearch demo ARGS` to its end; past `timeout`, Ctrl-C (so it stops its children)."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    environment.pop("HPSEARCH_TOKEN", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "hpsearch", "demo", *args], cwd=cwd, env=environment,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
        raise AssertionError(f"the demo ran past {timeout} s:\n{out}\n{err}") from None
    return Demo(process.returncode, out, err)


def processes_of(port: int) -> list[str]:
    """Command lines of live processes that serve on `port` or work for it."""
    url = f"http://127.0.0.1:{port}"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        serves = "serve" in args and any(
            a == "--port" and b == str(port) for a, b in itertools.pairwise(args)
        )
        if url in args or serves:
            found.append(" ".join(args))
    return found


def answers(client: Client) -> bool:
    try:
        return client.request("GET", "/healthz").status_code == 200
    except HpsearchError:
        return False


def port_is_closed(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_demo_runs_a_search_and_retrain_and_stops_everything(tmp_path: Path) -> None:
    port = free_port()
    args = ["--spec", str(small_spec(tmp_path)), "--port", str(port), "--timeout", "300"]
    done = run_demo(args, tmp_path, timeout=400)
    home = tmp_path / ".hpsearch" / "demo"
    assert done.returncode == 0, done.stdout + done.stderr + (home / "worker.log").read_text()
    out = done.stdout
    assert "demo-small: top 10" in out
    assert re.search(r"│\s+1\s+│", out), out  # the leaderboard's first rank
    accuracy = re.search(r"held-out test accuracy (\d\.\d+)", out)
    assert accuracy, out
    assert 0.5 < float(accuracy.group(1)) <= 1.0
    model = home / "best-model.keras"
    assert model.stat().st_size > 1000
    assert hashlib.sha256(model.read_bytes()).hexdigest() in out
    assert (home / "hpsearch.db").is_file()
    assert (home / "controller.log").is_file() and (home / "worker.log").is_file()
    assert port_is_closed(port)
    assert processes_of(port) == []
    # The command it prints serves the demo's study to the dashboard after it has ended.
    lines = out.splitlines()
    serve = lines[lines.index("the demo's controller and workers stop now; to browse its study"
                              " on the dashboard:") + 1].strip()  # fmt: skip
    later = free_port()
    log = tmp_path / "served.log"
    served = subprocess.Popen(
        ["bash", "-c", f"{serve} --port {later} > {log} 2>&1"], cwd=tmp_path,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        start_new_session=True,
    )  # fmt: skip
    try:
        token = (home / "admin-token").read_text().strip()
        with Client(f"http://127.0.0.1:{later}", token) as client:
            up = wait_until(lambda: answers(client) or served.poll(), 60, "serve")
            assert up is True, log.read_text()[-3000:]
            study = client.get_study("demo-small")
        assert study.state == "completed" and study.retrain is not None
        assert study.retrain.model is not None
    finally:
        os.killpg(served.pid, signal.SIGTERM)
        served.wait(timeout=30)


def read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> str:
    """What the process prints, up to the line holding `marker` (read in a thread, so a
    silent process cannot block the test)."""
    output = process.stdout
    assert output is not None
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in output:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            seen.append(lines.get(timeout=1.0))
        except queue.Empty:
            continue
        if marker in seen[-1]:
            return "".join(seen)
    raise AssertionError(f"no {marker!r} in the output:\n{''.join(seen)}")


@pytest.fixture(autouse=True)
def ctrl_c_reaches_the_demo() -> Iterator[None]:
    """SIGINT handled here as in a terminal, so the demo started next hears it too. A suite
    run as a background job (`make test &`) has SIGINT ignored, which the demo would
    inherit; a handler, unlike an ignore, is reset to the default in a started process."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def interrupt(process: subprocess.Popen[str]) -> int:
    """Ctrl-C, as a user would; the demo then stops its children before it exits."""
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def test_keep_serving_serves_with_auth_on_until_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "hpsearch", "demo", "--spec", str(small_spec(tmp_path)),
               "--port", str(port), "--keep-serving"]  # fmt: skip
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
    try:
        read_until(process, "press Ctrl-C", timeout=300)
        url = f"http://127.0.0.1:{port}"
        token = (tmp_path / ".hpsearch" / "demo" / "admin-token").read_text().strip()
        assert len(token) >= 16
        with Client(url, token) as client:
            assert [s.name for s in client.list_studies()] == ["demo-small"]
        with Client(url, "") as anonymous, pytest.raises(Unauthorized):
            anonymous.list_studies()
        assert processes_of(port)  # still serving, workers still up
        assert interrupt(process) == 0
    finally:
        if process.poll() is None:
            interrupt(process)
    assert port_is_closed(port)
    assert processes_of(port) == []


def test_demo_fails_in_one_line_when_the_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_demo(["--port", str(port)], tmp_path, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: port {port} is in use; give another with --port"
    ]
    assert processes_of(port) == []


def test_demo_shows_the_controllers_log_when_it_does_not_come_up(tmp_path: Path) -> None:
    done = run_demo([], tmp_path, timeout=120, HPSEARCH_LEASE_SECONDS="-1")
    assert done.returncode == 1
    first, *tail = done.stderr.strip().splitlines()
    assert first.startswith("error: the controller exited with status 2 before it answered")
    assert "controller.log" in first
    assert any("lease_seconds" in line for line in tail), done.stderr
    assert "Traceback" not in done.stderr
