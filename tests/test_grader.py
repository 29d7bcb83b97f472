"""Red-team suite for the instructor workflow (course_grader): honest, cheating and broken submissions of
lab 01 are graded in one run, and each gets the score it deserves or a stated reason. Also: the round trip
for every lab (source scores full marks, release scores zero) through the same grader."""

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import LAB_SOURCES, ROOT, subprocess_env
from course_grader import notebooks
from course_grader.grade import Settings, grade_folder
from course_grader.sandbox import sandbox_available

LAB = "01_ising"
SOURCE = ROOT / "labs" / "source" / LAB / f"{LAB}.ipynb"
RELEASE = ROOT / "labs" / "release" / LAB / f"{LAB}.ipynb"
SANDBOXED = sandbox_available()
BLANK = "    raise NotImplementedError()\n"
OUTSIDE = Path("/var/tmp/course_grader_probe.txt")  # a writable place for the grader, not for the kernel


def solutions_replaced(replacements: dict[str, str]) -> nbformat.NotebookNode:
    """The instructor source with some solution cells replaced (by grade_id)."""
    nb = nbformat.read(SOURCE, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in replacements:
            header = cell.source.split("### BEGIN SOLUTION")[0].rstrip(" ")
            cell.source = header + replacements[grade_id]
    return nb


def blank_with(extra_cells: list[str], test_cells: str | None = None, delete_tests: bool = False) -> nbformat.NotebookNode:
    """The student release plus extra code cells after the setup; optionally with every test cell edited or deleted."""
    nb = nbformat.read(RELEASE, as_version=4)
    cells = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and delete_tests:
            continue
        if meta.get("grade") and test_cells is not None:
            cell.source = test_cells
        cells.append(cell)
        if meta.get("grade_id") == "setup":
            cells += [nbformat.v4.new_code_cell(code) for code in extra_cells]
    nb.cells = cells
    return nb


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("grading")
    submissions, out, canary = base / "submissions", base / "out", base / "canary.txt"
    gradebook = out / "gradebook.db"
    honest = nbformat.read(SOURCE, as_version=4)
    honest_extra = solutions_replaced({})
    honest_extra.cells.insert(2, nbformat.v4.new_code_cell("import math\nimport itertools\nimport warnings\nwarnings.warn('an honest warning')\nprint('my notes', math.pi)"))
    honest_extra.cells.append(nbformat.v4.new_code_cell("print(list(itertools.islice(itertools.count(), 3)))"))
    notebooks_by_student = {
        "correct": honest,
        "blank": nbformat.read(RELEASE, as_version=4),
        "partial": solutions_replaced({"checkerboard_sweep": BLANK, "mean_abs_magnetization": BLANK}),
        "partial2": solutions_replaced({"mean_abs_magnetization": "    return 0.5\n"}),
        "honest_extras": honest_extra,
        "cheat_monkeypatch": blank_with(["np.allclose = lambda *a, **k: True\nnp.array_equal = lambda *a, **k: True\nnp.all = lambda *a, **k: True"]),
        "cheat_alias_patch": blank_with(["import numpy\nn = numpy\nn.testing.assert_allclose = lambda *a, **k: None\nn.isclose = lambda *a, **k: True"]),
        "cheat_transformer": blank_with(["get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])"]),
        "cheat_edit_tests": blank_with([], test_cells="print('All checks in this cell passed.')"),
        "cheat_delete_tests": blank_with([], delete_tests=True),
        "cheat_fake_print": solutions_replaced({k: "    print('All checks in this cell passed.')\n" for k in ("delta_energy", "checkerboard_sweep", "mean_abs_magnetization")}),
        "cheat_gradebook": blank_with([
            f"import sqlite3\nsqlite3.connect({str(gradebook)!r}).execute('update grade set auto_score = 100').connection.commit()",
            f"open({str(canary)!r}, 'w').write('escaped')",
            f"print(open({str(SOURCE)!r}).read()[:100])",
        ]),
        "cheat_reference": solutions_replaced({"delta_energy": "    return ising.delta_energy(spins, J)\n"}),
        "deleted_cells": nbformat.v4.new_notebook(cells=[c for c in nbformat.read(SOURCE, as_version=4).cells if not c.metadata.get("nbgrader", {}).get("solution")]),
        "infinite_loop": solutions_replaced({"delta_energy": "    while True:\n        pass\n"}),
        "crashed_kernel": solutions_replaced({"delta_energy": "    import os\n    os.abort()\n"}),
        "gigantic_output": solutions_replaced({}),
    }
    notebooks_by_student["gigantic_output"].cells.append(nbformat.v4.new_code_cell("for _ in range(40):\n    print('x' * 1_000_000)"))
    for student, nb in notebooks_by_student.items():
        (submissions / student).mkdir(parents=True)
        nbformat.write(nb, submissions / student / f"{LAB}.ipynb")
    (submissions / "renamed").mkdir()
    shutil.copy(SOURCE, submissions / "renamed" / "my_lab_final.ipynb")
    (submissions / "exchange_layout" / LAB).mkdir(parents=True)
    shutil.copy(SOURCE, submissions / "exchange_layout" / LAB / f"{LAB}.ipynb")
    (submissions / "missing").mkdir()
    (submissions / "bad_json").mkdir()
    (submissions / "bad_json" / f"{LAB}.ipynb").write_text('{"cells": [')
    (submissions / "non_utf8").mkdir()
    (submissions / "non_utf8" / f"{LAB}.ipynb").write_bytes(b'{"cells": [], "x": "\xff\xfe"}')
    (submissions / "not_a_notebook").mkdir()
    (submissions / "not_a_notebook" / f"{LAB}.ipynb").write_text('["just", "a", "list"]')

    before = tree_digest(submissions)
    course_before = tree_digest(ROOT / "labs" / "source")
    settings = Settings(lab=LAB, course=ROOT / "labs", out=out, cell_timeout=60, sandboxed=SANDBOXED)  # generous: CI may be slow
    results = {r["student"]: r for r in grade_folder(settings, submissions, jobs=2, progress=False)}
    return {"results": results, "submissions": submissions, "out": out, "before": before, "course_before": course_before,
            "canary": canary, "settings": settings, "gradebook": gradebook}


def scores(graded):
    return {s: (r["status"], r["score"]) for s, r in graded["results"].items()}


def test_honest_submissions_get_what_they_deserve(graded):
    s = scores(graded)
    assert s["correct"] == ("graded", 10) and s["honest_extras"] == ("graded", 10)
    assert s["renamed"] == ("graded", 10) and s["exchange_layout"] == ("graded", 10)
    assert s["blank"] == ("graded", 0)
    assert s["partial"] == ("graded", 3), "only the first exercise (3 points) is done"
    assert s["partial2"] == ("graded", 7), "the first two exercises (3 + 4 points) are done"
    assert s["gigantic_output"] == ("graded", 10)
    assert any("renamed" in note for note in graded["results"]["renamed"]["notes"])
    assert not graded["results"]["honest_extras"]["flags"], "warnings, prints, extra cells and imports are fine"


def test_no_cheat_gains_a_point(graded):
    cheats = {s: r for s, r in graded["results"].items() if s.startswith("cheat_")}
    assert len(cheats) == 8
    for student, result in cheats.items():
        assert result["score"] == 0, f"{student} gained {result['score']} points"
    for student in ("cheat_monkeypatch", "cheat_alias_patch", "cheat_transformer", "cheat_gradebook", "cheat_reference"):
        assert graded["results"][student]["status"] == "flagged", student
    assert any("reference implementation delta_energy" in f for f in graded["results"]["cheat_reference"]["flags"])
    assert graded["results"]["cheat_reference"]["score_if_cleared"] == 10  # the reviewer sees what it would get


def test_bad_submissions_get_a_clear_reason(graded):
    r = graded["results"]
    expected = {
        "missing": "no notebook found",
        "bad_json": "not valid JSON",
        "non_utf8": "not valid UTF-8",
        "not_a_notebook": "not a Jupyter notebook",
        "infinite_loop": "ran longer than the limit",
        "crashed_kernel": "kernel died",
    }
    for student, phrase in expected.items():
        assert r[student]["score"] == 0 and any(phrase in reason for reason in r[student]["reasons"]), (student, r[student]["reasons"])
    assert any("missing from the submission" in n for n in r["deleted_cells"]["notes"]) and r["deleted_cells"]["score"] == 0
    table = (graded["out"] / "grades.csv").read_text()
    for student, phrase in expected.items():
        assert re.search(rf"^{student},.*{re.escape(phrase)}", table, re.M), student


def test_nothing_is_lost_or_altered(graded):
    assert tree_digest(graded["submissions"]) == graded["before"], "submissions must never be modified"
    assert tree_digest(ROOT / "labs" / "source") == graded["course_before"]
    if SANDBOXED:
        assert not graded["canary"].exists(), "student code wrote outside its scratch folder"
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded['gradebook']}") as gb:
        recorded = {s: gb.find_submission(LAB, s).score for s in ("correct", "blank", "cheat_gradebook", "partial")}
    assert recorded == {"correct": 10, "blank": 0, "cheat_gradebook": 0, "partial": 3}


