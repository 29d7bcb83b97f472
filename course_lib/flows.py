"""Normalizing flows: invertible layers with tractable Jacobians, stacked into a density model.

Change of variables: if z = f(x) is invertible with base density p_Z, then
    log p(x) = log p_Z(f(x)) + log |det df/dx|.
Every layer here is an ``nn.Module`` with ``forward(x) -> (z, log_det)`` and ``inverse(z) -> x``; a
``Flow`` stacks them and offers ``log_prob`` and ``sample`` as in ``torch.distributions``.

Layers
    AdditiveCoupling  NICE: z_b = x_b + t(x_a), log-det 0                  (Dinh et al. 2015)
    Scaling           NICE's final diagonal scaling, log-det sum s
    AffineCoupling    RealNVP: z_b = x_b exp(s(x_a)) + t(x_a), log-det sum s   (Dinh et al. 2017)
    ActNorm           Glow: per-feature affine, initialized from data, log-det sum log|scale|
                      (Kingma & Dhariwal 2018)
    InvertibleLinear  Glow's invertible 1x1 mixing, W = P L (U + diag s), log-det sum log|s|
On images, Glow's actnorm and 1x1 convolution act on channels and their log-dets are multiplied by
the number of spatial positions; here data are flat vectors, so the spatial size is 1.

Research bridge: ``effective_action_coefficients`` projects -log p_theta(x) of a trained flow on
polynomial features by least squares, reading out the couplings it has learned; compare with
``phi4_coefficients`` (after Merger et al., Phys. Rev. X 13, 041033 (2023), who instead expand the
action of a network with polynomial activations analytically).
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import torch
from torch import nn

from .notebook import progress

LOG_2PI = math.log(2 * math.pi)


def _mlp(n_in: int, n_out: int, hidden: int) -> nn.Sequential:
    net = nn.Sequential(
        nn.Linear(n_in, hidden), nn.GELU(),
        nn.Linear(hidden, hidden), nn.GELU(),
        nn.Linear(hidden, n_out),
    )
    nn.init.zeros_(net[-1].weight)  # every coupling starts as the identity map
    nn.init.zeros_(net[-1].bias)
    return net


def checkerboard_mask(dim: int, parity: int) -> torch.Tensor:
    """Boolean mask of the features that condition a coupling (the others are transformed)."""
    return torch.arange(dim) % 2 == parity


class AdditiveCoupling(nn.Module):
    """NICE coupling: the masked half x_a passes through; z_b = x_b + t(x_a).
    Volume preserving: log-det 0 (Dinh et al. 2015)."""

    def __init__(self, dim: int, mask: torch.Tensor, hidden: int = 64) -> None:
        super().__init__()
        self.register_buffer("mask", mask.bool())
        self.net = _mlp(int(mask.sum()), dim - int(mask.sum()), hidden)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = x.clone()
        z[:, ~self.mask] = x[:, ~self.mask] + self.net(x[:, self.mask])
        return z, torch.zeros(len(x), dtype=x.dtype, device=x.device)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        x = z.clone()
        x[:, ~self.mask] = z[:, ~self.mask] - self.net(z[:, self.mask])
        return x


class Scaling(nn.Module):
    """NICE's diagonal scaling z = x exp(s), log-det sum(s): the only volume change in NICE."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x * self.log_scale.exp(), self.log_scale.sum().expand(len(x))

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * torch.exp(-self.log_scale)


class AffineCoupling(nn.Module):
    """RealNVP coupling (Dinh et al. 2017): z_a = x_a, z_b = x_b exp(s(x_a)) + t(x_a).
    Triangular Jacobian: log-det sum(s). The scale is bounded, s = scale tanh(.), for stability."""

    def __init__(self, dim: int, mask: torch.Tensor, hidden: int = 64) -> None:
        super().__init__()
        self.register_buffer("mask", mask.bool())
        n_out = dim - int(mask.sum())
        self.net = _mlp(int(mask.sum()), 2 * n_out, hidden)
        self.scale = nn.Parameter(torch.ones(n_out))

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


