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

from .checks import as_spins
from .notebook import progress

# --------------------------------------------------------------------------- checks


def _patterns(patterns: np.ndarray) -> np.ndarray:
    patterns = as_spins(patterns, "patterns", min_ndim=2, shape_hint="(P, N)")
    if patterns.ndim != 2:
        raise ValueError(f"patterns must have shape (P, N), got shape {patterns.shape}")
    return patterns.astype(np.float64)


def _states(W: np.ndarray, states: np.ndarray) -> np.ndarray:
    W, states = np.asarray(W), as_spins(states, "states")
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"W must be a square matrix, got shape {W.shape}")
    if states.shape[-1] != W.shape[0]:
        raise ValueError(f"states of shape {states.shape} do not match W of shape {W.shape}")
    return states


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
    W: np.ndarray, states: np.ndarray, rng: np.random.Generator, neurons: np.ndarray | None = None
) -> np.ndarray:
    """One asynchronous sweep: neurons updated one at a time, s_i <- sign(h_i), in a random order
    (or only the given `neurons`, in the given order). A zero field keeps s_i (the sign rule), so
    every flip strictly lowers the energy; Metropolis at T = 0 would flip on a tie.

    Vectorized over a batch of states (B, N); local fields are kept up to date incrementally, so a
    sweep costs O(B N^2). Each single update changes the energy by -(s_i' - s_i) h_i <= 0.
    """
    s = np.array(_states(W, states), dtype=np.int8, ndmin=2)
    fields = s @ W
    order = rng.permutation(W.shape[0]) if neurons is None else np.asarray(neurons)
    for i in order:
        h = fields[:, i]
        new = np.where(h > 0, 1, np.where(h < 0, -1, s[:, i])).astype(np.int8)
        changed = np.nonzero(new != s[:, i])[0]
        if changed.size:
            fields[changed] += 2 * new[changed, None] * W[i]
            s[changed, i] = new[changed]
    return s.reshape(np.shape(states))


def recall(
    W: np.ndarray, cues: np.ndarray, rng: np.random.Generator, max_sweeps: int = 100
) -> tuple[np.ndarray, int]:
    """Asynchronous sweeps from the cues until no neuron changes (a local energy minimum).
    Returns the final states and the number of sweeps taken."""
    s = np.asarray(cues)
    for sweep in range(1, max_sweeps + 1):
        new = asynchronous_sweep(W, s, rng)
        if np.array_equal(new, s):
            return new, sweep
        s = new
    return s, max_sweeps


# --------------------------------------------------------------------------- measurements


def overlap(states: np.ndarray, patterns: np.ndarray) -> np.ndarray:
    """m_mu = (1/N) xi^mu . s, for states (..., N) and patterns (P, N) -> (..., P)."""
    x = _patterns(patterns)
    return np.asarray(states, dtype=np.float64) @ x.T / x.shape[1]


