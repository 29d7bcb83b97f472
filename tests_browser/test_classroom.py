"""The course in a classroom, end to end: the demo JupyterHub of ``classroom/demo.py`` with
nbgrader's exchange, driven in headless Chromium.

Two students log in, fetch lab 01 from the Assignments tab, paste code into the solution cells,
save and submit: alice the reference solutions of all three exercises, bob only the first. The
instructor then collects, grades with the course's sandboxed grader and releases feedback, and the
students fetch it. The test asserts the two scores in ``grades.csv``, that the feedback reached each
student's feedback folder without any hidden test text, that neither the other student's work nor
the instructor's source can be read through the hub, and that every process the classroom started
has stopped at the end (one test: the steps depend on each other and share one hub).
"""

from __future__ import annotations

import csv
import html
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from course_grader.notebooks import secret_lines
from course_grader.sandbox import sandbox_available
from tests_browser.test_lectures_in_browser import CHROMIUM, ROOT, free_port

sys.path.insert(0, str(ROOT / "classroom"))
import demo  # noqa: E402 (classroom/demo.py is a script, not a package)

LAB = "01_ising"
PASSWORD = "demo-classroom-test-password"
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="Chromium is not installed (apt-get install chromium)",
)


def solution_cells() -> list[str]:
    """The reference code of each solution cell of the lab, without nbgrader's markers."""
    source = json.loads((ROOT / "labs" / "source" / LAB / f"{LAB}.ipynb").read_text())
    cells = []
    for cell in source["cells"]:
        if cell["cell_type"] == "code" and cell["metadata"].get("nbgrader", {}).get("solution"):
            lines = "".join(cell["source"]).splitlines()
            cells.append("\n".join(line for line in lines if "### " not in line))
    return cells


def log_tail(log, size: int = 5000) -> str:
    log.flush()
    log.seek(0)
    return log.read()[-size:]


@pytest.fixture(scope="module")
def classroom():
    with tempfile.TemporaryDirectory(prefix="course-classroom-") as folder:
        run = Path(folder) / "run"
        port = free_port()
        env = dict(os.environ, CLASSROOM_PASSWORD=PASSWORD)
        log = open(Path(folder) / "classroom.log", "w+")  # a file: a full pipe would block the hub
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "classroom" / "demo.py"), "--run", str(run), "start",
             "--port", str(port), "--hub-port", str(free_port()),
             "--proxy-api-port", str(free_port())],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 240
        while True:
            try:
                urllib.request.urlopen(url + "/hub/login", timeout=5)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    pytest.fail("the demo classroom did not start:\n" + log_tail(log))
                time.sleep(1)
        try:
            yield {"run": run, "url": url, "process": process, "log": log}
        finally:
            if process.poll() is None:  # a test failed before stopping it
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
            log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        yield chromium
        chromium.close()


def log_in(browser, url: str, user: str):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.route(
        "**/*",
        lambda route: route.continue_()
        if route.request.url.startswith("http://127.0.0.1")
        else route.abort(),
    )
    page.goto(url + "/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", PASSWORD)
    page.click("#login_submit")
    page.wait_for_url(f"**/user/{user}/lab**", timeout=240_000)
    page.wait_for_selector("#jp-main-statusbar", timeout=120_000)
    return page


def open_assignments(page, listing: str = "released_assignments_list"):
    """Open the Assignments tab and wait until the lab shows in ``listing``."""
    page.get_by_text("Nbgrader", exact=True).click()
    page.get_by_text("Assignment List", exact=True).click()
    page.wait_for_selector(f"#{listing} >> text={LAB}", timeout=60_000)


def item(page, listing: str):
    return page.locator(f"#{listing} .list_item", has_text=LAB)


def fill_and_submit(page, run: Path, user: str, codes: list[str]) -> None:
    """Fetch the lab, paste ``codes`` into the first solution cells, save, submit."""
    open_assignments(page)
    item(page, "released_assignments_list").get_by_role("button", name="Fetch").click()
    page.wait_for_selector(f"#fetched_assignments_list >> text={LAB}", timeout=60_000)
    page.goto(page.url.split("/lab")[0] + f"/lab/tree/{LAB}/{LAB}.ipynb")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    stubs = page.locator(".jp-CodeCell .cm-content", has_text="raise NotImplementedError()")
    stubs.first.wait_for(timeout=60_000)
    expected = len(solution_cells())
    assert stubs.count() == expected, f"{stubs.count()} solution cells in the student's notebook"
    for code in codes:
        editor = stubs.first  # the filled cell no longer matches; the next stub moves up
        editor.scroll_into_view_if_needed()
        editor.click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(code)
        page.keyboard.press("Escape")
    page.keyboard.press("Control+S")
    saved = run / "home" / user / LAB / f"{LAB}.ipynb"

    def solution_sources() -> list[str]:
        cells = json.loads(saved.read_text())["cells"]
        return ["".join(c["source"]).strip() for c in cells
                if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("solution")]

    deadline = time.monotonic() + 60
    while solution_sources()[: len(codes)] != [code.strip() for code in codes]:
        assert time.monotonic() < deadline, (
            f"{user}: the pasted code was not saved verbatim: {solution_sources()[: len(codes)]}"
        )
        page.wait_for_timeout(500)  # not time.sleep: the page's requests pass through our route
    cells = solution_sources()
    assert sum("NotImplementedError" in c for c in cells) == expected - len(codes)
    page.go_back()
    page.wait_for_selector("#jp-main-statusbar", timeout=60_000)
    open_assignments(page, "fetched_assignments_list")
    item(page, "fetched_assignments_list").get_by_role("button", name="Submit").click()
    page.wait_for_selector(f"#submitted_assignments_list >> text={LAB}", timeout=60_000)


