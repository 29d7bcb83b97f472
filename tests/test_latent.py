"""course_lib.latent against closed forms: PPCA maximum likelihood and posterior, linear
autoencoders (Baldi-Hornik subspace, Saxe dynamics), the linear VAE = PPCA optimum, and
ELBO <= IWAE."""

import copy
import math

import numpy as np
import pytest
import torch

from course_lib import latent as lt
from course_lib.data import load_digits_split


@pytest.fixture(scope="module")
def digits():
    return load_digits_split().train / 16.0


def test_pca_matches_covariance_eigendecomposition_and_eckart_young(digits):
    pca = lt.PCA.fit(digits)
    eigenvalues = np.linalg.eigvalsh(np.cov(digits, rowvar=False, bias=True))[::-1]
    np.testing.assert_allclose(pca.variances, eigenvalues, atol=1e-12)
    for k in (2, 10, 30):
        error = np.mean(np.sum((digits - pca.reconstruct(digits, k)) ** 2, axis=1))
        assert error == pytest.approx(pca.variances[k:].sum(), rel=1e-9)  # discarded variance


@pytest.mark.parametrize("q", [2, 8])
def test_ppca_closed_form_is_the_numerical_maximum(digits, q):
    ppca = lt.PPCA.fit(digits, q)
    closed = lt.PPCA.max_log_likelihood(lt.PCA.fit(digits).variances, q, len(digits))
    assert ppca.log_prob(digits).sum() == pytest.approx(closed, abs=1e-6)
    # Maximize the same likelihood numerically from a random start.
    x = torch.tensor(digits)
    d = x.shape[1]
    W = torch.nn.Parameter(
        0.1 * torch.randn(d, q, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    )
    log_s2 = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))
    S = torch.cov(x.T, correction=0)
    opt = torch.optim.LBFGS(
        [W, log_s2],
        max_iter=500,
        tolerance_grad=1e-12,
        tolerance_change=1e-15,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        C = W @ W.T + log_s2.exp() * torch.eye(d, dtype=torch.float64)
        loss = (
            0.5
            * len(x)
            * (d * math.log(2 * math.pi) + torch.logdet(C) + torch.trace(torch.linalg.solve(C, S)))
        )
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    numerical = -closure().item()
    assert numerical == pytest.approx(closed, abs=1e-4 * abs(closed))
    assert numerical <= closed + 1e-6  # never above the closed-form maximum


def test_ppca_posterior_is_gaussian_conditioning(digits):
    ppca = lt.PPCA.fit(digits, 3)
    # Joint Gaussian of (z, x): Cov(z, x) = W^T, Cov(x) = C; conditioning gives the posterior.
    C = ppca.covariance
    x = digits[:5]
    mean, cov = ppca.posterior(x)
    np.testing.assert_allclose(
        mean, (ppca.W.T @ np.linalg.solve(C, (x - ppca.mean).T)).T, atol=1e-10
    )
    np.testing.assert_allclose(cov, np.eye(3) - ppca.W.T @ np.linalg.solve(C, ppca.W), atol=1e-10)


def test_ppca_samples_have_the_model_covariance():
    rng = np.random.default_rng(0)
    model = lt.PPCA(mean=np.zeros(4), W=rng.normal(size=(4, 2)), sigma2=0.3)
    samples = model.sample(200_000, generator=rng)
    np.testing.assert_allclose(np.cov(samples, rowvar=False), model.covariance, atol=0.03)


def test_fixed_noise_collapses_weak_directions(digits):
    variances = lt.PCA.fit(digits).variances
    sigma2 = variances[5]
    ppca = lt.PPCA.fit(digits, 10, sigma2=sigma2)
    active = np.linalg.norm(ppca.W, axis=0) > 1e-12
    assert active.sum() == np.sum(variances[:10] > sigma2) == 5


def test_linear_autoencoder_learns_the_principal_subspace(digits):
    run = lt.train_linear_autoencoder(digits, 4, lr=1.0, n_steps=3000, init_scale=1e-3)
    top4 = lt.PCA.fit(digits).components[:4].T
    assert lt.principal_angles(run.W1.T, top4).max() < 0.01
    assert lt.principal_angles(run.W2, top4).max() < 0.01
    assert run.losses[-1] == pytest.approx(0.5 * lt.PCA.fit(digits).variances[4:].sum(), rel=1e-3)


def test_saxe_closed_form_matches_simulated_mode_trajectories(digits):
    a0, lr = 1e-4, 0.05
    run = lt.train_linear_autoencoder(
        digits, 4, lr=lr, n_steps=1200, init_scale=a0, aligned=True, record_every=5
    )
    for mode in range(4):
        s = run.variances[mode]
        # gradient descent from the decoupled, balanced start is exactly the scalar map
        # a <- a (1 + lr (s - a))^2
        exact = lt.saxe_gd_strength(1200, s, a0, lr)[run.steps]
        np.testing.assert_allclose(run.strengths[:, mode], exact, rtol=1e-9, atol=1e-12 * s)
        predicted = lt.saxe_mode_strength(run.steps, s, a0, tau=1 / lr)
        # O(lr) from gradient flow
        assert np.abs(run.strengths[:, mode] - predicted).max() < 0.03 * s
    # stronger modes first: the simulated modes cross half their final strength in order, when
    # predicted
    half_way = [run.steps[np.argmax(run.strengths[:, m] > run.variances[m] / 2)] for m in range(4)]
    predicted = [np.log(run.variances[m] / a0 - 1) / (2 * run.variances[m] * lr) for m in range(4)]
    assert np.all(np.diff(half_way) > 0)
    np.testing.assert_allclose(half_way, predicted, atol=10)  # steps are recorded every 5


@pytest.mark.parametrize("s", [0.3, 0.66])
def test_gradient_flow_is_the_small_step_limit_of_gradient_descent(s):
    a0, lr, t_end = 1e-4, 0.05, 60.0  # t_end in units of tau = 1/lr
    deviations = []
    for eta in (lr, lr / 2, lr / 4):
        n = int(round(t_end / eta))
        steps = np.arange(n + 1)
        descent = lt.saxe_gd_strength(n, s, a0, eta)
        deviations.append(
            np.abs(descent - lt.saxe_mode_strength(steps, s, a0, tau=1 / eta)).max() / s
        )
    ratios = np.array(deviations[:-1]) / np.array(deviations[1:])
    np.testing.assert_allclose(ratios, 2.0, atol=0.1)  # first order in the learning rate


def test_saxe_formula_limits():
    assert lt.saxe_mode_strength(0.0, 2.0, 0.01) == pytest.approx(0.01)
    assert lt.saxe_mode_strength(1e6, 2.0, 0.01) == pytest.approx(2.0)
    t_half = np.log(2.0 / 0.01 - 1) / (2 * 2.0)
    assert lt.saxe_mode_strength(t_half, 2.0, 0.01) == pytest.approx(1.0)


def test_ppca_log_density_depends_on_units_and_is_a_sum_of_gaussian_entropies(digits):
    q, n, d = 10, len(digits), digits.shape[1]
    variances = lt.PCA.fit(digits).variances
    per_image = lt.PPCA.max_log_likelihood(variances, q, n) / n
    sigma2 = variances[q:].mean()
    entropies = 0.5 * np.log(2 * np.pi * np.e * variances[:q]).sum() + 0.5 * (d - q) * np.log(
        2 * np.pi * np.e * sigma2
    )
    assert per_image == pytest.approx(-entropies, rel=1e-12)
    assert per_image > 0  # pixels in [0, 1]: most directions are narrower than 1 / sqrt(2 pi e)
    # the same model in grey levels: density per unit volume shrinks by 16^d
    grey = lt.PPCA.fit(16 * digits, q)
    assert grey.log_prob(16 * digits).mean() == pytest.approx(per_image - d * np.log(16), rel=1e-9)


def test_prior_moment_gap_noise_floor_and_exact_value():
    g = torch.Generator().manual_seed(0)
    n, k = 447, 16
    gaps = [
        lt.prior_moment_gap(torch.randn(n, k, generator=g, dtype=torch.float64)) for _ in range(400)
    ]
    floor = lt.prior_moment_gap_floor(n, k)
    assert floor == pytest.approx(k / n, rel=0.01)
    assert np.mean(gaps) == pytest.approx(floor, abs=4 * np.std(gaps) / np.sqrt(len(gaps)))
    m, v = torch.tensor([0.5, -1.0]), torch.tensor([4.0, 0.25])
    z = m + v.sqrt() * torch.randn(200_000, 2, generator=g, dtype=torch.float64)
    exact = 0.5 * float((v + m**2 - 1 - v.log()).sum())
    assert lt.prior_moment_gap(z) == pytest.approx(exact, rel=0.01)


def test_principal_angles():
    e = np.eye(3)
    np.testing.assert_allclose(lt.principal_angles(e[:, :1], e[:, :1]), [0.0], atol=1e-7)
    np.testing.assert_allclose(lt.principal_angles(e[:, :1], e[:, 1:2]), [np.pi / 2])


def test_linear_vae_optimum_equals_ppca_log_likelihood(digits):
    x = digits[:400]
    q = 3
    model = lt.LinearVAE.fit(x, q)
    assert isinstance(model, lt.LinearVAE)
    elbo = model.fitted_elbo
    with torch.no_grad():
        assert model.elbo(torch.as_tensor(x)).mean().item() == elbo
    closed = lt.PPCA.max_log_likelihood(lt.PCA.fit(x).variances, q, len(x)) / len(x)
    assert elbo <= closed + 1e-9  # a lower bound
    assert elbo == pytest.approx(closed, abs=1e-3)


@pytest.fixture(scope="module")
def small_vae():
    split = load_digits_split()
    model = lt.VAE(latent_dim=8, hidden=128, generator=0)
    lt.train_vae(model, split.train, split.validation, max_epochs=80, n_importance=5, generator=0)
    return model, torch.as_tensor(split.test[:100])


def test_elbo_below_iwae_and_iwae_tightens_with_k(small_vae):
    model, x = small_vae
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        # analytic KL, averaged over samples
        elbo = np.mean([model.elbo(x, generator=g).mean().item() for _ in range(50)])
        # fully sampled ELBO = E[IWAE with K = 1]
        sampled_elbo = model.log_weights(x, 500, generator=g).mean().item()
        bounds = [model.iwae(x, k, generator=g).mean().item() for k in (10, 100, 1000)]
    assert sampled_elbo == pytest.approx(elbo, abs=0.5)
    assert elbo < bounds[0] < bounds[1] < bounds[2]
    assert bounds[2] < 0  # log-probabilities of discrete images


def test_vae_likelihood_is_a_normalized_distribution_per_pixel(small_vae):
    model, _ = small_vae
    with torch.no_grad():
        log_probs = model.pixel_log_probs(torch.randn(5, 8))
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(5, 64), atol=1e-5, rtol=0)
    for decoder in ("softmax",):
        other = lt.VAE(latent_dim=4, hidden=32, decoder=decoder)
        with torch.no_grad():
            torch.testing.assert_close(
                other.pixel_log_probs(torch.randn(3, 4)).exp().sum(-1), torch.ones(3, 64)
            )


