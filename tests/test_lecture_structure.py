"""Every lecture can be studied alone: header, answers to its Predict prompts, exercises with hints
and solutions, checks kept apart from teaching code, figure takeaways, a lab link and references.

The conventions (written once here, followed by every lecture):
* the first Markdown cell names the **Prerequisites**, an estimated **time** ("about N minutes" or
  "N h") and the **Learning objectives**;
* every ``Predict`` prompt is answered in ``<details><summary>Answer</summary> ... </details>``
  placed after the output that settles it;
* the ``## Exercises`` section numbers its exercises (``1. ...``) and gives each a
  ``<details><summary>Hint</summary>`` and a ``<details><summary>Solution</summary>`` block;
* a code cell that asserts a claim prints a line starting ``check:`` and draws no figure;
* a cell whose output is a figure is followed by a Markdown cell that starts with ``**Takeaway.**``;
* the lecture ends with a link to its lab (``labs/release/NN_topic/``) and a ``## References``
  section;
* no committed output is a progress bar.
"""

import re

import nbformat
import pytest
from conftest import LECTURES, ROOT

PLOTTING = re.compile(r"\bplt\.|\bax\w*\.(plot|imshow|hist|scatter|bar|errorbar|fill_between)\(")
PROGRESS = re.compile(r"\d+it/s|s/it\]|\d+%\|")


def markdown(nb):
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


@pytest.fixture(params=LECTURES, ids=lambda p: p.name)
def lecture(request):
    return request.param, nbformat.read(request.param, as_version=4)


def test_header_names_prerequisites_time_and_objectives(lecture):
    path, nb = lecture
    head = markdown(nb)[0]
    assert "Prerequisites" in head, f"{path.name}: the first cell names the prerequisites"
    assert re.search(r"about \d+ min|\d+(\.\d+)? ?h(ours?)?\b", head), (
        f"{path.name}: an estimated time"
    )
    assert "Learning objectives" in head, f"{path.name}: the learning objectives"


def test_every_predict_prompt_has_an_answer(lecture):
    path, nb = lecture
    text = "\n".join(markdown(nb))
    prompts = len(re.findall(r"Predict", text))
    answers = len(re.findall(r"<summary>\s*Answer", text, re.I))
    assert prompts >= 2, f"{path.name}: asks the reader to predict"
    assert answers >= prompts, f"{path.name}: {prompts} Predict prompts but {answers} answers"
    # an answer comes after its prompt: the first answer follows the first prompt
    assert text.index("Predict") < re.search(r"<summary>\s*Answer", text, re.I).start()


def test_every_exercise_has_a_hint_and_a_solution(lecture):
    path, nb = lecture
    cells = markdown(nb)
    start = next(i for i, t in enumerate(cells) if "## Exercises" in t)
    end = next((i for i, t in enumerate(cells) if i > start and "## References" in t), len(cells))
    section = "\n".join(cells[start:end]).split("## Exercises", 1)[1]
    section = section.split("## References", 1)[0]
    exercises = len(re.findall(r"(?m)^\d+\.\s", section))
    assert exercises >= 3, f"{path.name}: at least three numbered exercises"
    for kind in ("Hint", "Solution"):
        found = len(re.findall(rf"<summary>\s*{kind}", section))
        assert found >= exercises, f"{path.name}: {exercises} exercises, {found} {kind} blocks"


def test_ends_with_lab_link_and_references(lecture):
    path, nb = lecture
    tail = "\n".join(markdown(nb)[-3:])
    assert f"labs/release/{path.stem}/" in tail, f"{path.name}: links to its lab at the end"
    assert "## References" in tail, f"{path.name}: ends with a References section"
    references = tail.split("## References", 1)[1]
    assert len(re.findall(r"(?m)^[*-] |^\d+\. ", references)) >= 2, (
        f"{path.name}: full reference entries"
    )


def test_checks_are_apart_from_teaching_code_and_print_what_they_checked(lecture):
    path, nb = lecture
    for cell in nb.cells:
        if cell.cell_type != "code" or not re.search(r"(?m)^\s*assert ", cell.source):
            continue
        first = cell.source.strip().splitlines()[0][:60]
        assert not PLOTTING.search(cell.source), (
            f"{path.name}: cell {first!r} both plots and asserts"
        )
        printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert re.search(r"(?m)^check:", printed), (
            f"{path.name}: cell {first!r} prints no 'check:' line"
        )


def test_every_figure_is_followed_by_its_takeaway(lecture):
    path, nb = lecture
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if not any("image/png" in o.get("data", {}) for o in cell.outputs):
            continue
        following = nb.cells[i + 1] if i + 1 < len(nb.cells) else None
        ok = following is not None and following.cell_type == "markdown"
        ok = ok and following.source.lstrip().startswith("**Takeaway.**")
        assert ok, (
            f"{path.name}: the figure of cell {cell.execution_count} has no takeaway after it"
        )


def test_no_progress_bar_is_committed(lecture):
    path, nb = lecture
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text = str(output.get("data", {}).get("text/plain", "")) + str(output.get("text", ""))
            assert not PROGRESS.search(text), (
                f"{path.name}: cell {cell.execution_count} has a progress bar"
            )


def test_displayed_library_code_fits_on_screen():
    for module in sorted((ROOT / "course_lib").glob("*.py")):
        for number, line in enumerate(module.read_text().splitlines(), 1):
            assert len(line) <= 100, f"{module.name}:{number} is {len(line)} characters long"
