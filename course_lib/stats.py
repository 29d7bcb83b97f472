"""Error bars for Monte Carlo data (autocorrelation, integrated autocorrelation time, effective
sample size) and two-sample distances for judging generated samples (energy distance,
nearest-neighbour distance).

Reference: A. D. Sokal, "Monte Carlo methods in statistical mechanics: foundations and
new algorithms" (1996 Cargese lectures), section 3 (automatic windowing).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .checks import check_count, check_finite, check_positive

LOG_2PI = math.log(2 * math.pi)

__all__ = [
    "LOG_2PI",
    "gaussian_log_prob",
    "auc",
    "autocorrelation",
    "integrated_autocorrelation_time",
    "effective_sample_size",
    "mean_and_error",
    "energy_distance",
    "mmd",
    "nearest_distance",
    "bisect",
]


def _as_chains(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"x must be a series of shape (time,) or (chains, time), got {x.shape}")
    if x.shape[1] < 4:
        raise ValueError(f"x must have at least 4 time steps, got {x.shape[1]}")
    return check_finite(x, "x")


def autocorrelation(x: np.ndarray) -> np.ndarray:
    """Normalized autocorrelation function rho(t), averaged over chains.

    ``x`` has shape ``(time,)`` or ``(chains, time)``; each chain is centred on the mean
    of all chains. Computed with an FFT (zero-padded, so not circular).
    """
    x = _as_chains(x)
    n = x.shape[1]
    centred = x - x.mean()
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(centred, n=size, axis=1)
    acov = np.fft.irfft(spectrum * np.conj(spectrum), n=size, axis=1)[:, :n].mean(axis=0)
    acov /= np.arange(n, 0, -1)  # unbiased normalization per lag
    if acov[0] <= 0:
        return np.ones(n) if n else acov  # a constant series: perfectly correlated
    return acov / acov[0]


def integrated_autocorrelation_time(x: np.ndarray, window_factor: float = 5.0) -> float:
    """Integrated autocorrelation time tau = 1 + 2 sum_{t=1}^{M} rho(t).

    Convention: independent samples give tau = 1, and n correlated samples carry the
    information of n / tau independent ones. The sum stops at Sokal's self-consistent
    window, the first M with M >= window_factor * tau(M).
    """
    window_factor = check_positive(window_factor, "window_factor")
    rho = autocorrelation(x)
    taus = 1.0 + 2.0 * np.cumsum(rho[1:])
    for m, tau in enumerate(taus, start=1):
        if m >= window_factor * tau:
            return float(max(tau, 1e-12))
    return float(taus[-1])


def effective_sample_size(x: np.ndarray) -> float:
    """Number of chains times length, divided by the integrated autocorrelation time."""
    chains = _as_chains(x)
    return chains.size / integrated_autocorrelation_time(chains)


def mean_and_error(x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over independent replicas along ``axis``."""
    x = check_finite(np.asarray(x, dtype=float), "x")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"axis must be an integer, got {type(axis).__name__}")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis={axis} is out of range for x of shape {x.shape}")
    n = x.shape[axis]
    if n < 2:
        raise ValueError(f"x needs at least two independent replicas along axis {axis}, got {n}")
    return x.mean(axis=axis), x.std(axis=axis, ddof=1) / np.sqrt(n)


def _as_points(x, name: str, min_rows: int = 2) -> torch.Tensor:
    # arrays go to the CPU explicitly: the default device may be something else
    x = x.double() if torch.is_tensor(x) else torch.as_tensor(np.asarray(x, float), device="cpu")
    if x.ndim != 2 or len(x) < min_rows:
        raise ValueError(
            f"{name} must have shape (n, dim) with n >= {min_rows}, got {tuple(x.shape)}"
        )
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def energy_distance(x, y) -> float:
    """Energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| between two samples (rows), with unbiased
    within-sample terms. It is >= 0 in expectation and 0 only for equal distributions
    (Szekely & Rizzo, "Energy statistics", 2013)."""
    x, y = _as_points(x, "x"), _as_points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"samples live in different dimensions: {x.shape[1]}, {y.shape[1]}")
    # the diagonal of cdist(a, a) is 0, so the sum runs over the n (n - 1) distinct pairs
    within = lambda a: torch.cdist(a, a).sum() / (len(a) * (len(a) - 1))  # noqa: E731
    return float(2 * torch.cdist(x, y).mean() - within(x) - within(y))


