"""Grade a folder of submissions for one lab: sandboxed runs, marks decided by the grader, and
outputs for instructors (nbgrader gradebook, CSV, summary) and students (feedback without hidden
tests).

    python -m course_grader grade LAB SUBMISSIONS [--out DIR] [--jobs N] [--resume]

SUBMISSIONS holds one folder per student (named by the student id), each with the lab notebook,
either directly or in a LAB subfolder (nbgrader's exchange layout). Nothing in SUBMISSIONS is ever
written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import multiprocessing
import os
import re
import secrets
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

from . import items, notebooks, policy, sandbox

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")


@dataclass(frozen=True)
class Settings:
    lab: str
    course: Path  # the nbgrader course folder (labs/)
    out: Path
    cell_timeout: int = 120
    total_timeout: int = 900
    memory_bytes: int = 6 * 2**30
    sandboxed: bool = True
    seed: int | None = (
        None  # secret seed of the hidden inputs; read from (or created in) OUT/.secret/seed
    )


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, delete=False, encoding="utf-8", suffix=".tmp"
    ) as handle:
        handle.write(text)
    os.replace(handle.name, path)


def secret_seed(out: Path) -> int:
    """The run's secret seed: kept in OUT/.secret/seed (mode 0600) so that a resumed run draws the
    same inputs. The sandbox never sees OUT, and the seed is written to no report."""
    path = out / ".secret" / "seed"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(str(secrets.randbits(128)))
    return int(path.read_text().strip())


class _NoOutputClient(NotebookClient):
    """Keeps no output at all: marks never depend on what a cell shows, and gigantic outputs cannot
    exhaust the grader's memory."""

    def output(self, outs, msg, display_id, cell_index):  # noqa: D102
        return None


def _prepare_run_folder(settings: Settings, hide: dict[str, list[str]]) -> tuple[Path, Path]:
    """(run folder, scratch): scratch is the only place the kernel may write; course/ holds the
    filtered course_lib."""
    run_dir = Path(tempfile.mkdtemp(prefix="course-grader-"))
    os.chmod(run_dir, 0o755)
    scratch = run_dir / "scratch"
    scratch.mkdir(mode=0o755)
    sandbox.filtered_course_lib(run_dir / "course" / "course_lib", hide)
    os.chmod(run_dir / "course", 0o755)
    if settings.sandboxed:
        os.chown(scratch, sandbox.SANDBOX_UID, sandbox.SANDBOX_UID)
    return run_dir, scratch


