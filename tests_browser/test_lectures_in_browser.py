"""Real-browser tests: each lecture opened in JupyterLab in headless Chromium, run top to bottom,
and its main slider moved; the figure and the displayed value must change, and no error or
unrendered widget may appear.

Run by `make test` after the fast suite (`python -m pytest tests_browser`). Needs Chromium
(`apt-get install chromium`; `make test` installs it when run as root on Debian/Ubuntu) and
Playwright (a test dependency; its own browser download is never used). Screenshots before and after
moving the slider are saved in `build/screenshots/`. Everything else (Jupyter settings, runtime
files, a copy of the lectures, the browser profile) lives in a temporary folder that is deleted, and
the server is stopped. Every request that does not go to 127.0.0.1 is blocked. The last tests feed
the same check small notebooks with one defect each (an error in a widget callback or in a figure, a
warning, a widget that cannot render, a figure that ignores its slider, a formula MathJax cannot
typeset, a request to the internet) and require it to fail with the matching message.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "lectures").glob("[0-9][0-9]_*.ipynb"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = ROOT / "build" / "screenshots"
REDRAW_S = 60  # seconds a slider's callback may take to redraw its figure
RENDER_S = 60  # seconds widgets and formulas may take to render after the last cell ran
TRACEBACK = ".jp-OutputArea-output:has-text('Traceback (most recent call last)')"
# Skipped where Chromium is missing, except on CI, where a missing browser must fail the run.
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="Chromium is not installed (apt-get install chromium)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab_server():
    with tempfile.TemporaryDirectory(prefix="course-browser-home-") as folder:
        yield from serve_lab(Path(folder))


def serve_lab(home: Path):
    notebooks = home / "lectures"
    shutil.copytree(
        ROOT / "lectures", notebooks
    )  # autosave writes into the copies, never into the repository
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}'
    )
    notebook_settings = home / "settings" / "@jupyterlab" / "notebook-extension"
    notebook_settings.mkdir(parents=True)
    (notebook_settings / "tracker.jupyterlab-settings").write_text(
        '{"windowingMode": "none"}'
    )  # render every cell
    env = dict(
        os.environ,
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        IPYTHONDIR=str(home / "ipython"),
        MPLCONFIGDIR=str(home / "mpl"),
        COURSE_QUIET="1",
        PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
    )
    port, token = free_port(), secrets.token_hex(16)
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={notebooks}",
        f"--LabApp.user_settings_dir={home / 'settings'}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = open(home / "server.log", "w")
    server = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start:\n" + (home / "server.log").read_text()[-2000:])
        yield url, token, notebooks
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        pytest.fail(
            "Chromium is not installed (apt-get install chromium); CI requires the browser tests"
        )
    with (
        sync_playwright() as p,
        tempfile.TemporaryDirectory(prefix="course-browser-profile-") as profile,
    ):
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            viewport={"width": 1400, "height": 1000},
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        blocked = []

        def loopback_only(route):
            if route.request.url.startswith(
                ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")
            ):
                return route.continue_()
            blocked.append(route.request.url)
            return route.abort()

        context.route("**/*", loopback_only)
        yield context, blocked
        context.close()


def wait_until(condition, timeout_s: float, interval_s: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return condition()


def wait_idle(page, timeout_s: float) -> None:
    """The kernel is idle (status bar) and no cell is queued or running (no `[*]` prompt)."""

    def idle() -> bool:
        return (
            "Idle" in page.locator("#jp-main-statusbar").inner_text()
            and page.locator(".jp-InputPrompt:has-text('[*]')").count() == 0
        )

    if not wait_until(idle, timeout_s, 1.0):
        page.screenshot(path=str(SHOTS / "busy.png"))
        raise AssertionError(
            f"kernel still busy after {timeout_s} s: "
            f"{page.locator('#jp-main-statusbar').inner_text()!r}"
        )


def shut_down_kernels(url: str, token: str) -> None:
    """Stop every kernel the page started, so that lectures do not compete for the two cores."""
    sessions = json.load(urllib.request.urlopen(f"{url}/api/sessions?token={token}", timeout=10))
    for session in sessions:
        request = urllib.request.Request(
            f"{url}/api/sessions/{session['id']}?token={token}", method="DELETE"
        )
        urllib.request.urlopen(request, timeout=30)


def clean_up(browser, url: str, token: str) -> None:
    """Close the pages a check left open (a failed check leaves its page) and stop their kernels."""
    for page in browser[0].pages:
        page.close()
    shut_down_kernels(url, token)


def assert_no_errors(page, name: str, console_errors: list[str]) -> None:
    """No traceback and no warning (stderr) in any output, no widget that failed to render, nothing
    in the log console, no widget error in the browser console. The log console collects output that
    belongs to no cell, which is where an exception in a widget's `observe` callback ends up."""
    tracebacks = page.locator(TRACEBACK).count()
    assert tracebacks == 0, f"{name}: {tracebacks} outputs show a traceback"
    warnings = page.locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
    )
    assert warnings.count() == 0, (
        f"{name}: {warnings.count()} outputs write to stderr, the first: "
        f"{warnings.first.inner_text()[:300]!r}"
    )
    broken = page.locator(".jp-OutputArea-output:has-text('Error displaying widget')").count()
    assert broken == 0, f"{name}: {broken} widgets show 'Error displaying widget'"
    log = page.locator(".jp-LogConsoleStatusItem .jp-StatusBar-GroupItem")
    assert log.count() == 0, (
        f"{name}: the log console holds messages ({log.first.get_attribute('title')}); "
        "open View > Show Log Console"
    )
    assert not console_errors, f"{name}: widget errors in the browser console: {console_errors[:3]}"


