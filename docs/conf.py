"""Sphinx configuration of the bytewax-kafka documentation site.

Build it (warnings are errors, as in CI) with::

    uv sync --all-packages --group docs
    uv run sphinx-build -W --keep-going -b html docs docs/_build/html

Pages are Markdown (MyST); the API reference comes from the docstrings of the
installed workspace packages (autodoc + napoleon for Google style).
"""

from __future__ import annotations

import importlib.metadata

project = "bytewax-kafka"
author = "bytewax-kafka developers"
copyright = "bytewax-kafka developers"
release = version = importlib.metadata.version("bytewax-kafka-core")

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "README.md"]

# MyST: GitHub-style anchors for "#section" links, fenced directives.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]

# Single backquotes in docstrings (`name`) are code, as in Markdown.
default_role = "literal"

# Every reference to one of our objects must resolve; references to other
# libraries (bytewax, confluent-kafka, the standard library) are not checked:
# there is no network for intersphinx inventories in CI.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(?!bytewax_kafka\.).*"),
    # Type variables and private bases have no page of their own.
    (r"py:.*", r"bytewax_kafka\..*\.(K|V|K2|V2|X|E|In|Out|_\w+)"),
    # kafka-bench's modules name helper types they do not export.
    (r"py:.*", r"bytewax_kafka\.bench\..*"),
]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

html_theme = "furo"
html_title = f"bytewax-kafka {release}"
