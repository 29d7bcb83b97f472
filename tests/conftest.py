"""Shared paths and helpers for the test suite."""

import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "lectures").glob("[0-9][0-9]_*.ipynb"))
LAB_SOURCES = sorted(p for p in (ROOT / "labs" / "source").iterdir() if p.is_dir())


def subprocess_env() -> dict:
    """Environment for subprocesses: the running interpreter's scripts first on PATH (nbgrader
    calls alembic)."""
    env = dict(os.environ)
    env["PATH"] = str(pathlib.Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["COURSE_QUIET"] = "1"
    env["MPLBACKEND"] = "agg"
    return env
