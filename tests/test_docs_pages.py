"""The code blocks of the site's other pages run, in order, as a reader would run them.

Each page's ```` ```python ```` blocks run one after the other in one
namespace, against the session's broker: ``"localhost:19092"`` and the topic
names are replaced by the test's, sources are made finite, and
``registry_client`` returns a mock registry. After each block, a new
``flow`` is run to completion, new ``test_*`` functions are called with the
pytest fixtures they name (honouring ``kafka_features`` marks), and a block
ending in ``print(...)`` followed by ``# output`` comment lines must print
exactly that. Then the page's own check looks at what the flows wrote.

On a page of *variants* (``Page(variants=True)``) each later block shows a
change to the first one: it runs as the first block with the lines it
redefines (same name assigned, same call) replaced by its own, its other
lines (imports, ...) put before them.

The Kafka guide, core and operators pages have tests of their own
(``test_docs_kafka_guide.py``, ``packages/*/tests/test_*_docs.py``).
"""

from __future__ import annotations

import inspect
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from bytewax.testing import run_main
from confluent_kafka.schema_registry import SchemaRegistryClient

import bytewax_kafka.serde
from bytewax_kafka.testing import create_topic, read_to_end
from docblocks import DOCS, finite_sources, python_blocks, run_block

#: Pages whose blocks another test runs.
TESTED_ELSEWHERE = {"kafka-guide.md", "core.md", "operators.md", "production.md"}
TOPICS = ("in-topic", "out-topic", "in-topic-dlq", "orders", "enriched")


@dataclass
class Page:
    """What a page needs before its blocks run, and what to check after."""

    create: tuple[str, ...] = ()  # topics to create first (the page does not)
    produce: dict[str, list[tuple[bytes | None, bytes]]] = field(default_factory=dict)
    check: Callable[[dict[str, str], str], None] | None = None
    needs: tuple[str, ...] = ()  # broker features (bytewax_kafka.testing.FEATURES)
    names: tuple[str, ...] = ()  # other quoted names made unique per run (consumer groups, ...)
    variants: bool = False


def _check_migration(topics: dict[str, str], bootstrap: str) -> None:
    assert [(r.key, r.value) for r in read_to_end(bootstrap, topics["out-topic"])] == [(b"k", b"v")]


def _check_serde(topics: dict[str, str], bootstrap: str) -> None:
    dead = read_to_end(bootstrap, topics["in-topic-dlq"])
    assert [r.value for r in dead] == [b"not json"]


def _check_guarantees(topics: dict[str, str], bootstrap: str) -> None:
    # Exactly-once wrote each message once (read_committed), the CommitProgress
    # variant read the topic again from its start, the dead-letter variant (the
    # same ExactlyOnce) resumed at its end, and the consumer group read it again.
    got = read_to_end(bootstrap, topics["enriched"], isolation_level="read_committed")
    assert sorted(r.value for r in got) == sorted([b"A", b"B", b"C"] * 3)


