"""course_lib.flows: exact log-determinants and inverses for every layer and stack, normalization,
two-moons likelihood bounds, and reading couplings out of a flow trained on a phi^4 chain."""

import numpy as np
import pytest
import torch
from scipy import stats

from course_lib import diffusion as df
from course_lib import flows as fl
from course_lib import latent as lt
from course_lib import rng
from course_lib import sampling as sm
from course_lib.data import checkerboard, load_digits_split, rings, two_moons

MOONS_ENTROPY = (
    1.12  # differential entropy of standardized two moons at noise 0.05, nats (reference notes)
)


LAYERS = {
    "additive": lambda d: fl.AdditiveCoupling(d, fl.checkerboard_mask(d, 0), 16),
    "scaling": lambda d: fl.Scaling(d),
    "affine": lambda d: fl.AffineCoupling(d, fl.checkerboard_mask(d, 1), 16),
    "actnorm": lambda d: fl.ActNorm(d),
    "linear": lambda d: fl.InvertibleLinear(d, generator=3),
    "nice": lambda d: fl.nice(d, 4, 16),
    "realnvp": lambda d: fl.realnvp(d, 4, 16),
    "glow": lambda d: fl.glow(d, 3, 16),
}


SEEDED_MODELS = {
    "realnvp": lambda: fl.realnvp(4, 2, 8, generator=0),
    "glow": lambda: fl.glow(4, 2, 8, generator=0),
    "vae": lambda: lt.VAE(n_pixels=4, n_levels=3, latent_dim=2, hidden=8, generator=0),
    "time_mlp": lambda: df.TimeMLP(3, 8, 2, generator=0),
}


@pytest.mark.parametrize("name", SEEDED_MODELS)
def test_seeded_models_live_wholly_on_the_default_device(name):
    """rng.build: with a generator every parameter and buffer is on torch's default device (no
    layer left on the CPU), and the global stream is untouched; the weights are those drawn on
    the CPU."""
    on_cpu = SEEDED_MODELS[name]()
    state = torch.get_rng_state()
    torch.set_default_device("meta")
    try:
        model = SEEDED_MODELS[name]()
    finally:
        torch.set_default_device(None)
    assert {t.device.type for t in [*model.parameters(), *model.buffers()]} == {"meta"}
    assert torch.equal(state, torch.get_rng_state())
    again = SEEDED_MODELS[name]()
    assert all(torch.equal(a, b) for a, b in zip(on_cpu.state_dict().values(),
                                                 again.state_dict().values(), strict=True))


def test_build_draws_like_the_global_stream_seeded_alike():
    torch.manual_seed(7)
    reference = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Linear(5, 2))
    built = rng.build(lambda: torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Linear(5, 2)), 7)
    assert all(torch.equal(a, b) for a, b in zip(reference.parameters(), built.parameters(),
                                                 strict=True))


