"""KerasTuner hypermodels on a worker: import "package.module:function", call it with a
`HyperParameters` whose `hp.Int(...)`, `hp.Choice(...)`, ... return the trial's params.

The function compiles its model itself, as it does under KerasTuner; it is not recompiled.
The module must be importable on the worker (installed, or its folder on PYTHONPATH).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import keras

from hpsearch.keras_tuner import HypermodelSpaceError, hyperparameters_for, load_hypermodel
from workers.model_builder import ModelBuildError

__all__ = ["build_hypermodel"]

log = logging.getLogger(__name__)


def build_hypermodel(
    reference: str,
    params: Mapping[str, Any],
    space: Mapping[str, Any] | None = None,
    input_shape: Sequence[int] | None = None,
) -> keras.Model:
    """The compiled model `reference` builds for `params`; ModelBuildError names what failed.

    `space` (the study's) is declared in the `HyperParameters` too, so `hp.space` is complete;
    the values come from `params` either way. With `input_shape`, a model expecting other
    inputs is refused here rather than failing inside `fit`.
    """
    try:
        hypermodel = load_hypermodel(reference)
    except HypermodelSpaceError as exc:
        raise ModelBuildError(str(exc), "model.hypermodel") from None
    build = getattr(hypermodel, "build", hypermodel)
    hp = hyperparameters_for(space or {}, params)
    try:
        model = build(hp)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelBuildError(
            f"{reference} raised {type(exc).__name__}: {reason}", "model.hypermodel"
        ) from exc
    _check_model(reference, model, input_shape)
    log.debug("built hypermodel %s with %d weights", reference, model.count_params())
    return model


def _check_model(reference: str, model: object, input_shape: Sequence[int] | None) -> None:
    if not isinstance(model, keras.Model):
        raise ModelBuildError(
            f"{reference} returned a {type(model).__name__}, not a Keras model",
            "model.hypermodel",
        )
    if not model.compiled:
        raise ModelBuildError(
            f"{reference} returned a model that is not compiled; compile it in the function",
            "model.hypermodel",
        )
    expected = tuple(input_shape) if input_shape is not None else None
    inputs = model.inputs if model.built else None
    if expected is not None and inputs and len(inputs) == 1:
        shape = tuple(inputs[0].shape[1:])
        if shape != expected:
            raise ModelBuildError(
                f"{reference} builds a model for inputs of shape {shape}; the dataset's"
                f" are {expected}",
                "model.hypermodel",
            )
