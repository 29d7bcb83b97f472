"""A local demo classroom: JupyterHub, nbgrader's exchange and the course's grader on 127.0.0.1.

    python classroom/demo.py start        # (make classroom) until Ctrl-C; then everything stops
    python classroom/demo.py grade LAB    # as the instructor: collect, grade, release feedback

``start`` prepares the run folder (default ``build/classroom``; kept between runs, so students'
work survives a restart): the instructor's copy of the course (``labs/``), one home folder per
user, nbgrader's exchange with every lab released, and the nbgrader settings of each role. It then
runs JupyterHub in the foreground and, when stopped, checks that no process it started is left.

``grade`` runs ``nbgrader collect``, grades the collected notebooks with ``course_grader`` in
its sandbox (grades.csv, one feedback file per student, hidden tests never shown), turns each
feedback file into the HTML page nbgrader expects and runs ``nbgrader release_feedback``; the
students then press *Fetch Feedback* in their Assignments tab.
"""

from __future__ import annotations

import argparse
import fcntl
import html
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COURSE_ID = "genmodels-statphys"  # as in labs/nbgrader_config.py
DEFAULT_RUN = ROOT / "build" / "classroom"
STUDENTS = ("alice", "bob", "carol")
INSTRUCTOR = "instructor"
BIN = Path(sys.executable).parent


def role_config_path(run: Path, role: str) -> str:
    return os.pathsep.join([str(run / "config" / role), str(run / "config" / "common")])


def prepare(run: Path) -> None:
    """Folders, settings and the instructor's course; idempotent, never overwrites work."""
    for name in ("hub", "exchange", "config/common", "config/instructor", "config/student"):
        (run / name).mkdir(parents=True, exist_ok=True)
    (run / "exchange").chmod(0o777)  # nbgrader's exchange must be writable by every user
    (run / "config" / "common" / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        f"c.Exchange.root = {str(run / 'exchange')!r}\n"
    )
    course = run / "home" / INSTRUCTOR / "course"
    (run / "config" / "instructor" / "nbgrader_config.py").write_text(
        f"c = get_config()  # noqa: F821\nc.CourseDirectory.root = {str(course)!r}\n"
    )
    # Every server runs as the same Unix account here, so nbgrader must take the student's name
    # from the hub (it would otherwise use the Unix name for every submission).
    (run / "config" / "student" / "nbgrader_config.py").write_text(
        "import os\n\nc = get_config()  # noqa: F821\n"
        "c.CourseDirectory.student_id = os.environ['JUPYTERHUB_USER']\n"
    )
    # Students get the Assignments tab only: no formgrader, no assignment creation, no course list.
    (run / "config" / "student" / "jupyter_server_config.json").write_text(
        '{"ServerApp": {"jpserver_extensions": {"nbgrader.server_extensions.formgrader": false,'
        ' "nbgrader.server_extensions.course_list": false}}}\n'
    )
    (run / "config" / "student" / "labconfig").mkdir(exist_ok=True)
    (run / "config" / "student" / "labconfig" / "page_config.json").write_text(
        '{"disabledExtensions": {"@jupyter/nbgrader:formgrader": true,'
        ' "@jupyter/nbgrader:create-assignment": true, "@jupyter/nbgrader:course-list": true}}\n'
    )
    seeds = {  # JupyterLab settings of every user, written once: no news, every cell rendered
        "apputils-extension/notification": '{"fetchNews": "false", "checkForUpdates": false}\n',
        "notebook-extension/tracker": '{"windowingMode": "none"}\n',
    }
    for user in (INSTRUCTOR, *STUDENTS):
        settings = run / "home" / user / ".jupyter" / "lab" / "user-settings" / "@jupyterlab"
        for name, text in seeds.items():
            path = settings / f"{name}.jupyterlab-settings"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    if not course.exists():
        shutil.copytree(
            ROOT / "labs",
            course,
            ignore=shutil.ignore_patterns(
                "gradebook.db", "submitted", "autograded", "feedback", "graded", ".nbgrader.log"
            ),
        )
    labs = [p.name for p in sorted((course / "release").iterdir()) if p.is_dir()]
    todo = [lab for lab in labs if not (run / "exchange" / COURSE_ID / "outbound" / lab).exists()]
    for lab in todo[:1]:  # the first release creates the course's folders in the exchange
        nbgrader(run, course, "release_assignment", lab)
    with ThreadPoolExecutor(max_workers=4) as pool:  # each call is mostly nbgrader's start-up
        list(pool.map(lambda lab: nbgrader(run, course, "release_assignment", lab), todo[1:]))


def with_our_path(**extra: str) -> dict[str, str]:
    """The environment with this Python's scripts first on PATH (nbgrader runs ``alembic``)."""
    return dict(os.environ, PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]), **extra)


