"""A generative model as a variational free energy: autoregressive networks for the Ising model.

For a trial distribution q over spin configurations s in {-1, +1}^N, the variational free energy
    F_q = E_q[E(s) + T log q(s)] = F + T KL(q || p),   p(s) = exp(-E(s)/T) / Z,
is an upper bound on the exact F = -T log Z (Gibbs-Bogoliubov; ``ising.mean_field_free_energy``
is the product-state case). Wu, Wang & Zhang, Phys. Rev. Lett. 122, 080602 (2019) take q
autoregressive, q(s) = prod_i q(s_i | s_<i): it is normalized, its log q(s) is exact and it is
sampled exactly, spin by spin, so F_q is estimated from samples of q itself and minimized by
gradient descent (REINFORCE). Lattice: L x L, periodic, J = 1, h = 0, k_B = 1,
E(s) = -sum_<ij> s_i s_j; spin i of a flat configuration sits at row i // L, column i % L.
Free energies are per site (F / N) throughout, to compare across L and with Onsager.

Contents
    exact results   ``kaufman_log_z`` (finite periodic lattice, any L >= 2),
                    ``exact_free_energy_per_site``, ``enumerated_log_z`` (L <= 4, the check)
    model           ``MaskedLinear``, ``AutoregressiveSpins`` (MADE: ``log_prob``, ``sample``)
    free energy     ``spin_energy``, ``variational_free_energy`` (sampled, with its error),
                    ``enumerated_free_energy`` (exact sum over states, N <= 16),
                    ``reinforce_loss``, ``train_variational``

References
    B. Kaufman, Phys. Rev. 76, 1232 (1949) -- Z of the finite periodic lattice.
    P. D. Beale, Phys. Rev. Lett. 76, 78 (1996) -- the sign of gamma_0 in Kaufman's formula.
    M. Germain, K. Gregor, I. Murray & H. Larochelle, ICML (2015) -- MADE, masked autoencoders.
    D. Wu, L. Wang & P. Zhang, Phys. Rev. Lett. 122, 080602 (2019) -- variational
    autoregressive networks, REINFORCE with a baseline, beta annealing, Z2 symmetrization.
    R. J. Williams, Machine Learning 8, 229 (1992) -- REINFORCE.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import ising, rng
from .checks import check_count, check_temperatures
from .optim import minimize
from .stats import mean_and_error

__all__ = [
    "kaufman_log_z", "exact_free_energy_per_site", "enumerated_log_z", "MaskedLinear",
    "AutoregressiveSpins", "spin_energy", "variational_free_energy", "enumerated_free_energy",
    "reinforce_loss", "train_variational",
]


# --------------------------------------------------------------------------- exact results
def _log_2cosh(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    return a + np.log1p(np.exp(-2 * a))


def _log_abs_2sinh(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    with np.errstate(divide="ignore"):  # sinh(0) = 0 at T_c: log 0 = -inf is the right answer
        return a + np.log(-np.expm1(-2 * a))


def kaufman_log_z(L: int, T: float | np.ndarray) -> np.ndarray:
    """log Z of the periodic L x L lattice, exactly (Kaufman 1949, Beale 1996 eqs. 2-4):

    Z = 1/2 (2 sinh 2K)^(L^2/2) [Z_1 + Z_2 + Z_3 + Z_4],  K = 1/T,
    Z_1, Z_2 = prod_{r=0}^{L-1} 2 cosh, 2 sinh (L gamma_{2r+1} / 2)  (odd gammas),
    Z_3, Z_4 = prod_{r=0}^{L-1} 2 cosh, 2 sinh (L gamma_{2r} / 2)    (even gammas),
    cosh gamma_k = cosh(2K) coth(2K) - cos(pi k / L), gamma_k > 0 for k >= 1, and
    gamma_0 = 2K + ln tanh K, which is negative above T_c: Z_4 < 0 there. Computed in logs.
    """
    L = check_count(L, "L", minimum=2)
    K = 1.0 / check_temperatures(T)
    k = np.arange(2 * L)
    s2 = np.sinh(2 * K)[..., None]
    # cosh gamma_k - 1 without cancellation: (1 - sinh 2K)^2 / sinh 2K + 2 sin^2(pi k / 2L)
    x = (1 - s2) ** 2 / s2 + 2 * np.sin(np.pi * k / (2 * L)) ** 2
    gamma = np.log1p(x + np.sqrt(x * (x + 2)))  # arccosh(1 + x)
    gamma[..., 0] = 2 * K + np.log(np.tanh(K))  # signed (Beale): the k = 0 root changes sign
    half = L * gamma / 2
    odd, even = half[..., 1::2], half[..., 0::2]
    logs = np.stack([
        _log_2cosh(odd).sum(-1), _log_abs_2sinh(odd).sum(-1),
        _log_2cosh(even).sum(-1), _log_abs_2sinh(even).sum(-1),
    ])
    signs = np.stack([np.ones_like(K), np.ones_like(K), np.ones_like(K),
                      np.prod(np.sign(even), axis=-1)])
    top = logs.max(axis=0)
    log_sum = top + np.log((signs * np.exp(logs - top)).sum(axis=0))
    log_2sinh = 2 * K + np.log(-np.expm1(-4 * K))  # log(2 sinh 2K), stable at large K
    return -math.log(2) + L * L / 2 * log_2sinh + log_sum


def exact_free_energy_per_site(L: int, T: float | np.ndarray) -> np.ndarray:
    """f = -T log Z / L^2 of the periodic L x L lattice, from ``kaufman_log_z``."""
    T = check_temperatures(T)
    return -T * kaufman_log_z(L, T) / L**2


def _levels(L: int) -> tuple[np.ndarray, np.ndarray]:
    """Total energies of the periodic L x L lattice and their degeneracies, by enumeration."""
    if not 2 <= check_count(L, "L") <= 4:
        raise ValueError(f"enumeration needs 2 <= L <= 4, got {L!r}")
    configurations = ising.all_configurations(L * L).reshape(-1, L, L)
    energies = np.rint(L * L * ising.lattice_energy(configurations)).astype(int)
    return np.unique(energies, return_counts=True)


def enumerated_log_z(L: int, T: float | np.ndarray) -> np.ndarray:
    """log Z = log sum_s exp(-E(s)/T) over all 2^(L^2) states (2 <= L <= 4): the brute-force check
    of ``kaufman_log_z``, summed level by level with the degeneracies."""
    levels, degeneracy = _levels(L)
    T = check_temperatures(T)
    exponent = -levels / T[..., None]
    top = exponent.max(axis=-1, keepdims=True)
    return top[..., 0] + np.log((degeneracy * np.exp(exponent - top)).sum(axis=-1))


# --------------------------------------------------------------------------- the model
class MaskedLinear(nn.Linear):
    """``nn.Linear`` whose weight is multiplied by a fixed 0/1 ``mask`` of shape (out, in):
    output unit j sees input unit k only where mask[j, k] (Germain et al. 2015, eq. 10)."""

    def __init__(self, mask: torch.Tensor, bias: bool = True) -> None:
        if not torch.is_tensor(mask) or mask.ndim != 2 or mask.dtype != torch.bool:
            raise TypeError("mask must be a 2D boolean tensor of shape (out_features, in_features)")
        super().__init__(mask.shape[1], mask.shape[0], bias=bias, device=mask.device)
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class AutoregressiveSpins(nn.Module):
    """q(s) = prod_i q(s_i | s_<i) over n_spins spins of +-1: a MADE network (Germain et al. 2015)
    gives logits l_i(s_<i), and q(s_i = +1 | s_<i) = sigmoid(l_i), so log q(s) = sum_i
    log sigmoid(s_i l_i). Degrees: input k and output i have degree k + 1 and i + 1, hidden units
    cycle through 1..N-1; a weight joins a unit to one of equal or higher degree (strictly higher
    into the outputs), plus a direct, strictly lower-triangular input -> output layer (``depth=0``
    leaves only it: Wu et al.'s one-layer network). ``z2=True`` symmetrizes,
    q_sym(s) = [q(s) + q(-s)] / 2 (Wu et al. 2019), for the two ordered states below T_c.
    The weights are drawn from ``generator`` (None: torch's default stream, as for nn.Linear).

    Example:
        >>> model = AutoregressiveSpins(9, hidden=16, depth=1, generator=0)
        >>> spins, log_q = model.sample(4, generator=0, return_log_prob=True)
        >>> spins.shape, bool(torch.allclose(log_q, model.log_prob(spins)))
        (torch.Size([4, 9]), True)
    """

    def __init__(
        self, n_spins: int, hidden: int = 64, depth: int = 1, *, z2: bool = False,
        generator: rng.Seed = None,
    ) -> None:
        super().__init__()
        self.n_spins = n = check_count(n_spins, "n_spins", minimum=2)
        hidden, depth = check_count(hidden, "hidden"), check_count(depth, "depth", minimum=0)
        if not isinstance(z2, bool):
            raise TypeError(f"z2 must be True or False, got {type(z2).__name__}")
        self.z2 = z2

        def made() -> nn.ModuleDict:
            inputs = torch.arange(1, n + 1)
            units = torch.arange(hidden) % (n - 1) + 1
            degrees = [inputs] + [units] * depth
            pairs = zip(degrees[:-1], degrees[1:], strict=True)
            layers = [MaskedLinear(b[:, None] >= a[None, :]) for a, b in pairs]
            out = MaskedLinear(inputs[:, None] > degrees[-1][None, :])
            direct = MaskedLinear(inputs[:, None] > inputs[None, :], bias=False)
            return nn.ModuleDict({"hidden": nn.ModuleList(layers), "out": out, "direct": direct})

        self.net = rng.build(made, rng.torch_generator(generator))

    def _check(self, spins: torch.Tensor) -> torch.Tensor:
        like = self.net.out.weight
        if not torch.is_tensor(spins):
            raise TypeError(f"spins must be a torch.Tensor, got {type(spins).__name__}")
        if spins.ndim != 2 or spins.shape[1] != self.n_spins or len(spins) == 0:
            raise ValueError(
                f"spins must have shape (batch, {self.n_spins}), got {tuple(spins.shape)}"
            )
        if spins.device != like.device:
            raise TypeError(f"spins are on {spins.device} but the model is on {like.device}")
        if spins.device.type != "meta" and not bool((spins.abs() == 1).all()):
            raise ValueError("spins must contain only +1 and -1")
        return spins.to(like.dtype)

    def forward(self, spins: torch.Tensor) -> torch.Tensor:
        """Logits l_i, shape (batch, n_spins): l_i depends on spins[:, :i] only."""
        h = spins
        for layer in self.net.hidden:
            h = F.silu(layer(h))
        return self.net.out(h) + self.net.direct(spins)

    def _log_prob_ordered(self, spins: torch.Tensor) -> torch.Tensor:
        return F.logsigmoid(spins * self(spins)).sum(-1)

    def log_prob(self, spins: torch.Tensor) -> torch.Tensor:
        """Exact log q(s) of each row of ``spins`` (batch, n_spins), entries +-1."""
        spins = self._check(spins)
        log_q = self._log_prob_ordered(spins)
        if self.z2:
            log_q = torch.logaddexp(log_q, self._log_prob_ordered(-spins)) - math.log(2.0)
        return log_q

    @torch.no_grad()
    def sample(
        self, n: int, *, generator: rng.Seed = None, return_log_prob: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """n exact draws, shape (n, n_spins), by ancestral sampling: spin i from
        q(s_i | s_<i), one network pass per spin (the last pass gives every conditional, hence
        log q for free). With ``z2``, each draw is flipped with probability 1/2. Uniform numbers
        come from ``generator``; ``return_log_prob=True`` also returns log q of the draws."""
        n, generator = check_count(n, "n"), rng.torch_generator(generator)
        like = self.net.out.weight
        uniform = rng.rand((n, self.n_spins), like, generator)
        spins = torch.zeros((n, self.n_spins), dtype=like.dtype, device=like.device)
        for i in range(self.n_spins):  # N passes: spin i needs the spins before it
            logits = self(spins)
            spins[:, i] = torch.where(uniform[:, i] < torch.sigmoid(logits[:, i]), 1.0, -1.0)
        log_q = F.logsigmoid(spins * logits).sum(-1)
        if self.z2:  # q_sym(s) = q_sym(-s): one more pass gives q(-s), flipped or not
            log_q = torch.logaddexp(log_q, self._log_prob_ordered(-spins)) - math.log(2.0)
            flip = rng.rand((n, 1), like, generator) < 0.5
            spins = torch.where(flip, -spins, spins)
        return (spins, log_q) if return_log_prob else spins


# --------------------------------------------------------------------------- free energy
def _side(n_spins: int) -> int:
    L = math.isqrt(n_spins)
    if L * L != n_spins or L < 2:
        raise ValueError(f"n_spins must be L^2 with L >= 2 for an L x L lattice, got {n_spins}")
    return L


def _check_model(model: object) -> AutoregressiveSpins:
    if not isinstance(model, AutoregressiveSpins):
        raise TypeError(f"model must be an AutoregressiveSpins, got {type(model).__name__}")
    _side(model.n_spins)
    return model


def spin_energy(spins: torch.Tensor) -> torch.Tensor:
    """Total energy E(s) = -sum_<ij> s_i s_j of flat periodic L x L lattices, shape (batch, L^2)
    -> (batch,): ``ising.lattice_energy`` (per site, numpy) times L^2, in torch on the spins'
    device."""
    if not torch.is_tensor(spins) or spins.ndim != 2:
        raise TypeError("spins must be a torch.Tensor of shape (batch, L^2)")
    L = _side(spins.shape[1])
    s = spins.reshape(-1, L, L)
    return -(s * (s.roll(1, -1) + s.roll(1, -2))).sum((-2, -1))


@torch.no_grad()
def variational_free_energy(
    model: AutoregressiveSpins, T: float, n_samples: int = 1000, *, generator: rng.Seed = None
) -> tuple[float, float]:
    """F_q / N = E_q[E + T log q] / N estimated from ``n_samples`` exact draws of q, with its
    standard error. It is an upper bound on the exact f = F / N in expectation
    (F_q = F + T KL(q || p))."""
    model, T = _check_model(model), float(check_temperatures(T, ndim=0))
    n_samples = check_count(n_samples, "n_samples", minimum=2)
    spins, log_q = model.sample(n_samples, generator=generator, return_log_prob=True)
    values = (spin_energy(spins) + T * log_q) / model.n_spins
    mean, error = mean_and_error(values.cpu().double().numpy())
    return float(mean), float(error)


def enumerated_free_energy(model: AutoregressiveSpins, T: float) -> torch.Tensor:
    """F_q / N = sum_s q(s) [E(s) + T log q(s)] / N, exactly, over all 2^N states (N <= 16);
    differentiable, so autograd gives the exact gradient that REINFORCE estimates."""
    model, T = _check_model(model), float(check_temperatures(T, ndim=0))
    if model.n_spins > 16:
        raise ValueError(f"model has {model.n_spins} spins: enumeration needs n_spins <= 16")
    like = model.net.out.weight
    spins = torch.as_tensor(ising.all_configurations(model.n_spins), device=like.device)
    log_q = model.log_prob(spins)
    return (log_q.exp() * (spin_energy(spins.to(like.dtype)) + T * log_q)).sum() / model.n_spins


def reinforce_loss(
    model: AutoregressiveSpins, spins: torch.Tensor, T: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """A surrogate loss whose gradient is the REINFORCE estimate (Williams 1992) of grad F_q / N,
    and the values (E + T log q) / N of the samples ``spins`` (drawn from q).

    grad F_q = E_q[(E + T log q - b) grad log q]: the term T E_q[grad log q] vanishes because q is
    normalized, and so does any constant b. Wu et al. take b = the batch mean, which biases the
    estimate by a factor (n-1)/n; here b_k = the mean over the *other* n-1 samples
    (leave-one-out), which is independent of sample k, so the estimate is exactly unbiased.
    (f_k - b_k = n/(n-1) (f_k - mean f): the batch-mean baseline, rescaled.)"""
    model, T = _check_model(model), float(check_temperatures(T, ndim=0))
    log_q = model.log_prob(spins)
    if len(spins) < 2:
        raise ValueError(f"spins must hold at least 2 samples for the baseline, got {len(spins)}")
    with torch.no_grad():
        values = (spin_energy(spins.to(log_q.dtype)) + T * log_q) / model.n_spins
        n = len(values)
        advantage = (values - values.mean()) * (n / (n - 1))  # f_k - leave-one-out mean
    return (advantage * log_q).mean(), values


def train_variational(
    model: AutoregressiveSpins,
    T: float,
    n_steps: int = 500,
    batch_size: int = 256,
    lr: float = 1e-2,
    anneal_steps: int = 0,
    clip: float | None = 1.0,
    time_budget: float | None = None,
    *,
    generator: rng.Seed = 0,
    show_progress: bool = True,
) -> list[float]:
    """Minimize F_q (Wu et al. 2019) with the course's Adam loop ``optim.minimize``: each step
    draws ``batch_size`` samples of q from ``generator`` and follows ``reinforce_loss``.

    With ``anneal_steps`` > 0, beta = 1/T rises linearly from beta/anneal_steps to its final value
    over the first ``anneal_steps`` steps (Wu et al. anneal beta to avoid mode collapse at low T);
    the gradient is that of beta F_q, whose scale does not grow as T falls. Returns the sampled
    F_q / N of every step, at the temperature of that step. Measured on one CPU thread: L = 8,
    hidden 64, depth 1, z2, 600 steps with anneal_steps=200 take ~7 s; at T = 1.5 (generator=1)
    the gap F_q / N - f to Kaufman's f was 5.8e-4 +- 0.6e-4 (lecture 08, Exercise 1)."""
    model, T = _check_model(model), float(check_temperatures(T, ndim=0))
    n_steps = check_count(n_steps, "n_steps")
    batch_size = check_count(batch_size, "batch_size", minimum=2)
    anneal_steps = check_count(anneal_steps, "anneal_steps", minimum=0)
    generator = rng.torch_generator(generator)

    def loss(step: int) -> torch.Tensor:
        T_step = T * max(1.0, anneal_steps / step)
        spins = model.sample(batch_size, generator=generator)
        surrogate, values = reinforce_loss(model, spins, T_step)
        # the value is the sampled F_q / N, the gradient that of beta F_q / N
        return (surrogate - surrogate.detach()) / T_step + values.mean()

    return minimize(
        loss, model.parameters(), n_steps, lr=lr, clip=clip, time_budget=time_budget,
        desc="variational", show_progress=show_progress,
    )
