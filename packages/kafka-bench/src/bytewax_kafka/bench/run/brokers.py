"""Which broker a cell runs on, and starting it.

``auto`` (the default) is Apache Kafka wherever Java runs: kafka-bench
starts one KRaft node itself, its jars fetched once from Maven Central and
cached by :mod:`bytewax_kafka.testing`. Without Java (or the jars), it falls
back to Tansu, visibly: the fallback is a notice on the terminal and in the
report, because Tansu answers a fetch only when ``fetch.wait.max.ms`` has
passed and slows as a topic grows, so its latency figures measure the
broker more than the connectors (see docs/bench.md).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["TANSU_LATENCY_CONSUMER", "Target", "resolve_broker", "started"]

#: Consumer settings every variant gets on Tansu in cells that offer a rate:
#: Tansu holds each fetch for ``fetch.wait.max.ms`` even when data is there
#: (librdkafka's default is 500 ms), which would be the latency measured.
TANSU_LATENCY_CONSUMER = {"fetch.wait.max.ms": 10}


@dataclass(frozen=True)
class Target:
    """A running broker, as cells see it."""

    spec: str
    kind: str
    bootstrap: str
    replication: int = 1
    features: frozenset[str] = frozenset()
    describe: str = ""

    def info(self) -> dict[str, Any]:
        """JSON-ready description for the results."""
        return {
            "spec": self.spec,
            "kind": self.kind,
            "describe": self.describe,
            "features": sorted(self.features),
        }


def resolve_broker(spec: str) -> tuple[str, str | None]:
    """The broker ``spec`` names: ``auto`` -> ``kafka`` when it can run here, else ``tansu`` with a notice.

    Resolving ``auto`` may fetch Apache Kafka's jars (once; they are cached).
    """
    if spec != "auto":
        return spec, None
    from bytewax_kafka.testing import BrokerUnavailable, kafka_libs
    from bytewax_kafka.testing.kafka import java_bin

    try:
        java_bin()
        kafka_libs()
    except BrokerUnavailable as exc:
        reason = str(exc).splitlines()[0]
        return "tansu", (
            f"Apache Kafka cannot run here ({reason}); the cells ran on Tansu instead. Tansu answers "
            "fetches only at fetch.wait.max.ms and slows as topics grow: its latency figures measure "
            "the broker more than the connectors. Install Java 17+ for sound latency."
        )
    return "kafka", None


def _replication(broker: Any) -> int:
    from confluent_kafka.admin import AdminClient

    try:
        md = AdminClient({**broker.client_config(), "log_level": 3}).list_topics(timeout=10)
        return max(1, min(3, len(md.brokers)))
    except Exception:
        return 1


@contextlib.contextmanager
def started(spec: str, running: Mapping[str, Any] | None = None) -> Iterator[Target]:
    """Start the broker ``spec`` names (or use ``running[spec]``, started by the caller) for a block.

    Raises:
        BrokerUnavailable: When it cannot run on this machine.
        BrokerStartError: When it did not become ready.
    """
    if running is not None and spec in running:
        broker = running[spec]
        yield _target(spec, broker)
        return
    from bytewax_kafka.testing import broker_from_spec

    broker = broker_from_spec(spec)
    broker.start()
    try:
        yield _target(spec, broker)
    finally:
        gc.collect()  # clients caught in reference cycles would keep calling a stopped broker
        broker.stop()


def _target(spec: str, broker: Any) -> Target:
    return Target(
        spec=spec,
        kind=str(broker.kind),
        bootstrap=str(broker.bootstrap_servers),
        replication=_replication(broker),
        features=frozenset(broker.features),
        describe=str(broker.describe()),
    )
