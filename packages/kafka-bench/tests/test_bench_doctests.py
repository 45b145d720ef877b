"""The examples in kafka-bench's docstrings run and say what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "bytewax_kafka.bench.define.cell",
    "bytewax_kafka.bench.define.variants",
    "bytewax_kafka.bench.define.handoff",
    "bytewax_kafka.bench.define.matrix",
    "bytewax_kafka.bench.define.catalog",
    "bytewax_kafka.bench.report.stats",
    "bytewax_kafka.bench.report.metrics",
    "bytewax_kafka.bench.report.compare",
    "bytewax_kafka.bench.report.document",
    "bytewax_kafka.bench.report.html",
    "bytewax_kafka.bench.run.measure",
    "bytewax_kafka.bench.run.search",
    "bytewax_kafka.bench.shapes",
    "bytewax_kafka.bench.latency",
    "bytewax_kafka.bench.payload",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no example"
    assert result.failed == 0
