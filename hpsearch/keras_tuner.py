"""Coming from KerasTuner: run an existing `build_model(hp)` on hpsearch, two ways.

1. On the fleet: `hypermodel_spec("pkg.models:build_model", build_model, "digits")` is a
   StudySpec whose space was discovered from the hypermodel; submit it, and workers that can
   import `pkg.models` train its trials (`hpsearch submit --hypermodel pkg.models:build_model`).
2. In your own processes: `kt.Tuner(oracle=ServiceOracle(url, "my-study"), hypermodel=...)`
   and `tuner.search(...)` draw every trial from the controller's sampler; any number of
   processes running the same script share the study.

Imports keras_tuner (and Keras): `import hpsearch` does not import this module.
"""

from __future__ import annotations

from hpsearch.tuner_oracle import EpochReports, ServiceOracle
from hpsearch.tuner_space import (
    HypermodelSpaceError,
    declared_hyperparameters,
    discover_space,
    hyperparameters_for,
    load_hypermodel,
    same_space,
    space_from_hyperparameters,
)
from hpsearch.tuner_study import hypermodel_spec, study_spec

__all__ = [
    "EpochReports",
    "HypermodelSpaceError",
    "ServiceOracle",
    "declared_hyperparameters",
    "discover_space",
    "hypermodel_spec",
    "hyperparameters_for",
    "load_hypermodel",
    "same_space",
    "space_from_hyperparameters",
    "study_spec",
]
