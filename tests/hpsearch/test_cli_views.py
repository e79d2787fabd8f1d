"""Tests for hpsearch/cli/views.py: the tables and lines the commands and the demo print."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from hpsearch.cli.views import accuracy_summary, leaderboard_table
from hpsearch.objects import Retrain, Trial


def trial(number: int, value: float, **params: Any) -> Trial:
    return Trial(
        trial_id=100 + number, number=number, state="completed", params=params, value=value,
        values=[value], metrics=None, epochs=10, best_epoch=9, worker_id=f"w{number}",
        duration_s=3.25, reason=None,
    )  # fmt: skip


def rendered(table: Any) -> str:
    console = Console(width=200, record=True)
    console.print(table)
    return console.export_text()


def test_leaderboard_has_a_column_per_param_and_a_dash_where_one_is_missing() -> None:
    text = rendered(
        leaderboard_table([trial(3, 0.98, filters=64, lr=0.00123456), trial(1, 0.9, filters=32)])
    )
    header = next(line for line in text.splitlines() if "rank" in line)
    assert [cell.strip() for cell in header.split("┃")[1:-1]] == [
        "rank", "trial", "value", "filters", "lr", "epochs", "duration", "worker",
    ]  # fmt: skip
    rows = [line for line in text.splitlines() if line.startswith("│")]
    assert [cell.strip() for cell in rows[0].split("│")[1:-1]] == [
        "1", "3", "0.9800", "64", "0.001235", "10", "3.2s", "w3",
    ]  # fmt: skip
    assert [cell.strip() for cell in rows[1].split("│")[1:-1]][4] == "-"


def test_accuracy_summary_gives_mean_and_std_over_several_seeds() -> None:
    one = Retrain(job_id=1, state="completed", trial_id=5, epochs=20, seeds=1, attempt=1,
                  test_metrics={"test_accuracy": 0.97})  # fmt: skip
    assert accuracy_summary(one) == "test accuracy 0.9700"
    three = Retrain(
        job_id=2, state="completed", trial_id=5, epochs=20, seeds=3, attempt=1,
        test_metrics={"test_accuracy": 0.98, "test_accuracy_mean": 0.975,
                      "test_accuracy_std": 0.004},
    )  # fmt: skip
    assert accuracy_summary(three) == "test accuracy 0.9800 (mean 0.9750 ± 0.0040 over 3 seeds)"
    queued = Retrain(job_id=3, state="queued", trial_id=5, epochs=20, seeds=1, attempt=0)
    assert accuracy_summary(queued) is None
