"""course_lib.stats: autocorrelation times against processes with known answers."""

import numpy as np
import pytest

from course_lib import stats


def ar1(phi: float, n: int, chains: int, seed: int = 0) -> np.ndarray:
    """AR(1) process x_t = phi x_{t-1} + noise, started in equilibrium; rho(t) = phi^t."""
    rng = np.random.default_rng(seed)
    x = np.empty((chains, n))
    x[:, 0] = rng.normal(size=chains) / np.sqrt(1 - phi**2)
    noise = rng.normal(size=(chains, n))
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    return x


@pytest.mark.parametrize("phi", [0.5, 0.9])
def test_ar1_autocorrelation_time(phi):
    exact = (1 + phi) / (1 - phi)  # 1 + 2 sum phi^t
    tau = stats.integrated_autocorrelation_time(ar1(phi, 20_000, 8))
    assert tau == pytest.approx(exact, rel=0.1)


def test_autocorrelation_function_of_ar1():
    rho = stats.autocorrelation(ar1(0.8, 50_000, 4))
    np.testing.assert_allclose(rho[:6], 0.8 ** np.arange(6), atol=0.02)


def test_independent_samples():
    x = np.random.default_rng(1).normal(size=(4, 10_000))
    assert stats.integrated_autocorrelation_time(x) == pytest.approx(1.0, abs=0.1)
    assert stats.effective_sample_size(x) == pytest.approx(40_000, rel=0.1)


def test_mean_and_error():
    x = np.random.default_rng(2).normal(3.0, 2.0, size=(10_000, 2))
    mean, err = stats.mean_and_error(x)
    np.testing.assert_allclose(mean, 3.0, atol=0.1)
    np.testing.assert_allclose(err, 2.0 / 100, rtol=0.05)
    with pytest.raises(ValueError, match="two independent"):
        stats.mean_and_error(np.ones((1, 3)))


def test_bad_series_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        stats.autocorrelation(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        stats.autocorrelation(np.array([1.0, np.nan, 2.0, 3.0, 4.0]))
    with pytest.raises(ValueError, match="at least 4"):
        stats.autocorrelation(np.ones(3))
