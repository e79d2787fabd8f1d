"""The array Parzen estimator's log density agrees with Optuna's own."""

from __future__ import annotations

import numpy as np
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers._tpe import _truncnorm
from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator, _ParzenEstimatorParameters
from optuna.samplers._tpe.sampler import default_weights

from service.optuna_bridge.parzen import ArrayParzenEstimator, log_gauss_mass

SPACE = {
    "filters": IntDistribution(16, 128, step=16),
    "kernel_size": CategoricalDistribution([3, 5, 7]),
    "dense_units": IntDistribution(32, 256, log=True),
    "learning_rate": FloatDistribution(1e-4, 1e-2, log=True),
    "dropout": FloatDistribution(0.0, 0.5),
    "momentum": FloatDistribution(0.0, 1.0, step=0.1),
}


def observations(rng: np.random.RandomState, n: int) -> dict[str, np.ndarray]:
    return {
        "filters": rng.choice(np.arange(16, 129, 16), n).astype(float),
        "kernel_size": rng.randint(0, 3, n).astype(float),
        "dense_units": rng.randint(32, 257, n).astype(float),
        "learning_rate": np.exp(rng.uniform(np.log(1e-4), np.log(1e-2), n)),
        "dropout": rng.uniform(0.0, 0.5, n),
        "momentum": np.round(rng.uniform(0.0, 1.0, n), 1),
    }


@pytest.mark.parametrize("multivariate", [True, False])
@pytest.mark.parametrize("n", [0, 1, 30, 2000])
def test_log_pdf_agrees_with_optunas_estimator(multivariate: bool, n: int) -> None:
    rng = np.random.RandomState(n)
    parameters = _ParzenEstimatorParameters(
        prior_weight=1.0,
        consider_magic_clip=True,
        consider_endpoints=False,
        weights=default_weights,
        multivariate=multivariate,
    )
    observed = observations(rng, n)
    ours = ArrayParzenEstimator(observed, SPACE, parameters)
    theirs = _ParzenEstimator(observed, SPACE, parameters)
    samples = theirs.sample(rng, 64)
    edges = {name: np.array([d.low, d.high]) for name, d in SPACE.items() if name != "kernel_size"}
    edges["kernel_size"] = np.array([0.0, 2.0])
    for points in (samples, edges):
        expected = theirs.log_pdf(points)
        assert np.all(np.isfinite(expected))
        np.testing.assert_allclose(ours.log_pdf(points), expected, rtol=1e-7)


def test_log_gauss_mass_agrees_in_both_tails_and_the_middle() -> None:
    a = np.array([-40.0, -8.0, -1.0, -0.5, 0.0, 0.3, 2.0, 7.0, 30.0])
    b = a + np.array([0.1, 3.0, 0.5, 1.0, 1e-3, 5.0, 0.2, 1.0, 2.0])
    np.testing.assert_allclose(log_gauss_mass(a, b), _truncnorm._log_gauss_mass(a, b), rtol=1e-7)
