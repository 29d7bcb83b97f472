"""Run a student's notebook in an unprivileged sandboxed Jupyter kernel.

The grader process (trusted) drives the kernel with nbclient; only the kernel, where student code
runs, is sandboxed. With bubblewrap (``bwrap``) the kernel gets:
  * a minimal root built from scratch: system libraries (``/usr``, ``/etc`` essentials), the Python
    environment, and a *filtered copy* of ``course_lib`` from which the lab's reference
    implementations are removed. Nothing else of the machine exists inside: no course checkout, no
    other clone, no submissions, no grading output, no home folders;
  * an unprivileged user: bwrap sets up the mounts, then ``setpriv`` switches to a non-root uid/gid
    of the host (``SANDBOX_UID``), clears every capability (bounding and inheritable sets too) and
    sets ``no_new_privs``. The kernel cannot remount, cannot write anything but its scratch folder
    and a size-limited /tmp, and sees only its own processes in ``/proc``;
  * its own PID, network (none), IPC and UTS namespaces; when its first process ends, every process
    of the sandbox is killed (and the grader also kills what is left in its cgroup);
  * one memory limit for the whole sandbox (all processes and their tmpfs pages) and a process count
    limit, with cgroup v1 ``memory``/``pids`` controllers when the grader may create child cgroups;
    otherwise a per-process address-space limit, a process-count limit for its uid and a sized /tmp;
  * thread counts pinned to 1 (OpenMP, MKL, OpenBLAS, torch) and a small explicit environment.
Without bubblewrap the kernel runs with limits only and ``sandbox_available()`` is False, so that
the grader can warn loudly.
"""

from __future__ import annotations

import ast
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from jupyter_client import AsyncKernelManager

__all__ = [
    "sandbox_available",
    "kernel_wrapper",
    "SandboxedKernelManager",
    "Cgroup",
    "filtered_course_lib",
    "environment_for_kernel",
    "SANDBOX_UID",
]

SANDBOX_UID = 65534  # nobody: owns nothing on the host
COURSE_MOUNT = "/opt/course"  # where the filtered course_lib appears inside the sandbox
SCRATCH_MOUNT = "/scratch"
THREADS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
ETC = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "fonts",
    "localtime",
    "nsswitch.conf",
    "mime.types",
    "ssl",
    "alternatives",
)
CGROUP_ROOT = Path("/sys/fs/cgroup")


def sandbox_available() -> bool:
    """True when bubblewrap is installed and can create a sandbox on this machine."""
    bwrap = shutil.which("bwrap")
    if bwrap is None or shutil.which("setpriv") is None:
        return False
    probe = subprocess.run(
        [bwrap, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "--", "true"],
        capture_output=True,
        timeout=30,
    )
    return probe.returncode == 0


def _python_roots() -> list[Path]:
    """Folders the Python environment needs: the environment itself and the interpreter it points
    to."""
    roots = {Path(sys.prefix), Path(sys.base_prefix)}
    try:
        roots.add(Path(os.path.realpath(sys.executable)).parents[1])
    except IndexError:
        pass
    return sorted((r for r in roots if r.exists() and not str(r).startswith("/usr")), key=str)


