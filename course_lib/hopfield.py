"""Hopfield networks: an Ising model whose couplings are learned from the patterns it stores.

Energy of a state s in {-1, +1}^N:  E(s) = -1/2 s^T W s, with symmetric W and zero diagonal.
Asynchronous updates s_i <- sign(sum_j W_ij s_j) never raise E, so stored patterns can be
recovered as local minima. A zero local field keeps the spin (the sign rule); Metropolis at T = 0
would accept that zero-energy flip instead. With the sign rule every flip strictly lowers E, so
recall always stops. Modern (dense) Hopfield networks replace the quadratic energy by
a log-sum-exp, and their update is softmax attention.

Contents
    learning rules      ``hebbian``, ``storkey``, ``projection``
    dynamics            ``energy``, ``asynchronous_sweep``, ``recall``, ``synchronous_update``
    measurements        ``overlap``, ``corrupt``, ``mixture_state``, ``retrieval_overlap``
    capacity            ``retrieval_overlaps``, ``retrieval_overlap``, ``capacity_curve``
    replica theory      ``ags_overlap``, ``ags_critical_load``
    modern networks     ``modern_energy``, ``modern_update``
    inverse problem     ``boltzmann_samples``, ``pseudolikelihood_couplings``,
                        ``pseudolikelihood_covariance``, ``pseudolikelihood_rms_error``,
                        ``mean_field_couplings``

References
    J. J. Hopfield, PNAS 79, 2554 (1982).
    D. J. Amit, H. Gutfreund, H. Sompolinsky, Phys. Rev. A 32, 1007 (1985) -- mixture states, -3/8.
    D. J. Amit, H. Gutfreund, H. Sompolinsky, Ann. Phys. 173, 30 (1987) -- replica theory,
        alpha_c = 0.138.
    A. Storkey, ICANN (1997) -- the Storkey learning rule.
    L. Personnaz, I. Guyon, G. Dreyfus, J. Physique Lett. 46, L359 (1985) -- the projection rule.
    H. Ramsauer et al., "Hopfield Networks is All You Need", ICLR (2021) -- modern Hopfield
        networks are attention.
    J. Besag, The Statistician 24, 179 (1975); E. Aurell, M. Ekeberg, PRL 108, 090201 (2012)
        -- pseudo-likelihood.
    C. Varin, N. Reid, D. Firth, Statistica Sinica 21, 5 (2011) -- sandwich covariance of
        composite (pseudo-) likelihood estimators.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.special import erf

from . import rng
from .checks import as_spins, check_count, check_finite, check_fraction, check_positive
from .ising import all_configurations
from .notebook import progress
from .stats import bisect

__all__ = [
    "hebbian", "storkey", "projection", "energy", "synchronous_update", "asynchronous_sweep",
    "recall", "overlap", "corrupt", "mixture_state", "retrieval_overlaps", "retrieval_overlap",
    "ags_critical_load", "ags_overlap", "modern_energy", "modern_update", "boltzmann_samples",
    "pseudolikelihood_couplings", "pseudolikelihood_covariance", "pseudolikelihood_rms_error",
    "mean_field_couplings", "capacity_curve",
]

# --------------------------------------------------------------------------- checks


def _patterns(patterns: np.ndarray, name: str = "patterns") -> np.ndarray:
    """+-1 patterns of shape (P, N), P, N >= 1, as float64."""
    patterns = as_spins(patterns, name, min_ndim=2, shape_hint="(P, N)")
    if patterns.ndim != 2 or patterns.size == 0:
        raise ValueError(f"{name} must have shape (P, N) with P, N >= 1, got {patterns.shape}")
    return patterns.astype(np.float64)


def _square(W: np.ndarray, name: str = "W") -> np.ndarray:
    W = np.asarray(W, dtype=float)
    if W.ndim != 2 or W.shape[0] != W.shape[1] or W.size == 0:
        raise ValueError(f"{name} must be a square matrix, got shape {W.shape}")
    return check_finite(W, name)


def _states(W: np.ndarray, states: np.ndarray) -> np.ndarray:
    W, states = _square(W), as_spins(states, "states")
    if states.shape[-1] != W.shape[0]:
        raise ValueError(f"states of shape {states.shape} do not match W of shape {W.shape}")
    return states


def _model(J: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Couplings (N, N) and fields (N,) of a model small enough to enumerate (N <= 20)."""
    J, h = _square(J, "J"), check_finite(np.asarray(h, dtype=float), "h")
    if h.shape != (len(J),):
        raise ValueError(f"h must have shape ({len(J)},) to match J, got {h.shape}")
    if len(h) > 20:
        raise ValueError(f"J and h: enumeration needs N <= 20 spins, got {len(h)}")
    return J, h


