"""Tests for search_spaces/spec.py and loading.py: whole study specs, accepted and refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from search_spaces.loading import SpecInvalid, load_spec, parse_spec_text, validate_spec
from search_spaces.spec import StudySpec

ROOT = Path(__file__).resolve().parents[2]
CANONICAL = ROOT / "search_spaces" / "examples" / "digits_cnn.yaml"

Mutation = Callable[[dict[str, Any]], None]


def canonical_data() -> dict[str, Any]:
    data = parse_spec_text(CANONICAL.read_text())
    assert isinstance(data, dict)
    return data


def set_space(**entries: Any) -> Mutation:
    return lambda spec: spec["space"].update(entries)


def set_fields(**fields: Any) -> Mutation:
    return lambda spec: spec.update(fields)


def inline_model(layers: list[dict[str, Any]]) -> Mutation:
    return set_fields(model=layers, space={})


def condition_on(name: str, when: dict[str, Any]) -> Mutation:
    return lambda spec: spec["space"][name].update(when=when)


BAD_SPECS: list[tuple[str, Mutation, list[int | str]]] = [
    ("misspelt top-level field", set_fields(max_trails=5), ["max_trails"]),
    (
        "low not below high",
        set_space(filters={"type": "int", "low": 5, "high": 5}),
        ["space", "filters"],
    ),
    (
        "log range with a zero low",
        set_space(learning_rate={"type": "float", "low": 0.0, "high": 0.1, "log": True}),
        ["space", "learning_rate"],
    ),
    (
        "step not fitting the range",
        set_space(filters={"type": "int", "low": 16, "high": 100, "step": 16}),
        ["space", "filters"],
    ),
    (
        "duplicate choice",
        set_space(kernel_size={"type": "categorical", "choices": [3, 3]}),
        ["space", "kernel_size", "choices"],
    ),
    ("more than 64 params", set_space(**{f"p{i}": 1 for i in range(65)}), ["space"]),
    (
        "more than 256 choices",
        set_space(filters={"type": "categorical", "choices": list(range(1, 258))}),
        ["space", "filters", "choices"],
    ),
    (
        "condition naming an unknown param",
        condition_on("l2", {"regularize": True}),
        ["space", "l2", "when", "regularize"],
    ),
    (
        "condition value the param never takes",
        set_space(
            conv_blocks={"type": "int", "low": 1, "high": 3},
            filters={"type": "int", "low": 16, "high": 32, "when": {"conv_blocks": 4}},
        ),
        ["space", "filters", "when", "conv_blocks"],
    ),
    (
        "condition cycle",
        set_space(
            filters={"type": "categorical", "choices": [16, 32], "when": {"dense_units": 32}},
            dense_units={"type": "categorical", "choices": [32, 64], "when": {"filters": 16}},
        ),
        ["space", "dense_units"],
    ),
    ("condition on itself", condition_on("l2", {"l2": 0.001}), ["space", "l2", "when", "l2"]),
    ("unknown template", set_fields(model="vgg16"), ["model"]),
    (
        "space param the template does not read",
        set_space(momentun={"type": "float", "low": 0.0, "high": 0.9}),
        ["space", "momentun"],
    ),
    (
        "inline layer reading an undefined param",
        inline_model([{"layer": "Flatten"}, {"layer": "Dense", "units": "$width"}]),
        ["space"],
    ),
    ("Lambda layer", inline_model([{"layer": "Lambda"}]), ["model", 0, "layer"]),
    (
        "unknown layer argument",
        inline_model([{"layer": "Flatten"}, {"layer": "Dense", "units": 10, "bias": True}]),
        ["model", 1, "bias"],
    ),
    (
        "code in a layer argument",
        inline_model([{"layer": "Flatten"}, {"layer": "Dense", "units": "${__import__('os')}"}]),
        ["model", 1, "units"],
    ),
    ("unknown sampler", set_fields(sampler="bayes"), ["sampler", "name"]),
    ("unknown pruner", set_fields(pruner="early_stop"), ["pruner", "name"]),
    (
        "multi-objective with a pruner",
        set_fields(objective=[{"metric": "val_accuracy"}, {"metric": "n_params"}]),
        ["pruner"],
    ),
    (
        "grid sampler with a continuous float",
        set_fields(sampler="grid"),
        ["space", "learning_rate"],
    ),
    ("unknown dataset", set_fields(dataset="imagenet"), ["dataset"]),
    (
        "bad optimizer choice",
        set_space(optimizer={"type": "categorical", "choices": ["adam", "lbfgs"]}),
        ["space", "optimizer"],
    ),
    ("negative learning rate constant", set_space(learning_rate=-1.0), ["space", "learning_rate"]),
    ("max_parallel 0", set_fields(max_parallel=0), ["max_parallel"]),
    ("unknown range type", set_space(filters={"type": "str", "low": 1}), ["space", "filters"]),
    (
        "misspelt range field",
        set_space(filters={"type": "int", "low": 16, "high": 64, "setp": 16}),
        ["space", "filters", "setp"],
    ),
    (
        "objective metric with a space",
        set_fields(objective={"metric": "val acc"}),
        ["objective", "metric"],
    ),
    ("input shape of two dimensions", set_fields(input_shape=[8, 8]), ["input_shape"]),
]


@pytest.mark.parametrize(
    ("mutate", "loc"),
    [pytest.param(mutate, loc, id=label) for label, mutate, loc in BAD_SPECS],
)
def test_bad_spec_is_refused_naming_the_field(mutate: Mutation, loc: list[int | str]) -> None:
    data = canonical_data()
    mutate(data)
    with pytest.raises(SpecInvalid) as caught:
        validate_spec(data)
    locs = [detail["loc"] for detail in caught.value.details]
    assert any(found[: len(loc)] == loc for found in locs), locs
    assert all(detail["msg"] for detail in caught.value.details)


def test_there_are_at_least_15_kinds_of_bad_spec() -> None:
    assert len({label for label, _, _ in BAD_SPECS}) >= 15


def test_canonical_spec_validates_as_written() -> None:
    spec = load_spec(CANONICAL)
    assert spec.name == "digits-cnn"
    assert spec.model_plan.kind == "template"
    assert spec.directions == ["maximize"]
    assert spec.known_shape() == ((8, 8, 1), 10)
    assert spec.sampler.name == "tpe"
    assert spec.pruner.name == "hyperband"


def test_json_and_yaml_load_to_the_same_spec(tmp_path: Path) -> None:
    data = canonical_data()
    json_file = tmp_path / "spec.json"
    json_file.write_text(json.dumps(data))
    from_json = load_spec(json_file)
    from_text = validate_spec(parse_spec_text(json.dumps(data), "application/json"))
    assert from_json == load_spec(CANONICAL) == from_text


@pytest.mark.parametrize(
    ("text", "media_type", "key"),
    [
        ("name: a\nspace:\n  filters: 16\n  filters: 32\n", "application/yaml", "filters"),
        ('{"name": "a", "name": "b"}', "application/json", "name"),
    ],
)
def test_duplicate_key_is_refused_naming_the_key(text: str, media_type: str, key: str) -> None:
    with pytest.raises(SpecInvalid) as caught:
        parse_spec_text(text, media_type)
    assert caught.value.details[0]["loc"] == [key]
    assert "duplicate" in caught.value.details[0]["msg"]


def test_text_that_is_not_yaml_is_refused() -> None:
    with pytest.raises(SpecInvalid, match="not valid YAML"):
        parse_spec_text("name: [unclosed")


def test_spec_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(SpecInvalid, match="expected a mapping"):
        validate_spec(["name", "digits"])


def test_objective_direction_is_inferred_from_the_metric_name() -> None:
    data = canonical_data()
    data["objective"] = {"metric": "val_loss"}
    assert validate_spec(data).directions == ["minimize"]


def test_space_may_fix_a_template_param_to_a_constant() -> None:
    data = canonical_data()
    data["space"]["conv_blocks"] = 3
    spec = validate_spec(data)
    assert spec.space["conv_blocks"] == 3


def test_inline_model_with_defaults_needs_no_space() -> None:
    data = canonical_data()
    data["model"] = {
        "layers": [{"layer": "Flatten"}, {"layer": "Dense", "units": "$classes"}],
        "defaults": {},
    }
    data["space"] = {"learning_rate": 0.01}
    spec = validate_spec(data)
    assert spec.model_plan.kind == "inline"


def test_studyspec_is_frozen() -> None:
    spec = load_spec(CANONICAL)
    with pytest.raises(ValueError, match="frozen"):
        spec.max_trials = 5  # type: ignore[misc]
    assert isinstance(spec, StudySpec)


def test_a_hypermodel_space_may_name_any_optimizer() -> None:
    from search_spaces.loading import validate_spec

    data = {
        "name": "kt",
        "dataset": "digits",
        "objective": {"metric": "val_accuracy"},
        "model": {"hypermodel": "package.module:build_model"},
        "space": {"optimizer": {"type": "categorical", "choices": ["adagrad", "adam"]}},
    }
    assert validate_spec(data).space["optimizer"].choices == ["adagrad", "adam"]
