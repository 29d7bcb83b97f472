"""The Ising model as an energy-based model: samplers and exact results.

Energy of a spin configuration s in {-1, +1}^N on a periodic lattice (J = k_B = 1 unless
given):  E(s) = -J sum_<ij> s_i s_j - h sum_i s_i, sampled from p(s) = exp(-E(s)/T) / Z.

Contents
    exact results   ``T_C``, ``onsager_energy``, ``onsager_free_energy``, ``yang_magnetization``,
                    ``BINDER_CROSSING``, the 1D chain (``chain_*``), mean-field theory
                    (``mean_field_*``), ``exact_energy_distribution`` (enumeration, L <= 4)
    lattice helpers ``lattice_energy``, ``delta_energy``, ``binder_cumulant``,
                    ``all_configurations``
    samplers        ``metropolis_sweep_sites`` (plain loop over sites, numpy),
                    ``CheckerboardMetropolis`` (batched over temperatures and replicas, torch),
                    ``wolff_update`` (cluster algorithm, numpy)
    tests           ``energy_chi_square`` (sampled energies against exact probabilities)
    measurements    ``simulate``, ``binder_crossing``

References
    N. Metropolis et al., J. Chem. Phys. 21, 1087 (1953) -- the Metropolis rule.
    L. Onsager, Phys. Rev. 65, 117 (1944) -- free energy, internal energy, T_c.
    C. N. Yang, Phys. Rev. 85, 808 (1952) -- spontaneous magnetization.
    U. Wolff, Phys. Rev. Lett. 62, 361 (1989) -- single-cluster algorithm.
    K. Binder, Z. Phys. B 43, 119 (1981); G. Kamieniarz and H. W. J. Blote,
    J. Phys. A 26, 201 (1993) -- cumulant crossing value U* = 0.61069.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import ellipk

from . import rng
from .checks import (
    as_spins,
    check_count,
    check_finite,
    check_positive,
    check_real,
    check_temperatures,
    check_weights,
)
from .notebook import default_device, progress
from .stats import bisect, mean_and_error

__all__ = [
    "T_C", "BINDER_CROSSING", "onsager_energy", "onsager_free_energy", "yang_magnetization",
    "chain_free_energy", "chain_magnetization", "chain_correlation", "mean_field_free_energy",
    "mean_field_magnetization", "neighbour_sum", "lattice_energy", "delta_energy",
    "binder_cumulant", "all_configurations", "exact_energy_distribution", "energy_chi_square",
    "metropolis_sweep_sites", "CheckerboardMetropolis", "wolff_update", "Observables", "simulate",
    "binder_crossing",
]

T_C: float = 2.0 / np.log(1.0 + np.sqrt(2.0))
"""Onsager's critical temperature of the square lattice, 2 / ln(1 + sqrt 2) = 2.26918..."""

BINDER_CROSSING: float = 0.61069
"""Binder cumulant at T_c, periodic square lattice, universal (Kamieniarz & Blote 1993)."""


# --------------------------------------------------------------------------- argument checks
def _reals(values: object, name: str) -> np.ndarray:
    """Finite real numbers of any sign, a scalar or an array (fields h that broadcast with T)."""
    array = np.asarray(values)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real number or an array of them, got {array.dtype}")
    return check_finite(array.astype(float), name)


# --------------------------------------------------------------------------- exact results


def onsager_energy(T: float | np.ndarray) -> np.ndarray:
    """Internal energy per site of the infinite square lattice (Onsager 1944).

    u = -coth(2b) [1 + (2/pi) (2 tanh(2b)^2 - 1) K(k)],  k = 2 sinh(2b) / cosh(2b)^2,
    with K the complete elliptic integral of the first kind (scipy takes m = k^2).
    """
    b = 1.0 / check_temperatures(T)
    k2 = np.minimum((2.0 * np.sinh(2 * b) / np.cosh(2 * b) ** 2) ** 2, 1.0)
    # At T_c, K(k) diverges logarithmically while its prefactor vanishes linearly: the product is 0.
    elliptic = ellipk(np.where(k2 < 1.0, k2, 0.0))
    singular = np.where(k2 < 1.0, (2 * np.tanh(2 * b) ** 2 - 1) * elliptic, 0.0)
    return -1.0 / np.tanh(2 * b) * (1 + (2 / np.pi) * singular)