def test_vae_decoder_is_locally_linear(small_vae):
    model, x = small_vae
    with torch.no_grad():
        z = model.encode(x)[0]
    for axis in (0, 1):
        deviations = []
        for h in (0.25, 0.125, 0.0625):
            ratio = (
                lt.decoder_step_change(model, z, axis, 2 * h).sum()
                / lt.decoder_step_change(model, z, axis, h).sum()
            )
            deviations.append(abs(float(ratio) - 2))
        # 2 + O(h) for a smooth map, about 1 across a jump: close to 2 and closer as h shrinks
        assert deviations[2] < 0.05 and deviations[2] < deviations[1] < deviations[0], deviations


def test_vae_samples_follow_the_decoder_mean(small_vae):
    """The mean image of samples is E_z E[x | z], estimated independently from prior codes."""
    model, _ = small_vae
    images = model.sample(4000, generator=0)
    assert images.shape == (4000, 64) and images.dtype == torch.long
    expected = model.decode_mean(torch.randn(4000, 8, generator=torch.Generator().manual_seed(1)))
    standard_error = images.double().std(0) / np.sqrt(len(images)) + expected.std(
        0
    ).double() / np.sqrt(len(expected))
    assert torch.all(
        (images.double().mean(0) - expected.double().mean(0)).abs() < 5 * standard_error + 0.02
    )


