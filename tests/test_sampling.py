"""course_lib.sampling against closed forms: ULA bias and autocorrelation time, exactness of MALA
and HMC, leapfrog energy error, volume preservation and reversibility, optimal-scaling acceptance
rates, Langevin and tempering across a barrier, and a trained EBM scored against held-out data."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from course_lib import sampling as sm
from course_lib.data import two_moons
from course_lib.stats import (
    auc,
    effective_sample_size,
    energy_distance,
    integrated_autocorrelation_time,
)

STANDARD_NORMAL = sm.Gaussian([0.0], [[1.0]])


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("step", [0.1, 0.5, 1.0, 1.5])
def test_ula_stationary_variance_matches_closed_form(step):
    x0 = torch.zeros(4000, 1, dtype=torch.float64)
    chains = sm.ula(STANDARD_NORMAL.log_prob, x0, step=step, n_steps=300, generator=gen(1))
    tail = chains.samples[100:, :, 0]
    exact = sm.ula_stationary_variance(1.0, step)
    # Standard error of a variance from 4000 independent chains x 200 correlated steps: use the
    # chain ends only.
    ends = tail[-1].numpy()
    se = exact * math.sqrt(2 / len(ends))
    assert abs(ends.var() - exact) < 5 * se
    assert abs(tail.var().item() - exact) < 0.03 * exact


def test_ula_is_unstable_beyond_twice_the_variance():
    with pytest.raises(ValueError, match="unstable"):
        sm.ula_stationary_variance(1.0, 2.5)


@pytest.mark.parametrize("step", [0.5, 1.0])
def test_mala_passes_ks_where_ula_fails(step):
    x0 = torch.zeros(3000, 1, dtype=torch.float64)
    mala_ends = (
        sm.mala(STANDARD_NORMAL.log_prob, x0, step=step, n_steps=200, generator=gen(2))
        .samples[-1, :, 0]
        .numpy()
    )
    ula_ends = (
        sm.ula(STANDARD_NORMAL.log_prob, x0, step=step, n_steps=200, generator=gen(3))
        .samples[-1, :, 0]
        .numpy()
    )
    assert stats.kstest(mala_ends, "norm").pvalue > 0.01
    assert stats.kstest(ula_ends, "norm").pvalue < 1e-3


def test_mala_and_hmc_sample_the_banana_exactly():
    banana = sm.Banana()
    exact = banana.sample(20000, gen(4)).numpy()
    # start in equilibrium: the test is about exactness, not burn-in
    x0 = banana.sample(2000, gen(5))
    for chains in (
        sm.mala(banana.log_prob, x0, step=0.3, n_steps=100, generator=gen(6)),
        sm.hmc(banana.log_prob, x0, step=0.2, n_leapfrog=10, n_steps=30, generator=gen(7)),
    ):
        ends = chains.samples[-1].numpy()
        for k in range(2):
            assert stats.ks_2samp(ends[:, k], exact[:, k]).pvalue > 0.01


def test_leapfrog_energy_error_is_second_order():
    banana = sm.Banana()
    x = banana.sample(500, gen(8))
    p = torch.randn(x.shape, generator=gen(9), dtype=torch.float64)
    errors = []
    for step in (0.2, 0.1, 0.05):
        # trajectory length 1
        y, q = sm.leapfrog(banana.log_prob, x, p, step, int(round(1.0 / step)))
        errors.append(
            (sm.hamiltonian(banana.log_prob, y, q) - sm.hamiltonian(banana.log_prob, x, p))
            .abs()
            .mean()
            .item()
        )
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    np.testing.assert_allclose(ratios, 4.0, rtol=0.15)


def test_leapfrog_is_time_reversible():
    banana = sm.Banana()
    x = banana.sample(50, gen(10))
    r = torch.randn(x.shape, generator=gen(11), dtype=torch.float64)
    y, r_end = sm.leapfrog(banana.log_prob, x, r, 0.1, 20)
    x_back, r_back = sm.leapfrog(banana.log_prob, y, -r_end, 0.1, 20)
    torch.testing.assert_close(x_back, x)
    torch.testing.assert_close(-r_back, r)


def test_leapfrog_preserves_phase_space_volume():
    """The leapfrog map is a composition of shears, so its Jacobian determinant is exactly 1, even
    at a step size where the energy error is large (lecture 03, section 2). The autograd Jacobian
    includes the force's dependence on x (it matches finite differences), and the same check
    rejects a non-symplectic integrator (explicit Euler), so it can fail."""
    banana = sm.Banana()

    def euler(log_prob, x, r, step, n_steps):
        for _ in range(n_steps):
            x, r = x + step * r, r + step * sm.score(log_prob, x)
        return x, r

    for seed in range(3):
        z0 = torch.randn(4, generator=gen(20 + seed), dtype=torch.float64) * 2

        def flow(z, integrate=sm.leapfrog):
            y, r = integrate(banana.log_prob, z[None, :2], z[None, 2:], 0.4, 10)
            return torch.cat([y[0], r[0]])

        jacobian = torch.autograd.functional.jacobian(flow, z0)
        eps = 1e-6
        finite_differences = torch.stack(
            [
                (flow(z0 + eps * e) - flow(z0 - eps * e)) / (2 * eps)
                for e in torch.eye(4, dtype=torch.float64)
            ],
            dim=1,
        )
        torch.testing.assert_close(jacobian, finite_differences, rtol=1e-5, atol=1e-5)
        assert torch.linalg.det(jacobian).item() == pytest.approx(1.0, abs=1e-9)
        # the map does move phase space
        assert not torch.allclose(jacobian, torch.eye(4, dtype=torch.float64))
        euler_det = torch.linalg.det(
            torch.autograd.functional.jacobian(lambda z: flow(z, euler), z0)
        ).item()
        assert abs(euler_det - 1) > 1e-3


def test_optimal_scaling_acceptance_rates_in_high_dimension():
    """0.234 for random-walk Metropolis (Roberts, Gelman & Gilks 1997), 0.574 for MALA (Roberts &
    Rosenthal 1998); at those scalings MALA gives over twice the effective samples per step."""
    d = 50
    target = sm.Gaussian(torch.zeros(d), torch.eye(d))
    x0 = target.sample(200, gen(12))
    rwm = sm.random_walk_metropolis(
        target.log_prob, x0, step=2.38 / math.sqrt(d), n_steps=200, generator=gen(13)
    )
    mala = sm.mala(
        target.log_prob, x0, step=1.65**2 / 2 * d ** (-1 / 3), n_steps=200, generator=gen(14)
    )
    # 200 chains x 200 steps: the acceptance rate's standard error is about 0.003
    assert rwm.acceptance.mean().item() == pytest.approx(0.234, abs=0.02)
    assert mala.acceptance.mean().item() == pytest.approx(0.574, abs=0.02)
    ess = [effective_sample_size(c.samples[:, :, 0].T.numpy()) for c in (rwm, mala)]
    assert ess[1] > 2 * ess[0]


def test_ula_autocorrelation_time_is_that_of_an_ar1_chain():
    for step in (0.1, 0.25, 0.5, 1.0):
        x0 = torch.randn(1000, 1, generator=gen(21), dtype=torch.float64)
        chains = sm.ula(STANDARD_NORMAL.log_prob, x0, step=step, n_steps=300, generator=gen(22))
        tau = integrated_autocorrelation_time(chains.samples[:, :, 0].T.numpy())
        assert tau == pytest.approx(sm.ula_autocorrelation_time(1.0, step), rel=0.08)
    with pytest.raises(ValueError, match="unstable"):
        sm.ula_autocorrelation_time(1.0, 2.0)


def test_langevin_crosses_the_double_well_barrier_and_descent_does_not():
    """Lecture 03, section 1: after 2000 steps of h = 0.01 (time 20, about ten Kramers times)
    half of the Langevin walkers are in the right well, within binomial error."""
    well = sm.DoubleWell(barrier=2.0)
    start = torch.tensor([-1.0, 0.0], dtype=torch.float64) + 0.3 * torch.randn(
        300, 2, generator=gen(23), dtype=torch.float64
    )
    ends = sm.ula(
        well.log_prob, start, step=0.01, n_steps=2000, keep_every=2000, generator=gen(24)
    ).samples[-1]
    right = (ends[:, 0] > 0).double().mean().item()
    assert abs(right - 0.5) < 3 * math.sqrt(0.25 / 300)
    descent = start.clone()
    for _ in range(2000):
        descent = descent + 0.01 * sm.score(well.log_prob, descent)
    assert torch.allclose(descent[:, 0], torch.tensor(-1.0, dtype=torch.float64), atol=1e-3)


def test_parallel_tempering_crosses_a_barrier_that_metropolis_cannot():
    mixture = sm.GaussianMixture([0.5, 0.5], [[-4.0, 0.0], [4.0, 0.0]], [0.5, 0.5])
    start = torch.full((200, 2), -4.0, dtype=torch.float64)
    run = dict(temperatures=[1, 2, 4, 8, 16], step=0.5, n_steps=800)
    ladder = sm.parallel_tempering(mixture.log_prob, start, **run, generator=gen(15))
    assert ladder.samples.shape == (800, 200, 2) and ladder.swap_acceptance.shape == (4,)
    per_chain = (ladder.samples[200:, :, 0] > 0).double().mean(0)  # chains are independent
    error = per_chain.std().item() / math.sqrt(len(per_chain))
    assert abs(per_chain.mean().item() - 0.5) < 4 * error
    assert torch.all(ladder.swap_acceptance > 0.3)
    stuck = sm.random_walk_metropolis(
        mixture.log_prob, start, step=0.5, n_steps=800, generator=gen(16)
    )
    # the T = 1 chains of the ladder move by the same random-walk rule within a mode as RWM
    assert abs(ladder.acceptance.mean().item() - stuck.acceptance.mean().item()) < 0.05
    thinned = sm.parallel_tempering(
        mixture.log_prob, start, **run, keep_every=100, generator=gen(15)
    )
    torch.testing.assert_close(thinned.samples, ladder.samples[99::100])
    assert (stuck.samples[:, :, 0] > 0).double().mean().item() < 0.01


def test_ula_relaxation_follows_the_fokker_planck_solution():
    x0, variance = 3.0, 1.0
    step = 0.005
    target = sm.Gaussian([0.0], [[variance]])
    start = torch.full((20000, 1), x0, dtype=torch.float64)
    chains = sm.ula(
        target.log_prob, start, step=step, n_steps=400, keep_every=100, generator=gen(17)
    )
    for k, t in enumerate((0.5, 1.0, 1.5, 2.0)):
        mean, var = sm.ornstein_uhlenbeck_moments(x0, variance, t)
        x = chains.samples[k, :, 0]
        n = len(x)  # independent walkers: standard errors sqrt(var / n) and var sqrt(2 / n)
        assert abs(x.mean().item() - mean) < 4 * math.sqrt(var / n)
        # + ULA's O(h) bias
        assert abs(x.var().item() - var) < 4 * var * math.sqrt(2 / n) + 0.01 * var


def test_random_walk_autocorrelation_grows_as_step_shrinks():
    x0 = torch.zeros(64, 1, dtype=torch.float64)
    taus = [
        integrated_autocorrelation_time(
            sm.random_walk_metropolis(
                STANDARD_NORMAL.log_prob, x0, step=s, n_steps=3000, generator=gen(18)
            )
            .samples[500:, :, 0]
            .T.numpy()
        )
        for s in (0.2, 2.4)
    ]
    assert taus[0] > 5 * taus[1]


def test_score_of_a_gaussian():
    target = sm.Gaussian([1.0, -1.0], [[2.0, 0.5], [0.5, 1.0]])
    x = torch.randn(10, 2, generator=gen(19), dtype=torch.float64)
    expected = -(x - target.dist.loc) @ torch.linalg.inv(target.dist.covariance_matrix)
    torch.testing.assert_close(sm.score(target.log_prob, x), expected)


def test_samplers_reject_bad_arguments():
    x0 = torch.zeros(5, 1, dtype=torch.float64)
    with pytest.raises(ValueError, match="x0"):
        sm.ula(STANDARD_NORMAL.log_prob, torch.zeros(5, dtype=torch.float64), step=0.1, n_steps=10)
    with pytest.raises(ValueError, match="step"):
        sm.mala(STANDARD_NORMAL.log_prob, x0, step=-0.1, n_steps=10)
    with pytest.raises(ValueError, match="n_steps"):
        sm.hmc(STANDARD_NORMAL.log_prob, x0, step=0.1, n_leapfrog=5, n_steps=0)
    with pytest.raises(TypeError):  # the tuning arguments are keyword-only
        sm.ula(STANDARD_NORMAL.log_prob, x0, 0.1, 10)
    with pytest.raises(ValueError, match="log_prob"):  # one value per chain, not (chains, 1)
        sm.random_walk_metropolis(lambda x: -(x**2), x0, step=0.1, n_steps=10)
    with pytest.raises(
        ValueError, match="log_prob"
    ):  # a start outside the support would never move
        sm.random_walk_metropolis(lambda x: torch.log(x[:, 0]), x0 - 1, step=0.1, n_steps=10)


def test_an_integer_seed_is_a_cpu_generator_and_noise_follows_the_start():
    x0 = torch.zeros(20, 2, dtype=torch.float64)
    by_seed = sm.mala(STANDARD_NORMAL.log_prob, x0[:, :1], step=0.5, n_steps=5, generator=7)
    by_generator = sm.mala(
        STANDARD_NORMAL.log_prob, x0[:, :1], step=0.5, n_steps=5, generator=gen(7)
    )
    torch.testing.assert_close(by_seed.samples, by_generator.samples, rtol=0, atol=0)
    single = sm.random_walk_metropolis(
        sm.Banana().log_prob, x0.float(), step=0.5, n_steps=3, generator=1
    )
    assert single.samples.dtype == torch.float32 and single.acceptance.dtype == torch.float32


def test_trained_ebm_learns_where_the_data_are_and_samples_them():
    """Lecture 03, section 8: held-out points have lower energy than empty space, and the EBM's
    Langevin samples score an energy distance to held-out data between the noise floor (i.i.d.
    data samples, |ED| < 0.002) and half that of a Gaussian fit."""
    from scipy.spatial import cKDTree

    data = two_moons(2000, 0.05, generator=0)
    held_out = two_moons(2000, 0.05, generator=1)
    model, _ = sm.train_ebm(
        torch.tensor(data, dtype=torch.float32), n_iterations=600, generator=0, show_progress=False
    )
    uniform = np.random.default_rng(0).uniform(-3, 3, (4000, 2))
    # at least 0.5 away from every data point
    empty = uniform[cKDTree(data).query(uniform)[0] > 0.5]
    with torch.no_grad():
        e_data = model(torch.tensor(held_out, dtype=torch.float32)).numpy()
        e_empty = model(torch.tensor(empty, dtype=torch.float32)).numpy()
    assert auc(e_data, e_empty) > 0.95
    assert np.median(e_data) < np.median(e_empty)

    start = 3 * (torch.rand(2000, 2, generator=gen(25), dtype=torch.float64) * 2 - 1)
    samples = sm.ula(
        lambda x: model.log_prob(x.float()).double(),
        start,
        step=0.01,
        n_steps=300,
        keep_every=300,
        generator=gen(26),
    ).samples[-1]
    pool = torch.tensor(two_moons(200_000, 0.05, generator=2))
    floor = [
        energy_distance(pool[torch.randperm(len(pool), generator=gen(k))[:2000]], held_out)
        for k in range(5)
    ]
    gaussian = sm.Gaussian(data.mean(0), np.cov(data.T)).sample(2000, gen(27))
    ebm_score, gaussian_score = (
        energy_distance(samples, held_out),
        energy_distance(gaussian, held_out),
    )
    assert max(abs(f) for f in floor) < 0.002
    assert max(abs(f) for f in floor) < ebm_score < gaussian_score / 2


def test_energy_mlp_with_a_seed_has_the_global_stream_weights_and_leaves_the_stream_alone():
    state = torch.get_rng_state()
    model = sm.EnergyMLP(2, 8, generator=0)
    assert torch.equal(state, torch.get_rng_state())
    torch.manual_seed(0)
    reference = sm.EnergyMLP(2, 8)
    for ours, theirs in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.equal(ours, theirs)


def test_train_ebm_with_a_seed_starts_from_the_global_stream_initialization():
    """generator=0 gives the weights torch.manual_seed(0) + EnergyMLP() would (rng.init_parameters),
    without touching the global stream; a callback-free run of one iteration moves them by ~lr."""
    data = torch.tensor(two_moons(200, 0.05, generator=0))
    state = torch.get_rng_state()
    model, losses = sm.train_ebm(
        data, n_iterations=1, batch_size=16, langevin_steps=2, generator=0, show_progress=False
    )
    assert torch.equal(state, torch.get_rng_state()) and len(losses) == 1
    torch.manual_seed(0)
    reference = sm.EnergyMLP()
    for trained, initial in zip(model.parameters(), reference.parameters(), strict=True):
        assert 0 < (trained - initial).abs().max().item() <= 1.01e-3  # one Adam step of lr 1e-3
