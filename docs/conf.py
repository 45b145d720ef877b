"""Sphinx configuration of the bytewax-kafka documentation site.

Build it (warnings are errors, as in CI) with::

    uv sync --all-packages --group docs
    uv run sphinx-build -W --keep-going -b html docs docs/_build/html

Pages are Markdown (MyST); the API reference comes from the docstrings of the
installed workspace packages (autodoc + napoleon for Google style).
"""

from __future__ import annotations

import importlib.metadata
import re
from typing import Any

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


# -- API reference ------------------------------------------------------------

#: ``docs/<page>.md`` in a docstring: a link to that page of this site.
_DOC_PAGE = re.compile(r"(?<![\w/`])docs/([\w-]+)\.md\b")


def link_doc_pages(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """Turn the docstrings' ``docs/guarantees.md`` into links to the page (``autodoc-process-docstring``)."""
    for i, line in enumerate(lines):
        lines[i] = _DOC_PAGE.sub(lambda m: f":doc:`/{m.group(1)}`", line)


def hide_private_bases(app: Any, name: str, obj: Any, options: Any, bases: list[type]) -> None:
    """Drop private bases (``_TrackedMode``, ``_SinkSettings``) from "Bases:" (``autodoc-process-bases``).

    A private base is replaced by its own bases, so the public ones it brings stay listed.
    """
    i = 0
    while i < len(bases):
        base = bases[i]
        if getattr(base, "__name__", "").startswith("_"):
            public = [b for b in base.__bases__ if b is not object and b not in bases]
            bases[i : i + 1] = public
        else:
            i += 1


def setup(app: Any) -> None:
    """Register the API reference's hooks."""
    app.connect("autodoc-process-docstring", link_doc_pages)
    app.connect("autodoc-process-bases", hide_private_bases)
