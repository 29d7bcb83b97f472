"""Memorization and generalization in diffusion models.

A model that minimized its training loss exactly would learn the score of its training set, a
mixture of point masses, and could only return training points (``diffusion.MixtureDenoiser``).
Here: the two-model test of Kadkhodaie et al. (ICLR 2024), which measures when trained networks
stop copying their training sets; ``Ensemble``, which trains the many small networks of that test
in one vectorized call; and the collapse criterion of Biroli, Bonnaire, de Bortoli & Mezard (2024),
which says from the data's covariance spectrum when the exact training-set score collapses onto
single training points:
    I(alpha, sigma) = 1/2 sum_k log(1 + alpha^2 lambda_k / sigma^2)   (nats)
is the information x_t = alpha x_0 + sigma eps carries about x_0 for Gaussian data with covariance
eigenvalues lambda_k (an upper bound for any data with that covariance), and N training points
are too few to fill the noisy distribution, so the posterior over them collapses, when
N < exp(I).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .checks import check_count, check_finite, check_fraction, check_points, check_positive
from .diffusion import (
    NoiseSchedule,
    TimeMLP,
    _check_schedule,
    _device_of,
    _scaled_squared_distances,
    sample_ddim,
    train_diffusion,
)
from .rng import Seed, torch_generator

__all__ = [
    "Ensemble", "HalfSplit", "half_split_sweep", "half_split_experiment", "transition_size",
    "mutual_information", "collapse_size", "posterior_entropy",
]


class Ensemble(nn.Module):
    """M independent copies of one network, evaluated in one vectorized call (``torch.func.vmap``).

    Member k reads and writes columns k d .. (k + 1) d of x, of shape (batch, M d). The loss sums
    over columns, so ``train_diffusion`` on (batch, M d) data trains every member on its own columns
    exactly as alone (Adam acts element by element); members share only the draws of t.
    """

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        members = list(members)
        if not members or not all(isinstance(m, nn.Module) for m in members):
            raise ValueError("members must be a non-empty list of nn.Module")
        shapes = [[p.shape for p in m.parameters()] for m in members]
        if any(s != shapes[0] for s in shapes):
            raise ValueError("members must be copies of one network (same parameter shapes)")
        params, buffers = torch.func.stack_module_state(members)
        self.base, self.size = copy.deepcopy(members[0]), len(members)
        self.names, self.buffer_names = list(params), list(buffers)
        self.stacked = nn.ParameterList(nn.Parameter(p.detach()) for p in params.values())
        for k, buffer in enumerate(buffers.values()):
            self.register_buffer(f"buffer{k}", buffer)

    def forward(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(x) or x.ndim != 2 or x.shape[1] % self.size:
            shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise ValueError(f"x must have shape (batch, {self.size} d), got {shape}")
        batch = len(x)
        columns = x.reshape(batch, self.size, -1).transpose(0, 1)  # (M, batch, d)
        params = dict(zip(self.names, self.stacked, strict=True))
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
    generator: Seed = 0,
    ddim_steps: int = 100,
) -> list[list[HalfSplit]]:
    """Kadkhodaie et al. (ICLR 2024): for each pool and size n, train two denoisers on disjoint sets
    D_A = pool[:n], D_B = pool[n:2n], sample both with DDIM from the same ``noise`` and compare.
    Memorization: d(x_A, D_A) / d(x_A, D_B) near 0 (x_A sits on its own training set).
    Generalization: a ratio near 1 and x_A close to x_B. All 2 len(pools) len(sizes) models train
    as one ``Ensemble`` (on the device and in the dtype of ``noise``). The initial weights, then
    the training draws, come from ``generator`` (an integer seeds each of the two alike).
    Returns results[pool][size]."""
    from .stats import nearest_distance

    noise, _ = check_points(noise, "noise"), _check_schedule(schedule)
    sizes = [check_count(n, "sizes") for n in sizes]
    if not sizes or not len(pools):
        raise ValueError("pools and sizes must each hold at least one entry")
    for name, value in [("n_steps", n_steps), ("hidden", hidden), ("depth", depth),
                        ("batch_size", batch_size), ("ddim_steps", ddim_steps)]:
        check_count(value, name)
    length, d = math.lcm(*sizes), noise.shape[1]
    sets, columns = [], []
    for pool in pools:
        if np.ndim(pool) != 2 or np.shape(pool)[1] != d:
            raise ValueError(f"pools must hold arrays of shape (m, {d}), got {np.shape(pool)}")
        for n in sizes:
            if len(pool) < 2 * n:
                need = f"two disjoint sets of {n} need {2 * n}"
                raise ValueError(f"a pool in pools has {len(pool)} points; {need}")
            for half in (0, 1):
                points = pool[half * n : (half + 1) * n]
                points = torch.as_tensor(points, dtype=noise.dtype, device=noise.device)
                sets.append(points)
                columns.append(points.repeat(length // n, 1))  # uniform draws from the n points
    init = torch_generator(generator)
    with torch.device("cpu"):  # built and drawn on the CPU: the same weights on every device
        members = [TimeMLP(d, hidden, depth, generator=init) for _ in sets]
    model = Ensemble(members).to(device=noise.device, dtype=noise.dtype)
    train_diffusion(model, torch.cat(columns, 1), schedule, n_steps, batch_size,
                    generator=torch_generator(generator), show_progress=False)
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
    """One pool and one size n of ``half_split_sweep`` (same keyword arguments)."""
    return half_split_sweep([pool], [n], schedule, noise, **kwargs)[0][0]


def transition_size(sizes: list[int], ratios: np.ndarray, level: float = 0.5) -> float:
    """The training-set size at which the half-split ratio first rises above ``level``,
    interpolated linearly in log N between the two sizes around the crossing. ``ratios`` holds
    one value per size (for example the mean over draws). Raises if the ratio never crosses."""
    sizes = [check_count(n, "sizes") for n in sizes]
    ratios = np.asarray(ratios, dtype=float)
    if ratios.shape != (len(sizes),) or len(sizes) < 2:
        raise ValueError(f"ratios must hold one value per size ({len(sizes)} >= 2), got shape "
                         f"{ratios.shape}")
    level = check_fraction(level, "level")
    above = np.flatnonzero(ratios > level)
    if len(above) == 0 or above[0] == 0:
        where = "never rises above" if len(above) == 0 else "is already above"
        raise ValueError(f"the ratio {where} {level} in the measured range {sizes[0]}..{sizes[-1]}")
    k = int(above[0])
    logs = np.log([sizes[k - 1], sizes[k]])
    return float(np.exp(np.interp(level, ratios[k - 1 : k + 1], logs)))


def _spectrum(eigenvalues: torch.Tensor | np.ndarray) -> torch.Tensor:
    values = torch.as_tensor(eigenvalues, dtype=torch.float64, device=_device_of(eigenvalues))
    if values.ndim != 1 or len(values) == 0:
        shape = tuple(values.shape)
        raise ValueError(f"eigenvalues must be a non-empty 1-d array, got shape {shape}")
    if bool((check_finite(values, "eigenvalues") < 0).any()):
        raise ValueError("eigenvalues must be non-negative (a covariance spectrum)")
    return values


def mutual_information(
    eigenvalues: torch.Tensor | np.ndarray, alpha: float, sigma: float
) -> float:
    """I(x_0; alpha x_0 + sigma eps) = 1/2 sum_k log(1 + alpha^2 lambda_k / sigma^2) in nats for
    Gaussian x_0 with covariance eigenvalues lambda_k; for other data with that covariance it is an
    upper bound (at fixed covariance the Gaussian has the largest entropy)."""
    values = _spectrum(eigenvalues)
    alpha = check_positive(alpha, "alpha", allow_zero=True)
    sigma = check_positive(sigma, "sigma")
    return float(0.5 * torch.log1p(alpha**2 * values / sigma**2).sum())


def collapse_size(eigenvalues: torch.Tensor | np.ndarray, alpha: float, sigma: float) -> float:
    """exp(I(alpha, sigma)): below this many training points the exact training-set score at
    this noise level is dominated by single training points (Biroli et al. 2024's collapse)."""
    return math.exp(mutual_information(eigenvalues, alpha, sigma))


def posterior_entropy(
    train: torch.Tensor, x: torch.Tensor, alpha: float, sigma: float
) -> torch.Tensor:
    """Entropy in nats of the posterior over training points given a noisy point,
    w_i(x) proportional to exp(-|x - alpha x_i|^2 / (2 sigma^2)), one value per row of x: the
    log of the number of training points the exact training-set denoiser averages over
    (``diffusion.MixtureDenoiser`` with zero widths). For N >> exp(I) and x drawn from the
    noisy data distribution its mean is log N - I; for N << exp(I) it falls towards 0."""
    train = check_points(torch.as_tensor(train, device=_device_of(train)), "train")
    x = check_points(torch.as_tensor(x, device=_device_of(x)), "x", train.shape[1])
    alpha = check_positive(alpha, "alpha", allow_zero=True)
    sigma = check_positive(sigma, "sigma")
    xd, td = x.double(), train.double().to(x.device)
    squared = _scaled_squared_distances(xd, alpha, td)
    log_w = torch.log_softmax(-squared / (2 * sigma**2), dim=1)
    return -(log_w.exp() * log_w).sum(1).to(x.dtype)
