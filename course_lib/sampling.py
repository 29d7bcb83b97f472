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

from .notebook import progress

LogProb = Callable[[torch.Tensor], torch.Tensor]

# --------------------------------------------------------------------------- targets


class Gaussian:
    """N(mean, cov) in d dimensions, with exact ``sample`` and normalized ``log_prob``."""

    def __init__(
        self, mean: list[float] | torch.Tensor, cov: list[list[float]] | torch.Tensor
    ) -> None:
        mean = torch.as_tensor(mean, dtype=torch.float64)
        cov = torch.as_tensor(cov, dtype=torch.float64)
        self.dist = torch.distributions.MultivariateNormal(mean, cov)
        self.dim = self.dist.event_shape[0]

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self.dist.log_prob(x)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return self.dist.loc + z @ self.dist.scale_tril.T


class GaussianMixture:
    """Mixture of isotropic Gaussians: weights (K,), means (K, d), standard deviations (K,)."""

    def __init__(self, weights: list[float], means: list[list[float]], stds: list[float]) -> None:
        self.weights = torch.as_tensor(weights, dtype=torch.float64)
        self.weights = self.weights / self.weights.sum()
        self.means = torch.as_tensor(means, dtype=torch.float64)
        self.stds = torch.as_tensor(stds, dtype=torch.float64)
        self.dim = self.means.shape[1]

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        d2 = ((x[:, None, :] - self.means[None]) ** 2).sum(-1)
        log_norm = -0.5 * self.dim * torch.log(2 * math.pi * self.stds**2)
        return torch.logsumexp(torch.log(self.weights) + log_norm - d2 / (2 * self.stds**2), dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        noise = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return self.means[k] + self.stds[k, None] * noise


class DoubleWell:
    """E(x) = barrier (x_1^2 - 1)^2 + x_2^2 / 2 (unnormalized): two modes at x_1 = +-1."""

    dim = 2

    def __init__(self, barrier: float = 2.0) -> None:
        self.barrier = barrier

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return -(self.barrier * (x[:, 0] ** 2 - 1) ** 2 + 0.5 * x[:, 1] ** 2)


class Banana:
    """Twisted Gaussian (Haario et al. 1999): x_1 ~ N(0, s^2), x_2 | x_1 ~ N(-b (x_1^2 - s^2), 1).
    Curved like a Rosenbrock valley, yet exactly sampled by ``sample``."""

    dim = 2

    def __init__(self, s: float = 2.0, b: float = 0.25) -> None:
        self.s, self.b = s, b

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x[:, 0], x[:, 1]
        twist = x2 + self.b * (x1**2 - self.s**2)
        return -0.5 * x1**2 / self.s**2 - 0.5 * twist**2 - math.log(2 * math.pi * self.s)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        z = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        x1 = self.s * z[:, 0]
        return torch.stack([x1, z[:, 1] - self.b * (x1**2 - self.s**2)], dim=1)


def score(log_prob: LogProb, x: torch.Tensor) -> torch.Tensor:
    """grad_x log p(x) for a batch (chains, d), by autograd: the object Langevin dynamics needs."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(log_prob(x).sum(), x)
    return grad


# --------------------------------------------------------------------------- samplers


@dataclass
class Chains:
    """Samples of shape (kept steps, chains, d) and the acceptance rate of each chain."""

    samples: torch.Tensor
    acceptance: torch.Tensor


def _check_start(x0: torch.Tensor, step: float, n_steps: int) -> torch.Tensor:
    x0 = torch.as_tensor(x0, dtype=torch.float64)
    if x0.ndim != 2:
        raise ValueError(f"x0 must have shape (chains, d), got {tuple(x0.shape)}")
    if not step > 0 or not math.isfinite(step):
        raise ValueError(f"step must be a positive number, got {step}")
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    return x0


def _run(
    propose: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    x0: torch.Tensor,
    n_steps: int,
    keep_every: int,
    generator: torch.Generator | None,
) -> Chains:
    """Drive a Metropolis-Hastings-type kernel: ``propose(x)`` returns (proposal, log acceptance
    ratio); a log ratio of +inf means 'always accept' (unadjusted dynamics)."""
    x, accepted, kept = x0, torch.zeros(len(x0), dtype=torch.float64), []
    for t in range(n_steps):
        y, log_ratio = propose(x)
        u = torch.rand(len(x), generator=generator, dtype=torch.float64)
        accept = torch.log(u) < log_ratio
        x = torch.where(accept[:, None], y, x)
        accepted += accept
        if (t + 1) % keep_every == 0:
            kept.append(x)
    return Chains(torch.stack(kept), accepted / n_steps)


def random_walk_metropolis(
    log_prob: LogProb,
    x0: torch.Tensor,
    step: float,
    n_steps: int,
    keep_every: int = 1,
    generator: torch.Generator | None = None,
) -> Chains:
    """Propose y = x + step * noise, accept with probability min(1, p(y)/p(x)) (Metropolis 1953)."""
    x0 = _check_start(x0, step, n_steps)

    def propose(x):
        y = x + step * torch.randn(x.shape, generator=generator, dtype=x.dtype)
        return y, log_prob(y) - log_prob(x)

    return _run(propose, x0, n_steps, keep_every, generator)


def ula(
    log_prob: LogProb,
    x0: torch.Tensor,
    step: float,
    n_steps: int,
    keep_every: int = 1,
    generator: torch.Generator | None = None,
) -> Chains:
    """Unadjusted Langevin algorithm: x' = x + h grad log p(x) + sqrt(2h) noise, the Euler-Maruyama
    step of dx = grad log p dt + sqrt 2 dW. Biased: on N(0, s^2) its stationary variance is
    s^2 / (1 - h / (2 s^2))."""
    x0 = _check_start(x0, step, n_steps)
    always = torch.full((len(x0),), math.inf, dtype=torch.float64)

    def propose(x):
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        return x + step * score(log_prob, x) + math.sqrt(2 * step) * noise, always

    return _run(propose, x0, n_steps, keep_every, generator)


def mala(
    log_prob: LogProb,
    x0: torch.Tensor,
    step: float,
    n_steps: int,
    keep_every: int = 1,
    generator: torch.Generator | None = None,
) -> Chains:
    """Metropolis-adjusted Langevin: the ULA move as a proposal
    q(y|x) = N(x + h grad log p(x), 2h I), accepted with min(1, p(y) q(x|y) / (p(x) q(y|x))).
    Exact for any h (Roberts & Tweedie 1996)."""
    x0 = _check_start(x0, step, n_steps)

    def log_q(to, frm, grad_frm):  # log N(to; frm + h grad, 2h I) up to a constant
        return -((to - frm - step * grad_frm) ** 2).sum(1) / (4 * step)

    def propose(x):
        gx = score(log_prob, x)
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
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
    r = r + 0.5 * step * score(log_prob, x)  # half kick: r changes by a function of x only
    for k in range(n_leapfrog):
        x = x + step * r  # drift: x changes by a function of r only
        if k < n_leapfrog - 1:
            r = r + step * score(log_prob, x)
    r = r + 0.5 * step * score(log_prob, x)  # closing half kick
    return x, r


def hamiltonian(log_prob: LogProb, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """H(x, r) = E(x) + |r|^2 / 2 for each chain (position x, momentum r)."""
    return -log_prob(x) + 0.5 * (r**2).sum(1)


def hmc(
    log_prob: LogProb,
    x0: torch.Tensor,
    step: float,
    n_leapfrog: int,
    n_steps: int,
    keep_every: int = 1,
    generator: torch.Generator | None = None,
) -> Chains:
    """Hamiltonian Monte Carlo (Duane et al. 1987): fresh Gaussian momentum r, a leapfrog
    trajectory, accept with min(1, exp(-Delta H))."""
    x0 = _check_start(x0, step, n_steps)

    def propose(x):
        r = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        y, r_end = leapfrog(log_prob, x, r, step, n_leapfrog)
        return y, hamiltonian(log_prob, x, r) - hamiltonian(log_prob, y, r_end)

    return _run(propose, x0, n_steps, keep_every, generator)


def parallel_tempering(
    log_prob: LogProb,
    x0: torch.Tensor,
    temperatures: list[float],
    step: float,
    n_steps: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replica exchange: one random-walk Metropolis chain per temperature (targets p^(1/T)), for
    each of `chains` independent ladders; after each step, neighbouring temperatures propose to
    swap states, accepted with min(1, exp((1/T_k - 1/T_k+1)(log p(x_k+1) - log p(x_k)))).

    x0 has shape (chains, d). Returns the T = temperatures[0] samples (n_steps, chains, d) and the
    swap acceptance rate between each neighbouring pair."""
    x0 = _check_start(x0, step, n_steps)
    betas = 1.0 / torch.as_tensor(temperatures, dtype=torch.float64)  # (K,)
    n_temps, (n_chains, dim) = len(betas), x0.shape
    x = x0[None].repeat(n_temps, 1, 1)  # (K, chains, d)
    steps = step * torch.sqrt(1.0 / betas)[:, None, None]  # wider proposals when hotter
    swaps, kept = torch.zeros(n_temps - 1, dtype=torch.float64), []
    flat_log_prob = lambda z: log_prob(z.reshape(-1, dim)).reshape(n_temps, n_chains)  # noqa: E731
    for t in range(n_steps):
        y = x + steps * torch.randn(x.shape, generator=generator, dtype=x.dtype)
        log_ratio = betas[:, None] * (flat_log_prob(y) - flat_log_prob(x))
        u = torch.rand(n_temps, n_chains, generator=generator, dtype=x.dtype)
        accept = torch.log(u) < log_ratio
        x = torch.where(accept[..., None], y, x)
        first = t % 2  # alternate even and odd pairs so swaps never overlap
        lp = flat_log_prob(x)
        for k in range(first, n_temps - 1, 2):
            log_swap = (betas[k] - betas[k + 1]) * (lp[k + 1] - lp[k])
            do = torch.log(torch.rand(n_chains, generator=generator, dtype=x.dtype)) < log_swap
            x[k], x[k + 1] = (
                torch.where(do[:, None], x[k + 1], x[k]),
                torch.where(do[:, None], x[k], x[k + 1]),
            )
            swaps[k] += do.double().mean() * 2 / n_steps  # each pair is tried every other step
        kept.append(x[0].clone())
    return torch.stack(kept), swaps


# --------------------------------------------------------------------------- closed forms


def ula_stationary_variance(variance: float, step: float) -> float:
    """Stationary variance of ULA on N(0, s^2): the chain x' = (1 - h/s^2) x + sqrt(2h) xi is
    AR(1), so v = (1 - h/s^2)^2 v + 2h, i.e. v = s^2 / (1 - h / (2 s^2)). Stable only for
    h < 2 s^2."""
    if not 0 < step < 2 * variance:
        raise ValueError(f"ULA on N(0, {variance}) is unstable unless 0 < step < {2 * variance}")
    return variance / (1 - step / (2 * variance))


def ula_autocorrelation_time(variance: float, step: float) -> float:
    """Integrated autocorrelation time of x under ULA on N(0, s^2). The chain is AR(1) with
    phi = 1 - h/s^2, so rho(t) = phi^t and tau = 1 + 2 sum_t phi^t = (1 + phi) / (1 - phi)
    = (2 - h/s^2) / (h/s^2); the effective sample size of n steps is n / tau."""
    if not 0 < step < 2 * variance:
        raise ValueError(f"ULA on N(0, {variance}) is unstable unless 0 < step < {2 * variance}")
    ratio = step / variance
    return (2 - ratio) / ratio


def ornstein_uhlenbeck_moments(x0: float, variance: float, t: float) -> tuple[float, float]:
    """Mean and variance at time t of dx = -x / s^2 dt + sqrt 2 dW from x(0) = x0: the exact
    solution of the Fokker-Planck equation for a Gaussian target, x0 e^{-t/s^2} and
    s^2 (1 - e^{-2t/s^2})."""
    decay = math.exp(-t / variance)
    return x0 * decay, variance * (1 - decay**2)


# --------------------------------------------------------------------------- energy-based model


class EnergyMLP(nn.Module):
    """E_theta(x): a small MLP with smooth (SiLU) activations, so its gradient drives Langevin
    dynamics."""

    def __init__(self, dim: int = 2, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, 1),
        )

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
    seed: int = 0,
    show_progress: bool = True,
) -> tuple[EnergyMLP, list[float]]:
    """Maximum likelihood for an EBM by persistent contrastive divergence (Tieleman 2008): the
    gradient of -log p_theta(data) is E_data[grad E] - E_model[grad E], with the model expectation
    taken over short-run ULA chains that continue from a persistent buffer of earlier samples, 5%
    restarted uniformly in [-box, box]^d (the replay buffer of Du & Mordatch 2019). An L2 penalty
    on the energies keeps them bounded."""
    torch.manual_seed(seed)
    data = torch.as_tensor(data, dtype=torch.float32)
    model = EnergyMLP(dim=data.shape[1])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    buffer = (torch.rand(4096, data.shape[1]) * 2 - 1) * box
    losses = []
    for _ in progress(range(n_iterations), desc="EBM", disable=not show_progress or None):
        idx = torch.randint(len(buffer), (batch_size,))
        x = buffer[idx]
        restart = torch.rand(batch_size) < 0.05
        x[restart] = (torch.rand(int(restart.sum()), data.shape[1]) * 2 - 1) * box
        for _ in range(langevin_steps):  # short-run ULA on the current model, gradient in x only
            x = x.detach().requires_grad_(True)
            grad = torch.autograd.grad(model(x).sum(), x)[0]
            noise = torch.randn_like(x)
            x = (x - langevin_step * grad + math.sqrt(2 * langevin_step) * noise).clamp(-box, box)
        x = x.detach()
        buffer[idx] = x
        positive = data[torch.randint(len(data), (batch_size,))]
        e_pos, e_neg = model(positive), model(x)
        loss = e_pos.mean() - e_neg.mean() + reg * (e_pos**2 + e_neg**2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, losses

