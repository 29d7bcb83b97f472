"""Diffusion models: noising, denoising, and the exact denoisers that explain what a network learns.

DDPM (Ho, Jain & Abbeel 2020), discrete time t = 1..T with noise levels beta_t:
    forward   q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I), abar_t = prod_{s<=t} (1 - beta_s)
    loss      E_{t, x_0, eps} || eps - eps_theta(sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t) ||^2
    sampler   x_{t-1} ~ q(x_{t-1} | x_t, x_0 = x0_hat(x_t))   (ancestral sampling)
Score view: grad log p_t(x) = -eps(x, t) / sqrt(1 - abar_t), and Tweedie's formula
    E[x_0 | x_t] = (x_t - sqrt(1 - abar_t) eps(x_t, t)) / sqrt(abar_t).
DDIM (Song, Meng & Ermon 2021) is a deterministic sampler; it discretizes the probability-flow ODE
(Song et al. 2021). Flow matching / rectified flow / stochastic interpolants (Lipman et al. 2023;
Liu et al. 2023; Albergo & Vanden-Eijnden 2023) use the straight path x_t = (1 - t) x_0 + t eps and
learn v = eps - x_0.

Every model here is an ``nn.Module`` called as ``model(x, time)`` with ``time`` in [0, 1] of shape
(batch,): t / T for DDPM (it returns eps), t for flow matching (it returns v). The exact denoisers
``GaussianDenoiser`` (Gaussian data: closed form, including the probability-flow trajectory of
Wang & Vastola 2023) and ``MixtureDenoiser`` (Gaussian mixtures, and a finite training set: the
memorizing optimum) give E[x_0 | alpha x_0 + sigma eps = x]; ``ExactEpsilon`` and ``ExactVelocity``
turn them into models that every sampler accepts. ``Ensemble`` trains many small networks at once.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .notebook import progress

__all__ = [
    "NoiseSchedule", "forward_marginal", "q_sample", "predict_x0", "ddpm_loss", "denoising_error",
    "flow_matching_loss", "TimeMLP", "Ensemble", "train_diffusion", "Reverse", "sample_ddpm",
    "sample_ddim", "sample_flow_matching", "GaussianDenoiser", "MixtureDenoiser", "ExactEpsilon",
    "ExactVelocity", "GaussianPlusNetwork", "vp_alpha_bar", "vp_pf_ode_drift", "x0_variance",
    "half_split_experiment", "half_split_sweep",
]


# ----------------------------------------------------------------------------------------------
# Forward process
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NoiseSchedule:
    """Noise levels beta_1..beta_T (float64); ``alpha_bar[t]`` = prod_{s <= t} (1 - beta_s), and
    alpha_bar[0] = 1.

    Example:
        >>> s = NoiseSchedule.linear(1000)
        >>> round(float(s.alpha_bar[500]), 4)
        0.0786
    """

    betas: torch.Tensor

    def __post_init__(self) -> None:
        b = self.betas
        if not isinstance(b, torch.Tensor) or b.ndim != 1 or len(b) == 0:
            raise ValueError("betas must be a non-empty 1D tensor")
        if not bool(((b > 0) & (b < 1)).all()):
            raise ValueError("every beta_t must lie in (0, 1)")
        alpha_bar = torch.cat([torch.ones(1, dtype=b.dtype), torch.cumprod(1 - b, 0)])
        # computed once (the schedule is immutable): abar and the two coefficient tables
        object.__setattr__(self, "_alpha_bar", alpha_bar.double())
        tables = torch.stack([alpha_bar.sqrt(), (1 - alpha_bar).sqrt()]).double()
        object.__setattr__(self, "_tables", tables)

    @classmethod
    def linear(
        cls, T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02
    ) -> NoiseSchedule:
        """Ho et al. (2020): beta_t linear from 1e-4 to 0.02 over T = 1000 steps (times 1000/T for
        other T)."""
        scale = 1000 / T
        return cls(torch.linspace(beta_start * scale, beta_end * scale, T, dtype=torch.float64))

    @property
    def T(self) -> int:
        return len(self.betas)

    @property
    def alpha_bar(self) -> torch.Tensor:
        return self._alpha_bar

    def coefficients(
        self, t: torch.Tensor | int, like: torch.Tensor, check: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(sqrt(abar_t), sqrt(1 - abar_t)) for integer steps t, shaped to broadcast against
        ``like`` of shape (batch, ...)."""
        t = _as_steps(t, self.T, len(like)) if check else t
        table = self._tables.to(device=like.device, dtype=like.dtype)[:, t]
        a, s = table.reshape(2, -1, *([1] * (like.ndim - 1)))
        return a, s