def run_notebook(
    notebook: nbformat.NotebookNode,
    settings: Settings,
    lab: items.Lab | None = None,
    all_cases: dict | None = None,
) -> dict:
    """Run the assembled notebook (without test cells) in a sandboxed kernel, then every graded
    item's cases.

    Returns {"passed": {item id: bool}, "run": {item id: bool}, "stopped": reason or None,
    "oom": bool}."""
    lab_items = lab.items if lab else []
    run_dir, scratch = _prepare_run_folder(settings, lab.hide if lab else {})
    cgroup = (
        sandbox.Cgroup(f"{os.getpid()}-{run_dir.name}", settings.memory_bytes)
        if settings.sandboxed
        else None
    )
    km = sandbox.SandboxedKernelManager(
        kernel_name="python3",
        transport="ipc",
        ip=str(scratch / "ipc"),
        connection_file=str(scratch / "kernel.json"),
    )
    km.wrapper = (cgroup.enter_command() if cgroup else []) + sandbox.kernel_wrapper(
        scratch,
        run_dir / "course" / "course_lib",
        settings.memory_bytes,
        settings.sandboxed,
        cgroup,
    )
    km.sandbox_uid = sandbox.SANDBOX_UID if settings.sandboxed else None
    client = _NoOutputClient(
        notebook,
        km=km,
        timeout=settings.cell_timeout,
        allow_errors=True,
        startup_timeout=120,
        resources={"metadata": {"path": str(scratch)}},
    )
    passed: dict[str, bool] = {}
    ran: set[str] = set()
    stopped = None
    deadline = time.monotonic() + settings.total_timeout
    all_cases = all_cases or {}
    try:
        with client.setup_kernel(env=sandbox.environment_for_kernel(scratch, settings.sandboxed)):
            for index, cell in enumerate(notebook.cells):
                if cell.cell_type != "code":
                    continue
                if time.monotonic() > deadline:
                    stopped = (
                        f"the notebook exceeded the total time limit of {settings.total_timeout} s"
                    )
                    break
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:
                    stopped = (
                        f"a cell ran longer than the limit of {settings.cell_timeout} s "
                        "(infinite loop?); later cells and the checks were not run"
                    )
                    break
                except DeadKernelError:
                    stopped = (
                        "the Python kernel died (crash, os._exit or memory limit); "
                        "later cells and the checks were not run"
                    )
                    break
            for number, item in enumerate(lab_items if stopped is None else []):
                if time.monotonic() > deadline:
                    stopped = (
                        f"the notebook exceeded the total time limit of {settings.total_timeout} s"
                    )
                    break
                cases = all_cases[item.id]
                paths, calls = [], []
                for k, case in enumerate(cases):
                    path_in, path_out = (
                        scratch / f"in-{number}-{k}.npz",
                        scratch / f"out-{number}-{k}.npz",
                    )
                    items.write_inputs(path_in, case.inputs)
                    paths.append((str(path_in), str(path_out)))
                    calls.append(case.call or item.call)
                cell = nbformat.v4.new_code_cell(items.harness_cell(item, paths, calls))
                notebook.cells.append(cell)
                try:
                    client.execute_cell(cell, len(notebook.cells) - 1)
                except CellTimeoutError:
                    stopped = (
                        f"the checks of {item.id!r} ran longer than the limit of "
                        f"{settings.cell_timeout} s; later checks were not run"
                    )
                    ran.add(item.id)
                    passed[item.id] = False
                    break
                except DeadKernelError:
                    stopped = (
                        f"the Python kernel died during the checks of {item.id!r} (crash, "
                        "os._exit or memory limit); later checks were not run"
                    )
                    ran.add(item.id)
                    passed[item.id] = False
                    break
                ran.add(item.id)
                passed[item.id] = all(
                    items.judge(case, items.read_result(Path(o), item.allow_nonfinite))
                    for case, (_, o) in zip(cases, paths, strict=True)
                )
                for _, o in paths:  # a later item must not find this item's answers
                    for p in (Path(o), Path(o.replace("/out-", "/in-"))):
                        try:
                            p.unlink()
                        except OSError:
                            pass
    except Exception as error:  # kernel failed to start, sandbox refused, ...
        if os.environ.get("COURSE_GRADER_DEBUG"):
            import traceback

            traceback.print_exc()
        stopped = stopped or f"the notebook could not be run ({type(error).__name__} in the grader)"
    finally:
        # nbclient leaves a kernel it did not create running: kill it (and, in the sandbox,
        # everything it started)
        try:
            if km.has_kernel:
                run_sync(km.shutdown_kernel)(now=True)
        except Exception:
            pass
        oom = bool(cgroup and cgroup.oom_killed())
        if cgroup:
            cgroup.remove()
        shutil.rmtree(run_dir, ignore_errors=True)
    return {"passed": passed, "run": ran, "stopped": stopped, "oom": oom}


def _blank_result(student: str, points: dict[str, float]) -> dict:
    """A result with every graded cell (grade id -> points) at zero, before anything is run."""
    return {
        "student": student,
        "status": "graded",
        "reasons": [],
        "notes": [],
        "flags": [],
        "sha256": None,
        "scores": {g: 0.0 for g in points},
        "max_scores": points,
        "messages": {},
        "score": 0.0,
        "max_score": sum(points.values()),
    }


def grade_student(folder: Path, settings: Settings) -> dict:
    """Everything about one student's submission; never raises, whatever the submission holds."""
    try:
        return _grade_student(folder, settings)
    except Exception as error:  # a bug or an unforeseen submission: a reason, the class goes on
        student = folder.name if STUDENT_ID.match(folder.name) else "invalid-id"
        source = nbformat.read(_source_path(settings), as_version=4)
        result = _blank_result(student, notebooks.graded_cells(source))
        result["status"] = "error"
        result["reasons"] = [
            f"the submission could not be graded ({type(error).__name__} in the grader); "
            "an instructor must look at it"
        ]
        return result


