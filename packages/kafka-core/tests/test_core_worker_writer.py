"""The worker's writer shared by the outputs of one mode (librdkafka's mock cluster)."""

from __future__ import annotations

import time

import pytest

from bytewax_kafka.core import ExactlyOnce, KafkaConfigError, KafkaSinkMessage
from bytewax_kafka.core.worker_writer import WorkerWriter


def test_a_transaction_timeout_below_our_message_timeout_still_builds_the_producer(mock_cluster):
    # Regression: our 30 s default message.timeout.ms above a 10 s transaction
    # timeout made librdkafka refuse the transactional producer.
    eos = ExactlyOnce(f"short-{time.monotonic_ns()}", transaction_timeout_ms=10000)
    eos.tracker.register_worker(0, 1)
    writer = WorkerWriter(eos, 0, "flow", mock_cluster.client_config())
    writer.acquire()
    try:
        assert writer.producer.config["message.timeout.ms"] == 10000
    finally:
        writer.release()


def test_a_message_timeout_the_user_set_is_left_to_librdkafka_to_judge(mock_cluster):
    eos = ExactlyOnce(f"short-{time.monotonic_ns()}", transaction_timeout_ms=10000)
    eos.tracker.register_worker(0, 1)
    config = {**mock_cluster.client_config(), "message.timeout.ms": 20000}
    with pytest.raises(KafkaConfigError, match=r"message\.timeout\.ms"):
        WorkerWriter(eos, 0, "flow", config)


def test_an_aborted_epoch_s_purged_messages_are_not_delivery_failures(mock_cluster):
    # Regression: abort_transaction purges what is still queued, and the
    # purged messages' reports (_PURGE_QUEUE) failed the next write.
    eos = ExactlyOnce(f"purge-{time.monotonic_ns()}")
    eos.tracker.register_worker(0, 1)
    eos.add_output("flow", "flow.out", ["x:1"], None)
    config = {**mock_cluster.client_config(), "linger.ms": 10000}  # the messages stay queued
    writer = WorkerWriter(eos, 0, "flow", config)
    writer.acquire()
    try:
        writer.write("purge-out", [KafkaSinkMessage(b"k", b"%d" % i) for i in range(100)])
        writer.abort_epoch("partitions revoked in the middle of an epoch")
        writer.close_epoch("flow.out", 0)  # the aborted epoch closes: nothing committed
        writer.write("purge-out", [KafkaSinkMessage(b"k", b"again")])
        writer.producer.check()
    finally:
        writer._stuck = "test"  # nothing more to commit at release
        writer.release()


def test_after_a_refused_transaction_the_writer_goes_on_with_a_new_producer(mock_cluster):
    # A refusal that needs an epoch bump (OUT_OF_ORDER_SEQUENCE_NUMBER after a
    # rebalance) left the producer re-acquiring its id, and the next write
    # failed with "Erroneous state" (seen in a three-replica run): the writer
    # now goes on with a new producer of the same transactional.id.
    from bytewax_kafka.testing import read_to_end

    topic = f"refused-{time.monotonic_ns()}"
    eos = ExactlyOnce(topic)
    eos.tracker.register_worker(0, 1)
    eos.add_output("flow", "flow.out", ["x:1"], None)
    writer = WorkerWriter(eos, 0, "flow", mock_cluster.client_config())
    writer.acquire()
    first = writer.producer
    try:
        writer.write(topic, [KafkaSinkMessage(b"k", b"aborted")])
        writer._aborted("skipped sequence numbers (OUT_OF_ORDER_SEQUENCE_NUMBER, requires epoch bump)")
        assert writer.producer is not first
        writer.write(topic, [KafkaSinkMessage(b"k", b"committed")])
        writer._commit({})
    finally:
        writer._stuck = "test"
        writer.release()
    got = read_to_end(mock_cluster.bootstrap_servers, topic, isolation_level="read_committed")
    assert [r.value for r in got] == [b"committed"]
