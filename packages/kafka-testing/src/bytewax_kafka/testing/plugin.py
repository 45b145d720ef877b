"""pytest plugin: a broker per session, topic factories and produce/read helpers.

Registered through the ``pytest11`` entry point, so any project that installs
``bytewax-kafka-testing[pytest]`` gets (pytest imports it only when pytest
runs, so the entry point costs nothing where pytest is absent):

- ``--kafka-broker`` (or ``BYTEWAX_KAFKA_BROKER``): ``kafka`` (default),
  ``kafka-cluster``, ``tansu``, ``mock``, ``redpanda``, ``kafka-container`` or
  ``external=HOST:PORT``.
- ``kafka_broker``: the session's started broker; ``kafka_bootstrap`` its
  address; ``kafka_config`` client settings.
- ``topic_factory(partitions=1, config=None, ...)``: new topics with uuid
  names, deleted after the test.
- ``kafka_produce(topic, messages)`` and ``kafka_read_to_end(topic)``.
- ``apache_kafka``, ``apache_kafka_cluster``, ``tansu_broker``,
  ``mock_cluster``: a broker of that kind whatever ``--kafka-broker`` says,
  for tests that need one (offset edge cases, replication).
- ``@pytest.mark.kafka_features("transactions", ...)``: skip, naming the gap,
  when the session's broker lacks a feature.
- ``proxied_kafka`` / ``proxied_kafka_cluster``: Apache Kafka with a client
  listener behind Toxiproxy (``proxied_bootstrap``), ``network_faults`` its
  fault helpers (undone after each test), ``toxiproxy`` a bare Toxiproxy
  server. Skipped, with the reason, where Toxiproxy cannot be built (no Go).

Docker-backed brokers are skipped with the reason when no Docker engine
answers; any other broker that cannot start fails the tests that need it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

try:
    import pytest
except ImportError as exc:  # imported by hand without the extra; pytest itself always has it
    raise ImportError(
        "bytewax_kafka.testing.plugin is a pytest plugin and needs pytest: "
        "pip install 'bytewax-kafka-testing[pytest]'"
    ) from exc

from bytewax_kafka.testing.broker import FEATURES, Broker
from bytewax_kafka.testing.errors import BrokerUnavailable
from bytewax_kafka.testing.faults import NetworkFaults
from bytewax_kafka.testing.helpers import (
    Record,
    create_topic,
    delete_topics,
    produce_messages,
    read_to_end,
    unique_topic,
)
from bytewax_kafka.testing.logs import logged
from bytewax_kafka.testing.mock import MOCK_PARTITIONS
from bytewax_kafka.testing.spec import broker_from_spec
from bytewax_kafka.testing.toxiproxy import Toxiproxy, ToxiproxyUnavailable

_DOCKER_KINDS = {"redpanda", "kafka-container"}

#: ``server.properties`` of the Apache Kafka clusters this plugin starts: a
#: SIGKILLed node loses its partition leaderships (and may rejoin) after 3 s
#: instead of Kafka's 9 s. Measured on 2 cores: leader failover 3.2-3.4 s
#: instead of 9.6-11.2 s.
CLUSTER_TEST_CONFIG = {"broker.session.timeout.ms": "3000", "broker.heartbeat.interval.ms": "500"}


def _build(spec: str) -> Broker:
    if spec.strip() == "kafka-cluster":
        from bytewax_kafka.testing.kafka import ApacheKafkaCluster

        return ApacheKafkaCluster(3, config=CLUSTER_TEST_CONFIG)
    return broker_from_spec(spec)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--kafka-broker``."""
    group = parser.getgroup("bytewax-kafka", "Kafka brokers for tests")
    group.addoption(
        "--kafka-broker",
        action="store",
        default=os.environ.get("BYTEWAX_KAFKA_BROKER", "kafka"),
        help=(
            "broker for the kafka_broker fixture: kafka, kafka-cluster, tansu, mock, redpanda, "
            "kafka-container or external=HOST:PORT (default: $BYTEWAX_KAFKA_BROKER or kafka)"
        ),
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the plugin's markers."""
    config.addinivalue_line(
        "markers",
        "kafka_features(*names): skip unless the session's broker has these features "
        f"({', '.join(sorted(FEATURES))})",
    )


def pytest_report_header(config: pytest.Config) -> str:
    """Name the session's broker in the report header."""
    return f"bytewax-kafka broker: {config.getoption('--kafka-broker')}"


def _start(broker: Broker) -> Broker:
    try:
        broker.start()
    except BrokerUnavailable as exc:
        if broker.kind in _DOCKER_KINDS or isinstance(exc, ToxiproxyUnavailable):
            pytest.skip(f"{broker.kind}: {exc}")
        pytest.fail(f"{broker.kind} broker cannot run here: {exc}", pytrace=False)
    return broker


@pytest.fixture(scope="session")
def kafka_broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    """The session's broker, as chosen by ``--kafka-broker``; started once."""
    broker = _build(str(request.config.getoption("--kafka-broker")))
    _start(broker)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def kafka_bootstrap(kafka_broker: Broker) -> str:
    """``bootstrap.servers`` of the session's broker."""
    return kafka_broker.bootstrap_servers


@pytest.fixture
def kafka_config(kafka_broker: Broker) -> dict[str, Any]:
    """Client settings for the session's broker."""
    return kafka_broker.client_config()


@pytest.fixture(autouse=True)
def _kafka_features_gate(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("kafka_features")
    if marker is None:
        return
    unknown = set(marker.args) - FEATURES
    if unknown:
        pytest.fail(f"unknown kafka_features {sorted(unknown)}; known: {sorted(FEATURES)}")
    broker: Broker = request.getfixturevalue("kafka_broker")
    missing = sorted(set(marker.args) - broker.features)
    if missing:
        pytest.skip(f"{broker.describe()} lacks {', '.join(missing)}")


TopicFactory = Callable[..., str]


def make_topic_factory(broker: Broker) -> tuple[TopicFactory, list[str]]:
    """A topic factory bound to ``broker`` and the list of topics it made."""
    made: list[str] = []

    def factory(
        partitions: int = 1,
        config: dict[str, str] | None = None,
        *,
        replication_factor: int | None = None,
        prefix: str = "test",
        name: str | None = None,
    ) -> str:
        name = name or unique_topic(prefix)
        if "create_topics" not in broker.features:
            # The mock cluster creates topics on first use, always with 4 partitions.
            if partitions != MOCK_PARTITIONS or config:
                pytest.skip(
                    f"{broker.describe()} can only make topics with {MOCK_PARTITIONS} partitions "
                    "and default settings"
                )
            from confluent_kafka import Producer

            Producer(logged(broker.client_config())).list_topics(topic=name, timeout=10)
            made.append(name)
            return name
        rf = replication_factor or min(3, broker.expected_brokers)
        create_topic(
            broker.client_config(),
            name,
            partitions=partitions,
            replication_factor=rf,
            config=config,
        )
        made.append(name)
        return name

    return factory, made


@pytest.fixture
def topic_factory(kafka_broker: Broker) -> Iterator[TopicFactory]:
    """Create topics with uuid names on the session's broker; deleted after the test.

    Call it as ``topic_factory(partitions=4, config={"retention.ms": "-1"})``;
    it returns the topic's name once every partition has a leader.
    """
    factory, made = make_topic_factory(kafka_broker)
    yield factory
    if "create_topics" in kafka_broker.features:
        # A test may have stopped the broker; cleanup is best effort.
        with contextlib.suppress(Exception):
            delete_topics(kafka_broker.client_config(), made)


@pytest.fixture
def kafka_produce(kafka_broker: Broker) -> Callable[..., int]:
    """``kafka_produce(topic, messages, **kw)``: produce to the session's broker."""

    def produce(topic: str, messages: Any, **kwargs: Any) -> int:
        return produce_messages(kafka_broker.client_config(), topic, messages, **kwargs)

    return produce


@pytest.fixture
def kafka_read_to_end(kafka_broker: Broker) -> Callable[..., list[Record]]:
    """``kafka_read_to_end(topic, **kw)``: :func:`read_to_end` on the session's broker."""

    def read(topic: str, **kwargs: Any) -> list[Record]:
        return read_to_end(kafka_broker.client_config(), topic, **kwargs)

    return read


def _same_or_new(request: pytest.FixtureRequest, kind: str) -> Iterator[Broker]:
    if str(request.config.getoption("--kafka-broker")) == kind:
        yield request.getfixturevalue("kafka_broker")
        return
    broker = _start(_build(kind))
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def apache_kafka(request: pytest.FixtureRequest) -> Iterator[Broker]:
    """A single Apache Kafka node for this session (the session broker when it is one)."""
    yield from _same_or_new(request, "kafka")


@pytest.fixture(scope="session")
def apache_kafka_cluster(request: pytest.FixtureRequest) -> Iterator[Broker]:
    """A 3-node Apache Kafka cluster for this session (started on first use)."""
    yield from _same_or_new(request, "kafka-cluster")


@pytest.fixture(scope="session")
def tansu_broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    """A Tansu broker for this session."""
    yield from _same_or_new(request, "tansu")


@pytest.fixture(scope="session")
def mock_cluster(request: pytest.FixtureRequest) -> Iterator[Broker]:
    """Librdkafka's mock cluster for this session."""
    yield from _same_or_new(request, "mock")


@pytest.fixture
def broker_topic_factory() -> Iterator[Callable[[Broker], TopicFactory]]:
    """``broker_topic_factory(broker)`` gives a topic factory for any broker."""
    made: list[tuple[Broker, list[str]]] = []

    def bind(broker: Broker) -> TopicFactory:
        factory, names = make_topic_factory(broker)
        made.append((broker, names))
        return factory

    yield bind
    for broker, names in made:
        if "create_topics" in broker.features and names:
            with contextlib.suppress(Exception):
                delete_topics(broker.client_config(), names)


# -- network faults (Toxiproxy) ------------------------------------------------------


@pytest.fixture(scope="session")
def toxiproxy() -> Iterator[Toxiproxy]:
    """A Toxiproxy server for this session (``toxiproxy.proxy(name, upstream=...)``)."""
    server = Toxiproxy()
    try:
        server.start()
    except ToxiproxyUnavailable as exc:
        pytest.skip(f"Toxiproxy: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def proxied_kafka() -> Iterator[Broker]:
    """One Apache Kafka node with a client listener behind Toxiproxy (``proxied_bootstrap``)."""
    from bytewax_kafka.testing.kafka import ApacheKafka

    broker = _start(ApacheKafka(proxied=True))
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def proxied_kafka_cluster() -> Iterator[Broker]:
    """Three Apache Kafka nodes, each with a client listener behind its own proxy."""
    from bytewax_kafka.testing.kafka import ApacheKafkaCluster

    broker = _start(ApacheKafkaCluster(3, config=CLUSTER_TEST_CONFIG, proxied=True))
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def network_faults(proxied_kafka: Any) -> Iterator[NetworkFaults]:
    """Faults on ``proxied_kafka``'s proxied listener; all undone after the test."""
    faults: NetworkFaults = proxied_kafka.faults
    faults.clear()
    try:
        yield faults
    finally:
        faults.clear()
