"""Normalizing flows: invertible layers with tractable Jacobians, stacked into a density model.

Change of variables: if z = f(x) is invertible with base density p_Z, then
    log p(x) = log p_Z(f(x)) + log |det df/dx|.
Every layer is a ``FlowLayer`` with ``forward(x) -> (z, log_det)`` and ``inverse(z) -> x``; a
``Flow`` stacks them and offers ``log_prob`` and ``sample`` as in ``torch.distributions``.

Layers
    AdditiveCoupling  NICE: z_b = x_b + t(x_a), log-det 0                  (Dinh et al. 2015)
    Scaling           NICE's final diagonal scaling, log-det sum s
    AffineCoupling    RealNVP: z_b = x_b exp(s(x_a)) + t(x_a), log-det sum s   (Dinh et al. 2017)
    ActNorm           Glow: per-feature affine, initialized from data, log-det sum log|scale|
                      (Kingma & Dhariwal 2018)
    InvertibleLinear  Glow's invertible 1x1 mixing, W = P L (U + diag s), log-det sum log|s|
    MarginalGaussianization  a fixed per-feature map of dequantized integer data to N(0, 1)
On images, Glow's actnorm and 1x1 convolution act on channels and their log-dets are multiplied by
the number of spatial positions; here data are flat vectors, so the spatial size is 1.

Research bridge: ``effective_action_coefficients`` projects -log p_theta(x) of a trained flow on
polynomial features by least squares, reading out the couplings it has learned; compare with
``phi4_coefficients`` (after Merger et al., Phys. Rev. X 13, 041033 (2023), who instead expand the
action of a network with polynomial activations analytically).
"""

from __future__ import annotations

import abc
import contextlib
import copy
import math
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from . import rng
from .checks import check_count, check_finite, check_points, check_positive, check_real
from .latent import _gaussian_log_prob_full
from .optim import minimize
from .stats import gaussian_log_prob

__all__ = [
    "FlowLayer", "checkerboard_mask", "AdditiveCoupling", "Scaling", "AffineCoupling", "ActNorm",
    "InvertibleLinear", "MarginalGaussianization", "Flow", "nice", "realnvp", "glow",
    "randomize_parameters", "autograd_log_det", "grid_integral", "train_flow", "dequantized_nll",
    "gaussian_nll", "phi4_action", "phi4_coefficients", "effective_action_coefficients",
]


def _mlp(n_in: int, n_out: int, hidden: int, generator: torch.Generator | None) -> nn.Sequential:
    """A two-hidden-layer MLP whose last layer is zero, so every coupling starts as the identity.
    With a generator, the weights are drawn from it (the same draws as PyTorch's default init)."""
    hidden = check_count(hidden, "hidden")
    net = rng.build(lambda: nn.Sequential(
        nn.Linear(n_in, hidden), nn.GELU(),
        nn.Linear(hidden, hidden), nn.GELU(),
        nn.Linear(hidden, n_out),
    ), generator)
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    return net


@contextlib.contextmanager
def _evaluating(module: nn.Module) -> Iterator[nn.Module]:
    """``module`` in evaluation mode inside the block; every submodule's mode restored after."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, training in modes:
            m.training = training


class FlowLayer(nn.Module, metaclass=abc.ABCMeta):
    """An invertible layer z = f(x) of a flow, acting on batches of shape (batch, dim).

    Subclasses implement
        forward(x) -> (z, log_det): z = f(x) and log|det df/dx| per row, shape (batch,);
        inverse(z) -> x: the exact inverse, f^-1(z).
    """

    @abc.abstractmethod
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z = f(x) and log|det df/dx| per row."""

    @abc.abstractmethod
    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """x = f^-1(z)."""


def checkerboard_mask(
    dim: int, parity: int, *, device: torch.device | str | None = "cpu"
) -> torch.Tensor:
    """Boolean mask of the features that condition a coupling (the others are transformed)."""
    dim = check_count(dim, "dim")
    if parity not in (0, 1) or isinstance(parity, bool):
        raise ValueError(f"parity must be 0 or 1, got {parity!r}")
    return torch.arange(dim, device=device) % 2 == parity


