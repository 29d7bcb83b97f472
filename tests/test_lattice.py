"""course_lib.lattice: the 2D phi^4 action and its Z2 symmetry, the free field's exact log Z and
propagator against dense linear algebra, importance weights that recover log Z, an independent
Metropolis-Hastings chain that samples its target exactly, and the Z2-symmetrized flow."""

import math

import numpy as np
import pytest
import torch

from course_lib import flows as fl
from course_lib import lattice as la
from course_lib import sampling as sm
from course_lib.stats import integrated_autocorrelation_time

F64 = torch.float64


def dense_M(L: int, kappa: float) -> np.ndarray:
    """M = 2 (1 - kappa A) of S = 1/2 phi^T M phi at lam = 0, A the periodic adjacency matrix,
    built site by site (independent of the module's Fourier formula)."""
    N = L * L
    A = np.zeros((N, N))
    for i in range(L):
        for j in range(L):
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                A[i * L + j, ((i + di) % L) * L + (j + dj) % L] += 1
    return 2 * (np.eye(N) - kappa * A)


def lattices(n: int, L: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, L, L, dtype=F64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("L", [2, 3, 4])
def test_action_at_lam_zero_is_the_quadratic_form_of_M(L):
    phi = lattices(5, L)
    M = torch.tensor(dense_M(L, 0.15))
    flat = phi.reshape(5, -1)
    expected = 0.5 * torch.einsum("bi,ij,bj->b", flat, M, flat)
    torch.testing.assert_close(la.lattice_action(phi, 0.15, 0.0), expected)


def test_action_by_hand_and_its_symmetries():
    # a constant field phi = c on L x L: N [-4 kappa c^2 + c^2 + lam (c^2 - 1)^2]
    c, kappa, lam = 0.7, 0.3, 0.5
    phi = torch.full((1, 4, 4), c, dtype=F64)
    expected = 16 * (-4 * kappa * c**2 + c**2 + lam * (c**2 - 1) ** 2)
    assert la.lattice_action(phi, kappa, lam).item() == pytest.approx(expected)
    phi = lattices(6, 5, seed=1)
    s = la.lattice_action(phi, kappa, lam)
    torch.testing.assert_close(la.lattice_action(-phi, kappa, lam), s)  # Z2
    shifted = torch.roll(phi, (2, 1), dims=(-2, -1))  # translations
    torch.testing.assert_close(la.lattice_action(shifted, kappa, lam), s)
    torch.testing.assert_close(la.lattice_action(phi.transpose(-1, -2), kappa, lam), s)
    target = la.Phi4(5, kappa, lam)
    torch.testing.assert_close(target.log_prob(phi.reshape(6, -1)), -s)
    # the one-row lattice reduces to the chain of flows.phi4_action plus the vertical bonds
    chain = fl.phi4_action(phi[:, 0], kappa, lam)
    rows = [fl.phi4_action(phi[:, i], kappa, lam) for i in range(5)]
    vertical = -2 * kappa * (phi * torch.roll(phi, -1, dims=-2)).sum((-2, -1))
    torch.testing.assert_close(sum(rows) + vertical, s)
    assert chain.shape == (6,)


@pytest.mark.parametrize("kappa", [-0.2, 0.0, 0.1, 0.24])
def test_free_field_log_z_is_minus_half_log_det_of_the_dense_M(kappa):
    L = 4
    _, logdet = np.linalg.slogdet(dense_M(L, kappa))
    expected = 0.5 * L * L * math.log(2 * math.pi) - 0.5 * logdet
    assert la.free_field_log_z(L, kappa) == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("L", [3, 4])
def test_free_field_propagator_is_the_dense_inverse(L):
    inverse = np.linalg.inv(dense_M(L, 0.2))
    G = la.free_field_propagator(L, 0.2)
    assert G.shape == (L, L) and G.dtype == F64
    np.testing.assert_allclose(G.numpy().ravel(), inverse[0], atol=1e-12)  # <phi_0 phi_x>
    # translation invariance: row (i, j) of M^-1 is G shifted by (i, j)
    np.testing.assert_allclose(torch.roll(G, (1, 2), (0, 1)).numpy().ravel(),
                               inverse[1 * L + 2], atol=1e-12)


def test_free_field_needs_a_positive_definite_M():
    la.free_field_log_z(4, 0.249)
    with pytest.raises(ValueError, match="kappa"):
        la.free_field_log_z(4, 0.25)
    with pytest.raises(ValueError, match="kappa"):
        la.free_field_propagator(4, -0.3)


def test_kish_ess_on_hand_made_weights():
    assert la.kish_ess(torch.ones(10)) == pytest.approx(10)
    assert la.kish_ess(torch.full((7,), 3.5)) == pytest.approx(7)
    assert la.kish_ess(torch.tensor([0.0, 0.0, 2.0, 0.0])) == pytest.approx(1)
    assert la.kish_ess(torch.tensor([1.0, 1.0, 0.0, 0.0])) == pytest.approx(2)
    # (sum w)^2 / sum w^2 by hand
    assert la.kish_ess(torch.tensor([1.0, 2.0, 3.0])) == pytest.approx(36 / 14)


def test_importance_weights_of_an_exact_proposal_are_uniform():
    """At kappa = 0, lam = 0 every site is N(0, 1/2): a flow that scales the prior by 1/sqrt(2)
    is the target, so every weight is equal, ESS = n and log Z is exact."""
    L, n = 3, 500
    scaling = fl.Scaling(L * L).double()
    with torch.no_grad():
        scaling.log_scale.fill_(0.5 * math.log(2))  # z = sqrt(2) x
    flow = fl.Flow([scaling], L * L)
    target = la.Phi4(L, 0.0, 0.0)
    x = flow.sample(n, generator=0)
    iw = la.importance_weights(flow.log_prob(x), target.action(x))
    assert iw.ess == pytest.approx(n) and iw.ess_per_sample == pytest.approx(1.0)
    assert iw.log_z == pytest.approx(la.free_field_log_z(L, 0.0), abs=1e-10)
    assert iw.log_z_error == pytest.approx(0.0, abs=1e-10)
    torch.testing.assert_close(iw.weights, torch.full((n,), 1 / n, dtype=F64))


def test_reweighting_the_prior_recovers_the_free_field_log_z_and_propagator():
    """The standard-normal prior as a (poor) proposal at small kappa: log mean exp(-S - log q)
    and the reweighted <phi_0 phi_x> agree with the closed forms within their error bars."""
    L, kappa, n = 4, 0.08, 40_000
    prior = fl.Flow([], L * L).double()
    target = la.Phi4(L, kappa, 0.0)
    x = prior.sample(n, generator=1)
    iw = la.importance_weights(prior.log_prob(x), target.action(x))
    assert 0.02 < iw.ess_per_sample < 0.5  # a poor proposal, but not a hopeless one
    assert abs(iw.log_z - la.free_field_log_z(L, kappa)) < 4 * iw.log_z_error
    G = la.free_field_propagator(L, kappa).reshape(-1)
    for site in (0, 1, 5):
        mean, error = la.reweighted_mean(x[:, 0] * x[:, site], iw.weights)
        assert abs(mean - G[site].item()) < 4 * error
    # the variational free energy of the prior bounds -log Z from above
    f, f_error = la.variational_free_energy_estimate(prior, target.action, 4000, generator=2)
    assert f > -la.free_field_log_z(L, kappa) + 3 * f_error


def test_reverse_kl_training_brings_a_flow_to_the_free_field():
    """A short reverse-KL run at lam = 0 lowers F_q towards -log Z and raises the ESS."""
    L, kappa = 4, 0.15
    target = la.Phi4(L, kappa, 0.0)
    flow = la.lattice_realnvp(L, n_layers=4, hidden=32, generator=0).double()
    exact = -la.free_field_log_z(L, kappa)
    before, _ = la.variational_free_energy_estimate(flow, target.action, 2000, generator=1)
    losses = la.train_reverse_kl(flow, target.action, n_steps=150, batch_size=128, lr=3e-3,
                                 generator=0, show_progress=False)
    assert len(losses) == 150
    after, error = la.variational_free_energy_estimate(flow, target.action, 4000, generator=1)
    assert exact - 3 * error < after < before
    assert after - exact < 0.3 * (before - exact)
    with torch.no_grad():
        x = flow.sample(4000, generator=2)
        iw = la.importance_weights(flow.log_prob(x), target.action(x))
    assert iw.ess_per_sample > 0.5
    assert abs(iw.log_z + exact) < 4 * iw.log_z_error + 1e-3


def test_flow_metropolis_samples_a_two_site_gaussian_exactly():
    """Fixed Gaussian proposal, correlated Gaussian target: the chain's mean and covariance match
    the target's within error bars that account for the autocorrelation time."""
    target = sm.Gaussian([0.5, -0.3], [[1.0, 0.6], [0.6, 0.8]])
    proposal = sm.Gaussian([0.0, 0.0], [[2.0, 0.0], [0.0, 2.0]])
    x0 = torch.zeros(8, 2, dtype=F64)
    chains = la.flow_metropolis(target.log_prob, proposal, x0, n_steps=4000, generator=0)
    assert chains.samples.shape == (4000, 8, 2)
    assert 0.3 < chains.acceptance.mean().item() < 0.95
    x = chains.samples[200:]  # (time, chains, 2)
    for name, values, exact in [
        ("x1", x[..., 0], 0.5),
        ("x2", x[..., 1], -0.3),
        ("x1^2", (x[..., 0] - 0.5) ** 2, 1.0),
        ("x2^2", (x[..., 1] + 0.3) ** 2, 0.8),
        ("x1 x2", (x[..., 0] - 0.5) * (x[..., 1] + 0.3), 0.6),
    ]:
        series = values.T.numpy()  # (chains, time)
        tau = integrated_autocorrelation_time(series)
        error = series.std() * math.sqrt(tau / series.size)
        assert abs(series.mean() - exact) < 4 * error, name


def test_flow_metropolis_with_the_exact_proposal_always_accepts():
    target = sm.Gaussian([0.0, 1.0], [[1.0, 0.3], [0.3, 2.0]])
    chains = la.flow_metropolis(target.log_prob, target, target.sample(3, 0), n_steps=50,
                                keep_every=5, generator=1)
    assert chains.samples.shape == (10, 3, 2)
    torch.testing.assert_close(chains.acceptance, torch.ones(3, dtype=F64))


def test_z2_symmetrized_flow_is_normalized_symmetric_and_samples_both_signs():
    flow = fl.randomize_parameters(fl.realnvp(2, 4, 16, generator=0), scale=0.3, generator=3)
    sym = la.Z2Symmetrized(flow)
    x = torch.randn(2000, 2, dtype=F64, generator=torch.Generator().manual_seed(0))
    lim, n = 12.0, 600
    h = 2 * lim / n
    g = -lim + h * (torch.arange(n, dtype=F64) + 0.5)
    grid = torch.stack(torch.meshgrid(g, g, indexing="xy"), -1).reshape(-1, 2)
    with torch.no_grad():
        assert float(sym.log_prob(grid).exp().sum() * h * h) == pytest.approx(1.0, abs=2e-3)
        assert not torch.allclose(flow.log_prob(-x), flow.log_prob(x))  # q itself is not even
        torch.testing.assert_close(sym.log_prob(-x), sym.log_prob(x))
        # q_sym = (q(x) + q(-x)) / 2, written out
        expected = torch.log((flow.log_prob(x).exp() + flow.log_prob(-x).exp()) / 2)
        torch.testing.assert_close(sym.log_prob(x), expected)
        draws = sym.sample(4000, generator=0)
        base = flow.sample(4000, generator=0)
    torch.testing.assert_close(draws.abs(), base.abs())  # a sign flip of the flow's draws
    flipped = (draws[:, 0] != base[:, 0]).double().mean().item()
    assert 0.45 < flipped < 0.55


def test_z2_symmetrization_restores_the_lost_mode_of_a_collapsed_proposal():
    """A proposal with all its mass at M > 0 (the prior shifted by +1) for a target with both
    signs: its samples never have M < 0, the symmetrized proposal's half of them; the
    symmetrized importance weights then give <M> = 0, as the Z2 symmetry demands."""
    L = 4
    shift = fl.Flow([], L * L).double()
    shift.base_mean.fill_(1.0)  # q = N(1, I): the positive mode only
    target = la.Phi4(L, 0.3, 0.5)
    sym = la.Z2Symmetrized(shift)
    with torch.no_grad():
        x = shift.sample(4000, generator=0)
        y = sym.sample(4000, generator=0)
        iw = la.importance_weights(sym.log_prob(y), target.action(y))
    assert (la.magnetization(x) > 0).double().mean() > 0.99
    assert 0.45 < (la.magnetization(y) > 0).double().mean() < 0.55
    mean, error = la.reweighted_mean(la.magnetization(y), iw.weights)
    assert abs(mean) < 4 * error


def test_lattice_realnvp_starts_as_the_prior_and_masks_alternate():
    flow = la.lattice_realnvp(4, n_layers=2, hidden=8, generator=0).double()
    x = lattices(3, 4).reshape(3, -1)
    torch.testing.assert_close(flow.log_prob(x), fl.Flow([], 16).double().log_prob(x))
    m0, m1 = la.lattice_mask(4, 0).reshape(4, 4), la.lattice_mask(4, 1).reshape(4, 4)
    assert torch.equal(m0, ~m1) and int(m0.sum()) == 8
    # the neighbours of a conditioning site are all transformed
    assert not (m0 & torch.roll(m0, 1, 0)).any() and not (m0 & torch.roll(m0, 1, 1)).any()
    assert torch.equal(flow.layers[1].mask, m1.reshape(-1))
