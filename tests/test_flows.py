"""course_lib.flows: exact log-determinants and inverses for every layer and stack, normalization,
two-moons likelihood bounds, and reading couplings out of a flow trained on a phi^4 chain."""

import numpy as np
import pytest
import torch

from course_lib import flows as fl
from course_lib import sampling as sm
from course_lib.data import load_digits_split, two_moons

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
    train, test = two_moons(4000, 0.05, seed=0), two_moons(2000, 0.05, seed=1)
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
    chains = sm.hmc(lambda x: -fl.phi4_action(x, kappa, lam), torch.zeros(4000, n_sites, dtype=torch.float64), 0.2, 10, 150, keep_every=50, generator=torch.Generator().manual_seed(0))
    return chains.samples.reshape(-1, n_sites).float()


def trained_phi4_flow(data):
    torch.manual_seed(0)
    flow = fl.realnvp(data.shape[1], 8, 64)
    fl.train_flow(flow, data, n_steps=2000, batch_size=512, show_progress=False)
    return flow.double()


def test_gaussian_chain_readout_recovers_half_the_inverse_covariance():
    data = phi4_samples(kappa=0.3, lam=0.0)
    coefficients = fl.effective_action_coefficients(trained_phi4_flow(data).log_prob, data.double()[:5000])
    half_precision = 0.5 * np.linalg.inv(np.cov(data.numpy(), rowvar=False))
    n = data.shape[1]
    # S = x^T A x with A = Sigma^-1 / 2: the x_i^2 coefficient is A_ii, the x_i x_{i+1} coefficient is 2 A_{i,i+1}.
    np.testing.assert_allclose(coefficients["quadratic"], np.diag(half_precision), atol=0.08)
    np.testing.assert_allclose(coefficients["nearest_neighbour"], [2 * half_precision[i, (i + 1) % n] for i in range(n)], atol=0.08)
    assert np.abs(coefficients["quartic"]).max() < 0.05 and np.abs(coefficients["next_nearest"]).max() < 0.08


def test_interacting_chain_readout_finds_coupling_and_quartic_term():
    kappa, lam = 0.3, 0.2
    data = phi4_samples(kappa, lam)
    coefficients = fl.effective_action_coefficients(trained_phi4_flow(data).log_prob, data.double()[:5000])
    assert np.all(np.abs(coefficients["nearest_neighbour"] / (-2 * kappa) - 1) < 0.15)  # sign and size within 15%
    assert np.all(coefficients["quartic"] > 0)
    assert 0.3 * lam < coefficients["quartic"].mean() < 1.5 * lam  # right sign, magnitude within a factor ~2