def _coupling_mask(dim: int, mask: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``mask`` checked, as a boolean tensor on torch's default device (where nn.Linear puts the
    coupling's weights), and the number of features it selects."""
    dim = check_count(dim, "dim", minimum=2)
    if not torch.is_tensor(mask) or mask.shape != (dim,):
        shape = tuple(mask.shape) if torch.is_tensor(mask) else type(mask).__name__
        raise ValueError(f"mask must be a tensor of shape ({dim},), got {shape}")
    n_in = int(mask.bool().sum())
    if n_in in (0, dim):
        raise ValueError("mask must select some features to condition on, and leave some")
    return mask.to(torch.get_default_device(), torch.bool), n_in


class AdditiveCoupling(FlowLayer):
    """NICE coupling: the masked half x_a passes through; z_b = x_b + t(x_a).
    Volume preserving: log-det 0 (Dinh et al. 2015)."""

    def __init__(
        self, dim: int, mask: torch.Tensor, hidden: int = 64, *, generator: rng.Seed = None
    ) -> None:
        super().__init__()
        mask, n_in = _coupling_mask(dim, mask)
        self.register_buffer("mask", mask)
        self.net = _mlp(n_in, dim - n_in, hidden, rng.torch_generator(generator))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = x.clone()
        z[:, ~self.mask] = x[:, ~self.mask] + self.net(x[:, self.mask])
        return z, torch.zeros(len(x), dtype=x.dtype, device=x.device)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        x = z.clone()
        x[:, ~self.mask] = z[:, ~self.mask] - self.net(z[:, self.mask])
        return x


class Scaling(FlowLayer):
    """NICE's diagonal scaling z = x exp(s), log-det sum(s): the only volume change in NICE."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(check_count(dim, "dim")))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x * self.log_scale.exp(), self.log_scale.sum().expand(len(x))

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * torch.exp(-self.log_scale)


class AffineCoupling(FlowLayer):
    """RealNVP coupling (Dinh et al. 2017): z_a = x_a, z_b = x_b exp(s(x_a)) + t(x_a).
    Triangular Jacobian: log-det sum(s). The scale is bounded, s = scale tanh(.), for stability."""

    def __init__(
        self, dim: int, mask: torch.Tensor, hidden: int = 64, *, generator: rng.Seed = None
    ) -> None:
        super().__init__()
        mask, n_in = _coupling_mask(dim, mask)
        self.register_buffer("mask", mask)
        self.net = _mlp(n_in, 2 * (dim - n_in), hidden, rng.torch_generator(generator))
        self.scale = nn.Parameter(torch.ones(dim - n_in))

    def _s_t(self, x_a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(x_a).chunk(2, dim=-1)
        return self.scale * torch.tanh(s), t

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self._s_t(x[:, self.mask])
        z = x.clone()
        z[:, ~self.mask] = x[:, ~self.mask] * s.exp() + t
        return z, s.sum(-1)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        s, t = self._s_t(z[:, self.mask])
        x = z.clone()
        x[:, ~self.mask] = (z[:, ~self.mask] - t) * torch.exp(-s)
        return x


class ActNorm(FlowLayer):
    """Glow's activation normalization z = (x - b) exp(log_s) (Kingma & Dhariwal 2018). On the first
    batch it sets b and log_s so the outputs have zero mean and unit variance per feature
    (data-dependent init). log-det sum(log_s)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        dim = check_count(dim, "dim")
        self.bias = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))
        self.register_buffer("initialized", torch.tensor(False, device=self.bias.device))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.initialized and self.training:
            with torch.no_grad():
                self.bias.copy_(x.mean(0))
                self.log_scale.copy_(-torch.log(x.std(0) + 1e-6))
                self.initialized.fill_(True)
        return (x - self.bias) * self.log_scale.exp(), self.log_scale.sum().expand(len(x))

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * torch.exp(-self.log_scale) + self.bias


class InvertibleLinear(FlowLayer):
    """Glow's invertible 1x1 convolution for vectors: z = W x, W = P L (U + diag(sign exp(log_s))),
    P a fixed permutation, L unit lower triangular, U strictly upper triangular.
    log|det W| = sum(log_s) costs O(d) instead of O(d^3). Initialized at a random rotation."""

    def __init__(self, dim: int, *, generator: rng.Seed = 0) -> None:
        super().__init__()
        dim = check_count(dim, "dim")
        draws = rng.randn((dim, dim), torch.zeros(0), rng.torch_generator(generator))
        P, L, U = torch.linalg.lu(torch.linalg.qr(draws)[0])
        s = torch.diagonal(U)
        self.register_buffer("P", P)
        self.register_buffer("sign", torch.sign(s))
        self.register_buffer("lower_mask", torch.tril(torch.ones_like(U), -1))
        self.L = nn.Parameter(L)
        self.U = nn.Parameter(torch.triu(U, 1))
        self.log_s = nn.Parameter(torch.log(s.abs()))

    def weight(self) -> torch.Tensor:
        eye = torch.eye(len(self.log_s), dtype=self.L.dtype, device=self.L.device)
        L = self.L * self.lower_mask + eye
        U = self.U * self.lower_mask.T + torch.diag(self.sign * self.log_s.exp())
        return self.P @ L @ U

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x @ self.weight().T, self.log_s.sum().expand(len(x))

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return torch.linalg.solve(self.weight(), z.T).T


