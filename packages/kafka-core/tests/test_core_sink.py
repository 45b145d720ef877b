from __future__ import annotations

import time

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.errors import BytewaxRuntimeError
from bytewax.testing import TestingSource

from bytewax_kafka.core import (
    KafkaDeliveryError,
    KafkaEpochSink,
    KafkaSink,
    KafkaSinkMessage,
    KafkaSourceMessage,
)
from bytewax_kafka.core import producer as producer_mod
from bytewax_kafka.testing.ports import free_port


def murmur2(data: bytes) -> int:
    """Java's Utils.murmur2, written from the algorithm's description."""
    m = 0x5BD1E995
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    i = 0
    while length - i >= 4:
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
        i += 4
    rest = length - i
    if rest == 3:
        h ^= data[i + 2] << 16
    if rest >= 2:
        h ^= data[i + 1] << 8
    if rest >= 1:
        h ^= data[i]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def java_partition(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def write(items, sink, **kwargs) -> None:
    flow = Dataflow("write")
    s = op.input("in", flow, TestingSource(items, batch_size=kwargs.pop("batch_size", 10)))
    if isinstance(sink, KafkaEpochSink):
        s = op.key_on("route", s, lambda _m: "one")
    op.output("out", s, sink)
    from bytewax.testing import run_main

    run_main(flow, **kwargs)


SINKS = [
    pytest.param(False, id="KafkaSink"),
    pytest.param(True, id="KafkaEpochSink"),
]


def make_sink(epoch: bool, brokers, topic, add_config=None):
    cls = KafkaEpochSink if epoch else KafkaSink
    return cls(brokers, topic, add_config=add_config)


@pytest.mark.parametrize("epoch", SINKS)
def test_writes_everything_in_order(kafka_bootstrap, topic_factory, kafka_read_to_end, epoch):
    topic = topic_factory(partitions=1)
    items = [KafkaSinkMessage(str(i).encode(), str(i).encode()) for i in range(2000)]
    write(items, make_sink(epoch, [kafka_bootstrap], topic))
    got = kafka_read_to_end(topic)
    assert [r.value for r in got] == [m.value for m in items]


@pytest.mark.parametrize("epoch", SINKS)
def test_honours_partition_timestamp_and_headers(kafka_bootstrap, topic_factory, kafka_read_to_end, epoch):
    # Field notes defect 1: the reference ignores KafkaSinkMessage.partition.
    topic = topic_factory(partitions=3)
    ts = 1_600_000_000_123
    items = [
        KafkaSinkMessage(f"k{i}".encode(), b"v", partition=2, timestamp=ts + i, headers=[("h", b"x")])
        for i in range(20)
    ]
    write(items, make_sink(epoch, [kafka_bootstrap], topic))
    got = kafka_read_to_end(topic)
    assert len(got) == 20
    assert {r.partition for r in got} == {2}
    assert [r.timestamp for r in got] == [ts + i for i in range(20)]
    assert all(r.headers == [("h", b"x")] for r in got)


@pytest.mark.parametrize("epoch", SINKS)
def test_keys_land_where_java_clients_put_them(kafka_bootstrap, topic_factory, kafka_read_to_end, epoch):
    topic = topic_factory(partitions=5)
    keys = [f"customer-{i}".encode() for i in range(200)]
    write([KafkaSinkMessage(k, b"v") for k in keys], make_sink(epoch, [kafka_bootstrap], topic))
    got = kafka_read_to_end(topic)
    assert len(got) == 200
    for r in got:
        assert r.partition == java_partition(r.key, 5), r.key


def test_user_partitioner_wins(kafka_bootstrap, topic_factory, kafka_read_to_end):
    topic = topic_factory(partitions=5)
    keys = [f"customer-{i}".encode() for i in range(100)]
    write(
        [KafkaSinkMessage(k, b"v") for k in keys],
        KafkaSink([kafka_bootstrap], topic, add_config={"partitioner": "consistent"}),
    )
    got = kafka_read_to_end(topic)
    assert any(r.partition != java_partition(r.key, 5) for r in got)


@pytest.mark.parametrize("epoch", SINKS)
def test_topic_none_routes_by_message_topic(kafka_bootstrap, topic_factory, kafka_read_to_end, epoch):
    a, b = topic_factory(), topic_factory()
    items = [KafkaSinkMessage(None, b"a", topic=a), KafkaSinkMessage(None, b"b", topic=b)] * 3
    write(items, make_sink(epoch, [kafka_bootstrap], None))
    assert [r.value for r in kafka_read_to_end(a)] == [b"a"] * 3
    assert [r.value for r in kafka_read_to_end(b)] == [b"b"] * 3


@pytest.mark.parametrize("epoch", SINKS)
def test_message_without_any_topic_is_a_clear_error(kafka_bootstrap, epoch):
    # bytewax wraps errors of dynamic sinks, and re-raises those of fixed ones
    with pytest.raises((BytewaxRuntimeError, ValueError)) as info:
        write([KafkaSinkMessage(None, b"x")], make_sink(epoch, [kafka_bootstrap], None))
    assert "no topic" in "".join(_chain(info.value))


def _chain(exc: BaseException) -> list[str]:
    out = []
    e: BaseException | None = exc
    while e is not None:
        out.append(str(e))
        e = e.__cause__ or e.__context__
    return out


@pytest.mark.parametrize("epoch", SINKS)
def test_source_messages_are_converted(kafka_bootstrap, topic_factory, kafka_read_to_end, epoch):
    topic = topic_factory()
    src = KafkaSourceMessage(b"k", b"v", "elsewhere", [("h", b"1")], None, 5, 0, (1, 1_650_000_000_000))
    write([src], make_sink(epoch, [kafka_bootstrap], topic))
    (r,) = kafka_read_to_end(topic)
    assert (r.key, r.value, r.headers, r.timestamp) == (b"k", b"v", [("h", b"1")], 1_650_000_000_000)


@pytest.mark.parametrize("epoch", SINKS)
def test_failed_delivery_fails_the_flow(epoch):
    # Field notes defect 2: the reference ends "successfully" and the message is gone.
    dead = f"127.0.0.1:{free_port()}"
    t = time.monotonic()
    with pytest.raises((BytewaxRuntimeError, KafkaDeliveryError)) as info:
        write(
            [KafkaSinkMessage(None, b"x")], make_sink(epoch, [dead], "nowhere", {"message.timeout.ms": 2000})
        )
    text = "".join(_chain(info.value))
    assert "delivery to topic 'nowhere'" in text
    assert isinstance(_root(info.value), KafkaDeliveryError)
    assert "timed out" in text.lower()
    assert time.monotonic() - t < 30


def _root(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


@pytest.mark.parametrize("epoch", SINKS)
def test_full_local_queue_is_waited_out_not_crashed(kafka_bootstrap, topic_factory, kafka_read_to_end, epoch):
    # Field notes defect 6: BufferError crashed the reference.
    topic = topic_factory()
    items = [KafkaSinkMessage(None, str(i).encode()) for i in range(3000)]
    write(
        items,
        make_sink(epoch, [kafka_bootstrap], topic, {"queue.buffering.max.messages": 50}),
        batch_size=500,
    )
    assert len(kafka_read_to_end(topic)) == 3000


def test_epoch_sink_flushes_per_epoch_not_per_batch(
    kafka_bootstrap, topic_factory, kafka_read_to_end, monkeypatch
):
    # Field notes defect 5: the reference flushes after every batch.
    flushes = []
    real = producer_mod.DeliveringProducer.flush

    def counting(self):
        flushes.append(time.monotonic())
        real(self)

    monkeypatch.setattr(producer_mod.DeliveringProducer, "flush", counting)
    topic = topic_factory()
    items = [KafkaSinkMessage(None, str(i).encode()) for i in range(2000)]
    from datetime import timedelta

    write(
        items, KafkaEpochSink([kafka_bootstrap], topic), batch_size=10, epoch_interval=timedelta(seconds=60)
    )
    assert len(kafka_read_to_end(topic)) == 2000
    # 200 batches, one epoch: a flush per part per snapshot/close, never one per batch.
    assert len(flushes) < 200 / 4


def test_dynamic_sink_delivers_each_batch_before_returning(kafka_bootstrap, topic_factory, monkeypatch):
    calls = []
    real_flush = producer_mod.DeliveringProducer.flush

    def spy(self):
        real_flush(self)
        calls.append(len(self.producer))  # nothing left in the queue after write_batch

    monkeypatch.setattr(producer_mod.DeliveringProducer, "flush", spy)
    topic = topic_factory()
    write([KafkaSinkMessage(None, b"x")] * 100, KafkaSink([kafka_bootstrap], topic), batch_size=10)
    assert calls
    assert all(n == 0 for n in calls)


def test_delivery_error_names_topic_partition_and_cause():
    err = KafkaDeliveryError("orders", 3, "Broker: Message size too large", failed=4)
    assert "orders" in str(err)
    assert "partition 3" in str(err)
    assert "too large" in str(err)
    assert "3 more failed" in str(err)


@pytest.mark.parametrize("epoch", SINKS)
def test_users_on_delivery_gets_every_report(kafka_bootstrap, topic_factory, kafka_read_to_end, epoch):
    # Our producers ask librdkafka for failed reports only; a callback of the
    # user's own still sees each delivery, as it would on a plain Producer.
    topic = topic_factory()
    reports: list[tuple[object, bytes]] = []
    sink = make_sink(
        epoch, [kafka_bootstrap], topic, {"on_delivery": lambda err, msg: reports.append((err, msg.value()))}
    )
    write([KafkaSinkMessage(None, str(i).encode()) for i in range(100)], sink)
    assert sorted(v for _e, v in reports) == sorted(str(i).encode() for i in range(100))
    assert all(e is None for e, _v in reports)
    assert len(kafka_read_to_end(topic)) == 100


@pytest.mark.parametrize("epoch", SINKS)
def test_failed_delivery_fails_the_flow_with_a_users_callback_too(epoch):
    dead = f"127.0.0.1:{free_port()}"
    reports: list[object] = []
    conf = {"message.timeout.ms": 2000, "on_delivery": lambda err, msg: reports.append(err)}
    with pytest.raises((BytewaxRuntimeError, KafkaDeliveryError)) as info:
        write([KafkaSinkMessage(None, b"x")], make_sink(epoch, [dead], "nowhere", conf))
    assert isinstance(_root(info.value), KafkaDeliveryError)
    assert len(reports) == 1
    assert reports[0] is not None


def test_successful_deliveries_do_not_call_back_by_default(kafka_bootstrap, topic_factory, monkeypatch):
    calls = []
    real = producer_mod.DeliveringProducer._on_delivery

    def counting(self, err, msg):
        calls.append(err)
        real(self, err, msg)

    monkeypatch.setattr(producer_mod.DeliveringProducer, "_on_delivery", counting)
    topic = topic_factory()
    p = producer_mod.DeliveringProducer({"bootstrap.servers": kafka_bootstrap}, topic)
    assert p.config["delivery.report.only.error"] is True
    p.produce_batch([KafkaSinkMessage(None, b"x")] * 200)
    p.flush()
    assert calls == []
