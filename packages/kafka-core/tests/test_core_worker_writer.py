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
