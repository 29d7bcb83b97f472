"""Tests for course_lib.diffusion: every closed form against an independent computation, and the
lecture's claims about trained models (with fixed seeds and stated thresholds)."""

import copy
import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad, solve_ivp

from course_lib import diffusion as df
from course_lib.data import two_moons
from course_lib.stats import auc, energy_distance, mmd, nearest_distance

SCHEDULE = df.NoiseSchedule.linear(1000)


def random_gaussian(d: int = 3, seed: int = 0) -> df.GaussianDenoiser:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return df.GaussianDenoiser(
        torch.randn(d, generator=g, dtype=torch.float64),
        a @ a.T + 0.1 * torch.eye(d, dtype=torch.float64),
    )


# --- forward process -----------------------------------------------------------------------------
def test_linear_schedule_matches_published_values():
    betas = np.linspace(1e-4, 0.02, 1000)
    assert np.allclose(SCHEDULE.alpha_bar[1:].numpy(), np.cumprod(1 - betas), rtol=1e-12)
    # Ho et al. (2020) schedule: abar_500 = 0.0786, abar_1000 = 4.04e-5
    # (shared/notes/science-references.md)
    assert round(float(SCHEDULE.alpha_bar[500]), 4) == 0.0786
    assert float(SCHEDULE.alpha_bar[1000]) == pytest.approx(4.04e-5, rel=2e-3)


def test_forward_marginal_equals_composed_one_step_kernels():
    """q(x_t | x_0) in closed form agrees with t applications of
    q(x_s | x_{s-1}) = N(sqrt(1-beta_s) x, beta_s I)."""
    g = torch.Generator().manual_seed(0)
    x0 = torch.tensor([[1.5, -0.5]], dtype=torch.float64).expand(200_000, 2)
    for t in (1, 10, 300):
        x = x0.clone()
        for s in range(1, t + 1):
            beta = SCHEDULE.betas[s - 1]
            x = (1 - beta).sqrt() * x + beta.sqrt() * torch.randn(
                x.shape, generator=g, dtype=torch.float64
            )
        mean, std = df.forward_marginal(x0[:1], t, SCHEDULE)
        assert torch.allclose(
            x.mean(0), mean[0], atol=4 * float(std[0, 0]) / math.sqrt(len(x)) + 1e-12
        )
        assert torch.allclose(x.std(0), std[0], rtol=0.01)
        direct = df.q_sample(
            x0, t, SCHEDULE, torch.randn(x0.shape, generator=g, dtype=torch.float64)
        )
        assert torch.allclose(direct.std(0), std[0], rtol=0.01)


def test_forward_process_rejects_bad_input():
    x0 = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="noise must have the shape"):
        df.q_sample(x0, 3, SCHEDULE, torch.zeros(4, 3))
    with pytest.raises(TypeError, match="integers"):
        df.forward_marginal(x0, 0.5, SCHEDULE)
    with pytest.raises(ValueError, match="0..1000"):
        df.forward_marginal(x0, 1001, SCHEDULE)
    with pytest.raises(ValueError, match="lie in"):
        df.NoiseSchedule(torch.tensor([0.1, 1.5]))
    with pytest.raises(ValueError, match="batch, 2"):
        df.TimeMLP(2)(torch.zeros(3, 5), torch.zeros(3))
    with pytest.raises(TypeError, match="torch.Tensor"):
        df.ddpm_loss(df.TimeMLP(2), np.zeros((3, 2)), SCHEDULE)


# --- exact denoisers ------------------------------------------------------------------------------
def test_gaussian_denoiser_attains_the_closed_form_mmse():
    gauss = random_gaussian()
    g = torch.Generator().manual_seed(1)
    x0 = gauss.sample(200_000, g).double()
    for abar in (0.9, 0.5, 0.05):
        a, s = math.sqrt(abar), math.sqrt(1 - abar)
        xt = a * x0 + s * torch.randn(x0.shape, generator=g, dtype=torch.float64)
        error = ((gauss.denoise(xt, a, s) - x0) ** 2).sum(1)
        assert float(error.mean()) == pytest.approx(
            gauss.mmse(a, s), abs=4 * float(error.std()) / math.sqrt(len(error))
        )
        # any other linear denoiser does worse, e.g. the one of a slightly wrong covariance
        wrong = df.GaussianDenoiser(gauss.mean, 1.3 * gauss.cov)
        assert float(((wrong.denoise(xt, a, s) - x0) ** 2).sum(1).mean()) > float(error.mean())


def test_gaussian_score_and_tweedie():
    gauss = random_gaussian(seed=2)
    a, s = 0.6, 0.8
    x = torch.randn(
        5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    ).requires_grad_()
    marginal = torch.distributions.MultivariateNormal(
        a * gauss.mean, a**2 * gauss.cov + s**2 * torch.eye(3, dtype=torch.float64)
    )
    autograd_score = torch.autograd.grad(marginal.log_prob(x).sum(), x)[0]
    x = x.detach()
    assert torch.allclose(gauss.score(x, a, s), autograd_score, atol=1e-10)
    # Tweedie
    assert torch.allclose(gauss.denoise(x, a, s), (x + s**2 * autograd_score) / a, atol=1e-10)