def onsager_free_energy(T: float | np.ndarray, n_grid: int = 256) -> np.ndarray:
    """Free energy per site f(T) of the infinite square lattice (Onsager 1944).

    -f/T = ln 2 + 1/(8 pi^2) int_0^{2pi} int_0^{2pi} ln[cosh(2b)^2 - sinh(2b)(cos t1 + cos t2)],
    integrated over dt1 dt2.
    The integrand is periodic, so the midpoint rule on an n_grid^2 grid converges very fast.
    """
    T, n_grid = check_temperatures(T), check_count(n_grid, "n_grid")
    b = 1.0 / T
    t = (np.arange(n_grid) + 0.5) * 2 * np.pi / n_grid
    cos_sum = np.cos(t)[:, None] + np.cos(t)[None, :]
    c2, s2 = np.cosh(2 * b)[..., None, None], np.sinh(2 * b)[..., None, None]
    integral = np.log(c2**2 - s2 * cos_sum).mean(axis=(-2, -1)) * (2 * np.pi) ** 2
    return -T * (np.log(2.0) + integral / (8 * np.pi**2))


def yang_magnetization(T: float | np.ndarray) -> np.ndarray:
    """Spontaneous magnetization per site (Yang 1952): (1 - sinh(2/T)^-4)^(1/8) below T_c,
    else 0."""
    T = check_temperatures(T)
    inside = 1.0 - np.sinh(2.0 / T) ** -4.0
    return np.where(T < T_C, np.clip(inside, 0, None) ** 0.125, 0.0)


def chain_free_energy(T: float | np.ndarray, J: float = 1.0, h: float = 0.0) -> np.ndarray:
    """Free energy per site of the infinite 1D chain from the larger transfer-matrix eigenvalue,
    lambda_+ = e^{bJ} cosh(bh) + sqrt(e^{2bJ} sinh(bh)^2 + e^{-2bJ}).
    At h = 0: -T ln(2 cosh(J/T))."""
    T, J, h = check_temperatures(T), _reals(J, "J"), _reals(h, "h")
    b = 1.0 / T
    root = np.sqrt(np.exp(2 * b * J) * np.sinh(b * h) ** 2 + np.exp(-2 * b * J))
    lam = np.exp(b * J) * np.cosh(b * h) + root
    return -T * np.log(lam)


def chain_magnetization(T: float | np.ndarray, J: float = 1.0, h: float = 0.0) -> np.ndarray:
    """Magnetization per site of the infinite 1D chain, m = sinh(bh) / sqrt(sinh(bh)^2 + e^{-4bJ}).
    It vanishes at h = 0 for every T > 0: no phase transition in one dimension."""
    b, J, h = 1.0 / check_temperatures(T), _reals(J, "J"), _reals(h, "h")
    return np.sinh(b * h) / np.sqrt(np.sinh(b * h) ** 2 + np.exp(-4 * b * J))


def chain_correlation(
    r: int | np.ndarray, T: float, J: float = 1.0, n_sites: int | None = None
) -> np.ndarray:
    """Spin-spin correlation <s_0 s_r> of the 1D chain at h = 0: t^r with t = tanh(J/T);
    on a ring of n_sites sites (t^r + t^(N-r)) / (1 + t^N)."""
    t = np.tanh(check_real(J, "J") / float(check_temperatures(T, ndim=0)))
    r = check_finite(np.asarray(r, dtype=float), "r")
    if np.any(r < 0):
        raise ValueError("r (distance) must be >= 0")
    if n_sites is None:
        return t**r
    n_sites = check_count(n_sites, "n_sites")
    if np.any(r > n_sites):
        raise ValueError(f"r (distance) must be <= n_sites = {n_sites} on a ring")
    return (t**r + t ** (n_sites - r)) / (1 + t**n_sites)