def test_hidden_tests_never_reach_students(graded):
    secrets = notebooks.secret_lines(nbformat.read(SOURCE, as_version=4))
    assert secrets, "lab 01 has hidden tests"
    for path in graded["out"].rglob("*"):
        if path.is_file() and path.suffix in {".md", ".csv", ".txt", ".json"}:
            text = path.read_text()
            leaked = [line for line in secrets if line in text]
            assert not leaked, f"{path.name} quotes hidden tests: {leaked[:2]}"


def test_regrading_is_idempotent_and_resumable(graded):
    out, settings = graded["out"], graded["settings"]
    table = (out / "grades.csv").read_text()
    (out / "results" / "partial.json").unlink()  # as if the run had stopped before this student
    again = {r["student"]: r for r in grade_folder(settings, graded["submissions"], jobs=1, resume=True, progress=False)}
    assert (out / "grades.csv").read_text() == table
    assert again["partial"]["score"] == 3 and len(again) == len(graded["results"])


@pytest.mark.skipif(not SANDBOXED, reason="bubblewrap is not installed: the sandbox cannot be checked here")
def test_sandbox_blocks_network_files_and_leftover_processes(tmp_path):
    """The kernel sees no network, cannot read the course sources, and leaves no process behind."""
    probe = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import socket\ns = socket.socket(); s.settimeout(3); s.connect(('127.0.0.1', 1))"),
        nbformat.v4.new_code_cell(f"open({str(SOURCE)!r}).read()"),
        nbformat.v4.new_code_cell(f"open({str(OUTSIDE)!r}, 'w').write('x')"),
        nbformat.v4.new_code_cell(f"open({str(ROOT / 'labs' / 'planted.txt')!r}, 'w').write('x')"),
        nbformat.v4.new_code_cell("import subprocess\nsubprocess.Popen(['sleep', '1234'])\nprint('started')"),
    ])
    from course_grader.grade import run_notebook

    for index, cell in enumerate(probe.cells[:4]):
        cell.metadata["nbgrader"] = {"grade": True, "grade_id": f"probe{index}", "points": 1}
    settings = Settings(lab=LAB, course=ROOT / "labs", out=tmp_path / "out", cell_timeout=30)
    outcome = run_notebook(probe, settings, {})
    assert not any(o["passed"] for o in outcome["outcomes"].values()), outcome
    assert "FileNotFoundError" in outcome["outcomes"]["probe1"]["message"]
    assert not OUTSIDE.exists() and not (ROOT / "labs" / "planted.txt").exists()
    left = subprocess.run(["pgrep", "-f", "sleep 1234"], capture_output=True, text=True).stdout.strip()
    assert not left, f"processes left behind: {left}"


