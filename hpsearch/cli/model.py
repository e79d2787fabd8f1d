"""`hpsearch model`: the Keras summary of a template (or a spec's model) for given params.

Everything that can be checked without Keras (the template, the --set values, the shapes)
is checked first, so bad input fails fast; Keras is imported only to build the model.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from hpsearch.cli.output import fail
from search_spaces.errors import SpecError
from search_spaces.loading import SpecInvalid, load_spec
from search_spaces.models import ModelPlan, plan_model, resolve_model
from search_spaces.params import Scalar
from search_spaces.shapes import count_weights, infer_shapes
from search_spaces.space import constants

__all__ = ["parse_input_shape", "parse_setting", "register"]

DEFAULT_INPUT = (32, 32, 3)
DEFAULT_CLASSES = 10
USAGE_ERROR = 2
MAX_DIMENSION = 8192


class CommandError(ValueError):
    """Bad input to the command: printed as one line on stderr, exit status 2."""


@dataclass(frozen=True)
class ModelRequest:
    """What to build: the planned model, its params, the input shape and class count."""

    plan: ModelPlan
    params: Mapping[str, Any]
    input_shape: tuple[int, ...]
    classes: int


def register(app: typer.Typer) -> None:
    app.command("model")(show_model)


def show_model(
    template: Annotated[
        str | None, typer.Argument(help="A bundled template: cnn, resnet, mlp.", show_default=False)
    ] = None,
    input_shape: Annotated[
        str | None,
        typer.Option(
            "--input", help="Input shape H,W,C; default: 32,32,3, or that of the spec's dataset."
        ),
    ] = None,
    classes: Annotated[
        int | None,
        typer.Option(
            "--classes", help="Number of classes; default: 10, or that of the spec's dataset."
        ),
    ] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", help="A hyperparameter, name=value; repeat for more."),
    ] = None,
    spec: Annotated[
        Path | None, typer.Option("--spec", help="Show the model of this study spec (YAML/JSON).")
    ] = None,
) -> None:
    """Print the Keras summary of a model for given hyperparameters, and its weight count."""
    try:
        request = _request(template, input_shape, classes, settings or [], spec)
        estimate = _estimate(request)
        summary, weights = _build_summary(request)
    except CommandError as exc:
        fail(str(exc), USAGE_ERROR)
    typer.echo(summary.rstrip("\n"))
    verdict = "equal" if weights == estimate else "DIFFERENT"
    typer.echo(f"weights: {weights:,} (estimate from the spec: {estimate:,}, {verdict})")


def _request(
    template: str | None,
    input_text: str | None,
    classes: int | None,
    settings: list[str],
    spec_path: Path | None,
) -> ModelRequest:
    if template is None and spec_path is None:
        raise CommandError("name a template (cnn, resnet, mlp) or give --spec FILE")
    if template is not None and spec_path is not None:
        raise CommandError("name a template or give --spec FILE, not both")
    if classes is not None and classes < 1:
        raise CommandError(f"--classes must be at least 1, got {classes}")
    shape: tuple[int, ...] | None = None
    if input_text is not None:
        shape = parse_input_shape(input_text)
    if spec_path is not None:
        plan, params, known = _from_spec(spec_path)
        shape = shape or (known[0] if known else DEFAULT_INPUT)
        classes = classes or (known[1] if known else DEFAULT_CLASSES)
    else:
        plan, params = _plan(template), {}
    overrides = dict(parse_setting(text) for text in settings)
    _check_names(plan, overrides)
    params = {**plan.defaults, **params, **overrides}
    return ModelRequest(plan, params, shape or DEFAULT_INPUT, classes or DEFAULT_CLASSES)


def _plan(model: object) -> ModelPlan:
    try:
        plan = plan_model(model)
    except SpecError as exc:
        raise CommandError(str(exc)) from None
    if plan.kind == "hypermodel":
        raise CommandError(f"model: {plan.name} is a hypermodel; it has no fixed layers to show")
    return plan


def _from_spec(
    path: Path,
) -> tuple[ModelPlan, dict[str, Scalar], tuple[tuple[int, ...], int] | None]:
    try:
        spec = load_spec(path)
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    except SpecInvalid as exc:
        raise CommandError(f"{path}: {exc}") from None
    return _plan(spec.model), constants(spec.space), spec.known_shape()


def _check_names(plan: ModelPlan, overrides: Mapping[str, Scalar]) -> None:
    """Each --set names a hyperparameter the model reads, with a value of its default's kind."""
    reads = plan.reads or frozenset()
    for name, value in overrides.items():
        if name not in reads:
            known = ", ".join(sorted(reads))
            raise CommandError(
                f"--set {name}: the {plan.name} model has no hyperparameter {name!r}"
                f" (it reads: {known})"
            )
        default = plan.defaults.get(name)
        if default is not None and _kind(value) != _kind(default):
            raise CommandError(
                f"--set {name}: expected a {_kind(default)} like the default {default!r},"
                f" got {value!r}"
            )


def _kind(value: Scalar) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "string" if isinstance(value, str) else "number"


def parse_input_shape(text: str) -> tuple[int, int, int]:
    """`32,32,3` → (32, 32, 3); CommandError on anything but three positive integers."""
    parts = [part.strip() for part in text.replace("x", ",").split(",")]
    try:
        dims = tuple(int(part) for part in parts)
    except ValueError:
        dims = ()
    if len(dims) != 3 or not all(1 <= d <= MAX_DIMENSION for d in dims):
        raise CommandError(f"--input expects H,W,C (three positive integers), got {text!r}")
    return dims[0], dims[1], dims[2]


def parse_setting(text: str) -> tuple[str, Scalar]:
    """`name=value`, the value read as a bool (true/false), an int, a float, or a string."""
    name, sep, raw = text.partition("=")
    name, raw = name.strip(), raw.strip()
    if not sep or not name.isidentifier() or not raw:
        raise CommandError(f"--set expects name=value, got {text!r}")
    return name, _scalar(name, raw)


def _scalar(name: str, raw: str) -> Scalar:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        number = float(raw)
    except ValueError:
        return raw
    if not math.isfinite(number):
        raise CommandError(f"--set {name}: {raw!r} is not a finite number")
    return number


def _estimate(request: ModelRequest) -> int:
    """The weight count from the spec language alone; CommandError on a shape that fails."""
    try:
        nodes = resolve_model(request.plan, request.params, request.classes)
        infer_shapes(nodes, request.input_shape, request.classes)
        return count_weights(nodes, request.input_shape)
    except SpecError as exc:
        raise CommandError(str(exc)) from None


def _build_summary(request: ModelRequest) -> tuple[str, int]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from workers.model_builder import ModelBuildError, build_model

    try:
        model = build_model(
            request.plan, request.params, request.input_shape, request.classes, compile=False
        )
    except ModelBuildError as exc:
        raise CommandError(str(exc)) from None
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines), int(model.count_params())
