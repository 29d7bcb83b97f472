"""Data sets that ship with installed packages or are generated here; nothing is downloaded.

scikit-learn's 8x8 digits (1797 images, pixel values 0..16) ship inside scikit-learn.
The course uses one fixed split everywhere: train = first 1000, validation = next 350,
test = last 447.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import check_count, check_positive
from .rng import NumpySeed, numpy_generator

__all__ = [
    "DigitsSplit",
    "load_digits_split",
    "binarized_digits",
    "digit_prototypes",
    "two_moons",
    "rings",
    "checkerboard",
    "gaussian_clusters",
]

N_TRAIN, N_VALIDATION = 1000, 350


@dataclass(frozen=True)
class DigitsSplit:
    """Images as rows of 64 pixel values in 0..16, and their labels."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    train_labels: np.ndarray
    validation_labels: np.ndarray
    test_labels: np.ndarray


def load_digits_split() -> DigitsSplit:
    """scikit-learn digits in the course's fixed split (1000 / 350 / 447), in file order."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = digits.data.astype(np.int64), digits.target
    a, b = N_TRAIN, N_TRAIN + N_VALIDATION
    return DigitsSplit(x[:a], x[a:b], x[b:], y[:a], y[a:b], y[b:])


def binarized_digits(threshold: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits as +-1 patterns (pixel > threshold -> +1), shape (1797, 64), with labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return np.where(digits.data > threshold, 1, -1).astype(np.int8), digits.target


def digit_prototypes() -> np.ndarray:
    """One +-1 prototype per digit class 0..9 (pixel-wise majority vote of the binarized
    images), shape (10, 64)."""
    x, y = binarized_digits()
    return np.array([np.where(x[y == k].mean(axis=0) > 0, 1, -1) for k in range(10)], dtype=np.int8)


def two_moons(n: int, noise: float = 0.05, generator: NumpySeed = 0) -> np.ndarray:
    """scikit-learn's two moons, standardized per axis (zero mean, unit variance), shape (n, 2).

    The points are evenly spaced along the arcs before the noise is added, so draws with
    different seeds share their arc positions; for i.i.d. points take a random subset of a
    large draw."""
    from sklearn.datasets import make_moons

    n, noise = check_count(n, "n", minimum=2), check_positive(noise, "noise", allow_zero=True)
    # scikit-learn takes an integer seed; a Generator hands one over
    if not isinstance(generator, (int, np.integer)):
        generator = int(numpy_generator(generator).integers(2**31))
    x, _ = make_moons(n_samples=n, noise=noise, random_state=int(generator))
    return (x - x.mean(axis=0)) / x.std(axis=0)


def rings(n: int, noise: float = 0.08, generator: NumpySeed = 0) -> np.ndarray:
    """Two concentric rings of radii 1 and 2 (equal numbers of points), with Gaussian radial
    noise, shape (n, 2)."""
    n, noise = check_count(n, "n"), check_positive(noise, "noise", allow_zero=True)
    rng = numpy_generator(generator)
    radius = np.where(np.arange(n) % 2 == 0, 1.0, 2.0) + noise * rng.standard_normal(n)
    angle = rng.uniform(0, 2 * np.pi, n)
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)


def checkerboard(n: int, generator: NumpySeed = 0) -> np.ndarray:
    """Uniform density on the black squares (floor(x) + floor(y) even) of a 4 x 4 board on
    [-2, 2]^2, shape (n, 2)."""
    rng = numpy_generator(generator)
    n = check_count(n, "n")
    x = rng.uniform(-2, 2, n)
    row = rng.integers(-2, 2, n)
    # move to the black square of the column
    row = np.where((np.floor(x) + row) % 2 == 0, row, (row + 3) % 4 - 2)
    return np.stack([x, row + rng.uniform(0, 1, n)], axis=1)


def gaussian_clusters(
    n: int, dim: int = 16, clusters: int = 8, std: float = 0.35, generator: NumpySeed = 0
) -> np.ndarray:
    """Equal-weight isotropic Gaussian clusters in ``dim`` dimensions, shape (n, dim).

    The cluster centres are fixed (drawn once from seed 123 and scaled to length 0.9 sqrt(dim)),
    so draws with different generators come from the same distribution, like ``two_moons``."""
    n, dim = check_count(n, "n"), check_count(dim, "dim")
    clusters = check_count(clusters, "clusters")
    std = check_positive(std, "std", allow_zero=True)
    centres = np.random.default_rng(123).standard_normal((clusters, dim))
    centres *= 0.9 * np.sqrt(dim) / np.linalg.norm(centres, axis=1, keepdims=True)
    rng = numpy_generator(generator)
    return centres[rng.integers(clusters, size=n)] + std * rng.standard_normal((n, dim))
