"""Grading round trip for every lab, with nbgrader: the instructor source scores full marks, the
unmodified student release scores zero, the release hides solutions and hidden tests, and an
honest solution that raises a warning keeps its marks."""

import re
import shutil
import subprocess

import nbformat
import pytest
from conftest import LAB_SOURCES, ROOT, subprocess_env

WARNING_LAB = LAB_SOURCES[0].name
REGION = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.S)


def nbgrader(args, course, env):
    result = subprocess.run(
        ["nbgrader", *args], cwd=course, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, (
        f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    )
    return result


def with_warnings(source_nb):
    """The instructor solution, but every solution region first raises a harmless warning."""
    nb = nbformat.read(source_nb, as_version=4)
    for cell in nb.cells:
        if "### BEGIN SOLUTION" in cell.source:
            cell.source = re.sub(
                r"^(\s*)### BEGIN SOLUTION\n",
                lambda m: (
                    f"{m.group(0)}{m.group(1)}import warnings\n"
                    f"{m.group(1)}warnings.warn('an honest student warning')\n"
                ),
                cell.source,
                flags=re.M,
            )
    return nb


@pytest.fixture(scope="module", params=LAB_SOURCES, ids=lambda p: p.name)
def graded(request, tmp_path_factory):
    env = subprocess_env()
    lab = request.param.name
    course = tmp_path_factory.mktemp(lab)
    shutil.copy(ROOT / "labs" / "nbgrader_config.py", course)
    shutil.copytree(request.param, course / "source" / lab)
    nbgrader(["generate_assignment", lab, "--force"], course, env)
    submissions = {
        "instructor": {
            p.name: nbformat.read(p, as_version=4) for p in request.param.glob("*.ipynb")
        },
        "blank": {
            p.name: nbformat.read(p, as_version=4)
            for p in (course / "release" / lab).glob("*.ipynb")
        },
    }
    if lab == WARNING_LAB:  # how nbgrader treats warnings is a setting of the course, not of a lab
        submissions["warns"] = {p.name: with_warnings(p) for p in request.param.glob("*.ipynb")}
    for student, notebooks in submissions.items():
        folder = course / "submitted" / student / lab
        folder.mkdir(parents=True)
        for name, nb in notebooks.items():
            nbformat.write(nb, folder / name)
    nbgrader(["autograde", lab, "--force"], course, env)

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {
            s: (gb.find_submission(lab, s).score, gb.find_submission(lab, s).max_score)
            for s in submissions
        }
    return {"lab": lab, "course": course, "scores": scores, "source": request.param}


def test_instructor_source_scores_full_marks(graded):
    score, max_score = graded["scores"]["instructor"]
    assert max_score > 0 and score == max_score


def test_unmodified_release_scores_zero(graded):
    assert graded["scores"]["blank"][0] == 0


def test_warning_from_an_honest_solution_is_not_penalized(graded):
    if graded["lab"] != WARNING_LAB:
        pytest.skip(
            f"checked once, on {WARNING_LAB}: warnings are handled by the course's settings"
        )
    score, max_score = graded["scores"]["warns"]
    assert score == max_score


def test_release_contains_no_solution_or_hidden_test_text(graded):
    for source in graded["source"].glob("*.ipynb"):
        text = source.read_text()
        nb = nbformat.read(source, as_version=4)
        secret, public = set(), set()
        for cell in nb.cells:
            for _kind, body in REGION.findall(cell.source):
                secret |= {line.strip() for line in body.splitlines() if line.strip()}
            public |= {line.strip() for line in REGION.sub("", cell.source).splitlines()}
        secret -= public  # lines that also appear in visible text are not secrets
        assert secret, "the source should have solution text"
        release_path = graded["course"] / "release" / graded["lab"] / source.name
        release_lines = {
            line.strip()
            for cell in nbformat.read(release_path, as_version=4).cells
            for line in cell.source.splitlines()
        }
        leaked = sorted(secret & release_lines)
        assert not leaked, f"release leaks: {leaked[:3]}"
        assert "BEGIN HIDDEN TESTS" in text and "BEGIN HIDDEN TESTS" not in release_path.read_text()


def test_committed_release_is_up_to_date(graded):
    """labs/release is what `make release` generates from labs/source."""
    for generated in (graded["course"] / "release" / graded["lab"]).glob("*.ipynb"):
        committed = ROOT / "labs" / "release" / graded["lab"] / generated.name
        assert committed.exists(), f"missing {committed}; run make release"
        a, b = nbformat.read(generated, as_version=4), nbformat.read(committed, as_version=4)
        assert [(c.cell_type, c.source, c.metadata) for c in a.cells] == [
            (c.cell_type, c.source, c.metadata) for c in b.cells
        ], "run make release"