def mean_field_free_energy(
    m: float | np.ndarray, T: float, J: float = 1.0, h: float = 0.0, z: int = 4
) -> np.ndarray:
    """Variational (Gibbs-Bogoliubov) free energy per site of a product trial state with
    magnetization m:
    f(m) = -(zJ/2) m^2 - h m + T [(1+m)/2 ln((1+m)/2) + (1-m)/2 ln((1-m)/2)].
    It is an upper bound on the exact free energy for every m."""
    m = check_finite(np.asarray(m, dtype=float), "m")
    if np.any(np.abs(m) > 1):
        raise ValueError("m (magnetization) must lie in [-1, 1]")
    T, J, h = check_temperatures(T, ndim=0), check_real(J, "J"), check_real(h, "h")
    z = check_count(z, "z")
    p, q = (1 + m) / 2, (1 - m) / 2
    entropy_term = sum(np.where(x > 0, x * np.log(np.where(x > 0, x, 1)), 0) for x in (p, q))
    return -(z * J / 2) * m**2 - h * m + float(T) * entropy_term


def mean_field_magnetization(
    T: float | np.ndarray, J: float = 1.0, h: float = 0.0, z: int = 4
) -> np.ndarray:
    """Minimizer of ``mean_field_free_energy``: the stable solution of m = tanh((zJm + h)/T)
    (Curie-Weiss), found by bisection on m >= 0 (the solution with the sign of h; positive at
    h = 0).
    Mean-field T_c = zJ = 4 on the square lattice."""
    T, J, h, z = check_temperatures(T), check_real(J, "J"), check_real(h, "h"), check_count(z, "z")
    sign = -1.0 if h < 0 else 1.0
    # g(m) = tanh((zJm + |h|)/T) - m is > 0 below the stable root and < 0 above it
    return sign * bisect(lambda m: np.tanh((z * J * m + abs(h)) / T) - m, np.zeros_like(T), 1.0)


# --------------------------------------------------------------------------- lattice helpers
def _check_lattice(spins: np.ndarray) -> np.ndarray:
    return as_spins(spins, "spins", min_ndim=2, shape_hint="(..., L, L)")


def _check_in_place(spins: np.ndarray) -> None:
    """Spins updated in place: a C-contiguous numpy array of +-1 with at least two axes."""
    if not isinstance(spins, np.ndarray) or not spins.flags.c_contiguous:
        raise TypeError("spins must be a C-contiguous numpy array: it is updated in place")
    _check_lattice(spins)


def neighbour_sum(spins: np.ndarray) -> np.ndarray:
    """Sum of the four nearest neighbours of every site, periodic boundaries, last two axes."""
    spins = _check_lattice(spins)
    horizontal = np.roll(spins, 1, -1) + np.roll(spins, -1, -1)
    return horizontal + np.roll(spins, 1, -2) + np.roll(spins, -1, -2)


def lattice_energy(spins: np.ndarray, J: float = 1.0, h: float = 0.0) -> np.ndarray:
    """Energy per site of one or many lattices of shape (..., L, L): each bond counted once."""
    spins, J, h = _check_lattice(spins).astype(float), check_real(J, "J"), check_real(h, "h")
    bonds = spins * (np.roll(spins, 1, -1) + np.roll(spins, 1, -2))
    return -J * bonds.mean(axis=(-2, -1)) - h * spins.mean(axis=(-2, -1))


def delta_energy(spins: np.ndarray, J: float = 1.0, h: float = 0.0) -> np.ndarray:
    """Energy change of flipping each site alone: dE_i = 2 s_i (J sum_nn s_j + h)."""
    spins, J, h = _check_lattice(spins), check_real(J, "J"), check_real(h, "h")
    return 2.0 * spins * (J * neighbour_sum(spins) + h)


