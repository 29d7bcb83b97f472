"""Sphinx configuration of the course site: the executed lecture notebooks, rendered with MyST-NB.

Build from the repository root with `make site` (sphinx-build -c site . build/site). Notebooks are
not re-executed: the site shows the outputs committed with each lecture.
"""

project = "Generative models through the lens of statistical physics"
author = "the course authors"
extensions = ["myst_nb"]
root_doc = "site/index"
# the released labs are pages too, so that each lecture's "Now do lab NN" link resolves on the site
include_patterns = [
    "site/index.md",
    "lectures/[0-9][0-9]_*.ipynb",
    "labs/release/[0-9][0-9]_*/*.ipynb",
]
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath"]
html_theme = "alabaster"
html_title = project
html_theme_options = {
    "description": "Lectures and labs with exact references",
    "fixed_sidebar": True,
}
suppress_warnings = ["mystnb.unknown_mime_type"]
html_static_path = ["_static"]
html_css_files = ["course.css"]