class MarginalGaussianization(FlowLayer):
    """Fixed elementwise bijection for dequantized integer data y = x + u in [0, K).

    Each feature's density is taken piecewise constant on the unit bins (training frequencies, each
    level given ``smoothing`` extra counts), its CDF F is piecewise linear, and z = Phi^-1(F(y)) is
    exactly standard normal for that marginal. log-det = sum_j [log p_j(y_j) - log N(z_j)]. Coupling
    layers stacked on top then only need to model the dependencies between features."""

    def __init__(self, train: np.ndarray, n_levels: int, smoothing: float = 0.5) -> None:
        super().__init__()
        self.n_levels = n_levels = check_count(n_levels, "n_levels")
        smoothing = check_positive(smoothing, "smoothing", allow_zero=True)
        train = np.asarray(train)
        if train.ndim != 2 or len(train) == 0:
            raise ValueError(f"train must have shape (n, d) with n >= 1, got {train.shape}")
        check_finite(train, "train")
        if np.any(train != np.round(train)) or train.min() < 0 or train.max() >= n_levels:
            raise ValueError(f"train must hold integers in 0..{n_levels - 1} (n_levels)")
        counts = np.stack([np.bincount(col, minlength=n_levels) for col in train.astype(int).T])
        if np.any(counts + smoothing == 0):
            raise ValueError("smoothing must be > 0 when a level never occurs in train")
        probs = (counts + smoothing) / (counts + smoothing).sum(1, keepdims=True)  # (d, K)
        cdf = np.concatenate([np.zeros((len(probs), 1)), np.cumsum(probs, 1)], 1)
        self.register_buffer("log_probs", torch.tensor(np.log(probs), dtype=torch.float32))
        self.register_buffer("cdf", torch.tensor(cdf, dtype=torch.float32))

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k = y.floor().clamp(0, self.n_levels - 1).long()
        log_p = self.log_probs.gather(1, k.T).T
        F = (self.cdf.gather(1, k.T).T + (y - k) * log_p.exp()).clamp(1e-6, 1 - 1e-6)
        z = torch.special.ndtri(F)
        return z, log_p.sum(-1) - gaussian_log_prob(z, 0.0, 1.0)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        F = torch.special.ndtr(z).clamp(1e-6, 1 - 1e-6)
        k = torch.searchsorted(self.cdf.contiguous(), F.T.contiguous(), right=True).T - 1
        k = k.clamp(0, self.n_levels - 1)
        start = self.cdf.gather(1, k.T).T
        return k + (F - start) / self.log_probs.gather(1, k.T).T.exp()


