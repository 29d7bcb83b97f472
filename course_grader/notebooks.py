"""Reading submissions defensively, and building the notebook that is actually graded.

A submission is never trusted and never modified. Of a student's notebook only two kinds of cells are
used: the *solution* cells (matched to the instructor's by their nbgrader ``grade_id``) and extra code
cells the student added. Every other cell — setup, given code, and every test cell — comes from the
instructor's source notebook, so edited or deleted tests cannot change a grade.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

__all__ = ["Problem", "Assembled", "find_notebook", "read_submission", "assemble", "graded_cells", "hidden_regions", "secret_lines"]

MAX_BYTES = 20 * 2**20
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


def find_notebook(folder: Path, expected: str, lab: str) -> tuple[Path, list[str]]:
    """The student's notebook: ``folder/expected`` or ``folder/lab/expected`` (nbgrader exchange layout);
    a single notebook under another name is accepted with a note."""
    notes: list[str] = []
    for candidate in (folder / expected, folder / lab / expected):
        if candidate.is_file():
            return candidate, notes
    found = sorted(p for p in list(folder.glob("*.ipynb")) + list((folder / lab).glob("*.ipynb")) if p.is_file())
    if len(found) == 1:
        notes.append(f"notebook was renamed to {found[0].name!r} (expected {expected!r}); graded anyway")
        return found[0], notes
    if not found:
        raise Problem(f"no notebook found (expected {expected!r})")
    raise Problem(f"{len(found)} notebooks and none named {expected!r}: {', '.join(p.name for p in found[:5])}")


def read_submission(path: Path) -> dict:
    """Parse a submitted notebook without trusting it: size, encoding, JSON and basic structure are checked."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise Problem(f"notebook is {size / 2**20:.0f} MB, more than the {MAX_BYTES // 2**20} MB limit")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Problem(f"notebook is not valid UTF-8 (bad byte at offset {error.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise Problem(f"notebook is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise Problem("file is JSON but not a Jupyter notebook (no list of cells)")
    return data


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
        if grade_id in known:
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


def graded_cells(source: nbformat.NotebookNode) -> dict[str, float]:
    """grade_id -> points of every autograded test cell, in notebook order."""
    return {m["grade_id"]: float(m.get("points", 0)) for c in source.cells if (m := _nbgrader(c)).get("grade") and c.cell_type == "code"}


def hidden_regions(source: nbformat.NotebookNode) -> dict[str, tuple[int, int]]:
    """grade_id -> (first, last) 1-based line numbers of the hidden-test region inside that test cell."""
    regions = {}
    for cell in source.cells:
        meta = _nbgrader(cell)
        match = HIDDEN.search(cell.source) if meta.get("grade") else None
        if match:
            first = cell.source[: match.start()].count("\n") + 1
            regions[meta["grade_id"]] = (first, first + match.group(0).rstrip("\n").count("\n"))
    return regions


def secret_lines(source: nbformat.NotebookNode) -> list[str]:
    """Lines of the hidden tests (stripped, longer than 20 characters): they must never reach a student."""
    lines = []
    for cell in source.cells:
        for match in HIDDEN.finditer(cell.source):
            lines += [line.strip() for line in match.group(0).splitlines() if len(line.strip()) > 20 and "###" not in line]
    return lines
