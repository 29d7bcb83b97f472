"""Tests of course_lib.memorization: the ensemble trainer, the two-model test of
Kadkhodaie et al. (2024), and the collapse criterion of Biroli et al. (2024)."""

import math

import numpy as np
import pytest
import torch

from course_lib import diffusion as df
from course_lib import memorization as mem
from course_lib.data import gaussian_clusters, two_moons

SCHEDULE = df.NoiseSchedule.linear(1000)


def test_ensemble_members_are_the_networks_it_was_built_from():
    """One vectorized call equals calling each member alone, and the summed loss gives each member
    exactly its own gradient (so Adam trains the members independently)."""
    torch.manual_seed(0)
    members = [df.TimeMLP(2, 16, 1) for _ in range(3)]
    ensemble = mem.Ensemble(members)
    g = torch.Generator().manual_seed(1)
    x, time = torch.randn(5, 6, generator=g), torch.rand(5, generator=g)
    alone = torch.cat([m(x[:, 2 * k : 2 * k + 2], time) for k, m in enumerate(members)], 1)
    assert torch.allclose(ensemble(x, time), alone, atol=1e-6)
    ensemble(x, time).pow(2).sum().backward()
    members[1](x[:, 2:4], time).pow(2).sum().backward()
    first = next(iter(ensemble.stacked)).grad[1]
    assert torch.allclose(first, next(members[1].parameters()).grad, atol=1e-6)


def test_half_split_memorizes_small_sets_and_generalizes_on_large_ones():
    """Kadkhodaie et al. (2024): ratio d(x_A, D_A)/d(x_A, D_B) near 0 for N=4, near 1 for N=1024,
    and the two models' samples from the same noise converge to each other
    (lecture 07, section 2)."""
    pool = two_moons(2048, 0.05, generator=10)
    noise = torch.randn(500, 2, generator=torch.Generator().manual_seed(4))
    small, large = mem.half_split_sweep(
        [pool], [4, 1024], SCHEDULE, noise, n_steps=1000, generator=0
    )[0]
    assert small.ratio < 0.4 and large.ratio > 0.85, (small.ratio, large.ratio)
    assert large.a_b_distance < small.a_b_distance / 3
    with pytest.raises(ValueError, match="disjoint"):
        mem.half_split_experiment(pool[:10], 8, SCHEDULE, noise)


def test_covariance_criterion_overshoots_the_networks_transition_on_clusters():
    """Lecture 07, section 3: calibrated on the moons (whose networks still copy at N = 4, so their
    N* >= 4), the collapse size predicts that 16-dimensional clusters need far more than 16 points,
    yet networks trained on 16 cluster points already generalize (and on 1 point they copy)."""
    moons = torch.tensor(two_moons(50_000, 0.05, generator=5))
    clusters = torch.tensor(gaussian_clusters(50_000, generator=5))
    spectra = [torch.linalg.eigvalsh(torch.cov(x.T)) for x in (moons, clusters)]
    alphas, sigmas = SCHEDULE.alpha_bar[1:].sqrt(), (1 - SCHEDULE.alpha_bar[1:]).sqrt()
    levels = list(zip(alphas.tolist(), sigmas.tolist(), strict=True))
    moons_nc, clusters_nc = (
        np.array([mem.collapse_size(lam, a, s) for a, s in levels]) for lam in spectra
    )
    t_r = int(np.argmax(moons_nc < 4))  # the first step at which the moons' N_C falls below 4
    assert clusters_nc[t_r] > 50 * 16, clusters_nc[t_r]  # 1680: a hundred times the 16
    noise = torch.randn(500, 16, generator=torch.Generator().manual_seed(6))
    one, sixteen = mem.half_split_sweep(
        [gaussian_clusters(512, generator=20)], [1, 16], SCHEDULE, noise, n_steps=1000, generator=0
    )[0]
    assert one.ratio < 0.3 and sixteen.ratio > 0.5, (one.ratio, sixteen.ratio)


# The collapse criterion (Biroli, Bonnaire, de Bortoli & Mezard 2024) and the transition size.

SPECTRUM = torch.tensor([2.0, 1.0, 1.0, 0.5], dtype=torch.float64)


def _gaussian_posterior_entropy(n_train, alpha, sigma, sets=20, points=200, seed=0):
    """Mean posterior entropy over ``sets`` independent training sets of N(0, diag(SPECTRUM)),
    each probed at ``points`` fresh noisy points x = alpha x_0 + sigma eps; with its standard
    error over the sets."""
    g = torch.Generator().manual_seed(seed)
    scale, d = SPECTRUM.sqrt(), len(SPECTRUM)
    means = []
    for _ in range(sets):
        train = torch.randn(n_train, d, generator=g, dtype=torch.float64) * scale
        x0 = torch.randn(points, d, generator=g, dtype=torch.float64) * scale
        x = alpha * x0 + sigma * torch.randn(points, d, generator=g, dtype=torch.float64)
        means.append(float(mem.posterior_entropy(train, x, alpha, sigma).mean()))
    means = np.array(means)
    return means.mean(), means.std(ddof=1) / np.sqrt(sets)