def binder_cumulant(m: np.ndarray, axis: int = -1) -> np.ndarray:
    """U = 1 - <m^4> / (3 <m^2>^2): 2/3 in an ordered phase, 0 for Gaussian fluctuations."""
    m = check_finite(np.asarray(m, dtype=float), "m")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"axis must be an integer, got {type(axis).__name__}")
    if m.ndim == 0 or not -m.ndim <= axis < m.ndim:
        raise ValueError(f"axis={axis} is out of range for m of shape {m.shape}")
    if m.shape[axis] == 0:
        raise ValueError(f"m must have at least one value along axis {axis}, got shape {m.shape}")
    second = (m**2).mean(axis=axis)
    if np.any(second == 0):
        raise ValueError("m is 0 in every sample: the cumulant is undefined (measure longer)")
    return 1.0 - (m**4).mean(axis=axis) / (3.0 * second**2)


def all_configurations(n_spins: int) -> np.ndarray:
    """All 2^n configurations of n spins as rows of +-1, in binary order (spin 0 is the most
    significant bit)."""
    if not 1 <= check_count(n_spins, "n_spins") <= 20:
        raise ValueError(f"n_spins must lie in 1..20 for an enumeration, got {n_spins}")
    bits = (np.arange(2**n_spins)[:, None] >> np.arange(n_spins - 1, -1, -1)) & 1
    return (2 * bits - 1).astype(np.int8)