def kernel_wrapper(
    scratch: Path,
    course_lib_copy: Path,
    memory_bytes: int,
    sandboxed: bool,
    cgroup: "Cgroup | None" = None,
) -> list[str]:
    """The command prefix that starts the kernel (see the module docstring)."""
    nproc = 256
    limits = ["prlimit", f"--fsize={512 * 2**20}", "--core=0", "--"]
    if cgroup is None or not cgroup.active:
        limits[1:1] = [f"--as={memory_bytes}", f"--nproc={nproc}"]
    if not sandboxed:
        return limits
    command = [
        "bwrap",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--ro-bind",
        "/usr",
        "/usr",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
    ]
    for link in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / link
        if path.is_symlink():
            command += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            command += ["--ro-bind", str(path), str(path)]
    command += ["--perms", "0755", "--dir", "/etc"]
    for name in ETC:
        if (Path("/etc") / name).exists():
            command += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    # the private /tmp first: a Python environment that lives under /tmp (a checkout there) is
    # mounted on top of it, rather than hidden by it
    command += [
        "--perms",
        "1777",
        "--size",
        str(min(memory_bytes // 4, 1 << 30)),
        "--tmpfs",
        "/tmp",
    ]
    for root in _python_roots():
        parents = [p for p in reversed(root.parents) if str(p) not in ("/", "/tmp")]
        for parent in parents:
            command += ["--perms", "0755", "--dir", str(parent)]
        command += ["--ro-bind", str(root), str(root)]
    command += [
        "--perms",
        "0755",
        "--dir",
        COURSE_MOUNT,
        "--ro-bind",
        str(course_lib_copy),
        f"{COURSE_MOUNT}/course_lib",
    ]
    for parent in [p for p in reversed(scratch.parents) if str(p) not in ("/", "/tmp")]:
        command += ["--perms", "0755", "--dir", str(parent)]
    command += ["--bind", str(scratch), str(scratch), "--chdir", str(scratch)]
    # ipykernel shuts down when its parent is PID 1 and it was told the grader's PID: inside the
    # sandbox its parent is bwrap's init (PID 1), which ends every process of the sandbox when the
    # kernel or the grader dies
    command += ["--unsetenv", "JPY_PARENT_PID"]
    command += [
        "--",
        "setpriv",
        f"--reuid={SANDBOX_UID}",
        f"--regid={SANDBOX_UID}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]
    return limits + command


def _drop_names(tree: ast.Module, names: set[str]) -> None:
    """Remove top-level functions/classes/assignments named in ``names`` and methods named
    ``Class.method``."""
    keep = []
    for node in tree.body:
        name = getattr(node, "name", None)
        if (
            isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and name in names
        ):
            continue
        if isinstance(node, ast.ClassDef):
            node.body = [
                n
                for n in node.body
                if not (
                    isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                    and f"{node.name}.{n.name}" in names
                )
            ] or [ast.Pass()]
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
            and isinstance(node.value, (ast.List, ast.Tuple))
        ):
            node.value.elts = [
                e for e in node.value.elts if not (isinstance(e, ast.Constant) and e.value in names)
            ]
        keep.append(node)
    tree.body = keep


def filtered_course_lib(dest: Path, hide: dict[str, list[str]]) -> Path:
    """A copy of course_lib (``.py`` files only) without the lab's reference implementations.

    ``hide`` maps a module name (``"ising"``) to names to remove: top-level functions, classes, or
    ``"Class.method"``. The copy is what the sandbox imports, so neither ``getattr``,
    ``operator.attrgetter``, ``importlib`` nor reading the source file can reach what was
    removed."""
    import course_lib

    source = Path(course_lib.__file__).resolve().parent
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        names = set(hide.get(path.stem, []))
        if names:
            tree = ast.parse(text)
            _drop_names(tree, names)
            text = ast.unparse(tree) + "\n"
        (dest / path.name).write_text(text, encoding="utf-8")
        os.chmod(dest / path.name, 0o644)
    os.chmod(dest, 0o755)
    return dest


class Cgroup:
    """A cgroup v1 memory + pids group for one sandbox (inactive when the machine does not allow
    it)."""

    def __init__(self, name: str, memory_bytes: int, max_pids: int = 256) -> None:
        self.paths: list[Path] = []
        self.active = False
        try:
            memory = CGROUP_ROOT / "memory" / "course-grader" / name
            pids = CGROUP_ROOT / "pids" / "course-grader" / name
            memory.mkdir(parents=True)
            self.paths.append(memory)
            (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
            swap = memory / "memory.memsw.limit_in_bytes"
            if swap.exists():
                try:
                    swap.write_text(str(memory_bytes))
                except OSError:
                    pass
            pids.mkdir(parents=True)
            self.paths.append(pids)
            (pids / "pids.max").write_text(str(max_pids))
            self.active = True
        except OSError:
            self.remove()

    def enter_command(self) -> list[str]:
        """Prefix that moves the starting process (and so all its descendants) into the group."""
        if not self.active:
            return []
        moves = " && ".join(f"echo $$ > {p}/cgroup.procs" for p in self.paths)
        return ["/bin/sh", "-c", moves + ' && exec "$@"', "sandbox"]

    def kill_all(self) -> None:
        for path in self.paths:
            for _ in range(20):
                try:
                    pids = [int(p) for p in (path / "cgroup.procs").read_text().split()]
                except OSError:
                    break
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                import time

                time.sleep(0.05)

    def oom_killed(self) -> bool:
        """Whether the memory limit was hit at least once."""
        if not self.paths:
            return False
        memory = self.paths[0]
        try:
            for line in (memory / "memory.oom_control").read_text().splitlines():
                if line.startswith("oom_kill ") and int(line.split()[1]) > 0:
                    return True
        except (OSError, ValueError, IndexError):
            pass
        for name in ("memory.failcnt", "memory.memsw.failcnt"):
            try:
                if int((memory / name).read_text()) > 0:
                    return True
            except (OSError, ValueError):
                pass
        return False

    def remove(self) -> None:
        self.kill_all()
        for path in reversed(self.paths):
            try:
                path.rmdir()
            except OSError:
                pass
        self.paths = []
        self.active = False


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel command is prefixed by a sandbox wrapper (see
    ``kernel_wrapper``). Asynchronous, as nbclient expects: its time limits only work with a
    non-blocking client. The connection file is handed to the sandbox user, which must read it."""

    wrapper: list[str] = []
    sandbox_uid: int | None = None

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        if (
            self.sandbox_uid is not None
            and self.connection_file
            and os.path.exists(self.connection_file)
        ):
            os.chown(self.connection_file, self.sandbox_uid, self.sandbox_uid)
        return list(self.wrapper) + super().format_kernel_cmd(extra_arguments)


def environment_for_kernel(scratch: Path, sandboxed: bool) -> dict[str, str]:
    """A small, explicit environment for the kernel: no instructor variables, threads pinned to
    one."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": str(scratch),
        "MPLCONFIGDIR": str(scratch),
        "IPYTHONDIR": str(scratch / ".ipython"),
        "JUPYTER_CONFIG_DIR": str(scratch / ".jupyter"),
        "TMPDIR": "/tmp" if sandboxed else str(scratch),
        "MPLBACKEND": "agg",
        "COURSE_QUIET": "1",
        "USER": "student",
        "LOGNAME": "student",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
    }
    env["PATH"] = str(Path(sys.executable).parent) + ":" + env["PATH"]
    env.update({name: "1" for name in THREADS})
    env["PYTHONPATH"] = COURSE_MOUNT if sandboxed else str(scratch / "course")
    return env
