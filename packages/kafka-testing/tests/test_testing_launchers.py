"""Every launcher against a real broker: start, round trip, stop, nothing left behind."""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from bytewax_kafka.testing import (
    ApacheKafka,
    Broker,
    BrokerStartError,
    BrokerUnavailable,
    Container,
    External,
    MockCluster,
    Tansu,
    create_topic,
    produce_n,
    read_to_end,
)
from bytewax_kafka.testing.container import docker_unavailable_reason
from bytewax_kafka.testing.mock import MOCK_PARTITIONS
from bytewax_kafka.testing.ports import free_port


def round_trip(broker: Broker, *, partitions: int = 3, n: int = 60, create: bool = True) -> str:
    """Produce ``n`` numbered messages to a new topic and check they all come back."""
    topic = f"roundtrip-{uuid.uuid4().hex}"
    if create:
        create_topic(broker.client_config(), topic, partitions=partitions)
    assert produce_n(broker.client_config(), topic, n) == n
    records = read_to_end(broker.client_config(), topic, timeout=30)

    assert sorted(int(r.value or b"-1") for r in records) == list(range(n))
    assert all(r.key == r.value and r.topic == topic for r in records)
    assert {r.partition for r in records} <= set(range(partitions))
    for p in range(partitions):
        in_part = [r for r in records if r.partition == p]
        # One producer, one partition: offsets are dense and keep the send order.
        assert [r.offset for r in in_part] == list(range(len(in_part)))
        values = [int(r.value or b"-1") for r in in_part]
        assert values == sorted(values)
    return topic


# -- Tansu ----------------------------------------------------------------------


def test_tansu_round_trip_then_stop_leaves_no_process(proc):
    broker = Tansu()
    with broker:
        pid = broker.pid
        assert pid is not None
        assert proc.running(pid)
        assert "tansu" in proc.cmdline(pid)
        workdir = broker.workdir
        assert workdir is not None
        round_trip(broker)
    proc.wait_gone(pid)
    assert broker.pid is None
    proc.wait_closed(broker.bootstrap_servers)
    assert not workdir.exists()


def test_tansu_that_cannot_start_fails_fast_with_log_tail(proc):
    broker = Tansu(storage="bogus://nowhere/", start_timeout=30)
    started = time.monotonic()
    with pytest.raises(BrokerStartError) as info:
        broker.start()
    elapsed = time.monotonic() - started

    message = str(info.value)
    assert "Tansu exited before it was ready" in message
    assert "--- log tail ---" in message
    assert "UnsupportedStorageUrl" in message  # Tansu's own words, from its log
    assert elapsed < 10, f"took {elapsed:.1f}s: the exit was not noticed"
    assert broker.process is not None
    assert broker.process.pid is not None
    proc.wait_gone(broker.process.pid)


# -- librdkafka mock cluster -----------------------------------------------------


def test_mock_cluster_round_trip_then_stop_closes_ports(proc):
    broker = MockCluster()
    with broker:
        addresses = broker.brokers
        assert len(addresses) == 1
        assert all(proc.port_open(a) for a in addresses)
        # The mock creates topics on first use, always with MOCK_PARTITIONS partitions.
        round_trip(broker, partitions=MOCK_PARTITIONS, create=False)
    # No process to look for: the cluster lives in this interpreter until its
    # holder client is destroyed, and then its listeners close.
    for address in addresses:
        proc.wait_closed(address, timeout=10)
    with pytest.raises(RuntimeError, match="not started"):
        _ = broker.bootstrap_servers


def test_mock_cluster_with_three_brokers():
    with MockCluster(num_brokers=3) as broker:
        md = AdminClient(broker.client_config()).list_topics(timeout=10)
        assert len(md.brokers) == 3
        assert len(broker.brokers) == 3


# -- Apache Kafka ---------------------------------------------------------------


def test_apache_kafka_round_trip_then_stop_leaves_no_process(proc):
    broker = ApacheKafka()
    with broker:
        pid = broker.pid
        assert pid is not None
        assert "kafka.Kafka" in proc.cmdline(pid)
        workdir = broker.workdir
        assert workdir is not None
        address = broker.bootstrap_servers
        round_trip(broker)
    proc.wait_gone(pid)
    assert broker.pid is None
    proc.wait_closed(address)
    assert not workdir.exists()