def nbgrader(run: Path, course: Path, *args: str) -> None:
    env = with_our_path(JUPYTER_CONFIG_PATH=role_config_path(run, "instructor"))
    subprocess.run([str(BIN / "nbgrader"), *args], cwd=course, env=env, check=True)


def our_processes(run: Path) -> list[int]:
    """Processes whose environment names this run folder (hub, proxy, servers, kernels)."""
    marker = f"CLASSROOM_RUN={run}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def start(run: Path, port: int, hub_port: int, proxy_api_port: int) -> int:
    (run / "hub").mkdir(parents=True, exist_ok=True)
    lock = open(run / "hub" / "lock", "w")
    try:  # one classroom per run folder: a second one would take the first one's processes
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"error: a classroom is already running in {run}", file=sys.stderr)
        return 2
    prepare(run)
    password_file = run / "hub" / "password"
    password = os.environ.get("CLASSROOM_PASSWORD")
    if not password:
        if not password_file.exists():
            password_file.write_text(secrets.token_urlsafe(9))
            password_file.chmod(0o600)
        password = password_file.read_text().strip()
    env = with_our_path(
        CLASSROOM_RUN=str(run),
        CLASSROOM_PORT=str(port),
        CLASSROOM_HUB_PORT=str(hub_port),
        CLASSROOM_PROXY_API_PORT=str(proxy_api_port),
        CLASSROOM_PASSWORD=password,
        CLASSROOM_INSTRUCTOR=INSTRUCTOR,
        CLASSROOM_STUDENTS=",".join(STUDENTS),
    )
    hub = subprocess.Popen(
        [str(BIN / "jupyterhub"), "-f", str(ROOT / "classroom" / "jupyterhub_config.py")],
        cwd=run / "hub",
        env=env,
        start_new_session=True,
    )
    print(
        f"\nDemo classroom at http://127.0.0.1:{port}/  users: {INSTRUCTOR} (instructor), "
        f"{', '.join(STUDENTS)} (students); password: {password}\n"
        f"Grade a lab: {sys.executable} classroom/demo.py grade 01_ising   Stop: Ctrl-C\n",
        flush=True,
    )

    def stop(*_):
        hub.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = hub.wait()
    deadline = time.monotonic() + 20
    while our_processes(run) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = our_processes(run)
    for pid in left:  # JupyterHub stops its servers itself; anything left is killed and reported
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    print(f"classroom stopped (hub exit code {code}; {len(left)} stray processes killed)")
    return 0 if code == 0 and not left else 1


def grade(run: Path, lab: str) -> int:
    course = run / "home" / INSTRUCTOR / "course"
    if not (course / "source" / lab).is_dir():
        print(f"error: no lab {lab!r} in {course / 'source'} (run 'start' first)", file=sys.stderr)
        return 2
    nbgrader(run, course, "collect", lab, "--update")
    out = course / "graded" / lab
    done = subprocess.run(
        [sys.executable, "-m", "course_grader", "grade", lab, str(course / "submitted"),
         "--course", str(course), "--out", str(out)],
        cwd=ROOT,
        env=with_our_path(),
    )
    if done.returncode:
        return done.returncode
    notebook = next(iter(sorted((course / "source" / lab).glob("*.ipynb")))).stem
    for text in sorted((out / "feedback").glob(f"*/{lab}.md")):
        student = text.parent.name
        submitted = course / "submitted" / student / lab
        if not (submitted / "submission_secret.txt").exists():
            continue  # no submission of this lab (the grader gave a zero row)
        target = course / "feedback" / student / lab
        target.mkdir(parents=True, exist_ok=True)
        body = html.escape(text.read_text())
        (target / f"{notebook}.html").write_text(
            f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{lab}: feedback</title>"
            f"</head>\n<body><pre style='white-space: pre-wrap'>{body}</pre></body></html>\n"
        )
        for name in ("timestamp.txt", "submission_secret.txt"):
            shutil.copy(submitted / name, target / name)
    nbgrader(run, course, "release_feedback", lab)
    print(f"grades: {out / 'grades.csv'}; feedback released to the exchange")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python classroom/demo.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=DEFAULT_RUN, help="run folder")
    sub = parser.add_subparsers(dest="command", required=True)
    st = sub.add_parser("start", help="prepare and run the demo classroom until stopped")
    st.add_argument("--port", type=int, default=8000)
    st.add_argument("--hub-port", type=int, default=8081)
    st.add_argument("--proxy-api-port", type=int, default=8001)
    gr = sub.add_parser("grade", help="collect, grade and release feedback for one lab")
    gr.add_argument("lab")
    args = parser.parse_args(argv)
    run = args.run.resolve()
    if args.command == "start":
        return start(run, args.port, args.hub_port, args.proxy_api_port)
    return grade(run, args.lab)


if __name__ == "__main__":
    sys.exit(main())