def _as_steps(t: torch.Tensor | int, T: int, batch: int) -> torch.Tensor:
    t = torch.as_tensor(t)
    if t.is_floating_point():
        raise TypeError("diffusion steps t must be integers in 0..T")
    if int(t.min()) < 0 or int(t.max()) > T:
        low, high = int(t.min()), int(t.max())
        raise ValueError(f"diffusion steps must lie in 0..{T}, got values from {low} to {high}")
    return t.expand(batch) if t.ndim == 0 else t


def forward_marginal(
    x0: torch.Tensor, t: torch.Tensor | int, schedule: NoiseSchedule
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)
    (Ho et al. 2020, eq. 4)."""
    a, s = schedule.coefficients(t, x0)
    return a * x0, s.expand_as(x0)


def q_sample(
    x0: torch.Tensor, t: torch.Tensor | int, schedule: NoiseSchedule, noise: torch.Tensor
) -> torch.Tensor:
    """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps: a draw of the forward marginal, given eps."""
    if noise.shape != x0.shape:
        shapes = f"{tuple(x0.shape)}, got {tuple(noise.shape)}"
        raise ValueError(f"noise must have the shape of x0 {shapes}")
    mean, std = forward_marginal(x0, t, schedule)
    return mean + std * noise


def predict_x0(
    x_t: torch.Tensor, eps: torch.Tensor, t: torch.Tensor | int, schedule: NoiseSchedule
) -> torch.Tensor:
    """Tweedie's formula with the noise prediction:
    x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)."""
    a, s = schedule.coefficients(t, x_t)
    return (x_t - s * eps) / a


def _check_data(x0: torch.Tensor) -> torch.Tensor:
    if not isinstance(x0, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor of shape (batch, dim), got {type(x0).__name__}")
    if x0.ndim != 2:
        raise ValueError(f"expected data of shape (batch, dim), got {tuple(x0.shape)}")
    return x0


def ddpm_loss(
    model: nn.Module,
    x0: torch.Tensor,
    schedule: NoiseSchedule,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Ho et al. (2020) simple loss: squared error of the noise prediction, t ~ U{1..T},
    eps ~ N(0, I)."""
    x0 = _check_data(x0)
    t = torch.randint(1, schedule.T + 1, (len(x0),), generator=generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device)
    a, s = schedule.coefficients(t, x0, check=False)  # t was drawn in range just above
    prediction = model(a * x0 + s * noise, t.to(x0.dtype) / schedule.T)
    return ((prediction - noise) ** 2).sum(-1).mean()


@torch.no_grad()
def denoising_error(
    model: nn.Module, x0: torch.Tensor, t: int, schedule: NoiseSchedule, generator: torch.Generator
) -> tuple[float, float]:
    """The DDPM loss at one step t, E||eps - eps_theta(x_t, t)||^2, estimated on the points ``x0``
    (one noise draw each): returns the mean and its standard error."""
    x0 = _check_data(x0)
    noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device)
    x_t = q_sample(x0, t, schedule, noise)
    time = torch.full((len(x0),), t / schedule.T, dtype=x0.dtype, device=x0.device)
    error = ((model(x_t, time) - noise) ** 2).sum(-1)
    return error.mean().item(), (error.std() / math.sqrt(len(error))).item()


