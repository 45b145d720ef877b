"""What every broker launcher has in common."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from confluent_kafka.admin import AdminClient

from bytewax_kafka.testing.errors import BrokerStartError
from bytewax_kafka.testing.logs import SILENT

#: Features a test may need that not every broker has. Tests ask for them with
#: ``@pytest.mark.kafka_features(...)``; the plugin skips, naming the gap.
FEATURES = frozenset(
    {
        "offsets_for_times",  # ListOffsets by timestamp gives real offsets
        "high_watermark",  # list_offsets / get_watermark_offsets are exact
        "create_topics",  # the admin API creates topics with given partitions
        "create_partitions",  # partitions can be added to a topic
        "delete_records",
        "transactions",  # read_committed hides aborted records
        "consumer_groups",
        "multi_broker",
        "restart_keeps_data",
    }
)


class Broker(ABC):
    """A Kafka-compatible broker (or cluster) reachable on loopback.

    Every launcher is a context manager: entering starts the broker and waits
    until a metadata request answers; leaving stops it and every process it
    started.

    Example:
        >>> with Tansu() as broker:
        ...     print(broker.bootstrap_servers)
        127.0.0.1:40123
    """

    #: Short name, as used by ``--kafka-broker``.
    kind: str = "broker"
    #: Features this broker really has (see :data:`FEATURES`).
    features: frozenset[str] = frozenset()
    #: How many brokers :meth:`wait_ready` must see in the metadata.
    expected_brokers: int = 1

    @property
    @abstractmethod
    def bootstrap_servers(self) -> str:
        """Comma-separated ``host:port`` list for ``bootstrap.servers``."""

    @property
    def brokers(self) -> list[str]:
        """The bootstrap addresses as a list, as ``KafkaSource`` takes them."""
        return self.bootstrap_servers.split(",")

    @abstractmethod
    def start(self) -> None:
        """Start the broker and return once it answers metadata requests."""

    @abstractmethod
    def stop(self) -> None:
        """Stop the broker; leaves no process behind."""

    def client_config(self) -> dict[str, Any]:
        """Settings a client needs to reach this broker (bootstrap and security)."""
        return {"bootstrap.servers": self.bootstrap_servers}

    def log_tail(self, lines: int = 40) -> str:
        """The end of the broker's log, for error messages."""
        return "<no log>"

    def describe(self) -> str:
        """One line naming the broker and its address."""
        return f"{self.kind} at {self.bootstrap_servers}"

    def __enter__(self) -> Broker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


def wait_for_metadata(
    config: dict[str, Any],
    *,
    expected_brokers: int,
    timeout: float,
    what: str,
    log_tail: Callable[[], str],
    still_running: Callable[[], str | None] = lambda: None,
    cluster_id: str | None = None,
) -> None:
    """Block until a metadata request lists ``expected_brokers`` brokers.

    With ``cluster_id``, only an answer naming that cluster counts: a broker
    of another cluster answering on the address (another process on the
    port) fails the wait at once instead of passing for the one started.

    Args:
        config: Client settings (``bootstrap.servers`` and security).
        expected_brokers: Brokers the metadata must list.
        timeout: Seconds before giving up.
        what: Name of the broker for the error message.
        log_tail: Returns the broker log's tail for the error message.
        still_running: Returns a reason when the broker process has died, so
            the wait fails at once instead of at the timeout.
        cluster_id: The cluster id the broker was started with, if known.

    Raises:
        BrokerStartError: On timeout or when the process died; the message
            holds the broker log's tail.
    """
    deadline = time.monotonic() + timeout
    # Silent: "Connection refused" until the broker listens is what a probe expects.
    admin = AdminClient({**config, "socket.connection.setup.timeout.ms": 2000, **SILENT})
    last = "no answer yet"
    while True:
        dead = still_running()
        if dead is not None:
            failure = f"{what} exited before it was ready: {dead}"
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            failure = f"{what} not ready after {timeout:.0f}s ({last})"
            break
        try:
            # Short attempts: a dead process is noticed within about a second.
            md = admin.list_topics(timeout=min(1.0, max(remaining, 0.1)))
        except Exception as exc:  # KafkaException: transport errors while starting
            last = f"metadata request failed: {exc}"
        else:
            if cluster_id is not None and md.cluster_id != cluster_id:
                failure = (
                    f"{what} is not the broker answering at {config.get('bootstrap.servers')}: "
                    f"cluster {md.cluster_id!r} answered, not {cluster_id!r} (another broker "
                    "holds the port)"
                )
                break
            if len(md.brokers) >= expected_brokers:
                return
            last = f"metadata lists {len(md.brokers)} of {expected_brokers} brokers"
        time.sleep(0.2)
    # Drop the client before raising: the traceback keeps this frame alive, and
    # a live client keeps reconnecting (and logging) to a broker that is gone.
    del admin
    raise BrokerStartError(f"{failure}\n--- log tail ---\n{log_tail()}")


def log_path_tail(path: Path | None, lines: int = 40) -> str:
    """The tail of a log file, for brokers that log to one."""
    from bytewax_kafka.testing.process import tail

    return "<no log>" if path is None else tail(path, lines)
