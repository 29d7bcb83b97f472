"""Sampling from an energy: Metropolis-Hastings, Langevin (ULA, MALA), Hamiltonian Monte Carlo,
parallel tempering, and a small energy-based model trained with short-run Langevin.

Targets are given by their unnormalized log density ``log_prob(x) = -E(x)`` on batches x of
shape (chains, d); every sampler runs all chains at once (torch), and the score grad log p comes
from autograd. Hamiltonian momenta are called ``r``, so that ``p`` always means a density.

References
    N. Metropolis et al., J. Chem. Phys. 21, 1087 (1953); W. K. Hastings, Biometrika 57, 97 (1970).
    G. O. Roberts, R. L. Tweedie, Bernoulli 2, 341 (1996) -- ULA and MALA.
    G. O. Roberts, A. Gelman, W. R. Gilks, Ann. Appl. Probab. 7, 110 (1997) -- optimal acceptance
        0.234 of random-walk Metropolis.
    G. O. Roberts, J. S. Rosenthal, J. R. Stat. Soc. B 60, 255 (1998) -- optimal acceptance 0.574
        of MALA.
    S. Duane et al., Phys. Lett. B 195, 216 (1987); R. M. Neal, "MCMC using Hamiltonian dynamics"
        (2011).
    R. H. Swendsen, J.-S. Wang, PRL 57, 2607 (1986) -- replica exchange (parallel tempering).
    T. Tieleman, ICML (2008) -- persistent contrastive divergence.
    Y. Du, I. Mordatch, NeurIPS (2019) -- EBMs trained with short-run Langevin from a replay buffer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import rng
from .checks import (
    check_count,
    check_finite,
    check_points,
    check_positive,
    check_real,
    check_temperatures,
    check_weights,
)
from .optim import minimize
from .stats import LOG_2PI

__all__ = [
    "Gaussian", "GaussianMixture", "DoubleWell", "Banana", "score", "Chains",
    "random_walk_metropolis", "ula", "mala", "leapfrog", "hamiltonian", "hmc",
    "parallel_tempering", "ula_stationary_variance", "ula_autocorrelation_time",
    "ornstein_uhlenbeck_moments", "EnergyMLP", "train_ebm",
]

LogProb = Callable[[torch.Tensor], torch.Tensor]

# --------------------------------------------------------------------------- targets


def _float64(values: object, name: str) -> torch.Tensor:
    """A finite float64 tensor, on the device of ``values`` if it is a tensor, else on the CPU."""
    device = values.device if torch.is_tensor(values) else "cpu"
    return check_finite(torch.as_tensor(values, dtype=torch.float64, device=device), name)


def _batch(x: torch.Tensor, dim: int) -> torch.Tensor:
    """x checked to be a batch of points (n, dim): shapes only, as log_prob runs at every step."""
    if not torch.is_tensor(x):
        raise TypeError(f"x must be a torch.Tensor of shape (n, {dim}), got {type(x).__name__}")
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"x must have shape (n, {dim}), got {tuple(x.shape)}")
    return x


class Gaussian:
    """N(mean, cov) in d dimensions, with exact ``sample`` and normalized ``log_prob``."""

    def __init__(
        self, mean: list[float] | torch.Tensor, cov: list[list[float]] | torch.Tensor
    ) -> None:
        mean, cov = _float64(mean, "mean"), _float64(cov, "cov")
        if mean.ndim != 1 or cov.shape != (len(mean), len(mean)) or len(mean) == 0:
            raise ValueError(f"mean must have shape (d,) and cov (d, d), got "
                             f"{tuple(mean.shape)} and {tuple(cov.shape)}")
        if not torch.allclose(cov, cov.T) or torch.linalg.cholesky_ex(cov).info != 0:
            raise ValueError("cov must be symmetric positive definite")
        self.dist = torch.distributions.MultivariateNormal(mean, cov)
        self.dim = self.dist.event_shape[0]

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self.dist.log_prob(_batch(x, self.dim))

    def sample(self, n: int, generator: rng.Seed = None) -> torch.Tensor:
        n, generator = check_count(n, "n"), rng.torch_generator(generator)
        z = rng.randn((n, self.dim), self.dist.loc, generator)
        return self.dist.loc + z @ self.dist.scale_tril.T


class GaussianMixture:
    """Mixture of isotropic Gaussians: weights (K,), means (K, d), standard deviations (K,)."""

    def __init__(self, weights: list[float], means: list[list[float]], stds: list[float]) -> None:
        self.weights = check_weights(_float64(weights, "weights"), "weights")
        self.weights = self.weights / self.weights.sum()
        self.means, self.stds = _float64(means, "means"), _float64(stds, "stds")
        k = len(self.weights)
        if self.weights.ndim != 1 or self.means.ndim != 2 or self.means.shape[0] != k:
            raise ValueError(f"weights must have shape (K,) and means (K, d), got "
                             f"{tuple(self.weights.shape)} and {tuple(self.means.shape)}")
        if self.stds.shape != (k,) or not bool((self.stds >= 0).all()):
            raise ValueError(f"stds must be {k} numbers >= 0, got {self.stds.tolist()}")
        self.dim = self.means.shape[1]

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        if not bool((self.stds > 0).all()):
            raise ValueError("log_prob needs stds > 0: a component with std 0 is a point mass")
        d2 = ((_batch(x, self.dim)[:, None, :] - self.means[None]) ** 2).sum(-1)
        log_norm = -0.5 * self.dim * (LOG_2PI + torch.log(self.stds**2))
        return torch.logsumexp(torch.log(self.weights) + log_norm - d2 / (2 * self.stds**2), dim=1)

    def sample(self, n: int, generator: rng.Seed = None) -> torch.Tensor:
        n, generator = check_count(n, "n"), rng.torch_generator(generator)
        k = rng.multinomial(self.weights, n, generator)
        noise = rng.randn((n, self.dim), self.means, generator)
        return self.means[k] + self.stds[k, None] * noise


class DoubleWell:
    """E(x) = barrier (x_1^2 - 1)^2 + x_2^2 / 2 (unnormalized): two modes at x_1 = +-1."""

    dim = 2

    def __init__(self, barrier: float = 2.0) -> None:
        self.barrier = check_positive(barrier, "barrier")

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        x = _batch(x, self.dim)
        return -(self.barrier * (x[:, 0] ** 2 - 1) ** 2 + 0.5 * x[:, 1] ** 2)


class Banana:
    """Twisted Gaussian (Haario et al. 1999): x_1 ~ N(0, s^2), x_2 | x_1 ~ N(-b (x_1^2 - s^2), 1).
    Curved like a Rosenbrock valley, yet exactly sampled by ``sample`` (float64, on the CPU)."""

    dim = 2

    def __init__(self, s: float = 2.0, b: float = 0.25) -> None:
        self.s, self.b = check_positive(s, "s"), check_real(b, "b")

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = _batch(x, self.dim).unbind(1)
        twist = x2 + self.b * (x1**2 - self.s**2)
        return -0.5 * x1**2 / self.s**2 - 0.5 * twist**2 - (LOG_2PI + math.log(self.s))

    def sample(self, n: int, generator: rng.Seed = None) -> torch.Tensor:
        like = torch.empty(0, dtype=torch.float64, device="cpu")
        z = rng.randn((check_count(n, "n"), 2), like, rng.torch_generator(generator))
        x1 = self.s * z[:, 0]
        return torch.stack([x1, z[:, 1] - self.b * (x1**2 - self.s**2)], dim=1)


def score(log_prob: LogProb, x: torch.Tensor) -> torch.Tensor:
    """grad_x log p(x) for a batch (chains, d), by autograd: the object Langevin dynamics needs.
    If x itself requires grad, the result stays differentiable (for Jacobians through it)."""
    if not callable(log_prob):
        raise TypeError("log_prob must be a function of a batch x of shape (chains, d)")
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise TypeError("x must be a floating-point torch.Tensor of shape (chains, d)")
    with torch.enable_grad():
        if x.requires_grad:
            (grad,) = torch.autograd.grad(log_prob(x).sum(), x, create_graph=True)
        else:
            x = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(log_prob(x).sum(), x)
    return grad


# --------------------------------------------------------------------------- samplers


@dataclass
class Chains:
    """What a sampler returns: ``samples`` of shape (kept steps, chains, d) and the acceptance
    rate of each chain (1 for unadjusted Langevin). ``swap_acceptance`` is set by
    ``parallel_tempering`` only: the swap rate of each neighbouring pair of temperatures."""

    samples: torch.Tensor
    acceptance: torch.Tensor
    swap_acceptance: torch.Tensor | None = None


def _check_run(
    log_prob: LogProb, x0: torch.Tensor, step: float, n_steps: int, keep_every: int
) -> tuple[torch.Tensor, float, int, int]:
    """The arguments every sampler shares, checked: x0 a finite float tensor (chains, d) where
    log_prob is finite, one value per chain; step > 0; 1 <= keep_every <= n_steps."""
    if not callable(log_prob):
        raise TypeError("log_prob must be a function of a batch x of shape (chains, d)")
    x0 = check_points(x0, "x0").detach()
    if not x0.is_floating_point():
        raise TypeError(f"x0 must be a floating-point tensor, got {x0.dtype}")
    step, n_steps = check_positive(step, "step"), check_count(n_steps, "n_steps")
    if check_count(keep_every, "keep_every") > n_steps:
        raise ValueError(f"keep_every = {keep_every} > n_steps = {n_steps} would keep nothing")
    with torch.no_grad():
        start = log_prob(x0)
    if not torch.is_tensor(start) or start.shape != (len(x0),):
        shape = tuple(start.shape) if torch.is_tensor(start) else type(start).__name__
        raise ValueError(f"log_prob must return one value per chain ({len(x0)},), got {shape}")
    if not bool(torch.isfinite(start).all()):
        raise ValueError("log_prob(x0) must be finite: start every chain where the target lives")
    return x0, step, n_steps, keep_every


def _run(
    propose: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    x0: torch.Tensor,
    n_steps: int,
    keep_every: int,
    generator: torch.Generator | None,
) -> Chains:
    """Drive a Metropolis-Hastings-type kernel: ``propose(x)`` returns (proposal, log acceptance
    ratio); a log ratio of +inf means 'always accept' (unadjusted dynamics)."""
    x, accepted, kept = x0, torch.zeros_like(x0[:, 0]), []
    for t in range(n_steps):
        y, log_ratio = propose(x)
        u = rng.rand((len(x),), x, generator)
        accept = torch.log(u) < log_ratio
        x = torch.where(accept[:, None], y, x)
        accepted += accept
        if (t + 1) % keep_every == 0:
            kept.append(x)
    return Chains(torch.stack(kept), accepted / n_steps)


def random_walk_metropolis(
    log_prob: LogProb,
    x0: torch.Tensor,
    *,
    step: float,
    n_steps: int,
    keep_every: int = 1,
    generator: rng.Seed = None,
) -> Chains:
    """Propose y = x + step * noise, accept with probability min(1, p(y)/p(x)) (Metropolis 1953)."""
    x0, step, n_steps, keep_every = _check_run(log_prob, x0, step, n_steps, keep_every)
    generator = rng.torch_generator(generator)

    def propose(x):
        y = x + step * rng.randn(x.shape, x, generator)
        return y, log_prob(y) - log_prob(x)

    return _run(propose, x0, n_steps, keep_every, generator)


def ula(
    log_prob: LogProb,
    x0: torch.Tensor,
    *,
    step: float,
    n_steps: int,
    keep_every: int = 1,
    generator: rng.Seed = None,
) -> Chains:
    """Unadjusted Langevin algorithm: x' = x + h grad log p(x) + sqrt(2h) noise, the Euler-Maruyama
    step of dx = grad log p dt + sqrt 2 dW. Biased: on N(0, s^2) its stationary variance is
    s^2 / (1 - h / (2 s^2)). A step too large for the target makes chains diverge (inf/NaN)."""
    x0, step, n_steps, keep_every = _check_run(log_prob, x0, step, n_steps, keep_every)
    generator = rng.torch_generator(generator)
    always = torch.full_like(x0[:, 0], math.inf)

    def propose(x):
        noise = rng.randn(x.shape, x, generator)
        return x + step * score(log_prob, x) + math.sqrt(2 * step) * noise, always

    return _run(propose, x0, n_steps, keep_every, generator)


def mala(
    log_prob: LogProb,
    x0: torch.Tensor,
    *,
    step: float,
    n_steps: int,
    keep_every: int = 1,
    generator: rng.Seed = None,
) -> Chains:
    """Metropolis-adjusted Langevin: the ULA move as a proposal
    q(y|x) = N(x + h grad log p(x), 2h I), accepted with min(1, p(y) q(x|y) / (p(x) q(y|x))).
    Exact for any h (Roberts & Tweedie 1996)."""
    x0, step, n_steps, keep_every = _check_run(log_prob, x0, step, n_steps, keep_every)
    generator = rng.torch_generator(generator)

    def log_q(to, frm, grad_frm):  # log N(to; frm + h grad, 2h I) up to a constant
        return -((to - frm - step * grad_frm) ** 2).sum(1) / (4 * step)

    def propose(x):
        gx = score(log_prob, x)
        noise = rng.randn(x.shape, x, generator)
        y = x + step * gx + math.sqrt(2 * step) * noise
        gy = score(log_prob, y)
        return y, log_prob(y) - log_prob(x) + log_q(x, y, gy) - log_q(y, x, gx)

    return _run(propose, x0, n_steps, keep_every, generator)


def leapfrog(
    log_prob: LogProb, x: torch.Tensor, r: torch.Tensor, step: float, n_leapfrog: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Leapfrog integration of H(x, r) = E(x) + |r|^2 / 2 with E = -log p and momentum r: a
    composition of shears (volume-preserving) that is reversed by flipping r, with energy error
    O(step^2) over a fixed trajectory length (Neal 2011, section 2.3)."""
    if not torch.is_tensor(r) or not torch.is_tensor(x) or r.shape != x.shape:
        raise ValueError("x and r (momentum) must be tensors of one shape (chains, d)")
    step, n_leapfrog = check_positive(step, "step"), check_count(n_leapfrog, "n_leapfrog")
    r = r + 0.5 * step * score(log_prob, x)  # half kick: r changes by a function of x only
    for k in range(n_leapfrog):
        x = x + step * r  # drift: x changes by a function of r only
        if k < n_leapfrog - 1:
            r = r + step * score(log_prob, x)
    r = r + 0.5 * step * score(log_prob, x)  # closing half kick
    return x, r


