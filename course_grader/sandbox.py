"""Run a student's notebook in a sandboxed Jupyter kernel.

The grader process (trusted) drives the notebook with nbclient; only the kernel, where student code runs,
is sandboxed. With Debian's bubblewrap (`bwrap`) the kernel gets:
  * no network (own network namespace; the kernel talks to the grader over IPC sockets in its scratch folder);
  * the file system read-only, with the course repository (except ``course_lib`` and the Python
    environment), the submissions and the grading output hidden behind empty folders, and a private /tmp;
  * write access only to its own scratch folder, which is deleted afterwards;
  * its own PID namespace: when the kernel ends or is killed, every process it started dies with it;
  * limits on address space (memory) and file size (``prlimit``); the time limit is enforced by the grader.
Without bubblewrap the kernel runs with the limits only, and ``sandbox_available()`` is False so that the
grader can warn loudly.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from jupyter_client import AsyncKernelManager

__all__ = ["sandbox_available", "kernel_wrapper", "SandboxedKernelManager"]


def sandbox_available() -> bool:
    """True when bubblewrap is installed and can create a sandbox on this machine."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False
    import subprocess

    probe = subprocess.run([bwrap, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "--", "true"], capture_output=True, timeout=30)
    return probe.returncode == 0


def kernel_wrapper(scratch: Path, hidden: list[Path], visible: list[Path], memory_bytes: int, sandboxed: bool) -> list[str]:
    """The command prefix that starts the kernel: ``prlimit`` limits, then (if ``sandboxed``) ``bwrap``.

    ``hidden`` folders are replaced by empty ones; ``visible`` folders inside them are mounted back read-only.
    """
    limits = ["prlimit", f"--as={memory_bytes}", f"--fsize={512 * 2**20}", "--core=0", "--"] if shutil.which("prlimit") else []
    if not sandboxed:
        return limits
    command = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    # hide each folder behind an empty tmpfs (a folder inside another hidden one is hidden already),
    # mount the visible ones back, then make the empty folders read-only
    hidden = sorted(set(hidden), key=lambda p: len(p.parts))
    hidden = [p for i, p in enumerate(hidden) if not any(p.is_relative_to(q) for q in hidden[:i])]
    for folder in hidden:
        command += ["--tmpfs", str(folder)]
    for folder in visible:
        command += ["--ro-bind", str(folder), str(folder)]
    for folder in hidden:
        command += ["--remount-ro", str(folder)]
    home = str(scratch)
    command += [
        "--bind", home, home, "--chdir", home,
        "--setenv", "HOME", home, "--setenv", "MPLCONFIGDIR", home, "--setenv", "IPYTHONDIR", str(scratch / ".ipython"),
        "--setenv", "TMPDIR", "/tmp",
        "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--as-pid-1",
        "--die-with-parent", "--new-session",
    ]
    return limits + command + ["--"]


def visible_paths() -> list[Path]:
    """What the kernel needs from the repository: the Python environment and the course library."""
    import course_lib

    paths = [Path(sys.prefix).resolve(), Path(course_lib.__file__).resolve().parent]
    return [p for p in paths if p.exists()]


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel command is prefixed by a sandbox wrapper (see ``kernel_wrapper``).
    Asynchronous, as nbclient expects: its time limits only work with a non-blocking client."""

    wrapper: list[str] = []

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        return list(self.wrapper) + super().format_kernel_cmd(extra_arguments)


def environment_for_kernel(scratch: Path) -> dict[str, str]:
    """A small, explicit environment for the kernel (no instructor secrets inherited)."""
    keep = ("PATH", "LANG", "LC_ALL", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONHASHSEED")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update({"HOME": str(scratch), "MPLCONFIGDIR": str(scratch), "MPLBACKEND": "agg", "COURSE_QUIET": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    return env
