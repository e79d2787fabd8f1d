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
    """`_ParzenEstimator` whose `log_pdf` works on whole arrays.

    The (samples, kernels) sum of the dimensions' log densities is built in one array, in
    place: what depends on the kernel alone (its weight, a continuous kernel's normalizer)
    is summed once per kernel, and a continuous dimension then subtracts ((x - mu) /
    (sqrt(2) sigma))^2 in four passes over the array (half the passes and none of the
    temporary arrays of computing each dimension's density whole)."""

    def log_pdf(self, samples_dict: dict[str, np.ndarray]) -> np.ndarray:
        x = self._transform(samples_dict)
        mixture = self._mixture_distribution
        with np.errstate(divide="ignore"):
            per_kernel = np.log(mixture.weights)
        continuous: set[int] = set()
        for column, kernel in enumerate(mixture.distributions):
            if not isinstance(kernel, _BatchedCategoricalDistributions) and kernel.step == 0.0:
                per_kernel = per_kernel - _log_normalizer(kernel)
                continuous.add(column)
        total = np.empty((len(x), len(per_kernel)))
        total[:] = per_kernel
        for column, kernel in enumerate(mixture.distributions):
            if column in continuous:
                _subtract_squares(total, kernel, x[:, column])
            else:
                total += _discrete_log_pdf(kernel, x[:, column])
        top = total.max(axis=1)
        top[np.isneginf(top)] = 0.0  # every kernel gives zero: -inf, not NaN
        total -= top[:, np.newaxis]
        np.exp(total, out=total)
        return np.asarray(np.log(total.sum(axis=1)) + top)


def _log_normalizer(kernel: _BatchedDistributions) -> np.ndarray:
    """Per kernel of a continuous dimension: what its log density subtracts whatever the
    point (the Gaussian's log(sqrt(2 pi) sigma) and the log of its mass inside the bounds)."""
    assert not isinstance(kernel, _BatchedCategoricalDistributions)
    mu, sigma = kernel.mu, kernel.sigma
    low, high = kernel.adapted_low, kernel.adapted_high
    inside = log_gauss_mass((low - mu) / sigma, (high - mu) / sigma)
    return np.asarray(_LOG_SQRT_2PI + np.log(sigma) + inside)


def _subtract_squares(total: np.ndarray, kernel: _BatchedDistributions, x: np.ndarray) -> None:
    """Subtract (point - mu)^2 / (2 sigma^2) for each (sample, kernel) from `total`; a
    sample outside the bounds has density zero under every kernel."""
    assert not isinstance(kernel, _BatchedCategoricalDistributions)
    point = np.log(x) if kernel.is_log else x
    scaled = np.subtract.outer(point, kernel.mu)
    scaled *= 1.0 / (math.sqrt(2.0) * kernel.sigma)
    np.square(scaled, out=scaled)
    total -= scaled
    total[(point < kernel.adapted_low) | (point > kernel.adapted_high)] = -np.inf


def _discrete_log_pdf(kernel: _BatchedDistributions, x: np.ndarray) -> np.ndarray:
    """(samples, kernels): the log mass of each sample under each kernel of a categorical
    or stepped dimension."""
    if isinstance(kernel, _BatchedCategoricalDistributions):
        with np.errstate(divide="ignore"):
            return np.asarray(np.log(kernel.weights)[:, x.astype(np.int64)].T)
    return _discrete_log_mass(kernel, x)


def _discrete_log_mass(kernel: _BatchedDistributions, x: np.ndarray) -> np.ndarray:
    """A discrete dimension: the mass of each sample's step under each kernel. Samples take
    few values, and kernels few (mu, sigma) pairs, so each distinct pair is computed once."""
    assert not isinstance(kernel, _BatchedCategoricalDistributions)
    mu, sigma, kernel_of = _distinct_pairs(kernel.mu, kernel.sigma)
    mu, sigma = mu[np.newaxis, :], sigma[np.newaxis, :]
    points, sample_of = np.unique(x, return_inverse=True)
    lower, upper = points - kernel.step / 2, points + kernel.step / 2
    if kernel.is_log:
        lower, upper = np.log(lower), np.log(upper)
    low, high = kernel.adapted_low, kernel.adapted_high
    mass = log_gauss_mass((lower[:, np.newaxis] - mu) / sigma, (upper[:, np.newaxis] - mu) / sigma)
    normalized = mass - log_gauss_mass((low - mu) / sigma, (high - mu) / sigma)
    return np.take(normalized[sample_of.ravel()], kernel_of, axis=1)


def _distinct_pairs(mu: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (mu, sigma) pairs, sorted, and the pair of each kernel (`np.unique` of
    the pairs, with one sort of two float keys instead of one of complex numbers)."""
    order = np.lexsort((sigma, mu))
    mu, sigma = mu[order], sigma[order]
    first = np.empty(len(mu), dtype=bool)
    first[:1] = True
    first[1:] = (mu[1:] != mu[:-1]) | (sigma[1:] != sigma[:-1])
    pair_of = np.empty(len(mu), dtype=np.int64)
    pair_of[order] = np.cumsum(first) - 1
    return mu[first], sigma[first], pair_of
