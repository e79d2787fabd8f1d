"""Tests for hpsearch/cli/results.py: leaderboard, trials, retrain, download, run with typer's
CliRunner against the in-process controller."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpsearch import Client
from hpsearch.cli import app, connection
from hpsearch.objects import Study
from tests.support.simulated_workers import MODEL_BYTES, SimulatedWorker, finish_retrain
from tests.support.specs import spec

runner = CliRunner()


@pytest.fixture
def cli(client: Client, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The CLI, talking to the in-process app through `client`."""
    monkeypatch.setattr(connection, "connect", lambda controller, token: client)
    return runner


def finished_study(client: Client, **overrides: object) -> Study:
    """A 4-trial study that a simulated worker has run to its end."""
    fields: dict[str, object] = {
        "max_trials": 4,
        "max_parallel": 1,
        "pruner": "none",
        "sampler": "random",
        "training": {"epochs": 3, "batch_size": 64},
    }
    study = client.create_study(spec(**{**fields, **overrides}))
    SimulatedWorker(client, "sim-1").run_until_idle()
    return client.get_study(study.study_id)


def retrained_study(client: Client, tmp_path: Path) -> Study:
    """A finished study whose queued retrain a fake worker has completed with a model."""
    study = finished_study(client)
    assert finish_retrain(client, tmp_path)
    return client.get_study(study.study_id)


def test_leaderboard_table_ranks_the_trials_with_their_params(
    cli: CliRunner, client: Client
) -> None:
    finished_study(client)
    result = cli.invoke(app, ["leaderboard", "digits-cnn", "--limit", "3"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if line.startswith("│ ")]
    ranks = [line.split("│")[1].strip() for line in rows if line.split("│")[1].strip()]
    assert ranks == ["1", "2", "3"]
    assert "rank" in result.stdout
    assert "sim-1" in result.stdout


def test_leaderboard_json_is_the_apis_list_best_first(cli: CliRunner, client: Client) -> None:
    study = finished_study(client)
    result = cli.invoke(app, ["leaderboard", str(study.study_id), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 4
    values = [row["value"] for row in rows]
    assert values == sorted(values, reverse=True)
    assert {"trial_id", "number", "params", "value", "worker_id"} <= set(rows[0])
    assert rows[0]["trial_id"] == study.best.trial_id if study.best else False


def test_trials_filters_by_state_and_prints_json(cli: CliRunner, client: Client) -> None:
    finished_study(client)
    result = cli.invoke(app, ["trials", "digits-cnn", "--state", "completed", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["number"] for row in rows] == [0, 1, 2, 3]
    assert {row["state"] for row in rows} == {"completed"}
    table = cli.invoke(app, ["trials", "digits-cnn"])
    assert table.exit_code == 0, table.output
    assert table.stdout.count("completed") == 4


def test_retrain_queues_a_job_with_the_asked_epochs(cli: CliRunner, client: Client) -> None:
    study = finished_study(client, retrain=None)
    assert study.retrain is None
    result = cli.invoke(app, ["retrain", "digits-cnn", "--epochs", "5", "--seeds", "2"])
    assert result.exit_code == 0, result.output
    assert "retrain queued" in result.stdout
    queued = client.get_study(study.study_id).retrain
    assert queued is not None
    assert (queued.state, queued.epochs, queued.seeds) == ("queued", 5, 2)
    assert study.best is not None and queued.trial_id == study.best.trial_id


def test_retrain_of_a_chosen_trial_number(cli: CliRunner, client: Client) -> None:
    study = finished_study(client, retrain=None)
    chosen = next(t for t in client.trials(study.study_id) if t.number == 2)
    result = cli.invoke(app, ["retrain", "digits-cnn", "--trial", "2"])
    assert result.exit_code == 0, result.output
    queued = client.get_study(study.study_id).retrain
    assert queued is not None and queued.trial_id == chosen.trial_id


def test_retrain_while_one_is_queued_is_a_conflict_line(cli: CliRunner, client: Client) -> None:
    finished_study(client)  # its spec queues a retrain when it ends
    result = cli.invoke(app, ["retrain", "digits-cnn"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: 409: retrain job")


def test_download_writes_the_model_and_prints_its_sha256(
    cli: CliRunner, client: Client, tmp_path: Path
) -> None:
    retrained_study(client, tmp_path)
    target = tmp_path / "best.keras"
    result = cli.invoke(app, ["download", "digits-cnn", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == MODEL_BYTES
    assert hashlib.sha256(MODEL_BYTES).hexdigest() in result.stdout
    assert f"{len(MODEL_BYTES):,} bytes" in result.stdout


def test_download_names_the_file_after_the_study_by_default(
    cli: CliRunner, client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    retrained_study(client, tmp_path)
    monkeypatch.chdir(tmp_path)
    result = cli.invoke(app, ["download", "digits-cnn"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "digits-cnn.keras").read_bytes() == MODEL_BYTES


def test_status_shows_the_retrains_test_accuracy(
    cli: CliRunner, client: Client, tmp_path: Path
) -> None:
    retrained_study(client, tmp_path)
    result = cli.invoke(app, ["status", "digits-cnn"])
    assert result.exit_code == 0, result.output
    assert "completed" in result.stdout
    assert "test accuracy 0.9000" in result.stdout


def test_download_before_any_retrain_is_one_line(cli: CliRunner, client: Client) -> None:
    finished_study(client, retrain=None)
    result = cli.invoke(app, ["download", "digits-cnn", "-o", "unused.keras"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: 404")


def test_with_several_objectives_each_gets_its_column_and_status_names_them(
    cli: CliRunner, client: Client
) -> None:
    objective = [{"metric": "val_accuracy"}, {"metric": "val_loss"}]
    client.create_study(spec(name="two", objective=objective, pruner="none", sampler="random",
                             max_trials=3, max_parallel=1, retrain=None))  # fmt: skip
    scores = [(0.90, 0.30), (0.80, 0.20), (0.70, 0.50)]  # the third is dominated
    for accuracy, loss in scores:
        work = client.claim("w1")
        assert work is not None
        metrics = {"val_accuracy": accuracy, "val_loss": loss}
        client.complete(work.work_id, "w1", "completed", metrics=metrics)
    board = cli.invoke(app, ["leaderboard", "two"])
    assert board.exit_code == 0, board.output
    header = next(line for line in board.stdout.splitlines() if "rank" in line)
    assert [c.strip() for c in header.split("┃")[1:5]] == [
        "rank",
        "trial",
        "val_accuracy",
        "val_loss",
    ]
    rows = [[c.strip() for c in line.split("│")[1:5]] for line in board.stdout.splitlines()
            if line.startswith("│ ")]  # fmt: skip
    assert rows == [["1", "0", "0.9000", "0.3000"], ["2", "1", "0.8000", "0.2000"]]
    listed = cli.invoke(app, ["trials", "two"])
    assert "val_loss" in listed.stdout and "0.5000" in listed.stdout
    status = " ".join(cli.invoke(app, ["status", "two"]).stdout.split())  # unwrapped
    assert (
        "best trial 0 (the first of the Pareto front): val_accuracy 0.9000 (maximize), "
        "val_loss 0.3000 (minimize)"
    ) in status
