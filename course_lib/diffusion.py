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
(batch,): t / T for DDPM (it returns eps), t for flow matching (it returns v). Each sampler is one
step function (``ddpm_step``, ``ddim_step``, ``flow_matching_step``, like a diffusers scheduler's
``step``) driven by one reverse loop. The exact denoisers ``GaussianDenoiser`` (Gaussian data:
closed form, including the probability-flow trajectory of Wang & Vastola 2023) and
``MixtureDenoiser`` (Gaussian mixtures, and a finite training set: the memorizing optimum) give
E[x_0 | alpha x_0 + sigma eps = x]; ``ExactEpsilon`` and ``ExactVelocity`` turn them into models
that every sampler accepts.
``memorization`` builds on these to ask when a trained model copies its training set.
``sample_interpolant_sde`` turns a flow-matching velocity into a family of SDEs (Albergo, Boffi &
Vanden-Eijnden 2023): the velocity gives the score, and any amount of noise eps(t) >= 0 keeps the
flow's marginals while changing its paths.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import rng
from .checks import (
    check_count,
    check_finite,
    check_fraction,
    check_points,
    check_positive,
    check_weights,
)
from .optim import minimize
from .rng import Seed, torch_generator
from .sampling import GaussianMixture

__all__ = [
    "NoiseSchedule", "forward_marginal", "q_sample", "predict_x0", "ddpm_loss", "denoising_error",
    "flow_matching_loss", "TimeMLP", "train_diffusion", "Reverse", "ddpm_step",
    "ddim_step", "flow_matching_step", "sample_ddpm", "sample_ddim", "sample_flow_matching",
    "x0_variance", "GaussianDenoiser", "MixtureDenoiser", "ExactEpsilon", "ExactVelocity",
    "GaussianPlusNetwork", "Guided", "ExactConditional", "vp_alpha_bar", "vp_pf_ode_drift",
    "velocity_to_score", "interpolant_sde_step", "sample_interpolant_sde", "interpolant_marginal",
    "interpolant_noise_correlation",
]

Clip = tuple[float, float] | None
Labels = torch.Tensor | np.ndarray | int | None


# ----------------------------------------------------------------------------------------------
# Argument checks shared by this module
# ----------------------------------------------------------------------------------------------
def _check_schedule(schedule: object) -> NoiseSchedule:
    if not isinstance(schedule, NoiseSchedule):
        raise TypeError(f"schedule must be a NoiseSchedule, got {type(schedule).__name__}")
    return schedule


def _check_model(model: object) -> nn.Module:
    if not callable(model):
        raise TypeError(f"model must be callable as model(x, time), got {type(model).__name__}")
    return model


def _check_step(t: object, name: str, low: int, high: int) -> int:
    t = check_count(t, name, low)
    if t > high:
        raise ValueError(f"{name} must lie in {low}..{high}, got {t}")
    return t


def _check_tensor(value: object, name: str) -> torch.Tensor:
    if not torch.is_tensor(value):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def _check_same_shape(value: torch.Tensor, name: str, x: torch.Tensor, x_name: str) -> None:
    if not torch.is_tensor(value) or value.shape != x.shape:
        shape = tuple(value.shape) if torch.is_tensor(value) else type(value).__name__
        raise ValueError(f"{name} must have the shape of {x_name} {tuple(x.shape)}, got {shape}")


def _check_clip(clip: Clip) -> Clip:
    if clip is not None and (len(clip) != 2 or not clip[0] < clip[1]):
        raise ValueError(f"clip must be None or a range (low, high) with low < high, got {clip}")
    return clip


def _check_labels(
    labels: object, name: str, high: int | None, x: torch.Tensor | None
) -> torch.Tensor:
    """Class labels as an int64 tensor: one integer, or a 1D tensor or array, each in
    0..high - 1 (``high`` None: any integer >= 0). Given the points ``x``: on their device, one
    label per row (a single label is repeated)."""
    is_integer = isinstance(labels, (int, np.integer)) and not isinstance(labels, bool)
    if not (is_integer or torch.is_tensor(labels) or isinstance(labels, np.ndarray)):
        kind = type(labels).__name__
        raise TypeError(f"{name} must be integers (a tensor, an array or an int), got {kind}")
    device = x.device if x is not None else _device_of(labels)
    labels = torch.as_tensor(labels, device=device)
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"{name} must be integer class labels, got {labels.dtype}")
    rows = "" if x is None else f" ({len(x)})"
    if labels.ndim > 1 or (x is not None and labels.ndim == 1 and len(labels) != len(x)):
        shape = tuple(labels.shape)
        raise ValueError(f"{name} must be one label or one per row{rows}, got shape {shape}")
    if labels.device.type != "meta" and labels.numel():
        low, top = int(labels.min()), int(labels.max())
        if low < 0 or (high is not None and top >= high):
            bound = "0.." + ("" if high is None else str(high - 1))
            raise ValueError(f"{name} must lie in {bound}, got values from {low} to {top}")
    labels = labels.long()
    return labels.expand(len(x)) if x is not None and labels.ndim == 0 else labels


def _device_of(value: object) -> torch.device:
    return value.device if torch.is_tensor(value) else torch.device("cpu")


def _dtype_of(value: object) -> torch.dtype:
    """Floating dtype of an input tensor or array (torch's default dtype for anything else)."""
    if torch.is_tensor(value) and value.is_floating_point():
        return value.dtype
    numpy_types = {np.dtype("float32"): torch.float32, np.dtype("float64"): torch.float64}
    if isinstance(value, np.ndarray) and value.dtype in numpy_types:
        return numpy_types[value.dtype]
    return torch.get_default_dtype()


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
        if not torch.is_tensor(b):
            raise TypeError(f"betas must be a torch.Tensor, got {type(b).__name__}")
        if b.ndim != 1 or len(b) == 0:
            raise ValueError(f"betas must be a non-empty 1D tensor, got shape {tuple(b.shape)}")
        if not bool(((b > 0) & (b < 1)).all()):
            raise ValueError("betas must lie in (0, 1): every beta_t")
        ones = torch.ones(1, dtype=b.dtype, device=b.device)
        alpha_bar = torch.cat([ones, torch.cumprod(1 - b, 0)])
        # computed once (the schedule is immutable): abar and the two coefficient tables
        object.__setattr__(self, "_alpha_bar", alpha_bar.double())
        tables = torch.stack([alpha_bar.sqrt(), (1 - alpha_bar).sqrt()]).double()
        object.__setattr__(self, "_tables", tables)

    @classmethod
    def linear(
        cls, T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02
    ) -> NoiseSchedule:
        """Ho et al. (2020): beta_t linear from 1e-4 to 0.02 over T = 1000 steps (times 1000/T for
        other T). The schedule lives on the CPU; ``coefficients`` moves it to the data."""
        T = check_count(T, "T")
        scale = 1000 / T
        check_positive(beta_start, "beta_start")
        if check_positive(beta_end, "beta_end") * scale >= 1:
            raise ValueError(f"beta_end * 1000 / T must be < 1, got {beta_end * scale} (T = {T})")
        betas = torch.linspace(
            beta_start * scale, beta_end * scale, T, dtype=torch.float64, device="cpu"
        )
        return cls(betas)

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
        ``like`` of shape (batch, ...), on its device and in its dtype."""
        t = _as_steps(t, self.T, like) if check else t
        table = self._tables.to(device=like.device, dtype=like.dtype)[:, t]
        a, s = table.reshape(2, -1, *([1] * (like.ndim - 1)))
        return a, s


def _as_steps(t: torch.Tensor | int, T: int, like: torch.Tensor, low: int = 0) -> torch.Tensor:
    """Steps t (one integer, or one per row of ``like``) checked to lie in low..T."""
    if not torch.is_tensor(like):
        raise TypeError(f"expected a torch.Tensor of shape (batch, ...), got {type(like).__name__}")
    if isinstance(t, (int, np.integer)) and not isinstance(t, bool):
        if not low <= t <= T:
            raise ValueError(f"t must lie in {low}..{T}, got {t}")
        return int(t)
    t = torch.as_tensor(t, device=t.device if torch.is_tensor(t) else like.device)
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"t must be integers in {low}..{T} (diffusion steps), got {t.dtype}")
    if t.ndim > 1 or (t.ndim == 1 and len(t) != len(like)):
        need = f"one step or one per row ({len(like)})"
        raise ValueError(f"t must be {need}, got shape {tuple(t.shape)}")
    if int(t.min()) < low or int(t.max()) > T:
        values = f"values from {int(t.min())} to {int(t.max())}"
        raise ValueError(f"t must lie in {low}..{T}, got {values}")
    return t.expand(len(like)) if t.ndim == 0 else t


def forward_marginal(
    x0: torch.Tensor, t: torch.Tensor | int, schedule: NoiseSchedule
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)
    (Ho et al. 2020, eq. 4)."""
    x0 = check_points(x0, "x0")
    a, s = _check_schedule(schedule).coefficients(t, x0)
    return a * x0, s.expand_as(x0)