class ActNorm(nn.Module):
    """Glow's activation normalization z = (x - b) exp(log_s) (Kingma & Dhariwal 2018). On the first
    batch it sets b and log_s so the outputs have zero mean and unit variance per feature
    (data-dependent init). log-det sum(log_s)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))
        self.register_buffer("initialized", torch.tensor(False))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.initialized and self.training:
            with torch.no_grad():
                self.bias.copy_(x.mean(0))
                self.log_scale.copy_(-torch.log(x.std(0) + 1e-6))
                self.initialized.fill_(True)
        return (x - self.bias) * self.log_scale.exp(), self.log_scale.sum().expand(len(x))

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * torch.exp(-self.log_scale) + self.bias


class InvertibleLinear(nn.Module):
    """Glow's invertible 1x1 convolution for vectors: z = W x, W = P L (U + diag(sign exp(log_s))),
    P a fixed permutation, L unit lower triangular, U strictly upper triangular.
    log|det W| = sum(log_s) costs O(d) instead of O(d^3). Initialized at a random rotation."""

    def __init__(self, dim: int, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g))
        P, L, U = torch.linalg.lu(q)
        s = torch.diagonal(U)
        self.register_buffer("P", P)
        self.register_buffer("sign", torch.sign(s))
        self.register_buffer("lower_mask", torch.tril(torch.ones(dim, dim), -1))
        self.L = nn.Parameter(L)
        self.U = nn.Parameter(torch.triu(U, 1))
        self.log_s = nn.Parameter(torch.log(s.abs()))

    def weight(self) -> torch.Tensor:
        L = self.L * self.lower_mask + torch.eye(len(self.log_s), dtype=self.L.dtype)
        U = self.U * self.lower_mask.T + torch.diag(self.sign * self.log_s.exp())
        return self.P @ L @ U

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x @ self.weight().T, self.log_s.sum().expand(len(x))

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return torch.linalg.solve(self.weight(), z.T).T


class MarginalGaussianization(nn.Module):
    """Fixed elementwise bijection for dequantized integer data y = x + u in [0, K).

    Each feature's density is taken piecewise constant on the unit bins (smoothed training
    frequencies), its CDF F is piecewise linear, and z = Phi^-1(F(y)) is exactly standard normal for
    that marginal. log-det = sum_j [log p_j(y_j) - log N(z_j)]. Coupling layers stacked on top then
    only need to model the dependencies between features."""

    def __init__(self, train: np.ndarray, n_levels: int, smoothing: float = 0.5) -> None:
        super().__init__()
        train = np.asarray(train).astype(int)
        counts = np.stack([np.bincount(col, minlength=n_levels) for col in train.T]) + smoothing
        probs = counts / counts.sum(1, keepdims=True)  # (d, K)
        cdf = np.concatenate([np.zeros((len(probs), 1)), np.cumsum(probs, 1)], 1)
        self.register_buffer("log_probs", torch.tensor(np.log(probs), dtype=torch.float32))
        self.register_buffer("cdf", torch.tensor(cdf, dtype=torch.float32))
        self.n_levels = n_levels
        self.normal = torch.distributions.Normal(0.0, 1.0)

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k = y.floor().clamp(0, self.n_levels - 1).long()
        frac = y - k
        log_p = self.log_probs.gather(1, k.T).T
        F = (self.cdf.gather(1, k.T).T + frac * log_p.exp()).clamp(1e-6, 1 - 1e-6)
        z = self.normal.icdf(F)
        return z, (log_p - self.normal.log_prob(z)).sum(-1)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        F = self.normal.cdf(z).clamp(1e-6, 1 - 1e-6)
        k = torch.searchsorted(self.cdf.contiguous(), F.T.contiguous(), right=True).T - 1
        k = k.clamp(0, self.n_levels - 1)
        start = self.cdf.gather(1, k.T).T
        return k + (F - start) / self.log_probs.gather(1, k.T).T.exp()


class Flow(nn.Module):
    """A stack of invertible layers on top of a standard-normal base density.

    Example:
        >>> flow = realnvp(2, n_layers=4)
        >>> flow.log_prob(torch.randn(5, 2)).shape
        torch.Size([5])
    """

    def __init__(self, layers: list[nn.Module], dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.dim = dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z = f(x) and log|det df/dx| per sample."""
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"inputs must have shape (batch, {self.dim}), got {tuple(x.shape)}")
        log_det = torch.zeros(len(x), dtype=x.dtype, device=x.device)
        for layer in self.layers:
            x, ld = layer(x)
            log_det = log_det + ld
        return x, log_det

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) = log N(f(x); 0, I) + log|det df/dx|."""
        z, log_det = self.forward(x)
        return -0.5 * (z**2).sum(-1) - 0.5 * self.dim * LOG_2PI + log_det

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        z = torch.randn(n, self.dim, generator=generator, dtype=next(self.parameters()).dtype)
        return self.inverse(z)

    def intermediate(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The data after each layer (x, f_1(x), f_2(f_1(x)), ..., z), to watch the deformation."""
        outs = [x]
        for layer in self.layers:
            x, _ = layer(x)
            outs.append(x)
        return outs