def test_analytic_probability_flow_matches_numerical_integration():
    """Wang & Vastola's closed-form trajectory equals RK45 on dx/dt = -beta/2 (x + score)."""
    gauss = random_gaussian(seed=3)

    def rhs(t, y):
        x, abar = torch.tensor(y.reshape(-1, 3)), df.vp_alpha_bar(t)
        return df.vp_pf_ode_drift(
            x.numpy(), t, gauss.score(x, math.sqrt(abar), math.sqrt(1 - abar)).numpy()
        ).ravel()

    x_start = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for t_end in (0.5, 1e-3):
        numeric = (
            solve_ivp(rhs, (1.0, t_end), x_start.numpy().ravel(), rtol=1e-11, atol=1e-12)
            .y[:, -1]
            .reshape(-1, 3)
        )
        analytic = gauss.pf_ode(x_start, df.vp_alpha_bar(1.0), df.vp_alpha_bar(t_end)).numpy()
        assert np.abs(numeric - analytic).max() < 1e-8


def test_mixture_denoiser_reduces_to_the_gaussian_one():
    mixture = df.MixtureDenoiser(torch.tensor([[0.5, -1.0]]), stds=1.7)
    gauss = df.GaussianDenoiser(torch.tensor([0.5, -1.0]), 1.7**2 * torch.eye(2))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 2, dtype=torch.float64, generator=g)
    alpha = torch.rand(7, 1, dtype=torch.float64, generator=g)
    assert torch.allclose(
        mixture.denoise(x, alpha, (1 - alpha**2).sqrt()),
        gauss.denoise(x, alpha, (1 - alpha**2).sqrt()),
        atol=1e-10,
    )


def test_exact_finite_set_score_only_returns_training_points():
    train = torch.tensor(two_moons(50, 0.05, generator=0), dtype=torch.float32)
    exact = df.ExactEpsilon(df.MixtureDenoiser(train), SCHEDULE)
    noise = torch.randn(400, 2, generator=torch.Generator().manual_seed(1))
    samples = df.sample_ddim(exact, noise, SCHEDULE, 1000).x
    # the schedule resolves noise down to sigma_1 = sqrt(1 - abar_1) = 0.01; the ODE ends within
    # that of a training point
    sigma_min = float((1 - SCHEDULE.alpha_bar[1]).sqrt())
    distances = nearest_distance(samples, train)
    assert float(distances.max()) < 3 * sigma_min and float(distances.median()) < 1e-4
    # many different points, not one
    assert len(torch.unique(torch.cdist(samples, train).argmin(1))) > 25


# --- losses and samplers --------------------------------------------------------------------------
def test_ddpm_loss_of_the_exact_predictor_is_the_noise_mmse():
    """For Gaussian data the optimal noise prediction error at step t is abar/(1-abar) times the x0
    MMSE."""
    gauss = random_gaussian(d=2, seed=4)
    exact = df.ExactEpsilon(gauss, SCHEDULE)
    x0 = gauss.sample(100_000, torch.Generator().manual_seed(0)).double()
    losses = [
        float(df.ddpm_loss(exact, x0, SCHEDULE, torch.Generator().manual_seed(k))) for k in range(4)
    ]
    abar = SCHEDULE.alpha_bar[1:].numpy()
    expected = np.mean(
        [ab / (1 - ab) * gauss.mmse(math.sqrt(ab), math.sqrt(1 - ab)) for ab in abar]
    )
    assert np.mean(losses) == pytest.approx(expected, rel=0.01)