def test_vae_generator_init_and_dropout_repeat_torch_defaults():
    torch.manual_seed(5)
    default = lt.VAE(latent_dim=4, hidden=16)
    seeded = lt.VAE(latent_dim=4, hidden=16, generator=5)
    assert all(
        torch.equal(a, b)
        for a, b in zip(default.state_dict().values(), seeded.state_dict().values(), strict=True)
    )
    x = torch.randn(30, 16)
    torch.manual_seed(7)
    expected = torch.nn.functional.dropout(x, 0.2, training=True)
    assert torch.equal(seeded.encoder[2](x, torch.Generator().manual_seed(7)), expected)


def test_train_vae_leaves_the_global_stream_and_repeats_with_a_generator():
    split = load_digits_split()
    runs = []
    for _ in range(2):
        model = lt.VAE(latent_dim=2, hidden=16, generator=1)
        state = torch.get_rng_state()
        lt.train_vae(model, split.train[:200], split.validation[:50], max_epochs=5, generator=3)
        assert torch.equal(state, torch.get_rng_state())
        runs.append(model.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_training_log_restores_the_models_mode():
    model = lt.VAE(n_pixels=4, n_levels=3, latent_dim=2, hidden=8, generator=0)
    log = lt.TrainingLog(model, torch.tensor([[0, 1, 2, 1]]), every=1, generator=0)
    for training in (True, False):
        model.train(training)
        log.end_of_epoch(1)
        assert model.training == training
    log.finish()
    assert not model.training


def test_the_shared_gaussian_formulas():
    """One KL to N(0, I) (LinearVAE's shares its variance over rows) and one full-covariance
    log-density (PPCA.log_prob and flows.gaussian_nll)."""
    from scipy import stats as st

    g = torch.Generator().manual_seed(0)
    mean, log_var = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(3).double()
    q = torch.distributions.Normal(mean, (0.5 * log_var).exp())
    p = torch.distributions.Normal(torch.zeros(3).double(), torch.ones(3).double())
    expected = torch.distributions.kl_divergence(q, p).sum(-1)
    kl = lt._kl_to_standard_normal(mean, log_var.exp().expand(5, 3), log_var.expand(5, 3))
    assert torch.allclose(kl, expected)
    x, m = np.random.default_rng(0).normal(size=(6, 3)), np.array([0.1, -0.2, 0.3])
    cov = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.5]])
    assert np.allclose(lt._gaussian_log_prob_full(x, m, cov),
                       st.multivariate_normal(m, cov).logpdf(x))


