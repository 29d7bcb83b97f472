"""Grade a folder of submissions for one lab: sandboxed runs, marks decided by the grader, and outputs for
instructors (nbgrader gradebook, CSV, summary) and students (feedback without hidden tests).

    python -m course_grader grade LAB SUBMISSIONS [--out DIR] [--jobs N] [--resume]

SUBMISSIONS holds one folder per student (named by the student id), each with the lab notebook, either
directly or in a LAB subfolder (nbgrader's exchange layout). Nothing in SUBMISSIONS is ever written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path

import nbformat
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from . import notebooks, policy, sandbox

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class Settings:
    lab: str
    course: Path  # the nbgrader course folder (labs/)
    out: Path
    cell_timeout: int = 120
    total_timeout: int = 900
    memory_bytes: int = 6 * 2**30
    sandboxed: bool = True
    hidden: tuple[Path, ...] = ()  # further folders the kernel must not see (the submissions)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, encoding="utf-8", suffix=".tmp") as handle:
        handle.write(text)
    os.replace(handle.name, path)


class _ErrorsOnlyClient(NotebookClient):
    """Keeps only error outputs: grading needs nothing else, and gigantic outputs cannot exhaust memory."""

    def output(self, outs, msg, display_id, cell_index):  # noqa: D102
        if msg["msg_type"] == "error":
            return super().output(outs, msg, display_id, cell_index)
        return None


def _failure_message(error: nbformat.NotebookNode, hidden: tuple[int, int] | None) -> tuple[str, bool]:
    """(message for the student, whether it came from the hidden tests)."""
    trace = ANSI.sub("", "\n".join(error.get("traceback", [])))
    match = re.search(r"Cell In\[\d+\], line (\d+)", trace)
    line = int(match.group(1)) if match else None
    if hidden and (line is None or hidden[0] <= line <= hidden[1]):
        return "a hidden test did not pass", True
    text = f"{error.get('ename', 'Error')}: {error.get('evalue', '')}".strip()
    return text[:500] + (" ..." if len(text) > 500 else ""), False


def run_notebook(notebook: nbformat.NotebookNode, settings: Settings, hidden: dict[str, tuple[int, int]]) -> dict:
    """Execute in a sandboxed kernel; return per-test outcomes and the reason a run stopped early, if any."""
    scratch = Path(tempfile.mkdtemp(prefix="course-grader-"))
    km = sandbox.SandboxedKernelManager(kernel_name="python3", transport="ipc", ip=str(scratch / "ipc"), connection_file=str(scratch / "kernel.json"))
    hide = [settings.course.resolve(), settings.out.resolve(), Path(__file__).resolve().parents[1], *(p.resolve() for p in settings.hidden)]
    km.wrapper = sandbox.kernel_wrapper(scratch, hide, sandbox.visible_paths(), settings.memory_bytes, settings.sandboxed)
    client = _ErrorsOnlyClient(notebook, km=km, timeout=settings.cell_timeout, allow_errors=True, startup_timeout=120, resources={"metadata": {"path": str(scratch)}})
    outcomes: dict[str, dict] = {}
    stopped = None
    deadline = time.monotonic() + settings.total_timeout
    try:
        with client.setup_kernel(env=sandbox.environment_for_kernel(scratch)):
            for index, cell in enumerate(notebook.cells):
                if cell.cell_type != "code":
                    continue
                if time.monotonic() > deadline:
                    stopped = f"the notebook exceeded the total time limit of {settings.total_timeout} s"
                    break
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:
                    stopped = f"a cell ran longer than the limit of {settings.cell_timeout} s (infinite loop?); later cells were not run"
                    break
                except DeadKernelError:
                    stopped = "the Python kernel died (crash, os._exit or memory limit); later cells were not run"
                    break
                meta = cell.metadata.get("nbgrader", {})
                if meta.get("grade"):
                    errors = [o for o in cell.outputs if o.get("output_type") == "error"]
                    message, from_hidden = _failure_message(errors[0], hidden.get(meta["grade_id"])) if errors else ("", False)
                    outcomes[meta["grade_id"]] = {"passed": not errors, "message": message, "hidden": from_hidden}
    except Exception as error:  # kernel failed to start, sandbox refused, ...
        stopped = stopped or f"the notebook could not be run ({type(error).__name__}: {str(error)[:200]})"
    finally:
        # nbclient leaves a kernel it did not create running: kill it (and, in the sandbox, everything it started)
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
        shutil.rmtree(scratch, ignore_errors=True)
    return {"outcomes": outcomes, "stopped": stopped}


def grade_student(folder: Path, settings: Settings) -> dict:
    """Everything about one student's submission; never raises for a bad submission."""
    source_path = next(iter(sorted((settings.course / "source" / settings.lab).glob("*.ipynb"))))
    source = nbformat.read(source_path, as_version=4)
    points = notebooks.graded_cells(source)
    result = {"student": folder.name, "status": "graded", "reasons": [], "notes": [], "flags": [], "sha256": None,
              "scores": {g: 0.0 for g in points}, "max_scores": points, "messages": {}, "score": 0.0, "max_score": sum(points.values())}
    if not STUDENT_ID.match(folder.name):
        result.update(status="error", reasons=["folder name is not a valid student id"])
        return result
    try:
        path, notes = notebooks.find_notebook(folder, source_path.name, settings.lab)
        result["notes"] += notes
        result["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        assembled = notebooks.assemble(source, notebooks.read_submission(path))
    except notebooks.Problem as problem:
        result.update(status="error", reasons=[str(problem)])
        return result
    except OSError as error:
        result.update(status="error", reasons=[f"submission could not be read ({error.strerror or error})"])
        return result
    result["notes"] += assembled.notes
    config = _lab_config(settings)
    result["flags"] = policy.review(assembled.untrusted, _module_aliases(source), set(config.get("reference_names", [])))
    run = run_notebook(assembled.notebook, settings, notebooks.hidden_regions(source))
    if run["stopped"]:
        result["reasons"].append(run["stopped"])
    for grade_id, outcome in run["outcomes"].items():
        result["scores"][grade_id] = points[grade_id] if outcome["passed"] else 0.0
        if not outcome["passed"]:
            result["messages"][grade_id] = outcome["message"]
    for grade_id in points:
        if grade_id not in run["outcomes"]:
            result["messages"][grade_id] = "not run (see reason)"
    result["score"] = sum(result["scores"].values())
    if result["flags"]:
        result["status"] = "flagged"
        result["score_if_cleared"] = result["score"]
        result["scores"] = {g: 0.0 for g in points}
        result["score"] = 0.0
        result["reasons"].append("flagged for review: " + "; ".join(result["flags"][:5]))
    elif run["stopped"] and not run["outcomes"]:
        result["status"] = "error"
    return result


def _lab_config(settings: Settings) -> dict:
    config_file = settings.course / "grading.json"
    return json.loads(config_file.read_text()).get(settings.lab, {}) if config_file.exists() else {}


def _module_aliases(source: nbformat.NotebookNode) -> set[str]:
    import ast

    aliases = set()
    for cell in source.cells:
        if cell.cell_type != "code" or cell.metadata.get("nbgrader", {}).get("solution"):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                aliases |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return aliases


# ------------------------------------------------------------------------------------------------
# Outputs
# ------------------------------------------------------------------------------------------------
def _update_gradebook(gradebook: Path, lab: str, notebook_name: str, result: dict) -> None:
    import sys

    from nbgrader.api import Gradebook

    scripts = str(Path(sys.executable).parent)  # nbgrader runs alembic from the environment's scripts
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")

    with warnings.catch_warnings(), Gradebook(f"sqlite:///{gradebook}") as gb:
        warnings.simplefilter("ignore")  # SQLAlchemy notes about nbgrader's own session handling
        gb.update_or_create_assignment(lab)
        try:
            gb.find_notebook(notebook_name, lab)
        except Exception:
            gb.update_or_create_notebook(notebook_name, lab)
            for grade_id, max_score in result["max_scores"].items():
                gb.update_or_create_grade_cell(grade_id, notebook_name, lab, max_score=max_score, cell_type="code")
        gb.update_or_create_student(result["student"])
        try:
            gb.find_submission(lab, result["student"])
        except Exception:
            gb.add_submission(lab, result["student"])
        for grade_id, score in result["scores"].items():
            grade = gb.find_grade(grade_id, notebook_name, lab, result["student"])
            grade.auto_score = score
        gb.db.commit()


def feedback_text(result: dict, lab: str) -> str:
    """What the student sees: scores per question, messages of public tests only, and reasons."""
    lines = [f"# Feedback: {lab}", "", f"Student: {result['student']}", f"Score: {result['score']:g} / {result['max_score']:g}", ""]
    if result["status"] == "flagged":
        lines += ["Your submission is waiting for review by an instructor; the score above is provisional.", ""]
    for reason in result["reasons"]:
        if not reason.startswith("flagged"):
            lines.append(f"* {reason}")
    for note in result["notes"]:
        lines.append(f"* note: {note}")
    lines += ["", "| question | score | comment |", "|---|---|---|"]
    for grade_id, max_score in result["max_scores"].items():
        comment = result["messages"].get(grade_id, "all checks passed").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {grade_id} | {result['scores'][grade_id]:g} / {max_score:g} | {comment} |")
    return "\n".join(lines) + "\n"


def write_reports(settings: Settings, results: list[dict]) -> str:
    """CSV, feedback files and the summary, all rebuilt from the per-student results (idempotent)."""
    results = sorted(results, key=lambda r: r["student"])
    questions = list(results[0]["max_scores"]) if results else []
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["student", "status", "score", "max_score", *questions, "reason"])
    for r in results:
        writer.writerow([r["student"], r["status"], f"{r['score']:g}", f"{r['max_score']:g}", *[f"{r['scores'][q]:g}" for q in questions], " | ".join(r["reasons"])])
    _atomic_write(settings.out / "grades.csv", table.getvalue())
    for r in results:
        if STUDENT_ID.match(r["student"]):
            _atomic_write(settings.out / "feedback" / r["student"] / f"{settings.lab}.md", feedback_text(r, settings.lab))
    summary = [f"{settings.lab}: {len(results)} submissions"]
    for r in results:
        extra = f" (would be {r['score_if_cleared']:g} if cleared)" if r["status"] == "flagged" else ""
        why = f" -- {' | '.join(r['reasons'])}" if r["reasons"] else ""
        summary.append(f"  {r['student']:<24} {r['status']:<8} {r['score']:g}/{r['max_score']:g}{extra}{why}")
    text = "\n".join(summary) + "\n"
    _atomic_write(settings.out / "summary.txt", text)
    return text


