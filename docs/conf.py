"""Sphinx configuration of fastnn's documentation site.

Build it (offline, warnings as errors, every tutorial executed) from the repository root:

    pip install ".[docs]"
    sphinx-build -E -W --keep-going -b html docs build/docs

The API reference documents the *installed* fastnn (as the tests do), so reinstall
(or use ``pip install -e .``) after changing a docstring.
"""
import os

import fastnn

project = "fastnn"
author = "the fastnn developers"
copyright = "fastnn developers, BSD-3-Clause"
release = version = fastnn.__version__

extensions = [
    "myst_nb",                     # Markdown pages, and text notebooks (MyST) executed at build time
    "sphinx.ext.autodoc",
    "numpydoc",                    # the docstrings are numpydoc, shapes given
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build", "**.ipynb_checkpoints", "images/README*"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}

# MyST: $...$ and $$...$$ maths as in the course, ::: fences, heading anchors for links like
# benchmarks.md#search-benchmark-mnist
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# Tutorials run on every build, top to bottom; a failing cell fails the build.
nb_execution_mode = "force"
nb_execution_timeout = 120
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

# numpydoc: parse the sections; no autosummary tables of members (the pages list what they show),
# and no validation beyond docutils' own (a malformed docstring is still a warning, hence an error).
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "none"

html_theme = "furo"
html_title = f"fastnn {release}"
html_static_path = []

# The pages are read offline; tell matplotlib not to look for a display.
os.environ.setdefault("MPLBACKEND", "Agg")


def _skip_foreign_members(app, what, name, obj, skip, options):
    """Leave out what a class gets from elsewhere, e.g. scikit-learn's generated
    ``set_fit_request`` methods on the estimators: their docstrings cite scikit-learn's own
    glossary, which this site does not have."""
    module = getattr(obj, "__module__", None)
    if what == "class" and isinstance(module, str) and not module.startswith("fastnn"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_members)