def nice(dim: int, n_couplings: int = 4, hidden: int = 64) -> Flow:
    """NICE: additive couplings with alternating masks, then a diagonal scaling."""
    layers: list[nn.Module] = [
        AdditiveCoupling(dim, checkerboard_mask(dim, k % 2), hidden) for k in range(n_couplings)
    ]
    return Flow(layers + [Scaling(dim)], dim)


def realnvp(dim: int, n_layers: int = 6, hidden: int = 64) -> Flow:
    """RealNVP: affine couplings with alternating masks."""
    masks = [checkerboard_mask(dim, k % 2) for k in range(n_layers)]
    return Flow([AffineCoupling(dim, mask, hidden) for mask in masks], dim)


def glow(dim: int, n_steps: int = 4, hidden: int = 64) -> Flow:
    """Glow: each step is actnorm -> invertible linear mixing -> affine coupling."""
    layers: list[nn.Module] = []
    for k in range(n_steps):
        coupling = AffineCoupling(dim, checkerboard_mask(dim, k % 2), hidden)
        layers += [ActNorm(dim), InvertibleLinear(dim, seed=k), coupling]
    return Flow(layers, dim)


# --------------------------------------------------------------------------- checks and training


def randomize_parameters(module: nn.Module, scale: float = 0.3, seed: int = 0) -> nn.Module:
    """Add Gaussian noise of size ``scale`` to every parameter, in double precision; eval mode.
    Couplings start as the identity map, so log-det and inverse checks need random parameters."""
    g = torch.Generator().manual_seed(seed)
    module = module.double()
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module.eval()