class Flow(nn.Module):
    """A stack of invertible layers on top of a standard-normal base density N(0, I).

    The base's mean and variance are buffers, so ``.to(...)`` and ``.double()`` move them with the
    layers (as in zuko): ``sample`` draws in the flow's dtype and on its device even when no layer
    has parameters.

    Example:
        >>> flow = realnvp(2, n_layers=4)
        >>> flow.log_prob(torch.randn(5, 2)).shape
        torch.Size([5])
    """

    def __init__(self, layers: list[nn.Module], dim: int) -> None:
        super().__init__()
        self.dim = dim = check_count(dim, "dim")
        layers = list(layers)
        for k, layer in enumerate(layers):
            if not isinstance(layer, nn.Module) or not callable(getattr(layer, "inverse", None)):
                raise TypeError(
                    f"layers[{k}] must be a FlowLayer (an nn.Module with forward and inverse), "
                    f"got {type(layer).__name__}"
                )
        self.layers = nn.ModuleList(layers)
        tensors = [*self.layers.parameters(), *self.layers.buffers()]
        like = next((t for t in tensors if t.is_floating_point()), torch.zeros(0))
        zeros = torch.zeros(dim, dtype=like.dtype, device=like.device)
        self.register_buffer("base_mean", zeros, persistent=False)
        self.register_buffer("base_var", torch.ones_like(zeros), persistent=False)

    def _check(self, x: torch.Tensor, name: str) -> torch.Tensor:
        check_points(x, name, self.dim)
        if x.dtype != self.base_mean.dtype or x.device != self.base_mean.device:
            raise TypeError(
                f"{name} is {x.dtype} on {x.device} but the flow is {self.base_mean.dtype} on "
                f"{self.base_mean.device}: convert one of them (.to, .double(), .float())"
            )
        return x

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z = f(x) and log|det df/dx| per sample."""
        self._check(x, "x")
        log_det = torch.zeros(len(x), dtype=x.dtype, device=x.device)
        for layer in self.layers:
            x, ld = layer(x)
            log_det = log_det + ld
        return x, log_det

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """x = f^-1(z)."""
        self._check(z, "z")
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) = log N(f(x); 0, I) + log|det df/dx|."""
        z, log_det = self.forward(x)
        return gaussian_log_prob(z, self.base_mean, self.base_var) + log_det

    def sample(self, n: int, *, generator: rng.Seed = None) -> torch.Tensor:
        """n draws x = f^-1(z), z ~ N(0, I) drawn from ``generator``."""
        n = check_count(n, "n")
        noise = rng.randn((n, self.dim), self.base_mean, rng.torch_generator(generator))
        return self.inverse(self.base_mean + self.base_var.sqrt() * noise)

    def intermediate(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The data after each layer (x, f_1(x), f_2(f_1(x)), ..., z), to watch the deformation."""
        outs = [self._check(x, "x")]
        for layer in self.layers:
            x, _ = layer(x)
            outs.append(x)
        return outs


def nice(dim: int, n_couplings: int = 4, hidden: int = 64, *, generator: rng.Seed = None) -> Flow:
    """NICE: additive couplings with alternating masks, then a diagonal scaling. The networks'
    weights come from ``generator`` (None: torch's default stream, as for any nn.Linear)."""
    n_couplings, generator = check_count(n_couplings, "n_couplings"), rng.torch_generator(generator)
    layers: list[nn.Module] = [
        AdditiveCoupling(dim, checkerboard_mask(dim, k % 2), hidden, generator=generator)
        for k in range(n_couplings)
    ]
    return Flow(layers + [Scaling(dim)], dim)


def realnvp(dim: int, n_layers: int = 6, hidden: int = 64, *, generator: rng.Seed = None) -> Flow:
    """RealNVP: affine couplings with alternating masks (weights drawn as in ``nice``)."""
    n_layers, generator = check_count(n_layers, "n_layers"), rng.torch_generator(generator)
    masks = [checkerboard_mask(dim, k % 2) for k in range(n_layers)]
    return Flow([AffineCoupling(dim, mask, hidden, generator=generator) for mask in masks], dim)


def glow(dim: int, n_steps: int = 4, hidden: int = 64, *, generator: rng.Seed = None) -> Flow:
    """Glow: each step is actnorm -> invertible linear mixing -> affine coupling. Without a
    generator, the k-th mixing starts from the rotation of seed k."""
    n_steps, generator = check_count(n_steps, "n_steps"), rng.torch_generator(generator)
    layers: list[nn.Module] = []
    for k in range(n_steps):
        coupling = AffineCoupling(dim, checkerboard_mask(dim, k % 2), hidden, generator=generator)
        mixing = InvertibleLinear(dim, generator=k if generator is None else generator)
        layers += [ActNorm(dim), mixing, coupling]
    return Flow(layers, dim)


# --------------------------------------------------------------------------- checks and training


def randomize_parameters(
    module: nn.Module, scale: float = 0.3, *, generator: rng.Seed = 0
) -> nn.Module:
    """Add Gaussian noise of size ``scale`` to every parameter, in double precision; eval mode.
    Couplings start as the identity map, so log-det and inverse checks need random parameters.
    Changes ``module`` itself (that is its purpose) and returns it."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    scale = check_positive(scale, "scale", allow_zero=True)
    generator = rng.torch_generator(generator)
    module = module.double()
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * rng.randn(p.shape, p, generator))
    return module.eval()


def autograd_log_det(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """log|det J| of module's forward map at each row of x, from the full autograd Jacobian,
    in evaluation mode (no data-dependent initialization runs); the module is left as it was."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    check_points(x, "x")
    out = []
    with _evaluating(module):
        for row in x:
            jac = torch.autograd.functional.jacobian(lambda v: module(v[None])[0][0], row.detach())
            out.append(torch.linalg.slogdet(jac)[1])
    return torch.stack(out)


def grid_integral(flow: Flow, lim: float = 6.0, n: int = 400) -> float:
    """Integral of exp(log p) over the square [-lim, lim]^2 by the midpoint rule (2D flows),
    evaluated in the flow's dtype, on its device, in evaluation mode; the flow is left as it was."""
    if not isinstance(flow, Flow) or flow.dim != 2:
        raise ValueError("flow must be a 2-dimensional Flow")
    lim, n = check_positive(lim, "lim"), check_count(n, "n")
    h = 2 * lim / n
    like = flow.base_mean
    g = -lim + h * (torch.arange(n, dtype=like.dtype, device=like.device) + 0.5)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    with torch.no_grad(), _evaluating(flow):
        p = flow.log_prob(torch.stack([xx.ravel(), yy.ravel()], 1)).exp()
    return float(p.sum(dtype=torch.float64) * h * h)


class _KeepBest:
    """Early stopping: remembers the parameters with the lowest validation NLL seen so far."""

    def __init__(self, flow: Flow, validation: torch.Tensor | None, dequantize: bool) -> None:
        self.flow, self.validation, self.dequantize = flow, validation, dequantize
        self.best, self.state = math.inf, None

    def update(self) -> None:
        if self.validation is None:
            return
        with torch.no_grad(), _evaluating(self.flow):
            if self.dequantize:
                value = dequantized_nll(self.flow, self.validation, n_draws=1)
            else:
                value = -self.flow.log_prob(self.validation).mean().item()
        if value < self.best:
            self.best, self.state = value, copy.deepcopy(self.flow.state_dict())

    def restore(self) -> None:
        if self.state is not None:
            self.flow.load_state_dict(self.state)


def _data_for(flow: Flow, x: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    """``x`` as points in the flow's dtype and on its device, checked."""
    if not isinstance(flow, Flow):
        raise TypeError(f"flow must be a Flow, got {type(flow).__name__}")
    like = flow.base_mean
    x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x, device=like.device)
    return check_points(x.to(like.dtype), name, flow.dim)


def train_flow(
    flow: Flow,
    train: torch.Tensor,
    validation: torch.Tensor | None = None,
    n_steps: int = 2000,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    time_budget: float | None = None,
    dequantize: bool = False,
    *,
    generator: rng.Seed = 0,
    show_progress: bool = True,
) -> list[float]:
    """Maximum likelihood: minimize the mean NLL -log p(x) of random batches (drawn from
    ``generator``) with the course's Adam loop ``optim.minimize``, gradients clipped at norm 10.

    ``dequantize=True`` adds uniform noise in [0, 1) to every batch (integer data). With a
    validation set, keeps the parameters with the best validation NLL (checked every 50 steps).
    Leaves the flow in evaluation mode. Returns the losses."""
    train = _data_for(flow, train, "train")
    if validation is not None:
        validation = _data_for(flow, validation, "validation")
    batch_size, generator = check_count(batch_size, "batch_size"), rng.torch_generator(generator)
    n_steps = check_count(n_steps, "n_steps")

    def jitter(x: torch.Tensor) -> torch.Tensor:
        return x + rng.rand(x.shape, x, generator) if dequantize else x

    def loss(step: int) -> torch.Tensor:
        x = jitter(train[rng.randint(0, len(train), (batch_size,), train, generator)])
        return -flow.log_prob(x).mean()  # negative log-likelihood, in nats per sample

    keep_best = _KeepBest(flow, validation, dequantize)

    def every_50_steps(step: int) -> None:
        if step % 50 == 0 or step == n_steps:
            keep_best.update()

    flow.train()
    with torch.no_grad():
        flow(jitter(train[:512]))  # data-dependent initialization of the actnorm layers
    losses = minimize(
        loss, flow.parameters(), n_steps, lr=lr, weight_decay=weight_decay, clip=10.0,
        time_budget=time_budget, callback=every_50_steps, desc="flow", show_progress=show_progress,
    )
    keep_best.restore()
    flow.eval()
    return losses


@torch.no_grad()
def dequantized_nll(
    flow: Flow, x: torch.Tensor, n_draws: int = 10, *, generator: rng.Seed = 0
) -> float:
    """-E_u log p(x + u), u ~ U[0, 1)^d: an upper bound on the NLL of the integer data x
    (nats per sample; Theis et al. 2016), averaged over ``n_draws`` draws of u."""
    x = _data_for(flow, x, "x")
    n_draws, generator = check_count(n_draws, "n_draws"), rng.torch_generator(generator)
    with _evaluating(flow):
        draws = [flow.log_prob(x + rng.rand(x.shape, x, generator)).mean() for _ in range(n_draws)]
    return -float(np.mean([d.item() for d in draws]))


def gaussian_nll(train: np.ndarray, test: np.ndarray) -> float:
    """NLL per sample of test data under the Gaussian fitted to the training data (the baseline)."""
    train, test = np.asarray(train, dtype=float), np.asarray(test, dtype=float)
    if train.ndim != 2 or len(train) <= train.shape[1]:
        raise ValueError(f"train must have shape (n, d) with n > d, got {train.shape}")
    if test.ndim != 2 or len(test) == 0 or test.shape[1] != train.shape[1]:
        raise ValueError(f"test must have shape (n, {train.shape[1]}), got {test.shape}")
    check_finite(train, "train")
    check_finite(test, "test")
    mean, cov = train.mean(0), np.cov(train, rowvar=False).reshape(len(train.T), -1)
    return float(-_gaussian_log_prob_full(test, mean, cov, "train").mean())


# --------------------------------------------------------------------------- reading out couplings


def phi4_action(phi: torch.Tensor, kappa: float, lam: float) -> torch.Tensor:
    """Lattice phi^4 action of a periodic chain,
    S = sum_i [-2 kappa phi_i phi_{i+1} + phi_i^2 + lam (phi_i^2 - 1)^2]."""
    if not torch.is_tensor(phi) or phi.ndim == 0:
        raise TypeError("phi must be a torch.Tensor of shape (..., n_sites)")
    kappa, lam = check_real(kappa, "kappa"), check_positive(lam, "lam", allow_zero=True)
    neighbour = torch.roll(phi, -1, dims=-1)
    return (-2 * kappa * phi * neighbour + phi**2 + lam * (phi**2 - 1) ** 2).sum(-1)


def phi4_coefficients(kappa: float, lam: float, n_sites: int) -> dict[str, np.ndarray]:
    """The exact coefficients of phi4_action in the monomials of effective_action_coefficients:
    expanding lam (phi^2 - 1)^2 = lam phi^4 - 2 lam phi^2 + lam gives phi_i^2: 1 - 2 lam,
    phi_i phi_{i+1}: -2 kappa, phi_i^4: lam, constant: n_sites lam, all others 0."""
    kappa, lam = check_real(kappa, "kappa"), check_positive(lam, "lam", allow_zero=True)
    site = np.ones(check_count(n_sites, "n_sites", minimum=3))
    return {
        "constant": np.array([n_sites * lam]),
        "linear": 0 * site,
        "quadratic": (1 - 2 * lam) * site,
        "nearest_neighbour": -2 * kappa * site,
        "next_nearest": 0 * site,
        "quartic": lam * site,
    }


def effective_action_coefficients(
    log_prob: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor
) -> dict[str, np.ndarray]:
    """Least-squares projection of S_theta(x) = -log p_theta(x) of a periodic chain on monomials,
        S_theta ~ c + sum_i [l_i x_i + a_i x_i^2 + b_i x_i x_{i+1} + e_i x_i x_{i+2} + g_i x_i^4],
    fitted at the given points (so weighted by where they lie). The constant absorbs log Z.
    For phi4_action the true values are phi4_coefficients (compare Merger et al. 2023)."""
    if not callable(log_prob):
        raise TypeError(f"log_prob must be callable, got {type(log_prob).__name__}")
    check_points(points, "points")
    n = points.shape[1]
    if n < 3 or len(points) < 1 + 5 * n:
        raise ValueError(
            f"points must have n_sites >= 3 columns and at least 1 + 5 n_sites rows, "
            f"got shape {tuple(points.shape)}"
        )
    with torch.no_grad():
        target = -log_prob(points).double().cpu().numpy()
    x = points.double().cpu().numpy()
    nb1, nb2 = np.roll(x, -1, axis=1), np.roll(x, -2, axis=1)
    features = np.concatenate([np.ones((len(x), 1)), x, x**2, x * nb1, x * nb2, x**4], axis=1)
    coef, *_ = np.linalg.lstsq(features, target, rcond=None)
    names = ["constant", "linear", "quadratic", "nearest_neighbour", "next_nearest", "quartic"]
    return dict(zip(names, [coef[:1]] + np.split(coef[1:], 5), strict=True))