def test_mutual_information_obeys_the_i_mmse_relation():
    """Guo, Shamai & Verdu (2005): dI/dsnr = mmse(snr) / 2 with snr = alpha^2 / sigma^2, for the
    MMSE of the exact Gaussian denoiser (summed over dimensions, sigma = 1 so that it is
    sum_k lambda_k / (1 + snr lambda_k)); I depends on alpha and sigma only through snr."""
    gauss = df.GaussianDenoiser(torch.zeros(4, dtype=torch.float64), torch.diag(SPECTRUM))
    info = lambda snr: mem.mutual_information(SPECTRUM, math.sqrt(snr), 1.0)  # noqa: E731
    for snr in [0.01, 0.3, 1.0, 4.0, 30.0]:
        h = 1e-5 * snr
        slope = (info(snr + h) - info(snr - h)) / (2 * h)
        assert slope == pytest.approx(0.5 * gauss.mmse(math.sqrt(snr), 1.0), rel=1e-7), snr
        scaled = mem.mutual_information(SPECTRUM.numpy(), 3 * math.sqrt(snr), 3.0)
        assert scaled == pytest.approx(info(snr), rel=1e-12)
    # I -> 0 as alpha -> 0, as alpha^2 sum(lambda) / (2 sigma^2) to first order
    assert mem.mutual_information(SPECTRUM, 0.0, 0.7) == 0.0
    for alpha in [1e-2, 1e-4]:
        first_order = alpha**2 * float(SPECTRUM.sum()) / (2 * 0.7**2)
        assert mem.mutual_information(SPECTRUM, alpha, 0.7) == pytest.approx(first_order, rel=1e-3)
    assert mem.collapse_size(SPECTRUM, 1.0, 1.0) == pytest.approx(math.sqrt(3 * 2 * 2 * 1.5))


def test_posterior_entropy_is_log_n_minus_i_for_many_points_and_collapses_for_few():
    """Gaussian data: for N >= 100 e^I the mean entropy of the posterior over training points is
    log N - I (within 4 standard errors or 0.05 nats); for N <= e^I / 8 the posterior sits on
    about one training point (mean entropy below log 2)."""
    alpha, sigma = 1.0, 1.0  # I = 1.445 nats, e^I = 4.24
    n_train = 500
    assert n_train >= 100 * mem.collapse_size(SPECTRUM, alpha, sigma)
    mean, error = _gaussian_posterior_entropy(n_train, alpha, sigma)
    theory = math.log(n_train) - mem.mutual_information(SPECTRUM, alpha, sigma)
    assert abs(mean - theory) < max(4 * error, 0.05), (mean, error, theory)
    sigma = 0.3  # I = 5.0 nats, e^I = 149
    n_train = 16
    assert n_train <= mem.collapse_size(SPECTRUM, alpha, sigma) / 8
    mean, _ = _gaussian_posterior_entropy(n_train, alpha, sigma)
    assert mean < math.log(2), mean


def test_posterior_entropy_is_the_entropy_of_the_training_set_denoisers_weights():
    """Brute force: the entropy of softmax(-|x - alpha x_i|^2 / 2 sigma^2) computed point by
    point, whose weighted mean of training points is MixtureDenoiser's exact training-set
    denoiser (zero widths); one training point gives 0, N copies of one point give log N, and a
    tiny sigma stays finite (a stable log-sum-exp)."""
    g = torch.Generator().manual_seed(3)
    train = torch.randn(30, 3, generator=g, dtype=torch.float64)
    x = 0.8 * torch.randn(12, 3, generator=g, dtype=torch.float64)
    alpha, sigma = 0.8, 0.6
    denoiser = df.MixtureDenoiser(train, 0.0)
    entropy = mem.posterior_entropy(train, x, alpha, sigma)
    assert entropy.shape == (12,) and entropy.dtype == torch.float64
    for row, h in zip(x, entropy, strict=True):
        logits = np.array([-np.sum((row.numpy() - alpha * t.numpy()) ** 2) for t in train])
        logits /= 2 * sigma**2
        w = np.exp(logits - logits.max())
        w /= w.sum()
        assert float(h) == pytest.approx(-np.sum(w * np.log(w)), abs=1e-10)
        mean = denoiser.denoise(row[None], alpha, sigma)[0]
        assert torch.allclose(mean, torch.as_tensor(w) @ train, atol=1e-10)
    zero = torch.zeros(12, dtype=torch.float64)
    assert torch.equal(mem.posterior_entropy(train[:1], x, alpha, sigma), zero)
    copies = train[:1].repeat(7, 1)
    assert torch.allclose(mem.posterior_entropy(copies, x, alpha, sigma),
                          torch.full((12,), math.log(7), dtype=torch.float64), atol=1e-12)
    tiny = mem.posterior_entropy(train, x, alpha, 1e-4)
    assert torch.isfinite(tiny).all() and float(tiny.max()) < 1e-6
    assert mem.posterior_entropy(train.float(), x.float(), alpha, sigma).dtype == torch.float32


def test_transition_size_interpolates_in_log_n_and_refuses_curves_that_do_not_cross():
    sizes = [4, 16, 64, 256]
    # crosses 0.5 halfway between 16 and 64: the geometric mean 32
    assert mem.transition_size(sizes, [0.1, 0.3, 0.7, 0.9]) == pytest.approx(32.0, rel=1e-12)
    # a quarter of the way from 4 to 16 in log N; the first crossing counts
    assert mem.transition_size(sizes, np.array([0.2, 1.0, 0.4, 0.9]), level=0.4) == pytest.approx(
        4 * 4**0.25, rel=1e-12
    )
    with pytest.raises(ValueError, match="never rises above 0.5"):
        mem.transition_size(sizes, [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="already above 0.5"):
        mem.transition_size(sizes, [0.6, 0.7, 0.8, 0.9])
    with pytest.raises(ValueError, match="ratios"):
        mem.transition_size(sizes, [0.1, 0.9])
