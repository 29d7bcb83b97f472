"""Grading throughput: 30 submissions of lab 01 through the sandboxed grader (notebook run, then the
graded items' hidden cases judged in the grader), two at a time.

    python bench/bench_grading.py [--students N] [--jobs J]

The submissions are a mix an instructor sees: a third correct, a third blank, a third partly done.
Target (instructor-workflow issue): 30 submissions in under 3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from course_grader.grade import Settings, grade_folder
from course_grader.sandbox import sandbox_available

ROOT = Path(__file__).resolve().parents[1]
LAB = "01_ising"


def partly_done() -> nbformat.NotebookNode:
    nb = nbformat.read(ROOT / "labs" / "source" / LAB / f"{LAB}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "mean_abs_magnetization":
            cell.source = (
                cell.source.split("### BEGIN SOLUTION")[0].rstrip(" ")
                + "    raise NotImplementedError()\n"
            )
    return nb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    kinds = {
        "correct": nbformat.read(ROOT / "labs" / "source" / LAB / f"{LAB}.ipynb", as_version=4),
        "blank": nbformat.read(ROOT / "labs" / "release" / LAB / f"{LAB}.ipynb", as_version=4),
        "partial": partly_done(),
    }
    work = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        for k in range(args.students):
            kind = list(kinds)[k % 3]
            (work / "submissions" / f"student{k:03d}").mkdir(parents=True)
            nbformat.write(kinds[kind], work / "submissions" / f"student{k:03d}" / f"{LAB}.ipynb")
        settings = Settings(
            lab=LAB, course=ROOT / "labs", out=work / "out", sandboxed=sandbox_available()
        )
        start = time.perf_counter()
        results = grade_folder(settings, work / "submissions", jobs=args.jobs, progress=False)
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)
    scores = sorted({r["score"] for r in results})
    print(
        f"\n{len(results)} submissions of {LAB} graded in {seconds:.1f} s "
        f"with {args.jobs} parallel jobs ({len(results) / seconds * 60:.1f} per minute; "
        f"sandbox: {'bubblewrap' if settings.sandboxed else 'NONE'}); "
        f"distinct scores: {scores}"
    )


if __name__ == "__main__":
    main()
