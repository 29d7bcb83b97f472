"""course_lib.flows: exact log-determinants and inverses for every layer and stack, normalization,
two-moons likelihood bounds, and reading couplings out of a flow trained on a phi^4 chain."""

import numpy as np
import pytest
import torch

from course_lib import flows as fl
from course_lib import sampling as sm
from course_lib.data import checkerboard, load_digits_split, rings, two_moons

MOONS_ENTROPY = 1.12  # differential entropy of standardized two moons at noise 0.05, nats (reference notes)


LAYERS = {
    "additive": lambda d: fl.AdditiveCoupling(d, fl.checkerboard_mask(d, 0), 16),
    "scaling": lambda d: fl.Scaling(d),
    "affine": lambda d: fl.AffineCoupling(d, fl.checkerboard_mask(d, 1), 16),
    "actnorm": lambda d: fl.ActNorm(d),
    "linear": lambda d: fl.InvertibleLinear(d, seed=3),
    "nice": lambda d: fl.nice(d, 4, 16),
    "realnvp": lambda d: fl.realnvp(d, 4, 16),
    "glow": lambda d: fl.glow(d, 3, 16),
}


@pytest.mark.parametrize("dim", [2, 3, 5, 8])
@pytest.mark.parametrize("name", list(LAYERS))
def test_log_det_matches_autograd_and_inverse_round_trips(name, dim):
    layer = fl.randomize_parameters(LAYERS[name](dim), seed=dim)
    x = torch.randn(6, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 1.5
    z, log_det = layer(x)
    torch.testing.assert_close(log_det, fl.autograd_log_det(layer, x), atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(layer.inverse(z), x, atol=1e-9, rtol=1e-9)


def test_actnorm_initializes_from_data():
    layer = fl.ActNorm(3)
    x = torch.randn(500, 3) * torch.tensor([1.0, 5.0, 0.1]) + 2.0
    z, _ = layer(x)
    torch.testing.assert_close(z.mean(0), torch.zeros(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(z.std(0), torch.ones(3), atol=1e-3, rtol=0)


def test_marginal_gaussianization_is_exact():
    digits = load_digits_split()
    layer = fl.MarginalGaussianization(digits.train, 17)
    y = torch.tensor(digits.test[:20], dtype=torch.float32) + torch.rand(20, 64, generator=torch.Generator().manual_seed(0))
    z, log_det = layer(y)
    torch.testing.assert_close(layer.inverse(z), y, atol=1e-3, rtol=0)
    # Alone, it is the model of independent (smoothed) pixel frequencies: log p(y) = sum_j log pi_j(floor y_j).
    flow = fl.Flow([layer], 64)
    expected = layer.log_probs.gather(1, y.floor().long().T).T.sum(-1)
    torch.testing.assert_close(flow.log_prob(y), expected, atol=1e-2, rtol=0)


@pytest.mark.parametrize("maker", [lambda: fl.nice(2, 4, 16), lambda: fl.realnvp(2, 4, 16), lambda: fl.glow(2, 2, 16)])
def test_density_integrates_to_one(maker):
    torch.manual_seed(0)
    flow = fl.randomize_parameters(maker(), scale=0.1, seed=5).float()  # random flows spread widely
    assert fl.grid_integral(flow, lim=20.0, n=1500) == pytest.approx(1.0, abs=2e-3)  # random flows spread widely


@pytest.fixture(scope="module")
def moons_flow():
    train, test = two_moons(4000, 0.05, generator=0), two_moons(2000, 0.05, generator=1)
    flow = fl.realnvp(2, 8, 64)
    fl.train_flow(flow, torch.tensor(train), n_steps=1500, show_progress=False)
    return flow, train, test


def test_two_moons_nll_lies_between_entropy_and_gaussian_fit(moons_flow):
    flow, train, test = moons_flow
    with torch.no_grad():
        nll = -flow.log_prob(torch.tensor(test, dtype=torch.float32)).mean().item()
    assert MOONS_ENTROPY < nll < fl.gaussian_nll(train, test) - 1.0
    assert fl.grid_integral(flow) == pytest.approx(1.0, abs=5e-3)


def test_flow_rejects_bad_shapes():
    with pytest.raises(ValueError, match="shape"):
        fl.realnvp(2, 2, 8).log_prob(torch.zeros(4, 3))


def phi4_samples(kappa, lam, n_sites=8):
    """The lecture's HMC run: 4000 chains, 150 steps, every 50th kept (12000 configurations)."""
    chains = sm.hmc(
        lambda x: -fl.phi4_action(x, kappa, lam), torch.zeros(4000, n_sites, dtype=torch.float64),
        step=0.2, n_leapfrog=10, n_steps=150, keep_every=50, generator=torch.Generator().manual_seed(0),
    )
    return chains.samples.reshape(-1, n_sites)


@pytest.mark.parametrize("kappa, lam", [(0.3, 0.0), (0.3, 0.2), (0.1, 1.0)])
def test_least_squares_on_the_true_action_recovers_it_exactly(kappa, lam):
    """The control of the lecture: the read-out itself adds no error when S is in the span."""
    points = torch.randn(3000, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    fitted = fl.effective_action_coefficients(lambda x: -fl.phi4_action(x, kappa, lam), points)
    truth = fl.phi4_coefficients(kappa, lam, 8)
    for term in truth:
        np.testing.assert_allclose(fitted[term], truth[term], atol=1e-8, rtol=0)
    assert truth["quadratic"][0] < 0 if lam > 0.5 else truth["quadratic"][0] >= 0  # double well iff lam > 1/2


def test_gaussian_chain_readout_recovers_half_the_inverse_covariance():
    data = phi4_samples(kappa=0.3, lam=0.0)
    flow = fl.realnvp(8, 8, 64)
    fl.train_flow(flow, data, n_steps=500, batch_size=512, seed=1, show_progress=False)
    coefficients = fl.effective_action_coefficients(flow.double().log_prob, data[:5000])
    half_precision = 0.5 * np.linalg.inv(np.cov(data.numpy(), rowvar=False))
    n = data.shape[1]
    # S = x^T A x with A = Sigma^-1 / 2: the x_i^2 coefficient is A_ii, the x_i x_{i+1} one 2 A_{i,i+1}.
    neighbour = [2 * half_precision[i, (i + 1) % n] for i in range(n)]
    np.testing.assert_allclose(coefficients["quadratic"], np.diag(half_precision), atol=0.06)
    np.testing.assert_allclose(coefficients["nearest_neighbour"], neighbour, atol=0.06)
    assert np.abs(coefficients["quartic"]).max() < 0.03


def test_interacting_chain_readout_coupling_right_quartic_biased_low_and_growing():
    """The lecture's lambda = 0.2 read-out after 500 and 1000 steps: phi_i phi_{i+1}, linear and
    next-nearest terms agree with the action; the quartic is positive but about 40 % of lambda and
    still growing, while the phi_i^2 coefficient is too large and falling."""
    kappa, lam, n = 0.3, 0.2, 8
    data = phi4_samples(kappa, lam)
    flow, stages = fl.realnvp(n, 8, 64), []
    for stage in range(2):
        fl.train_flow(flow.float(), data, n_steps=500, batch_size=512, seed=1 + stage, show_progress=False)
        stages.append(fl.effective_action_coefficients(flow.double().log_prob, data[:5000]))
    readout, truth = stages[-1], fl.phi4_coefficients(kappa, lam, n)
    for term in ("linear", "nearest_neighbour", "next_nearest"):
        standard_error = readout[term].std() / np.sqrt(n)
        assert abs(readout[term].mean() - truth[term].mean()) < 0.03 + 3 * standard_error, term
    assert np.all(readout["quartic"] > 0)
    assert 0.25 < readout["quartic"].mean() / lam < 0.55
    assert readout["quadratic"].mean() - (1 - 2 * lam) > 0.2
    assert stages[1]["quartic"].mean() > 2 * stages[0]["quartic"].mean()
    assert stages[1]["quadratic"].mean() < stages[0]["quadratic"].mean()


def rings_entropy_monte_carlo(n=200_000, sigma=0.08):
    """-E log p for the rings, p(x) = q(r) / (2 pi r), q the radial mixture, on fresh samples."""
    x = rings(n, sigma, generator=5)
    r = np.hypot(x[:, 0], x[:, 1])
    q = sum(np.exp(-((r - r0) ** 2) / (2 * sigma**2)) for r0 in (1.0, 2.0)) / (2 * np.sqrt(2 * np.pi) * sigma)
    log_p = np.log(q / (2 * np.pi * r))
    return -log_p.mean(), log_p.std() / np.sqrt(n)


def test_rings_are_the_hardest_of_the_three_densities_by_kl():
    """Lecture 05 section 2: test NLL minus the data entropy is largest for the rings."""
    entropy_rings, error = rings_entropy_monte_carlo()
    assert entropy_rings == pytest.approx(1.769, abs=max(5 * error, 0.005))  # the lecture's quadrature
    entropy = {"rings": entropy_rings, "checkerboard": np.log(8)}  # uniform on 8 unit squares
    kl = {}
    for col, (name, make) in enumerate({"rings": rings, "checkerboard": checkerboard}.items(), start=1):
        flow = fl.realnvp(2, 8, 64)
        fl.train_flow(flow, torch.tensor(make(4000, seed=0)), n_steps=500, seed=col, show_progress=False)
        with torch.no_grad():
            nll = -flow.log_prob(torch.tensor(make(2000, seed=1), dtype=torch.float32)).mean().item()
        assert nll > entropy[name] - 0.05  # a cross-entropy is never below the entropy
        kl[name] = nll - entropy[name]
    assert kl["rings"] > kl["checkerboard"] + 0.1
