"""Helpers for tests that run the documentation's code blocks against a real broker.

A page's ```` ```python ```` blocks are extracted (with the section they
stand in), adapted mechanically (``"localhost:19092"`` and topic names
replaced by the test's broker and fresh topics), run with ``exec`` and the
flows they define run to completion. Sources are made finite by
:func:`finite_sources`, so a flow written with the default ``tail=True``
ends once it has read what was in its topics when it started.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.testing import TestingSink

import bytewax_kafka.core
import bytewax_kafka.operators.io
from bytewax_kafka.core import KafkaGroupSource, KafkaSource

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

_FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", flags=re.S | re.M)
_HEADING = re.compile(r"(#{1,6}) +(.+?) *$")


@dataclass(frozen=True)
class Block:
    """One ```` ```python ```` block of a page."""

    page: str
    section: str
    index: int  # among the blocks of its section, from 0
    code: str

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.section.lower()).strip("-")
        return f"{slug}-{self.index}"


def python_blocks(path: Path) -> list[str]:
    """The code of every ```` ```python ```` block of ``path``, in order."""
    return [m.group(1) for m in _FENCE.finditer(path.read_text())]


def blocks_by_section(path: Path) -> list[Block]:
    """Every ```` ```python ```` block of ``path`` with the heading it stands under."""
    out: list[Block] = []
    counts: dict[str, int] = {}
    section = ""
    fence: str | None = None  # the info string of the open fence, if any
    code: list[str] = []
    for line in path.read_text().splitlines(keepends=True):
        if fence is None:
            if line.startswith("```"):
                fence = line[3:].strip()
                code = []
            elif m := _HEADING.match(line):
                section = m.group(2)
        elif line.startswith("```"):
            if fence.split(" ")[0] == "python":
                index = counts.get(section, 0)
                counts[section] = index + 1
                out.append(Block(path.name, section, index, "".join(code)))
            fence = None
        else:
            code.append(line)
    return out


def substitute(code: str, subs: Mapping[str, str]) -> str:
    """Replace each quoted string ``"old"`` in ``code`` by ``repr(new)``; each must occur."""
    for old, new in subs.items():
        quoted = f'"{old}"'
        assert quoted in code, f"{quoted} not found in the block"
        code = code.replace(quoted, repr(new))
    return code


def quoted_names(code: str, names: Iterable[str]) -> list[str]:
    """Which of ``names`` occur in ``code`` as a double-quoted string."""
    return [n for n in names if f'"{n}"' in code]


def run_block(code: str, ns: dict[str, Any], name: str = "<doc block>") -> dict[str, Any]:
    """Run ``code`` in the namespace ``ns`` (updated and returned)."""
    exec(compile(code, name, "exec"), ns)
    return ns


def collect(stream: Any, name: str) -> list[Any]:
    """Attach a testing sink to ``stream``; the returned list fills when the flow runs."""
    out: list[Any] = []
    op.output(name, stream, TestingSink(out))
    return out


class FiniteKafkaSource(KafkaSource):
    """A ``KafkaSource`` that always stops at the end offsets it saw at start (``tail=False``)."""

    def __init__(self, brokers: Any, topics: Any, tail: bool = True, *args: Any, **kwargs: Any) -> None:
        super().__init__(brokers, topics, False, *args, **kwargs)


class FiniteKafkaGroupSource(KafkaGroupSource):
    """A ``KafkaGroupSource`` that stops once its partitions are read to their end, joining the group fast."""

    def __init__(
        self, brokers: Any, topics: Any, group: Any, tail: bool = True, *args: Any, **kwargs: Any
    ) -> None:
        super().__init__(brokers, topics, group, False, *args, **kwargs)
        self._add_config = {"session.timeout.ms": 6000, **self._add_config}


def finite_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every ``KafkaSource`` (and group source) doc code builds (directly or by ``kop.input``) finite."""
    monkeypatch.setattr(bytewax_kafka.core, "KafkaSource", FiniteKafkaSource)
    monkeypatch.setattr(bytewax_kafka.operators.io, "KafkaSource", FiniteKafkaSource)
    monkeypatch.setattr(bytewax_kafka.core, "KafkaGroupSource", FiniteKafkaGroupSource)
    monkeypatch.setattr(bytewax_kafka.operators.io, "KafkaGroupSource", FiniteKafkaGroupSource)
