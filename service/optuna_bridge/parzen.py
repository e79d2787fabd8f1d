"""Optuna's Parzen estimator, with its log density computed in NumPy throughout.

TPE scores each candidate by the log density of the "below" and "above" mixtures, one
Gaussian kernel per observation. Optuna normalizes each truncated kernel with the log of
the standard normal's CDF computed one element at a time in Python (`_truncnorm._log_ndtr`,
about 12,000 calls an ask at 10,000 trials, 30-40 ms); here the same densities are computed
with `scipy.special.log_ndtr` on whole arrays. The mixture itself (kernels, weights, the
prior, sampling) is Optuna's, untouched: only `log_pdf` is ours. Values agree with Optuna's
to a relative 1e-7 (the two CDFs differ in their last digits).
"""

from __future__ import annotations

import math

import numpy as np
from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator
from optuna.samplers._tpe.probability_distributions import (
    _BatchedCategoricalDistributions,
    _BatchedDistributions,
)
from scipy.special import log_ndtr, ndtr

__all__ = ["ArrayParzenEstimator", "log_gauss_mass"]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def log_gauss_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(Phi(b) - Phi(a)) for a <= b, elementwise, computed in whichever tail is accurate:
    the left one as is, the right one mirrored, and a central interval by its complement."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    out = np.empty(a.shape)
    left, right = b <= 0, a > 0
    central = ~(left | right)
    out[left] = _log_left_mass(a[left], b[left])
    out[right] = _log_left_mass(-b[right], -a[right])
    with np.errstate(divide="ignore"):
        out[central] = np.log1p(-ndtr(a[central]) - ndtr(-b[central]))
    return out


def _log_left_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(Phi(b) - Phi(a)) for a <= b <= 0, from the log CDFs."""
    log_a, log_b = log_ndtr(a), log_ndtr(b)
    with np.errstate(divide="ignore"):
        return np.asarray(log_b + np.log1p(-np.exp(log_a - log_b)))


class ArrayParzenEstimator(_ParzenEstimator):
    """`_ParzenEstimator` whose `log_pdf` works on whole arrays."""

    def log_pdf(self, samples_dict: dict[str, np.ndarray]) -> np.ndarray:
        x = self._transform(samples_dict)
        mixture = self._mixture_distribution
        with np.errstate(divide="ignore"):
            total = np.log(mixture.weights)[np.newaxis, :].repeat(len(x), axis=0)
        for column, kernel in enumerate(mixture.distributions):
            total += _kernel_log_pdf(kernel, x[:, column])
        top = total.max(axis=1)
        top[np.isneginf(top)] = 0.0  # every kernel gives zero: -inf, not NaN
        return np.asarray(np.log(np.exp(total - top[:, np.newaxis]).sum(axis=1)) + top)


def _kernel_log_pdf(kernel: _BatchedDistributions, x: np.ndarray) -> np.ndarray:
    """(samples, kernels): the log density (or mass, for a discrete kernel) of each sample
    under each kernel of one dimension."""
    if isinstance(kernel, _BatchedCategoricalDistributions):
        with np.errstate(divide="ignore"):
            return np.asarray(np.log(kernel.weights[:, x.astype(np.int64)].T))
    if kernel.step != 0.0:
        return _discrete_log_mass(kernel, x)
    mu, sigma = kernel.mu[np.newaxis, :], kernel.sigma[np.newaxis, :]
    low, high = kernel.adapted_low, kernel.adapted_high
    normalizer = log_gauss_mass((low - mu) / sigma, (high - mu) / sigma)
    point = (np.log(x) if kernel.is_log else x)[:, np.newaxis]
    z = (point - mu) / sigma
    density = -0.5 * z**2 - _LOG_SQRT_2PI - np.log(sigma) - normalizer
    return np.where((point < low) | (point > high), -np.inf, density)


def _discrete_log_mass(kernel: _BatchedDistributions, x: np.ndarray) -> np.ndarray:
    """A discrete dimension: the mass of each sample's step under each kernel. Samples take
    few values, and kernels few (mu, sigma) pairs, so each distinct pair is computed once."""
    assert not isinstance(kernel, _BatchedCategoricalDistributions)
    pairs, kernel_of = np.unique(kernel.mu + 1j * kernel.sigma, return_inverse=True)
    mu, sigma = pairs.real[np.newaxis, :], pairs.imag[np.newaxis, :]
    points, sample_of = np.unique(x, return_inverse=True)
    lower, upper = points - kernel.step / 2, points + kernel.step / 2
    if kernel.is_log:
        lower, upper = np.log(lower), np.log(upper)
    low, high = kernel.adapted_low, kernel.adapted_high
    mass = log_gauss_mass((lower[:, np.newaxis] - mu) / sigma, (upper[:, np.newaxis] - mu) / sigma)
    normalized = mass - log_gauss_mass((low - mu) / sigma, (high - mu) / sigma)
    return np.asarray(normalized[np.ix_(sample_of.ravel(), kernel_of.ravel())])