def q_sample(
    x0: torch.Tensor,
    t: torch.Tensor | int,
    schedule: NoiseSchedule,
    noise: torch.Tensor | None = None,
    generator: Seed = None,
) -> torch.Tensor:
    """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps: a draw of the forward marginal, with the
    given ``noise`` eps or eps = randn(x0.shape, generator)."""
    x0 = check_points(x0, "x0")
    if noise is None:
        noise = rng.randn(x0.shape, x0, torch_generator(generator))
    _check_same_shape(noise, "noise", x0, "x0")
    mean, std = forward_marginal(x0, t, schedule)
    return mean + std * noise


def predict_x0(
    x_t: torch.Tensor, eps: torch.Tensor, t: torch.Tensor | int, schedule: NoiseSchedule
) -> torch.Tensor:
    """Tweedie's formula with the noise prediction:
    x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)."""
    _check_same_shape(eps, "eps", check_points(x_t, "x_t"), "x_t")
    a, s = _check_schedule(schedule).coefficients(t, x_t)
    return (x_t - s * eps) / a


def _predict(
    model: nn.Module, x: torch.Tensor, time: torch.Tensor, labels: Labels
) -> torch.Tensor:
    """model(x, time), or model(x, time, labels) for a class-conditional model."""
    if labels is None:
        return _check_model(model)(x, time)
    return _check_model(model)(x, time, _check_labels(labels, "labels", None, x))


def ddpm_loss(
    model: nn.Module,
    x0: torch.Tensor,
    schedule: NoiseSchedule,
    generator: Seed = None,
    labels: Labels = None,
) -> torch.Tensor:
    """Ho et al. (2020) simple loss: squared error of the noise prediction, t ~ U{1..T},
    eps ~ N(0, I) (drawn in that order); with ``labels``, of model(x_t, time, labels)."""
    x0, generator = check_points(x0, "x0"), torch_generator(generator)
    T = _check_schedule(schedule).T
    t = rng.randint(1, T + 1, (len(x0),), x0, generator)
    noise = rng.randn(x0.shape, x0, generator)
    a, s = schedule.coefficients(t, x0, check=False)  # t was drawn in range just above
    prediction = _predict(model, a * x0 + s * noise, t.to(x0.dtype) / T, labels)
    return ((prediction - noise) ** 2).sum(-1).mean()


@torch.no_grad()
def denoising_error(
    model: nn.Module, x0: torch.Tensor, t: int, schedule: NoiseSchedule, generator: Seed = None
) -> tuple[float, float]:
    """The DDPM loss at one step t, E||eps - eps_theta(x_t, t)||^2, estimated on the points ``x0``
    (one noise draw each): returns the mean and its standard error."""
    x0 = check_points(x0, "x0")
    if len(x0) < 2:
        raise ValueError(f"x0 needs at least 2 points for a standard error, got {len(x0)}")
    t = _check_step(t, "t", 1, _check_schedule(schedule).T)
    noise = rng.randn(x0.shape, x0, torch_generator(generator))
    x_t = q_sample(x0, t, schedule, noise)
    time = torch.full((len(x0),), t / schedule.T, dtype=x0.dtype, device=x0.device)
    error = ((_check_model(model)(x_t, time) - noise) ** 2).sum(-1)
    return error.mean().item(), (error.std() / math.sqrt(len(error))).item()


def flow_matching_loss(
    model: nn.Module, x0: torch.Tensor, generator: Seed = None, labels: Labels = None
) -> torch.Tensor:
    """Conditional flow matching with the straight path x_t = (1 - t) x_0 + t eps: regress
    v_theta(x_t, t) on eps - x_0, with t ~ U[0, 1) and eps ~ N(0, I) (drawn in that order);
    with ``labels``, v_theta(x_t, t, labels)."""
    x0, generator = check_points(x0, "x0"), torch_generator(generator)
    t = rng.rand((len(x0),), x0, generator)
    noise = rng.randn(x0.shape, x0, generator)
    x_t = (1 - t[:, None]) * x0 + t[:, None] * noise
    return ((_predict(model, x_t, t, labels) - (noise - x0)) ** 2).sum(-1).mean()


