"""Helpers used inside the test cells of the graded labs.

nbgrader gives a test cell zero points as soon as it writes anything to stderr, so an
honest solution that merely raises a warning would lose its marks. Test cells therefore
run their checks inside ``checks()``, which reports warnings on stdout instead.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["checks", "assert_lattice", "assert_close"]


@contextlib.contextmanager
def checks() -> Iterator[None]:
    """Run a block of lab checks; warnings and stderr output become notes on stdout."""
    captured = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(captured):
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for w in caught:
                print(f"note: a warning was raised ({w.category.__name__}: {w.message})")
            if captured.getvalue():
                print("note: output written to stderr:\n" + captured.getvalue()[:2000])
    print("All checks in this cell passed.")


def assert_lattice(spins: Any, shape: tuple[int, ...], name: str = "result") -> np.ndarray:
    """Check that ``spins`` is a numpy array of the given shape holding only +1 and -1."""
    kind = type(spins).__name__
    assert isinstance(spins, np.ndarray), f"{name} should be a numpy array, got {kind}"
    assert spins.shape == shape, f"{name} should have shape {shape}, got {spins.shape}"
    assert np.all(np.abs(spins) == 1), f"{name} should contain only +1 and -1"
    return spins


def assert_close(
    actual: Any, expected: Any, name: str, rtol: float = 1e-7, atol: float = 1e-9
) -> None:
    """``np.allclose`` with a message that says what differed and by how much."""
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, (
        f"{name}: expected shape {expected.shape}, got {actual.shape}"
    )
    if not np.allclose(actual, expected, rtol=rtol, atol=atol):
        flat = np.argmax(np.abs(actual - expected))
        worst = tuple(int(k) for k in np.unravel_index(flat, actual.shape))
        raise AssertionError(
            f"{name}: expected {float(expected[worst])} at index {worst}, "
            f"got {float(actual[worst])} "
            f"(tolerance rtol={rtol}, atol={atol})"
        )
