"""Reading submissions defensively, and building the notebook that is actually graded.

A submission is never trusted and never modified. Of a student's notebook only two kinds of cells
are used: the *solution* cells (matched to the instructor's by their nbgrader ``grade_id``) and
extra code cells the student added. Every other cell — setup, given code, and every test cell —
comes from the instructor's source notebook, so edited or deleted tests cannot change a grade.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

__all__ = [
    "Problem",
    "Assembled",
    "find_notebook",
    "read_bytes_nofollow",
    "parse_submission",
    "read_submission",
    "assemble",
    "without_tests",
    "graded_cells",
    "hidden_regions",
    "secret_lines",
]

MAX_BYTES = 20 * 2**20  # code and text, outputs excluded
MAX_READ_BYTES = 256 * 2**20  # what is read from disk at most
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n.*?### END HIDDEN TESTS\n?", re.S)
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


class Problem(Exception):
    """A submission that cannot be graded; the message is the reason shown to the instructor."""


@dataclass
class Assembled:
    notebook: nbformat.NotebookNode
    untrusted: list[str]  # sources of every student-written cell, for the policy check
    notes: list[str] = field(default_factory=list)


def _nbgrader(cell: dict) -> dict:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    value = meta.get("nbgrader") if isinstance(meta, dict) else None
    return value if isinstance(value, dict) else {}


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def _regular(path: Path) -> bool:
    """True if ``path`` itself (not what a symlink points to) is a regular file."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def find_notebook(folder: Path, expected: str, lab: str) -> tuple[Path, list[str]]:
    """The student's notebook: ``folder/expected`` or ``folder/lab/expected`` (nbgrader exchange
    layout); a single notebook under another name is accepted with a note. Symbolic links are never
    followed: a linked notebook or folder gets a reason."""
    notes: list[str] = []
    subfolder = folder / lab
    if subfolder.is_symlink():
        raise Problem(
            f"the folder {lab!r} in the submission is a symbolic link; "
            "submit the notebook file itself"
        )
    for candidate in (folder / expected, subfolder / expected):
        if candidate.is_symlink():
            raise Problem(
                f"{candidate.name!r} is a symbolic link, not a notebook file; "
                "submit the file itself"
            )
        if _regular(candidate):
            return candidate, notes
    listed = list(folder.glob("*.ipynb")) + (
        list(subfolder.glob("*.ipynb")) if subfolder.is_dir() else []
    )
    links = [p for p in listed if p.is_symlink()]
    found = sorted(p for p in listed if _regular(p))
    if len(found) == 1:
        notes.append(
            f"notebook was renamed to {found[0].name!r} (expected {expected!r}); graded anyway"
        )
        return found[0], notes
    if not found and links:
        raise Problem(
            f"{links[0].name!r} is a symbolic link, not a notebook file; submit the file itself"
        )
    if not found:
        raise Problem(f"no notebook found (expected {expected!r})")
    raise Problem(
        f"{len(found)} notebooks and none named {expected!r}: "
        f"{', '.join(p.name for p in found[:5])}"
    )