def test_apache_kafka_with_invalid_config_fails_fast_with_log_tail():
    broker = ApacheKafka(config={"num.network.threads": "notanumber"}, start_timeout=90)
    started = time.monotonic()
    with pytest.raises(BrokerStartError) as info:
        broker.start()
    elapsed = time.monotonic() - started

    message = str(info.value)
    # Kafka's own complaint, taken from its output.
    assert "Invalid value notanumber for configuration num.network.threads" in message
    assert elapsed < 30, f"took {elapsed:.1f}s instead of failing as soon as Kafka exited"
    assert broker.workdir is None  # the temporary folder went with the failure


def test_apache_kafka_that_exits_while_starting_fails_fast_with_log_tail(proc, tmp_path, monkeypatch):
    # The port is taken, so the broker process starts, fails to bind and exits.
    # (The launcher refuses a port it sees taken before starting; here it does
    # not look, as when another process takes the port in between.)
    import bytewax_kafka.testing.kafka as kafka_module

    monkeypatch.setattr(kafka_module, "refuse_busy_ports", lambda *_args, **_kwargs: None)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        # A workdir of our own: the launcher keeps it (and its nodes) after stop.
        broker = ApacheKafka(port=port, start_timeout=90, workdir=tmp_path / "kafka")
        started = time.monotonic()
        with pytest.raises(BrokerStartError) as info:
            broker.start()
        elapsed = time.monotonic() - started

    message = str(info.value)
    assert "exited before it was ready" in message
    assert "--- log tail ---" in message
    assert str(broker.log_path) in message  # names the log it quotes
    assert elapsed < 45, f"took {elapsed:.1f}s instead of failing as soon as Kafka exited"
    assert "Address already in use" in broker.log_path.read_text()
    # Nothing of the failed broker is left running.
    pid = broker.nodes[0].process.pid
    assert pid is not None
    proc.wait_gone(pid, timeout=5)
    config = str(broker.nodes[0].config_path)
    assert [p for p in proc.children(os.getpid()) if config in proc.cmdline(p)] == []


# -- External ----------------------------------------------------------------------


def test_external_wraps_a_running_broker(tansu_broker, proc):
    external = External(tansu_broker.bootstrap_servers, timeout=10)
    with external:
        assert external.bootstrap_servers == tansu_broker.bootstrap_servers
        assert external.client_config()["bootstrap.servers"] == tansu_broker.bootstrap_servers
        round_trip(external)
    # Leaving the context does not stop a broker that is not ours.
    assert proc.port_open(tansu_broker.bootstrap_servers)


def test_external_to_closed_port_fails_within_its_timeout():
    address = f"127.0.0.1:{free_port()}"
    external = External(address, timeout=3)
    started = time.monotonic()
    with pytest.raises(BrokerStartError, match="not ready after 3s") as info:
        external.start()
    elapsed = time.monotonic() - started
    assert address in str(info.value)
    assert elapsed < 3 + 3, f"took {elapsed:.1f}s for a 3s timeout"


def test_external_needs_an_address():
    with pytest.raises(ValueError, match="bootstrap address"):
        External(" ")


# -- Container ---------------------------------------------------------------------


@pytest.mark.parametrize("flavor", ["kafka", "redpanda"])
def test_container_runs_or_says_why_not(flavor):
    reason = docker_unavailable_reason()
    broker = Container(flavor, start_timeout=180)
    if reason is None:  # a Docker engine answers: the real thing must work
        with broker:
            round_trip(broker)
        return
    with pytest.raises(BrokerUnavailable) as info:
        broker.start()
    message = str(info.value)
    assert message.startswith(f"{flavor} container needs Docker: ")
    # The reason names what is missing, as docker_unavailable_reason() sees it.
    assert "Docker engine" in message or "'docker' package" in message
    assert message.split(": ", 1)[1].split(" (")[0] == reason.split(" (")[0]
    broker.stop()  # stopping a container that never started is harmless