def open_and_run_all(page, url: str, token: str, notebook: Path) -> None:
    # a fresh workspace per notebook: tabs of earlier lectures (whose kernels are gone) are not
    # restored
    page.goto(f"{url}/lab/workspaces/{notebook.stem}/tree/{notebook.name}?reset&token={token}")
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    wait_idle(page, 60)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    time.sleep(3)
    wait_idle(page, 600)
    loading = page.locator(".jp-OutputArea-output:has-text('Loading widget')")
    if not wait_until(lambda: loading.count() == 0, RENDER_S):
        raise AssertionError(
            f"{notebook.name}: {loading.count()} widgets still show 'Loading widget' "
            f"{RENDER_S} s after the last cell ran"
        )


def assert_math_typeset(page, name: str) -> None:
    """Every formula in the Markdown cells is typeset by JupyterLab's bundled MathJax: no raw `$` is
    left and MathJax reports no error."""
    raw = page.locator(".jp-RenderedMarkdown:has-text('$')")
    wait_until(lambda: raw.count() == 0, RENDER_S / 2)
    assert raw.count() == 0, (
        f"{name}: {raw.count()} Markdown cells show raw TeX, the first: "
        f"{raw.first.inner_text()[:200]!r}"
    )
    errors = page.locator(".jp-RenderedMarkdown mjx-merror")
    assert errors.count() == 0, (
        f"{name}: MathJax could not typeset {errors.count()} formulas, the first: "
        f"{errors.first.get_attribute('data-mjx-error')!r}"
    )


