"""Red-team suite for the instructor workflow (course_grader): honest, cheating and broken
submissions of lab 01 are graded in one run; marks are decided in the grader from plain data, so no
cheat gains a point, every broken submission gets a reason, and nothing outside the sandbox's
scratch folder changes."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
from conftest import LAB_SOURCES, ROOT, subprocess_env

from course_grader import items, notebooks
from course_grader.grade import Settings, grade_folder, run_notebook
from course_grader.items import Case, Item, Lab
from course_grader.sandbox import Cgroup, sandbox_available

LAB = "01_ising"
SOURCE = ROOT / "labs" / "source" / LAB / f"{LAB}.ipynb"
RELEASE = ROOT / "labs" / "release" / LAB / f"{LAB}.ipynb"
SANDBOXED = sandbox_available()


def _cgroups_available() -> bool:
    probe = Cgroup(f"probe-{os.getpid()}", 2**30)
    active = probe.active
    probe.remove()
    return active


CGROUPS = _cgroups_available()
BLANK = "    raise NotImplementedError()\n"
MARKER = "zq9RedTeamMarker"  # text a cheat tries to smuggle into the feedback
SLEEP = "4321.5"  # argument of processes a cheat leaves behind
OUTSIDE = Path("/var/tmp/course_grader_probe.txt")
ATTACKER_VALUE = "9.25"


def _edited(path, marker: str, replacements: dict[str, str], extra) -> nbformat.NotebookNode:
    """The notebook at ``path`` with the code after ``marker`` in some cells replaced (by
    grade_id) and extra code cells after the setup cell."""
    nb = nbformat.read(path, as_version=4)
    cells = []
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in replacements:
            cell.source = cell.source.split(marker)[0].rstrip(" ") + replacements[grade_id]
        cells.append(cell)
        if grade_id == "setup":
            cells += [nbformat.v4.new_code_cell(code) for code in extra]
    nb.cells = cells
    return nb


def solutions_replaced(
    replacements: dict[str, str], extra: list[str] = ()
) -> nbformat.NotebookNode:
    """The instructor source with some solution bodies replaced (by grade_id) and extra cells after
    setup."""
    return _edited(SOURCE, "### BEGIN SOLUTION", replacements, extra)


def blank_with(
    extra: list[str], replacements: dict[str, str] | None = None
) -> nbformat.NotebookNode:
    """The student release (honest base: 0 points) with extra code cells after the setup."""
    return _edited(RELEASE, "# YOUR CODE HERE", replacements or {}, extra)


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def repo_digest() -> dict[str, str]:
    return {
        **tree_digest(ROOT / "labs" / "source"),
        **tree_digest(ROOT / "labs" / "items"),
        **tree_digest(ROOT / "course_lib"),
    }


# Each cheat: (submission, honest base score). Base 0 = the blank release; base 3 = only
# delta_energy done.
CHEATS = {
    # shadowing what the (visible) test cells use
    "cheat_shadow": (
        blank_with(
            [
                "import contextlib\n"
                "@contextlib.contextmanager\n"
                "def checks():\n"
                "    yield\n"
                "assert_close = lambda *a, **k: None\n"
                "assert_lattice = lambda a, *r, **k: a"
            ],
            {"delta_energy": "    return np.full(np.shape(spins), 8.0) * J\n"},
        ),
        0,
    ),
    # display and exception machinery
    "cheat_hooks": (
        blank_with(
            [
                "import sys, builtins\n"
                "ip = get_ipython()\n"
                "ip.showtraceback = lambda *a, **k: None\n"
                "ip.set_custom_exc((BaseException,), lambda *a, **k: None)\n"
                "sys.excepthook = lambda *a: None\n"
                "builtins.AssertionError = type('AssertionError', (Exception,), {})\n"
                "np.allclose = lambda *a, **k: True\n"
                "np.array_equal = lambda *a, **k: True"
            ]
        ),
        0,
    ),
    # IPython-only syntax the static check cannot parse
    "cheat_syntax": (
        blank_with(
            [
                "!touch /tmp/escaped_by_shell\nnp.allclose?\n/print 'auto-called'",
                "%config Completer.use_jedi = False",
            ]
        ),
        0,
    ),
    # the reference implementation reached indirectly
    "cheat_reference": (
        blank_with(
            [
                "import operator, importlib\n"
                "from course_lib import ising as _i\n"
                "try:\n"
                "    REF = operator.attrgetter('delta_energy')("
                "importlib.import_module('course_lib.ising'))\n"
                "except Exception:\n"
                "    REF = None",
                "import glob\nSOURCES = ['"
                + str(ROOT / "course_lib" / "ising.py")
                + (
                    "', '/work/main/course_lib/ising.py'] "
                    "+ glob.glob('/opt/*/course_lib/ising.py') "
                    "+ glob.glob('/usr/**/course_lib/ising.py')\n"
                    "print(SOURCES)"
                ),
            ],
            {
                "delta_energy": (
                    "    if REF is not None:\n"
                    "        return REF(spins, J)\n"
                    "    for path in SOURCES:\n"
                    "        ns = {}\n"
                    "        exec(open(path).read()"
                    ".replace('from __future__ import annotations', ''), ns)\n"
                    "        if 'delta_energy' in ns:\n"
                    "            return ns['delta_energy'](spins, J)\n"
                    "    raise RuntimeError('no reference')\n"
                )
            },
        ),
        0,
    ),
    # return values that lie
    "cheat_liar": (
        blank_with(
            [
                "class Liar(float):\n"
                "    def __eq__(self, other): return True\n"
                "    __ne__ = lambda self, other: False\n"
                "    def __array__(self, *a, **k): return np.array([self], dtype=object)\n"
                "    def __getattr__(self, name): return self\n"
                "    def __call__(self, *a, **k): return self\n"
                "    __abs__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __neg__ = "
                "lambda self, *a: self\n"
                "    __lt__ = __le__ = __gt__ = __ge__ = lambda self, other: True"
            ],
            {
                "delta_energy": "    return Liar(8.0)\n",
                "checkerboard_sweep": "    return Liar(1.0)\n",
                "mean_abs_magnetization": "    return Liar(0.9)\n",
            },
        ),
        0,
    ),
    # reading the running check: frames, globals, history, linecache
    "cheat_frames": (
        blank_with(
            [
                "import sys, linecache\n"
                "def peek():\n"
                "    found = []\n"
                "    f = sys._getframe(1)\n"
                "    while f is not None:\n"
                "        found += [v for v in f.f_locals.values() if isinstance(v, np.ndarray)]\n"
                "        f = f.f_back\n"
                "    text = ' '.join(str(x) for x in get_ipython().history_manager.input_hist_raw) "
                "+ ' '.join(''.join(v[2]) for v in linecache.cache.values() if len(v) > 2)\n"
                "    return found, text"
            ],
            {
                "delta_energy": (
                    "    arrays, text = peek()\n"
                    "    if 'ising.delta_energy' in text:\n"
                    "        raise AssertionError(text)\n"
                    "    return arrays[-1] if arrays else spins\n"
                ),
                "mean_abs_magnetization": (
                    "    arrays, text = peek()\n"
                    "    m = re.findall(r'[0-9]\\.[0-9]{3,}', text)\n"
                    "    return float(m[0]) if m else 0.5\n"
                ),
            },
        ),
        0,
    ),
    # acting as root: remount, write outside scratch, read grader secrets, signal other processes
    "cheat_root": (
        blank_with(
            [
                "import os, subprocess, glob\n"
                "log = []\n"
                "for cmd in (['mount', '-o', 'remount,rw', '/'], ['umount', '-l', '/usr']):\n"
                "    try:\n"
                "        log.append(subprocess.run(cmd, capture_output=True).returncode)\n"
                "    except Exception as e:\n"
                "        log.append(type(e).__name__)\n"
                "for target in ['"
                + str(SOURCE)
                + "', '"
                + str(RELEASE)
                + "', '"
                + str(OUTSIDE)
                + (
                    "', '/work/planted.txt', '/usr/planted.txt'] "
                    "+ glob.glob('/work/*/labs/source/*/*.ipynb'):\n"
                    "    try:\n"
                    "        open(target, 'a').write('tampered')\n"
                    "    except Exception:\n"
                    "        pass\n"
                    "for pid in os.listdir('/proc'):\n"
                    "    if pid.isdigit():\n"
                    "        try:\n"
                    "            log.append(open(f'/proc/{pid}/environ').read()[:100])\n"
                    "            os.kill(int(pid), 0)\n"
                    "        except Exception:\n"
                    "            pass\n"
                    "try:\n"
                    "    os.setuid(0)\n"
                    "except Exception as e:\n"
                    "    log.append('setuid ' + type(e).__name__)\n"
                    "subprocess.Popen(['sleep', '"
                )
                + SLEEP
                + "'])\nif os.fork() == 0:\n    os.setsid()\n    os.execvp('sleep', ['sleep', '"
                + SLEEP
                + "'])",
                # links planted where the grader writes the hidden inputs, pointing at the
                # instructor's source
                "for k in range(4):\n    for j in range(8):\n        try:\n            os.symlink('"
                + str(SOURCE)
                + "', f'in-{k}-{j}.npz')\n        except OSError:\n            pass",
            ]
        ),
        0,
    ),
    # memory: forked children and a RAM-backed /tmp together above the limit
    "cheat_memory": (
        blank_with(
            [
                "import os, time\n"
                "children = []\n"
                "for k in range(3):\n"
                "    pid = os.fork()\n"
                "    if pid == 0:\n"
                "        block = bytearray(600 * 2**20)\n"
                "        for i in range(0, len(block), 4096):\n"
                "            block[i] = 1\n"
                "        time.sleep(4)\n"
                "        os._exit(0)\n"
                "    children.append(pid)\n"
                "try:\n"
                "    with open('/tmp/filler', 'wb') as f:\n"
                "        for _ in range(1200):\n"
                "            f.write(b'x' * 2**20)\n"
                "except OSError:\n"
                "    pass\n"
                "for pid in children:\n"
                "    os.waitpid(pid, 0)"
            ]
        ),
        0,
    ),
    # failure text carrying what the function saw, meant for the feedback
    "cheat_message": (
        blank_with(
            [],
            {
                "delta_energy": (
                    f"    raise AssertionError('{MARKER} ' + repr(spins.tolist()) + repr(J))\n"
                )
            },
        ),
        0,
    ),
    # other copies of the course on the machine
    "cheat_clone": (
        blank_with(
            [
                "import glob\n"
                "CLONES = sorted(set(glob.glob('/work/*/course_lib/ising.py') "
                "+ glob.glob('/work/wt/*/course_lib/ising.py') "
                "+ glob.glob('/root/*/course_lib/ising.py') "
                "+ glob.glob('/tmp/*/course_lib/ising.py')))"
            ],
            {
                "delta_energy": (
                    "    for path in CLONES:\n"
                    "        ns = {'np': np}\n"
                    "        try:\n"
                    "            exec(compile(open(path).read()"
                    ".replace('from __future__ import annotations', ''), path, 'exec'), ns)\n"
                    "            return ns['delta_energy'](spins, J)\n"
                    "        except Exception:\n"
                    "            pass\n"
                    "    raise RuntimeError('no clone')\n"
                )
            },
        ),
        0,
    ),
    # a partial solution that cheats on the rest: must keep exactly its honest 3 points
    "cheat_partial": (
        solutions_replaced(
            {
                "checkerboard_sweep": "    return -spins\n",
                "mean_abs_magnetization": "    return float(ising.yang_magnetization(T))\n",
            }
        ),
        3,
    ),
}

HONEST = {
    "correct": nbformat.read(SOURCE, as_version=4),
    "honest_other_algorithm": solutions_replaced(
        {
            "delta_energy": (
                "    L1, L2 = spins.shape\n"
                "    out = np.empty(spins.shape)\n"
                "    for i in range(L1):\n"
                "        for j in range(L2):\n"
                "            nb = spins[(i + 1) % L1, j] + spins[i - 1, j] "
                "+ spins[i, (j + 1) % L2] + spins[i, j - 1]\n"
                "            out[i, j] = 2 * J * spins[i, j] * nb\n"
                "    return out\n"
            )
        }
    ),
    "honest_extras": solutions_replaced(
        {},
        extra=[
            "import math\n"
            "import itertools\n"
            "import warnings\n"
            "from IPython.display import display, Markdown\n"
            "warnings.warn('an honest warning')\n"
            "display(Markdown('**my notes**'))\n"
            "print('pi', math.pi)",
            "%matplotlib inline\nfig, ax = plt.subplots()\nax.plot([1, 2, 3]);\nplt.show()",
        ],
    ),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("grading")
    submissions, out = base / "submissions", base / "out"
    by_student = {
        **HONEST,
        **{k: v for k, (v, _) in CHEATS.items()},
        "blank": nbformat.read(RELEASE, as_version=4),
        "partial": solutions_replaced(
            {"checkerboard_sweep": BLANK, "mean_abs_magnetization": BLANK}
        ),
        "partial2": solutions_replaced({"mean_abs_magnetization": "    return 0.5\n"}),
        "infinite_loop": solutions_replaced(
            {"mean_abs_magnetization": "    while True:\n        pass\n"}
        ),
        "crashed_kernel": solutions_replaced({"delta_energy": "    import os\n    os.abort()\n"}),
    }
    for student, nb in by_student.items():
        (submissions / student).mkdir(parents=True)
        nbformat.write(nb, submissions / student / f"{LAB}.ipynb")
    # large outputs, stripped before the size check
    big = json.loads(SOURCE.read_text())
    big["cells"][-1]["outputs"] = [
        {"output_type": "stream", "name": "stdout", "text": "x" * (30 * 2**20)}
    ]
    (submissions / "large_outputs").mkdir()
    (submissions / "large_outputs" / f"{LAB}.ipynb").write_text(json.dumps(big))
    # lone surrogate in a correct notebook's extra cell
    surrogate = json.loads(SOURCE.read_text())
    surrogate["cells"].append(
        {
            "cell_type": "code",
            "metadata": {},
            "source": "note = 'SURROGATE'",
            "outputs": [],
            "execution_count": None,
        }
    )
    (submissions / "lone_surrogate").mkdir()
    (submissions / "lone_surrogate" / f"{LAB}.ipynb").write_text(
        json.dumps(surrogate).replace("SURROGATE", "\\ud800")
    )
    # unhashable nbgrader metadata
    odd = json.loads(SOURCE.read_text())
    odd["cells"][1]["metadata"]["nbgrader"]["grade_id"] = {"not": ["hashable"]}
    odd["cells"][2]["metadata"] = {"nbgrader": [1, 2]}
    (submissions / "unhashable_metadata").mkdir()
    (submissions / "unhashable_metadata" / f"{LAB}.ipynb").write_text(json.dumps(odd))
    # nbformat 3 (cells in worksheets, code in "input")
    v4 = json.loads(SOURCE.read_text())
    v3 = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {},
        "worksheets": [
            {
                "cells": [
                    {
                        "cell_type": c["cell_type"],
                        "metadata": c["metadata"],
                        **(
                            {"input": c["source"], "outputs": []}
                            if c["cell_type"] == "code"
                            else {"source": c["source"]}
                        ),
                    }
                    for c in v4["cells"]
                ]
            }
        ],
    }
    (submissions / "nbformat3").mkdir()
    (submissions / "nbformat3" / f"{LAB}.ipynb").write_text(json.dumps(v3))
    # broken files
    for student, content in {
        "bad_json": '{"cells": [',
        "deep_json": "[" * 200000 + "]" * 200000,
        "not_a_notebook": '["just", "a", "list"]',
    }.items():
        (submissions / student).mkdir()
        (submissions / student / f"{LAB}.ipynb").write_text(content)
    (submissions / "non_utf8").mkdir()
    (submissions / "non_utf8" / f"{LAB}.ipynb").write_bytes(b'{"cells": [], "x": "\xff\xfe"}')
    (submissions / "missing").mkdir()
    (submissions / "symlinked").mkdir()
    (submissions / "symlinked" / f"{LAB}.ipynb").symlink_to(SOURCE)
    (submissions / "renamed").mkdir()
    shutil.copy(SOURCE, submissions / "renamed" / "my_lab_final.ipynb")

    before, repo_before = tree_digest(submissions), repo_digest()
    settings = Settings(
        lab=LAB,
        course=ROOT / "labs",
        out=out,
        cell_timeout=40,
        memory_bytes=int(1.5 * 2**30),
        sandboxed=SANDBOXED,
    )
    start = time.perf_counter()
    results = {r["student"]: r for r in grade_folder(settings, submissions, jobs=2, progress=False)}
    seconds = time.perf_counter() - start
    left = subprocess.run(
        ["pgrep", "-f", f"sleep {SLEEP}"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "results": results,
        "submissions": submissions,
        "out": out,
        "before": before,
        "repo_before": repo_before,
        "settings": settings,
        "seconds": seconds,
        "left": left,
    }


def test_honest_submissions_keep_full_marks(graded):
    r = graded["results"]
    for student in (*HONEST, "large_outputs", "lone_surrogate", "nbformat3", "renamed"):
        assert (r[student]["status"], r[student]["score"]) == ("graded", 10), (student, r[student])
    assert not r["honest_extras"]["flags"], (
        "display, plotting, warnings, prints and %matplotlib are fine"
    )
    assert any("nbformat 3" in n for n in r["nbformat3"]["notes"])
    assert any("not valid Unicode" in n for n in r["lone_surrogate"]["notes"])
    assert (r["blank"]["score"], r["partial"]["score"], r["partial2"]["score"]) == (0, 3, 7)


def test_no_cheat_gains_a_point(graded):
    r = graded["results"]
    for student, (_, base) in CHEATS.items():
        assert r[student]["score"] <= base, (
            f"{student} gained {r[student]['score'] - base} points: {r[student]}"
        )
    assert r["cheat_syntax"]["status"] == "flagged" and any(
        "cannot parse" in f for f in r["cheat_syntax"]["flags"]
    )
    assert r["cheat_hooks"]["status"] == "flagged"
    if SANDBOXED and CGROUPS:
        assert any("memory limit" in reason for reason in r["cheat_memory"]["reasons"]), r[
            "cheat_memory"
        ]


def test_bad_submissions_get_a_reason_and_the_run_goes_on(graded):
    r = graded["results"]
    expected = {
        "missing": "no notebook found",
        "bad_json": "not valid JSON",
        "deep_json": "nested too deeply",
        "non_utf8": "not valid UTF-8",
        "not_a_notebook": "not a Jupyter notebook",
        "symlinked": "symbolic link",
        "infinite_loop": "longer than the limit",
        "crashed_kernel": "kernel died",
    }
    for student, phrase in expected.items():
        assert r[student]["score"] == 0 and any(
            phrase in reason for reason in r[student]["reasons"]
        ), (student, r[student]["reasons"])
    assert r["unhashable_metadata"]["status"] == "graded"
    table = (graded["out"] / "grades.csv").read_text()
    for student, phrase in expected.items():
        assert re.search(rf"^{student},.*{re.escape(phrase)}", table, re.M), student
    assert r["infinite_loop"]["score"] == 0 and r["crashed_kernel"]["score"] == 0


def test_nothing_outside_scratch_changes_and_no_process_is_left(graded):
    assert tree_digest(graded["submissions"]) == graded["before"], (
        "submissions must never be modified"
    )
    assert repo_digest() == graded["repo_before"], "the repository must never be modified"
    assert not graded["left"], f"processes left behind: {graded['left']}"
    if SANDBOXED:
        assert not OUTSIDE.exists() and not Path("/tmp/escaped_by_shell").exists()
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded['out'] / 'gradebook.db'}") as gb:
        recorded = {
            s: gb.find_submission(LAB, s).score
            for s in ("correct", "blank", "partial", "cheat_root")
        }
    assert recorded == {"correct": 10, "blank": 0, "partial": 3, "cheat_root": 0}


def test_feedback_is_instructor_text_only(graded):
    source = nbformat.read(SOURCE, as_version=4)
    secrets = notebooks.secret_lines(source)
    seed = (graded["out"] / ".secret" / "seed").read_text().strip()
    lab = items.load_lab(ROOT / "labs", LAB)
    messages = {item.id: item.message for item in lab.items}
    for path in graded["out"].rglob("*"):
        if path.is_file() and path.suffix in {".md", ".csv", ".txt", ".json"}:
            text = path.read_text()
            assert MARKER not in text and seed not in text, path
            assert not [line for line in secrets if line in text], path
    result = graded["results"]["cheat_message"]
    assert result["messages"]["test_delta_energy"] == messages["test_delta_energy"]
    for student, r in graded["results"].items():
        for grade_id, message in r["messages"].items():
            assert message in (messages.get(grade_id), "not checked (see the reason above)"), (
                student,
                message,
            )


def test_regrading_is_idempotent_and_resumable(graded):
    out, settings = graded["out"], graded["settings"]
    table = (out / "grades.csv").read_text()
    (out / "results" / "partial.json").unlink()
    again = {
        r["student"]: r
        for r in grade_folder(settings, graded["submissions"], jobs=1, resume=True, progress=False)
    }
    assert (out / "grades.csv").read_text() == table
    assert again["partial"]["score"] == 3 and len(again) == len(graded["results"])
    print(f"red-team run: {len(graded['results'])} submissions in {graded['seconds']:.0f} s")


def _probe(call: str) -> Item:
    return Item(
        "probe", 1, (), call, lambda rng: [Case({"x": np.int64(0)}, lambda out: True)], "probe"
    )


@pytest.mark.skipif(
    not SANDBOXED, reason="bubblewrap is not installed: the sandbox cannot be checked here"
)
def test_sandbox_is_unprivileged_minimal_and_pinned(tmp_path):
    """What the kernel sees, reported back as plain data through a graded item."""
    call = """import os, socket
