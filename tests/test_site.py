"""The static course site builds, has a page per lecture, mirrors the README's table, and its
internal links resolve."""

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

from conftest import LECTURES, ROOT, subprocess_env


def test_site_builds_with_every_lecture_and_no_broken_internal_link(tmp_path):
    out = tmp_path / "site"
    sphinx = Path(sys.executable).parent / "sphinx-build"
    done = subprocess.run(
        [str(sphinx), "-q", "-W", "-c", "site", ".", str(out)],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for lecture in LECTURES:
        page = out / "lectures" / f"{lecture.stem}.html"
        assert page.exists(), f"no page for {lecture.name}"
        html = page.read_text()
        assert "<img" in html, f"{lecture.name}: the page shows no figure (outputs missing?)"
        # formulas are marked up for MathJax, which the page loads to typeset them in the reader's
        # browser
        assert html.count('class="math') > 10 and "mathjax" in html.lower(), (
            f"{lecture.name}: no typeset math on the page"
        )
    for lab in sorted((ROOT / "labs" / "release").iterdir()):
        assert (out / "labs" / "release" / lab.name / f"{lab.name}.html").exists(), (
            f"no page for lab {lab.name}"
        )
    broken = []
    for html in out.rglob("*.html"):
        for link in re.findall(r'(?:href|src)="([^"]+)"', html.read_text()):
            parsed = urlparse(link)
            if parsed.scheme or link.startswith(("#", "mailto:", "//")):
                continue
            target = (html.parent / unquote(parsed.path)).resolve()
            if parsed.path and not target.exists():
                broken.append(f"{html.relative_to(out)} -> {link}")
    assert not broken, broken[:10]


def test_site_table_of_contents_mirrors_the_readme():
    readme = re.findall(
        r"^\| (\d\d) \| \[`lectures/(\S+?)\.ipynb`\]\(\S+\) — (.+?) \|",
        (ROOT / "README.md").read_text(),
        re.M,
    )
    site = re.findall(
        r"^\| (\d\d) \| \[(.*?)\]\(\.\./lectures/(\S+?)\.ipynb\)",
        (ROOT / "site" / "index.md").read_text(),
        re.M,
    )
    assert [(n, stem) for n, stem, _ in readme] == [(p.stem[:2], p.stem) for p in LECTURES]
    assert [(n, stem, title) for n, title, stem in site] == readme, (
        "site/index.md and the README's table differ"
    )