@pytest.mark.parametrize("lab_source", LAB_SOURCES, ids=lambda p: p.name)
def test_round_trip_every_lab(lab_source, tmp_path):
    """Through the sandboxed grader: the instructor source scores full marks, the student release zero."""
    lab = lab_source.name
    name = next(lab_source.glob("*.ipynb")).name
    submissions = tmp_path / "submissions"
    for student, path in (("source", lab_source / name), ("release", ROOT / "labs" / "release" / lab / name)):
        (submissions / student).mkdir(parents=True)
        shutil.copy(path, submissions / student / name)
    settings = Settings(lab=lab, course=ROOT / "labs", out=tmp_path / "out", sandboxed=SANDBOXED)
    results = {r["student"]: r for r in grade_folder(settings, submissions, jobs=2, progress=False)}
    assert results["source"]["status"] == "graded" and results["source"]["score"] == results["source"]["max_score"] > 0, results["source"]
    assert results["release"]["score"] == 0


def test_command_line_reports_usage_errors(tmp_path):
    done = subprocess.run([sys.executable, "-m", "course_grader", "grade", "no_such_lab", str(tmp_path)], capture_output=True, text=True, env=subprocess_env(), cwd=ROOT)
    assert done.returncode == 2 and "no lab 'no_such_lab'" in done.stderr
    assert json.loads((ROOT / "labs" / "grading.json").read_text()).keys() >= {p.name for p in LAB_SOURCES}