def can(f):
    try:
        f()
        return True
    except Exception:
        return False
status = open('/proc/self/status').read()
cap = int([l for l in status.splitlines() if l.startswith('CapEff')][0].split()[1], 16)
import torch
result = {
    'uid': os.getuid(), 'cap': cap, 'nprocs': len([p for p in os.listdir('/proc') if p.isdigit()]),
    'network': can(lambda: socket.create_connection(('1.1.1.1', 53), timeout=2)),
    'course_checkout': os.path.exists('/work/main/course_lib') \
or os.path.exists('/work/main/labs') or os.path.exists('/work/wt'),
    'root_home': len(os.listdir('/root')) > 1 if os.path.isdir('/root') else False,
    'write_usr': can(lambda: open('/usr/planted', 'w')), \
'write_etc': can(lambda: open('/etc/planted', 'w')),
    'reference': hasattr(__import__('course_lib.ising').ising, 'delta_energy'),
    'threads': torch.get_num_threads(), 'omp': int(os.environ.get('OMP_NUM_THREADS', 0)),
    'secret_env': any('SECRET' in k or 'TOKEN' in k for k in os.environ),
}
"""
    lab = Lab(LAB, {"ising": ["delta_energy"]}, [_probe(call)])
    seen = {}

    def keep(out):
        seen.update({k: v.item() for k, v in out.items()})
        return True

    cases = {"probe": [Case({"x": np.int64(0)}, keep)]}
    settings = Settings(
        lab=LAB, course=ROOT / "labs", out=tmp_path / "out", cell_timeout=60, memory_bytes=2 * 2**30
    )
    outcome = run_notebook(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), settings, lab, cases
    )
    assert outcome["passed"] == {"probe": True}, outcome
    assert seen["uid"] != 0 and seen["cap"] == 0, seen
    assert seen["nprocs"] <= 3, "the kernel sees only its own processes"
    assert (
        not seen["network"]
        and not seen["course_checkout"]
        and not seen["root_home"]
        and not seen["write_usr"]
        and not seen["write_etc"]
    ), seen
    assert not seen["reference"], (
        "the lab's reference implementation is removed from the sandbox's course_lib"
    )
    assert seen["threads"] == 1 and seen["omp"] == 1 and not seen["secret_env"], seen


def test_command_line_reports_usage_errors(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "course_grader", "grade", "no_such_lab", str(tmp_path)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        cwd=ROOT,
    )
    assert done.returncode == 2 and "no lab 'no_such_lab'" in done.stderr
    assert {p.stem for p in (ROOT / "labs" / "items").glob("*.py")} >= {p.name for p in LAB_SOURCES}
