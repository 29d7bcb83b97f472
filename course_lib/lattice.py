"""A normalizing flow as a sampler: two-dimensional lattice phi^4 theory, after M. S. Albergo,
G. Kanwar and P. E. Shanahan, "Flow-based generative models for Markov chain Monte Carlo in lattice
field theory", Phys. Rev. D 100, 034515 (2019).

The target is known only up to its normalization, p(phi) = exp(-S(phi)) / Z, and there are no
data. A flow q_theta is trained by minimizing the reverse Kullback-Leibler divergence
    KL(q || p) = E_q[log q + S] + log Z = F_q - F,
the variational free energy again (F = -log Z); F_q >= F is an upper bound (the training
objective of Albergo et al.). Its samples are then made exact either by importance weights
w = exp(-S) / q or by an independent Metropolis-Hastings chain whose proposals are the flow's
samples.

Action (hopping form, the two-dimensional version of ``flows.phi4_action``), on an L x L lattice
with periodic boundaries and N = L^2 sites:
    S(phi) = sum_x [-2 kappa sum_{mu=1,2} phi_x phi_{x+mu} + phi_x^2 + lam (phi_x^2 - 1)^2].
At lam = 0 it is Gaussian, S = 1/2 phi^T M phi with M = 2 (1 - kappa A) (A the adjacency matrix),
diagonal in the lattice Fourier modes k = 2 pi n / L:
    m_k = 2 [1 - 2 kappa (cos k_1 + cos k_2)],
positive for all k iff |kappa| < 1/4 (L even). Then log Z = N/2 log 2 pi - 1/2 sum_k log m_k and
<phi_0 phi_x> = (M^-1)_{0x} = 1/N sum_k e^{ik.x} / m_k exactly: the anchors of this module.

For lam > 0 and kappa large the Z2 symmetry phi -> -phi is broken: the mean field
M = 1/N sum_x phi_x sits near one of two values +-m. Reverse KL is mode seeking, so a flow trained
with it picks one sign; ``Z2Symmetrized`` averages q(phi) and q(-phi) and restores both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from . import rng
from .checks import check_count, check_finite, check_points, check_real, check_weights
from .flows import AffineCoupling, Flow
from .optim import minimize
from .sampling import Chains
from .stats import mean_and_error

__all__ = [
    "lattice_action", "Phi4", "magnetization", "free_field_eigenvalues", "free_field_log_z",
    "free_field_propagator", "lattice_mask", "lattice_realnvp", "Z2Symmetrized",
    "train_reverse_kl", "variational_free_energy_estimate", "kish_ess", "ImportanceWeights",
    "importance_weights", "reweighted_mean", "flow_metropolis",
]

Action = Callable[[torch.Tensor], torch.Tensor]

# --------------------------------------------------------------------------- the target


def _check_lattice(phi: object, name: str = "phi") -> torch.Tensor:
    if not torch.is_tensor(phi) or not phi.is_floating_point():
        raise TypeError(f"{name} must be a floating-point torch.Tensor of shape (..., L, L)")
    if phi.ndim < 2 or phi.shape[-1] != phi.shape[-2] or phi.shape[-1] < 2:
        raise ValueError(f"{name} must have shape (..., L, L) with L >= 2, got {tuple(phi.shape)}")
    return phi


def _check_couplings(kappa: object, lam: object) -> tuple[float, float]:
    kappa = check_real(kappa, "kappa")
    lam = check_real(lam, "lam")
    if lam < 0:
        raise ValueError(f"lam must be >= 0 (a quartic coupling), got {lam}")
    return kappa, lam


def lattice_action(phi: torch.Tensor, kappa: float, lam: float) -> torch.Tensor:
    """S(phi) = sum_x [-2 kappa sum_mu phi_x phi_{x+mu} + phi_x^2 + lam (phi_x^2 - 1)^2] of
    periodic L x L lattices, one value per configuration of the batch (..., L, L)
    (the hopping form used by Albergo et al. 2019)."""
    phi = _check_lattice(phi)
    kappa, lam = _check_couplings(kappa, lam)
    hopping = phi * (torch.roll(phi, -1, dims=-1) + torch.roll(phi, -1, dims=-2))
    return (-2 * kappa * hopping + phi**2 + lam * (phi**2 - 1) ** 2).sum((-2, -1))


def magnetization(x: torch.Tensor) -> torch.Tensor:
    """Mean field per site M = 1/N sum_x phi_x of flattened lattices x of shape (..., N)
    (for a batch of lattices (..., L, L), flatten the last two axes first)."""
    if not torch.is_tensor(x) or x.ndim == 0:
        raise TypeError("x must be a torch.Tensor of flattened lattices, shape (..., N)")
    return x.mean(-1)


class Phi4:
    """The phi^4 target on an L x L lattice for the course's samplers and flows, whose points are
    flattened lattices x of shape (batch, L^2): ``action(x)`` = S and ``log_prob(x)`` = -S
    (unnormalized), as the targets of ``sampling``."""

    def __init__(self, L: int, kappa: float, lam: float) -> None:
        self.L = check_count(L, "L", minimum=2)
        self.kappa, self.lam = _check_couplings(kappa, lam)
        self.dim = self.L**2

    def __repr__(self) -> str:
        return f"Phi4(L={self.L}, kappa={self.kappa}, lam={self.lam})"

    def action(self, x: torch.Tensor) -> torch.Tensor:
        """S of each flattened lattice x of shape (batch, L^2)."""
        if not torch.is_tensor(x) or x.ndim != 2 or x.shape[1] != self.dim:
            shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise ValueError(
                f"x must have shape (batch, {self.dim}) (flattened L x L), got {shape}"
            )
        return lattice_action(x.reshape(-1, self.L, self.L), self.kappa, self.lam)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """-S(x): the unnormalized log density."""
        return -self.action(x)


# --------------------------------------------------------------------------- the free field


def free_field_eigenvalues(
    L: int, kappa: float, *, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """The eigenvalues m_k = 2 [1 - 2 kappa (cos k_1 + cos k_2)] of M at lam = 0, on the (L, L)
    grid of momenta k = 2 pi n / L. Raises unless they are all positive (|kappa| < 1/4 for even L):
    beyond, the Gaussian action is unbounded below."""
    L, kappa = check_count(L, "L", minimum=2), check_real(kappa, "kappa")
    cos = torch.cos(2 * math.pi * torch.arange(L, dtype=torch.float64, device="cpu") / L)
    m = 2 * (1 - 2 * kappa * (cos[:, None] + cos[None, :]))
    if not bool((m > 0).all()):
        raise ValueError(
            f"kappa = {kappa} makes M singular or indefinite (smallest eigenvalue "
            f"{m.min().item():.3g}): the free field needs |kappa| < 1/4"
        )
    return m.to(device=device, dtype=dtype)


def free_field_log_z(L: int, kappa: float) -> float:
    """log Z = N/2 log 2 pi - 1/2 log det M at lam = 0, with log det M = sum_k log m_k over the
    lattice momenta (no dense matrix): the exact free energy that flows must reproduce."""
    m = free_field_eigenvalues(L, kappa)
    return float(0.5 * L**2 * math.log(2 * math.pi) - 0.5 * torch.log(m).sum())


def free_field_propagator(
    L: int, kappa: float, *, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """The exact two-point function G(x) = <phi_0 phi_x> = (M^-1)_{0x} at lam = 0, an (L, L)
    tensor indexed by the separation x, as the inverse FFT of 1 / m_k."""
    m = free_field_eigenvalues(L, kappa)
    return torch.fft.ifft2(1 / m).real.to(device=device, dtype=dtype)


# --------------------------------------------------------------------------- the flow


def lattice_mask(L: int, parity: int, *, device: torch.device | str | None = "cpu") -> torch.Tensor:
    """Checkerboard of the L x L lattice, flattened to (L^2,): True on the sites with
    (i + j) % 2 == parity, which condition a coupling; their neighbours are transformed."""
    L = check_count(L, "L", minimum=2)
    if parity not in (0, 1) or isinstance(parity, bool):
        raise ValueError(f"parity must be 0 or 1, got {parity!r}")
    i = torch.arange(L, device=device)
    return ((i[:, None] + i[None, :]) % 2 == parity).reshape(-1)


def lattice_realnvp(
    L: int, n_layers: int = 8, hidden: int = 64, *, generator: rng.Seed = None
) -> Flow:
    """RealNVP on flattened L x L lattices: ``flows.AffineCoupling`` layers whose masks alternate
    between the two checkerboard sublattices (as in Albergo et al. 2019, where the networks
    are convolutional, here small MLPs). Standard-normal prior; every coupling starts as the
    identity, so the untrained flow is the prior."""
    L, n_layers = check_count(L, "L", minimum=2), check_count(n_layers, "n_layers")
    generator = rng.torch_generator(generator)
    layers = [
        AffineCoupling(L * L, lattice_mask(L, k % 2), hidden, generator=generator)
        for k in range(n_layers)
    ]
    return Flow(layers, L * L)


def _check_model(model: object, name: str = "flow", trainable: bool = True) -> nn.Module:
    """``model`` checked to have sample(n, generator=) and log_prob (and parameters to train)."""
    needs = ("sample", "log_prob", "parameters") if trainable else ("sample", "log_prob")
    if not all(callable(getattr(model, m, None)) for m in needs):
        raise TypeError(
            f"{name} must be a model with {', '.join(needs)} (a Flow), got {type(model).__name__}"
        )
    return model


class Z2Symmetrized(nn.Module):
    """q_sym(phi) = [q(phi) + q(-phi)] / 2 for a flow q: invariant under phi -> -phi, as the
    target. log_prob by logaddexp; sampling draws from q and flips the sign with probability 1/2.
    Shares the flow's parameters, so it can be trained (or retrained) by ``train_reverse_kl``."""

    def __init__(self, flow: nn.Module) -> None:
        super().__init__()
        self.flow = _check_model(flow)
        self.dim = getattr(flow, "dim", None)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return torch.logaddexp(self.flow.log_prob(x), self.flow.log_prob(-x)) - math.log(2)

    def sample(self, n: int, *, generator: rng.Seed = None) -> torch.Tensor:
        n, generator = check_count(n, "n"), rng.torch_generator(generator)
        x = self.flow.sample(n, generator=generator)
        sign = 2 * rng.randint(0, 2, (n,), x, generator).to(x.dtype) - 1
        return sign[:, None] * x