def assert_details_render(page, notebook: Path) -> None:
    """The collapsible answers, hints and solutions (`<details>`) render as HTML, open, and hold
    rendered Markdown: no literal `**` or backquote left, formulas typeset."""
    import nbformat

    sources = [
        c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "markdown"
    ]
    expected = sum(s.count("<details") for s in sources)
    blocks = page.locator(".jp-RenderedMarkdown details")
    assert blocks.count() >= expected, (
        f"{notebook.name}: {expected} <details> blocks written, {blocks.count()} rendered"
    )
    if not expected:
        return
    page.evaluate(
        "() => document.querySelectorAll('.jp-RenderedMarkdown details')"
        ".forEach(d => { d.open = true; })"
    )
    # the text outside code and formulas (a solution's code sketch may well contain `**`)
    prose = page.evaluate(
        "() => Array.from(document.querySelectorAll('.jp-RenderedMarkdown details'))"
        """.map(d => {
        const copy = d.cloneNode(true);
        copy.querySelectorAll('code, pre, mjx-container').forEach(e => e.remove());
        return copy.textContent; })"""
    )
    raw = [t for t in prose if "**" in t or "`" in t]
    assert not raw, f"{notebook.name}: raw Markdown in an opened <details> block: {raw[0][:200]!r}"
    if any("$" in s.split("<details", 1)[-1] for s in sources if "<details" in s):
        assert page.locator(".jp-RenderedMarkdown details mjx-container").count() > 0, (
            f"{notebook.name}: no typeset formula inside the <details> blocks"
        )


def move_to_end(handle, readout, before: str) -> str:
    """Press End (or Home, for a slider that starts at its end); the handle must sit at that end and
    the readout must follow it. Returns the new readout."""
    for key, end in (("End", "aria-valuemax"), ("Home", "aria-valuemin")):
        handle.press(key)
        if wait_until(lambda: readout.inner_text() != before, 10, 0.2):
            assert handle.get_attribute("aria-valuenow") == handle.get_attribute(end), (
                f"{key} did not move the slider to its end"
            )
            return readout.inner_text()
    raise AssertionError(f"neither End nor Home changed the slider's displayed value {before!r}")


def check_lecture(notebook: Path, url: str, token: str, browser) -> None:
    context, blocked = browser
    blocked.clear()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = context.new_page()
    console_errors: list[str] = []
    page.on(
        "console",
        lambda msg: (
            console_errors.append(msg.text)
            if msg.type == "error" and "widget" in msg.text.lower()
            else None
        ),
    )
    open_and_run_all(page, url, token, notebook)
    assert_no_errors(page, notebook.name, console_errors)
    assert_math_typeset(page, notebook.name)
    assert_details_render(page, notebook)

    page.locator(".jp-CodeCell", has_text="widgets.interact(").last.scroll_into_view_if_needed(
        timeout=60_000
    )
    interact = page.locator(".widget-interact").first
    slider = interact.locator(".widget-slider").first
    slider.wait_for(timeout=60_000)
    slider.scroll_into_view_if_needed()
    readout = slider.locator(".widget-readout")
    interact.locator(".widget-output img").first.wait_for(timeout=60_000)

    def figure() -> str | None:
        images = interact.locator(".widget-output img")
        return images.first.get_attribute("src") if images.count() else None

    before_value, before_src = readout.inner_text(), figure()
    interact.screenshot(path=str(SHOTS / f"{notebook.stem}_before.png"))

    handle = slider.locator(".noUi-handle").first
    handle.focus()
    after_value = move_to_end(handle, readout, before_value)
    wait_until(
        lambda: figure() not in (None, before_src) or page.locator(TRACEBACK).count() > 0,
        REDRAW_S,
        0.3,
    )
    time.sleep(1)  # let the figure settle
    assert_no_errors(page, notebook.name, console_errors)
    assert figure() not in (None, before_src), (
        f"moving the slider from {before_value} to {after_value} did not redraw the figure"
    )
    image = interact.locator(".widget-output img").first
    assert image.evaluate("img => img.complete && img.naturalWidth > 100"), (
        "the redrawn figure is not a loaded image"
    )
    interact.screenshot(path=str(SHOTS / f"{notebook.stem}_after.png"))
    page.screenshot(path=str(SHOTS / f"{notebook.stem}_page.png"))
    page.close()
    assert not blocked, (
        f"{notebook.name}: the page asked for outside addresses (blocked): {blocked[:3]}"
    )


