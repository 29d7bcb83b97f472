"""Error bars for Monte Carlo data: autocorrelation, integrated autocorrelation time,
effective sample size.

Reference: A. D. Sokal, "Monte Carlo methods in statistical mechanics: foundations and
new algorithms" (1996 Cargese lectures), section 3 (automatic windowing).
"""

from __future__ import annotations

import numpy as np

__all__ = ["autocorrelation", "integrated_autocorrelation_time", "effective_sample_size", "mean_and_error"]


def _as_chains(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"expected a series of shape (time,) or (chains, time), got shape {x.shape}")
    if x.shape[1] < 4:
        raise ValueError(f"a series needs at least 4 time steps, got {x.shape[1]}")
    if not np.all(np.isfinite(x)):
        raise ValueError("the series contains NaN or infinite values")
    return x


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
    x = np.asarray(x, dtype=float)
    n = x.shape[axis]
    if n < 2:
        raise ValueError("need at least two independent replicas for an error bar")
    return x.mean(axis=axis), x.std(axis=axis, ddof=1) / np.sqrt(n)
