"""course_lib.variational against exact results: Kaufman's finite-lattice Z against enumeration
and Onsager, the autoregressive model's normalization, sampling and masks, REINFORCE against the
exact gradient, and the variational bound F_q = F + T KL(q || p)."""

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from course_lib import ising
from course_lib import variational as va

F64 = torch.float64


def _model(n_spins: int, seed: int = 0, **options) -> va.AutoregressiveSpins:
    """A float64 model whose parameters are pushed off PyTorch's initialization, so that its
    conditionals are far from uniform and every check below has something to check."""
    model = va.AutoregressiveSpins(n_spins, generator=seed, **options).double()
    generator = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=generator, dtype=F64))
    return model


def _states(n_spins: int) -> torch.Tensor:
    return torch.as_tensor(ising.all_configurations(n_spins), dtype=F64)


# ----------------------------------------------------------------------------- exact results
@pytest.mark.parametrize("L", [2, 3, 4])
def test_kaufman_equals_enumeration(L):
    """Kaufman's formula holds for every L >= 2, odd ones included, above and below T_c."""
    T = np.linspace(1.0, 5.0, 81)
    np.testing.assert_allclose(va.kaufman_log_z(L, T), va.enumerated_log_z(L, T), rtol=0,
                               atol=1e-10)
    assert va.kaufman_log_z(L, ising.T_C) == pytest.approx(va.enumerated_log_z(L, ising.T_C),
                                                           abs=1e-10)


def test_kaufman_approaches_onsager():
    """At L = 64 the finite lattice's f is Onsager's away from T_c: exponentially close above,
    and below T_c short by T ln 2 / L^2, the entropy of choosing one of the two ordered states."""
    T = np.array([1.5, 2.0, 2.6, 3.0, 4.0])
    f_64, f_inf = va.exact_free_energy_per_site(64, T), ising.onsager_free_energy(T)
    np.testing.assert_allclose(f_64, f_inf, atol=1e-3)
    below = T < ising.T_C
    np.testing.assert_allclose((f_64 - f_inf)[below], -T[below] * np.log(2) / 64**2, atol=2e-6)
    np.testing.assert_allclose((f_64 - f_inf)[~below], 0.0, atol=1e-9)


def test_kaufman_is_stable_at_low_temperature():
    """Z -> 2 exp(2N/T) as T -> 0 (the two ground states): no overflow, finite logs."""
    assert va.kaufman_log_z(8, 0.02) == pytest.approx(2 * 64 / 0.02 + np.log(2), rel=1e-14)
    assert np.isfinite(va.kaufman_log_z(32, [0.05, 1.0, ising.T_C, 100.0])).all()


def test_spin_energy_is_the_ising_lattice_energy():
    spins = np.random.default_rng(0).choice([-1, 1], size=(20, 5, 5))
    torch_energy = va.spin_energy(torch.as_tensor(spins.reshape(20, 25), dtype=F64))
    np.testing.assert_allclose(torch_energy.numpy(), 25 * ising.lattice_energy(spins))


# ----------------------------------------------------------------------------- the model
@pytest.mark.parametrize("n_spins, options", [
    (9, {"hidden": 16, "depth": 2}), (9, {"hidden": 8, "depth": 0}),
    (16, {"hidden": 32, "depth": 1, "z2": True}), (16, {"hidden": 32, "depth": 2}),
])
def test_autoregressive_model_is_normalized(n_spins, options):
    total = _model(n_spins, **options).log_prob(_states(n_spins)).exp().sum().item()
    assert total == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("z2", [False, True])
def test_samples_follow_q(z2):
    """Ancestral sampling draws exactly from q: chi-square over the 16 states of 4 spins, and
    the log q returned with the samples is ``log_prob`` of them."""
    model = _model(4, hidden=8, depth=1, z2=z2)
    spins, log_q = model.sample(40_000, generator=1, return_log_prob=True)
    torch.testing.assert_close(log_q, model.log_prob(spins))
    index = ((spins > 0).long() * torch.tensor([8, 4, 2, 1])).sum(-1)
    observed = np.bincount(index.numpy(), minlength=16)
    expected = 40_000 * model.log_prob(_states(4)).exp().detach().numpy()
    assert chisquare(observed, expected).pvalue > 1e-3