def autograd_log_det(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """log|det J| of module's forward map at each row of x, from the full autograd Jacobian."""
    out = []
    for row in x:
        jac = torch.autograd.functional.jacobian(lambda v: module(v[None])[0][0], row)
        out.append(torch.linalg.slogdet(jac)[1])
    return torch.stack(out)


def grid_integral(flow: Flow, lim: float = 6.0, n: int = 400) -> float:
    """Integral of exp(log p) over the square [-lim, lim]^2 by the midpoint rule (2D flows)."""
    h = 2 * lim / n
    g = -lim + h * (torch.arange(n, dtype=torch.float64) + 0.5)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    with torch.no_grad():
        p = flow.double().log_prob(torch.stack([xx.ravel(), yy.ravel()], 1)).exp()
    flow.float()
    return float(p.sum() * h * h)


class _KeepBest:
    """Early stopping: remembers the parameters with the lowest validation NLL seen so far."""

    def __init__(self, flow: Flow, validation: torch.Tensor | None, dequantize: bool) -> None:
        self.flow, self.validation, self.dequantize = flow, validation, dequantize
        self.best, self.state = math.inf, None

    def update(self) -> None:
        if self.validation is None:
            return
        with torch.no_grad():
            if self.dequantize:
                value = dequantized_nll(self.flow, self.validation, n_draws=1)
            else:
                x = torch.as_tensor(self.validation, dtype=torch.float32)
                value = -self.flow.log_prob(x).mean().item()
        self.flow.train()
        if value < self.best:
            self.best, self.state = value, copy.deepcopy(self.flow.state_dict())

    def restore(self) -> None:
        if self.state is not None:
            self.flow.load_state_dict(self.state)


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
    seed: int = 0,
    show_progress: bool = True,
) -> list[float]:
    """Maximum likelihood with Adam: minimize the mean NLL -log p(x) over random batches.

    ``dequantize=True`` adds uniform noise in [0, 1) to every batch (integer data). With a
    validation set, keeps the parameters with the best validation NLL. Returns the losses."""
    torch.manual_seed(seed)
    train = torch.as_tensor(train, dtype=torch.float32)
    jitter = (lambda x: x + torch.rand_like(x)) if dequantize else (lambda x: x)
    optimizer = torch.optim.Adam(flow.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, n_steps)
    keep_best = _KeepBest(flow, validation, dequantize)
    flow.train()
    flow(jitter(train[:512]))  # data-dependent initialization of the actnorm layers
    losses, start = [], time.perf_counter()
    for step in progress(range(n_steps), desc="flow", disable=not show_progress):
        if time_budget is not None and time.perf_counter() - start > time_budget:
            break
        x = jitter(train[torch.randint(len(train), (batch_size,))])
        loss = -flow.log_prob(x).mean()  # negative log-likelihood, in nats per sample
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(flow.parameters(), 10.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % 50 == 49 or step == n_steps - 1:
            keep_best.update()
    keep_best.restore()
    flow.eval()
    return losses


@torch.no_grad()
def dequantized_nll(flow: Flow, x: torch.Tensor, n_draws: int = 10, seed: int = 0) -> float:
    """-E_u log p(x + u), u ~ U[0, 1)^d: an upper bound on the NLL of the integer data x
    (nats per sample; Theis et al. 2016)."""
    flow.eval()
    g = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(x, dtype=torch.float32)
    draws = [flow.log_prob(x + torch.rand(x.shape, generator=g)).mean() for _ in range(n_draws)]
    return -float(np.mean([d.item() for d in draws]))


def gaussian_nll(train: np.ndarray, test: np.ndarray) -> float:
    """NLL per sample of test data under the Gaussian fitted to the training data (the baseline)."""
    mean, cov = train.mean(0), np.cov(train, rowvar=False)
    r = test - mean
    maha = np.einsum("ni,ni->n", r, np.linalg.solve(cov, r.T).T)
    return float(0.5 * (maha.mean() + np.linalg.slogdet(cov)[1] + len(mean) * LOG_2PI))


# --------------------------------------------------------------------------- reading out couplings


def phi4_action(phi: torch.Tensor, kappa: float, lam: float) -> torch.Tensor:
    """Lattice phi^4 action of a periodic chain,
    S = sum_i [-2 kappa phi_i phi_{i+1} + phi_i^2 + lam (phi_i^2 - 1)^2]."""
    neighbour = torch.roll(phi, -1, dims=-1)
    return (-2 * kappa * phi * neighbour + phi**2 + lam * (phi**2 - 1) ** 2).sum(-1)


def phi4_coefficients(kappa: float, lam: float, n_sites: int) -> dict[str, np.ndarray]:
    """The exact coefficients of phi4_action in the monomials of effective_action_coefficients:
    expanding lam (phi^2 - 1)^2 = lam phi^4 - 2 lam phi^2 + lam gives phi_i^2: 1 - 2 lam,
    phi_i phi_{i+1}: -2 kappa, phi_i^4: lam, constant: n_sites lam, all others 0."""
    site = np.ones(n_sites)
    return {
        "constant": np.array([n_sites * lam]),
        "linear": 0 * site,
        "quadratic": (1 - 2 * lam) * site,
        "nearest_neighbour": -2 * kappa * site,
        "next_nearest": 0 * site,
        "quartic": lam * site,
    }


def effective_action_coefficients(log_prob, points: torch.Tensor) -> dict[str, np.ndarray]:
    """Least-squares projection of S_theta(x) = -log p_theta(x) of a periodic chain on monomials,
        S_theta ~ c + sum_i [l_i x_i + a_i x_i^2 + b_i x_i x_{i+1} + e_i x_i x_{i+2} + g_i x_i^4],
    fitted at the given points (so weighted by where they lie). The constant absorbs log Z.
    For phi4_action the true values are phi4_coefficients (compare Merger et al. 2023)."""
    with torch.no_grad():
        target = -log_prob(points).double().numpy()
    x = points.double().numpy()
    n = x.shape[1]
    nb1, nb2 = np.roll(x, -1, axis=1), np.roll(x, -2, axis=1)
    features = np.concatenate([np.ones((len(x), 1)), x, x**2, x * nb1, x * nb2, x**4], axis=1)
    coef, *_ = np.linalg.lstsq(features, target, rcond=None)
    names = ["constant", "linear", "quadratic", "nearest_neighbour", "next_nearest", "quartic"]
    return dict(zip(names, [coef[:1]] + np.split(coef[1:], 5)))