def test_container_rejects_unknown_flavor():
    with pytest.raises(ValueError, match="unknown container flavor"):
        Container("zookeeper")


def test_temp_workdirs_are_ours_only(tmp_path: Path):
    # A workdir the caller names is kept after stop (data survives for a rerun).
    broker = Tansu(workdir=tmp_path / "tansu")
    with broker:
        round_trip(broker, partitions=1, n=5)
    assert (tmp_path / "tansu" / "tansu.log").exists()


# -- the plugin's session brokers, and the features they claim ---------------------


def test_session_fixtures_are_the_kinds_they_name(apache_kafka, tansu_broker, mock_cluster):
    assert isinstance(apache_kafka, ApacheKafka)
    assert isinstance(tansu_broker, Tansu)
    assert isinstance(mock_cluster, MockCluster)
    assert "transactions" in apache_kafka.features
    assert "transactions" not in tansu_broker.features
    assert "create_topics" not in mock_cluster.features
    for broker in (apache_kafka, tansu_broker, mock_cluster):
        md = AdminClient(broker.client_config()).list_topics(timeout=10)
        assert len(md.brokers) == 1


def test_apache_kafka_hides_aborted_transactions(apache_kafka):
    # What the "transactions" feature promises: read_committed skips aborted records.
    from confluent_kafka import Producer

    conf = apache_kafka.client_config()
    topic = create_topic(conf, f"txn-{uuid.uuid4().hex}", partitions=1)
    producer = Producer({**conf, "transactional.id": f"txn-{uuid.uuid4().hex}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, b"aborted")
    assert producer.flush(30) == 0  # on the broker's log, not just queued here
    producer.abort_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, b"committed")
    producer.commit_transaction(30)

    committed = read_to_end(conf, topic, isolation_level="read_committed")
    assert [r.value for r in committed] == [b"committed"]
    everything = read_to_end(conf, topic, isolation_level="read_uncommitted")
    assert [r.value for r in everything] == [b"aborted", b"committed"]


# -- readiness: only our own broker counts -----------------------------------------


def test_each_tansu_gets_its_own_cluster_id_and_answers_with_it(tansu_broker):
    assert isinstance(tansu_broker, Tansu)
    md = AdminClient(tansu_broker.client_config()).list_topics(timeout=10)
    assert md.cluster_id == tansu_broker.cluster_id
    assert Tansu().cluster_id != tansu_broker.cluster_id


def test_readiness_refuses_a_broker_of_another_cluster(tansu_broker):
    from bytewax_kafka.testing.broker import wait_for_metadata

    started = time.monotonic()
    with pytest.raises(BrokerStartError) as info:
        wait_for_metadata(
            tansu_broker.client_config(),
            expected_brokers=1,
            timeout=30,
            what="the broker we started",
            log_tail=lambda: "<log>",
            cluster_id="bytewax-kafka-not-this-one",
        )
    assert time.monotonic() - started < 10  # at the first answer, not at the timeout
    message = str(info.value)
    assert "the broker we started is not the broker answering" in message
    assert repr(tansu_broker.cluster_id) in message


def test_a_launcher_refuses_a_busy_port_before_starting(proc):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        broker = Tansu(port=port)
        with pytest.raises(BrokerStartError, match=f"port {port} on 127.0.0.1 is already in use"):
            broker.start()
        assert broker.process is None  # nothing was started


def test_helper_clients_log_through_python_logging(capfd, caplog):
    from bytewax_kafka.testing import produce_messages
    from bytewax_kafka.testing.logs import LOGGER_NAME

    caplog.set_level("INFO", logger=LOGGER_NAME)
    with pytest.raises(RuntimeError):
        produce_messages(
            f"127.0.0.1:{free_port()}", "t", [b"x"], timeout=5, config={"message.timeout.ms": 2000}
        )
    _out, err = capfd.readouterr()
    assert [line for line in err.splitlines() if line.startswith("%3|")] == []
    refused = [r for r in caplog.records if r.name == LOGGER_NAME and "Connection refused" in r.getMessage()]
    assert len(refused) == 1, [r.getMessage() for r in refused]
