"""Hot-path micro-benchmarks: building and converting messages.

Run: ``uv run pytest benchmarks --benchmark-only --benchmark-json=.benchmarks/micro.json``
(compare runs with ``pytest-benchmark compare``).
"""

from __future__ import annotations

import bytewax.connectors.kafka as reference
import pytest

from bytewax_kafka.core import KafkaSinkMessage, KafkaSourceMessage
from bytewax_kafka.core.messages import _source_message

ARGS = (b"key-000001", b"v" * 100, "topic", [], None, 123456, 3, (1, 1_700_000_000_000))


@pytest.mark.benchmark(group="source-message")
def test_source_message_fast_constructor(benchmark):
    benchmark(_source_message, *ARGS)


@pytest.mark.benchmark(group="source-message")
def test_source_message_dataclass_init(benchmark):
    benchmark(KafkaSourceMessage, *ARGS)


@pytest.mark.benchmark(group="source-message")
def test_source_message_bytewax_reference(benchmark):
    benchmark(reference.KafkaSourceMessage, *ARGS)


@pytest.mark.benchmark(group="sink-message")
def test_sink_message(benchmark):
    benchmark(KafkaSinkMessage, b"key", b"value")


@pytest.mark.benchmark(group="sink-message")
def test_sink_message_bytewax_reference(benchmark):
    benchmark(reference.KafkaSinkMessage, b"key", b"value")


@pytest.mark.benchmark(group="to-sink")
def test_to_sink(benchmark):
    m = _source_message(*ARGS)
    benchmark(m.to_sink)


@pytest.mark.benchmark(group="to-sink")
def test_to_sink_bytewax_reference(benchmark):
    m = reference.KafkaSourceMessage(*ARGS)
    benchmark(m.to_sink)
