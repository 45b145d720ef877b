"""A cluster somebody else runs, named by its bootstrap address."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bytewax_kafka.testing.broker import FEATURES, Broker, wait_for_metadata


class External(Broker):
    """An existing Kafka-compatible cluster, reached by address.

    Nothing is started or stopped; :meth:`start` only checks that a metadata
    request answers within ``timeout`` seconds.

    Args:
        bootstrap_servers: ``host:port[,host:port...]``.
        config: Extra client settings (security, SASL, TLS) every client needs.
        features: What the cluster supports; all features by default.
        timeout: Seconds to wait for a metadata answer.

    Example:
        >>> with External("kafka-1:9092,kafka-2:9092") as cluster:
        ...     print(cluster.brokers)
    """

    kind = "external"

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        config: Mapping[str, Any] | None = None,
        features: frozenset[str] = FEATURES,
        timeout: float = 30.0,
    ) -> None:
        if not bootstrap_servers or not bootstrap_servers.strip():
            raise ValueError("External needs a bootstrap address such as 'host:9092'")
        self._bootstrap = ",".join(s.strip() for s in bootstrap_servers.split(",") if s.strip())
        self.config = dict(config or {})
        self.features = features
        self.timeout = timeout

    @property
    def bootstrap_servers(self) -> str:
        """Comma-separated ``host:port`` list for ``bootstrap.servers``."""
        return self._bootstrap

    def client_config(self) -> dict[str, Any]:
        """Settings a client needs to reach this broker."""
        return {**self.config, "bootstrap.servers": self._bootstrap}

    def start(self) -> None:
        """Check that the cluster answers a metadata request."""
        wait_for_metadata(
            self.client_config(),
            expected_brokers=1,
            timeout=self.timeout,
            what=f"external cluster {self._bootstrap}",
            log_tail=lambda: "<external cluster: no log here>",
        )

    def stop(self) -> None:
        """Nothing to stop: the cluster is not ours."""

    def describe(self) -> str:
        """One line naming the broker and its address."""
        return f"external cluster at {self._bootstrap}"
