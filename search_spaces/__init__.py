"""The declarative search-space language: study specs, params, model templates.

Pure: imports pydantic and PyYAML only, never Optuna, Keras or TensorFlow.
"""

from __future__ import annotations

from search_spaces.capacity import check_model_size, largest_model
from search_spaces.datasets import DatasetRef, parse_dataset_ref
from search_spaces.errors import SpecError, describe_errors
from search_spaces.layers import LayerNode, Node, ResidualNode
from search_spaces.loading import SpecInvalid, load_spec, parse_spec_text, validate_spec
from search_spaces.models import ModelPlan, full_params, plan_model, resolve_model
from search_spaces.params import CategoricalParam, FloatParam, IntParam
from search_spaces.shapes import count_weights, infer_shapes
from search_spaces.space import is_active, ranges, sampling_order
from search_spaces.spec import Objective, StudySpec
from search_spaces.templates import load_template, template_names

__all__ = [
    "CategoricalParam",
    "DatasetRef",
    "FloatParam",
    "IntParam",
    "LayerNode",
    "ModelPlan",
    "Node",
    "Objective",
    "ResidualNode",
    "SpecError",
    "SpecInvalid",
    "StudySpec",
    "check_model_size",
    "count_weights",
    "describe_errors",
    "full_params",
    "infer_shapes",
    "is_active",
    "largest_model",
    "load_spec",
    "load_template",
    "parse_dataset_ref",
    "parse_spec_text",
    "plan_model",
    "ranges",
    "resolve_model",
    "sampling_order",
    "template_names",
    "validate_spec",
]
