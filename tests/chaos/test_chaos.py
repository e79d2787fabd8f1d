"""R2 in the suite: SIGKILL simulated workers at random, SIGKILL and restart the controller,
restart PostgreSQL — the study completes by itself and every trial is accounted for.

Restarts the machine's PostgreSQL server: it runs alone (pytest runs tests one at a time).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos_r2 import run

pytestmark = [pytest.mark.chaos, pytest.mark.postgres]


def test_the_study_survives_killed_workers_a_killed_controller_and_a_database_restart(
    tmp_path: Path,
) -> None:
    result, events, _ = run(tmp_path, trials=60, fleets=3, per_fleet=3, timeout=600)
    assert "SIGKILL controller" in events and "controller restarted" in events
    assert any(e.startswith("PostgreSQL") for e in events)
    assert any(e.startswith("SIGKILL fleet") for e in events)
    assert result.study_state == "completed"
    assert result.by_state["completed"] == 60
    assert result.double_leases == [] and result.lost == [] and result.double_accepts == []
    assert result.optuna_unfinished == 0 and result.optuna_orphans == 0
    # A fleet killed between a complete's answer and its ledger line loses only that line.
    assert result.ledger_entries >= 50