def corrupt(patterns: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Flip a random `fraction` of the entries of each pattern (exactly round(fraction N))."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    x = np.array(patterns, dtype=np.int8, ndmin=2)
    n_flip = int(round(fraction * x.shape[1]))
    order = np.argsort(rng.random(x.shape), axis=1)[:, :n_flip]
    np.put_along_axis(x, order, -np.take_along_axis(x, order, axis=1), axis=1)
    return x.reshape(np.shape(patterns))


def mixture_state(patterns: np.ndarray, indices: list[int]) -> np.ndarray:
    """Symmetric mixture sign(xi^a + xi^b + xi^c + ...) of an odd number of patterns: a spurious
    attractor, with energy -3/8 per neuron for three patterns (Amit, Gutfreund, Sompolinsky
    1985)."""
    if len(indices) % 2 == 0:
        raise ValueError("use an odd number of patterns so the sign is never zero")
    return np.sign(_patterns(patterns)[list(indices)].sum(axis=0)).astype(np.int8)


def retrieval_overlaps(
    n_neurons: int, load: float, rng: np.random.Generator, rule: str = "hebbian", n_probes: int = 20
) -> np.ndarray:
    """Overlap of each probe with its stored pattern after recall started *at* that pattern, for
    P = round(load N) random patterns (one network): the quantity of the Amit-Gutfreund-Sompolinsky
    theory. Returns min(n_probes, P) overlaps."""
    n_patterns = max(1, int(round(load * n_neurons)))
    patterns = rng.choice(np.array([-1, 1], dtype=np.int8), size=(n_patterns, n_neurons))
    W = {"hebbian": hebbian, "storkey": storkey, "projection": projection}[rule](patterns)
    probes = patterns[: min(n_probes, n_patterns)]
    final, _ = recall(W, probes, rng)
    return np.sum(final * probes, axis=1) / n_neurons


def retrieval_overlap(
    n_neurons: int, load: float, rng: np.random.Generator, rule: str = "hebbian", n_probes: int = 20
) -> float:
    """Mean of ``retrieval_overlaps``."""
    return float(np.mean(retrieval_overlaps(n_neurons, load, rng, rule, n_probes)))


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
    alpha = np.asarray(alpha, dtype=float)
    y_peak, alpha_c = _ags_peak()
    lo, hi = np.full_like(alpha, y_peak), np.full_like(alpha, 60.0)
    for _ in range(200):  # _ags_load decreases on y > y_peak
        mid = (lo + hi) / 2
        too_loaded = _ags_load(mid) > alpha
        lo, hi = np.where(too_loaded, mid, lo), np.where(too_loaded, hi, mid)
    retrieval = (alpha <= alpha_c) & (alpha > 0)
    return np.where(retrieval, erf((lo + hi) / 2), np.where(alpha <= 0, 1.0, 0.0))


# ---------------------------------------------------------------------- modern Hopfield networks


def modern_energy(patterns: torch.Tensor, xi: torch.Tensor, beta: float) -> torch.Tensor:
    """E(xi) = -(1/beta) log sum_mu exp(beta x_mu . xi) + xi . xi / 2 (+ constants),
    Ramsauer et al. (2021) eq. (2). `patterns` has shape (P, N); `xi` has shape (N,) or (B, N)."""
    scores = beta * xi @ patterns.T
    return -torch.logsumexp(scores, dim=-1) / beta + 0.5 * (xi * xi).sum(-1)


def modern_update(patterns: torch.Tensor, xi: torch.Tensor, beta: float) -> torch.Tensor:
    """One update xi <- X^T softmax(beta X xi): attention with query xi and keys = values =
    the stored patterns X (P, N) (Ramsauer et al. 2021, eq. (3)). It never raises
    `modern_energy`."""
    if patterns.ndim != 2 or xi.shape[-1] != patterns.shape[1]:
        shapes = f"xi of shape {tuple(xi.shape)}, patterns of shape {tuple(patterns.shape)}"
        raise ValueError(f"{shapes}: xi does not match the patterns")
    return torch.softmax(beta * xi @ patterns.T, dim=-1) @ patterns


# --------------------------------------------------------------------------- inverse problem


def boltzmann_samples(
    J: np.ndarray, h: np.ndarray, n_samples: int, rng: np.random.Generator
) -> np.ndarray:
    """Exact samples of p(s) ~ exp(s^T J s / 2 + h . s) by enumerating all 2^N states (N <= 20)."""
    from .ising import all_configurations

    J, h = np.asarray(J, float), np.asarray(h, float)
    states = all_configurations(len(h)).astype(float)
    log_w = 0.5 * np.einsum("si,ij,sj->s", states, J, states) + states @ h
    p = np.exp(log_w - log_w.max())
    p /= p.sum()
    return states[rng.choice(len(states), size=n_samples, p=p)].astype(np.int8)


def pseudolikelihood_couplings(
    samples: np.ndarray, l2: float = 1e-4, max_iter: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """Couplings J (symmetric, zero diagonal) and fields h maximizing the pseudo-likelihood
    sum_samples sum_i log p(s_i | s_rest),  p(s_i | s_rest) = sigmoid(2 s_i (h_i + sum_j J_ij s_j)),
    with a small L2 penalty (Besag 1975; Aurell & Ekeberg 2012). Convex; solved with L-BFGS."""
    samples = as_spins(samples, "samples", min_ndim=2, shape_hint="(M, N)")
    s = torch.as_tensor(samples.reshape(len(samples), -1), dtype=torch.float64)
    n = s.shape[1]
    A = torch.zeros(n, n, dtype=torch.float64, requires_grad=True)
    h = torch.zeros(n, dtype=torch.float64, requires_grad=True)
    off_diagonal = 1.0 - torch.eye(n, dtype=torch.float64)
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
    from .ising import all_configurations

    J, h = np.asarray(J, float), np.asarray(h, float)
    n = len(h)
    a, b = np.triu_indices(n, 1)
    s = all_configurations(n).astype(float)  # (2^N, N)
    log_w = 0.5 * np.einsum("si,ij,sj->s", s, J, s) + s @ h
    p = np.exp(log_w - log_w.max())
    p /= p.sum()
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
    S = pseudolikelihood_covariance(J, h)
    M, K = np.asarray(n_samples, dtype=float), len(S)
    mse = np.trace(S) / (K * M)
    mse_sd = np.sqrt(2 * np.trace(S @ S)) / (K * M)
    return np.sqrt(mse), mse_sd / (2 * np.sqrt(mse))


def mean_field_couplings(samples: np.ndarray) -> np.ndarray:
    """Naive mean-field inversion J = -(C^-1) off the diagonal, C the connected correlation matrix.
    From m_i = tanh(h_i + sum_j J_ij m_j) and C_ik = dm_i/dh_k: C^-1 = diag(1/(1 - m^2)) - J.
    Exact to first order in J; biased when couplings are strong."""
    s = np.asarray(samples, dtype=float)
    C = np.cov(s, rowvar=False)
    J = -np.linalg.inv(C)
    np.fill_diagonal(J, 0.0)
    return J


def capacity_curve(
    n_neurons: int, loads: np.ndarray, rng: np.random.Generator, rule: str = "hebbian",
    n_probes: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``retrieval_overlaps`` at each load and its standard error over the probes,
    with a progress bar."""
    loads = progress(loads, desc=rule)
    runs = [retrieval_overlaps(n_neurons, a, rng, rule, n_probes) for a in loads]
    mean = np.array([r.mean() for r in runs])
    error = np.array([r.std(ddof=1) / np.sqrt(len(r)) if len(r) > 1 else 0.0 for r in runs])
    return mean, error
