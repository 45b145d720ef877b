"""The API reference pages document every public name, and the site's hooks do what they say.

The pages list the classes and functions by hand, in the order a reader
meets them (reading, writing, guarantees, errors), so a name added to a
package's ``__all__`` must be added to its page: this test says which.
The hooks of ``docs/conf.py`` are checked as plain functions (the strict
site build in CI runs them for real).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from types import ModuleType

import pytest

from docblocks import DOCS

PACKAGES = ["core", "operators", "serde", "testing"]


def conf() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_conf", DOCS / "conf.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def documented(page: str) -> list[str]:
    """The package-level names a page documents (entries of its modules, like ``core.gc_tuning``'s, aside)."""
    return re.findall(r"^\.\. auto(?:class|function|data):: bytewax_kafka\.\w+\.(\w+)\s*$", page, flags=re.M)


@pytest.mark.parametrize("name", PACKAGES)
def test_api_page_documents_every_public_name_once(name):
    module = importlib.import_module(f"bytewax_kafka.{name}")
    public = {n for n in module.__all__ if not n.isupper() and not n.startswith("_")}
    if name == "serde":
        public.discard("AvroSchema")  # a type alias
    listed = documented((DOCS / "api" / f"{name}.md").read_text())
    assert len(listed) == len(set(listed)), "listed twice"
    assert sorted(public - set(listed)) == [], f"missing from docs/api/{name}.md"
    assert sorted(set(listed) - public) == [], f"not exported by bytewax_kafka.{name}"


def test_core_page_starts_with_the_source_and_ends_with_the_errors():
    listed = documented((DOCS / "api" / "core.md").read_text())
    assert listed[:2] == ["KafkaSource", "KafkaSourceMessage"]
    errors = [n for n in listed if n.endswith("Error") and n != "KafkaError"]
    first_error = listed.index(errors[0])
    assert all(listed.index(e) >= first_error for e in errors)
    assert listed.index("KafkaSink") < listed.index("ExactlyOnce") < first_error


def test_docstring_page_references_become_links():
    lines = ["See docs/guarantees.md for the limits.", "(docs/performance.md).", "not/docs/x.md"]
    conf().link_doc_pages(None, "class", "x", None, None, lines)
    assert lines == ["See :doc:`/guarantees` for the limits.", "(:doc:`/performance`).", "not/docs/x.md"]


def test_private_bases_are_replaced_by_their_public_bases():
    from bytewax.outputs import DynamicSink

    from bytewax_kafka.core import CommitProgress, KafkaSink

    hook = conf().hide_private_bases
    bases = list(CommitProgress.__bases__)
    assert [b.__name__ for b in bases] == ["_TrackedMode"]
    hook(None, "CommitProgress", CommitProgress, None, bases)
    assert bases == []  # _TrackedMode derives from object only
    bases = list(KafkaSink.__bases__)
    assert [b.__name__ for b in bases] == ["_SinkSettings", "DynamicSink"]
    hook(None, "KafkaSink", KafkaSink, None, bases)
    assert bases == [DynamicSink]


def test_read_the_docs_builds_the_site_as_ci_does():
    config = (DOCS.parent / ".readthedocs.yaml").read_text()
    assert "configuration: docs/conf.py" in config
    assert "fail_on_warning: true" in config
    install = next(line for line in config.splitlines() if "uv sync" in line)
    for flag in ("--frozen", "--all-packages", "--group docs"):
        assert flag in install, flag
    assert "docs = [" in (DOCS.parent / "pyproject.toml").read_text()


def test_pages_speak_to_users():
    """No page mentions issue numbers, sessions or who measured what."""
    pattern = re.compile(r"\bissues? ?#?\d+|\bother engineers\b|\bsession \d+", re.I)
    found = {
        str(p.relative_to(DOCS)): pattern.findall(p.read_text())
        for p in DOCS.rglob("*.md")
        if "_build" not in p.parts
    }
    assert {k: v for k, v in found.items() if v} == {}
