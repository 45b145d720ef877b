"""librdkafka's in-process mock cluster, for fast unit tests."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Producer

from bytewax_kafka.testing.broker import Broker, wait_for_metadata
from bytewax_kafka.testing.logs import logged

#: Partitions the mock cluster gives every topic it creates on first use.
MOCK_PARTITIONS = 4


class MockCluster(Broker):
    """librdkafka's mock cluster, living inside this Python process.

    A client created with ``test.mock.num.brokers`` starts the cluster; its
    brokers listen on loopback, so other clients (and child processes) reach
    them by address while this object is started. Topics are created on first
    use with :data:`MOCK_PARTITIONS` partitions; the admin API cannot create
    topics, and aborted transactions are not hidden.

    Args:
        num_brokers: Brokers in the mock cluster.

    Example:
        >>> with MockCluster() as mock:
        ...     consumer = Consumer({"bootstrap.servers": mock.bootstrap_servers, ...})
    """

    kind = "mock"
    features = frozenset({"consumer_groups", "high_watermark"})

    def __init__(self, num_brokers: int = 1) -> None:
        self.num_brokers = num_brokers
        self.expected_brokers = num_brokers
        self._holder: Producer | None = None
        self._bootstrap: str | None = None

    @property
    def bootstrap_servers(self) -> str:
        """Comma-separated ``host:port`` list for ``bootstrap.servers``."""
        if self._bootstrap is None:
            raise RuntimeError("MockCluster is not started")
        return self._bootstrap

    def start(self) -> None:
        """Create the holder client (which starts the cluster) and wait for metadata."""
        if self._holder is not None:
            return
        conf: dict[str, Any] = {
            "bootstrap.servers": "mock:1",
            "test.mock.num.brokers": self.num_brokers,
        }
        self._holder = Producer(logged(conf))
        md = self._holder.list_topics(timeout=10)
        self._bootstrap = ",".join(f"{b.host}:{b.port}" for b in md.brokers.values())
        wait_for_metadata(
            self.client_config(),
            expected_brokers=self.num_brokers,
            timeout=10,
            what="librdkafka mock cluster",
            log_tail=lambda: "<the mock cluster logs through librdkafka>",
        )

    def stop(self) -> None:
        """Destroy the holder client, which stops the cluster."""
        if self._holder is not None:
            self._holder.flush(1)
            self._holder = None
        self._bootstrap = None

    def describe(self) -> str:
        """One line naming the broker and its address."""
        return f"librdkafka mock cluster ({self.num_brokers} brokers) at {self._bootstrap}"