def hamiltonian(log_prob: LogProb, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """H(x, r) = E(x) + |r|^2 / 2 for each chain (position x, momentum r)."""
    if not torch.is_tensor(r) or not torch.is_tensor(x) or r.shape != x.shape or x.ndim != 2:
        raise ValueError("x and r (momentum) must be tensors of one shape (chains, d)")
    return -log_prob(x) + 0.5 * (r**2).sum(1)


def hmc(
    log_prob: LogProb,
    x0: torch.Tensor,
    *,
    step: float,
    n_leapfrog: int,
    n_steps: int,
    keep_every: int = 1,
    generator: rng.Seed = None,
) -> Chains:
    """Hamiltonian Monte Carlo (Duane et al. 1987): fresh Gaussian momentum r, a leapfrog
    trajectory, accept with min(1, exp(-Delta H))."""
    x0, step, n_steps, keep_every = _check_run(log_prob, x0, step, n_steps, keep_every)
    n_leapfrog, generator = check_count(n_leapfrog, "n_leapfrog"), rng.torch_generator(generator)

    def propose(x):
        r = rng.randn(x.shape, x, generator)
        y, r_end = leapfrog(log_prob, x, r, step, n_leapfrog)
        return y, hamiltonian(log_prob, x, r) - hamiltonian(log_prob, y, r_end)

    return _run(propose, x0, n_steps, keep_every, generator)


def parallel_tempering(
    log_prob: LogProb,
    x0: torch.Tensor,
    *,
    temperatures: list[float],
    step: float,
    n_steps: int,
    keep_every: int = 1,
    generator: rng.Seed = None,
) -> Chains:
    """Replica exchange: one random-walk Metropolis chain per temperature (targets p^(1/T)), a
    separate ladder for each row of x0; after each step, neighbouring temperatures propose to
    swap states, accepted with min(1, exp((1/T_k - 1/T_k+1)(log p(x_k+1) - log p(x_k)))).

    x0 has shape (chains, d). Returns the T = temperatures[0] chains (their samples and
    Metropolis acceptance) and, as ``swap_acceptance``, the swap rate of each neighbouring pair."""
    x0, step, n_steps, keep_every = _check_run(log_prob, x0, step, n_steps, keep_every)
    T = check_temperatures(temperatures, "temperatures", ndim=1)
    betas = 1.0 / torch.as_tensor(T, dtype=x0.dtype, device=x0.device)
    generator = rng.torch_generator(generator)
    n_temps, (n_chains, dim) = len(betas), x0.shape
    x = x0[None].repeat(n_temps, 1, 1)  # (K, chains, d)
    steps = step * torch.sqrt(1.0 / betas)[:, None, None]  # wider proposals when hotter
    swaps, accepted, kept = betas.new_zeros(n_temps - 1), x0.new_zeros(n_chains), []
    flat_log_prob = lambda z: log_prob(z.reshape(-1, dim)).reshape(n_temps, n_chains)  # noqa: E731
    for t in range(n_steps):
        y = x + steps * rng.randn(x.shape, x, generator)
        log_ratio = betas[:, None] * (flat_log_prob(y) - flat_log_prob(x))
        u = rng.rand((n_temps, n_chains), x, generator)
        accept = torch.log(u) < log_ratio
        x = torch.where(accept[..., None], y, x)
        accepted += accept[0]
        first = t % 2  # alternate even and odd pairs so swaps never overlap
        lp = flat_log_prob(x)
        for k in range(first, n_temps - 1, 2):
            log_swap = (betas[k] - betas[k + 1]) * (lp[k + 1] - lp[k])
            do = torch.log(rng.rand((n_chains,), x, generator)) < log_swap
            x[k], x[k + 1] = (
                torch.where(do[:, None], x[k + 1], x[k]),
                torch.where(do[:, None], x[k], x[k + 1]),
            )
            swaps[k] += do.to(x.dtype).mean() * 2 / n_steps  # each pair is tried every other step
        if (t + 1) % keep_every == 0:
            kept.append(x[0].clone())
    return Chains(torch.stack(kept), accepted / n_steps, swaps)


# --------------------------------------------------------------------------- closed forms


def ula_stationary_variance(variance: float, step: float) -> float:
    """Stationary variance of ULA on N(0, s^2): the chain x' = (1 - h/s^2) x + sqrt(2h) xi is
    AR(1), so v = (1 - h/s^2)^2 v + 2h, i.e. v = s^2 / (1 - h / (2 s^2)). Stable only for
    h < 2 s^2."""
    variance, step = check_positive(variance, "variance"), check_positive(step, "step")
    if not step < 2 * variance:
        raise ValueError(f"ULA on N(0, {variance}) is unstable unless 0 < step < {2 * variance}")
    return variance / (1 - step / (2 * variance))


def ula_autocorrelation_time(variance: float, step: float) -> float:
    """Integrated autocorrelation time of x under ULA on N(0, s^2). The chain is AR(1) with
    phi = 1 - h/s^2, so rho(t) = phi^t and tau = 1 + 2 sum_t phi^t = (1 + phi) / (1 - phi)
    = (2 - h/s^2) / (h/s^2); the effective sample size of n steps is n / tau."""
    variance, step = check_positive(variance, "variance"), check_positive(step, "step")
    if not step < 2 * variance:
        raise ValueError(f"ULA on N(0, {variance}) is unstable unless 0 < step < {2 * variance}")
    ratio = step / variance
    return (2 - ratio) / ratio


def ornstein_uhlenbeck_moments(x0: float, variance: float, t: float) -> tuple[float, float]:
    """Mean and variance at time t of dx = -x / s^2 dt + sqrt 2 dW from x(0) = x0: the exact
    solution of the Fokker-Planck equation for a Gaussian target, x0 e^{-t/s^2} and
    s^2 (1 - e^{-2t/s^2})."""
    x0 = float(check_finite(np.asarray(x0, dtype=float), "x0"))
    variance, t = check_positive(variance, "variance"), check_positive(t, "t", allow_zero=True)
    decay = math.exp(-t / variance)
    return x0 * decay, variance * (1 - decay**2)


# --------------------------------------------------------------------------- energy-based model


class EnergyMLP(nn.Module):
    """E_theta(x): a small MLP with smooth (SiLU) activations, so its gradient drives Langevin
    dynamics. Built on torch's default device; its weights are drawn from ``generator``
    (``rng.build``), or from torch's global stream when it is None, as ``nn.Linear`` does."""

    def __init__(self, dim: int = 2, hidden: int = 64, *, generator: rng.Seed = None) -> None:
        super().__init__()
        dim, hidden = check_count(dim, "dim"), check_count(hidden, "hidden")
        self.net = rng.build(lambda: nn.Sequential(
            nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, 1),
        ), generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Unnormalized log density -E(x)."""
        return -self.forward(x)


def train_ebm(
    data: torch.Tensor,
    n_iterations: int = 1500,
    batch_size: int = 256,
    langevin_steps: int = 20,
    langevin_step: float = 0.01,
    box: float = 3.0,
    reg: float = 0.1,
    generator: rng.Seed = 0,
    show_progress: bool = True,
) -> tuple[EnergyMLP, list[float]]:
    """Maximum likelihood for an EBM by persistent contrastive divergence (Tieleman 2008): the
    gradient of -log p_theta(data) is E_data[grad E] - E_model[grad E], with the model expectation
    taken over short-run ULA chains that continue from a persistent buffer of earlier samples, 5%
    restarted uniformly in [-box, box]^d (the replay buffer of Du & Mordatch 2019). An L2 penalty
    on the energies keeps them bounded. The model has the device and floating dtype of ``data``
    (float32 trains fastest)."""
    data = torch.as_tensor(data, device=data.device if torch.is_tensor(data) else "cpu")
    data = check_points(data if data.is_floating_point() else data.float(), "data")
    device = data.device
    n_iterations = check_count(n_iterations, "n_iterations")
    batch_size = check_count(batch_size, "batch_size")
    langevin_steps = check_count(langevin_steps, "langevin_steps")
    langevin_step = check_positive(langevin_step, "langevin_step")
    box, reg = check_positive(box, "box"), check_positive(reg, "reg", allow_zero=True)
    generator, dim = rng.torch_generator(generator), data.shape[1]
    with torch.device(device):  # the model is built where the data are
        model = EnergyMLP(dim, generator=generator).to(dtype=data.dtype)
    buffer = (rng.rand((4096, dim), data, generator) * 2 - 1) * box

    def loss(iteration: int) -> torch.Tensor:  # one Langevin negative phase per iteration
        idx = rng.randint(0, len(buffer), (batch_size,), buffer, generator)
        x = buffer[idx]
        restart = rng.rand((batch_size,), buffer, generator) < 0.05
        x[restart] = (rng.rand((int(restart.sum()), dim), buffer, generator) * 2 - 1) * box
        for _ in range(langevin_steps):  # short-run ULA on the current model, gradient in x only
            x = x.detach().requires_grad_(True)
            grad = torch.autograd.grad(model(x).sum(), x)[0]
            noise = rng.randn(x.shape, x, generator)
            x = (x - langevin_step * grad + math.sqrt(2 * langevin_step) * noise).clamp(-box, box)
        x = x.detach()
        buffer[idx] = x
        positive = data[rng.randint(0, len(data), (batch_size,), data, generator)]
        e_pos, e_neg = model(positive), model(x)
        return e_pos.mean() - e_neg.mean() + reg * (e_pos**2 + e_neg**2).mean()

    losses = minimize(loss, model.parameters(), n_iterations, lr=1e-3, cosine=False, desc="EBM",
                      show_progress=show_progress)
    return model, losses
