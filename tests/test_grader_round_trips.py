"""Every lab through the course grader (course_grader): the instructor source scores full marks,
the student release zero, and the source without its last exercise loses exactly that exercise's
points. A file of its own so that the test runner can run it beside the red-team suite."""

import re
import shutil
from pathlib import Path

import nbformat
import pytest
from conftest import LAB_SOURCES, ROOT

from course_grader import items, notebooks
from course_grader.grade import Settings, grade_folder
from course_grader.sandbox import sandbox_available

SANDBOXED = sandbox_available()


def last_solution_blanked(path: Path) -> tuple[nbformat.NotebookNode, set[str]]:
    """The instructor source with its last solution cell reverted to the release stub; the names it
    defines."""
    nb = nbformat.read(path, as_version=4)
    cell = [
        c
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"
    ][-1]
    names = set(re.findall(r"^(?:def|class) (\w+)", cell.source, re.M))
    cell.source = re.sub(
        r"([ \t]*)### BEGIN SOLUTION\n.*?### END SOLUTION",
        r"\1raise NotImplementedError()",
        cell.source,
        flags=re.S,
    )
    return nb, names


@pytest.mark.parametrize("lab_source", LAB_SOURCES, ids=lambda p: p.name)
def test_round_trip_every_lab(lab_source, tmp_path):
    """Through the new grading path: the instructor source scores full marks, the student release
    zero, and the source without its last exercise loses exactly the points of the items that call
    it."""
    lab = lab_source.name
    name = next(lab_source.glob("*.ipynb")).name
    submissions = tmp_path / "submissions"
    for student, path in (
        ("source", lab_source / name),
        ("release", ROOT / "labs" / "release" / lab / name),
    ):
        (submissions / student).mkdir(parents=True)
        shutil.copy(path, submissions / student / name)
    partial, blanked = last_solution_blanked(lab_source / name)
    (submissions / "partial").mkdir()
    nbformat.write(partial, submissions / "partial" / name)
    settings = Settings(lab=lab, course=ROOT / "labs", out=tmp_path / "out", sandboxed=SANDBOXED)
    results = {r["student"]: r for r in grade_folder(settings, submissions, jobs=2, progress=False)}
    assert (
        results["source"]["status"] == "graded"
        and results["source"]["score"] == results["source"]["max_score"] > 0
    ), results["source"]
    assert results["release"]["score"] == 0
    spec = items.load_lab(ROOT / "labs", lab)
    points = notebooks.graded_cells(nbformat.read(lab_source / name, as_version=4))
    assert {i.id: float(i.points) for i in spec.items} == points, (
        "graded items match the notebook's test cells"
    )
    lost = sum(i.points for i in spec.items if set(i.functions) & blanked)
    assert 0 < lost < results["source"]["max_score"]
    assert results["partial"]["score"] == results["source"]["max_score"] - lost, results["partial"]
    print(
        f"{lab}: source {results['source']['score']:g}, "
        f"release {results['release']['score']:g}, "
        f"partial {results['partial']['score']:g} "
        f"of {results['source']['max_score']:g}"
    )