def test_linear_vae_fit_documents_its_l_bfgs_steps():
    doc = lt.LinearVAE.fit.__doc__
    assert "L-BFGS" in doc and "max_iter" in doc and "5 calls" in doc


def test_vae_rejects_bad_images():
    model = lt.VAE(latent_dim=2, hidden=16)
    with pytest.raises(ValueError, match="shape"):
        model.elbo(torch.zeros(3, 63, dtype=torch.long))
    with pytest.raises(ValueError, match="0..16"):
        model.elbo(torch.full((2, 64), 17))
    with pytest.raises(ValueError, match="integers"):
        model.elbo(torch.full((2, 64), 0.5))
    with pytest.raises(ValueError, match="decoder"):
        lt.VAE(decoder="gaussian")


def test_train_vae_shorter_than_the_scoring_interval_returns_trained_weights():
    """Validation is scored every 5 epochs; a 2-epoch run must still score its last epoch and
    hand back trained weights, not the initial ones."""
    split = load_digits_split()
    model = lt.VAE(hidden=32, generator=0)
    initial = copy.deepcopy(model.state_dict())
    history = lt.train_vae(model, split.train[:200], split.validation[:50], max_epochs=2,
                           generator=1)
    assert history["epoch"] == [2]
    changed = [not torch.equal(initial[k], v) for k, v in model.state_dict().items()]
    assert any(changed), "train_vae returned the untrained weights"