def _source_path(settings: Settings) -> Path:
    return next(iter(sorted((settings.course / "source" / settings.lab).glob("*.ipynb"))))


def _grade_student(folder: Path, settings: Settings) -> dict:
    source = nbformat.read(_source_path(settings), as_version=4)
    points = notebooks.graded_cells(source)
    result = _blank_result(folder.name, points)
    if not STUDENT_ID.match(folder.name):
        result.update(status="error", reasons=["folder name is not a valid student id"])
        return result
    try:
        path, notes = notebooks.find_notebook(folder, _source_path(settings).name, settings.lab)
        result["notes"] += notes
        raw = notebooks.read_bytes_nofollow(path)
        result["sha256"] = hashlib.sha256(raw).hexdigest()
        submission, read_notes = notebooks.parse_submission(raw)
        result["notes"] += read_notes
        assembled = notebooks.assemble(source, submission)
    except notebooks.Problem as problem:
        result.update(status="error", reasons=[str(problem)])
        return result
    except OSError as error:
        result.update(
            status="error",
            reasons=[f"submission could not be read ({error.strerror or 'I/O error'})"],
        )
        return result
    result["notes"] += assembled.notes
    lab = items.load_lab(settings.course, settings.lab)
    config = _lab_config(settings)
    result["flags"] = policy.review(
        assembled.untrusted, _module_aliases(source), set(config.get("reference_names", []))
    )
    run = run_notebook(
        notebooks.without_tests(assembled.notebook),
        settings,
        lab,
        items.cases_for(settings.course, settings.lab, settings.seed or 0),
    )
    if run["stopped"]:
        result["reasons"].append(run["stopped"])
    if run["oom"]:
        result["reasons"].append(
            f"the sandbox reached its memory limit of {settings.memory_bytes / 2**30:g} GiB"
        )
    for item in lab.items:
        if item.id not in points:
            continue
        if run["passed"].get(item.id):
            result["scores"][item.id] = points[item.id]
        elif item.id in run["run"]:
            result["messages"][item.id] = item.message
        else:
            result["messages"][item.id] = "not checked (see the reason above)"
    result["score"] = sum(result["scores"].values())
    if result["flags"]:
        result["status"] = "flagged"
        result["reasons"].append(
            "flagged for review (the score stands until an instructor decides): "
            + "; ".join(result["flags"][:5])
        )
    elif run["stopped"] and not run["run"]:
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

    scripts = str(
        Path(sys.executable).parent
    )  # nbgrader runs alembic from the environment's scripts
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
                gb.update_or_create_grade_cell(
                    grade_id, notebook_name, lab, max_score=max_score, cell_type="code"
                )
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
    lines = [
        f"# Feedback: {lab}",
        "",
        f"Student: {result['student']}",
        f"Score: {result['score']:g} / {result['max_score']:g}",
        "",
    ]
    if result["status"] == "flagged":
        lines += [
            "An instructor will look at some of your code; "
            "the score above was computed as for everyone.",
            "",
        ]
    for reason in result["reasons"]:
        if not reason.startswith("flagged"):
            lines.append(f"* {reason}")
    for note in result["notes"]:
        lines.append(f"* note: {note}")
    lines += ["", "| question | score | comment |", "|---|---|---|"]
    for grade_id, max_score in result["max_scores"].items():
        comment = (
            result["messages"]
            .get(grade_id, "all checks passed")
            .replace("|", "\\|")
            .replace("\n", " ")
        )
        lines.append(f"| {grade_id} | {result['scores'][grade_id]:g} / {max_score:g} | {comment} |")
    return "\n".join(lines) + "\n"