@pytest.mark.parametrize("lecture", LECTURES, ids=lambda p: p.stem)
def test_lecture_runs_and_its_slider_drives_the_figure(lecture, lab_server, browser):
    """One retry with a fresh page and kernel: a slow first render must not fail the suite; a real
    defect fails twice."""
    url, token, _ = lab_server
    try:
        check_lecture(lecture, url, token, browser)
    except AssertionError:
        raise
    except Exception as first:  # a Playwright timeout
        clean_up(browser, url, token)
        print(f"retrying {lecture.name} after: {str(first).splitlines()[0]}")
        check_lecture(lecture, url, token, browser)
    finally:
        clean_up(browser, url, token)


# The checks above must be able to fail: each notebook below has one defect a student could meet.
FIGURE = """import ipywidgets as widgets
import matplotlib.pyplot as plt

def draw(x=0):
    plt.plot([0, 1], [0, x]); plt.xlabel("t"); plt.ylabel("y"); plt.show()
"""
BROKEN = {
    "callback_error": (
        FIGURE
        + """box = widgets.interact(draw, x=(0, 10))

def broken(change):
    raise ValueError("broken callback")

box.widget.children[0].observe(broken, "value")""",
        "log console holds messages",
    ),
    "figure_error": (
        FIGURE
        + """def draw_broken(x=0):
    if x > 5:
        raise ValueError("broken figure")
    draw(x)

widgets.interact(draw_broken, x=(0, 10))""",
        "show a traceback",
    ),
    "warning_in_figure": (
        FIGURE
        + """import warnings

def draw_noisy(x=0):
    if x > 5:
        warnings.warn("the figure is unreliable here")
    draw(x)

widgets.interact(draw_noisy, x=(0, 10))""",
        "write to stderr",
    ),
    "missing_model": (
        FIGURE
        + """widgets.interact(draw, x=(0, 10))
display({"application/vnd.jupyter.widget-view+json": {"model_id": "0" * 32, """
        '"version_major": 2, "version_minor": 0}}, raw=True)',
        "Loading widget|Error displaying widget",
    ),
    "figure_ignores_slider": (
        """import ipywidgets as widgets
import matplotlib.pyplot as plt

def draw(x=0):
    plt.plot([0, 1], [0, 1]); plt.xlabel("t"); plt.ylabel("y"); plt.show()

widgets.interact(draw, x=(0, 10))""",
        "did not redraw the figure",
    ),
    "outside_request": (
        FIGURE
        + """from IPython.display import HTML
display(HTML('<img src="https://example.com/logo.png" alt="a picture from the internet">'))
widgets.interact(draw, x=(0, 10))""",
        "outside addresses",
    ),
    "bad_formula": (
        FIGURE + "widgets.interact(draw, x=(0, 10))",
        "raw TeX",
        r"The energy is $E = \frac{1}{2$.",
    ),
    # no blank line after <summary>: the block is raw HTML and its Markdown is never rendered
    "raw_details": (
        FIGURE + "widgets.interact(draw, x=(0, 10))",
        "raw Markdown",
        "<details><summary>Answer</summary>\n"
        "The energy is **lowest** when spins align.\n</details>",
    ),
}


@pytest.mark.parametrize("defect", BROKEN, ids=str)
def test_the_check_catches_a_broken_notebook(defect, lab_server, browser, monkeypatch):
    import nbformat

    # a one-cell notebook renders at once: shorter waits for the defect to show
    monkeypatch.setattr(sys.modules[__name__], "REDRAW_S", 10)
    monkeypatch.setattr(sys.modules[__name__], "RENDER_S", 15)
    monkeypatch.setattr(sys.modules[__name__], "SHOTS", SHOTS / "defects")

    url, token, root = lab_server
    source, message, *markdown = BROKEN[defect]
    notebook = root / f"broken_{defect}.ipynb"
    cells = [nbformat.v4.new_markdown_cell(text) for text in markdown] + [
        nbformat.v4.new_code_cell(source)
    ]
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": kernel}), notebook)
    try:
        with pytest.raises(AssertionError, match=message):
            check_lecture(notebook, url, token, browser)
    finally:
        clean_up(browser, url, token)
