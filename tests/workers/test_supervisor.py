"""The supervisor's process management, with a stand-in slot command instead of Keras."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from workers.slot import recycled
from workers.supervisor import RECYCLE_EXIT, UNFIT_EXIT, Supervisor, plan_slots

# A stand-in slot: logs its arguments, then exits as a real slot would after its share of work:
# RECYCLE_EXIT while its --max-trials budget exceeds --recycle-after, else 0.
FAKE_SLOT = f"""
import sys
args = sys.argv[1:]
value = lambda flag: int(args[args.index(flag) + 1]) if flag in args else None
with open(sys.argv[1], "a") as log:
    log.write(" ".join(args[1:]) + "\\n")
budget, period = value("--max-trials"), value("--recycle-after")
sys.exit({RECYCLE_EXIT} if period and (budget is None or budget > period) else 0)
"""


# A stand-in slot that always ends with the exit code its first argument names.
EXITING_SLOT = """
import sys
with open(sys.argv[2], "a") as log:
    log.write(" ".join(sys.argv[3:]) + "\\n")
sys.exit(int(sys.argv[1]))
"""


def supervise(
    tmp_path: Path,
    source: str,
    arguments: list[str],
    gpus: list[str] | None = None,
    **options: int | None,
) -> tuple[int, list[str]]:
    """Run a supervisor over a stand-in slot; its exit code and the slot's starts, in order."""
    log = tmp_path / "starts.log"
    script = tmp_path / "fake_slot.py"
    script.write_text(source)
    plans = plan_slots("t", gpus, 1, cpu_count=1)
    supervisor = Supervisor(plans, "http://127.0.0.1:1", None,
                            command=[sys.executable, str(script), *arguments, str(log)],
                            **options)  # fmt: skip
    code = supervisor.run()
    return code, log.read_text().splitlines()


def run_supervisor(tmp_path: Path, **options: int | None) -> list[str]:
    code, starts = supervise(tmp_path, FAKE_SLOT, [], **options)
    assert code == 0
    return starts


def test_a_slot_is_recycled_until_its_budget_is_spent(tmp_path: Path) -> None:
    starts = run_supervisor(tmp_path, max_trials=10, recycle_after=4)
    budgets = [line.split("--max-trials ")[1].split()[0] for line in starts]
    assert budgets == ["10", "6", "2"]


def test_recycling_is_not_counted_as_crashes(tmp_path: Path) -> None:
    # More recycles than the crash budget allows restarts: all of them still happen.
    starts = run_supervisor(tmp_path, max_trials=8, recycle_after=1)
    assert len(starts) == 8


def test_without_recycling_a_slot_runs_once(tmp_path: Path) -> None:
    starts = run_supervisor(tmp_path, max_trials=5, recycle_after=None)
    assert len(starts) == 1
    assert "--recycle-after" not in starts[0]


@pytest.mark.parametrize(
    ("done", "max_trials", "recycle_after", "expected"),
    [(20, None, 20, True), (20, 50, 20, True), (20, 20, 20, False), (3, None, 20, False),
     (5, None, None, False)],
)  # fmt: skip
def test_a_slot_asks_to_be_recycled_only_with_work_left(
    done: int, max_trials: int | None, recycle_after: int | None, expected: bool
) -> None:
    assert recycled(done, max_trials, recycle_after) is expected


def test_a_slot_without_its_gpu_is_not_started_again(tmp_path: Path) -> None:
    code, starts = supervise(tmp_path, EXITING_SLOT, [str(UNFIT_EXIT)], gpus=["3"])
    assert code == 1
    assert len(starts) == 1
    assert "--gpu 3" in starts[0]


def test_a_slot_that_keeps_dying_is_given_up_on_with_exit_1(tmp_path: Path) -> None:
    code, starts = supervise(tmp_path, EXITING_SLOT, ["1"])
    assert code == 1
    assert len(starts) == 5  # RESTARTS_PER_WINDOW
    assert "--gpu" not in starts[0]