def _model_samples(
    model: nn.Module, action: Action, n: int, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n samples x of the model with log q(x) and S(x), each checked to be one finite value per
    sample."""
    x = model.sample(n, generator=generator)
    log_q, s = model.log_prob(x), action(x)
    for value, name in ((log_q, "flow.log_prob"), (s, "action")):
        if not torch.is_tensor(value) or value.shape != (n,):
            shape = tuple(value.shape) if torch.is_tensor(value) else type(value).__name__
            raise ValueError(f"{name} must return one value per sample ({n},), got {shape}")
    return x, log_q, s


def train_reverse_kl(
    flow: nn.Module,
    action: Action,
    n_steps: int = 1000,
    batch_size: int = 256,
    lr: float = 1e-3,
    *,
    generator: rng.Seed = 0,
    time_budget: float | None = None,
    show_progress: bool = True,
) -> list[float]:
    """Minimize the reverse KL, i.e. the variational free energy F_q = E_q[log q(phi) + S(phi)]
    (= KL(q || p) - log Z), estimated on ``batch_size`` fresh samples of the flow per step
    (reparametrized, drawn from ``generator``; no data), with the course's Adam loop
    ``optim.minimize`` and gradients clipped at norm 10 (Albergo et al. 2019). ``action``
    maps the flow's samples (batch, dim) to S. Returns the losses, upper bounds on -log Z."""
    flow = _check_model(flow)
    if not callable(action):
        raise TypeError(f"action must be a function of a batch (batch, dim), got {action!r}")
    n_steps, batch_size = check_count(n_steps, "n_steps"), check_count(batch_size, "batch_size")
    generator = rng.torch_generator(generator)

    def loss(step: int) -> torch.Tensor:
        _, log_q, s = _model_samples(flow, action, batch_size, generator)
        return (log_q + s).mean()

    return minimize(loss, flow.parameters(), n_steps, lr=lr, clip=10.0, time_budget=time_budget,
                    desc="reverse KL", show_progress=show_progress)


@torch.no_grad()
def variational_free_energy_estimate(
    flow: nn.Module, action: Action, n: int = 4096, *, generator: rng.Seed = 0
) -> tuple[float, float]:
    """F_q = E_q[log q + S] on n samples of the flow, and its standard error: an upper bound on
    F = -log Z (Gibbs-Bogoliubov), tight only when q = p."""
    flow, n = _check_model(flow, trainable=False), check_count(n, "n", minimum=2)
    _, log_q, s = _model_samples(flow, action, n, rng.torch_generator(generator))
    mean, error = mean_and_error(check_finite(log_q + s, "log q + S").cpu().double().numpy())
    return float(mean), float(error)


# --------------------------------------------------------------------------- making it exact


def kish_ess(weights: torch.Tensor) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2 of importance weights (any normalization):
    n for equal weights, 1 when one weight carries everything."""
    if not torch.is_tensor(weights) or weights.ndim != 1 or len(weights) == 0:
        raise ValueError("weights must be a non-empty 1-D tensor")
    w = check_weights(weights, "weights")
    w = w / w.max()
    return float(w.sum() ** 2 / (w**2).sum())


@dataclass
class ImportanceWeights:
    """Self-normalized importance weights w_i of samples of q for the target exp(-S) / Z:
    ``weights`` (n,) summing to 1; ``log_z`` = log mean exp(-S - log q), an unbiased estimate of
    Z inside the log, with its delta-method standard error; Kish's ``ess`` and ``ess_per_sample``
    (1 when q = p)."""

    weights: torch.Tensor
    log_z: float
    log_z_error: float
    ess: float
    ess_per_sample: float


def importance_weights(log_q: torch.Tensor, action: torch.Tensor) -> ImportanceWeights:
    """Weights w_i proportional to exp(-S_i) / q_i for samples phi_i of q, given log q(phi_i) and
    S(phi_i) (1-D, one per sample): the reweighting of Albergo et al. 2019, and
    log Z ~ log mean exp(-S - log q) (error: sqrt(var w / n) / mean w)."""
    for value, name in ((log_q, "log_q"), (action, "action")):
        if not torch.is_tensor(value) or value.ndim != 1 or len(value) < 2:
            raise ValueError(f"{name} must be a 1-D tensor with at least 2 samples")
        check_finite(value, name)
    if log_q.shape != action.shape:
        raise ValueError(f"log_q and action must have one shape, got {tuple(log_q.shape)} and "
                         f"{tuple(action.shape)}")
    log_w = (-action - log_q).detach()
    n = len(log_w)
    weights = torch.softmax(log_w, 0)
    ess = kish_ess(weights)
    log_z = float(torch.logsumexp(log_w, 0)) - math.log(n)
    relative = weights * n  # w / mean w
    log_z_error = float(relative.std() / math.sqrt(n))
    return ImportanceWeights(weights, log_z, log_z_error, ess, ess / n)


def reweighted_mean(values: torch.Tensor, weights: torch.Tensor) -> tuple[float, float]:
    """Self-normalized importance estimate sum_i w_i O_i of <O> under the target (weights summing
    to 1, as in ``ImportanceWeights``) and its delta-method error
    sqrt(sum_i w_i^2 (O_i - <O>)^2)."""
    if not torch.is_tensor(values) or values.ndim != 1:
        raise ValueError("values must be a 1-D tensor, one observable value per sample")
    if not torch.is_tensor(weights) or weights.shape != values.shape:
        raise ValueError(f"weights must be a tensor shaped like values {tuple(values.shape)}")
    check_finite(values, "values")
    w = check_weights(weights, "weights")
    w = w / w.sum()
    mean = (w * values).sum()
    return float(mean), float(((w**2) * (values - mean) ** 2).sum().sqrt())


@torch.no_grad()
def flow_metropolis(
    log_prob: Action,
    proposal: nn.Module,
    x0: torch.Tensor,
    *,
    n_steps: int,
    keep_every: int = 1,
    generator: rng.Seed = None,
) -> Chains:
    """Independent Metropolis-Hastings with the flow as proposal (Albergo et al. 2019):
    phi' ~ q, independent of the current phi, accepted with
        min(1, p(phi') q(phi) / (p(phi) q(phi'))) = min(1, w(phi') / w(phi)),  w = p / q.
    Exact for any q that covers p; the acceptance rate measures how close q is to p. All chains
    (rows of x0) run at once, and as the proposals do not depend on the state they are drawn
    together up front. ``log_prob`` is the unnormalized target (-S); returns ``sampling.Chains``."""
    if not callable(log_prob):
        raise TypeError("log_prob must be a function of a batch x of shape (chains, d)")
    proposal = _check_model(proposal, "proposal", trainable=False)
    x0 = check_points(x0, "x0").detach()
    n_steps = check_count(n_steps, "n_steps")
    if check_count(keep_every, "keep_every") > n_steps:
        raise ValueError(f"keep_every = {keep_every} > n_steps = {n_steps} would keep nothing")
    generator = rng.torch_generator(generator)
    n_chains, dim = x0.shape
    y = proposal.sample(n_steps * n_chains, generator=generator)
    if y.shape != (n_steps * n_chains, dim) or y.dtype != x0.dtype or y.device != x0.device:
        raise TypeError(f"x0 ({x0.dtype}, {x0.device}, {dim} columns) must match the proposal's "
                        f"samples ({y.dtype}, {y.device}, {y.shape[-1]} columns)")
    log_w = (log_prob(y) - proposal.log_prob(y)).reshape(n_steps, n_chains)
    y = y.reshape(n_steps, n_chains, dim)
    log_w_x = log_prob(x0) - proposal.log_prob(x0)
    if not bool(torch.isfinite(log_w_x).all()):
        raise ValueError("log_prob(x0) and proposal.log_prob(x0) must be finite")
    log_u = torch.log(rng.rand((n_steps, n_chains), x0, generator))
    x, accepted, kept = x0, torch.zeros_like(x0[:, 0]), []
    for t in range(n_steps):
        accept = log_u[t] < log_w[t] - log_w_x
        x = torch.where(accept[:, None], y[t], x)
        log_w_x = torch.where(accept, log_w[t], log_w_x)
        accepted += accept
        if (t + 1) % keep_every == 0:
            kept.append(x)
    return Chains(torch.stack(kept), accepted / n_steps)
