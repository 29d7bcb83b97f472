"""course_lib.hopfield against theory: energy descent, AGS capacity, Storkey, modern Hopfield
as attention, and coupling recovery from samples."""

import numpy as np
import pytest
import torch

from course_lib import hopfield as hp
from course_lib import ising
from course_lib.data import binarized_digits, digit_prototypes, load_digits_split


def random_patterns(rng, p, n):
    return rng.choice(np.array([-1, 1], dtype=np.int8), size=(p, n))


# ------------------------------------------------------------------------ learning rules and energy
def test_hebbian_is_symmetric_with_zero_diagonal_and_stores_few_patterns():
    rng = np.random.default_rng(0)
    x = random_patterns(rng, 5, 200)
    W = hp.hebbian(x)
    assert np.allclose(W, W.T) and np.all(np.diag(W) == 0)
    np.testing.assert_array_equal(hp.synchronous_update(W, x), x)  # every pattern is a fixed point


@pytest.mark.parametrize("seed", range(10))
def test_energy_never_increases_under_asynchronous_updates(seed):
    """Property test over random symmetric networks (not only Hebbian ones): a single update changes
    E by -(s_i' - s_i) h_i <= 0, so the energy after each neuron's update is non-increasing."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    W = rng.normal(size=(n, n))
    W = (W + W.T) / 2
    np.fill_diagonal(W, 0)
    s = rng.choice(np.array([-1, 1], dtype=np.int8), size=(8, n))
    energies = [hp.energy(W, s)]
    for i in rng.permutation(n):  # one neuron at a time, through the library's update rule
        s = hp.asynchronous_sweep(W, s, neurons=[i], generator=rng)
        energies.append(hp.energy(W, s))
    assert np.all(np.diff(np.array(energies), axis=0) <= 1e-12)
    swept = hp.asynchronous_sweep(W, s, generator=rng)
    assert np.all(hp.energy(W, swept) <= hp.energy(W, s) + 1e-12)


def test_storkey_matches_its_definition_term_by_term():
    """The library's rank-2 update equals Storkey's rule written with explicit loops
    over i, j, k."""
    rng = np.random.default_rng(7)
    x = random_patterns(rng, 4, 7)
    n = x.shape[1]
    W = np.zeros((n, n))
    for xi in x.astype(float):
        h = np.array(
            [
                [sum(W[i, k] * xi[k] for k in range(n) if k not in (i, j)) for j in range(n)]
                for i in range(n)
            ]
        )
        W = W + (np.outer(xi, xi) - xi[:, None] * h.T - h * xi[None, :]) / n
        np.fill_diagonal(W, 0.0)
    np.testing.assert_allclose(hp.storkey(x), W, atol=1e-12)


def test_a_zero_field_keeps_the_spin_unlike_metropolis_at_zero_temperature():
    """The sign rule keeps s_i when h_i = 0; Metropolis at T = 0 accepts that dE = 0 flip, so a
    two-state flat direction would flip forever and recall would never stop."""
    W = np.zeros((4, 4))
    W[0, 1] = W[0, 2] = 1.0  # neuron 0 hears +1 from neuron 1 and -1 from neuron 2: a tie
    W[1, 3], W[2, 3] = 2.0, -2.0  # neurons 1, 2, 3 are held in place by strong couplings
    W = W + W.T
    s = np.array([1, 1, -1, 1], dtype=np.int8)
    assert (s @ W)[0] == 0 and np.all((s @ W)[1:] * s[1:] > 0)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(hp.asynchronous_sweep(W, s, neurons=[0], generator=rng), s)
    assert hp.synchronous_update(W, s)[0] == 1
    flipped = s * np.array([-1, 1, 1, 1])
    assert hp.energy(W, flipped) == hp.energy(W, s)  # the flip Metropolis would accept at T = 0
    final, sweeps = hp.recall(W, s, generator=rng)
    np.testing.assert_array_equal(final, s)
    assert sweeps == 1


def test_recall_from_corrupted_cues():
    rng = np.random.default_rng(1)
    x = random_patterns(rng, 10, 500)
    W = hp.hebbian(x)
    cues = hp.corrupt(x, 0.2, generator=rng)
    assert np.all(np.sum(cues != x, axis=1) == 100)
    final, sweeps = hp.recall(W, cues, generator=rng)
    np.testing.assert_array_equal(final, x)
    assert sweeps <= 5


def test_mixture_states_are_spurious_minima_with_higher_energy():
    """For few patterns, a symmetric 3-mixture has overlap 1/2 with each component and energy per
    neuron -3/8, above the patterns' -1/2 (Amit, Gutfreund, Sompolinsky 1985): a stable but
    spurious memory. Each overlap is a mean of N terms +-1 with variance 3/4, so sd sqrt(3/(4N))."""
    rng = np.random.default_rng(2)
    n = 3000
    x = random_patterns(rng, 3, n)
    W = hp.hebbian(x)
    mix = hp.mixture_state(x, [0, 1, 2])
    m = hp.overlap(mix, x)
    sd = np.sqrt(3 / (4 * n))
    assert np.all(np.abs(m - 0.5) < 3 * sd)
    # E/N = -1/2 sum_mu m_mu^2 + P/(2N) exactly (the zero diagonal), so -3/8 within 3 sd of
    # sum m^2/2
    assert hp.energy(W, mix) / n == pytest.approx(-0.5 * np.sum(m**2) + 3 / (2 * n), abs=1e-12)
    assert abs(hp.energy(W, mix) / n + 3 / 8) < 3 * np.sqrt(3) * 0.5 * sd
    m_x = hp.overlap(x, x)
    np.testing.assert_allclose(
        hp.energy(W, x) / n, -0.5 * np.sum(m_x**2, 1) + 3 / (2 * n), atol=1e-12
    )
    assert np.all(np.abs(hp.energy(W, x) / n + 1 / 2) < 0.01)
    settled, _ = hp.recall(W, mix, generator=rng)
    np.testing.assert_array_equal(settled, mix)  # a fixed point: every field has the sign of s_i


# ------------------------------------------------------------------------------------ capacity
def test_ags_theory():
    assert hp.ags_critical_load() == pytest.approx(0.1379, abs=2e-4)
    assert float(hp.ags_overlap(hp.ags_critical_load() - 1e-9)) == pytest.approx(0.967, abs=1e-3)
    np.testing.assert_allclose(hp.ags_overlap(np.array([0.10, 0.12])), [0.998, 0.993], atol=1e-3)
    assert float(hp.ags_overlap(0.2)) == 0.0
    # The library solves a reduced equation; check it against direct fixed-point iteration of the
    # three AGS equations from m = 1, and alpha_c against the largest load where iteration
    # retrieves.
    from scipy.special import erf

    alpha, m, r = 0.1, 1.0, 1.0
    for _ in range(2000):
        C = np.sqrt(2 / (np.pi * alpha * r)) * np.exp(-(m**2) / (2 * alpha * r))
        r = 1 / (1 - C) ** 2
        m = erf(m / np.sqrt(2 * alpha * r))
    assert float(hp.ags_overlap(alpha)) == pytest.approx(m, abs=1e-6)

    def iterate(alpha, m=1.0, r=1.0):
        for _ in range(5000):
            C = np.sqrt(2 / (np.pi * alpha * r)) * np.exp(-(m**2) / (2 * alpha * r))
            r = 1 / (1 - C) ** 2 if C < 1 else np.inf
            m = erf(m / np.sqrt(2 * alpha * r))
        return m

    alpha_c = hp.ags_critical_load()
    assert iterate(alpha_c - 2e-4) > 0.9 and iterate(alpha_c + 2e-4) < 0.1


def test_hebbian_capacity_at_n_1000_is_smeared_around_alpha_c():
    """Below alpha_c the simulation sits on the theory; above it, at N = 1000, the overlap falls
    gradually instead of jumping to 0: well above 0.5 at 0.14, between 0 and m(alpha_c) = 0.967
    at 0.20, by more than 3 standard errors each."""
    rng = np.random.default_rng(3)
    assert hp.retrieval_overlap(1000, 0.10, generator=rng) > 0.98
    mean, error = hp.capacity_curve(1000, np.array([0.14, 0.20]), n_probes=20, generator=rng)
    assert np.all(error > 0) and np.all(error < 0.05)
    assert mean[0] - 3 * error[0] > 0.5  # at 0.14 most probes are still retrieved (theory: none)
    assert mean[1] - 3 * error[1] > 0 and mean[1] + 3 * error[1] < 0.967  # in between at 0.20
    assert mean[1] + 3 * error[1] < mean[0] - 3 * error[0]


def test_storkey_is_stable_where_hebbian_fails():
    """At alpha = 0.20, where the Hebbian overlap is below 0.5 (previous test), Storkey
    retrieves."""
    rng = np.random.default_rng(4)
    assert hp.retrieval_overlap(1000, 0.20, rule="storkey", generator=rng) > 0.99


# ------------------------------------------------------------------------------ modern Hopfield
def test_modern_update_is_softmax_attention():
    """Against PyTorch's attention (scale = beta, keys = values = patterns) and against the update
    written out pattern by pattern in numpy; its limits: one stored pattern is returned whatever
    the query, beta = 0 gives the mean pattern, large beta the pattern most aligned with xi."""
    g = torch.Generator().manual_seed(0)
    X, xi, beta = (
        torch.randn(30, 16, generator=g, dtype=torch.float64),
        torch.randn(4, 16, generator=g, dtype=torch.float64),
        0.7,
    )
    sdpa = torch.nn.functional.scaled_dot_product_attention
    torch.testing.assert_close(
        hp.modern_update(X, xi, beta), sdpa(xi[None], X[None], X[None], scale=beta)[0]
    )
    x, q = X.numpy(), xi.numpy()
    for b in range(len(q)):
        logits = [beta * float(np.dot(x[mu], q[b])) for mu in range(len(x))]
        weights = np.exp(np.array(logits) - max(logits))
        expected = sum(w * x[mu] for mu, w in enumerate(weights)) / weights.sum()
        np.testing.assert_allclose(
            hp.modern_update(X, xi[b], beta).numpy(), expected, rtol=1e-12, atol=1e-12
        )
    torch.testing.assert_close(hp.modern_update(X[:1], xi, 5.0), X[:1].expand(4, -1))
    torch.testing.assert_close(hp.modern_update(X, xi, 0.0), X.mean(0).expand(4, -1))
    nearest = (xi @ X.T).argmax(1)
    torch.testing.assert_close(hp.modern_update(X, xi, 1e4), X[nearest])


def test_modern_update_lowers_its_energy():
    g = torch.Generator().manual_seed(1)
    X = torch.randn(50, 20, generator=g, dtype=torch.float64)
    xi = torch.randn(10, 20, generator=g, dtype=torch.float64)
    for beta in (0.1, 1.0, 5.0):
        after = hp.modern_energy(X, hp.modern_update(X, xi, beta), beta)
        assert torch.all(after <= hp.modern_energy(X, xi, beta) + 1e-12)


def test_modern_network_retrieves_far_beyond_classical_capacity():
    rng = np.random.default_rng(5)
    n, p = 64, 1000  # load 15.6, a hundred times the classical alpha_c
    x = random_patterns(rng, p, n)
    cues = hp.corrupt(x, 0.15, generator=rng)
    X, Q = torch.tensor(x, dtype=torch.float64), torch.tensor(cues, dtype=torch.float64)
    retrieved = torch.sign(hp.modern_update(X, Q, beta=0.5))
    assert (retrieved.numpy() == x).all(axis=1).mean() > 0.99
    classical, _ = hp.recall(hp.hebbian(x), cues, generator=rng)
    assert np.mean(np.sum(classical * x, axis=1) / n) < 0.5


# ------------------------------------------------------------------------------ inverse problem
def test_pseudolikelihood_covariance_at_zero_coupling_is_that_of_maximum_likelihood():
    """At J = 0, h = 0 pseudo-likelihood is efficient: Var(J_ij) = 1 / (M Var(s_i s_j)) = 1 / M,
    independent couplings (the sandwich reduces to the inverse Fisher information)."""
    S = hp.pseudolikelihood_covariance(np.zeros((6, 6)), np.zeros(6))
    np.testing.assert_allclose(S, np.eye(15), atol=1e-12)
    rms, sd = hp.pseudolikelihood_rms_error(np.zeros((6, 6)), np.zeros(6), 400)
    assert rms == pytest.approx(1 / 20) and sd == pytest.approx(np.sqrt(2 / 15) / 400 / (2 / 20))


@pytest.fixture(scope="module")
def inverse_problem():
    """Pseudo-likelihood and mean-field couplings from M = 2000 and 32000 exact samples of a
    10-spin model with strong random couplings (fitted once for the tests below)."""
    rng = np.random.default_rng(0)
    n = 10
    J = rng.normal(0, 0.5, (n, n))
    J = (J + J.T) / 2
    np.fill_diagonal(J, 0)
    h = rng.normal(0, 0.2, n)
    iu = np.triu_indices(n, 1)
    rms = {}
    for m in (2000, 32000):
        samples = hp.boltzmann_samples(J, h, m, generator=rng)
        J_pl, _ = hp.pseudolikelihood_couplings(samples)
        J_mf = hp.mean_field_couplings(samples)
        rms[m] = [np.sqrt(np.mean((est - J)[iu] ** 2)) for est in (J_pl, J_mf)]
    return J, h, rms


def test_pseudolikelihood_error_follows_its_asymptotic_law(inverse_problem):
    """The RMS coupling error at each M lies within 3 standard deviations of the sandwich-covariance
    prediction, which falls like 1/sqrt(M): a factor 4 for 16 times more samples."""
    J, h, rms = inverse_problem
    predicted, sd = hp.pseudolikelihood_rms_error(J, h, np.array([2000, 32000]))
    assert predicted[0] / predicted[1] == pytest.approx(4)
    for k, m in enumerate((2000, 32000)):
        assert abs(rms[m][0] - predicted[k]) < 3 * sd[k], (m, rms[m][0], predicted[k], sd[k])


def test_mean_field_inversion_is_biased_at_strong_coupling(inverse_problem):
    J, h, rms = inverse_problem
    pl, mf = rms[32000]
    assert mf > 3 * pl
    assert rms[2000][1] / mf < 1.5  # a bias: more samples barely help


def test_pseudolikelihood_reads_nearest_neighbour_couplings_of_the_ising_model():
    T, L, replicas = 3.0, 4, 2000
    sim = ising.CheckerboardMetropolis(L, [T], replicas=replicas, start="hot", generator=0)
    sim.sweep(200)
    samples = []
    for _ in range(8):
        sim.sweep(10)
        samples.append(sim.spins()[0].numpy().reshape(replicas, L * L))
    J_pl, _ = hp.pseudolikelihood_couplings(np.concatenate(samples))
    site = np.arange(L * L).reshape(L, L)
    neighbours = np.zeros((L * L, L * L), bool)
    neighbours[site, np.roll(site, 1, 1)] = neighbours[site, np.roll(site, 1, 0)] = True
    neighbours |= neighbours.T
    assert np.mean(J_pl[neighbours]) == pytest.approx(1 / T, rel=0.05)
    assert np.abs(J_pl[~neighbours & ~np.eye(L * L, dtype=bool)]).max() < 0.06


# ---------------------------------------------------------------------------- input checks and data
def test_bad_input_is_rejected_with_clear_messages():
    with pytest.raises(ValueError, match=r"\+1 and -1"):
        hp.hebbian(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="shape"):
        hp.hebbian(np.ones(4))
    with pytest.raises(ValueError, match="do not match"):
        hp.energy(np.zeros((3, 3)), np.ones(4))
    with pytest.raises(ValueError, match="odd"):
        hp.mixture_state(np.ones((2, 4)), [0, 1])
    with pytest.raises(ValueError, match="fraction"):
        hp.corrupt(np.ones(4), 1.5, generator=np.random.default_rng())
    with pytest.raises(TypeError):  # the generator is keyword-only
        hp.recall(np.zeros((4, 4)), np.ones(4), np.random.default_rng())
    with pytest.raises(ValueError, match="neurons"):
        hp.asynchronous_sweep(np.zeros((4, 4)), np.ones(4), neurons=[4])


def test_digits_data():
    split = load_digits_split()
    assert (len(split.train), len(split.validation), len(split.test)) == (1000, 350, 447)
    assert split.train.max() == 16 and split.train.min() == 0
    x, y = binarized_digits()
    assert x.shape == (1797, 64) and set(np.unique(x)) == {-1, 1} and len(y) == 1797


def test_projection_rule_stores_correlated_digit_prototypes_that_hebb_cannot():
    prototypes = digit_prototypes()
    # strongly correlated
    assert np.abs(hp.overlap(prototypes, prototypes) - np.eye(10)).max() > 0.5
    np.testing.assert_array_equal(
        hp.synchronous_update(hp.projection(prototypes), prototypes), prototypes
    )
    hebb = hp.synchronous_update(hp.hebbian(prototypes), prototypes)
    assert not np.all(hebb == prototypes)
    with pytest.raises(ValueError, match="independent"):
        hp.projection(np.vstack([prototypes[:2], prototypes[:1]]))


def test_asynchronous_sweep_on_chosen_neurons_only():
    rng = np.random.default_rng(6)
    x = random_patterns(rng, 3, 50)
    cue = hp.corrupt(x[0], 0.3, generator=rng)
    out = hp.asynchronous_sweep(hp.hebbian(x), cue, neurons=np.arange(10), generator=rng)
    np.testing.assert_array_equal(out[10:], cue[10:])
