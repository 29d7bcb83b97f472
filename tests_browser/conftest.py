"""The browser suite may run on several workers (pytest-xdist): the screenshots of an earlier run
are removed once, by the controlling process, before any worker starts."""

import shutil
from pathlib import Path

SHOTS = Path(__file__).resolve().parents[1] / "build" / "screenshots"


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # the controller (or a run without workers)
        shutil.rmtree(SHOTS, ignore_errors=True)
