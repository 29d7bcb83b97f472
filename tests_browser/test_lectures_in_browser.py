"""Real-browser tests: each lecture opened in JupyterLab in headless Chromium, run top to bottom, and its main
slider moved; the figure and the displayed value must change, and no error or unrendered widget may appear.

Run by `make test` after the fast suite (`python -m pytest tests_browser`). Needs Chromium (`apt-get install
chromium`; `make test` installs it when run as root on Debian/Ubuntu) and Playwright (a test dependency; its
own browser download is never used). Screenshots before and after moving the slider are saved in
`build/screenshots/`. Everything else (Jupyter settings, runtime files, a copy of the lectures, the browser
profile) lives in a temporary folder that is deleted, and the server is stopped. Every request that does not
go to 127.0.0.1 is blocked.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "lectures").glob("[0-9][0-9]_*.ipynb"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = ROOT / "build" / "screenshots"
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("browser-home")
    notebooks = home / "lectures"
    shutil.copytree(ROOT / "lectures", notebooks)  # autosave writes into the copies, never into the repository
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    notebook_settings = home / "settings" / "@jupyterlab" / "notebook-extension"
    notebook_settings.mkdir(parents=True)
    (notebook_settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')  # render every cell
    env = dict(os.environ, HOME=str(home), JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), IPYTHONDIR=str(home / "ipython"), MPLCONFIGDIR=str(home / "mpl"),
               COURSE_QUIET="1", PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    port, token = free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={notebooks}", f"--LabApp.user_settings_dir={home / 'settings'}", f"--LabApp.workspaces_dir={home / 'workspaces'}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = open(home / "server.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
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
        yield url, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
        log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, viewport={"width": 1400, "height": 1000},
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"])
        blocked = []

        def loopback_only(route):
            if route.request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
                return route.continue_()
            blocked.append(route.request.url)
            return route.abort()

        context.route("**/*", loopback_only)
        yield context, blocked
        context.close()


def wait_idle(page, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = page.locator("#jp-main-statusbar").inner_text()
        busy = page.locator(".jp-InputPrompt:has-text('[*]')").count()
        if "Idle" in status and busy == 0:
            return
        time.sleep(1)
    page.screenshot(path=str(SHOTS / "busy.png"))
    raise AssertionError(f"kernel still busy after {timeout_s} s: status {status!r}, {busy} cells marked [*]")


def shut_down_kernels(url: str, token: str) -> None:
    """Stop every kernel the page started, so that lectures do not compete for the two cores."""
    import json

    sessions = json.load(urllib.request.urlopen(f"{url}/api/sessions?token={token}", timeout=10))
    for session in sessions:
        request = urllib.request.Request(f"{url}/api/sessions/{session['id']}?token={token}", method="DELETE")
        urllib.request.urlopen(request, timeout=30)


@pytest.mark.parametrize("lecture", LECTURES, ids=lambda p: p.stem)
def test_lecture_runs_and_its_slider_drives_the_figure(lecture, lab_server, browser):
    """One retry with a fresh page and kernel: a slow first render must not fail the suite; a real defect fails twice."""
    url, token = lab_server
    try:
        check_lecture(lecture, url, token, browser)
    except AssertionError:
        raise
    except Exception as first:  # a Playwright timeout
        shut_down_kernels(url, token)
        print(f"retrying {lecture.name} after: {str(first).splitlines()[0]}")
        check_lecture(lecture, url, token, browser)
    finally:
        shut_down_kernels(url, token)


def check_lecture(lecture, url, token, browser):
    context, blocked = browser
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = context.new_page()
    console_errors = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" and "widget" in msg.text.lower() else None)
    # a fresh workspace per lecture: tabs of earlier lectures (whose kernels are gone) are not restored
    page.goto(f"{url}/lab/workspaces/{lecture.stem}/tree/{lecture.name}?reset&token={token}")
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    wait_idle(page, 60)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    time.sleep(3)
    wait_idle(page, 600)

    errors = page.locator(".jp-OutputArea-output:has-text('Traceback (most recent call last)')").count()
    assert errors == 0, f"{lecture.name}: {errors} cells show a traceback"
    page.locator(".jp-CodeCell", has_text="widgets.interact(").last.scroll_into_view_if_needed(timeout=60_000)
    slider = page.locator(".widget-interact .widget-slider").first
    try:
        slider.wait_for(timeout=300_000)  # appears when its cell has run
    except Exception:
        page.screenshot(path=str(SHOTS / f"{lecture.stem}_no_slider.png"))
        raise
    slider.scroll_into_view_if_needed()
    assert page.locator("text=Loading widget").count() == 0, "a widget did not render"
    interact = page.locator(".widget-interact").first
    readout = slider.locator(".widget-readout")
    image = interact.locator(".widget-output img").first
    image.wait_for(timeout=60_000)
    before_value, before_src = readout.inner_text(), image.get_attribute("src")
    interact.screenshot(path=str(SHOTS / f"{lecture.stem}_before.png"))
    handle = slider.locator(".noUi-handle").first
    handle.focus()
    for key in ("Home", "End"):
        handle.press(key)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and readout.inner_text() == before_value:
            time.sleep(0.2)
        if readout.inner_text() != before_value:
            break
    assert readout.inner_text() != before_value, "the slider's value did not change"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and image.get_attribute("src") == before_src:
        time.sleep(0.3)
    time.sleep(1)  # let the figure settle
    assert image.get_attribute("src") != before_src, f"moving the slider from {before_value} to {readout.inner_text()} did not redraw the figure"
    interact.screenshot(path=str(SHOTS / f"{lecture.stem}_after.png"))
    page.screenshot(path=str(SHOTS / f"{lecture.stem}_page.png"))
    assert page.locator(".jp-OutputArea-output:has-text('Traceback (most recent call last)')").count() == 0, "the widget callback raised"
    assert not console_errors, console_errors[:3]
    page.close()
    assert all(not u.startswith(("http://127.0.0.1", "ws://127.0.0.1")) for u in blocked)
