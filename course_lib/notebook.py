"""Helpers shared by every lecture and lab: seeding, device choice, plotting style,
showing library source code, and progress bars."""

from __future__ import annotations

import inspect
import os
import random
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

__all__ = ["seed_everything", "default_device", "use_course_style", "show_source", "progress"]


def seed_everything(seed: int = 0) -> np.random.Generator:
    """Seed Python's ``random``, NumPy's global state and PyTorch (CPU and CUDA).

    Returns a fresh ``numpy.random.Generator`` seeded with ``seed``; pass it on
    explicitly rather than relying on global state.

    Example:
        >>> rng = seed_everything(1)
        >>> float(rng.random()) == float(seed_everything(1).random())
        True
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return np.random.default_rng(seed)


def default_device() -> torch.device:
    """CUDA when a GPU is present (unless ``COURSE_DEVICE`` says otherwise), else CPU."""
    wanted = os.environ.get("COURSE_DEVICE")
    if wanted:
        try:
            return torch.device(wanted)
        except RuntimeError as error:
            raise ValueError(f"COURSE_DEVICE={wanted!r} is not a torch device: {error}") from None
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def use_course_style() -> None:
    """One plotting style for the whole course: large labels, light grid, tight layout."""
    import matplotlib as mpl

    mpl.rcParams.update(
        {
            "figure.figsize": (7.0, 4.2),
            "figure.dpi": 100,
            "savefig.dpi": 120,
            "figure.autolayout": True,
            "font.size": 12,
            "axes.titlesize": 13,
            "axes.labelsize": 12,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
            "lines.linewidth": 2.0,
            "image.cmap": "viridis",
        }
    )


def show_source(obj: Any) -> Any:
    """Display the source code of a ``course_lib`` function or class in a notebook.

    Lectures call this instead of pasting a second copy of the code, so what the
    reader sees is exactly what runs.
    """
    from IPython.display import Code

    module = inspect.getmodule(obj)
    if module is None or not module.__name__.startswith("course_lib"):
        raise ValueError(f"show_source is for course_lib code, got {obj!r}")
    return Code(inspect.getsource(obj), language="python")


def progress(iterable: Iterable, **kwargs: Any) -> Iterable:
    """Progress bar over ``iterable`` (``tqdm.auto``).

    ``COURSE_QUIET=1`` silences every bar, whatever ``disable`` the caller passed, so that
    executed notebooks are committed without progress-bar widgets.
    """
    from tqdm.auto import tqdm

    kwargs.setdefault("leave", False)
    if os.environ.get("COURSE_QUIET") == "1":
        kwargs["disable"] = True
    return tqdm(iterable, **kwargs)
