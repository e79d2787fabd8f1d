"""A study whose trials keep failing is paused, with the reason, instead of spending its
budget on failures (KerasTuner stops after `max_consecutive_failed_trials`)."""

from __future__ import annotations

from fastapi import FastAPI

from hpsearch import Client
from hpsearch.objects import Study
from tests.support.specs import spec

MISSING = "dataset error: dataset 'npz:/data/x.npz': file not found: /data/x.npz"


def small_study(client: Client, **overrides: object) -> Study:
    fields: dict[str, object] = {
        "max_trials": 20, "max_parallel": 1, "pruner": "none", "sampler": "random",
        "retrain": None, **overrides,
    }  # fmt: skip
    return client.create_study(spec(**fields))


def finish(client: Client, status: str, reason: str | None = None, retryable: bool = False) -> None:
    """Claim the next trial and end it at once."""
    work = client.claim("w1")
    assert work is not None
    if status == "failed":
        client.complete(work.work_id, "w1", "failed", reason=reason, retryable=retryable)
    else:
        client.complete(work.work_id, "w1", "completed", metrics={"val_accuracy": 0.9})


def test_five_failed_trials_in_a_row_pause_the_study_saying_why(client: Client) -> None:
    study = small_study(client)
    for _ in range(4):
        finish(client, "failed", MISSING)
    assert client.get_study(study.study_id).state == "running"
    finish(client, "failed", MISSING)
    paused = client.get_study(study.study_id)
    assert paused.state == "paused" and paused.halted
    assert paused.state_reason == f"5 failed trials in a row; the last: {MISSING}"
    assert paused.counts["failed"] == 5
    assert client.claim("w1") is None  # the other 15 trials of the budget are kept
    resumed = client.resume(study.study_id)
    assert resumed.state == "running" and resumed.state_reason is None and not resumed.halted
    finish(client, "completed")
    assert client.get_study(study.study_id).counts["completed"] == 1


def test_failures_between_successes_do_not_pause(client: Client) -> None:
    study = small_study(client)
    for status in ["failed"] * 4 + ["completed"] + ["failed"] * 4:
        finish(client, status, MISSING)
    assert client.get_study(study.study_id).state == "running"


def test_stopped_workers_expired_leases_and_nan_losses_neither_count_nor_break_a_streak(
    client: Client,
) -> None:
    study = small_study(client)
    for reason in [MISSING] * 3 + ["worker stopped", "lease expired", "nan loss"] + [MISSING]:
        finish(client, "failed", reason, retryable=True)
    assert client.get_study(study.study_id).state == "running"  # four of the trial's own
    finish(client, "failed", MISSING, retryable=True)
    paused = client.get_study(study.study_id)
    assert paused.halted
    # Retries count as trials of the streak; the retried params wait, queued, for the resume.
    assert paused.counts["queued"] == 1


def test_diverging_trials_alone_never_pause_but_running_out_of_memory_does(
    client: Client,
) -> None:
    study = small_study(client)
    for _ in range(6):
        finish(client, "failed", "nan loss")
    assert client.get_study(study.study_id).state == "running"
    for _ in range(5):
        finish(client, "failed", "out of memory")
    paused = client.get_study(study.study_id)
    assert paused.state_reason == "5 failed trials in a row; the last: out of memory"


def test_a_streak_that_spends_the_budget_completes_the_study(client: Client) -> None:
    study = small_study(client, max_trials=5)
    for _ in range(5):
        finish(client, "failed", MISSING)
    ended = client.get_study(study.study_id)
    assert ended.state == "completed" and ended.state_reason is None


def test_a_user_pause_has_no_reason_and_the_streak_can_be_turned_off(
    app: FastAPI, client: Client
) -> None:
    app.state.ctx.settings = app.state.ctx.settings.model_copy(update={"failure_streak": 0})
    study = small_study(client)
    for _ in range(7):
        finish(client, "failed", MISSING)
    assert client.get_study(study.study_id).state == "running"
    paused = client.pause(study.study_id)
    assert paused.state == "paused" and paused.state_reason is None and not paused.halted