@pytest.mark.parametrize("dim", [2, 3, 5, 8])
@pytest.mark.parametrize("name", list(LAYERS))
def test_log_det_matches_autograd_and_inverse_round_trips(name, dim):
    layer = fl.randomize_parameters(LAYERS[name](dim), generator=dim)
    x = torch.randn(6, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 1.5
    z, log_det = layer(x)
    torch.testing.assert_close(log_det, fl.autograd_log_det(layer, x), atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(layer.inverse(z), x, atol=1e-9, rtol=1e-9)


def test_autograd_log_det_leaves_a_fresh_glow_untouched():
    flow = fl.glow(2, n_steps=1, generator=0).double()
    before = {k: v.clone() for k, v in flow.state_dict().items()}
    log_det = fl.autograd_log_det(flow, torch.randn(3, 2, dtype=torch.float64))
    assert torch.isfinite(log_det).all() and flow.training
    assert all(torch.equal(before[k], v) for k, v in flow.state_dict().items())
    with pytest.raises(TypeError, match="module"):
        fl.autograd_log_det(lambda x: (x, x), torch.zeros(2, 2))


def test_actnorm_initializes_from_data():
    layer = fl.ActNorm(3)
    x = torch.randn(500, 3) * torch.tensor([1.0, 5.0, 0.1]) + 2.0
    z, _ = layer(x)
    torch.testing.assert_close(z.mean(0), torch.zeros(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(z.std(0), torch.ones(3), atol=1e-3, rtol=0)


def test_every_layer_is_a_flow_layer_and_the_base_class_is_abstract():
    layers = [LAYERS[name](4) for name in ("additive", "scaling", "affine", "actnorm", "linear")]
    layers.append(fl.MarginalGaussianization(np.zeros((3, 4), dtype=int), 2))
    assert all(isinstance(layer, fl.FlowLayer) for layer in layers)
    with pytest.raises(TypeError, match="abstract"):
        fl.FlowLayer()


def dequantized_cdf(column, n_levels, smoothing, y):
    """CDF at y of the data column spread uniformly over unit bins [v, v + 1), plus ``smoothing``
    pseudo-observations spread over every bin [k, k + 1): written from the definition, not the
    layer."""
    spread = lambda values: np.clip(y[:, None] - values[None, :], 0.0, 1.0).sum(1)  # noqa: E731
    return (spread(column) + smoothing * spread(np.arange(n_levels))) / (
        len(column) + smoothing * n_levels
    )


def test_marginal_gaussianization_by_hand():
    # one feature with levels 0, 0, 1, 2 and no smoothing: bin probabilities 1/2, 1/4, 1/4
    layer = fl.MarginalGaussianization(np.array([[0], [0], [1], [2]]), 3, smoothing=0.0).double()
    y = torch.tensor([[0.5], [1.5], [2.5]], dtype=torch.float64)
    z, log_det = layer(y)
    cdf = np.array([0.25, 0.625, 0.875])
    np.testing.assert_allclose(z[:, 0].numpy(), stats.norm.ppf(cdf), atol=1e-12)
    density = np.array([0.5, 0.25, 0.25])
    np.testing.assert_allclose(
        log_det.numpy(), np.log(density) - stats.norm.logpdf(stats.norm.ppf(cdf)), atol=1e-12
    )


def test_marginal_gaussianization_matches_the_dequantized_frequencies_of_digits():
    digits = load_digits_split()
    layer = fl.MarginalGaussianization(digits.train, 17).double()
    u = 0.01 + 0.98 * np.random.default_rng(0).random((20, 64))  # off the bin edges
    y = torch.tensor(digits.test[:20] + u)
    z, log_det = layer(y)
    cdf = np.stack(
        [dequantized_cdf(digits.train[:, j], 17, 0.5, y[:, j].numpy()) for j in range(64)], 1
    )
    # the layer's tables are float32
    np.testing.assert_allclose(z.numpy(), stats.norm.ppf(cdf), atol=2e-5)
    # dz/dy = p(y) / phi(z), with the density p the slope of the reference CDF
    h = 1e-3  # the CDF is linear within a bin, and u + h stays inside it
    slope = np.stack(
        [
            (dequantized_cdf(digits.train[:, j], 17, 0.5, y[:, j].numpy() + h) - cdf[:, j]) / h
            for j in range(64)
        ],
        1,
    )
    expected = (np.log(slope) - stats.norm.logpdf(stats.norm.ppf(cdf))).sum(1)
    np.testing.assert_allclose(log_det.numpy(), expected, atol=1e-4)
    torch.testing.assert_close(layer.inverse(z), y, atol=1e-10, rtol=0)
    # Alone, it is the model of independent (smoothed) pixel frequencies:
    # log p(y) = sum_j log pi_j(floor y_j).
    # (20 images, 64 pixels)
    counts = (digits.train[None, :, :] == digits.test[:20, None, :]).sum(1)
    expected = np.log((counts + 0.5) / (len(digits.train) + 0.5 * 17)).sum(1)
    np.testing.assert_allclose(
        fl.Flow([layer], 64).log_prob(y).detach().numpy(), expected, atol=1e-4
    )


@pytest.mark.parametrize(
    "maker",
    [
        lambda: fl.nice(2, 4, 16, generator=0),
        lambda: fl.realnvp(2, 4, 16, generator=0),
        lambda: fl.glow(2, 2, 16, generator=0),
    ],
)
def test_density_integrates_to_one(maker):
    flow = fl.randomize_parameters(maker(), scale=0.1, generator=5)  # float64
    # random flows spread widely
    assert fl.grid_integral(flow, lim=20.0, n=1500) == pytest.approx(1.0, abs=2e-3)


def test_grid_integral_leaves_the_flow_as_it_was():
    flow = fl.randomize_parameters(fl.glow(2, 2, 16, generator=0), scale=0.1, generator=1).train()
    before = {k: v.clone() for k, v in flow.state_dict().items()}
    assert fl.grid_integral(flow, lim=10.0, n=600) == pytest.approx(1.0, abs=2e-3)
    assert flow.training and all(layer.training for layer in flow.layers)  # still in training mode
    assert not flow.layers[0].initialized  # the actnorm did not initialize itself on the grid
    after = flow.state_dict()
    assert all(after[k].dtype == v.dtype and torch.equal(after[k], v) for k, v in before.items())
    assert (
        all(p.dtype == torch.float64 for p in flow.parameters())
        and flow.base_mean.dtype == torch.float64
    )


def gaussian_flow():
    """x = b + diag(exp(-s)) W^-1 z: actnorm then invertible linear, so x ~ N(b, A A^T) with
    A = diag(exp(-s)) W^-1."""
    actnorm, mixing = fl.ActNorm(3), fl.InvertibleLinear(3, generator=4)
    with torch.no_grad():
        actnorm.bias.copy_(torch.tensor([1.0, -2.0, 0.5]))
        actnorm.log_scale.copy_(torch.tensor([0.3, -0.4, 0.1]))
    flow = fl.Flow([actnorm, mixing], 3).double().eval()
    A = torch.diag(torch.exp(-actnorm.log_scale.detach())) @ torch.linalg.inv(
        mixing.weight().detach()
    )
    return flow, actnorm.bias.detach().numpy(), (A @ A.T).numpy()


def test_samples_of_a_known_affine_flow_follow_its_gaussian():
    flow, mean, cov = gaussian_flow()
    with torch.no_grad():
        x = flow.sample(200_000, generator=0)
        log_p = flow.log_prob(x[:100])
    assert x.dtype == torch.float64
    np.testing.assert_allclose(
        log_p.numpy(), stats.multivariate_normal(mean, cov).logpdf(x[:100].numpy()), atol=1e-10
    )
    standard_error = np.sqrt(np.diag(cov) / len(x))
    assert np.all(np.abs(x.mean(0).numpy() - mean) < 5 * standard_error)
    np.testing.assert_allclose(np.cov(x.numpy(), rowvar=False), cov, atol=0.02 * np.abs(cov).max())


def test_sample_works_without_parameters_in_any_dtype_and_repeats_with_a_generator():
    marginal = fl.MarginalGaussianization(np.array([[0, 1], [1, 1], [2, 0]]), 3)
    for flow in (fl.Flow([], 2), fl.Flow([marginal], 2)):
        assert not list(flow.parameters())
        assert flow.sample(5, generator=0).dtype == torch.float32
        flow.double()
        first, again, other = (flow.sample(5, generator=seed) for seed in (1, 1, 2))
        assert first.dtype == torch.float64 and first.shape == (5, 2)
        assert torch.equal(first, again) and not torch.equal(first, other)
    g = torch.Generator().manual_seed(3)
    assert torch.equal(
        fl.Flow([], 2).sample(4, generator=g),
        torch.randn(4, 2, generator=torch.Generator().manual_seed(3)),
    )


def test_train_flow_keeps_the_flow_dtype():
    flow = fl.realnvp(2, 2, 8, generator=0).double()
    losses = fl.train_flow(
        flow,
        torch.tensor(two_moons(200, generator=0), dtype=torch.float32),
        n_steps=5,
        batch_size=16,
        show_progress=False,
    )
    assert len(losses) == 5 and all(p.dtype == torch.float64 for p in flow.parameters())


@pytest.fixture(scope="module")
def moons_flow():
    train, test = two_moons(4000, 0.05, generator=0), two_moons(2000, 0.05, generator=1)
    flow = fl.realnvp(2, 8, 64, generator=0)
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
        lambda x: -fl.phi4_action(x, kappa, lam),
        torch.zeros(4000, n_sites, dtype=torch.float64),
        step=0.2,
        n_leapfrog=10,
        n_steps=150,
        keep_every=50,
        generator=torch.Generator().manual_seed(0),
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


def test_gaussian_chain_readout_recovers_half_the_inverse_covariance():
    data = phi4_samples(kappa=0.3, lam=0.0)
    flow = fl.realnvp(8, 8, 64, generator=0)
    fl.train_flow(flow, data, n_steps=500, batch_size=512, generator=1, show_progress=False)
    coefficients = fl.effective_action_coefficients(flow.double().log_prob, data[:5000])
    half_precision = 0.5 * np.linalg.inv(np.cov(data.numpy(), rowvar=False))
    n = data.shape[1]
    # S = x^T A x with A = Sigma^-1 / 2: the x_i^2 coefficient is A_ii,
    # the x_i x_{i+1} one 2 A_{i,i+1}.
    neighbour = [2 * half_precision[i, (i + 1) % n] for i in range(n)]
    np.testing.assert_allclose(coefficients["quadratic"], np.diag(half_precision), atol=0.06)
    np.testing.assert_allclose(coefficients["nearest_neighbour"], neighbour, atol=0.06)
    assert np.abs(coefficients["quartic"]).max() < 0.03
    # the next-nearest term (0 in the action) is not converged after 500 steps, as lecture 05
    # says: it is visibly nonzero, and 500 more steps shrink it
    early = np.abs(coefficients["next_nearest"]).max()
    fl.train_flow(flow.float(), data, n_steps=500, batch_size=512, generator=2,
                  show_progress=False)
    later = fl.effective_action_coefficients(flow.double().log_prob, data[:5000])
    late = np.abs(later["next_nearest"]).max()
    assert early > 0.05 and late < 0.05 and late < early / 2, (early, late)


def test_interacting_chain_readout_coupling_right_quartic_biased_low_and_growing():
    """The lecture's lambda = 0.2 read-out after 500 and 1000 steps: phi_i phi_{i+1}, linear and
    next-nearest terms agree with the action; the quartic is positive but about 40 % of lambda and
    still growing, while the phi_i^2 coefficient is too large and falling."""
    kappa, lam, n = 0.3, 0.2, 8
    data = phi4_samples(kappa, lam)
    flow, stages = fl.realnvp(n, 8, 64, generator=0), []
    for stage in range(2):
        fl.train_flow(
            flow.float(),
            data,
            n_steps=500,
            batch_size=512,
            generator=1 + stage,
            show_progress=False,
        )
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
    q = sum(np.exp(-((r - r0) ** 2) / (2 * sigma**2)) for r0 in (1.0, 2.0)) / (
        2 * np.sqrt(2 * np.pi) * sigma
    )
    log_p = np.log(q / (2 * np.pi * r))
    return -log_p.mean(), log_p.std() / np.sqrt(n)


def test_rings_are_the_hardest_of_the_three_densities_by_kl():
    """Lecture 05 section 2: test NLL minus the data entropy is largest for the rings."""
    entropy_rings, error = rings_entropy_monte_carlo()
    # the lecture's quadrature
    assert entropy_rings == pytest.approx(1.769, abs=max(5 * error, 0.005))
    entropy = {"rings": entropy_rings, "checkerboard": np.log(8)}  # uniform on 8 unit squares
    kl = {}
    for col, (name, make) in enumerate(
        {"rings": rings, "checkerboard": checkerboard}.items(), start=1
    ):
        flow = fl.realnvp(2, 8, 64, generator=0)
        fl.train_flow(
            flow,
            torch.tensor(make(4000, generator=0)),
            n_steps=500,
            generator=col,
            show_progress=False,
        )
        with torch.no_grad():
            nll = (
                -flow.log_prob(torch.tensor(make(2000, generator=1), dtype=torch.float32))
                .mean()
                .item()
            )
        assert nll > entropy[name] - 0.05  # a cross-entropy is never below the entropy
        kl[name] = nll - entropy[name]
    assert kl["rings"] > kl["checkerboard"] + 0.1
