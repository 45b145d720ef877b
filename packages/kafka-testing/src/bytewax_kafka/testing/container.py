"""Apache Kafka and Redpanda in Docker containers, through testcontainers.

Only usable where a Docker engine answers and the ``containers`` extra is
installed (``pip install 'bytewax-kafka-testing[containers]'``); elsewhere
:meth:`Container.start` raises
:class:`~bytewax_kafka.testing.errors.BrokerUnavailable` naming the reason,
which the pytest plugin turns into a skip.
"""

from __future__ import annotations

import gc
import warnings
from typing import Any

from bytewax_kafka.testing.broker import Broker, wait_for_metadata
from bytewax_kafka.testing.errors import BrokerUnavailable
from bytewax_kafka.testing.ports import free_port

#: What to install when the packages for containers are missing.
CONTAINERS_EXTRA = "the 'containers' extra is not installed (pip install 'bytewax-kafka-testing[containers]')"

#: Official images used unless the caller names another.
DEFAULT_IMAGES = {
    "kafka": "apache/kafka:4.1.1",
    "redpanda": "redpandadata/redpanda:v24.2.18",
}


def docker_unavailable_reason() -> str | None:
    """Why no Docker engine can be used here, or None when one answers."""
    try:
        import docker
        import testcontainers  # noqa: F401 - what start() uses
    except ImportError as exc:
        return f"{CONTAINERS_EXTRA}: {exc}"
    # docker-py leaves the socket of a failed connection open. Collect it here,
    # quietly, instead of in whatever test the garbage collector interrupts next
    # (where ``-W error`` turns the ResourceWarning into a failure).
    reason: str | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            client = docker.from_env(timeout=5)
            try:
                client.ping()
            finally:
                client.close()
        except Exception as exc:  # DockerException and connection errors
            reason = f"no Docker engine answers ({type(exc).__name__}: {exc})"
        gc.collect()
    return reason


class Container(Broker):
    """A single-node Apache Kafka (official ``apache/kafka`` image) or Redpanda container.

    The container's client port is published on a free host port chosen
    before start, and advertised as ``127.0.0.1:<that port>``.

    Args:
        flavor: ``"kafka"`` or ``"redpanda"``.
        image: Image to run (default from :data:`DEFAULT_IMAGES`).
        start_timeout: Seconds to wait for readiness.

    Example:
        >>> with Container("redpanda") as rp:
        ...     print(rp.bootstrap_servers)
    """

    def __init__(
        self, flavor: str = "kafka", *, image: str | None = None, start_timeout: float = 120.0
    ) -> None:
        if flavor not in DEFAULT_IMAGES:
            raise ValueError(f"unknown container flavor {flavor!r}; use one of {sorted(DEFAULT_IMAGES)}")
        self.flavor = flavor
        self.kind = "redpanda" if flavor == "redpanda" else "kafka-container"
        self.features = frozenset(
            {
                "offsets_for_times",
                "high_watermark",
                "create_topics",
                "create_partitions",
                "delete_records",
                "transactions",
                "consumer_groups",
            }
        )
        self.image = image or DEFAULT_IMAGES[flavor]
        self.start_timeout = start_timeout
        self.port: int | None = None
        self._container: Any = None

    @property
    def bootstrap_servers(self) -> str:
        """Comma-separated ``host:port`` list for ``bootstrap.servers``."""
        if self.port is None:
            raise RuntimeError("container is not started")
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Pull and start the container, then wait for a metadata answer."""
        reason = docker_unavailable_reason()
        if reason is not None:
            raise BrokerUnavailable(f"{self.flavor} container needs Docker: {reason}")
        from testcontainers.core.container import DockerContainer

        self.port = free_port()
        c = DockerContainer(self.image)
        if self.flavor == "kafka":
            c.with_bind_ports(9092, self.port)
            c.with_envs(
                KAFKA_NODE_ID="1",
                KAFKA_PROCESS_ROLES="broker,controller",
                KAFKA_LISTENERS="PLAINTEXT://:9092,CONTROLLER://:9093",
                KAFKA_ADVERTISED_LISTENERS=f"PLAINTEXT://127.0.0.1:{self.port}",
                KAFKA_CONTROLLER_LISTENER_NAMES="CONTROLLER",
                KAFKA_LISTENER_SECURITY_PROTOCOL_MAP="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                KAFKA_CONTROLLER_QUORUM_VOTERS="1@localhost:9093",
                KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR="1",
                KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR="1",
                KAFKA_TRANSACTION_STATE_LOG_MIN_ISR="1",
                KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS="0",
            )
        else:
            c.with_bind_ports(9092, self.port)
            c.with_command(
                "redpanda start --mode dev-container --smp 1 --memory 1G "
                "--kafka-addr PLAINTEXT://0.0.0.0:9092 "
                f"--advertise-kafka-addr PLAINTEXT://127.0.0.1:{self.port}"
            )
        self._container = c
        try:
            c.start()
            wait_for_metadata(
                self.client_config(),
                expected_brokers=1,
                timeout=self.start_timeout,
                what=f"{self.flavor} container {self.image}",
                log_tail=self.log_tail,
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop and remove the container."""
        if self._container is not None:
            try:
                self._container.stop()
            finally:
                self._container = None

    def log_tail(self, lines: int = 40) -> str:
        """The end of the broker's log, for error messages."""
        if self._container is None:
            return "<no container>"
        try:
            out, err = self._container.get_logs()
        except Exception as exc:  # the container may be gone already
            return f"<logs unavailable: {exc}>"
        text = (out + err).decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def describe(self) -> str:
        """One line naming the broker and its address."""
        addr = self.bootstrap_servers if self.port else "(not started)"
        return f"{self.flavor} container {self.image} at {addr}"
