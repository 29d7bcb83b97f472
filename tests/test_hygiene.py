"""Notebook and repository hygiene: executed lectures, seeds, no downloads, consistent pins and
naming."""

import re
import subprocess

import nbformat
import pytest
from conftest import LAB_SOURCES, LECTURES, ROOT

ALL_NOTEBOOKS = sorted(
    p
    for d in ("lectures", "labs")
    for p in (ROOT / d).rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)
NETWORK = re.compile(
    r"urlretrieve|urlopen|requests\.|fetch_openml|download\s*=\s*True|!\s*(pip|wget|curl|git\s+clone)|%pip|http[s]?://"
)


def code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_there_is_at_least_one_lecture_and_lab():
    assert LECTURES and LAB_SOURCES


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_is_valid_and_downloads_nothing(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not NETWORK.search(cell.source), (
                f"{path.name}: a code cell downloads or installs: {cell.source[:80]!r}"
            )


@pytest.mark.parametrize(
    "path", [p for p in ALL_NOTEBOOKS if re.match(r"\d\d_", p.name)], ids=lambda p: p.name
)
def test_every_numbered_notebook_seeds_first(path):
    first_code = code_cells(path)[0].source
    assert "seed_everything(" in first_code, (
        f"{path.name}: the first code cell must seed (seed_everything)"
    )


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_lecture_is_executed_in_order_without_errors(path):
    cells = [c for c in code_cells(path) if c.source.strip()]
    counts = [c.execution_count for c in cells]
    assert counts == list(range(1, len(cells) + 1)), (
        f"{path.name}: execute it top to bottom on a fresh kernel (make notebooks)"
    )
    for c in cells:
        assert not any(o.output_type == "error" for o in c.outputs), (
            f"{path.name}: cell {c.execution_count} has an error output"
        )


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_lecture_follows_the_course_template(path):
    nb = nbformat.read(path, as_version=4)
    text = [c.source for c in nb.cells if c.cell_type == "markdown"]
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "Learning objectives" in text[0], "opens with learning objectives"
    assert any("## Exercises" in t for t in text[-4:]), (
        "ends with exercises (then lab link, references)"
    )
    assert sum("Predict" in t for t in text) >= 2, "asks the reader to predict before running"
    assert "ipywidgets" in code and "widgets." in code, "has an interactive widget"
    assert "show_source(" in code, "shows the course_lib code it teaches"
    assert "assert " in code, "checks its claims"


@pytest.mark.parametrize(
    "path",
    [p for lab in LAB_SOURCES for p in lab.glob("*.ipynb")]
    + sorted((ROOT / "labs" / "release").rglob("*.ipynb")),
    ids=lambda p: str(p.relative_to(ROOT / "labs")),
)
def test_lab_notebooks_are_committed_without_outputs(path):
    assert all(not c.outputs and c.execution_count is None for c in code_cells(path)), (
        f"{path}: clear outputs before committing"
    )


def test_each_topic_lives_in_four_places():
    from course_lib import LECTURE_MODULES

    assert sorted(LECTURE_MODULES) == [p.stem for p in LECTURES], (
        "course_lib.LECTURE_MODULES lists every lecture"
    )
    for lecture in LECTURES:
        module = LECTURE_MODULES[lecture.stem]
        assert (ROOT / "course_lib" / f"{module}.py").exists(), f"course_lib/{module}.py"
        assert (ROOT / "tests" / f"test_{module}.py").exists(), f"tests/test_{module}.py"
        assert (ROOT / "labs" / "source" / lecture.stem).is_dir(), f"labs/source/{lecture.stem}"
        assert (ROOT / "labs" / "release" / lecture.stem).is_dir(), (
            f"labs/release/{lecture.stem} (make release)"
        )


def test_readme_and_index_list_every_lecture():
    readme = (ROOT / "README.md").read_text()
    index = (ROOT / "lectures" / "index.ipynb").read_text()
    for lecture in LECTURES:
        assert lecture.name in readme and lecture.name in index


def test_environment_yml_pins_the_same_versions_as_pyproject():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = set(project["dependencies"]) | set(project["optional-dependencies"]["test"])
    conda = set(
        re.findall(
            r"^\s+- ([A-Za-z0-9_.\-]+==[^\s]+)\s*$", (ROOT / "environment.yml").read_text(), re.M
        )
    )
    assert pins == conda
    assert "torch==2.13.0" in pins


def test_no_checkpoints_or_gradebooks_are_tracked():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    assert not [t for t in tracked if ".ipynb_checkpoints" in t or t.endswith("gradebook.db")]