def mmd(x, y, bandwidths: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)) -> float:
    """Squared maximum mean discrepancy with the kernel sum_h exp(-|a - b|^2 / 2h^2), unbiased
    estimate (Gretton et al., JMLR 2012; several bandwidths as in Li, Swersky & Zemel 2015).
    Small bandwidths see local structure (is a sample near real data?), large ones the mean and
    covariance."""
    x, y = _as_points(x, "x"), _as_points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"samples live in different dimensions: {x.shape[1]}, {y.shape[1]}")

    def kernel(a, b, h):
        return torch.exp(-(torch.cdist(a, b) ** 2) / (2 * h * h))

    def within(a, h):
        # drop the n diagonal terms k(a_i, a_i) = 1
        return (kernel(a, a, h).sum() - len(a)) / (len(a) * (len(a) - 1))

    total = 0.0
    for h in bandwidths:
        total += float(within(x, h) + within(y, h) - 2 * kernel(x, y, h).mean())
    return total


def nearest_distance(x, reference) -> torch.Tensor:
    """Euclidean distance from each row of ``x`` to its nearest row of ``reference``
    (exposes copies of training points)."""
    x, reference = _as_points(x, "x", 1), _as_points(reference, "reference", 1)
    if reference.shape[1] != x.shape[1]:
        raise ValueError(
            f"samples live in different dimensions: {x.shape[1]}, {reference.shape[1]}"
        )
    return torch.cdist(x, reference).min(dim=1).values


def gaussian_log_prob(
    x: torch.Tensor, mean: torch.Tensor | float, var: torch.Tensor | float
) -> torch.Tensor:
    """log N(x; mean, diag(var)), summed over the last axis."""
    if not torch.is_tensor(var):
        var = check_positive(var, "var") if np.ndim(var) == 0 else np.asarray(var, dtype=float)
    var = torch.as_tensor(var, dtype=x.dtype, device=x.device)
    if var.device.type != "meta" and not bool((var > 0).all()):
        raise ValueError("var must be > 0 (a variance)")
    return (-0.5 * ((x - mean) ** 2 / var + torch.log(var) + LOG_2PI)).sum(-1)


def auc(lower: np.ndarray, higher: np.ndarray) -> float:
    """Probability that a random element of ``lower`` is below a random element of ``higher``
    (the ROC AUC), ties counted one half."""
    lower = check_finite(np.asarray(lower, dtype=float), "lower")[:, None]
    higher = check_finite(np.asarray(higher, dtype=float), "higher")[None, :]
    if lower.size == 0 or higher.size == 0:
        raise ValueError("auc needs at least one value in lower and in higher")
    return float((lower < higher).mean() + 0.5 * (lower == higher).mean())


def bisect(f, lo: float | np.ndarray, hi: float | np.ndarray, n_iter: int = 60) -> np.ndarray:
    """Roots of a vectorized function ``f`` that is > 0 left of its root and <= 0 right of it,
    on the brackets [lo, hi] (arrays broadcast, one root each; for a rising crossing pass -f).
    Each iteration halves every bracket, so 60 of them reach double precision."""
    if not callable(f):
        raise TypeError(f"f must be a vectorized function, got {type(f).__name__}")
    n_iter = check_count(n_iter, "n_iter")
    lo = check_finite(np.asarray(lo, dtype=float), "lo")
    hi = check_finite(np.asarray(hi, dtype=float), "hi")
    lo, hi = np.broadcast_arrays(lo, hi)
    if not np.all(lo <= hi):
        raise ValueError("the brackets need lo <= hi")
    for _ in range(n_iter):
        mid = (lo + hi) / 2
        right = f(mid) > 0  # the root lies right of mid
        lo, hi = np.where(right, mid, lo), np.where(right, hi, mid)
    return (lo + hi) / 2
