"""Study use cases: create, look up (owner-scoped), change, delete."""

from __future__ import annotations

import logging
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from search_spaces import SpecError, StudySpec, check_model_size
from service.artifacts import ArtifactStore
from service.auth import Principal
from service.context import Context
from service.errors import Conflict, Invalid, NotFound
from service.leases import db_time
from service.locking import lock_study
from service.optuna_bridge import check_strategies
from service.prefetch import release_ready
from service.schemas.studies import StudyUpdate
from service.tables import StudyRow

__all__ = ["change_study", "create_study", "delete_study", "list_studies", "visible_study"]

log = logging.getLogger(__name__)


def _check_spec(ctx: Context, spec: StudySpec) -> None:
    """Refuse, before anything is built, what validation alone cannot see."""
    try:
        check_strategies(spec)
        known = spec.known_shape()
        if known is not None and spec.model_plan.kind != "hypermodel":
            shape, classes = known
            check_model_size(
                spec.model_plan, spec.space, shape, classes, ctx.settings.max_model_weights
            )
    except SpecError as exc:
        raise Invalid.from_spec(exc, ("body",)) from None


def create_study(ctx: Context, principal: Principal, spec: StudySpec) -> StudyRow:
    _check_spec(ctx, spec)
    optuna_name = f"{principal.owner}/{spec.name}/{secrets.token_hex(4)}"
    with ctx.serialized():
        try:
            with ctx.transaction() as session:
                _refuse_duplicate(session, principal.owner, spec.name)
                optuna_id = ctx.optuna.create(optuna_name, spec)
                row = _new_row(session, principal.owner, spec, optuna_name, optuna_id)
        except IntegrityError:
            ctx.optuna.delete(optuna_name)
            raise Conflict(f"a study named {spec.name!r} already exists") from None
        except BaseException:
            if "row" not in locals():
                ctx.optuna.delete(optuna_name)
            raise
    log.info("study %s (%s) created by %s", row.study_id, spec.name, principal.name)
    return row


def _refuse_duplicate(session: Session, owner: str, name: str) -> None:
    existing = session.scalar(
        select(StudyRow.study_id).where(StudyRow.owner == owner, StudyRow.name == name)
    )
    if existing is not None:
        raise Conflict(f"a study named {name!r} already exists (study {existing})")


def _new_row(
    session: Session, owner: str, spec: StudySpec, optuna_name: str, optuna_id: int
) -> StudyRow:
    now = db_time(session)
    row = StudyRow(
        name=spec.name,
        owner=owner,
        state="running",
        priority=spec.priority,
        fleet=spec.fleet,
        max_trials=spec.trial_budget,
        max_parallel=spec.max_parallel,
        spec=spec.model_dump(mode="json"),
        optuna_name=optuna_name,
        optuna_study_id=optuna_id,
        trials_used=0,
        trials_queued=0,
        trials_ready=0,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def visible_study(session: Session, principal: Principal, study_id: int) -> StudyRow:
    """The study if the caller may see it; another owner's study is a 404, like a missing one."""
    row = session.get(StudyRow, study_id)
    if row is None or not principal.owns(row.owner):
        raise NotFound(f"there is no study {study_id}")
    return row


def list_studies(session: Session, principal: Principal) -> list[StudyRow]:
    statement = select(StudyRow).order_by(StudyRow.created_at.desc(), StudyRow.study_id.desc())
    if not principal.is_admin:
        statement = statement.where(StudyRow.owner == principal.owner)
    return list(session.scalars(statement))


def change_study(
    ctx: Context, principal: Principal, study_id: int, update: StudyUpdate
) -> StudyRow:
    """Change state, priority or budget. Everything is checked before anything is written:
    on SQLite no write of ours may come before Optuna's (a stop fails ready trials there)."""
    with ctx.serialized(), ctx.transaction() as session:
        visible_study(session, principal, study_id)
        study = lock_study(ctx, session, study_id)
        now = db_time(session)
        max_trials = update.max_trials if update.max_trials is not None else study.max_trials
        if update.state is not None:
            _check_transition(study, update.state, max_trials)
        if update.state == "stopped" or update.max_trials is not None:
            release_ready(ctx, session, study)
        for name in ("priority", "max_trials", "max_parallel"):
            value = getattr(update, name)
            if value is not None:
                setattr(study, name, value)
        if update.state is not None and update.state != study.state:
            study.state, study.state_reason = update.state, None
            study.ended_at = now if update.state == "stopped" else None
        study.updated_at = now
    return study


def _check_transition(study: StudyRow, target: str, max_trials: int) -> None:
    current = study.state
    if target == current:
        return
    if target == "paused" and current != "running":
        raise Conflict(f"only a running study can be paused; study {study.study_id} is {current}")
    if target == "stopped" and current not in ("running", "paused"):
        raise Conflict(f"study {study.study_id} is {current}; there is nothing to stop")
    waiting = study.trials_queued or study.trials_ready
    if target == "running" and study.trials_used >= max_trials and not waiting:
        raise Conflict(
            f"study {study.study_id} has spent its budget of {max_trials} trials;"
            " raise max_trials to resume it"
        )


def delete_study(ctx: Context, principal: Principal, study_id: int, store: ArtifactStore) -> None:
    with ctx.serialized(), ctx.transaction() as session:
        visible_study(session, principal, study_id)
        study = lock_study(ctx, session, study_id)
        ctx.optuna.delete(study.optuna_name)
        session.delete(study)
    store.delete_prefix(f"study-{study_id}")
    log.info("study %s deleted by %s", study_id, principal.name)
