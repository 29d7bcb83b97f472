"""Input checks shared by the topic modules: clear messages instead of silent wrong results."""

from __future__ import annotations

import numpy as np

__all__ = ["as_spins"]


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
