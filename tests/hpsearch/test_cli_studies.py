"""Tests for hpsearch/cli/studies.py: submit, studies, status, pause/resume/stop, delete,
run with typer's CliRunner against the in-process controller."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hpsearch import Client
from hpsearch.cli import app, connection
from hpsearch.progress import describe_progress
from tests.support.live_server import free_port
from tests.support.simulated_workers import SimulatedWorker, finish_retrain
from tests.support.specs import spec

runner = CliRunner()


def small_spec(tmp_path: Path, **overrides: object) -> Path:
    fields: dict[str, object] = {
        "max_trials": 3,
        "max_parallel": 1,
        "pruner": "none",
        "training": {"epochs": 2, "batch_size": 64},
    }
    fields.update(overrides)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec(**fields)))
    return path


@pytest.fixture
def cli(client: Client, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The CLI, talking to the in-process app through `client`."""
    monkeypatch.setattr(connection, "connect", lambda controller, token: client)
    return runner


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_submit_prints_the_new_studys_id_and_name(
    cli: CliRunner, client: Client, tmp_path: Path
) -> None:
    result = cli.invoke(app, ["submit", str(small_spec(tmp_path))])
    assert result.exit_code == 0, result.output
    [study] = client.list_studies()
    assert f"study {study.study_id} digits-cnn created" in result.stdout


def test_submit_accepts_a_json_spec(cli: CliRunner, client: Client, tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec(name="from-json")))
    result = cli.invoke(app, ["submit", str(path)])
    assert result.exit_code == 0, result.output
    assert [s.name for s in client.list_studies()] == ["from-json"]