def write_reports(settings: Settings, results: list[dict]) -> str:
    """CSV, feedback files and the summary, all rebuilt from the per-student results
    (idempotent)."""
    results = sorted(results, key=lambda r: r["student"])
    questions = list(results[0]["max_scores"]) if results else []
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["student", "status", "score", "max_score", *questions, "reason"])
    for r in results:
        writer.writerow(
            [
                r["student"],
                r["status"],
                f"{r['score']:g}",
                f"{r['max_score']:g}",
                *[f"{r['scores'][q]:g}" for q in questions],
                " | ".join(r["reasons"]),
            ]
        )
    _atomic_write(settings.out / "grades.csv", table.getvalue())
    for r in results:
        if STUDENT_ID.match(r["student"]):
            _atomic_write(
                settings.out / "feedback" / r["student"] / f"{settings.lab}.md",
                feedback_text(r, settings.lab),
            )
    summary = [f"{settings.lab}: {len(results)} submissions"]
    for r in results:
        extra = " (flagged for review; the score stands)" if r["status"] == "flagged" else ""
        why = f" -- {' | '.join(r['reasons'])}" if r["reasons"] else ""
        summary.append(
            f"  {r['student']:<24} {r['status']:<8} {r['score']:g}/{r['max_score']:g}{extra}{why}"
        )
    text = "\n".join(summary) + "\n"
    _atomic_write(settings.out / "summary.txt", text)
    return text


def grade_folder(
    settings: Settings,
    submissions: Path,
    jobs: int = 2,
    resume: bool = False,
    progress: bool = True,
) -> list[dict]:
    """Grade every student folder in ``submissions``; results are saved one by one so a run can
    resume."""
    if not settings.sandboxed:
        print(
            "WARNING: bubblewrap (bwrap) is not available: student code runs WITHOUT a sandbox, "
            "with only time and memory limits. Install it (Debian/Ubuntu: apt-get install "
            "bubblewrap) before grading real submissions."
        )
    settings.out.mkdir(parents=True, exist_ok=True)
    if settings.seed is None:
        settings = replace(settings, seed=secret_seed(settings.out))
    folders = sorted(
        p
        for p in submissions.iterdir()
        if not p.name.startswith(".") and p.is_dir() and not p.is_symlink()
    )
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
    notebook_name = next(
        iter(sorted((settings.course / "source" / settings.lab).glob("*.ipynb")))
    ).stem
    points = notebooks.graded_cells(nbformat.read(_source_path(settings), as_version=4))
    start = time.perf_counter()
    # spawned, not forked: a forked worker inherits the caller's ZeroMQ and asyncio state (a
    # notebook runner, a test worker) and can spin forever waiting for its kernel
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=max(1, jobs), initializer=_worker_init, mp_context=spawn
    ) as pool:
        futures = {pool.submit(grade_student, folder, settings): folder for folder in todo}
        for count, future in enumerate(as_completed(futures), 1):
            try:
                result = future.result()
            except (
                Exception
            ):  # the worker itself died: this student gets a reason, the class goes on
                folder = futures[future]
                result = _blank_result(folder.name, points)
                result["status"] = "error"
                result["reasons"] = [
                    "the grader's worker process died on this submission; "
                    "grade it again or look at it"
                ]
                if not STUDENT_ID.match(folder.name):
                    continue
            _atomic_write(results_dir / f"{result['student']}.json", json.dumps(result, indent=1))
            done[result["student"]] = result
            if progress:
                print(
                    f"[{count}/{len(todo)}] {result['student']}: {result['status']} "
                    f"{result['score']:g}/{result['max_score']:g} "
                    f"({time.perf_counter() - start:.0f} s)",
                    flush=True,
                )
    for result in done.values():  # idempotent: every run writes every grade again
        if STUDENT_ID.match(result["student"]):
            _update_gradebook(gradebook, settings.lab, notebook_name, result)
    print(write_reports(settings, list(done.values())), end="")
    return list(done.values())


def _worker_init() -> None:
    """One thread per grading worker for the grader's own reference computations (the workers
    already run in parallel; spinning thread pools on a busy machine only slow everyone down)."""
    for name in sandbox.THREADS:
        os.environ[name] = "1"
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def _current_hash(folder: Path, settings: Settings) -> str | None:
    source_name = next(
        iter(sorted((settings.course / "source" / settings.lab).glob("*.ipynb")))
    ).name
    try:
        path, _ = notebooks.find_notebook(folder, source_name, settings.lab)
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except (notebooks.Problem, OSError):
        return None
