"""Static review of student code, decided in the grader process before any of it runs.

Test cells run in the same Python process as the student's code, so code that rewrites that process
(monkeypatching numpy or torch, IPython input transformers, introspection of frames and modules)
could make a failing test pass. Since marks are now decided outside the student's process
(``items``), none of this can change a mark: this check is defence in depth. A submission whose code
uses any construct below is *flagged for review* (its score stands until an instructor has looked).
The lab exercises need none of these constructs; ordinary imports (math, numpy, scipy, ...), extra
cells, warnings and prints are fine.
"""

from __future__ import annotations

import ast
import re

__all__ = ["review"]

# Modules that reach the interpreter, the operating system, other processes or the network.
MODULES = {
    "os",
    "sys",
    "subprocess",
    "socket",
    "sqlite3",
    "ctypes",
    "cffi",
    "gc",
    "inspect",
    "importlib",
    "builtins",
    "shutil",
    "signal",
    "multiprocessing",
    "threading",
    "_thread",
    "IPython",
    "ipykernel",
    "jupyter_client",
    "atexit",
    "pickle",
    "marshal",
    "dill",
    "types",
    "urllib",
    "http",
    "requests",
    "pathlib",
    "io",
    "tempfile",
    "nbgrader",
    "nbformat",
    "nbclient",
    "course_grader",
    "resource",
    "pty",
    "fcntl",
    "mmap",
    "code",
    "codeop",
}
CALLS = {
    "exec",
    "eval",
    "compile",
    "__import__",
    "getattr",
    "setattr",
    "delattr",
    "globals",
    "locals",
    "vars",
    "open",
    "breakpoint",
    "get_ipython",
    "input",
}
ALLOWED_MODULES = {"IPython.display"}  # honest display of images, markdown, HTML
ALLOWED_DUNDERS = {"__init__", "__name__", "__doc__", "__len__", "__call__", "__repr__"}


def _imported_root(name: str) -> str:
    return name.split(".")[0]


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def review(sources: list[str], module_aliases: set[str], reference_names: set[str]) -> list[str]:
    """Reasons to flag the code in ``sources`` (empty if none). ``module_aliases`` are names bound
    to modules by the lab's own cells (np, torch, ...); ``reference_names`` are course_lib functions
    the lab asks the student to write themselves."""
    reasons: list[str] = []
    aliases = set(module_aliases)
    for index, source in enumerate(sources):
        where = f"student cell {index + 1}"
        if re.search(r"^\s*(?:!|%(?!matplotlib\b))", source, re.M):
            reasons.append(f"{where}: IPython magic or shell command")
        source = re.sub(r"^(\s*)[%!].*$", r"\1pass", source, flags=re.M)
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            reasons.append(
                f"{where}: code that Python cannot parse "
                "(IPython-only syntax such as ?, ! or auto-call?)"
            )
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    aliases.add((a.asname or a.name).split(".")[0])
                    if _imported_root(a.name) in MODULES and a.name not in ALLOWED_MODULES:
                        reasons.append(f"{where}: imports {a.name}")
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if (
                    _imported_root(module) in MODULES and module not in ALLOWED_MODULES
                ) or node.level:
                    reasons.append(f"{where}: imports from {module or '.'}")
                for a in node.names:
                    if a.name in reference_names:
                        reasons.append(
                            f"{where}: uses the course's reference implementation {a.name}"
                        )
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in CALLS
            ):
                reasons.append(f"{where}: calls {node.func.id}()")
            elif isinstance(node, ast.Name) and node.id in CALLS and isinstance(node.ctx, ast.Load):
                reasons.append(f"{where}: refers to {node.id}")
            elif isinstance(node, ast.Attribute):
                if (
                    node.attr.startswith("__")
                    and node.attr.endswith("__")
                    and node.attr not in ALLOWED_DUNDERS
                ):
                    reasons.append(f"{where}: touches {node.attr}")
                if node.attr in reference_names:
                    reasons.append(
                        f"{where}: uses the course's reference implementation {node.attr}"
                    )
            elif (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
            ):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        aliases.add(target.id)  # x = torch: x is now a module alias too
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, (ast.Assign, ast.Delete)):
                targets = node.targets
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            for target in targets:
                if (
                    isinstance(target, (ast.Attribute, ast.Subscript))
                    and _root_name(target) in aliases
                ):
                    reasons.append(f"{where}: modifies the module {_root_name(target)}")
            if isinstance(node, (ast.Global, ast.Nonlocal)) and set(node.names) & aliases:
                reasons.append(f"{where}: rebinds a module name globally")
    return sorted(set(reasons))
