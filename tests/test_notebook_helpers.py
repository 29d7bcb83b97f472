"""course_lib.notebook and course_lib.grading helpers."""

import io
import random
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest
import torch

from course_lib import grading, ising
from course_lib.notebook import (
    default_device,
    progress,
    seed_everything,
    show_source,
    use_course_style,
)


def test_seed_everything_makes_all_generators_repeatable():
    draws = []
    for _ in range(2):
        rng = seed_everything(123)
        draws.append((random.random(), np.random.rand(), torch.rand(1).item(), rng.random()))
    assert draws[0] == draws[1]
    with pytest.raises(TypeError, match="integer"):
        seed_everything(1.5)


@pytest.mark.parametrize("gpu", [True, False])
def test_default_device_is_the_gpu_when_there_is_one(monkeypatch, gpu):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    assert default_device() == torch.device("cuda" if gpu else "cpu")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")  # the override wins, GPU or not
    assert default_device() == torch.device("cpu")
    monkeypatch.setenv("COURSE_DEVICE", "gpu0")
    with pytest.raises(ValueError, match="COURSE_DEVICE"):
        default_device()


def test_show_source_shows_the_library_code():
    code = show_source(ising.wolff_update)
    assert "def wolff_update" in code.data and "p_add" in code.data
    with pytest.raises(ValueError, match="course_lib"):
        show_source(np.roll)


def test_style_and_progress_run():
    import matplotlib as mpl

    use_course_style()
    assert mpl.rcParams["axes.grid"]
    assert list(progress(range(3), disable=True)) == [0, 1, 2]


def test_checks_turns_warnings_into_notes_on_stdout():
    out = io.StringIO()
    with redirect_stdout(out), grading.checks():
        warnings.warn("harmless", RuntimeWarning, stacklevel=2)
    assert "RuntimeWarning: harmless" in out.getvalue() and "passed" in out.getvalue()
    with pytest.raises(AssertionError), redirect_stdout(io.StringIO()), grading.checks():
        raise AssertionError("a failing check")


def test_assert_helpers_give_clear_messages():
    with pytest.raises(AssertionError, match="shape"):
        grading.assert_lattice(np.ones((2, 3)), (2, 2))
    with pytest.raises(AssertionError, match="numpy array"):
        grading.assert_lattice([[1, 1]], (1, 2))
    with pytest.raises(AssertionError, match="expected 2.0 at index"):
        grading.assert_close([1.0, 1.0], [1.0, 2.0], "x")


def test_course_quiet_silences_every_progress_bar(monkeypatch):
    # the trainers pass disable=None ("auto"); COURSE_QUIET=1 must still win
    monkeypatch.setenv("COURSE_QUIET", "1")
    assert progress(range(3), disable=None).disable
    assert progress(range(3), disable=False).disable
    monkeypatch.setenv("COURSE_QUIET", "0")
    assert not progress(range(3), disable=False).disable
