"""`hpsearch submit --hypermodel package.module:function`: a KerasTuner `build_model(hp)`
becomes a study; its space is discovered here, by importing and building it."""

from __future__ import annotations

import os
import sys
from typing import Any

from hpsearch.cli.output import fail

__all__ = ["hypermodel_study"]

USAGE_ERROR = 2


def hypermodel_study(
    reference: str,
    *,
    dataset: str | None,
    objective: str,
    max_trials: int | None,
    max_parallel: int | None,
    epochs: int | None,
    name: str | None,
) -> dict[str, Any]:
    """The StudySpec (a dict) for `reference`; one line and exit 2 on any problem."""
    if dataset is None:
        fail("--hypermodel needs --dataset (digits, mnist, ..., npz:PATH or dir:PATH)", USAGE_ERROR)
    fields: dict[str, Any] = {"name": name, "objective": objective}
    if max_trials is not None:
        fields["max_trials"] = max_trials
    if max_parallel is not None:
        fields["max_parallel"] = max_parallel
    if epochs is not None:
        fields["training"] = {"epochs": epochs}
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` would: modules next to you import
    try:
        from hpsearch.keras_tuner import HypermodelSpaceError, hypermodel_spec
    except ImportError as exc:
        fail(f"--hypermodel needs keras-tuner installed ({exc})", USAGE_ERROR)
    try:
        return hypermodel_spec(reference, None, dataset, **fields)
    except HypermodelSpaceError as exc:
        fail(str(exc), USAGE_ERROR)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        fail(f"{reference} failed while its space was discovered: {type(exc).__name__}: {reason}")