def _indices(values: object, n: int, name: str) -> np.ndarray:
    """A 1D array of indices in 0..n-1."""
    values = np.asarray(values)
    if values.ndim != 1 or values.dtype.kind not in "iu" or np.any((values < 0) | (values >= n)):
        raise ValueError(f"{name} must be a 1D list of indices in 0..{n - 1}, got {values}")
    return values


def _rule(rule: str):
    rules = {"hebbian": hebbian, "storkey": storkey, "projection": projection}
    if rule not in rules:
        raise ValueError(f"rule must be one of {sorted(rules)}, got {rule!r}")
    return rules[rule]


def _check_modern(patterns: torch.Tensor, xi: torch.Tensor) -> None:
    for name, value in (("patterns", patterns), ("xi", xi)):
        if not torch.is_tensor(value) or not value.is_floating_point():
            raise TypeError(f"{name} must be a floating-point torch.Tensor")
    if patterns.ndim != 2 or len(patterns) == 0 or xi.ndim not in (1, 2):
        raise ValueError(f"patterns must have shape (P, N) and xi (N,) or (B, N), got "
                         f"{tuple(patterns.shape)} and {tuple(xi.shape)}")
    if xi.shape[-1] != patterns.shape[1] or xi.dtype != patterns.dtype:
        shapes = f"xi of shape {tuple(xi.shape)}, patterns of shape {tuple(patterns.shape)}"
        raise ValueError(f"{shapes}: xi does not match the patterns (shape or dtype)")
    if xi.device.type != "meta":
        check_finite(patterns, "patterns")
        check_finite(xi, "xi")


