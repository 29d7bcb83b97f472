"""Command line: ``python -m course_grader release [LAB]`` and
``python -m course_grader grade LAB SUBMISSIONS``."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from .grade import Settings, grade_folder
from .sandbox import sandbox_available

COURSE = Path(__file__).resolve().parents[1] / "labs"


def release(lab: str | None, course: Path) -> int:
    """nbgrader generate_assignment for one lab or every lab in source/."""
    labs = [lab] if lab else sorted(p.name for p in (course / "source").iterdir() if p.is_dir())
    env = dict(
        os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    )
    for name in labs:
        if not (course / "source" / name).is_dir():
            print(f"error: no lab {name!r} in {course / 'source'}", file=sys.stderr)
            return 2
        done = subprocess.run(
            [sys.executable, "-m", "nbgrader", "generate_assignment", name, "--force"],
            cwd=course,
            env=env,
        )
        if done.returncode:
            return done.returncode
        print(f"released {name} -> {course / 'release' / name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_grader", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", help="write student versions of the labs to labs/release/")
    rel.add_argument("lab", nargs="?", help="one lab (default: all)")
    rel.add_argument("--course", type=Path, default=COURSE)
    grd = sub.add_parser(
        "grade", help="grade a folder of submissions (one folder per student) for one lab"
    )
    grd.add_argument("lab")
    grd.add_argument("submissions", type=Path)
    grd.add_argument("--out", type=Path, help="output folder (default: labs/graded/LAB)")
    grd.add_argument("--course", type=Path, default=COURSE)
    grd.add_argument(
        "--jobs", type=int, default=2, help="submissions graded in parallel (default 2)"
    )
    grd.add_argument(
        "--resume",
        action="store_true",
        help="skip students already graded whose notebook has not changed",
    )
    grd.add_argument("--cell-timeout", type=int, default=120, help="seconds per cell (default 120)")
    grd.add_argument(
        "--memory-gb",
        type=float,
        default=6.0,
        help="address-space limit of a student's kernel (default 6)",
    )
    args = parser.parse_args(argv)
    if args.command == "release":
        return release(args.lab, args.course)
    if not (args.course / "source" / args.lab).is_dir():
        parser.error(f"no lab {args.lab!r} in {args.course / 'source'}")
    if not args.submissions.is_dir():
        parser.error(f"{args.submissions} is not a folder")
    settings = Settings(
        lab=args.lab,
        course=args.course,
        out=args.out or args.course / "graded" / args.lab,
        cell_timeout=args.cell_timeout,
        memory_bytes=int(args.memory_gb * 2**30),
        sandboxed=sandbox_available(),
    )
    results = grade_folder(settings, args.submissions, jobs=args.jobs, resume=args.resume)
    return 0 if results is not None else 1


if __name__ == "__main__":
    sys.exit(main())
