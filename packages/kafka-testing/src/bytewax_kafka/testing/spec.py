"""Broker names as the CLI and the pytest plugin take them."""

from __future__ import annotations

from bytewax_kafka.testing.broker import Broker

#: Names accepted by :func:`broker_from_spec`, besides ``external=HOST:PORT``.
BROKER_KINDS = ("kafka", "kafka-cluster", "tansu", "mock", "redpanda", "kafka-container")


def broker_from_spec(spec: str, *, port: int | None = None, proxied: bool = False) -> Broker:
    """Build (not start) the broker a spec names.

    Args:
        spec: One of :data:`BROKER_KINDS` or ``external=HOST:PORT[,HOST:PORT]``.
        port: Client port (Kafka, Tansu; a cluster uses it and the next ones);
            free ports chosen by the OS when None.
        proxied: Apache Kafka only: add a client listener behind Toxiproxy.

    Raises:
        ValueError: For an unknown spec.
    """
    from bytewax_kafka.testing.container import Container
    from bytewax_kafka.testing.external import External
    from bytewax_kafka.testing.kafka import ApacheKafka, ApacheKafkaCluster
    from bytewax_kafka.testing.mock import MockCluster
    from bytewax_kafka.testing.tansu import Tansu

    spec = spec.strip()
    if spec.startswith("external="):
        return External(spec.split("=", 1)[1])
    if spec == "kafka":
        return ApacheKafka(port=port, proxied=proxied)
    if spec == "kafka-cluster":
        return ApacheKafkaCluster(3, port=port, proxied=proxied)
    if spec == "tansu":
        return Tansu(port=port)
    if spec == "mock":
        return MockCluster()
    if spec == "redpanda":
        return Container("redpanda")
    if spec == "kafka-container":
        return Container("kafka")
    raise ValueError(f"unknown broker {spec!r}; use one of {', '.join(BROKER_KINDS)} or external=HOST:PORT")