def test_submit_a_bad_spec_prints_one_line_naming_the_field(
    cli: CliRunner, client: Client, tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    bad = spec()
    bad["space"]["filters"] = {"type": "int", "low": 128, "high": 16}
    path.write_text(yaml.safe_dump(bad))
    result = cli.invoke(app, ["submit", str(path)])
    assert result.exit_code != 0
    line = one_error_line(result.stderr)
    assert line == "error: 422: space.filters: low (128) must be below high (16)"
    assert "Traceback" not in result.output
    assert client.list_studies() == []


def test_submit_a_missing_file_is_one_line(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["submit", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "cannot read" in one_error_line(result.stderr)


def polls_that_work(client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each poll of the progress view runs one trial (else finishes a queued retrain job)
    instead of sleeping; returns what each poll did."""
    import hpsearch.progress

    worker, polls = SimulatedWorker(client, "sim-1"), []

    def work(seconds: float) -> None:
        if worker.run_one() is not None:
            polls.append("trial")
        elif finish_retrain(client, tmp_path, test_accuracy=0.9375):
            polls.append("retrain")
        else:
            polls.append("nothing")

    fake_time = types.SimpleNamespace(monotonic=hpsearch.progress.time.monotonic, sleep=work)
    monkeypatch.setattr(hpsearch.progress, "time", fake_time)
    return polls


def test_submit_watch_shows_progress_the_leaderboard_and_the_retrain(
    cli: CliRunner, client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    polls = polls_that_work(client, tmp_path, monkeypatch)
    result = cli.invoke(app, ["submit", str(small_spec(tmp_path)), "--watch"])
    assert result.exit_code == 0, result.output
    assert "done 3" in result.stdout
    assert "leaderboard" in result.stdout
    # It waits for the spec's retrain: the model is there to download when it returns.
    assert polls.count("retrain") == 1
    assert "retraining the best trial" in result.stdout
    assert "retrain: completed" in result.stdout and "0.9375" in result.stdout
    study = client.get_study("digits-cnn")
    assert study.state == "completed"
    assert study.retrain is not None and study.retrain.model is not None
    assert study.best is not None and study.retrain.trial_number == study.best.number
    assert f"(job 1, trial {study.best.number}, " in result.stdout


def test_the_progress_line_says_when_no_worker_is_there(client: Client, tmp_path: Path) -> None:
    study = client.create_study(small_spec(tmp_path))
    assert describe_progress(study).endswith("[running]  waiting for a worker (hpsearch worker)")
    assert client.claim("w1") is not None
    busy = describe_progress(client.get_study(study.study_id))
    assert "running 1" in busy and "waiting" not in busy


def test_submit_watch_without_a_retrain_returns_when_the_trials_end(
    cli: CliRunner, client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    polls = polls_that_work(client, tmp_path, monkeypatch)
    result = cli.invoke(app, ["submit", str(small_spec(tmp_path, retrain=None)), "--watch"])
    assert result.exit_code == 0, result.output
    assert "done 3" in result.stdout and "leaderboard" in result.stdout
    assert "retrain" not in polls and "nothing" not in polls
    assert "retraining" not in result.stdout
    assert client.get_study("digits-cnn").retrain is None


def test_submit_watch_fails_when_no_trial_completed_or_the_retrain_failed(
    cli: CliRunner, client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hpsearch.progress

    def diverge(seconds: float) -> None:  # NaN losses: they never pause the study
        work = client.claim("sim-1")
        if work is not None:
            client.complete(work.work_id, "sim-1", "failed", reason="nan loss")

    fake_time = types.SimpleNamespace(monotonic=hpsearch.progress.time.monotonic, sleep=diverge)
    monkeypatch.setattr(hpsearch.progress, "time", fake_time)
    result = cli.invoke(app, ["submit", str(small_spec(tmp_path, max_trials=6)), "--watch"])
    assert result.exit_code == 1, result.output
    assert one_error_line(result.stderr) == (
        "error: study 1 digits-cnn completed with no completed trial (6 failed); why they"
        " failed: hpsearch trials digits-cnn --state failed"
    )
    assert client.get_study("digits-cnn").retrain is None

    def fail_the_retrain(seconds: float) -> None:
        if SimulatedWorker(client, "sim-2").run_one() is None:
            job = client.claim("sim-2")
            assert job is not None and job.kind == "retrain"
            client.complete(job.work_id, "sim-2", "failed", reason="out of memory")

    fake_time.sleep = fail_the_retrain
    spec_file = small_spec(tmp_path, name="second")
    result = cli.invoke(app, ["submit", str(spec_file), "--watch"])
    assert result.exit_code == 1, result.output
    assert "retrain: failed" in result.stdout and "out of memory" in result.stdout


def test_studies_lists_each_study_with_its_progress(
    cli: CliRunner, client: Client, tmp_path: Path
) -> None:
    client.create_study(small_spec(tmp_path))
    client.create_study(spec(name="second", max_trials=7))
    SimulatedWorker(client, "sim-1").run_one()
    result = cli.invoke(app, ["studies"])
    assert result.exit_code == 0, result.output
    cells = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in result.stdout.splitlines()
        if line.startswith("│")
    ]
    rows = {row[1]: row for row in cells}
    # id, name, state, progress, best, workers; the oldest study is served first.
    assert rows["digits-cnn"][2:4] == ["running", "1/3"]
    assert rows["digits-cnn"][4] not in ("", "-")
    assert rows["second"][2:5] == ["running", "0/7", "-"]


def test_status_by_name_shows_state_counts_and_the_best_trial(
    cli: CliRunner, client: Client, tmp_path: Path
) -> None:
    client.create_study(small_spec(tmp_path, retrain=None))
    SimulatedWorker(client, "sim-1").run_until_idle()
    result = cli.invoke(app, ["status", "digits-cnn"])
    assert result.exit_code == 0, result.output
    best = client.get_study("digits-cnn").best
    assert best is not None
    assert "completed" in result.stdout
    assert "3/3 finished" in result.stdout
    assert f"trial {best.number}: val_accuracy {best.value:.4f}" in result.stdout
    assert "learning_rate=" in result.stdout
    assert "retrain" in result.stdout
    assert "failed 0 workers none best trial" in " ".join(result.stdout.split())
    client.create_study(small_spec(tmp_path, name="second", max_parallel=2))
    waiting = " ".join(cli.invoke(app, ["status", "second"]).stdout.split())
    assert "workers none on its trials now: start one with hpsearch worker" in waiting
    assert client.claim("w1") is not None and client.claim("w2") is not None
    busy = " ".join(cli.invoke(app, ["status", "second"]).stdout.split())
    assert "workers 2 on its trials now (hpsearch workers)" in busy


def test_status_of_an_unknown_study_is_one_line(cli: CliRunner) -> None:
    result = cli.invoke(app, ["status", "no-such-study"])
    assert result.exit_code == 1
    assert one_error_line(result.stderr) == "error: 404: there is no study named 'no-such-study'"


def test_pause_resume_and_stop_change_the_state(
    cli: CliRunner, client: Client, tmp_path: Path
) -> None:
    study = client.create_study(small_spec(tmp_path))
    for command, state in (("pause", "paused"), ("resume", "running"), ("stop", "stopped")):
        result = cli.invoke(app, [command, str(study.study_id)])
        assert result.exit_code == 0, result.output
        assert f"is {state}" in result.stdout
        assert client.get_study(study.study_id).state == state


def test_set_raises_the_budget_of_an_ended_study_which_then_resumes(
    cli: CliRunner, client: Client, tmp_path: Path
) -> None:
    study = client.create_study(small_spec(tmp_path, retrain=None))
    SimulatedWorker(client, "sim-1").run_until_idle()
    assert client.get_study(study.study_id).state == "completed"
    result = cli.invoke(app, ["set", "digits-cnn", "--max-trials", "5", "--priority", "3"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "study 1 digits-cnn: max_trials 5, priority 3; completed",
        "to run the 2 more: hpsearch resume digits-cnn",
    ]
    assert cli.invoke(app, ["resume", "digits-cnn"]).exit_code == 0
    assert SimulatedWorker(client, "sim-1").run_until_idle() == 2
    ended = client.get_study(study.study_id)
    assert ended.state == "completed" and ended.finished == 5 and ended.priority == 3


def test_set_without_a_change_or_with_a_bad_value_is_one_line(
    cli: CliRunner, client: Client, tmp_path: Path
) -> None:
    client.create_study(small_spec(tmp_path))
    nothing = cli.invoke(app, ["set", "digits-cnn"])
    assert nothing.exit_code == 2
    assert "nothing to change" in one_error_line(nothing.stderr)
    too_many = cli.invoke(app, ["set", "digits-cnn", "--max-trials", "1000000"])
    assert too_many.exit_code == 1
    assert "max_trials" in one_error_line(too_many.stderr)
    assert client.get_study("digits-cnn").max_trials == 3


def test_workers_lists_each_slot_with_what_it_is_doing(
    cli: CliRunner, client: Client, tmp_path: Path
) -> None:
    assert cli.invoke(app, ["workers"]).stdout.strip() == (
        "no worker has contacted this controller yet"
    )
    client.create_study(small_spec(tmp_path))
    SimulatedWorker(client, "sim-done").run_one()
    busy = client.claim("sim-busy", hostname="node7", device="GPU:0 (tensorflow)")
    assert busy is not None
    result = cli.invoke(app, ["workers"])
    assert result.exit_code == 0, result.output
    rows = {
        cells[0]: cells
        for line in result.stdout.splitlines()
        if line.startswith("│ ")
        for cells in [[c.strip() for c in line.split("│")[1:-1]]]
    }
    assert rows["sim-busy"][1:3] == ["node7", "GPU:0 (tensorflow)"]
    assert rows["sim-busy"][4].startswith(f"study 1 trial {busy.trial_number} (lease ")
    assert rows["sim-done"][4] == "idle" and rows["sim-done"][3].endswith("s ago")


def test_pausing_a_stopped_study_is_a_conflict_line(
    cli: CliRunner, client: Client, tmp_path: Path
) -> None:
    study = client.create_study(small_spec(tmp_path))
    client.stop(study.study_id)
    result = cli.invoke(app, ["pause", "digits-cnn"])
    assert result.exit_code == 1
    assert one_error_line(result.stderr).startswith("error: 409: only a running study")


def test_delete_asks_first_and_yes_skips_the_question(
    cli: CliRunner, client: Client, tmp_path: Path
) -> None:
    client.create_study(small_spec(tmp_path))
    refused = cli.invoke(app, ["delete", "digits-cnn"], input="n\n")
    assert refused.exit_code != 0
    assert len(client.list_studies()) == 1
    result = cli.invoke(app, ["delete", "digits-cnn", "--yes"])
    assert result.exit_code == 0, result.output
    assert client.list_studies() == []


@pytest.mark.parametrize(
    "args",
    [["studies"], ["submit", "SPEC"], ["status", "digits-cnn"], ["leaderboard", "1", "--json"]],
)
def test_an_unreachable_controller_is_one_clear_line(tmp_path: Path, args: list[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    args = [str(small_spec(tmp_path)) if arg == "SPEC" else arg for arg in args]
    result = runner.invoke(app, args, env={"HPSEARCH_URL": url})
    assert result.exit_code == 1
    line = one_error_line(result.stderr)
    assert line.startswith(f"error: cannot reach {url}")
    assert "Traceback" not in result.output


def test_connect_carries_the_controller_and_the_token() -> None:
    client = connection.connect("http://example.test:9000/", "hps_secret")
    try:
        assert client.url == "http://example.test:9000"
        assert client.token == "hps_secret"
    finally:
        client.close()


def test_controller_and_token_options_and_envvars_reach_the_client(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str | None]] = []

    def connect(controller: str, token: str | None) -> Client:
        seen.append((controller, token))
        return client

    monkeypatch.setattr(connection, "connect", connect)
    flags = ["studies", "--controller", "http://elsewhere:1", "--token", "hps_flag"]
    assert runner.invoke(app, flags).exit_code == 0
    env = {"HPSEARCH_URL": "http://from-env:2", "HPSEARCH_TOKEN": "hps_env"}
    assert runner.invoke(app, ["pause", "1"], env=env).exit_code == 1  # no study 1
    assert seen == [("http://elsewhere:1", "hps_flag"), ("http://from-env:2", "hps_env")]


def test_submit_watch_ends_with_the_reason_when_the_trials_keep_failing(
    cli: CliRunner, client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hpsearch.progress

    def fail_one(seconds: float) -> None:
        work = client.claim("sim-1")
        assert work is not None, "the study was not paused after its streak"
        client.complete(work.work_id, "sim-1", "failed", reason="dataset error: no such file")

    fake_time = types.SimpleNamespace(monotonic=hpsearch.progress.time.monotonic, sleep=fail_one)
    monkeypatch.setattr(hpsearch.progress, "time", fake_time)
    result = cli.invoke(app, ["submit", str(small_spec(tmp_path, max_trials=20)), "--watch"])
    assert result.exit_code == 1, result.output
    line = one_error_line(result.stderr)
    assert "paused after 5 failed trials in a row; the last: dataset error: no such file" in line
    assert line.endswith("hpsearch resume digits-cnn")
    status = cli.invoke(app, ["status", "digits-cnn"])
    assert "paused (5 failed trials in a row; the last: dataset error" in status.stdout
    assert "paused: trials failing" in cli.invoke(app, ["studies"]).stdout