def test_ancestral_sampler_is_the_eps_form_and_samples_the_gaussian():
    gauss = random_gaussian(d=2, seed=5)
    exact = df.ExactEpsilon(gauss, SCHEDULE)
    x_T = torch.randn(20_000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    samples = df.sample_ddpm(exact, x_T, SCHEDULE, torch.Generator().manual_seed(1)).x
    # Ho et al. Algorithm 2, written out independently, with the same noise draws
    x, g, abar, betas = (
        x_T.clone(),
        torch.Generator().manual_seed(1),
        SCHEDULE.alpha_bar,
        SCHEDULE.betas,
    )
    for t in range(1000, 0, -1):
        eps = exact(x, torch.tensor(t / 1000.0))
        x = (x - betas[t - 1] / (1 - abar[t]).sqrt() * eps) / (1 - betas[t - 1]).sqrt()
        if t > 1:
            x = x + (betas[t - 1] * (1 - abar[t - 1]) / (1 - abar[t])).sqrt() * torch.randn(
                x.shape, generator=g, dtype=x.dtype
            )
    assert torch.allclose(samples, x, atol=1e-8)
    assert torch.allclose(samples.mean(0), gauss.mean, atol=0.05)
    assert torch.allclose(torch.cov(samples.T), gauss.cov, rtol=0.05, atol=0.05)


def test_deterministic_samplers_with_exact_models_reach_the_gaussian():
    gauss = random_gaussian(d=2, seed=6)
    noise = torch.randn(20_000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ddim = df.sample_ddim(df.ExactEpsilon(gauss, SCHEDULE), noise, SCHEDULE, 200).x
    flow = df.sample_flow_matching(df.ExactVelocity(gauss), noise, 200).x
    for samples in (ddim, flow):
        assert torch.allclose(samples.mean(0), gauss.mean, atol=0.05)
        assert torch.allclose(torch.cov(samples.T), gauss.cov, rtol=0.05, atol=0.05)
    # the probability flow is deterministic: DDIM from x_T lands near the closed-form
    # trajectory's end
    closed = gauss.pf_ode(noise, float(SCHEDULE.alpha_bar[1000]), 1.0)
    assert float((ddim - closed).norm(dim=1).median()) < 0.05


def exact_flow_matching_loss(gauss: df.GaussianDenoiser) -> float:
    """E[flow-matching loss] of the exact velocity: with x_t = (1 - t) x_0 + t eps,
    eps - x_0 = (x_t - x_0) / t, so the loss left is
    E_t tr Cov(x_0 | x_t) / t^2 = int_0^1 sum_k lambda_k / ((1 - t)^2 lambda_k + t^2) dt."""
    lam = gauss.eigenvalues.numpy()
    return quad(lambda t: float(np.sum(lam / ((1 - t) ** 2 * lam + t**2))), 0, 1)[0]


def test_flow_matching_loss_of_the_exact_velocity_is_the_conditional_variance():
    gauss = random_gaussian(d=2, seed=9)
    exact = df.ExactVelocity(gauss)
    losses = [
        float(df.flow_matching_loss(exact, gauss.sample(20_000, k), generator=100 + k))
        for k in range(10)
    ]
    standard_error = np.std(losses, ddof=1) / math.sqrt(len(losses))
    assert abs(np.mean(losses) - exact_flow_matching_loss(gauss)) < 4 * standard_error, (
        np.mean(losses),
        standard_error,
    )


def test_flow_matching_loss_of_the_zero_model_and_its_draws():
    """With v = 0 the loss is |eps - x_0|^2 for the draws t ~ U[0, 1), then eps ~ N(0, I):
    E = d + tr C + |m|^2."""
    gauss = random_gaussian(d=3, seed=10)
    zero = lambda x, time: torch.zeros_like(x)  # noqa: E731
    x0 = gauss.sample(50_000, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    torch.rand(len(x0), generator=g, dtype=x0.dtype)
    noise = torch.randn(x0.shape, generator=g, dtype=x0.dtype)
    per_point = ((noise - x0) ** 2).sum(-1)
    assert float(df.flow_matching_loss(zero, x0, generator=1)) == pytest.approx(
        float(per_point.mean()), rel=1e-12
    )
    expected = 3 + float(gauss.cov.trace() + (gauss.mean**2).sum())
    assert abs(float(per_point.mean()) - expected) < 4 * float(per_point.std()) / math.sqrt(len(x0))
    # reproducible per generator: an integer seed, or a generator seeded alike, gives the same loss
    model = df.TimeMLP(3, 16, 1, generator=0).double()
    same = [
        df.flow_matching_loss(model, x0[:256], g).item()
        for g in (5, torch.Generator().manual_seed(5), 5)
    ]
    assert same[0] == same[1] == same[2] != df.flow_matching_loss(model, x0[:256], 6).item()


def test_flow_matching_training_learns_a_gaussian():
    """The flow-matching branch of train_diffusion (schedule=None): 600 steps of a tiny network on
    4000 points of a 2D Gaussian bring the loss within 5% of the exact velocity's expected loss, and
    50 Euler steps of the learned flow give samples whose mean and covariance are within 0.1 of the
    Gaussian's (entrywise)."""
    gauss = df.GaussianDenoiser(torch.tensor([1.5, -0.5]), torch.tensor([[0.5, 0.2], [0.2, 0.3]]))
    data = gauss.sample(4000, torch.Generator().manual_seed(0))
    model = df.TimeMLP(2, 32, 1, generator=0)
    losses = df.train_diffusion(
        model, data, None, n_steps=600, batch_size=256, generator=0, show_progress=False
    )
    final, optimum = np.mean(losses[-100:]), exact_flow_matching_loss(gauss)
    assert np.mean(losses[:20]) > 1.5 * final and abs(final / optimum - 1) < 0.05, (
        losses[:20],
        final,
        optimum,
    )
    noise = torch.randn(4000, 2, generator=torch.Generator().manual_seed(10))
    run = df.sample_flow_matching(model, noise, 50, keep_all=True)
    assert run.steps == list(range(50, 0, -1)) and run.states.shape == (50, 4000, 2)
    assert torch.allclose(run.x.mean(0), gauss.mean.float(), atol=0.1)
    assert torch.allclose(torch.cov(run.x.T), gauss.cov.float(), atol=0.1)


def test_step_functions_are_the_samplers_loops():
    """Driving ddpm_step / ddim_step / flow_matching_step by hand reproduces the samplers
    exactly."""
    gauss = random_gaussian(d=2, seed=11)
    schedule = df.NoiseSchedule.linear(50)
    eps_model, velocity = df.ExactEpsilon(gauss, schedule), df.ExactVelocity(gauss)
    x_T = torch.randn(100, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x, g = x_T.clone(), torch.Generator().manual_seed(1)
    for t in range(50, 0, -1):
        x, _ = df.ddpm_step(eps_model(x, torch.tensor(t / 50)), t, x, schedule, g)
    assert torch.equal(x, df.sample_ddpm(eps_model, x_T, schedule, generator=1).x)
    x = x_T.clone()
    for t, s in zip(range(50, 0, -5), range(45, -1, -5), strict=True):
        x, _ = df.ddim_step(eps_model(x, torch.tensor(t / 50)), t, s, x, schedule)
    assert torch.equal(x, df.sample_ddim(eps_model, x_T, schedule, 10).x)
    x = x_T.clone()
    for k in range(20, 0, -1):
        x, _ = df.flow_matching_step(velocity(x, k / 20), k / 20, 1 / 20, x)
    assert torch.allclose(x, df.sample_flow_matching(velocity, x_T, 20).x, atol=1e-12)
    # the flow step's x0_hat = x_t - t v is the posterior mean E[x_0 | x_t]
    _, x0_hat = df.flow_matching_step(velocity(x_T, 0.3), 0.3, 0.1, x_T)
    assert torch.allclose(x0_hat, gauss.denoise(x_T, 0.7, 0.3), atol=1e-12)


def test_gaussian_plus_network_starts_at_the_gaussian_model():
    gauss = random_gaussian(d=4, seed=7)
    model = df.GaussianPlusNetwork(gauss, SCHEDULE, df.TimeMLP(4, 16))
    g = torch.Generator().manual_seed(0)
    x, time = torch.randn(9, 4, generator=g), torch.rand(9, generator=g)
    assert torch.allclose(model(x, time), df.ExactEpsilon(gauss, SCHEDULE)(x, time))


def test_gaussian_plus_network_leaves_the_callers_net_alone():
    net = df.TimeMLP(4, 16, generator=0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    model = df.GaussianPlusNetwork(random_gaussian(d=4, seed=7), SCHEDULE, net)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert not model.net.out[-1].weight.any() and model.net is not net


# --- trained models -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def moons_model():
    train = two_moons(4000, 0.05, generator=0)
    model = df.TimeMLP(2, 64, 2)
    df.train_diffusion(
        model, train, SCHEDULE, n_steps=1500, batch_size=128, generator=0, show_progress=False
    )
    return model, train


def test_trained_model_beats_the_gaussian_fit(moons_model):
    """Energy distance to 2000 held-out points: the DDPM's ancestral samples are at least 3x closer
    than the Gaussian fit's."""
    model, train = moons_model
    held_out = two_moons(2000, 0.05, generator=1)
    noise = torch.randn(2000, 2, generator=torch.Generator().manual_seed(2))
    samples = df.sample_ddpm(model, noise, SCHEDULE, torch.Generator().manual_seed(3)).x
    gaussian = df.GaussianDenoiser.fit(train).sample(2000, torch.Generator().manual_seed(4))
    ed_model, ed_gauss = energy_distance(samples, held_out), energy_distance(gaussian, held_out)
    assert ed_model < 0.01 and ed_model < ed_gauss / 3, (ed_model, ed_gauss)
    # and it does not copy its training set: its samples are no closer to it than fresh data are
    assert float(nearest_distance(samples, train).median()) > float(
        nearest_distance(held_out, train).median()
    )


def test_training_is_reproducible(moons_model):
    _, train = moons_model
    first = df.TimeMLP(2, 16, 1)
    second = copy.deepcopy(first)
    losses = [
        df.train_diffusion(m, train, SCHEDULE, n_steps=50, generator=3, show_progress=False)
        for m in (first, second)
    ]
    assert losses[0] == losses[1]
    assert all(
        torch.equal(p, q) for p, q in zip(first.parameters(), second.parameters(), strict=True)
    )


def test_denoising_error_of_the_exact_gaussian_predictor():
    """At step t the optimal eps-error is abar/(1 - abar) times the x0 MMSE (to its standard
    error)."""
    gauss = random_gaussian(d=3, seed=8)
    x0 = gauss.sample(50_000, torch.Generator().manual_seed(0))
    exact = df.ExactEpsilon(gauss, SCHEDULE)
    for t in (20, 300, 800):
        ab = float(SCHEDULE.alpha_bar[t])
        mean, se = df.denoising_error(exact, x0, t, SCHEDULE, torch.Generator().manual_seed(t))
        expected = ab / (1 - ab) * gauss.mmse(math.sqrt(ab), math.sqrt(1 - ab))
        assert abs(mean - expected) < 4 * se, (t, mean, expected, se)


def test_learned_score_hallucinates_between_modes_and_x0_variance_flags_it():
    """Aithal et al. (2024) on a 1D mixture of three narrow Gaussians."""
    schedule = df.NoiseSchedule.linear(200)
    means = torch.tensor([[-2.0], [0.0], [2.0]])
    mixture = df.MixtureDenoiser(means, 0.1)
    model = df.TimeMLP(1, 64, 2)
    df.train_diffusion(
        model,
        mixture.sample(4000, torch.Generator().manual_seed(0)),
        schedule,
        n_steps=1500,
        batch_size=128,
        generator=0,
        show_progress=False,
    )
    noise = torch.randn(10_000, 1, generator=torch.Generator().manual_seed(1))
    learned = df.sample_ddpm(
        model, noise, schedule, torch.Generator().manual_seed(2), keep=range(1, 21)
    )
    exact = df.sample_ddpm(
        df.ExactEpsilon(mixture, schedule), noise, schedule, torch.Generator().manual_seed(2)
    )
    between = lambda x: (x - means.T).abs().min(1).values > 0.5  # noqa: E731  (5 standard deviations from every mode)
    assert int(between(exact.x).sum()) == 0
    flagged = between(learned.x)
    assert int(flagged.sum()) >= 10
    variance = df.x0_variance(learned)
    assert auc(variance[~flagged].numpy(), variance[flagged].numpy()) > 0.85


# --- two-sample metrics ---------------------------------------------------------------------------
def test_two_sample_metrics():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(1000, 3, generator=g), torch.randn(1000, 3, generator=g)
    shifted = y + torch.tensor([0.5, 0.0, 0.0])
    assert abs(energy_distance(x, y)) < 0.01 and energy_distance(x, shifted) > 0.1
    assert abs(mmd(x, y)) < 0.01 and mmd(x, shifted) > 0.05
    # energy distance of two Gaussians N(0, 1), N(m, 1) in 1D: 2 E|X-Y| - 2 E|X-X'| with E|Z|
    # for Z ~ N(m, 2)
    m = 1.0
    s = math.sqrt(2)
    expected = 2 * (
        s * math.sqrt(2 / math.pi) * math.exp(-(m**2) / (2 * s**2))
        + m * math.erf(m / (s * math.sqrt(2)))
    ) - 2 * s * math.sqrt(2 / math.pi)
    big = torch.randn(4000, 1, generator=g), torch.randn(4000, 1, generator=g) + m
    assert energy_distance(*big) == pytest.approx(expected, abs=0.03)
    assert torch.allclose(
        nearest_distance(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0], [1.0, 0.0]])),
        torch.tensor([1.0], dtype=torch.float64),
    )
    with pytest.raises(ValueError, match="different dimensions"):
        energy_distance(x, torch.zeros(5, 2))
    with pytest.raises(ValueError, match="NaN"):
        mmd(x, torch.full((5, 3), float("nan")))


def test_energy_distance_noise_floor_on_two_moons():
    """Lecture 06: an i.i.d. sample of the true two-moons distribution scores within +-0.002 of zero
    against the 2000-point test set, the scale below which two samplers cannot be told apart."""
    test_set = torch.tensor(two_moons(2000, 0.05, generator=1), dtype=torch.float32)
    pool = torch.tensor(two_moons(200_000, 0.05, generator=2), dtype=torch.float32)
    g = torch.Generator().manual_seed(0)
    floor = [
        energy_distance(pool[torch.randperm(len(pool), generator=g)[:2000]], test_set)
        for _ in range(5)
    ]
    assert max(abs(f) for f in floor) < 0.002
    # a shift of a tenth of a standard deviation
    off = energy_distance(pool[:2000] + torch.tensor([0.1, 0.0]), test_set)
    assert off > 0.002


def test_two_moons_draws_share_their_arc_positions():
    """scikit-learn places the points evenly along the arcs; seeds change only the order and the
    noise, so i.i.d. points come from a random subset of a large draw (as in lecture 06)."""
    a, b = two_moons(500, 0.0, generator=1), two_moons(500, 0.0, generator=2)
    assert np.allclose(np.sort(a, axis=0), np.sort(b, axis=0))


def test_outline_first_for_the_digits_gaussian_model():
    """Wang & Vastola (2023a), lecture 06 section 10: along the exact probability flow of the
    digits' Gaussian model, the centred coarse part (2x2 block averages) of x0_hat is closer to its
    final value than the fine remainder at every step before the end."""
    from course_lib.data import load_digits_split

    train = torch.tensor(load_digits_split().train, dtype=torch.float64) / 8 - 1
    gauss = df.GaussianDenoiser.fit(train)
    x_T = torch.randn(500, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    abar = SCHEDULE.alpha_bar

    def coarse_and_fine(images):
        centred = (images - train.mean(0)).reshape(-1, 8, 8)
        blocks = centred.reshape(-1, 4, 2, 4, 2).mean((2, 4))
        coarse = blocks.repeat_interleave(2, 1).repeat_interleave(2, 2).reshape(-1, 64)
        return coarse, centred.reshape(-1, 64) - coarse

    final = coarse_and_fine(gauss.pf_ode(x_T, float(abar[1000]), 1.0))
    for t in (900, 500, 200, 50, 10):
        a, s = math.sqrt(float(abar[t])), math.sqrt(1 - float(abar[t]))
        guess = coarse_and_fine(
            gauss.denoise(gauss.pf_ode(x_T, float(abar[1000]), float(abar[t])), a, s)
        )
        coarse, fine = ((g - f).norm() / f.norm() for g, f in zip(guess, final, strict=True))
        assert coarse < fine, (t, float(coarse), float(fine))


# --- stochastic interpolants ---------------------------------------------------------------------
def anisotropic_gaussian() -> df.GaussianDenoiser:
    """Eigenvalues 0.12 and 1.18: a 10x anisotropy, both directions well inside the unit noise."""
    cov = torch.tensor([[1.0, 0.4], [0.4, 0.3]], dtype=torch.float64)
    return df.GaussianDenoiser(torch.tensor([1.0, -0.5], dtype=torch.float64), cov)


def covariance_z(samples: torch.Tensor, cov: torch.Tensor) -> float:
    """Largest |sample - exact| covariance entry in standard errors sqrt((C_ii C_jj + C_ij^2) / n)
    of a Gaussian sample covariance."""
    d = torch.diag(cov)
    se = ((d[:, None] * d[None, :] + cov**2) / len(samples)).sqrt()
    return float(((torch.cov(samples.T) - cov).abs() / se).max())


def test_interpolant_sde_without_noise_is_the_flow_bit_for_bit():
    gauss = random_gaussian(d=2, seed=12)
    velocity = df.ExactVelocity(gauss)
    x_1 = torch.randn(500, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    flow = df.sample_flow_matching(velocity, x_1, 30, keep_all=True)
    for zero in (0.0, 0, lambda t: 0.0):
        sde = df.sample_interpolant_sde(velocity, x_1, 30, zero, generator=1, keep=range(1, 31))
        assert torch.equal(sde.x, flow.x) and sde.steps == flow.steps
        assert torch.equal(sde.states, flow.states) and torch.equal(sde.denoised, flow.denoised)
    # with noise: the sampler is its step function driven by hand, the draws in step order
    x, g, dt = x_1.clone(), torch.Generator().manual_seed(2), 1 / 30
    for k in range(30, 0, -1):
        x, _ = df.interpolant_sde_step(velocity(x, k * dt), k * dt, dt, x, 0.7, g)
    assert torch.equal(x, df.sample_interpolant_sde(velocity, x_1, 30, 0.7, generator=2).x)


def test_velocity_gives_the_score():
    """s = -(x + (1 - t) v) / t is the score of N((1 - t) m, (1 - t)^2 C + t^2 I): for the exact
    velocity of a Gaussian it is GaussianDenoiser.score at (alpha, sigma) = (1 - t, t)."""
    gauss = random_gaussian(d=3, seed=13)
    x = torch.randn(50, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for t in (0.05, 0.3, 0.8, 1.0):
        score = df.velocity_to_score(df.ExactVelocity(gauss)(x, t), x, t)
        assert torch.allclose(score, gauss.score(x, 1 - t, t), atol=1e-10), t
    # and the step's x0_hat is the flow's: E[x_0 | x_t] = x - t v whatever the noise
    v = df.ExactVelocity(gauss)(x, 0.4)
    _, x0_hat = df.interpolant_sde_step(v, 0.4, 0.1, x, 2.0, generator=0)
    assert torch.allclose(x0_hat, gauss.denoise(x, 0.6, 0.4), atol=1e-12)


@pytest.fixture(scope="module")
def interpolant_runs():
    """20 000 paths of 400 Euler-Maruyama steps for eps(t) = eps0 t, eps0 in (0, 0.5, 2), from the
    same noise; the states kept at t = 0.5 and t = 0.25."""
    gauss = anisotropic_gaussian()
    x_1 = torch.randn(20_000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    runs = {
        eps0: df.sample_interpolant_sde(
            df.ExactVelocity(gauss), x_1, 400, eps0, generator=1, keep=[200, 100]
        )
        for eps0 in (0.0, 0.5, 2.0)
    }
    return gauss, x_1, runs


def test_every_noise_level_samples_the_interpolant_marginals(interpolant_runs):
    """Mean and covariance at t = 0.5, 0.25 and 0 equal the exact marginal
    N((1 - t) m, (1 - t)^2 C + t^2 I) within 4 standard errors, for every eps0."""
    gauss, _, runs = interpolant_runs
    for eps0, run in runs.items():
        assert run.steps == [200, 100]
        for t, samples in ((0.5, run.states[0]), (0.25, run.states[1]), (0.0, run.x)):
            mean, cov = df.interpolant_marginal(gauss, t)
            mean_z = (samples.mean(0) - mean).abs() / (torch.diag(cov) / len(samples)).sqrt()
            assert float(mean_z.max()) < 4, (eps0, t, mean_z)
            assert covariance_z(samples, cov) < 4, (eps0, t, covariance_z(samples, cov))


def test_interpolant_noise_changes_the_paths_not_the_marginals(interpolant_runs):
    """Per eigendirection u_k the correlation of u_k.x_0 with the starting noise u_k.x_1 is 1 for
    the ODE and falls with eps0 to exp(-int_0^1 eps(s) / ((1 - s)^2 lambda_k + s^2) ds)
    (interpolant_noise_correlation), within 4 standard errors (1 - rho^2) / sqrt(n)."""
    gauss, x_1, runs = interpolant_runs
    y_1 = x_1 @ gauss.eigenvectors
    previous = torch.full((2,), 1.0 + 1e-9, dtype=torch.float64)
    for eps0, run in runs.items():
        y_0 = (run.x - gauss.mean) @ gauss.eigenvectors
        measured = torch.stack(
            [torch.corrcoef(torch.stack([y_0[:, k], y_1[:, k]]))[0, 1] for k in range(2)]
        )
        exact = df.interpolant_noise_correlation(gauss, eps0)
        se = (1 - exact**2) / math.sqrt(len(x_1))
        assert bool(((measured - exact).abs() < 4 * se + 1e-9).all()), (eps0, measured, exact)
        assert bool((measured < previous).all()), (eps0, measured, previous)
        previous = measured
    ones = torch.ones(2, dtype=torch.float64)
    assert torch.allclose(df.interpolant_noise_correlation(gauss, 0.0), ones)
    # the exact value by direct integration of the linear covariance ODE dC/dt = (a + eps/sig^2) C
    lam = float(gauss.eigenvalues[0])

    def rate(t: float) -> float:  # sigma'/sigma + eps(t) / sigma^2 with eps(t) = 2 t
        return (t - (1 - t) * lam + 2 * t) / ((1 - t) ** 2 * lam + t**2)

    ode = solve_ivp(lambda t, c: rate(t) * c, (1, 0), [1.0], rtol=1e-10, atol=1e-12)
    sigma_0 = math.sqrt(lam)
    exact_0 = float(df.interpolant_noise_correlation(gauss, 2.0)[0])
    assert ode.y[0, -1] / sigma_0 == pytest.approx(exact_0, rel=1e-6)
    # an intermediate time, and a callable eps(t)
    half = df.interpolant_noise_correlation(gauss, lambda t: 1.0, 0.5)
    closed = [math.exp(-quad(lambda s, lam=lam: 1 / ((1 - s) ** 2 * lam + s**2), 0.5, 1)[0])
              for lam in gauss.eigenvalues.tolist()]
    assert torch.allclose(half, torch.tensor(closed, dtype=torch.float64), rtol=1e-10)


def test_interpolant_sde_rejects_bad_input():
    velocity, x = df.ExactVelocity(anisotropic_gaussian()), torch.zeros(4, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="diffusion"):
        df.sample_interpolant_sde(velocity, x, 5, -0.1)
    with pytest.raises(ValueError, match=r"diffusion\(t\)"):
        df.sample_interpolant_sde(velocity, x, 5, lambda t: -1.0)
    with pytest.raises(TypeError, match="diffusion"):
        df.sample_interpolant_sde(velocity, x, 5, "0.5")
    with pytest.raises(ValueError, match="keep"):
        df.sample_interpolant_sde(velocity, x, 5, keep=[6])
# --- conditional generation and classifier-free guidance -----------------------------------------
def three_classes() -> tuple[torch.Tensor, float, df.ExactConditional]:
    """Three Gaussian classes N(m_c, 0.36 I) at the corners of a triangle, equal weights."""
    angles = torch.tensor([90.0, 210.0, 330.0], dtype=torch.float64) * math.pi / 180
    means = 1.2 * torch.stack([angles.cos(), angles.sin()], 1)
    classes = [df.MixtureDenoiser(means[c : c + 1], stds=0.6) for c in range(3)]
    return means, 0.6, df.ExactConditional(classes, SCHEDULE)


def test_unconditional_time_mlp_draws_the_weights_it_always_drew():
    """Adding num_classes changed nothing for unconditional models (values recorded before the
    label embedding existed), and a conditional model shares every other weight with them."""
    state = df.TimeMLP(2, 16, 1, generator=0).state_dict()
    assert "label.weight" not in state
    assert state["inp.weight"][0].tolist() == [-0.005293981172144413, 0.37932288646698]
    assert state["out.1.bias"].tolist() == [-0.21014168858528137, 0.00368422269821167]
    total = sum(v.double().sum() for k, v in state.items() if k != "frequencies")
    assert float(total) == pytest.approx(-5.101359566586325, abs=1e-9)
    conditional = df.TimeMLP(2, 16, 1, generator=0, num_classes=3).state_dict()
    assert conditional["label.weight"].shape == (16, 4)
    assert all(torch.equal(conditional[k], v) for k, v in state.items())


def test_guidance_is_the_weighted_combination_of_conditional_and_null_predictions():
    model = df.TimeMLP(2, 16, 2, generator=0, num_classes=3).double()
    x = torch.randn(12, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    labels, time = torch.arange(12) % 3, torch.linspace(0.1, 1, 12, dtype=torch.float64)
    conditional, null = model(x, time, labels), model(x, time)
    assert torch.equal(null, model(x, time, 3)), "labels=None is the null label"
    assert not torch.allclose(conditional, null)
    assert torch.equal(df.Guided(model, labels, 0.0)(x, time), conditional)
    for w in (0.5, 3.0):
        guided = df.Guided(model, labels, w)(x, time)
        assert torch.allclose(guided, (1 + w) * conditional - w * null, atol=1e-12)
    one = df.Guided(model, 2, 2.0)(x, time)  # one class for every row
    assert torch.allclose(one, 3 * model(x, time, torch.full((12,), 2)) - 2 * null, atol=1e-12)


def test_guided_exact_model_without_guidance_samples_the_class():
    """w = 0: the exact conditional model's ancestral samples are the class Gaussian, within four
    standard errors of its mean and of each entry of its covariance."""
    means, std, exact = three_classes()
    x_T = torch.randn(4000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for c in (0, 2):
        x = df.sample_ddpm(df.Guided(exact, c, 0.0), x_T, SCHEDULE, generator=c + 1).x
        n = len(x)
        assert ((x.mean(0) - means[c]).abs() < 4 * std / math.sqrt(n)).all()
        cov = torch.cov(x.T)
        variance_error = std**2 * math.sqrt(2 / n)  # of a sample variance of a Gaussian
        assert ((cov.diagonal() - std**2).abs() < 4 * variance_error).all()
        assert abs(float(cov[0, 1])) < 4 * std**2 / math.sqrt(n)


def test_guided_exact_score_is_the_score_of_the_tilted_density():
    """eps_w = (1 + w) eps_c - w eps_null is -sqrt(1 - abar_t) grad log[p_t(x|c)^(1+w) p_t(x)^-w],
    with the log-densities written out here independently and differentiated by autograd."""
    means, std, exact = three_classes()
    x = 2 * torch.randn(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for t in (20, 200, 600):
        abar = float(SCHEDULE.alpha_bar[t])
        variance = abar * std**2 + 1 - abar

        def log_class(y, c, abar=abar, variance=variance):
            d2 = ((y - math.sqrt(abar) * means[c]) ** 2).sum(-1)
            return -d2 / (2 * variance) - math.log(2 * math.pi * variance)

        def log_tilted(y, c, w):
            whole = torch.logsumexp(torch.stack([log_class(y, k) for k in range(3)]), 0)
            whole = whole - math.log(3)
            return ((1 + w) * log_class(y, c) - w * whole).sum()

        for c, w in ((0, 1.0), (1, 4.0)):
            y = x.clone().requires_grad_(True)
            (score,) = torch.autograd.grad(log_tilted(y, c, w), y)
            eps = df.Guided(exact, c, w)(x, torch.tensor(t / SCHEDULE.T))
            assert torch.allclose(-eps / math.sqrt(1 - abar), score, atol=1e-8)
            assert torch.allclose(exact.log_prob(x, abar, c), log_class(x, c), atol=1e-10)


def test_guidance_pushes_samples_away_from_the_other_classes():
    means, _, exact = three_classes()
    x_T = torch.randn(2000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    nearer, away = [], []
    for w in (0.0, 1.0, 4.0):
        x = df.sample_ddim(df.Guided(exact, 0, w), x_T, SCHEDULE, 100).x
        nearer.append((torch.cdist(x, means).argmin(1) == 0).double().mean().item())
        away.append(torch.cdist(x.mean(0, keepdim=True), means[1:]).min().item())
    assert nearer[0] < 0.95 and nearer[0] < nearer[1] <= nearer[2]
    assert away[0] < away[1] < away[2]


class LabelRecorder(torch.nn.Module):
    """A fake class-conditional model that records the labels it is trained with."""

    num_classes = 3

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.seen = []

    def forward(self, x, time, labels=None):
        self.seen.append(None if labels is None else labels.clone())
        return self.scale * x


def test_label_dropout_replaces_labels_by_the_null_label():
    data = torch.randn(30, 2, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(30) % 3
    train = lambda model, p: df.train_diffusion(  # noqa: E731
        model, data, SCHEDULE, n_steps=5, batch_size=64, generator=4, show_progress=False,
        labels=labels, label_dropout=p,
    )
    everything = LabelRecorder()
    train(everything, 1.0)
    assert all(bool((seen == 3).all()) for seen in everything.seen)
    half = LabelRecorder()
    train(half, 0.5)
    # the documented draws: the batch, then the dropout mask, then the loss's t and eps
    g = torch.Generator().manual_seed(4)
    index = torch.randint(0, 30, (64,), generator=g)
    dropped = torch.rand(64, generator=g) < 0.5
    assert torch.equal(half.seen[0], torch.where(dropped, 3, labels[index]))
    share = torch.cat(half.seen).eq(3).double().mean().item()
    assert abs(share - 0.5) < 4 * math.sqrt(0.25 / (5 * 64))
    kept = LabelRecorder()
    train(kept, 0.0)
    assert all(bool((seen < 3).all()) for seen in kept.seen)


def test_training_with_labels_is_reproducible_and_uses_them():
    data = torch.randn(40, 2, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(40) % 4

    def trained(with_labels: bool) -> tuple[list[float], df.TimeMLP]:
        model = df.TimeMLP(2, 16, 1, generator=0, num_classes=4)
        extra = {"labels": labels, "label_dropout": 0.2} if with_labels else {}
        losses = df.train_diffusion(model, data, SCHEDULE, n_steps=20, batch_size=16,
                                    generator=1, show_progress=False, **extra)
        return losses, model

    (first, a), (again, b), (plain, c) = trained(True), trained(True), trained(False)
    assert first == again
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert first != plain
    assert not torch.equal(a.label.weight, c.label.weight), "the class embedding was trained"