def flow_matching_loss(
    model: nn.Module, x0: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Conditional flow matching with the straight path x_t = (1 - t) x_0 + t eps: regress
    v_theta(x_t, t) on eps - x_0."""
    x0 = _check_data(x0)
    t = torch.rand(len(x0), generator=generator, dtype=x0.dtype).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device)
    x_t = (1 - t[:, None]) * x0 + t[:, None] * noise
    return ((model(x_t, t) - (noise - x0)) ** 2).sum(-1).mean()


# ----------------------------------------------------------------------------------------------
# Network and training
# ----------------------------------------------------------------------------------------------
class TimeMLP(nn.Module):
    """Residual MLP f(x, time) for eps- or velocity-prediction; time in [0, 1] enters through
    sinusoidal features (Vaswani et al. 2017) added to every block."""

    def __init__(
        self, dim: int, hidden: int = 128, depth: int = 3, time_features: int = 32
    ) -> None:
        super().__init__()
        self.dim = dim
        frequencies = torch.exp(torch.linspace(0, math.log(1000.0), time_features // 2))
        self.register_buffer("frequencies", frequencies)
        self.inp = nn.Linear(dim, hidden)
        self.time = nn.ModuleList(nn.Linear(time_features, hidden) for _ in range(depth))
        block = lambda: nn.Sequential(  # noqa: E731
            nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden)
        )
        self.blocks = nn.ModuleList(block() for _ in range(depth))
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        """x of shape (batch, dim), time of shape (batch,) or a 0-dim tensor."""
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"expected x of shape (batch, {self.dim}), got {tuple(x.shape)}")
        angles = time.to(x.dtype).expand(len(x))[:, None] * self.frequencies
        features = torch.cat([angles.sin(), angles.cos()], -1)
        h = self.inp(x)
        for time_layer, block in zip(self.time, self.blocks):
            h = h + block(h + time_layer(features))
        return self.out(h)


def train_diffusion(
    model: nn.Module,
    data: torch.Tensor | np.ndarray,
    schedule: NoiseSchedule | None = None,
    n_steps: int = 2000,
    batch_size: int = 256,
    lr: float = 2e-3,
    seed: int = 0,
    show_progress: bool = True,
    callback: Callable[[int, nn.Module], None] | None = None,
) -> list[float]:
    """Adam with a cosine learning-rate decay to zero (it plays the role of the weight averaging of
    large models) on the DDPM loss, or on the flow-matching loss if ``schedule`` is None.
    ``callback(step, model)`` runs after every step (for snapshots). Returns the losses."""
    data = _check_data(torch.as_tensor(data, dtype=torch.float32))
    data = data.to(next(model.parameters()).device)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, foreach=True)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, n_steps)
    losses = []
    model.train()
    quiet = not show_progress or None  # None: tqdm decides (COURSE_QUIET=1 silences it)
    for step in progress(range(1, n_steps + 1), desc="diffusion", disable=quiet):
        x0 = data[torch.randint(len(data), (batch_size,), generator=generator).to(data.device)]
        if schedule is None:
            loss = flow_matching_loss(model, x0, generator)
        else:
            loss = ddpm_loss(model, x0, schedule, generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        decay.step()
        losses.append(loss.item())
        if callback is not None:
            callback(step, model)
    model.eval()
    return losses


# ----------------------------------------------------------------------------------------------
# Samplers
# ----------------------------------------------------------------------------------------------
@dataclass
class Reverse:
    """Result of a reverse run: final samples ``x``, and at the kept steps the states x_t and the
    denoised estimates x0_hat (``states``, ``denoised`` of shape (kept, batch, dim); ``steps``
    decreasing)."""

    x: torch.Tensor
    steps: list[int]
    states: torch.Tensor
    denoised: torch.Tensor


def _finish(x: torch.Tensor, steps: list[int], states: list, denoised: list) -> Reverse:
    stack = lambda items: torch.stack(items) if items else torch.empty(0, *x.shape)  # noqa: E731
    return Reverse(x, steps, stack(states), stack(denoised))


@torch.no_grad()
def sample_ddpm(
    model: nn.Module,
    x_T: torch.Tensor,
    schedule: NoiseSchedule,
    generator: torch.Generator | None = None,
    keep: list[int] | range = (),
    clip: tuple[float, float] | None = None,
) -> Reverse:
    """Ancestral sampling (Ho et al. 2020, Algorithm 2) in its posterior form: at each t = T..1,
    x_{t-1} ~ q(x_{t-1} | x_t, x0_hat) = N(c0 x0_hat + ct x_t, beta_tilde_t I), with x0_hat from
    Tweedie's formula (optionally clipped to the data range). Without clipping this is exactly
    x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(1 - beta_t) + sqrt(beta_tilde_t) z,
    with z = randn(x.shape, generator) drawn at every step t > 1, in that order."""
    x, abar, betas = _check_data(x_T).clone(), schedule.alpha_bar, schedule.betas
    keep, steps, states, denoised = set(keep), [], [], []
    for t in range(schedule.T, 0, -1):
        eps = model(x, torch.full((len(x),), t / schedule.T, dtype=x.dtype))
        x0_hat = predict_x0(x, eps, t, schedule)
        if clip is not None:
            x0_hat = x0_hat.clamp(*clip)
        if t in keep:
            steps.append(t), states.append(x.clone()), denoised.append(x0_hat)
        c0 = abar[t - 1].sqrt() * betas[t - 1] / (1 - abar[t])
        ct = (1 - betas[t - 1]).sqrt() * (1 - abar[t - 1]) / (1 - abar[t])
        x = c0 * x0_hat + ct * x
        if t > 1:
            variance = betas[t - 1] * (1 - abar[t - 1]) / (1 - abar[t])
            x = x + variance.sqrt() * torch.randn(x.shape, generator=generator, dtype=x.dtype)
    return _finish(x, steps, states, denoised)


@torch.no_grad()
def sample_ddim(
    model: nn.Module,
    x_start: torch.Tensor,
    schedule: NoiseSchedule,
    n_steps: int = 50,
    t_start: int | None = None,
    keep_all: bool = False,
    clip: tuple[float, float] | None = None,
) -> Reverse:
    """Deterministic DDIM (eta = 0; Song, Meng & Ermon 2021, eq. 12) on ``n_steps`` evenly spaced
    steps from ``t_start`` (default T) down to 0: x_s = sqrt(abar_s) x0_hat + sqrt(1 - abar_s) eps.
    It discretizes the probability-flow ODE; ``t_start`` < T starts from a state at step t_start."""
    t_start = schedule.T if t_start is None else t_start
    if not 1 <= t_start <= schedule.T:
        raise ValueError(f"t_start must lie in 1..{schedule.T}, got {t_start}")
    grid = torch.linspace(t_start, 0, n_steps + 1).round().long().tolist()
    x = _check_data(x_start).clone()
    steps, states, denoised = [], [], []
    for t, s in zip(grid[:-1], grid[1:]):
        eps = model(x, torch.full((len(x),), t / schedule.T, dtype=x.dtype))
        x0_hat = predict_x0(x, eps, t, schedule)
        if clip is not None:
            x0_hat = x0_hat.clamp(*clip)
            a_t, s_t = schedule.coefficients(t, x)
            eps = (x - a_t * x0_hat) / s_t
        if keep_all:
            steps.append(t), states.append(x.clone()), denoised.append(x0_hat)
        a_s, s_s = schedule.coefficients(s, x)
        x = a_s * x0_hat + s_s * eps
    return _finish(x, steps, states, denoised)


@torch.no_grad()
def sample_flow_matching(model: nn.Module, x_1: torch.Tensor, n_steps: int = 50) -> torch.Tensor:
    """Integrate dx/dt = v(x, t) from t = 1 (noise) to t = 0 (data) with Euler steps."""
    x, dt = _check_data(x_1).clone(), 1.0 / n_steps
    for k in range(n_steps, 0, -1):
        x = x - dt * model(x, torch.full((len(x),), k * dt, dtype=x.dtype))
    return x


def x0_variance(run: Reverse) -> torch.Tensor:
    """Per sample: variance of the denoised estimate x0_hat over the kept (last) reverse steps,
    summed over dimensions. Aithal et al. (2024) flag hallucinated samples by a high value."""
    if len(run.steps) < 2:
        raise ValueError("keep at least two reverse steps to measure the variance of x0_hat")
    return run.denoised.var(0).sum(-1)


# ----------------------------------------------------------------------------------------------
# Exact denoisers: E[x_0 | alpha x_0 + sigma eps = x]
# ----------------------------------------------------------------------------------------------
class GaussianDenoiser:
    """Exact denoiser, score and probability-flow trajectory for Gaussian data x_0 ~ N(mean, cov).

    With x = alpha x_0 + sigma eps the posterior mean is linear,
        E[x_0 | x] = mean + alpha cov (alpha^2 cov + sigma^2 I)^-1 (x - alpha mean),
    and the minimum mean squared error is sum_k lambda_k sigma^2 / (alpha^2 lambda_k + sigma^2)
    over the eigenvalues lambda_k of cov. For the VP diffusion the probability-flow ODE is linear
    too: in the eigenbasis u_k each coordinate of x - alpha mean scales as
    sqrt(alpha^2 lambda_k + sigma^2)
    (Wang & Vastola, "The hidden linear structure in score-based models", 2023).
    """

    def __init__(self, mean: torch.Tensor | np.ndarray, cov: torch.Tensor | np.ndarray) -> None:
        self.mean = torch.as_tensor(mean, dtype=torch.float64)
        cov = torch.as_tensor(cov, dtype=torch.float64)
        if self.mean.ndim != 1 or cov.shape != (len(self.mean), len(self.mean)):
            shapes = f"{tuple(self.mean.shape)} and {tuple(cov.shape)}"
            raise ValueError(f"mean must have shape (d,) and cov (d, d), got {shapes}")
        self.eigenvalues, self.eigenvectors = torch.linalg.eigh((cov + cov.T) / 2)
        if float(self.eigenvalues.min()) < -1e-10:
            raise ValueError("cov must be positive semi-definite")
        self.eigenvalues = self.eigenvalues.clamp(min=0)
        self.cov = cov

    @classmethod
    def fit(cls, data: torch.Tensor | np.ndarray) -> GaussianDenoiser:
        """The Gaussian with the data's mean and (maximum-likelihood) covariance."""
        data = torch.as_tensor(data, dtype=torch.float64)
        centred = data - data.mean(0)
        return cls(data.mean(0), centred.T @ centred / len(data))

    def _in_eigenbasis(self, x: torch.Tensor, alpha: torch.Tensor | float, factor) -> torch.Tensor:
        # returns U diag(factor(lambda)) U^T (x - alpha mean), computed in float64
        y = (x.double() - alpha * self.mean) @ self.eigenvectors
        return (y * factor(self.eigenvalues)) @ self.eigenvectors.T

    def denoise(
        self, x: torch.Tensor, alpha: torch.Tensor | float, sigma: torch.Tensor | float
    ) -> torch.Tensor:
        """E[x_0 | alpha x_0 + sigma eps = x]; alpha, sigma scalars or of shape (batch, 1)."""
        alpha, sigma = _as_double(alpha), _as_double(sigma)
        shrink = lambda lam: alpha * lam / (alpha**2 * lam + sigma**2)  # noqa: E731
        out = self.mean + self._in_eigenbasis(x, alpha, shrink)
        return out.to(x.dtype)

    def score(
        self, x: torch.Tensor, alpha: torch.Tensor | float, sigma: torch.Tensor | float
    ) -> torch.Tensor:
        """grad_x log p(x) of the noisy marginal N(alpha mean, alpha^2 cov + sigma^2 I)."""
        alpha, sigma = _as_double(alpha), _as_double(sigma)
        inverse = lambda lam: 1 / (alpha**2 * lam + sigma**2)  # noqa: E731
        return -self._in_eigenbasis(x, alpha, inverse).to(x.dtype)

    def mmse(self, alpha: float, sigma: float) -> float:
        """Minimum mean squared error E||x_0 - E[x_0 | x]||^2 (summed over dimensions)."""
        lam = self.eigenvalues
        return float((lam * sigma**2 / (alpha**2 * lam + sigma**2)).sum())

    def pf_ode(self, x: torch.Tensor, alpha_bar_from: float, alpha_bar_to: float) -> torch.Tensor:
        """Closed-form solution of the VP probability-flow ODE (Wang & Vastola 2023): transport x
        from the noise level alpha_bar_from to alpha_bar_to along the exact deterministic path."""
        a0, a1 = math.sqrt(alpha_bar_from), math.sqrt(alpha_bar_to)
        ratio = lambda lam: torch.sqrt(  # noqa: E731
            (a1**2 * lam + 1 - a1**2) / (a0**2 * lam + 1 - a0**2)
        )
        return (a1 * self.mean + self._in_eigenbasis(x, a0, ratio)).to(x.dtype)

    def marginal_sample(
        self, n: int, alpha_bar: float, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Draws of x_t ~ N(sqrt(abar) mean, abar cov + (1 - abar) I); alpha_bar = 1 samples the
        data Gaussian."""
        z = torch.randn(n, len(self.mean), generator=generator, dtype=torch.float64)
        std = torch.sqrt(alpha_bar * self.eigenvalues + 1 - alpha_bar)
        return (math.sqrt(alpha_bar) * self.mean + (z * std) @ self.eigenvectors.T).float()

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Samples of the data Gaussian N(mean, cov)."""
        return self.marginal_sample(n, 1.0, generator)


class MixtureDenoiser:
    """Exact denoiser of an isotropic Gaussian mixture x_0 ~ sum_k w_k N(m_k, s_k^2 I).

    The noisy marginal is sum_k w_k N(alpha m_k, (alpha^2 s_k^2 + sigma^2) I) and
        E[x_0 | x] = sum_k r_k(x) [m_k + alpha s_k^2 / (alpha^2 s_k^2 + sigma^2) (x - alpha m_k)],
    with r_k the posterior responsibilities. With ``stds = 0`` and equal weights this is the optimal
    denoiser of a finite training set: its probability flow can only return training points.
    """

    def __init__(
        self,
        means: torch.Tensor | np.ndarray,
        stds: torch.Tensor | np.ndarray | float = 0.0,
        weights: torch.Tensor | np.ndarray | None = None,
    ) -> None:
        self.means = torch.as_tensor(means, dtype=torch.float64)
        if self.means.ndim != 2:
            shape = tuple(self.means.shape)
            raise ValueError(f"means must have shape (components, dim), got {shape}")
        k = len(self.means)
        self.stds = torch.as_tensor(stds, dtype=torch.float64).expand(k).clone()
        weights = torch.ones(k) if weights is None else weights
        self.weights = torch.as_tensor(weights, dtype=torch.float64)
        negative = bool((self.weights < 0).any()) or bool((self.stds < 0).any())
        if self.weights.shape != (k,) or negative:
            raise ValueError("weights must be k non-negative numbers and stds non-negative")
        self.weights = self.weights / self.weights.sum()

    def denoise(
        self, x: torch.Tensor, alpha: torch.Tensor | float, sigma: torch.Tensor | float
    ) -> torch.Tensor:
        """E[x_0 | alpha x_0 + sigma eps = x]; alpha, sigma scalars or of shape (batch, 1)."""
        xd, d = x.double(), x.shape[1]
        alpha = torch.as_tensor(_as_double(alpha), dtype=torch.float64).reshape(-1, 1)
        sigma = torch.as_tensor(_as_double(sigma), dtype=torch.float64).reshape(-1, 1)
        variance = alpha**2 * self.stds**2 + sigma**2  # (batch or 1, k)
        # |x - alpha m_k|^2 without a (batch, k, d) intermediate
        squared = (xd**2).sum(-1, keepdim=True) - 2 * alpha * (xd @ self.means.T)
        squared = (squared + alpha**2 * (self.means**2).sum(-1)).clamp(min=0)
        log_r = self.weights.log() - squared / (2 * variance) - 0.5 * d * variance.log()
        r = torch.softmax(log_r, dim=-1)
        shrink = r * alpha * self.stds**2 / variance  # r_k times the per-component shrinkage
        out = r @ self.means + shrink.sum(-1, keepdim=True) * xd - alpha * (shrink @ self.means)
        return out.to(x.dtype)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.means.shape[1], generator=generator, dtype=torch.float64)
        return (self.means[k] + self.stds[k, None] * z).float()


def _as_double(value: torch.Tensor | float) -> torch.Tensor | float:
    return value.double() if torch.is_tensor(value) else float(value)


class ExactEpsilon(nn.Module):
    """A DDPM noise predictor eps(x, t) = (x - sqrt(abar_t) x0_hat) / sqrt(1 - abar_t) from an exact
    denoiser."""

    def __init__(
        self, denoiser: GaussianDenoiser | MixtureDenoiser, schedule: NoiseSchedule
    ) -> None:
        super().__init__()
        self.denoiser, self.schedule = denoiser, schedule

    def forward(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        t = torch.round(torch.as_tensor(time, dtype=torch.float64) * self.schedule.T).long()
        t = t.expand(len(x))
        a, s = self.schedule.coefficients(t, x.double())
        x0_hat = self.denoiser.denoise(x, a, s).double()
        return ((x.double() - a * x0_hat) / s).to(x.dtype)


class ExactVelocity(nn.Module):
    """The flow-matching velocity v(x, t) = E[eps - x_0 | x_t = x] for x_t = (1 - t) x_0 + t eps,
    from an exact denoiser."""

    def __init__(self, denoiser: GaussianDenoiser | MixtureDenoiser) -> None:
        super().__init__()
        self.denoiser = denoiser

    def forward(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(time, dtype=torch.float64).expand(len(x))[:, None]
        x0_hat = self.denoiser.denoise(x, 1 - t, t).double()
        return ((x.double() - x0_hat) / t).to(x.dtype)  # (x - (1 - t) x0)/t - x0 = eps - x0


class GaussianPlusNetwork(nn.Module):
    """Noise predictor eps(x, t) = eps_Gauss(x, t) + net(x, t): the closed-form predictor of the
    data's Gaussian fit plus a learned correction that starts at zero.

    At high noise the Gaussian (covariance) part of the score is nearly the whole story (Wang &
    Vastola 2023; Li, Dai & Qu 2024), and a network trained on few images needs long training to
    match it at low noise. Given in closed form, it leaves the network the non-Gaussian structure.
    """

    def __init__(self, gaussian: GaussianDenoiser, schedule: NoiseSchedule, net: nn.Module) -> None:
        super().__init__()
        self.gaussian, self.net = ExactEpsilon(gaussian, schedule), net
        last = [m for m in net.modules() if isinstance(m, nn.Linear)][-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        return self.gaussian(x, time) + self.net(x, time)


# ----------------------------------------------------------------------------------------------
# Continuous-time VP process (for checking the probability-flow ODE numerically)
# ----------------------------------------------------------------------------------------------
def vp_alpha_bar(t: float, beta_min: float = 0.1, beta_max: float = 20.0) -> float:
    """abar(t) = exp(-int_0^t beta(s) ds), beta(s) = beta_min + s (beta_max - beta_min), t <= 1:
    the continuous limit of the linear DDPM schedule (Song et al. 2021)."""
    return math.exp(-(beta_min * t + 0.5 * (beta_max - beta_min) * t**2))


def vp_pf_ode_drift(
    x: np.ndarray, t: float, score: np.ndarray, beta_min: float = 0.1, beta_max: float = 20.0
) -> np.ndarray:
    """Right-hand side of the VP probability-flow ODE, dx/dt = -beta(t)/2 (x + grad log p_t(x))
    (Song et al. 2021, eq. 13)."""
    return -0.5 * (beta_min + t * (beta_max - beta_min)) * (x + score)


# ----------------------------------------------------------------------------------------------
# Generalization versus memorization (Kadkhodaie et al. 2024)
# ----------------------------------------------------------------------------------------------
class Ensemble(nn.Module):
    """M independent copies of one network, evaluated in one vectorized call (``torch.func.vmap``).

    Member k reads and writes columns k d .. (k + 1) d of x, of shape (batch, M d). The loss sums
    over columns, so ``train_diffusion`` on (batch, M d) data trains every member on its own columns
    exactly as alone (Adam acts element by element); members share only the draws of t.
    """

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        params, buffers = torch.func.stack_module_state(members)
        self.base, self.size = copy.deepcopy(members[0]), len(members)
        self.names, self.buffer_names = list(params), list(buffers)
        self.stacked = nn.ParameterList(nn.Parameter(p.detach()) for p in params.values())
        for k, buffer in enumerate(buffers.values()):
            self.register_buffer(f"buffer{k}", buffer)

    def forward(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        batch = len(x)
        columns = x.reshape(batch, self.size, -1).transpose(0, 1)  # (M, batch, d)
        params = dict(zip(self.names, self.stacked))
        buffers = {n: getattr(self, f"buffer{k}") for k, n in enumerate(self.buffer_names)}

        def member(p: dict, b: dict, xk: torch.Tensor) -> torch.Tensor:
            return torch.func.functional_call(self.base, (p, b), (xk, time))

        out = torch.func.vmap(member)(params, buffers, columns)
        return out.transpose(0, 1).reshape(batch, -1)


@dataclass
class HalfSplit:
    """Outcome of one two-model comparison at training-set size n."""

    n: int
    ratio: float  # median over samples of d(x_A, D_A) / d(x_A, D_B)
    a_b_distance: float  # median |x_A - x_B| for samples from the same noise
    samples_a: torch.Tensor
    samples_b: torch.Tensor


def half_split_sweep(
    pools: list[np.ndarray],
    sizes: list[int],
    schedule: NoiseSchedule,
    noise: torch.Tensor,
    n_steps: int = 1000,
    hidden: int = 64,
    depth: int = 2,
    batch_size: int = 128,
    seed: int = 0,
    ddim_steps: int = 100,
) -> list[list[HalfSplit]]:
    """Kadkhodaie et al. (ICLR 2024): for each pool and size n, train two denoisers on disjoint sets
    D_A = pool[:n], D_B = pool[n:2n], sample both with DDIM from the same ``noise`` and compare.
    Memorization: d(x_A, D_A) / d(x_A, D_B) near 0 (x_A sits on its own training set).
    Generalization: a ratio near 1 and x_A close to x_B. All 2 len(pools) len(sizes) models train
    as one ``Ensemble``.
    Returns results[pool][size]."""
    from .stats import nearest_distance

    length = math.lcm(*sizes)
    sets, columns = [], []
    for pool in pools:
        for n in sizes:
            if len(pool) < 2 * n:
                need = f"two disjoint sets of {n} need {2 * n}"
                raise ValueError(f"the pool has {len(pool)} points; {need}")
            for half in (0, 1):
                points = torch.as_tensor(pool[half * n : (half + 1) * n], dtype=torch.float32)
                sets.append(points)
                columns.append(points.repeat(length // n, 1))  # uniform draws from the n points
    torch.manual_seed(seed)
    model = Ensemble([TimeMLP(sets[0].shape[1], hidden, depth) for _ in sets])
    train_diffusion(model, torch.cat(columns, 1), schedule, n_steps, batch_size, seed=seed,
                    show_progress=False)
    x = sample_ddim(model, noise.repeat(1, len(sets)), schedule, ddim_steps).x
    samples = x.reshape(len(noise), len(sets), -1).transpose(0, 1)
    results, k = [], 0
    for _ in pools:
        row = []
        for n in sizes:
            a, b = samples[k], samples[k + 1]
            ratio = nearest_distance(a, sets[k]) / nearest_distance(a, sets[k + 1])
            gap = float((a - b).norm(dim=1).median())
            row.append(HalfSplit(n, float(ratio.median()), gap, a, b))
            k += 2
        results.append(row)
    return results


def half_split_experiment(
    pool: np.ndarray, n: int, schedule: NoiseSchedule, noise: torch.Tensor, **kwargs
) -> HalfSplit:
    """One pool and one size n of ``half_split_sweep``."""
    return half_split_sweep([pool], [n], schedule, noise, **kwargs)[0][0]