def test_students_submit_in_the_browser_and_the_instructor_grades(classroom, browser):
    run, url = classroom["run"], classroom["url"]
    started = time.perf_counter()
    codes = solution_cells()
    pages = {"alice": log_in(browser, url, "alice"), "bob": log_in(browser, url, "bob")}
    fill_and_submit(pages["alice"], run, "alice", codes)  # every exercise
    fill_and_submit(pages["bob"], run, "bob", codes[:1])  # the first exercise only
    inbound = run / "exchange" / demo.COURSE_ID / "inbound"
    assert {p.name.split("+")[0] for p in inbound.iterdir()} == {"alice", "bob"}

    # Isolation through the hub. A positive control first: bob's session reads his own notebook.
    bob = pages["bob"]
    own = bob.request.get(url + f"/user/bob/api/contents/{LAB}/{LAB}.ipynb")
    assert own.status == 200 and "def delta_energy" in own.text(), "bob reads his own notebook"
    pages["instructor"] = log_in(browser, url, demo.INSTRUCTOR)  # so that its server exists
    # Other users' servers: the hub must refuse bob (redirects followed to the end).
    for path in (f"/user/alice/api/contents/{LAB}/{LAB}.ipynb",
                 f"/user/instructor/api/contents/course/source/{LAB}/{LAB}.ipynb"):
        response = bob.request.get(url + path)
        assert response.status == 403, f"{path}: HTTP {response.status}"
        assert "def delta_energy" not in response.text(), path
    # His own server, with raw paths that climb out of his home (sent as they are, unnormalized).
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in bob.context.cookies())
    host, port = url.removeprefix("http://").split(":")
    for path in (
        f"/user/bob/api/contents/../alice/{LAB}/{LAB}.ipynb",
        f"/user/bob/api/contents/%2E%2E/alice/{LAB}/{LAB}.ipynb",
        f"/user/bob/api/contents/..%2Falice%2F{LAB}%2F{LAB}.ipynb",
        f"/user/bob/api/contents/..%2Finstructor%2Fcourse%2Fsource%2F{LAB}%2F{LAB}.ipynb",
    ):
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.request("GET", path, headers={"Cookie": cookie})
        response = connection.getresponse()
        body = response.read().decode(errors="replace")
        connection.close()
        assert response.status in (403, 404), f"{path}: HTTP {response.status}"
        assert "def delta_energy" not in body and "BEGIN SOLUTION" not in body, path

    # The instructor: collect, grade in the sandbox, release feedback.
    graded = subprocess.run(
        [sys.executable, str(ROOT / "classroom" / "demo.py"), "--run", str(run), "grade", LAB],
        capture_output=True, text=True, timeout=600,
    )
    assert graded.returncode == 0, graded.stdout + graded.stderr
    if sandbox_available():
        assert "WITHOUT a sandbox" not in graded.stdout
    course = run / "home" / demo.INSTRUCTOR / "course"
    with open(course / "graded" / LAB / "grades.csv") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert set(rows) == {"alice", "bob"}
    score = {name: float(row["score"]) for name, row in rows.items()}
    max_score = float(rows["alice"]["max_score"])
    assert score["alice"] == max_score, rows["alice"]
    assert 0 < score["bob"] < max_score, rows["bob"]

    # The students fetch their feedback from the Assignments tab.
    hidden = secret_lines(nbformat.read(ROOT / "labs" / "source" / LAB / f"{LAB}.ipynb", 4))
    assert hidden, "the lab has hidden tests to look for"
    for user in ("alice", "bob"):
        page = pages[user]
        page.reload()
        page.wait_for_selector("#jp-main-statusbar", timeout=60_000)
        open_assignments(page, "submitted_assignments_list")
        item(page, "submitted_assignments_list").get_by_role(
            "button", name="Fetch Feedback"
        ).click()
        folder = run / "home" / user / LAB / "feedback"
        deadline = time.monotonic() + 60
        while not list(folder.glob("*/*.html")) and time.monotonic() < deadline:
            page.wait_for_timeout(500)
        files = list(folder.glob("*/*.html"))
        assert len(files) == 1, f"{user}: feedback files {files}"
        feedback = html.unescape(files[0].read_text())
        assert f"Score: {score[user]:g} / {max_score:g}" in feedback, f"{user}: no score"
        leaked = [line for line in hidden if line in feedback]
        assert not leaked, f"{user}: hidden test text in the feedback: {leaked[:2]}"
    print(f"classroom end to end: {time.perf_counter() - started:.0f} s")

    # Stopping the demo stops the hub, the proxy, every server and kernel it started.
    process = classroom["process"]
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    log = log_tail(classroom["log"], 100_000)
    assert process.returncode == 0, log[-3000:]
    assert "0 stray processes killed" in log, log[-3000:]
    assert demo.our_processes(run) == []