# ----------------------------------------------------------------------------------------------
# Network and training
# ----------------------------------------------------------------------------------------------
class TimeMLP(nn.Module):
    """Residual MLP f(x, time) for eps- or velocity-prediction; time in [0, 1] enters through
    sinusoidal features (Vaswani et al. 2017) added to every block.

    With ``num_classes`` it is class-conditional, f(x, time, labels): a learned embedding of the
    labels 0..num_classes - 1 and of the null label num_classes ("no label", used when labels is
    None) is added to the time features, as in classifier-free guidance (Ho & Salimans 2022).

    Like ``nn.Linear`` it is built on torch's default device. With ``generator`` its weights are
    drawn from it (``rng.build``: PyTorch's default initialization) and torch's global streams
    (the CPU's and the default device's) are left alone."""

    def __init__(
        self,
        dim: int,
        hidden: int = 128,
        depth: int = 3,
        time_features: int = 32,
        generator: Seed = None,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        self.dim, hidden = check_count(dim, "dim"), check_count(hidden, "hidden")
        depth = check_count(depth, "depth")
        time_features = check_count(time_features, "time_features")
        if time_features % 2:
            raise ValueError(f"time_features must be even (sin and cos), got {time_features}")
        frequencies = torch.exp(torch.linspace(0, math.log(1000.0), time_features // 2))
        self.register_buffer("frequencies", frequencies)
        generator = torch_generator(generator)  # one stream for the layers, built in this order
        self.inp = rng.build(lambda: nn.Linear(dim, hidden), generator)
        self.time = rng.build(
            lambda: nn.ModuleList(nn.Linear(time_features, hidden) for _ in range(depth)), generator
        )
        block = lambda: nn.Sequential(  # noqa: E731
            nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden)
        )
        self.blocks = rng.build(lambda: nn.ModuleList(block() for _ in range(depth)), generator)
        self.out = rng.build(lambda: nn.Sequential(nn.SiLU(), nn.Linear(hidden, dim)), generator)
        # built last, so that an unconditional model draws the same weights as before
        self.num_classes, self.label = None, None
        if num_classes is not None:
            self.num_classes = check_count(num_classes, "num_classes")
            # the embedding as a matrix applied to one-hot labels (its last row: the null label)
            embedding = lambda: nn.Linear(num_classes + 1, hidden, bias=False)  # noqa: E731
            self.label = rng.build(embedding, generator)

    def forward(
        self, x: torch.Tensor, time: torch.Tensor | float, labels: Labels = None
    ) -> torch.Tensor:
        """x of shape (batch, dim), time of shape (batch,) or a 0-dim tensor (or a number);
        labels (class-conditional model only) one integer or one per row, num_classes or None
        for the null label."""
        if not torch.is_tensor(x) or x.ndim != 2 or x.shape[1] != self.dim:
            shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise ValueError(f"expected x of shape (batch, {self.dim}), got {shape}")
        time = torch.as_tensor(time, dtype=x.dtype, device=x.device)
        if time.ndim > 1 or (time.ndim == 1 and len(time) != len(x)):
            shape = tuple(time.shape)
            raise ValueError(f"time must be one number or one per row of x, got shape {shape}")
        angles = time.expand(len(x))[:, None] * self.frequencies
        features = torch.cat([angles.sin(), angles.cos()], -1)
        if self.num_classes is None and labels is not None:
            raise ValueError("labels need a class-conditional model: TimeMLP(num_classes=...)")
        label = 0
        if self.num_classes is not None:
            labels = self.num_classes if labels is None else labels
            labels = _check_labels(labels, "labels", self.num_classes + 1, x)
            one_hot = nn.functional.one_hot(labels, self.num_classes + 1).to(x.dtype)
            label = self.label(one_hot)
        h = self.inp(x)
        for time_layer, block in zip(self.time, self.blocks, strict=True):
            h = h + block(h + time_layer(features) + label)
        return self.out(h)


def train_diffusion(
    model: nn.Module,
    data: torch.Tensor | np.ndarray,
    schedule: NoiseSchedule | None = None,
    n_steps: int = 2000,
    batch_size: int = 256,
    lr: float = 2e-3,
    generator: Seed = 0,
    show_progress: bool = True,
    callback: Callable[[int, nn.Module], None] | None = None,
    labels: Labels = None,
    label_dropout: float = 0.0,
) -> list[float]:
    """Adam with a cosine learning-rate decay to zero (``optim.minimize``; it plays the role of the
    weight averaging of large models) on the DDPM loss, or on the flow-matching loss if
    ``schedule`` is None. Each step draws a batch (with replacement), then the loss's t and eps,
    all from ``generator``. ``callback(step, model)`` runs after every step (for snapshots).
    With ``labels`` (one class per data row) a class-conditional model learns eps(x, t, c); each
    label of the batch becomes the null label with probability ``label_dropout`` (drawn after
    the batch), so one network also learns eps(x, t) (Ho & Salimans 2022, Algorithm 1).
    The model keeps its device, dtype and train/eval mode. Returns the losses."""
    parameters = list(model.parameters()) if isinstance(model, nn.Module) else []
    if not parameters:
        raise ValueError("model must be an nn.Module with parameters to train")
    first = parameters[0]
    data = check_points(torch.as_tensor(data, dtype=first.dtype, device=first.device), "data")
    if schedule is not None:
        _check_schedule(schedule)
    n_steps, batch_size = check_count(n_steps, "n_steps"), check_count(batch_size, "batch_size")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable as callback(step, model), got {callback!r}")
    label_dropout = check_fraction(label_dropout, "label_dropout")
    if labels is not None:
        null = _check_conditional(model, "labels need a model that is")
        labels = _check_labels(labels, "labels", null, data)
    elif label_dropout > 0:
        raise ValueError("label_dropout needs labels (it drops them to the null label)")
    generator = torch_generator(generator)

    def loss(step: int) -> torch.Tensor:
        index = rng.randint(0, len(data), (batch_size,), data, generator)
        x0, batch_labels = data[index], None if labels is None else labels[index]
        if label_dropout > 0:
            dropped = rng.rand((batch_size,), data, generator) < label_dropout
            batch_labels = torch.where(dropped, null, batch_labels)
        if schedule is None:
            return flow_matching_loss(model, x0, generator, batch_labels)
        return ddpm_loss(model, x0, schedule, generator, batch_labels)

    after = None if callback is None else lambda step: callback(step, model)
    was_training = model.training
    model.train()
    try:
        return minimize(loss, parameters, n_steps, lr=lr, cosine=True, callback=after,
                        desc="diffusion", show_progress=show_progress)
    finally:
        model.train(was_training)


# ----------------------------------------------------------------------------------------------
# Samplers: one step function per method, one reverse loop for all
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


def ddpm_step(
    eps: torch.Tensor,
    t: int,
    x_t: torch.Tensor,
    schedule: NoiseSchedule,
    generator: Seed = None,
    clip: Clip = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One ancestral step t -> t - 1 (Ho et al. 2020, Algorithm 2) in its posterior form:
    x_{t-1} ~ q(x_{t-1} | x_t, x0_hat) = N(c0 x0_hat + ct x_t, beta_tilde_t I), with x0_hat from
    Tweedie's formula (optionally clipped to the data range). Without clipping this is exactly
    x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(1 - beta_t) + sqrt(beta_tilde_t) z,
    with z = randn(x.shape, generator) drawn for t > 1 only. Returns (x_{t-1}, x0_hat)."""
    t = _check_step(t, "t", 1, _check_schedule(schedule).T)
    abar, betas = schedule.alpha_bar, schedule.betas
    x0_hat = predict_x0(x_t, eps, t, schedule)
    if _check_clip(clip) is not None:
        x0_hat = x0_hat.clamp(*clip)
    c0 = abar[t - 1].sqrt() * betas[t - 1] / (1 - abar[t])
    ct = (1 - betas[t - 1]).sqrt() * (1 - abar[t - 1]) / (1 - abar[t])
    x = c0 * x0_hat + ct * x_t
    if t > 1:
        variance = betas[t - 1] * (1 - abar[t - 1]) / (1 - abar[t])
        x = x + variance.sqrt() * rng.randn(x.shape, x, torch_generator(generator))
    return x, x0_hat


def ddim_step(
    eps: torch.Tensor,
    t: int,
    t_prev: int,
    x_t: torch.Tensor,
    schedule: NoiseSchedule,
    clip: Clip = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One deterministic DDIM step t -> t_prev (eta = 0; Song, Meng & Ermon 2021, eq. 12):
    x_{t_prev} = sqrt(abar_{t_prev}) x0_hat + sqrt(1 - abar_{t_prev}) eps. With clipping, eps is
    recomputed from the clipped x0_hat. Returns (x_{t_prev}, x0_hat)."""
    t = _check_step(t, "t", 1, _check_schedule(schedule).T)
    t_prev = _check_step(t_prev, "t_prev", 0, t)
    x0_hat = predict_x0(x_t, eps, t, schedule)
    if _check_clip(clip) is not None:
        x0_hat = x0_hat.clamp(*clip)
        a_t, s_t = schedule.coefficients(t, x_t, check=False)
        eps = (x_t - a_t * x0_hat) / s_t
    a_s, s_s = schedule.coefficients(t_prev, x_t, check=False)
    return a_s * x0_hat + s_s * eps, x0_hat


def flow_matching_step(
    v: torch.Tensor, t: float, dt: float, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One Euler step of dx/dt = v(x, t) from t to t - dt (towards the data at t = 0). On the
    straight path x_t = (1 - t) x_0 + t eps the denoised estimate is x0_hat = x_t - t v.
    Returns (x_{t - dt}, x0_hat)."""
    t, dt = check_positive(t, "t"), check_positive(dt, "dt")
    _check_same_shape(v, "v", _check_tensor(x, "x"), "x")
    return x - dt * v, x - t * v


@torch.no_grad()
def _reverse(
    model: nn.Module,
    x: torch.Tensor,
    steps: list[int],
    times: list[float],
    step: Callable[[torch.Tensor, int, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    keep: set[int],
) -> Reverse:
    """The loop behind every sampler: at the k-th reverse step evaluate model(x, times[k]) and
    move with step(output, k, x) -> (next x, x0_hat); keep x and x0_hat at the steps in keep."""
    kept, states, denoised = [], [], []
    for k, (label, time) in enumerate(zip(steps, times, strict=True)):
        output = model(x, torch.full((len(x),), time, dtype=x.dtype, device=x.device))
        x_next, x0_hat = step(output, k, x)
        if label in keep:
            kept.append(label), states.append(x), denoised.append(x0_hat)
        x = x_next
    if x.device.type != "meta" and not bool(torch.isfinite(x).all()):
        raise FloatingPointError("the reverse process produced NaN or infinite values: check model")
    stack = lambda items: torch.stack(items) if items else x.new_empty((0, *x.shape))  # noqa: E731
    return Reverse(x, kept, stack(states), stack(denoised))


def _check_start(model: nn.Module, x: torch.Tensor, name: str) -> torch.Tensor:
    _check_model(model)
    return check_points(x, name).clone()


def sample_ddpm(
    model: nn.Module,
    x_T: torch.Tensor,
    schedule: NoiseSchedule,
    generator: Seed = None,
    keep: Iterable[int] = (),
    clip: Clip = None,
) -> Reverse:
    """Ancestral sampling (Ho et al. 2020, Algorithm 2): ``ddpm_step`` at t = T..1, with the noise
    of each step t > 1 drawn from ``generator`` in that order. ``keep``: steps whose x_t and
    x0_hat are returned."""
    x, T = _check_start(model, x_T, "x_T"), _check_schedule(schedule).T
    generator, keep, clip = torch_generator(generator), set(keep), _check_clip(clip)
    if any(not 1 <= t <= T for t in keep):
        raise ValueError(f"keep must hold steps in 1..{T}, got {sorted(keep)}")
    grid = list(range(T, 0, -1))
    step = lambda eps, k, x: ddpm_step(eps, grid[k], x, schedule, generator, clip)  # noqa: E731
    return _reverse(model, x, grid, [t / T for t in grid], step, keep)


def sample_ddim(
    model: nn.Module,
    x_start: torch.Tensor,
    schedule: NoiseSchedule,
    n_steps: int = 50,
    t_start: int | None = None,
    keep_all: bool = False,
    clip: Clip = None,
) -> Reverse:
    """Deterministic DDIM: ``ddim_step`` on ``n_steps`` evenly spaced steps from ``t_start``
    (default T) down to 0. It discretizes the probability-flow ODE; ``t_start`` < T starts from a
    state at step t_start. At most t_start steps (each one at least one step of the schedule)."""
    x, T = _check_start(model, x_start, "x_start"), _check_schedule(schedule).T
    n_steps, clip = check_count(n_steps, "n_steps"), _check_clip(clip)
    t_start = _check_step(T if t_start is None else t_start, "t_start", 1, T)
    if n_steps > t_start:
        raise ValueError(f"n_steps must be at most t_start = {t_start}, got {n_steps}")
    grid = torch.linspace(t_start, 0, n_steps + 1, dtype=torch.float32, device="cpu")
    grid = list(dict.fromkeys(grid.round().long().tolist()))  # strictly decreasing
    step = lambda eps, k, x: ddim_step(eps, grid[k], grid[k + 1], x, schedule, clip)  # noqa: E731
    keep = set(grid[:-1]) if keep_all else set()
    return _reverse(model, x, grid[:-1], [t / T for t in grid[:-1]], step, keep)


def sample_flow_matching(
    model: nn.Module, x_1: torch.Tensor, n_steps: int = 50, keep_all: bool = False
) -> Reverse:
    """Integrate dx/dt = v(x, t) from t = 1 (noise) to t = 0 (data) with ``n_steps`` Euler steps
    (``flow_matching_step``); ``steps`` counts them down, step k at time k / n_steps."""
    x, n_steps = _check_start(model, x_1, "x_1"), check_count(n_steps, "n_steps")
    dt = 1.0 / n_steps
    grid = list(range(n_steps, 0, -1))
    times = [k * dt for k in grid]
    step = lambda v, k, x: flow_matching_step(v, times[k], dt, x)  # noqa: E731
    return _reverse(model, x, grid, times, step, set(grid) if keep_all else set())


def x0_variance(run: Reverse) -> torch.Tensor:
    """Per sample: variance of the denoised estimate x0_hat over the kept (last) reverse steps,
    summed over dimensions. Aithal et al. (2024) flag hallucinated samples by a high value."""
    if not isinstance(run, Reverse):
        raise TypeError(f"run must be a Reverse (a sampler's result), got {type(run).__name__}")
    if len(run.steps) < 2:
        raise ValueError("run must keep at least two reverse steps (for the variance of x0_hat)")
    return run.denoised.var(0).sum(-1)


# ----------------------------------------------------------------------------------------------
# Exact denoisers: E[x_0 | alpha x_0 + sigma eps = x]
# ----------------------------------------------------------------------------------------------
def _check_noise_levels(alpha: torch.Tensor | float, sigma: torch.Tensor | float) -> None:
    # numbers are checked here; tensors (one level per row, inside samplers) are left unchecked
    if not torch.is_tensor(alpha):
        check_positive(alpha, "alpha", allow_zero=True)
    if not torch.is_tensor(sigma):
        check_positive(sigma, "sigma")


def _as_double(value: torch.Tensor | float) -> torch.Tensor | float:
    return value.double() if torch.is_tensor(value) else float(value)


class GaussianDenoiser:
    """Exact denoiser, score and probability-flow trajectory for Gaussian data x_0 ~ N(mean, cov).

    With x = alpha x_0 + sigma eps the posterior mean is linear,
        E[x_0 | x] = mean + alpha cov (alpha^2 cov + sigma^2 I)^-1 (x - alpha mean),
    and the minimum mean squared error is sum_k lambda_k sigma^2 / (alpha^2 lambda_k + sigma^2)
    over the eigenvalues lambda_k of cov. For the VP diffusion the probability-flow ODE is linear
    too: in the eigenbasis u_k each coordinate of x - alpha mean scales as
    sqrt(alpha^2 lambda_k + sigma^2)
    (Wang & Vastola, "The hidden linear structure in score-based models", 2023).
    Computations run in float64; samples come in ``dtype`` (default: the dtype of ``mean``).
    """

    def __init__(
        self,
        mean: torch.Tensor | np.ndarray,
        cov: torch.Tensor | np.ndarray,
        dtype: torch.dtype | None = None,
    ) -> None:
        device, self.dtype = _device_of(mean), dtype or _dtype_of(mean)
        self.mean = torch.as_tensor(mean, dtype=torch.float64, device=device)
        cov = torch.as_tensor(cov, dtype=torch.float64, device=device)
        if self.mean.ndim != 1 or cov.shape != (len(self.mean), len(self.mean)):
            shapes = f"{tuple(self.mean.shape)} and {tuple(cov.shape)}"
            raise ValueError(f"mean must have shape (d,) and cov (d, d), got {shapes}")
        check_finite(self.mean, "mean"), check_finite(cov, "cov")
        self.eigenvalues, self.eigenvectors = torch.linalg.eigh((cov + cov.T) / 2)
        if float(self.eigenvalues.min()) < -1e-10:
            raise ValueError("cov must be positive semi-definite")
        self.eigenvalues = self.eigenvalues.clamp(min=0)
        self.cov = cov

    @classmethod
    def fit(cls, data: torch.Tensor | np.ndarray) -> GaussianDenoiser:
        """The Gaussian with the data's mean and (maximum-likelihood) covariance."""
        dtype = _dtype_of(data)
        data = torch.as_tensor(data, dtype=torch.float64, device=_device_of(data))
        data = check_points(data, "data")
        centred = data - data.mean(0)
        return cls(data.mean(0), centred.T @ centred / len(data), dtype)

    def _in_eigenbasis(self, x: torch.Tensor, alpha: torch.Tensor | float, factor) -> torch.Tensor:
        # returns U diag(factor(lambda)) U^T (x - alpha mean), in float64 on the device of x
        x = check_points(x, "x", len(self.mean))
        mean, vectors = self.mean.to(x.device), self.eigenvectors.to(x.device)
        y = (x.double() - alpha * mean) @ vectors
        return (y * factor(self.eigenvalues.to(x.device))) @ vectors.T

    def denoise(
        self, x: torch.Tensor, alpha: torch.Tensor | float, sigma: torch.Tensor | float
    ) -> torch.Tensor:
        """E[x_0 | alpha x_0 + sigma eps = x]; alpha, sigma scalars or of shape (batch, 1)."""
        _check_tensor(x, "x"), _check_noise_levels(alpha, sigma)
        alpha, sigma = _as_double(alpha), _as_double(sigma)
        shrink = lambda lam: alpha * lam / (alpha**2 * lam + sigma**2)  # noqa: E731
        out = self.mean.to(x.device) + self._in_eigenbasis(x, alpha, shrink)
        return out.to(x.dtype)

    def score(
        self, x: torch.Tensor, alpha: torch.Tensor | float, sigma: torch.Tensor | float
    ) -> torch.Tensor:
        """grad_x log p(x) of the noisy marginal N(alpha mean, alpha^2 cov + sigma^2 I)."""
        _check_tensor(x, "x"), _check_noise_levels(alpha, sigma)
        alpha, sigma = _as_double(alpha), _as_double(sigma)
        inverse = lambda lam: 1 / (alpha**2 * lam + sigma**2)  # noqa: E731
        return -self._in_eigenbasis(x, alpha, inverse).to(x.dtype)

    def mmse(self, alpha: float, sigma: float) -> float:
        """Minimum mean squared error E||x_0 - E[x_0 | x]||^2 (summed over dimensions)."""
        _check_noise_levels(float(alpha), float(sigma))
        lam = self.eigenvalues
        return float((lam * sigma**2 / (alpha**2 * lam + sigma**2)).sum())

    def pf_ode(self, x: torch.Tensor, alpha_bar_from: float, alpha_bar_to: float) -> torch.Tensor:
        """Closed-form solution of the VP probability-flow ODE (Wang & Vastola 2023): transport x
        from the noise level alpha_bar_from (< 1) to alpha_bar_to along the exact deterministic
        path."""
        if check_fraction(alpha_bar_from, "alpha_bar_from") == 1:
            raise ValueError("alpha_bar_from must be < 1 (a noisy state), got 1")
        a0 = math.sqrt(alpha_bar_from)
        a1 = math.sqrt(check_fraction(alpha_bar_to, "alpha_bar_to"))
        ratio = lambda lam: torch.sqrt(  # noqa: E731
            (a1**2 * lam + 1 - a1**2) / (a0**2 * lam + 1 - a0**2)
        )
        return (a1 * self.mean.to(x.device) + self._in_eigenbasis(x, a0, ratio)).to(x.dtype)

    def marginal_sample(self, n: int, alpha_bar: float, generator: Seed = None) -> torch.Tensor:
        """Draws of x_t ~ N(sqrt(abar) mean, abar cov + (1 - abar) I); alpha_bar = 1 samples the
        data Gaussian."""
        n, alpha_bar = check_count(n, "n"), check_fraction(alpha_bar, "alpha_bar")
        z = rng.randn((n, len(self.mean)), self.mean, torch_generator(generator))
        std = torch.sqrt(alpha_bar * self.eigenvalues + 1 - alpha_bar)
        return (math.sqrt(alpha_bar) * self.mean + (z * std) @ self.eigenvectors.T).to(self.dtype)

    def sample(self, n: int, generator: Seed = None) -> torch.Tensor:
        """Samples of the data Gaussian N(mean, cov)."""
        return self.marginal_sample(n, 1.0, generator)


def _scaled_squared_distances(
    x: torch.Tensor, alpha: torch.Tensor | float, points: torch.Tensor
) -> torch.Tensor:
    """|x_b - alpha p_k|^2 for every row x_b of x and every row p_k of points, shape (batch, k),
    without a (batch, k, dim) intermediate; ``alpha`` a number or a column (batch, 1)."""
    squared = (x**2).sum(-1, keepdim=True) - 2 * alpha * (x @ points.T)
    return (squared + alpha**2 * (points**2).sum(-1)).clamp(min=0)


class MixtureDenoiser:
    """Exact denoiser of an isotropic Gaussian mixture x_0 ~ sum_k w_k N(m_k, s_k^2 I)
    (the mixture itself, for sampling, is ``sampling.GaussianMixture``).

    The noisy marginal is sum_k w_k N(alpha m_k, (alpha^2 s_k^2 + sigma^2) I) and
        E[x_0 | x] = sum_k r_k(x) [m_k + alpha s_k^2 / (alpha^2 s_k^2 + sigma^2) (x - alpha m_k)],
    with r_k the posterior responsibilities. With ``stds = 0`` and equal weights this is the optimal
    denoiser of a finite training set: its probability flow can only return training points.
    Samples come in ``dtype`` (default: the dtype of ``means``).
    """

    def __init__(
        self,
        means: torch.Tensor | np.ndarray,
        stds: torch.Tensor | np.ndarray | float = 0.0,
        weights: torch.Tensor | np.ndarray | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        device, self.dtype = _device_of(means), dtype or _dtype_of(means)
        means = torch.as_tensor(means, dtype=torch.float64, device=device)
        if means.ndim != 2 or len(means) == 0:
            shape = tuple(means.shape)
            raise ValueError(f"means must have shape (components, dim), got {shape}")
        k = len(check_finite(means, "means"))
        stds = torch.as_tensor(stds, dtype=torch.float64, device=device)
        if stds.ndim > 1 or (stds.ndim == 1 and len(stds) != k):
            shape = tuple(stds.shape)
            raise ValueError(f"stds must be one number or one per component ({k}), got {shape}")
        stds = check_finite(stds.expand(k).clone(), "stds")
        if bool((stds < 0).any()):
            raise ValueError("stds must be non-negative")
        weights = torch.ones(k, device=device) if weights is None else weights
        weights = torch.as_tensor(weights, dtype=torch.float64, device=device)
        if weights.shape != (k,):
            shape = tuple(weights.shape)
            raise ValueError(f"weights must have one entry per component ({k}), got {shape}")
        check_weights(weights, "weights")
        with torch.device(device):  # GaussianMixture builds and draws on the default device
            self.mixture = GaussianMixture(weights, means, stds)
        self.means, self.stds = self.mixture.means, self.mixture.stds
        self.weights = self.mixture.weights  # normalized by GaussianMixture

    def denoise(
        self, x: torch.Tensor, alpha: torch.Tensor | float, sigma: torch.Tensor | float
    ) -> torch.Tensor:
        """E[x_0 | alpha x_0 + sigma eps = x]; alpha, sigma scalars or of shape (batch, 1)."""
        _check_tensor(x, "x"), _check_noise_levels(alpha, sigma)
        x = check_points(x, "x", self.means.shape[1])
        xd, d = x.double(), x.shape[1]
        means, stds, weights = (v.to(x.device) for v in (self.means, self.stds, self.weights))
        as_column = lambda v: torch.as_tensor(  # noqa: E731
            _as_double(v), dtype=torch.float64, device=x.device
        ).reshape(-1, 1)
        alpha, sigma = as_column(alpha), as_column(sigma)
        variance = alpha**2 * stds**2 + sigma**2  # (batch or 1, k)
        squared = _scaled_squared_distances(xd, alpha, means)
        log_r = weights.log() - squared / (2 * variance) - 0.5 * d * variance.log()
        r = torch.softmax(log_r, dim=-1)
        shrink = r * alpha * stds**2 / variance  # r_k times the per-component shrinkage
        out = r @ means + shrink.sum(-1, keepdim=True) * xd - alpha * (shrink @ means)
        return out.to(x.dtype)

    def sample(self, n: int, generator: Seed = None) -> torch.Tensor:
        """Samples of the mixture (``sampling.GaussianMixture.sample``: components, then noise)."""
        n = check_count(n, "n")
        with torch.device(self.means.device):
            return self.mixture.sample(n, torch_generator(generator)).to(self.dtype)


class ExactEpsilon(nn.Module):
    """A DDPM noise predictor eps(x, t) = (x - sqrt(abar_t) x0_hat) / sqrt(1 - abar_t) from an exact
    denoiser; time must lie in [1/T, 1]."""

    def __init__(
        self, denoiser: GaussianDenoiser | MixtureDenoiser, schedule: NoiseSchedule
    ) -> None:
        super().__init__()
        if not isinstance(denoiser, (GaussianDenoiser, MixtureDenoiser)):
            kind = type(denoiser).__name__
            raise TypeError(f"denoiser must be a GaussianDenoiser or MixtureDenoiser, got {kind}")
        self.denoiser, self.schedule = denoiser, _check_schedule(schedule)

    def forward(self, x: torch.Tensor, time: torch.Tensor | float) -> torch.Tensor:
        time = torch.as_tensor(time, dtype=torch.float64, device=_check_tensor(x, "x").device)
        T, steps = self.schedule.T, torch.round(time * self.schedule.T).long()
        if not bool(((steps >= 1) & (steps <= T)).all()):
            raise ValueError(f"time must lie in [1/T, 1] (T = {T}), got steps round(time T) off it")
        t = _as_steps(steps, T, x, low=1)
        a, s = self.schedule.coefficients(t, x.double(), check=False)
        x0_hat = self.denoiser.denoise(x, a, s).double()
        return ((x.double() - a * x0_hat) / s).to(x.dtype)


class ExactVelocity(nn.Module):
    """The flow-matching velocity v(x, t) = E[eps - x_0 | x_t = x] for x_t = (1 - t) x_0 + t eps,
    from an exact denoiser; time must lie in (0, 1]."""

    def __init__(self, denoiser: GaussianDenoiser | MixtureDenoiser) -> None:
        super().__init__()
        if not isinstance(denoiser, (GaussianDenoiser, MixtureDenoiser)):
            kind = type(denoiser).__name__
            raise TypeError(f"denoiser must be a GaussianDenoiser or MixtureDenoiser, got {kind}")
        self.denoiser = denoiser

    def forward(self, x: torch.Tensor, time: torch.Tensor | float) -> torch.Tensor:
        x = check_points(x, "x")
        t = torch.as_tensor(time, dtype=torch.float64, device=x.device).expand(len(x))[:, None]
        if x.device.type != "meta" and (float(t.min()) <= 0 or float(t.max()) > 1):
            raise ValueError(f"time must lie in (0, 1], got values from {t.min()} to {t.max()}")
        x0_hat = self.denoiser.denoise(x, 1 - t, t).double()
        return ((x.double() - x0_hat) / t).to(x.dtype)  # (x - (1 - t) x0)/t - x0 = eps - x0


class GaussianPlusNetwork(nn.Module):
    """Noise predictor eps(x, t) = eps_Gauss(x, t) + net(x, t): the closed-form predictor of the
    data's Gaussian fit plus a learned correction that starts at zero.

    At high noise the Gaussian (covariance) part of the score is nearly the whole story (Wang &
    Vastola 2023; Li, Dai & Qu 2024), and a network trained on few images needs long training to
    match it at low noise. Given in closed form, it leaves the network the non-Gaussian structure.
    ``net`` is copied (the copy's last nn.Linear is zeroed); the caller's net is left as it was.
    """

    def __init__(self, gaussian: GaussianDenoiser, schedule: NoiseSchedule, net: nn.Module) -> None:
        super().__init__()
        if not isinstance(gaussian, GaussianDenoiser):
            raise TypeError(f"gaussian must be a GaussianDenoiser, got {type(gaussian).__name__}")
        modules = net.modules() if isinstance(net, nn.Module) else []
        linear = [m for m in modules if isinstance(m, nn.Linear)]
        if not linear:
            raise ValueError("net must be an nn.Module with an nn.Linear output layer (set to 0)")
        self.gaussian, self.net = ExactEpsilon(gaussian, schedule), copy.deepcopy(net)
        last = [m for m in self.net.modules() if isinstance(m, nn.Linear)][-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        return self.gaussian(x, time) + self.net(x, time)


# ----------------------------------------------------------------------------------------------
# Conditional generation: classifier-free guidance
# ----------------------------------------------------------------------------------------------
def _check_conditional(model: object, what: str = "model must be") -> int:
    """The number of classes of a class-conditional model (its null label)."""
    num_classes = getattr(model, "num_classes", None)
    if not callable(model) or not isinstance(num_classes, int) or isinstance(num_classes, bool):
        raise ValueError(
            f"{what} class-conditional, model(x, time, labels) with an integer num_classes "
            f"(e.g. TimeMLP(num_classes=...)), got {type(model).__name__}"
        )
    return num_classes


class Guided(nn.Module):
    """Classifier-free guidance (Ho & Salimans 2022, eq. 6) of a class-conditional model:
        eps_w(x, t) = (1 + w) eps(x, t, c) - w eps(x, t, null),
    the score of p_t(x | c)^(1 + w) p_t(x)^(-w), i.e. grad log p_t(x | c) + w grad log p_t(c | x).
    w = 0 is the conditional model. ``model`` is called as model(x, time, labels) and as
    model(x, time) for the null label; ``labels``: one class for every row, or one per row.
    Called as model(x, time), it works with every sampler."""

    def __init__(self, model: nn.Module, labels: Labels, weight: float) -> None:
        super().__init__()
        num_classes = _check_conditional(model)
        self.model, self.weight = model, check_positive(weight, "weight", allow_zero=True)
        self.register_buffer("labels", _check_labels(labels, "labels", num_classes, None))

    def forward(self, x: torch.Tensor, time: torch.Tensor | float) -> torch.Tensor:
        labels = self.labels.to(_check_tensor(x, "x").device)
        if labels.ndim == 1 and len(labels) != len(x):
            raise ValueError(f"x must have one row per label ({len(labels)}), got {len(x)} rows")
        conditional = self.model(x, time, labels)
        if self.weight == 0:
            return conditional
        return (1 + self.weight) * conditional - self.weight * self.model(x, time)


class ExactConditional(nn.Module):
    """The exact class-conditional noise predictor for classes of known density: class c is an
    isotropic Gaussian mixture (a ``MixtureDenoiser``) of prior weight pi_c, so that eps(x, t, c)
    is its ``ExactEpsilon`` and the null label's eps(x, t) that of the whole mixture
    p(x) = sum_c pi_c p(x | c). Called like TimeMLP(num_classes=...): ``Guided`` accepts it."""

    def __init__(
        self,
        classes: list[MixtureDenoiser],
        schedule: NoiseSchedule,
        weights: torch.Tensor | np.ndarray | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(classes, (list, tuple)) or not classes or not all(
            isinstance(c, MixtureDenoiser) for c in classes
        ):
            raise TypeError("classes must be a non-empty list of MixtureDenoiser, one per class")
        if len({c.means.shape[1] for c in classes}) > 1:
            raise ValueError("classes must all live in the same dimension")
        k, device = len(classes), classes[0].means.device
        weights = torch.ones(k, dtype=torch.float64, device=device) if weights is None else weights
        weights = torch.as_tensor(weights, dtype=torch.float64, device=device)
        if weights.shape != (k,):
            shape = tuple(weights.shape)
            raise ValueError(f"weights must have one entry per class ({k}), got {shape}")
        self.num_classes, self.weights = k, check_weights(weights, "weights") / weights.sum()
        self.classes = nn.ModuleList(ExactEpsilon(c, schedule) for c in classes)
        whole = MixtureDenoiser(
            torch.cat([c.means for c in classes]),
            torch.cat([c.stds for c in classes]),
            torch.cat([w * c.weights for w, c in zip(self.weights, classes, strict=True)]),
            dtype=classes[0].dtype,
        )
        self.whole = ExactEpsilon(whole, schedule)

    def forward(
        self, x: torch.Tensor, time: torch.Tensor | float, labels: Labels = None
    ) -> torch.Tensor:
        """eps(x, t, c) for labels c (one, or one per row; num_classes or None: the null label)."""
        if labels is None:
            return self.whole(x, time)
        models = [*self.classes, self.whole]
        one = torch.is_tensor(labels) and labels.ndim == 0 or not torch.is_tensor(labels)
        labels = _check_labels(labels, "labels", self.num_classes + 1, _check_tensor(x, "x"))
        if one and labels.device.type != "meta":  # one class for all rows: one model to run
            return models[int(labels[0])](x, time)
        every = torch.stack([eps(x, time) for eps in models])
        return every[labels, torch.arange(len(x), device=x.device)]

    def log_prob(
        self, x: torch.Tensor, alpha_bar: float = 1.0, labels: Labels = None
    ) -> torch.Tensor:
        """log p_t(x | c) (log p_t(x) for the null label) of the noisy marginal at signal level
        alpha_bar: each component N(m, s^2 I) becomes N(sqrt(abar) m, (abar s^2 + 1 - abar) I)."""
        x, alpha_bar = check_points(x, "x"), check_fraction(alpha_bar, "alpha_bar")
        labels = _check_labels(self.num_classes if labels is None else labels, "labels",
                               self.num_classes + 1, x)
        every = []
        for eps in [*self.classes, self.whole]:
            mixture = eps.denoiser.mixture
            stds = torch.sqrt(alpha_bar * mixture.stds**2 + 1 - alpha_bar)
            noisy = GaussianMixture(mixture.weights, math.sqrt(alpha_bar) * mixture.means, stds)
            every.append(noisy.log_prob(x.double().to(stds.device)))
        every = torch.stack(every).to(x.device)
        return every[labels, torch.arange(len(x), device=x.device)].to(x.dtype)


# ----------------------------------------------------------------------------------------------
# Continuous-time VP process (for checking the probability-flow ODE numerically)
# ----------------------------------------------------------------------------------------------
def _check_betas(beta_min: float, beta_max: float) -> None:
    if check_positive(beta_max, "beta_max") < check_positive(beta_min, "beta_min"):
        raise ValueError(f"beta_max must be >= beta_min, got {beta_max} < {beta_min}")


def vp_alpha_bar(t: float, beta_min: float = 0.1, beta_max: float = 20.0) -> float:
    """abar(t) = exp(-int_0^t beta(s) ds), beta(s) = beta_min + s (beta_max - beta_min), t <= 1:
    the continuous limit of the linear DDPM schedule (Song et al. 2021)."""
    t = check_fraction(t, "t")
    _check_betas(beta_min, beta_max)
    return math.exp(-(beta_min * t + 0.5 * (beta_max - beta_min) * t**2))


def vp_pf_ode_drift(
    x: np.ndarray, t: float, score: np.ndarray, beta_min: float = 0.1, beta_max: float = 20.0
) -> np.ndarray:
    """Right-hand side of the VP probability-flow ODE, dx/dt = -beta(t)/2 (x + grad log p_t(x))
    (Song et al. 2021, eq. 13)."""
    t = check_fraction(t, "t")
    _check_betas(beta_min, beta_max)
    if np.shape(score) != np.shape(x):
        raise ValueError(f"score must have the shape of x {np.shape(x)}, got {np.shape(score)}")
    return -0.5 * (beta_min + t * (beta_max - beta_min)) * (x + score)


# ----------------------------------------------------------------------------------------------
# Stochastic interpolants: one velocity, a family of SDEs with the flow's marginals
# ----------------------------------------------------------------------------------------------
Diffusion = float | Callable[[float], float]


def _check_diffusion(diffusion: object) -> Diffusion:
    if callable(diffusion):
        return diffusion
    if isinstance(diffusion, bool) or not isinstance(diffusion, (int, float, np.number)):
        kind = type(diffusion).__name__
        raise TypeError(f"diffusion must be a number eps0 >= 0 or a callable eps(t), got {kind}")
    return check_positive(diffusion, "diffusion", allow_zero=True)


def _diffusion_at(diffusion: Diffusion, t: float) -> float:
    """eps(t): eps0 * t for a number eps0, diffusion(t) for a callable (checked finite, >= 0)."""
    if not callable(diffusion):
        return diffusion * t
    value = diffusion(t)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"diffusion(t) must return a number, got {type(value).__name__} at t={t}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"diffusion(t) must be a finite number >= 0, got {value} at t={t}")
    return float(value)


def velocity_to_score(v: torch.Tensor, x: torch.Tensor, t: float) -> torch.Tensor:
    """The score of the flow-matching marginal from its velocity. On x_t = (1 - t) x_0 + t eps,
    x = E[x_t | x_t] and v = E[eps - x_0 | x_t] give E[eps | x_t = x] = x + (1 - t) v, so
    grad log rho_t(x) = -E[eps | x_t = x] / t = -(x + (1 - t) v) / t, for t in (0, 1]
    (Albergo, Boffi & Vanden-Eijnden 2023, the score from the noise predictor)."""
    t = check_positive(t, "t")
    if t > 1:
        raise ValueError(f"t must lie in (0, 1], got {t}")
    _check_same_shape(v, "v", _check_tensor(x, "x"), "x")
    return -(x + (1 - t) * v) / t


def interpolant_sde_step(
    v: torch.Tensor,
    t: float,
    dt: float,
    x: torch.Tensor,
    diffusion: Diffusion = 1.0,
    generator: Seed = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One Euler-Maruyama step from t to t - dt of the reverse-time SDE with the flow's marginals
    (the backward SDE of Albergo, Boffi & Vanden-Eijnden 2023, in reversed time):
        x <- x - v dt + eps(t) s dt + sqrt(2 eps(t) dt) z,   s = velocity_to_score(v, x, t).
    ``diffusion``: eps0 for eps(t) = eps0 t, or a callable eps(t) >= 0. With eps0 t the score term
    eps(t) s = -eps0 (x + (1 - t) v) never divides by t, so errors of v are not blown up near the
    data. No noise on the step that reaches t = 0 (t <= dt); with eps(t) = 0 this is exactly
    ``flow_matching_step``. z = randn(x.shape, generator).
    Returns (x_{t - dt}, x0_hat = x - t v)."""
    diffusion = _check_diffusion(diffusion)
    x_next, x0_hat = flow_matching_step(v, t, dt, x)
    eps = _diffusion_at(diffusion, t)
    if eps == 0:
        return x_next, x0_hat
    x_next = x_next + (eps * dt) * velocity_to_score(v, x, min(t, 1.0))
    if t > dt:
        z = rng.randn(x.shape, x, torch_generator(generator))
        x_next = x_next + math.sqrt(2 * eps * dt) * z
    return x_next, x0_hat


def sample_interpolant_sde(
    model: nn.Module,
    x_1: torch.Tensor,
    n_steps: int = 50,
    diffusion: Diffusion = 1.0,
    generator: Seed = None,
    keep: Iterable[int] = (),
) -> Reverse:
    """Integrate the stochastic-interpolant SDE from t = 1 (noise) to t = 0 (data) with a
    flow-matching velocity ``model``: ``interpolant_sde_step`` on the grid of
    ``sample_flow_matching`` (step k at time k / n_steps), noise drawn from ``generator`` in that
    order. Every eps(t) >= 0 gives the same marginals rho_t as the ODE dx/dt = v, not the same
    paths; ``diffusion`` = 0 is ``sample_flow_matching`` exactly. ``keep``: steps k whose x_t and
    x0_hat are returned."""
    x, n_steps = _check_start(model, x_1, "x_1"), check_count(n_steps, "n_steps")
    generator, diffusion, keep = torch_generator(generator), _check_diffusion(diffusion), set(keep)
    if any(not 1 <= k <= n_steps for k in keep):
        raise ValueError(f"keep must hold steps in 1..{n_steps}, got {sorted(keep)}")
    dt = 1.0 / n_steps
    grid = list(range(n_steps, 0, -1))
    times = [k * dt for k in grid]
    step = lambda v, k, x: interpolant_sde_step(  # noqa: E731
        v, times[k], dt, x, diffusion, generator
    )
    return _reverse(model, x, grid, times, step, keep)


def interpolant_marginal(
    gaussian: GaussianDenoiser, t: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of x_t = (1 - t) x_0 + t eps for x_0 ~ N(mean, cov):
    ((1 - t) mean, (1 - t)^2 cov + t^2 I), the marginal every member of the family samples."""
    if not isinstance(gaussian, GaussianDenoiser):
        raise TypeError(f"gaussian must be a GaussianDenoiser, got {type(gaussian).__name__}")
    t = check_fraction(t, "t")
    eye = torch.eye(len(gaussian.mean), dtype=torch.float64, device=gaussian.mean.device)
    return (1 - t) * gaussian.mean, (1 - t) ** 2 * gaussian.cov + t**2 * eye


def interpolant_noise_correlation(
    gaussian: GaussianDenoiser, diffusion: Diffusion, t: float = 0.0
) -> torch.Tensor:
    """Exact correlation of u_k.x_t with u_k.x_1 (the starting noise) along the SDE of
    ``sample_interpolant_sde``, for each eigenvector u_k of the data covariance (the order of
    ``gaussian.eigenvalues``). With Gaussian data the SDE is linear: per eigendirection the
    cross-covariance C obeys dC/dt = (sigma'/sigma + eps(t) / sigma^2) C with
    sigma^2(t) = (1 - t)^2 lambda_k + t^2, so corr = exp(-int_t^1 eps(s) / sigma^2(s) ds):
    1 for the ODE, smaller the more noise (Cov(x_t, x_1) = U diag(sigma corr) U^T)."""
    from scipy.integrate import quad

    if not isinstance(gaussian, GaussianDenoiser):
        raise TypeError(f"gaussian must be a GaussianDenoiser, got {type(gaussian).__name__}")
    diffusion, t = _check_diffusion(diffusion), check_fraction(t, "t")
    rates = [
        quad(lambda s, lam=lam: _diffusion_at(diffusion, s) / ((1 - s) ** 2 * lam + s**2), t, 1)[0]
        for lam in gaussian.eigenvalues.tolist()
    ]
    return torch.exp(-torch.tensor(rates, dtype=torch.float64, device=gaussian.mean.device))
