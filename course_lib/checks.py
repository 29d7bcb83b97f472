"""Argument checks shared by the topic modules: a clear ``ValueError`` or ``TypeError`` that
names the argument, instead of a silent wrong result or an error from deep inside.

Every public function of ``course_lib`` checks its arguments with these helpers.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = [
    "as_spins",
    "check_count",
    "check_positive",
    "check_fraction",
    "check_finite",
    "check_points",
    "check_weights",
    "check_real",
    "check_temperatures",
]


def as_spins(values: object, name: str, min_ndim: int = 1, shape_hint: str = "") -> np.ndarray:
    """``values`` as an array, checked to have at least ``min_ndim`` axes and only +1/-1 entries."""
    array = np.asarray(values)
    if array.ndim < min_ndim:
        hint = f" {shape_hint}" if shape_hint else ""
        raise ValueError(
            f"{name} must have at least {min_ndim} axes{hint}, got shape {array.shape}"
        )
    if not np.all(np.abs(array) == 1):
        raise ValueError(f"{name} must contain only +1 and -1")
    return array


def check_count(value: object, name: str, minimum: int = 1) -> int:
    """An integer >= ``minimum`` (a number of steps, samples, chains...)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_positive(value: object, name: str, allow_zero: bool = False) -> float:
    """A finite real number > 0 (>= 0 with ``allow_zero``): a temperature, a step size..."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value}")
    return value


def check_fraction(value: object, name: str) -> float:
    """A number in [0, 1] (a probability, a fraction of flipped spins...)."""
    value = check_positive(value, name, allow_zero=True)
    if value > 1:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")
    return value


def check_finite(values: torch.Tensor | np.ndarray, name: str) -> torch.Tensor | np.ndarray:
    """``values`` unchanged, after checking it has no NaN or infinite entry."""
    finite = torch.isfinite(values).all() if torch.is_tensor(values) else np.isfinite(values).all()
    if not bool(finite):
        raise ValueError(f"{name} contains NaN or infinite values")
    return values


def check_points(x: torch.Tensor, name: str, dim: int | None = None) -> torch.Tensor:
    """A finite tensor of points, shape (n, d) with n >= 1 (and d == ``dim`` if given)."""
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a torch.Tensor of shape (n, d), got {type(x).__name__}")
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"{name} must have shape (n, d) with n >= 1, got {tuple(x.shape)}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{name} must have {dim} columns, got shape {tuple(x.shape)}")
    if x.device.type != "meta":
        check_finite(x, name)
    return x


def check_weights(weights: torch.Tensor | np.ndarray, name: str) -> torch.Tensor | np.ndarray:
    """Non-negative, finite weights that are not all zero."""
    check_finite(weights, name)
    if bool((weights < 0).any()) or not bool((weights > 0).any()):
        raise ValueError(f"{name} must be non-negative and not all zero")
    return weights


def check_real(value: object, name: str) -> float:
    """A finite real number of any sign (a coupling J, a field h)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


def check_temperatures(values: object, name: str = "T", ndim: int | None = None) -> np.ndarray:
    """Finite temperatures > 0 as a float array, at least one (with ``ndim`` axes if given: 0 for
    a single temperature, 1 for a list)."""
    try:
        T = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} (temperature) must be a number or an array of numbers") from None
    if T.size == 0 or np.any(~np.isfinite(T)) or np.any(T <= 0):
        raise ValueError(f"{name} (temperature) must be positive and finite, got {T}")
    if ndim is not None and T.ndim != ndim:
        what = {0: "a single temperature", 1: "a 1D list of temperatures"}.get(ndim, f"{ndim}D")
        raise ValueError(f"{name} must be {what}, got shape {T.shape}")
    return T
