"""Graded items: what the grader asks a student's kernel to compute, and how it judges the answer.

Each lab has a file ``labs/items/LAB.py`` (instructor-written, read only by the grader process,
never copied into the sandbox or the student release). It defines

    HIDE   {course_lib module: [names]}: reference implementations removed from the sandbox's
           course_lib;
    ITEMS  [Item, ...]: one per test cell of the lab (same ``grade_id`` and points as the notebook).

An ``Item`` names the student's function(s), a few lines of harness code that call them (``call``),
a generator of *cases* drawn at grading time from a secret seed, and the message a student sees when
the item fails. A ``Case`` holds plain input arrays and a ``check`` that runs in the grader: it
receives the student's results as validated numeric arrays and compares them with the reference
(``course_lib``).

In the kernel, ``call`` runs with the case's inputs as local names (numpy arrays; 0-d arrays for
scalars), ``np`` bound to numpy, and the student's names visible; it must set ``result`` to an
array, a tuple of arrays or a dict of arrays (torch tensors are converted). Results cross the
boundary as an uncompressed ``.npz`` written in the scratch folder and are read with
``allow_pickle=False``: no object of the student's ever reaches the grader.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import os
import stat
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "Item",
    "Case",
    "load_lab",
    "cases_for",
    "harness_cell",
    "read_result",
    "judge",
    "MAX_RESULT_BYTES",
]

MAX_RESULT_BYTES = 64 * 2**20


@dataclass
class Case:
    inputs: dict[str, np.ndarray]
    check: Callable[[dict[str, np.ndarray]], bool]
    call: str | None = None  # replaces the item's call for this case


@dataclass
class Item:
    id: str  # grade_id of the lab's test cell
    points: float
    functions: tuple[str, ...]  # the student's names the item calls
    call: str
    cases: Callable[[np.random.Generator], list[Case]]
    message: str  # shown to the student when the item fails
    allow_nonfinite: bool = False
    notes: str = field(default="")


@dataclass
class Lab:
    name: str
    hide: dict[str, list[str]]
    items: list[Item]


def load_lab(course: Path, lab: str) -> Lab:
    """The graded items of ``lab`` from ``course/items/LAB.py``."""
    path = course / "items" / f"{lab}.py"
    spec = importlib.util.spec_from_file_location(f"course_items_{lab}", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Lab(lab, dict(getattr(module, "HIDE", {})), list(module.ITEMS))


@functools.lru_cache(maxsize=8)
def _cases(course: str, lab: str, seed: int) -> dict[str, list[Case]]:
    spec = load_lab(Path(course), lab)
    return {
        item.id: item.cases(
            np.random.default_rng(
                np.random.SeedSequence(seed, spawn_key=(zlib.crc32(item.id.encode()),))
            )
        )
        for item in spec.items
    }


def cases_for(course: Path, lab: str, seed: int) -> dict[str, list[Case]]:
    """Every item's cases for this grading run (drawn once per process from the secret seed)."""
    return _cases(str(course), lab, seed)


HARNESS = r"""
def __course_grader_case(path_in, path_out, code):
    import sys as _sys
    import numpy as _np
    with _np.load(path_in, allow_pickle=False) as _data:
        env = {k: _data[k] for k in _data.files}
    scope = dict(get_ipython().user_ns)
    scope.update(env)
    scope["np"] = _np
    exec(code, scope)
    res = scope["result"]
    if isinstance(res, tuple):
        res = {f"result_{k}": v for k, v in enumerate(res)}
    elif not isinstance(res, dict):
        res = {"result": res}
    torch = _sys.modules.get("torch")
    arrays = {}
    for key, value in res.items():
        if torch is not None and isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        arrays[str(key)] = _np.asarray(value)
    _np.savez(path_out, **arrays)
"""


def harness_cell(item: Item, paths: list[tuple[str, str]], calls: list[str]) -> str:
    """Source of the cell that runs every case of ``item`` in the kernel (errors are only a
    missing file)."""
    cases = [(i, o, c) for (i, o), c in zip(paths, calls, strict=True)]
    lines = [
        HARNESS,
        "for __i, __o, __c in " + repr(cases) + ":",
        "    try:",
        "        __course_grader_case(__i, __o, __c)",
        "    except Exception:",
        "        pass",
        "del __i, __o, __c, __course_grader_case",
    ]
    return "\n".join(lines)


def write_inputs(path: Path, inputs: dict[str, np.ndarray]) -> None:
    arrays = {k: np.asarray(v) for k, v in inputs.items()}
    for k, v in arrays.items():
        if v.dtype.kind not in "biuf":
            raise TypeError(f"input {k} of an item is not numeric")
    # the scratch folder belongs to the sandbox: never follow or reuse what the student may have
    # put there
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as handle:
        np.savez(handle, **arrays)


def read_result(path: Path, allow_nonfinite: bool = False) -> dict[str, np.ndarray] | None:
    """The arrays a case wrote, or None if missing or not plain numeric data. Never follows a
    symlink, never unpickles, never reads more than ``MAX_RESULT_BYTES``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_RESULT_BYTES:
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            raw = handle.read(MAX_RESULT_BYTES + 1)
    finally:
        os.close(fd)
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        members = archive.infolist()
        if len(members) > 1024 or sum(m.file_size for m in members) > MAX_RESULT_BYTES:
            return None
        out = {}
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            for key in data.files:
                value = data[key]
                if (
                    not isinstance(value, np.ndarray)
                    or value.dtype.kind not in "biuf"
                    or value.dtype.itemsize > 16
                ):
                    return None
                if (
                    value.dtype.kind == "f"
                    and not allow_nonfinite
                    and not np.all(np.isfinite(value))
                ):
                    return None
                out[key] = np.array(value, copy=True)
        return out
    except Exception:  # malformed zip, object arrays (pickle refused), bad headers...
        return None


def judge(case: Case, result: dict[str, np.ndarray] | None) -> bool:
    """The grader's verdict on one case; any error in checking a malformed answer is a failure."""
    if result is None:
        return False
    try:
        with np.errstate(all="ignore"):
            return bool(case.check(result))
    except Exception:
        if os.environ.get("COURSE_GRADER_DEBUG"):
            import traceback

            traceback.print_exc()
        return False