def read_bytes_nofollow(path: Path) -> bytes:
    """The file's bytes, opened without following a symlink and refused if not a regular file or too
    large."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise Problem(
                f"{path.name!r} is a symbolic link, not a notebook file; submit the file itself"
            ) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Problem(f"{path.name!r} is not a regular file")
        if info.st_size > MAX_READ_BYTES:
            raise Problem(
                f"notebook is {info.st_size / 2**20:.0f} MB, "
                f"more than the {MAX_READ_BYTES // 2**20} MB that are read"
            )
        chunks, total = [], 0
        while total <= MAX_READ_BYTES:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > MAX_READ_BYTES:
            raise Problem(f"notebook is more than the {MAX_READ_BYTES // 2**20} MB that are read")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _clean_text(value: object) -> tuple[str, bool]:
    """A cell source as a plain str: lists joined, non-strings dropped, lone surrogates replaced."""
    if isinstance(value, list):
        value = "".join(v for v in value if isinstance(v, str))
    if not isinstance(value, str):
        return "", False
    try:
        value.encode("utf-8")
        return value, False
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8"), True


def _from_v3(data: dict) -> dict:
    """nbformat 3 (cells inside worksheets, code in "input") as a minimal nbformat 4 structure."""
    cells = []
    for sheet in data.get("worksheets") or []:
        if not isinstance(sheet, dict) or not isinstance(sheet.get("cells"), list):
            continue
        for cell in sheet["cells"]:
            if not isinstance(cell, dict):
                continue
            kind = cell.get("cell_type")
            source = cell.get("input") if kind == "code" else cell.get("source")
            cells.append(
                {
                    "cell_type": "code" if kind == "code" else "markdown",
                    "source": source,
                    "metadata": cell.get("metadata")
                    if isinstance(cell.get("metadata"), dict)
                    else {},
                }
            )
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def parse_submission(raw: bytes) -> tuple[dict, list[str]]:
    """Parse a submitted notebook without trusting it. Outputs and attachments are discarded
    *before* the size limit applies, so a correct notebook with large plots is graded. Only what
    grading needs is kept: for each cell its type, source (a str) and nbgrader grade_id/solution
    flags."""
    notes: list[str] = []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Problem(f"notebook is not valid UTF-8 (bad byte at offset {error.start})") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise Problem("notebook JSON is nested too deeply to be a Jupyter notebook") from None
    except json.JSONDecodeError as error:
        raise Problem(
            f"notebook is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from None
    except (ValueError, MemoryError):
        raise Problem("notebook is not valid JSON") from None
    if (
        isinstance(data, dict)
        and data.get("nbformat") == 3
        and isinstance(data.get("worksheets"), list)
    ):
        data = _from_v3(data)
        notes.append("notebook was in the old nbformat 3 and was converted")
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise Problem("file is JSON but not a Jupyter notebook (no list of cells)")
    cells, replaced, size = [], False, 0
    for cell in data["cells"]:
        if not isinstance(cell, dict):
            continue
        source, bad = _clean_text(cell.get("source", ""))
        replaced |= bad
        size += len(source)
        meta = _nbgrader(cell)
        grade_id = meta.get("grade_id")
        clean_meta = {
            "grade_id": grade_id if isinstance(grade_id, str) else None,
            "solution": meta.get("solution") is True,
        }
        cells.append(
            {
                "cell_type": cell.get("cell_type")
                if cell.get("cell_type") in ("code", "markdown", "raw")
                else "raw",
                "source": source,
                "metadata": {"nbgrader": clean_meta},
            }
        )
    if size > MAX_BYTES:
        raise Problem(
            f"the notebook's code and text (outputs not counted) are {size / 2**20:.0f} MB, "
            f"more than the {MAX_BYTES // 2**20} MB limit"
        )
    if replaced:
        notes.append("characters that are not valid Unicode were replaced")
    return {"cells": cells}, notes


def read_submission(path: Path) -> dict:
    """Read and parse a submission (see ``parse_submission``)."""
    return parse_submission(read_bytes_nofollow(path))[0]


def assemble(source: nbformat.NotebookNode, submission: dict) -> Assembled:
    """The instructor's notebook with the student's solution cells (and extra code cells) put in."""
    known = {_nbgrader(c).get("grade_id") for c in source.cells if _nbgrader(c).get("grade_id")}
    solutions: dict[str, str] = {}
    extras: dict[str | None, list[str]] = {}
    anchor: str | None = None
    for cell in submission["cells"]:
        if not isinstance(cell, dict):
            continue
        grade_id = _nbgrader(cell).get("grade_id")
        if isinstance(grade_id, str) and grade_id in known:
            anchor = grade_id
            if _nbgrader(cell).get("solution") and cell.get("cell_type") == "code":
                solutions[grade_id] = _source(cell)
        elif cell.get("cell_type") == "code" and _source(cell).strip():
            extras.setdefault(anchor, []).append(_source(cell))
    cells, untrusted, notes = [], [], []
    for extra in extras.get(None, []):  # student cells above every instructor cell
        cells.append(nbformat.v4.new_code_cell(extra))
        untrusted.append(extra)
    for cell in source.cells:
        meta = _nbgrader(cell)
        grade_id = meta.get("grade_id")
        if meta.get("solution") and cell.cell_type == "code":
            if grade_id in solutions:
                code = solutions[grade_id]
                untrusted.append(code)
            else:
                code = STUB
                notes.append(f"solution cell {grade_id!r} is missing from the submission")
            new = nbformat.v4.new_code_cell(code)
            new.metadata["nbgrader"] = dict(meta)
            cells.append(new)
        else:
            cells.append(nbformat.from_dict(dict(cell)))
        for extra in extras.get(grade_id, []) if grade_id else []:
            cells.append(nbformat.v4.new_code_cell(extra))
            untrusted.append(extra)
    notebook = nbformat.v4.new_notebook(cells=cells, metadata=source.metadata)
    return Assembled(notebook, untrusted, notes)


def without_tests(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook minus its test cells: they give students immediate feedback, but marks come from
    the graded items, and hidden tests never enter the sandbox."""
    cells = [c for c in notebook.cells if not _nbgrader(c).get("grade")]
    return nbformat.v4.new_notebook(cells=cells, metadata=notebook.metadata)


def graded_cells(source: nbformat.NotebookNode) -> dict[str, float]:
    """grade_id -> points of every autograded test cell, in notebook order."""
    return {
        m["grade_id"]: float(m.get("points", 0))
        for c in source.cells
        if (m := _nbgrader(c)).get("grade") and c.cell_type == "code"
    }


def hidden_regions(source: nbformat.NotebookNode) -> dict[str, tuple[int, int]]:
    """grade_id -> (first, last) 1-based line numbers of the hidden-test region inside that test
    cell."""
    regions = {}
    for cell in source.cells:
        meta = _nbgrader(cell)
        match = HIDDEN.search(cell.source) if meta.get("grade") else None
        if match:
            first = cell.source[: match.start()].count("\n") + 1
            regions[meta["grade_id"]] = (first, first + match.group(0).rstrip("\n").count("\n"))
    return regions


def secret_lines(source: nbformat.NotebookNode) -> list[str]:
    """Lines of the hidden tests (stripped, longer than 20 characters): they must never reach a
    student."""
    lines = []
    for cell in source.cells:
        for match in HIDDEN.finditer(cell.source):
            lines += [
                line.strip()
                for line in match.group(0).splitlines()
                if len(line.strip()) > 20 and "###" not in line
            ]
    return lines