def test_conditionals_depend_only_on_earlier_spins():
    """The Jacobian d l_i / d s_j of the logits is strictly lower triangular (zero for j >= i),
    and, with hidden >= N - 1, every earlier spin does reach every later logit."""
    model = _model(9, hidden=16, depth=2)
    x = torch.randn(9, dtype=F64, generator=torch.Generator().manual_seed(0))
    jacobian = torch.autograd.functional.jacobian(lambda v: model(v[None])[0], x)
    upper = torch.triu(torch.ones(9, 9, dtype=torch.bool))
    assert bool((jacobian[upper] == 0).all())
    assert bool((jacobian[~upper] != 0).all())


def test_z2_model_is_symmetric():
    model, states = _model(9, hidden=16, z2=True), _states(9)
    torch.testing.assert_close(model.log_prob(states), model.log_prob(-states))


# ----------------------------------------------------------------------------- free energy
def test_reinforce_gradient_matches_the_exact_gradient():
    """The leave-one-out REINFORCE estimate of grad F_q is unbiased: over 20 batches of 5000
    samples its mean agrees with autograd through the exact sum over the 2^4 states of a 2 x 2
    lattice, within 5 standard errors in every component."""
    model, T = _model(4, hidden=6, depth=1), 2.5
    exact = torch.autograd.grad(va.enumerated_free_energy(model, T), list(model.parameters()))
    exact = torch.cat([g.ravel() for g in exact])
    generator, estimates = torch.Generator().manual_seed(3), []
    for _ in range(20):
        surrogate, _ = va.reinforce_loss(model, model.sample(5000, generator=generator), T)
        grads = torch.autograd.grad(surrogate, list(model.parameters()), allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for g, p in
                 zip(grads, model.parameters(), strict=True)]
        estimates.append(torch.cat([g.ravel() for g in grads]))
    estimates = torch.stack(estimates)
    mean, error = estimates.mean(0), estimates.std(0) / np.sqrt(len(estimates))
    assert bool((abs(mean - exact) <= 5 * error + 1e-12).all())
    assert float((mean - exact).norm() / exact.norm()) < 0.05


def test_variational_bound_and_the_kl_gap():
    """F_q >= F, and F_q - F = T KL(q || p) with p the Boltzmann distribution (L = 3, exact sums
    over the 512 states); the sampled estimate of F_q agrees with the exact sum."""
    L, T = 3, 2.0
    model = va.AutoregressiveSpins(L * L, hidden=16, depth=1, generator=0).double()
    va.train_variational(model, T, n_steps=40, batch_size=128, generator=1, show_progress=False)
    f_q = va.enumerated_free_energy(model, T).item()
    f = float(va.exact_free_energy_per_site(L, T))
    states = _states(L * L)
    log_q = model.log_prob(states).detach()
    log_p = -va.spin_energy(states) / T - va.kaufman_log_z(L, T)
    kl = float((log_q.exp() * (log_q - log_p)).sum())
    assert f_q > f
    assert f_q - f == pytest.approx(T * kl / L**2, rel=1e-9, abs=1e-12)
    mean, error = va.variational_free_energy(model, T, 20_000, generator=2)
    assert abs(mean - f_q) < 5 * error


def test_training_at_L4_T3_reaches_one_percent():
    """A few seconds of training (L = 4, T = 3, float32) bring F_q within 1% of Kaufman's F."""
    model = va.AutoregressiveSpins(16, hidden=32, depth=1, generator=0)
    losses = va.train_variational(model, 3.0, n_steps=150, batch_size=256, generator=1,
                                  show_progress=False)
    exact = float(va.exact_free_energy_per_site(4, 3.0))
    mean, _ = va.variational_free_energy(model, 3.0, 10_000, generator=2)
    assert len(losses) == 150 and losses[-1] < losses[0]
    assert exact <= mean < exact + 0.01 * abs(exact)


def test_annealing_starts_hot_and_ends_at_T():
    """With beta annealing the first steps are at high temperature (F_q / N near -T ln 2 of free
    spins, far below F at T), and the model still ends within 1% at T = 1.5 (L = 4, Z2)."""
    T = 1.5
    model = va.AutoregressiveSpins(16, hidden=32, depth=1, z2=True, generator=0)
    losses = va.train_variational(model, T, n_steps=200, batch_size=256, anneal_steps=100,
                                  generator=1, show_progress=False)
    assert losses[0] < -50 * np.log(2)  # T_1 = 100 T: F / N ~ -T_1 ln 2
    exact = float(va.exact_free_energy_per_site(4, T))
    mean, _ = va.variational_free_energy(model, T, 10_000, generator=2)
    assert exact <= mean < exact + 0.01 * abs(exact)