def grade_folder(settings: Settings, submissions: Path, jobs: int = 2, resume: bool = False, progress: bool = True) -> list[dict]:
    """Grade every student folder in ``submissions``; results are saved one by one so a run can resume."""
    if not settings.sandboxed:
        print("WARNING: bubblewrap (bwrap) is not available: student code runs WITHOUT a sandbox, with only time and "
              "memory limits. Install it (Debian/Ubuntu: apt-get install bubblewrap) before grading real submissions.")
    settings = replace(settings, hidden=(*settings.hidden, submissions))
    settings.out.mkdir(parents=True, exist_ok=True)
    folders = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    results_dir = settings.out / "results"
    done, todo = {}, []
    for folder in folders:
        saved = results_dir / f"{folder.name}.json"
        if resume and saved.exists():
            previous = json.loads(saved.read_text())
            current = _current_hash(folder, settings)
            if previous.get("sha256") == current:
                done[folder.name] = previous
                continue
        todo.append(folder)
    gradebook = settings.out / "gradebook.db"
    notebook_name = next(iter(sorted((settings.course / "source" / settings.lab).glob("*.ipynb")))).stem
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(grade_student, folder, settings): folder for folder in todo}
        for count, future in enumerate(as_completed(futures), 1):
            result = future.result()
            _atomic_write(results_dir / f"{result['student']}.json", json.dumps(result, indent=1))
            done[result["student"]] = result
            if progress:
                print(f"[{count}/{len(todo)}] {result['student']}: {result['status']} {result['score']:g}/{result['max_score']:g} ({time.perf_counter() - start:.0f} s)", flush=True)
    for result in done.values():  # idempotent: every run writes every grade again
        if STUDENT_ID.match(result["student"]):
            _update_gradebook(gradebook, settings.lab, notebook_name, result)
    print(write_reports(settings, list(done.values())), end="")
    return list(done.values())


def _current_hash(folder: Path, settings: Settings) -> str | None:
    source_name = next(iter(sorted((settings.course / "source" / settings.lab).glob("*.ipynb")))).name
    try:
        path, _ = notebooks.find_notebook(folder, source_name, settings.lab)
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except (notebooks.Problem, OSError):
        return None
