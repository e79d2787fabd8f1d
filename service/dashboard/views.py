"""What each dashboard page shows, assembled from the JSON API's own use cases and views
(`list_studies`, `study_summaries`, `visible_study`, `study_public`, `leaderboard_rows`,
`trials_public`, `list_workers`): the pages and the API never disagree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.auth import Principal
from service.context import Context
from service.dashboard.plots import Plot, study_plots
from service.fleet import list_workers
from service.leaderboard import leaderboard_rows
from service.leases import db_time
from service.schemas.studies import StudyPublic, StudySummary, TrialPublic
from service.studies import list_studies, visible_study
from service.study_views import study_public, study_summaries, trials_public

__all__ = [
    "LEADERBOARD_LIMIT",
    "LIVE_STATES",
    "MetricRow",
    "StudyPage",
    "list_study_summaries",
    "list_worker_views",
    "metric_rows",
    "study_page",
]

LEADERBOARD_LIMIT = 100
LIVE_STATES = ("running", "paused")
_SUFFIXES = ("_mean", "_std")


@dataclass(frozen=True)
class MetricRow:
    """A test metric of the retrained model: the kept run's value, and over the seeds."""

    name: str
    value: Any
    mean: Any = None
    std: Any = None


@dataclass(frozen=True)
class StudyPage:
    study: StudyPublic
    leaderboard: list[TrialPublic]
    plots: list[Plot]
    metrics: list[str]
    directions: list[str]

    @property
    def live(self) -> bool:
        """Whether the page should keep itself fresh (the study may still change)."""
        return self.study.state in LIVE_STATES

    @property
    def finished(self) -> int:
        counts = self.study.counts
        return counts.get("completed", 0) + counts.get("pruned", 0) + counts.get("failed", 0)

    @property
    def test_metrics(self) -> list[MetricRow]:
        retrain = self.study.retrain
        return metric_rows(retrain.test_metrics or {}) if retrain else []


def list_study_summaries(ctx: Context, principal: Principal) -> list[StudySummary]:
    with ctx.sessions() as session:
        return study_summaries(session, list_studies(session, principal), db_time(session))


def study_page(ctx: Context, principal: Principal, study_id: int) -> StudyPage:
    """The study, its leaderboard and its plots (drawn after the session is closed)."""
    with ctx.sessions() as session:
        study = visible_study(session, principal, study_id)
        public = study_public(session, study, db_time(session))
        board = leaderboard_rows(session, study, LEADERBOARD_LIMIT)
        leaderboard = trials_public(session, study, board)
        optuna_name, spec_data = study.optuna_name, study.spec
    spec = ctx.optuna.spec(optuna_name, spec_data)
    metrics = [o.metric for o in spec.objectives]
    plots = study_plots(ctx.optuna.study(optuna_name, spec_data), metrics, public.name)
    return StudyPage(public, leaderboard, plots, metrics, spec.directions)


def list_worker_views(ctx: Context) -> list[dict[str, Any]]:
    with ctx.sessions() as session:
        return list_workers(session, db_time(session))


def metric_rows(test_metrics: dict[str, Any]) -> list[MetricRow]:
    """`test_accuracy`, `test_accuracy_mean`, `test_accuracy_std`, ... as one row each."""
    names: list[str] = []
    for key in test_metrics:
        base = next((key.removesuffix(s) for s in _SUFFIXES if key.endswith(s)), key)
        if base != "seed" and base not in names:
            names.append(base)
    return [
        MetricRow(
            name,
            test_metrics.get(name),
            test_metrics.get(f"{name}_mean"),
            test_metrics.get(f"{name}_std"),
        )
        for name in names
    ]
