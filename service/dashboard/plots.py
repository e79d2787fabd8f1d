"""The study page's plots: Optuna's own visualizations, as Plotly figures in JSON.

Each plot is drawn from an in-memory snapshot of the study's latest trials, capped per
plot, so a study of 100,000 trials draws as fast as one of a few hundred and the plots
never query the database again. A plot Optuna cannot draw yet becomes a short note.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import optuna
from optuna import visualization
from optuna.storages import InMemoryStorage
from optuna.trial import FrozenTrial, TrialState
from plotly.graph_objects import Figure

__all__ = ["MAX_CURVES", "MAX_IMPORTANCE_TRIALS", "MAX_POINTS", "Plot", "study_plots"]

log = logging.getLogger(__name__)

MAX_POINTS = 1000  # history and EDF: one point per completed trial
MAX_CURVES = 200  # parallel coordinates and learning curves: one line per trial
MAX_IMPORTANCE_TRIALS = 500
_SHOWN = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
Target = Callable[[FrozenTrial], float] | None


@dataclass(frozen=True)
class Plot:
    """One plot: its figure as Plotly JSON, or None with a note saying why not yet."""

    key: str
    title: str
    figure: str | None
    note: str | None = None


@dataclass(frozen=True)
class _Objective:
    """What the plots draw: the objective (None) or, for several, the first one (`target`);
    `loss` is that same value turned so lower is better, as importance evaluators expect."""

    target: Target
    loss: Target
    name: str


@dataclass(frozen=True)
class _Kind:
    key: str
    title: str
    draw: Callable[[optuna.Study, _Objective], Figure]
    pick: Callable[[FrozenTrial], bool]
    cap: int
    minimum: int
    needs: str


def _completed(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.COMPLETE


def _has_curve(trial: FrozenTrial) -> bool:
    return bool(trial.intermediate_values)


KINDS = (
    _Kind(
        "history", "Optimization history",
        lambda s, o: visualization.plot_optimization_history(
            s, target=o.target, target_name=o.name),
        _completed, MAX_POINTS, 1, "a completed trial",
    ),
    _Kind(
        "intermediate", "Learning curves",
        lambda s, o: visualization.plot_intermediate_values(s),
        _has_curve, MAX_CURVES, 1, "a reported epoch",
    ),
    _Kind(
        "parallel", "Parallel coordinates",
        lambda s, o: visualization.plot_parallel_coordinate(
            s, target=o.target, target_name=o.name),
        _completed, MAX_CURVES, 1, "a completed trial",
    ),
    _Kind(
        "importance", "Hyperparameter importance",
        lambda s, o: visualization.plot_param_importances(
            s, target=o.loss, target_name=o.name),
        _completed, MAX_IMPORTANCE_TRIALS, 2, "two completed trials",
    ),
    _Kind(
        "edf", "Empirical distribution of the objective",
        lambda s, o: visualization.plot_edf(s, target=o.target, target_name=o.name),
        _completed, MAX_POINTS, 1, "a completed trial",
    ),
)  # fmt: skip


def study_plots(study: optuna.Study, metrics: list[str], label: str) -> list[Plot]:
    """Every plot of KINDS for `study`, whose objectives are `metrics` (the first is drawn);
    `label` names the study in legends."""
    trials = study.get_trials(deepcopy=False, states=_SHOWN)
    objective = _objective(study, metrics)
    snapshots: dict[tuple[int, ...], optuna.Study] = {}
    plots = []
    for kind in KINDS:
        chosen = [t for t in trials if kind.pick(t)]
        if len(chosen) < kind.minimum:
            plots.append(
                Plot(kind.key, kind.title, None, f"Not enough data yet: needs {kind.needs}.")
            )
            continue
        latest = chosen[-kind.cap :]
        numbers = tuple(t.number for t in latest)
        if numbers not in snapshots:
            snapshots[numbers] = _snapshot(study.directions, latest, label)
        plots.append(_draw(kind, snapshots[numbers], objective, len(chosen)))
    return plots


def _objective(study: optuna.Study, metrics: list[str]) -> _Objective:
    if len(metrics) == 1:
        return _Objective(None, None, metrics[0])
    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
    return _Objective(
        lambda trial: trial.values[0],
        lambda trial: sign * trial.values[0],
        f"{metrics[0]} (first objective)",
    )


def _snapshot(
    directions: list[optuna.study.StudyDirection], trials: list[FrozenTrial], label: str
) -> optuna.Study:
    copy = optuna.create_study(
        storage=InMemoryStorage(),
        study_name=label,
        directions=list(directions),
        sampler=optuna.samplers.RandomSampler(),
    )
    copy.add_trials(trials)
    return copy


def _draw(kind: _Kind, snapshot: optuna.Study, objective: _Objective, total: int) -> Plot:
    try:
        figure = kind.draw(snapshot, objective)
    except (ValueError, RuntimeError, ZeroDivisionError) as exc:
        log.debug("plot %s not drawn: %s", kind.key, exc)
        return Plot(kind.key, kind.title, None, "Optuna cannot draw this plot yet.")
    if not figure.data:
        return Plot(kind.key, kind.title, None, "Not enough data yet.")
    figure.update_layout(title_text=None, height=360, margin={"l": 60, "r": 20, "t": 30, "b": 50})
    note = f"The latest {kind.cap} of {total} trials." if total > kind.cap else None
    return Plot(kind.key, kind.title, figure.to_json(), note)
