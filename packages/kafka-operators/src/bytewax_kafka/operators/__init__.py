"""Kafka operators for Bytewax: input, output, (de)serialization and dead letters.

A drop-in for ``bytewax.connectors.kafka.operators``; import it the same way:

    >>> from bytewax_kafka import operators as kop

- :func:`input` reads topics into two streams, ``oks``
  (:class:`~bytewax_kafka.core.KafkaSourceMessage`) and ``errs`` (consumer
  errors).
- :func:`output` writes :class:`~bytewax_kafka.core.KafkaSinkMessage` (or
  source) messages, waiting for acknowledgements once per epoch.
- :func:`deserialize`, :func:`deserialize_key`, :func:`deserialize_value`,
  :func:`serialize`, :func:`serialize_key`, :func:`serialize_value` apply
  confluent-kafka style (de)serializers and return ``oks`` and ``errs``
  instead of stopping the flow on bad data.
- :func:`dead_letter` writes error items to a dead-letter topic with headers
  describing the failure; :func:`replay_dead_letters` and
  :func:`parse_dead_letter` read them back.

Error streams: every operator returning :class:`KafkaOpOut` puts its failures
in ``errs``, as :class:`KafkaStepError` items (a
:class:`~bytewax_kafka.core.KafkaError` naming the step). An ``errs`` stream
nothing is attached to is **dropped silently** and the flow goes on; attach
:func:`dead_letter`, an ``op.inspect``, or ``op.raises`` to stop on errors.

Example:
    >>> import bytewax.operators as op
    >>> from bytewax.dataflow import Dataflow
    >>> from bytewax_kafka.core import KafkaSinkMessage
    >>> brokers = ["localhost:19092"]
    >>> flow = Dataflow("example")
    >>> kinp = kop.input("kafka-in", flow, brokers=brokers, topics=["in-topic"])
    >>> processed = op.map("map", kinp.oks, lambda x: KafkaSinkMessage(x.key, x.value))
    >>> kop.output("kafka-out", processed, brokers=brokers, topic="out-topic")
    >>> kop.dead_letter("dlq", kinp.errs, brokers=brokers, topic="in-topic-dlq")
"""

from bytewax_kafka.operators.dead_letters import (
    dead_letter,
    parse_dead_letter,
    replay_dead_letters,
    to_dead_letter,
)
from bytewax_kafka.operators.io import input, output
from bytewax_kafka.operators.serde import (
    deserialize,
    deserialize_key,
    deserialize_value,
    serialize,
    serialize_key,
    serialize_value,
)
from bytewax_kafka.operators.types import KafkaOpOut, KafkaStepError

__version__ = "0.1.0"

__all__ = [
    "KafkaOpOut",
    "KafkaStepError",
    "__version__",
    "dead_letter",
    "deserialize",
    "deserialize_key",
    "deserialize_value",
    "input",
    "output",
    "parse_dead_letter",
    "replay_dead_letters",
    "serialize",
    "serialize_key",
    "serialize_value",
    "to_dead_letter",
]