def _boltzmann(J: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All 2^N states (float) of p(s) ~ exp(s^T J s / 2 + h . s) and their probabilities."""
    states = all_configurations(len(h)).astype(float)
    log_w = 0.5 * np.einsum("si,ij,sj->s", states, J, states) + states @ h
    p = np.exp(log_w - log_w.max())
    return states, p / p.sum()


# --------------------------------------------------------------------------- learning rules


def hebbian(patterns: np.ndarray) -> np.ndarray:
    """Hebb's rule W = X^T X / N with zero diagonal, for patterns X (P, N) (Hopfield 1982)."""
    x = _patterns(patterns)
    W = x.T @ x / x.shape[1]
    np.fill_diagonal(W, 0.0)
    return W


def storkey(patterns: np.ndarray) -> np.ndarray:
    """Storkey's incremental rule (1997): for each pattern xi,
    W_ij += (xi_i xi_j - xi_i h_ji - h_ij xi_j) / N,  h_ij = sum_{k != i, j} W_ik xi_k.
    It subtracts the cross-talk of the patterns already stored, raising the capacity."""
    x = _patterns(patterns)
    n = x.shape[1]
    W = np.zeros((n, n))
    for xi in x:  # a sequential learning rule: one pattern after another
        h = W @ xi
        H = h[:, None] - W * xi[None, :]  # h_ij = h_i - W_ij xi_j (zero diagonal)
        W += (np.outer(xi, xi) - xi[:, None] * H.T - H * xi[None, :]) / n
        np.fill_diagonal(W, 0.0)
    return W


def projection(patterns: np.ndarray) -> np.ndarray:
    """Projection (pseudo-inverse) rule W = X^T (X X^T)^-1 X, zero diagonal (Personnaz et al. 1985).
    It projects onto the span of the patterns, so correlated patterns (like digits) are stored too,
    as long as they are linearly independent."""
    x = _patterns(patterns)
    gram = x @ x.T
    if np.linalg.matrix_rank(gram) < len(x):
        raise ValueError("the projection rule needs linearly independent patterns")
    W = x.T @ np.linalg.solve(gram, x)
    np.fill_diagonal(W, 0.0)
    return W


# --------------------------------------------------------------------------- dynamics


def energy(W: np.ndarray, states: np.ndarray) -> np.ndarray:
    """E(s) = -1/2 s^T W s for one state (N,) or a batch (B, N)."""
    s = _states(W, states).astype(np.float64)
    return -0.5 * np.einsum("...i,ij,...j->...", s, W, s)


def synchronous_update(W: np.ndarray, states: np.ndarray) -> np.ndarray:
    """All neurons at once: s <- sign(W s) (a zero field keeps the spin). Can fall into 2-cycles."""
    s = _states(W, states)
    fields = s @ W
    return np.where(fields > 0, 1, np.where(fields < 0, -1, s)).astype(s.dtype)


def asynchronous_sweep(
    W: np.ndarray,
    states: np.ndarray,
    neurons: np.ndarray | None = None,
    *,
    generator: rng.NumpySeed = None,
) -> np.ndarray:
    """One asynchronous sweep: neurons updated one at a time, s_i <- sign(h_i), in a random order
    (or only the given `neurons`, in the given order). A zero field keeps s_i (the sign rule), so
    every flip strictly lowers the energy; Metropolis at T = 0 would flip on a tie.

    Vectorized over a batch of states (B, N); local fields are kept up to date incrementally, so a
    sweep costs O(B N^2). Each single update changes the energy by -(s_i' - s_i) h_i <= 0.
    """
    s = np.array(_states(W, states), dtype=np.int8, ndmin=2)
    if neurons is None:
        order = rng.numpy_generator(generator).permutation(len(W))
    else:
        order = _indices(neurons, len(W), "neurons")
    fields = s @ W
    for i in order:
        h = fields[:, i]
        new = np.where(h > 0, 1, np.where(h < 0, -1, s[:, i])).astype(np.int8)
        changed = np.nonzero(new != s[:, i])[0]
        if changed.size:
            fields[changed] += 2 * new[changed, None] * W[i]
            s[changed, i] = new[changed]
    return s.reshape(np.shape(states))


def recall(
    W: np.ndarray, cues: np.ndarray, max_sweeps: int = 100, *, generator: rng.NumpySeed = None
) -> tuple[np.ndarray, int]:
    """Asynchronous sweeps from the cues until no neuron changes (a local energy minimum).
    Returns the final states and the number of sweeps taken."""
    s, max_sweeps = _states(W, cues), check_count(max_sweeps, "max_sweeps")
    generator = rng.numpy_generator(generator)  # one stream for all the sweeps
    for sweep in range(1, max_sweeps + 1):
        new = asynchronous_sweep(W, s, generator=generator)
        if np.array_equal(new, s):
            return new, sweep
        s = new
    return s, max_sweeps


# --------------------------------------------------------------------------- measurements


def overlap(states: np.ndarray, patterns: np.ndarray) -> np.ndarray:
    """m_mu = (1/N) xi^mu . s, for states (..., N) and patterns (P, N) -> (..., P)."""
    x = _patterns(patterns)
    states = check_finite(np.asarray(states, dtype=np.float64), "states")
    if states.ndim == 0 or states.shape[-1] != x.shape[1]:
        raise ValueError(f"states of shape {states.shape} do not match patterns of shape {x.shape}")
    return states @ x.T / x.shape[1]


def corrupt(
    patterns: np.ndarray, fraction: float, *, generator: rng.NumpySeed = None
) -> np.ndarray:
    """Flip a random `fraction` of the entries of each pattern (exactly round(fraction N))."""
    fraction = check_fraction(fraction, "fraction")
    x = np.array(as_spins(patterns, "patterns"), dtype=np.int8, ndmin=2)
    n_flip = int(round(fraction * x.shape[1]))
    order = np.argsort(rng.numpy_generator(generator).random(x.shape), axis=1)[:, :n_flip]
    np.put_along_axis(x, order, -np.take_along_axis(x, order, axis=1), axis=1)
    return x.reshape(np.shape(patterns))


def mixture_state(patterns: np.ndarray, indices: list[int]) -> np.ndarray:
    """Symmetric mixture sign(xi^a + xi^b + xi^c + ...) of an odd number of patterns: a spurious
    attractor, with energy -3/8 per neuron for three patterns (Amit, Gutfreund, Sompolinsky
    1985)."""
    x = _patterns(patterns)
    indices = _indices(indices, len(x), "indices")
    if len(indices) % 2 == 0:
        raise ValueError("indices: use an odd number of patterns so the sign is never zero")
    return np.sign(x[indices].sum(axis=0)).astype(np.int8)


def retrieval_overlaps(
    n_neurons: int,
    load: float,
    rule: str = "hebbian",
    n_probes: int = 20,
    *,
    generator: rng.NumpySeed = None,
) -> np.ndarray:
    """Overlap of each probe with its stored pattern after recall started *at* that pattern, for
    P = round(load N) random patterns (one network): the quantity of the Amit-Gutfreund-Sompolinsky
    theory. Returns min(n_probes, P) overlaps."""
    n_neurons, load = check_count(n_neurons, "n_neurons"), check_positive(load, "load")
    learn, n_probes = _rule(rule), check_count(n_probes, "n_probes")
    generator = rng.numpy_generator(generator)
    n_patterns = max(1, int(round(load * n_neurons)))
    patterns = generator.choice(np.array([-1, 1], dtype=np.int8), size=(n_patterns, n_neurons))
    probes = patterns[: min(n_probes, n_patterns)]
    final, _ = recall(learn(patterns), probes, generator=generator)
    return np.sum(final * probes, axis=1) / n_neurons


def retrieval_overlap(
    n_neurons: int,
    load: float,
    rule: str = "hebbian",
    n_probes: int = 20,
    *,
    generator: rng.NumpySeed = None,
) -> float:
    """Mean of ``retrieval_overlaps``."""
    overlaps = retrieval_overlaps(n_neurons, load, rule, n_probes, generator=generator)
    return float(np.mean(overlaps))


# --------------------------------------------------------------------------- replica theory (T = 0)


def _ags_load(y: np.ndarray) -> np.ndarray:
    """Load alpha at which y = m / sqrt(2 alpha r) solves the AGS equations:
    erf(y) = y (sqrt(2 alpha) + (2 / sqrt(pi)) exp(-y^2)), with m = erf(y)."""
    return (erf(y) / y - 2 / np.sqrt(np.pi) * np.exp(-(y**2))) ** 2 / 2


def _ags_peak() -> tuple[float, float]:
    res = minimize_scalar(
        lambda y: -_ags_load(y), bounds=(0.5, 3.0), method="bounded", options={"xatol": 1e-12}
    )
    return float(res.x), float(-res.fun)


def ags_critical_load() -> float:
    """Largest load with a retrieval state in the replica-symmetric T = 0 theory: the maximum of
    alpha(y) over y = m / sqrt(2 alpha r), alpha_c = 0.1379."""
    return _ags_peak()[1]


def ags_overlap(alpha: float | np.ndarray) -> np.ndarray:
    """Retrieval overlap m(alpha) of the replica-symmetric theory at T = 0 (Amit, Gutfreund,
    Sompolinsky 1987): m = erf(m / sqrt(2 alpha r)),
    C = sqrt(2 / (pi alpha r)) exp(-m^2 / (2 alpha r)), r = (1 - C)^-2; C = beta (1 - q) is the
    local susceptibility, r the scaled mean squared overlap with the other patterns. The stable
    branch is found by bisection in y = m / sqrt(2 alpha r); m = 0 above alpha_c."""
    alpha = check_finite(np.asarray(alpha, dtype=float), "alpha")
    if np.any(alpha < 0):
        raise ValueError("alpha (load) must be >= 0")
    y_peak, alpha_c = _ags_peak()
    y = bisect(lambda y: _ags_load(y) - alpha, y_peak, 60.0)  # _ags_load decreases on y > y_peak
    retrieval = (alpha <= alpha_c) & (alpha > 0)
    return np.where(retrieval, erf(y), np.where(alpha == 0, 1.0, 0.0))


# ---------------------------------------------------------------------- modern Hopfield networks


def modern_energy(patterns: torch.Tensor, xi: torch.Tensor, beta: float) -> torch.Tensor:
    """E(xi) = -(1/beta) log sum_mu exp(beta x_mu . xi) + xi . xi / 2 (+ constants),
    Ramsauer et al. (2021) eq. (2). `patterns` has shape (P, N); `xi` has shape (N,) or (B, N)."""
    _check_modern(patterns, xi)
    scores = check_positive(beta, "beta") * xi @ patterns.T
    return -torch.logsumexp(scores, dim=-1) / beta + 0.5 * (xi * xi).sum(-1)


def modern_update(patterns: torch.Tensor, xi: torch.Tensor, beta: float) -> torch.Tensor:
    """One update xi <- X^T softmax(beta X xi): attention with query xi and keys = values =
    the stored patterns X (P, N) (Ramsauer et al. 2021, eq. (3)). It never raises
    `modern_energy`. At beta = 0 it returns the mean pattern."""
    _check_modern(patterns, xi)
    beta = check_positive(beta, "beta", allow_zero=True)
    return torch.softmax(beta * xi @ patterns.T, dim=-1) @ patterns



# --------------------------------------------------------------------------- inverse problem


def boltzmann_samples(
    J: np.ndarray, h: np.ndarray, n_samples: int, *, generator: rng.NumpySeed = None
) -> np.ndarray:
    """Exact samples of p(s) ~ exp(s^T J s / 2 + h . s) by enumerating all 2^N states (N <= 20)."""
    (J, h), n_samples = _model(J, h), check_count(n_samples, "n_samples")
    states, p = _boltzmann(J, h)
    draws = rng.numpy_generator(generator).choice(len(states), size=n_samples, p=p)
    return states[draws].astype(np.int8)


def pseudolikelihood_couplings(
    samples: np.ndarray, l2: float = 1e-4, max_iter: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """Couplings J (symmetric, zero diagonal) and fields h maximizing the pseudo-likelihood
    sum_samples sum_i log p(s_i | s_rest),  p(s_i | s_rest) = sigmoid(2 s_i (h_i + sum_j J_ij s_j)),
    with a small L2 penalty (Besag 1975; Aurell & Ekeberg 2012). Convex; solved with L-BFGS."""
    samples = as_spins(samples, "samples", min_ndim=2, shape_hint="(M, N)")
    l2, max_iter = check_positive(l2, "l2", allow_zero=True), check_count(max_iter, "max_iter")
    if samples.size == 0:
        raise ValueError(f"samples must hold M >= 1 samples of N >= 2 spins, got {samples.shape}")
    s = torch.as_tensor(samples.reshape(len(samples), -1), dtype=torch.float64, device="cpu")
    n = s.shape[1]
    if n < 2:
        raise ValueError(f"samples must have shape (M, N) with M >= 1, N >= 2, got {s.shape}")
    A = torch.zeros(n, n, dtype=torch.float64, device="cpu", requires_grad=True)
    h = torch.zeros(n, dtype=torch.float64, device="cpu", requires_grad=True)
    off_diagonal = 1.0 - torch.eye(n, dtype=torch.float64, device="cpu")
    optimizer = torch.optim.LBFGS(
        [A, h], max_iter=max_iter, tolerance_grad=1e-10, line_search_fn="strong_wolfe"
    )

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        J = (A + A.T) / 2 * off_diagonal
        fields = s @ J + h
        value = -torch.nn.functional.logsigmoid(2 * s * fields).sum(1).mean() + l2 * (J**2).sum()
        value.backward()
        return value

    optimizer.step(loss)
    with torch.no_grad():
        J = ((A + A.T) / 2 * off_diagonal).numpy()
    return J, h.detach().numpy()


def pseudolikelihood_covariance(J: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Asymptotic covariance, times the number of samples M, of the pseudo-likelihood couplings
    J_ij (i < j, row-major upper triangle) for data from p(s) ~ exp(s^T J s / 2 + h . s): the
    sandwich H^-1 V H^-1, with H the mean Hessian and V the covariance of the per-sample gradient
    of the negative log-pseudo-likelihood (Varin, Reid, Firth 2011). Exact expectations by
    enumerating all 2^N states (N <= 20)."""
    J, h = _model(J, h)
    n = len(h)
    if n < 2:
        raise ValueError(f"J and h must describe N >= 2 spins (couplings come in pairs), got {n}")
    a, b = np.triu_indices(n, 1)
    s, p = _boltzmann(J, h)  # (2^N, N), (2^N,)
    # loss = -sum_i log sigmoid(2 s_i f_i), f_i = h_i + sum_j J_ij s_j,
    # df_i/dJ_ab = delta_ia s_b + delta_ib s_a
    x = 2 * s * (s @ J + h)
    g = -2 * s / (1 + np.exp(x))  # d loss / d f_i
    w = 4 / ((1 + np.exp(x)) * (1 + np.exp(-x)))  # d^2 loss / d f_i^2
    D = np.zeros((len(s), n, n + len(a)))  # df_i / d(h, J_ab)
    D[:, np.arange(n), np.arange(n)] = 1
    D[:, a, n + np.arange(len(a))] = s[:, b]
    D[:, b, n + np.arange(len(a))] = s[:, a]
    grads = np.einsum("si,sip->sp", g, D)
    V = grads.T @ (p[:, None] * grads)
    H = np.einsum("s,si,sip,siq->pq", p, w, D, D)
    H_inv = np.linalg.inv(H)
    return (H_inv @ V @ H_inv)[n:, n:]


def pseudolikelihood_rms_error(
    J: np.ndarray, h: np.ndarray, n_samples: int | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted RMS coupling error of pseudo-likelihood from M = `n_samples` samples, and the
    standard deviation of that RMS over data sets, from the asymptotic Gaussian law of the
    estimator: MSE = tr(S) / (K M), sd(MSE) = sqrt(2 tr(S^2)) / (K M), S the sandwich
    covariance of its K couplings; sd(RMS) = sd(MSE) / (2 RMS)."""
    M = check_finite(np.asarray(n_samples, dtype=float), "n_samples")
    if np.any(M < 1):
        raise ValueError("n_samples must be >= 1")
    S = pseudolikelihood_covariance(J, h)
    K = len(S)
    mse = np.trace(S) / (K * M)
    mse_sd = np.sqrt(2 * np.trace(S @ S)) / (K * M)
    return np.sqrt(mse), mse_sd / (2 * np.sqrt(mse))


def mean_field_couplings(samples: np.ndarray) -> np.ndarray:
    """Naive mean-field inversion J = -(C^-1) off the diagonal, C the connected correlation matrix.
    From m_i = tanh(h_i + sum_j J_ij m_j) and C_ik = dm_i/dh_k: C^-1 = diag(1/(1 - m^2)) - J.
    Exact to first order in J; biased when couplings are strong."""
    s = as_spins(samples, "samples", min_ndim=2, shape_hint="(M, N)").astype(float)
    if s.ndim != 2 or len(s) < 2 or s.shape[1] < 2:
        raise ValueError(f"samples must have shape (M, N) with M, N >= 2, got {s.shape}")
    C = np.cov(s, rowvar=False)
    if np.linalg.matrix_rank(C) < len(C):
        raise ValueError("samples: their correlation matrix is singular (a spin never changes?)")
    J = -np.linalg.inv(C)
    np.fill_diagonal(J, 0.0)
    return J


def capacity_curve(
    n_neurons: int,
    loads: np.ndarray,
    rule: str = "hebbian",
    n_probes: int = 20,
    *,
    generator: rng.NumpySeed = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``retrieval_overlaps`` at each load and its standard error over the probes,
    with a progress bar."""
    loads = check_finite(np.asarray(loads, dtype=float), "loads")
    if loads.ndim != 1 or len(loads) == 0 or np.any(loads <= 0):
        raise ValueError(f"loads must be a non-empty 1D array of positive loads, got {loads}")
    _rule(rule)
    generator = rng.numpy_generator(generator)
    runs = [
        retrieval_overlaps(n_neurons, a, rule, n_probes, generator=generator)
        for a in progress(loads, desc=rule)
    ]
    mean = np.array([r.mean() for r in runs])
    error = np.array([r.std(ddof=1) / np.sqrt(len(r)) if len(r) > 1 else 0.0 for r in runs])
    return mean, error