def exact_energy_distribution(
    T: float, L: int = 4, J: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Energy levels per site of the periodic L x L lattice and their Boltzmann probabilities,
    sum over the 2^(L^2) states: p(e) = g(e) exp(-N e / T) / Z, g the number of states at e."""
    if not 2 <= check_count(L, "L") <= 4:
        raise ValueError(f"enumeration needs 2 <= L <= 4, got {L!r}")
    n, J, T = L * L, check_real(J, "J"), check_temperatures(T, ndim=0)
    total = np.rint(n * lattice_energy(all_configurations(n).reshape(-1, L, L), J)).astype(int)
    levels, degeneracy = np.unique(total, return_counts=True)
    weights = degeneracy * np.exp(-(levels - levels.min()) / float(T))
    return levels / n, weights / weights.sum()


def energy_chi_square(
    energies: np.ndarray, levels: np.ndarray, probabilities: np.ndarray, min_expected: float = 5.0
) -> tuple[float, int, float]:
    """Pearson's chi-square test of independent energy samples against exact probabilities.

    Levels expected fewer than ``min_expected`` times are pooled into one bin. Returns the
    statistic, its degrees of freedom (bins - 1) and the p-value P(chi2_dof >= statistic).
    """
    from scipy.stats import chi2

    energies = check_finite(np.asarray(energies, dtype=float).ravel(), "energies")
    levels = check_finite(np.asarray(levels, dtype=float), "levels")
    probabilities = check_weights(np.asarray(probabilities, dtype=float), "probabilities")
    min_expected = check_positive(min_expected, "min_expected")
    if levels.ndim != 1 or probabilities.shape != levels.shape or energies.size == 0:
        raise ValueError(
            f"levels and probabilities must be 1D of one length and energies non-empty, got "
            f"shapes {levels.shape}, {probabilities.shape}, {energies.shape}"
        )
    nearest = np.abs(energies[:, None] - levels[None]).argmin(axis=1)
    if np.any(np.abs(energies - levels[nearest]) > 1e-9):
        raise ValueError("a sampled energy is not one of the levels")
    observed = np.bincount(nearest, minlength=len(levels)).astype(float)
    if abs(probabilities.sum() - 1) > 1e-6:
        raise ValueError(f"probabilities must sum to 1, got {probabilities.sum()}")
    expected = len(energies) * probabilities
    rare = expected < min_expected
    observed = np.append(observed[~rare], observed[rare].sum())
    expected = np.append(expected[~rare], expected[rare].sum())
    if expected[-1] < min_expected and len(expected) > 1:  # too few even pooled: join a bin
        k = int(np.argmin(expected[:-1]))
        observed[k], expected[k] = observed[k] + observed[-1], expected[k] + expected[-1]
        observed, expected = observed[:-1], expected[:-1]
    if len(expected) < 2:
        raise ValueError(
            f"energies: {len(energies)} samples are too few for a chi-square test (fewer than two "
            f"bins expected min_expected = {min_expected} times)"
        )
    statistic = float(((observed - expected) ** 2 / expected).sum())
    dof = len(expected) - 1
    return statistic, dof, float(chi2.sf(statistic, dof))


def metropolis_sweep_sites(
    spins: np.ndarray, T: float, J: float = 1.0, *, generator: rng.NumpySeed = None
) -> np.ndarray:
    """One Metropolis sweep (Metropolis et al. 1953), site by site in reading order, in place.

    For each site: dE = 2 J s_i (sum of its four neighbours), flip with probability
    min(1, exp(-dE/T)). Plain and slow: a Python loop over the L x L sites. ``spins`` has
    shape (..., L, L); the leading axes are independent replicas, updated together.
    """
    _check_in_place(spins)
    T, J = float(check_temperatures(T, ndim=0)), check_real(J, "J")
    generator = rng.numpy_generator(generator)
    n_rows, n_cols = spins.shape[-2:]
    for i in range(n_rows):
        for j in range(n_cols):
            s = spins[..., i, j]  # index -1 is the last row/column: periodic boundaries
            neighbours = (spins[..., i - 1, j] + spins[..., (i + 1) % n_rows, j]
                          + spins[..., i, j - 1] + spins[..., i, (j + 1) % n_cols])
            dE = 2.0 * J * s * neighbours
            flip = generator.random(s.shape) < np.exp(-dE / T)
            spins[..., i, j] = np.where(flip, -s, s)
    return spins


# --------------------------------------------------------------------------- Metropolis sampler
class CheckerboardMetropolis:
    """Metropolis sampling of many 2D Ising lattices at once (torch; GPU when present).

    Sites split into two colours like a checkerboard; no two sites of one colour are
    neighbours, so all sites of one colour can be updated at the same time, each with the
    Metropolis rule: flip with probability min(1, exp(-dE/T)). One sweep = two such
    half-sweeps, one array operation each, batched over temperatures x replicas.

    Each colour is stored compactly as an (B, L, L/2) array, so a half-sweep draws random
    numbers only for the sites it updates:  colour c holds s[i, 2k + (i + c) % 2] at [i, k].

    Example:
        >>> sim = CheckerboardMetropolis(L=16, temperatures=[1.5, 3.0], replicas=4, generator=0)
        >>> sim.sweep(200)
        >>> sim.spins().shape
        torch.Size([2, 4, 16, 16])
    """

    def __init__(
        self,
        L: int,
        temperatures: float | list[float] | np.ndarray,
        replicas: int = 1,
        J: float = 1.0,
        start: str = "cold",
        generator: rng.Seed = 0,
        device: torch.device | str | None = None,
    ) -> None:
        if check_count(L, "L", minimum=2) % 2:
            raise ValueError(f"L must be an even integer >= 2 (checkerboard), got {L!r}")
        replicas = check_count(replicas, "replicas")
        if start not in ("cold", "hot"):
            raise ValueError(f"start must be 'cold' (all up) or 'hot' (random), got {start!r}")
        self.temperatures = np.atleast_1d(check_temperatures(temperatures, "temperatures"))
        if self.temperatures.ndim != 1:
            raise ValueError("temperatures must be a scalar or a 1D sequence")
        self.L, self.replicas, self.J = int(L), replicas, check_real(J, "J")
        self.device = torch.device(device) if device is not None else default_device()
        # an integer seeds a generator on the sampler's device; None is torch's default stream
        self.generator = rng.torch_generator(generator, self.device)
        if self.generator is not None and self.generator.device.type != self.device.type:
            raise ValueError(f"generator is on {self.generator.device}, not on {self.device}")
        n_batch = len(self.temperatures) * self.replicas
        shape = (n_batch, self.L, self.L // 2)
        self._random = torch.empty(shape, dtype=torch.int32, device=self.device)
        if start == "cold":
            self.colours = [
                torch.ones(shape, dtype=torch.int8, device=self.device) for _ in range(2)
            ]
        else:
            self.colours = [
                (2 * rng.randint(0, 2, shape, self._random, self.generator) - 1).to(torch.int8)
                for _ in range(2)
            ]
        # Acceptance thresholds for s_i * sum_nn = 2 and 4 (dE = 4J, 8J), compared with uniform
        # 31-bit integers: P(r < floor(2^31 p)) = p to within 2^-31.
        beta = np.repeat(1.0 / self.temperatures, self.replicas)
        self._thresholds = [
            torch.tensor(
                np.clip(np.floor(np.exp(-beta * abs(self.J) * dE) * 2**31), 0, 2**31 - 1),
                device=self.device,
            )
            .to(torch.int32)
            .view(-1, 1, 1)
            for dE in (4.0, 8.0)
        ]
        rows = torch.arange(self.L, device=self.device).view(1, -1, 1)
        self._odd_row = [(rows + c) % 2 == 1 for c in (0, 1)]  # row i of colour c starts at j = 1

    def _neighbour_sum(self, c: int) -> torch.Tensor:
        """Sum of the four neighbours of every colour-c site; all of them have the other colour."""
        other = self.colours[1 - c]
        # Left/right neighbours: columns k-1 and k on even rows of colour c, k and k+1 on odd rows.
        side = torch.where(self._odd_row[c], other.roll(-1, -1), other.roll(1, -1))
        return other.roll(1, -2) + other.roll(-1, -2) + other + side

    def half_sweep(self, c: int) -> None:
        """Metropolis update of every site of colour c (0 or 1) at once."""
        if c not in (0, 1):
            raise ValueError(f"c (colour) must be 0 or 1, got {c!r}")
        spins = self.colours[c]
        x = spins * self._neighbour_sum(c)  # in {-4, -2, 0, 2, 4}; dE = 2 J x
        self._random.random_(generator=self.generator)  # uniform in [0, 2^31)
        if self.J < 0:  # antiferromagnet: the costly moves are x = -2, -4
            x = -x
        below = [self._random < threshold for threshold in self._thresholds]
        accept = (x <= 0) | ((x == 2) & below[0]) | ((x == 4) & below[1])
        self.colours[c] = spins * (1 - 2 * accept.to(torch.int8))

    def sweep(self, n_sweeps: int = 1) -> None:
        """n_sweeps full sweeps (each site offered one flip per sweep)."""
        for _ in range(check_count(n_sweeps, "n_sweeps")):
            self.half_sweep(0)
            self.half_sweep(1)

    def _columns(self, c: int) -> torch.Tensor:
        """Column j = 2k + (i + c) % 2 of the full lattice held at [i, k] by colour c,
        shape (L, L/2)."""
        i = torch.arange(self.L, device=self.device).view(-1, 1)
        k = torch.arange(self.L // 2, device=self.device).view(1, -1)
        return 2 * k + (i + c) % 2

    def spins(self) -> torch.Tensor:
        """Full lattices, shape (temperatures, replicas, L, L)."""
        rows = torch.arange(self.L, device=self.device).view(-1, 1)
        shape = (self.colours[0].shape[0], self.L, self.L)
        full = torch.empty(shape, dtype=torch.int8, device=self.device)
        for c in (0, 1):
            full[:, rows, self._columns(c)] = self.colours[c]
        return full.view(len(self.temperatures), self.replicas, self.L, self.L)

    def set_spins(self, spins: np.ndarray | torch.Tensor) -> None:
        """Load full lattices of shape (temperatures, replicas, L, L), or anything that
        broadcasts to it."""
        array = as_spins(spins.cpu().numpy() if torch.is_tensor(spins) else spins, "spins")
        spins = torch.as_tensor(array, device=self.device).to(torch.int8)
        shape = (len(self.temperatures), self.replicas, self.L, self.L)
        try:
            spins = spins.expand(shape).reshape(-1, self.L, self.L)
        except RuntimeError:
            raise ValueError(f"spins of shape {tuple(spins.shape)} do not fit {shape}") from None
        rows = torch.arange(self.L, device=self.device).view(-1, 1)
        self.colours = [spins[:, rows, self._columns(c)].contiguous() for c in (0, 1)]

    def energy(self) -> np.ndarray:
        """Energy per site, shape (temperatures, replicas); every bond joins colour 0 to 1."""
        bonds = (self.colours[0] * self._neighbour_sum(0)).sum(dim=(-2, -1), dtype=torch.int64)
        energy = -self.J * bonds.cpu().numpy() / self.L**2
        return energy.reshape(len(self.temperatures), self.replicas)

    def magnetization(self) -> np.ndarray:
        """Magnetization per site, shape (temperatures, replicas)."""
        total = sum(c.sum(dim=(-2, -1), dtype=torch.int64) for c in self.colours)
        return (total.cpu().numpy() / self.L**2).reshape(len(self.temperatures), self.replicas)


# ------------------------------------------------------------------- Wolff cluster algorithm
def wolff_update(
    spins: np.ndarray, T: float, J: float = 1.0, *, generator: rng.NumpySeed = None
) -> int:
    """One Wolff single-cluster update of an (L, L) lattice, in place; returns the cluster size.

    Grow a cluster from a random seed site: each bond to an aligned neighbour outside the
    cluster joins it with probability p = 1 - exp(-2J/T); then flip the whole cluster
    (accepted with probability 1). The cluster grows one generation at a time, so every
    numpy operation acts on a whole frontier of sites (Wolff 1989).
    """
    _check_in_place(spins)
    if spins.ndim != 2 or spins.shape[0] != spins.shape[1]:
        raise ValueError(f"spins must be one square lattice (L, L), got shape {spins.shape}")
    if check_real(J, "J") <= 0:
        raise ValueError(f"J must be > 0: the Wolff algorithm here is for ferromagnets, got {J}")
    L, random = spins.shape[0], rng.numpy_generator(generator)
    p_add = 1.0 - np.exp(-2.0 * J / float(check_temperatures(T, ndim=0)))
    flat = spins.reshape(-1)  # a view: flipping flat flips spins
    seed = int(random.integers(L * L))
    value = flat[seed]
    in_cluster = np.zeros(L * L, dtype=bool)
    in_cluster[seed] = True
    frontier = np.array([seed])
    while frontier.size:
        i, j = np.divmod(frontier, L)
        up, down = ((i - 1) % L) * L + j, ((i + 1) % L) * L + j
        left, right = i * L + (j - 1) % L, i * L + (j + 1) % L
        neighbours = np.concatenate([down, up, right, left])
        candidates = neighbours[(flat[neighbours] == value) & ~in_cluster[neighbours]]
        joined = np.unique(candidates[random.random(candidates.size) < p_add])  # one bond test each
        in_cluster[joined] = True
        frontier = joined
    flat[in_cluster] = -value
    return int(in_cluster.sum())


# --------------------------------------------------------------------------- measurements
@dataclass
class Observables:
    """Thermal averages per temperature, each with its standard error over independent replicas.

    Per site: energy e, absolute magnetization <|m|>, its square <m^2>, specific heat
    C = N (<e^2> - <e>^2) / T^2, Binder cumulant U, and the finite-size susceptibility
    chi' = N (<m^2> - <|m|>^2) / T, where <|m|> stands in for <m>, which is 0 on a
    finite lattice. Below T_c it tends to the susceptibility of one phase; above T_c, where m
    is Gaussian, to (1 - 2/pi) N <m^2> / T."""

    temperatures: np.ndarray
    L: int
    energy: np.ndarray
    energy_err: np.ndarray
    abs_magnetization: np.ndarray
    abs_magnetization_err: np.ndarray
    square_magnetization: np.ndarray
    square_magnetization_err: np.ndarray
    specific_heat: np.ndarray
    specific_heat_err: np.ndarray
    susceptibility: np.ndarray
    susceptibility_err: np.ndarray
    binder: np.ndarray
    binder_err: np.ndarray


def simulate(
    L: int,
    temperatures: list[float] | np.ndarray,
    replicas: int = 16,
    n_equilibrate: int = 500,
    n_measure: int = 2000,
    generator: rng.Seed = 0,
    start: str = "cold",
    show_progress: bool = True,
) -> Observables:
    """Equilibrate, then measure energy and magnetization after every sweep, for all
    temperatures x replicas at once. Errors are standard errors over the replicas, whose
    time averages are independent."""
    replicas = check_count(replicas, "replicas", minimum=2)  # two or more for error bars
    n_equilibrate = check_count(n_equilibrate, "n_equilibrate", minimum=0)
    n_measure = check_count(n_measure, "n_measure")
    sim = CheckerboardMetropolis(L, temperatures, replicas, start=start, generator=generator)
    if n_equilibrate:
        sim.sweep(n_equilibrate)
    e = np.empty((n_measure, *sim.energy().shape))
    m = np.empty_like(e)
    for t in progress(range(n_measure), desc=f"L={L}", disable=not show_progress or None):
        sim.sweep()
        e[t], m[t] = sim.energy(), sim.magnetization()
    T = sim.temperatures[:, None]
    n = L * L
    per_replica = {
        "energy": e.mean(0),
        "abs_magnetization": np.abs(m).mean(0),
        "square_magnetization": (m**2).mean(0),
        "specific_heat": n * e.var(0) / T**2,
        "susceptibility": n * ((m**2).mean(0) - np.abs(m).mean(0) ** 2) / T,
        "binder": binder_cumulant(m, axis=0),
    }
    fields = {}
    for name, values in per_replica.items():
        fields[name], fields[name + "_err"] = mean_and_error(values, axis=1)
    # The cumulant is a ratio of moments: estimate it from moments pooled over replicas,
    # keeping the replica spread as its error bar.
    pooled = m.transpose(1, 0, 2).reshape(len(sim.temperatures), -1)
    fields["binder"] = binder_cumulant(pooled, axis=-1)
    return Observables(temperatures=sim.temperatures, L=L, **fields)


def binder_crossing(
    temperatures: np.ndarray, u_small: np.ndarray, u_large: np.ndarray
) -> tuple[float, float]:
    """Temperature and value where two Binder-cumulant curves cross (linear interpolation
    between the two temperatures that bracket the sign change of u_large - u_small)."""
    T = check_finite(np.asarray(temperatures, dtype=float), "temperatures")
    u_small = check_finite(np.asarray(u_small, dtype=float), "u_small")
    u_large = check_finite(np.asarray(u_large, dtype=float), "u_large")
    if T.ndim != 1 or len(T) < 2 or u_small.shape != T.shape or u_large.shape != T.shape:
        raise ValueError(
            f"temperatures, u_small and u_large must be 1D of one length >= 2, got shapes "
            f"{T.shape}, {u_small.shape}, {u_large.shape}"
        )
    d = u_large - u_small
    change = np.nonzero(np.sign(d[:-1]) != np.sign(d[1:]))[0]
    if change.size == 0:
        raise ValueError("u_small and u_large do not cross inside the temperature range")
    k = change[0]
    w = d[k] / (d[k] - d[k + 1])
    T_cross = T[k] + w * (T[k + 1] - T[k])
    U_cross = u_small[k] + w * (u_small[k + 1] - u_small[k])
    return float(T_cross), float(U_cross)