PAGES: dict[str, Page] = {
    "guarantees.md": Page(
        create=("orders", "enriched", "in-topic-dlq"),
        produce={"orders": [(b"1", b"a"), (b"2", b"b"), (b"3", b"c")]},
        check=_check_guarantees,
        needs=("transactions",),
        names=("orders-enricher", "orders-replicas"),
        variants=True,
    ),
    "index.md": Page(),
    "migration.md": Page(create=("out-topic",), check=_check_migration),
    "observability.md": Page(
        create=("in-topic",), produce={"in-topic": [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")]}
    ),
    "serde.md": Page(
        create=("in-topic", "in-topic-dlq"),
        produce={"in-topic": [(b"a", b'{"v": 1}'), (b"b", b"not json"), (None, b"[2]")]},
        check=_check_serde,
    ),
    "settings.md": Page(),
    "testing.md": Page(),
    "troubleshooting.md": Page(),
}


#: Loggers a page may reconfigure (the logging page does); restored after each page.
LOGGERS = ("bytewax_kafka.core.librdkafka", "bytewax_kafka.testing.librdkafka")


@pytest.fixture
def restore_logger_levels() -> Iterator[None]:
    before = {name: logging.getLogger(name).level for name in LOGGERS}
    yield
    for name, level in before.items():
        logging.getLogger(name).setLevel(level)


def test_every_page_with_code_is_run() -> None:
    with_code = {p.name for p in DOCS.rglob("*.md") if python_blocks(p)}
    assert with_code - TESTED_ELSEWHERE == set(PAGES)


def expected_output(code: str) -> str | None:
    """The ``# ...`` lines that end a block right after a ``print(...)`` line, if any."""
    lines = code.rstrip("\n").splitlines()
    comments: list[str] = []
    while lines and lines[-1].startswith("# "):
        comments.insert(0, lines.pop()[2:])
    if comments and lines and lines[-1].lstrip().startswith("print("):
        return "\n".join(comments) + "\n"
    return None


def _redefines(line: str) -> str | None:
    m = re.match(r"([\w.]+)\s*(=|\()", line)
    return m.group(1) + m.group(2) if m else None


def as_variant(base: str, change: str) -> str:
    """``base`` with the lines ``change`` redefines replaced, its other lines before them."""
    lines = base.splitlines()
    replaced: list[int] = []
    extra: list[str] = []
    for line in change.splitlines():
        key = _redefines(line)
        at = [i for i, old in enumerate(lines) if key is not None and _redefines(old) == key]
        if at:
            lines[at[0]] = line
            replaced.append(at[0])
        elif line.strip():
            extra.append(line)
    assert replaced, "a variant block must redefine a line of the first block"
    first = min(replaced)
    return "\n".join([*lines[:first], *extra, *lines[first:]]) + "\n"


def call_test_function(fn: Callable[..., Any], request: pytest.FixtureRequest) -> None:
    for mark in getattr(fn, "pytestmark", []):
        if mark.name == "kafka_features":
            broker = request.getfixturevalue("kafka_broker")
            if not set(mark.args) <= broker.features:
                return  # pytest would skip it on this broker
    fixtures = {name: request.getfixturevalue(name) for name in inspect.signature(fn).parameters}
    fn(**fixtures)


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_blocks_run(
    name: str,
    kafka_bootstrap: str,
    kafka_produce: Callable[..., int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    restore_logger_levels: None,
) -> None:
    page = PAGES[name]
    if page.needs:
        broker = request.getfixturevalue("kafka_broker")
        missing = sorted(set(page.needs) - broker.features)
        if missing:
            pytest.skip(f"{broker.describe()} lacks {', '.join(missing)}")
    finite_sources(monkeypatch)
    registry = SchemaRegistryClient.new_client({"url": f"mock://{uuid.uuid4().hex}"})
    monkeypatch.setattr(bytewax_kafka.serde, "registry_client", lambda _url: registry)
    topics = {t: f"docs-{t}-{uuid.uuid4().hex}" for t in TOPICS}
    unique = {**topics, **{n: f"docs-{n}-{uuid.uuid4().hex}" for n in page.names}}
    for t in page.create:
        create_topic(kafka_bootstrap, topics[t], partitions=2)
    for t, messages in page.produce.items():
        kafka_produce(topics[t], messages)

    blocks = python_blocks(DOCS / name)
    if page.variants:
        blocks = [blocks[0], *(as_variant(blocks[0], b) for b in blocks[1:])]
    ns: dict[str, Any] = {"__name__": "doc_page"}
    for i, code in enumerate(blocks):
        code = code.replace('"localhost:19092"', repr(kafka_bootstrap))
        for t, real in unique.items():
            code = code.replace(f'"{t}"', repr(real))
        if page.variants:
            ns = {"__name__": "doc_page"}
        before = dict(ns)
        capsys.readouterr()
        run_block(code, ns, f"{name}[{i}]")
        if ns.get("flow") is not None and ns.get("flow") is not before.get("flow"):
            run_main(ns["flow"])
        for key, value in ns.items():
            if key.startswith("test_") and callable(value) and value is not before.get(key):
                call_test_function(value, request)
        wanted = expected_output(code)
        if wanted is not None:
            assert capsys.readouterr().out == wanted, f"{name}[{i}] printed something else"
    if page.check is not None:
        page.check(topics, kafka_bootstrap)
