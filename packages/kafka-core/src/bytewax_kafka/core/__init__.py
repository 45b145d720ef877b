"""Kafka source and sink for Bytewax, API-compatible with ``bytewax.connectors.kafka``.

Example:
    >>> from bytewax import operators as op
    >>> from bytewax.dataflow import Dataflow
    >>> from bytewax_kafka.core import KafkaSink, KafkaSinkMessage, KafkaSource
    >>> brokers = ["localhost:19092"]
    >>> flow = Dataflow("example")
    >>> kinp = op.input("kafka-in", flow, KafkaSource(brokers, ["in-topic"]))
    >>> processed = op.map("map", kinp, lambda x: KafkaSinkMessage(x.key, x.value))
    >>> op.output("kafka-out", processed, KafkaSink(brokers, "out-topic"))
"""

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, OFFSET_STORED

from bytewax_kafka.core.config import redact
from bytewax_kafka.core.errors import (
    KafkaAuthenticationError,
    KafkaCallTimeout,
    KafkaConfigError,
    KafkaConnectorError,
    KafkaConsumeError,
    KafkaDeliveryError,
    KafkaDeliveryRefusedError,
    KafkaPartitionsChangedError,
    KafkaTimeoutError,
    KafkaTopicError,
    KafkaTransactionError,
)
from bytewax_kafka.core.group import ConsumerGroup
from bytewax_kafka.core.group_source import KafkaGroupSource
from bytewax_kafka.core.messages import KafkaError, KafkaSinkMessage, KafkaSourceMessage
from bytewax_kafka.core.sink import KafkaEpochSink, KafkaSink
from bytewax_kafka.core.source import KafkaSource
from bytewax_kafka.core.transactions import CommitProgress, ExactlyOnce

__version__ = "0.1.0"

__all__ = [
    "OFFSET_BEGINNING",
    "OFFSET_END",
    "OFFSET_STORED",
    "CommitProgress",
    "ConsumerGroup",
    "ExactlyOnce",
    "KafkaAuthenticationError",
    "KafkaCallTimeout",
    "KafkaConfigError",
    "KafkaConnectorError",
    "KafkaConsumeError",
    "KafkaDeliveryError",
    "KafkaDeliveryRefusedError",
    "KafkaEpochSink",
    "KafkaError",
    "KafkaGroupSource",
    "KafkaPartitionsChangedError",
    "KafkaSink",
    "KafkaSinkMessage",
    "KafkaSource",
    "KafkaSourceMessage",
    "KafkaTimeoutError",
    "KafkaTopicError",
    "KafkaTransactionError",
    "__version__",
    "redact",
]
