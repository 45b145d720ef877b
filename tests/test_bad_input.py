"""Bad input through a real broker: garbage records, oversized messages, misconfiguration.

- Hypothesis-generated records (garbage and empty keys and values, None
  keys, tombstones, invalid UTF-8, headers with None values) are produced to
  the session's broker and read by ``kop.input`` into ``kop.deserialize``
  with several deserializers, and written back by ``kop.output``. Every
  record must come out of the source exactly as produced, out of each
  deserializer as one ok or one err (never a crash), and back on Kafka
  byte for byte. (``packages/kafka-operators/tests/test_operators_properties.py``
  covers every deserializer on in-memory items; this adds the broker, the
  headers and the sink.)
- A message larger than the topic or the producer accepts stops the flow
  with a KafkaDeliveryError naming the topic and the size.
- Wrong types, unknown settings and conflicting settings fail with a
  KafkaConfigError naming the setting when the flow starts, before any
  message is read or written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import StringDeserializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bytewax_kafka import operators as kop
from bytewax_kafka.core import (
    KafkaEpochSink,
    KafkaSink,
    KafkaSinkMessage,
    KafkaSource,
)
from bytewax_kafka.serde import GuardedDeserializer, JsonDeserializer

REGISTRY = SchemaRegistryClient.new_client({"url": "mock://bad-input"})
SCHEMA_ID = REGISTRY.register_schema("t-value", Schema(json.dumps("string"), "AVRO"))

DESERIALIZERS: dict[str, Any] = {
    "utf8": StringDeserializer("utf_8"),
    "json": JsonDeserializer(),
    "registry_avro": GuardedDeserializer(AvroDeserializer(REGISTRY)),
}

INVALID_UTF8 = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf0\x28\x8c\xbc", b"abc\x80"]
raw = st.one_of(
    st.none(),
    st.just(b""),
    st.binary(max_size=64),
    st.sampled_from(INVALID_UTF8),
    st.text(max_size=16).map(str.encode),
    st.builds(
        lambda d: json.dumps(d).encode(), st.dictionaries(st.text(max_size=4), st.integers(), max_size=3)
    ),
    st.builds(lambda rest: b"\x00" + SCHEMA_ID.to_bytes(4, "big") + rest, st.binary(max_size=16)),
)
# Header names are C strings to librdkafka: a NUL ends the name (any producer, ours too).
# No lone surrogates either: they crash confluent's producer, which produces these records
# (our sink refuses them: test_unsendable_message_is_a_clear_error_not_a_crash).
header_names = st.text(
    alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=8
)
headers = st.lists(st.tuples(header_names, st.one_of(st.none(), st.binary(max_size=16))), max_size=4)
records = st.lists(st.tuples(raw, raw, headers), min_size=1, max_size=25)


def _produce(bootstrap: str, topic: str, batch: list[tuple[Any, Any, list[Any]]]) -> list[int]:
    """Produce ``batch`` to partition 0; the offsets, in order."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    offsets: list[int] = []
    failed: list[Any] = []

    def done(err: Any, msg: Any) -> None:
        if err is not None:
            failed.append(err)
        else:
            offsets.append(msg.offset())

    for key, value, hdrs in batch:
        producer.produce(topic, value=value, key=key, partition=0, headers=hdrs or None, on_delivery=done)
    assert producer.flush(30) == 0
    assert not failed, failed
    return sorted(offsets)


def _norm(hdrs: Any) -> list[tuple[str, bytes | None]]:
    return list(hdrs or [])


def test_garbage_records_all_come_out_as_oks_or_errs(kafka_bootstrap, topic_factory, kafka_read_to_end):
    src = topic_factory(partitions=1)
    dst = topic_factory(partitions=1)
    watermarks = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": "bad-input"})

    @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
    @given(records)
    def check(batch: list[tuple[Any, Any, list[Any]]]) -> None:
        offsets = _produce(kafka_bootstrap, src, batch)
        by_offset = dict(zip(offsets, batch, strict=True))
        flow = Dataflow("bad_input")
        kinp = kop.input(
            "in", flow, brokers=[kafka_bootstrap], topics=[src], tail=False, starting_offset=offsets[0]
        )
        read: list[Any] = []
        consumer_errs: list[Any] = []
        op.output("read", kinp.oks, TestingSink(read))
        op.output("consumer_errs", kinp.errs, TestingSink(consumer_errs))
        results: dict[str, tuple[list[Any], list[Any]]] = {}
        for name, de in DESERIALIZERS.items():
            out = kop.deserialize(f"de_{name}", kinp.oks, key_deserializer=de, val_deserializer=de)
            results[name] = ([], [])
            op.output(f"oks_{name}", out.oks, TestingSink(results[name][0]))
            op.output(f"errs_{name}", out.errs, TestingSink(results[name][1]))
        kop.output("out", kinp.oks, brokers=[kafka_bootstrap], topic=dst)
        written = watermarks.get_watermark_offsets(TopicPartition(dst, 0), timeout=10, cached=False)[1]
        run_main(flow)

        # The source hands out every record exactly as produced, headers included.
        assert not consumer_errs
        assert [m.offset for m in read] == offsets
        for m in read:
            key, value, hdrs = by_offset[m.offset]
            assert (m.key, m.value, _norm(m.headers)) == (key, value, _norm(hdrs))
        # Each deserializer: one ok or one err per record, never a crash.
        for name, (oks, errs) in results.items():
            got = sorted([m.offset for m in oks] + [e.msg.offset for e in errs])
            assert got == offsets, name
            for m in oks:
                key, value, _ = by_offset[m.offset]
                assert (m.key is None) == (key is None), name  # None is passed through, never decoded
                assert (m.value is None) == (value is None), name
            for e in errs:
                key, value, hdrs = by_offset[e.msg.offset]
                assert (e.msg.key, e.msg.value) == (key, value), name  # the original bytes
        # The sink writes them back byte for byte.
        back = [r for r in kafka_read_to_end(dst) if r.offset >= written]
        assert [(r.key, r.value, _norm(r.headers)) for r in back] == [(k, v, _norm(h)) for k, v, h in batch]

    try:
        check()
    finally:
        watermarks.close()


# -- oversized messages -----------------------------------------------------------


def _write(items: list[Any], sink: Any) -> None:
    flow = Dataflow("write")
    up = op.input("in", flow, TestingSource(items))
    if isinstance(sink, KafkaEpochSink):
        up = op.key_on("route", up, lambda _m: "all")
    op.output("out", up, sink)
    run_main(flow)


def _chain(exc: BaseException | None) -> str:
    out = []
    while exc is not None:
        out.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return "\n".join(out)


@pytest.mark.parametrize("sink_type", [KafkaSink, KafkaEpochSink])
def test_message_larger_than_the_topic_accepts(sink_type, kafka_bootstrap, topic_factory, kafka_read_to_end):
    topic = topic_factory(partitions=1, config={"max.message.bytes": "2048"})
    items = [KafkaSinkMessage(b"k", b"small"), KafkaSinkMessage(b"k", b"x" * 10_000)]
    with pytest.raises(Exception) as info:  # noqa: PT011 - bytewax wraps ours
        _write(items, sink_type([kafka_bootstrap], topic))
    text = _chain(info.value)
    assert "KafkaDeliveryError" in text
    assert f"delivery to topic {topic!r}" in text
    assert "Message size too large" in text
    assert "largest message refused: 10001 bytes" in text
    assert "max.message.bytes" in text


@pytest.mark.parametrize("sink_type", [KafkaSink, KafkaEpochSink])
def test_message_larger_than_the_producer_accepts(sink_type, kafka_bootstrap, topic_factory):
    topic = topic_factory(partitions=1)
    items = [KafkaSinkMessage(None, b"x" * 2_000_000)]
    with pytest.raises(Exception) as info:  # noqa: PT011
        _write(items, sink_type([kafka_bootstrap], topic))
    text = _chain(info.value)
    assert "KafkaDeliveryError" in text
    assert f"delivery to topic {topic!r}" in text
    assert "message of 2000000 bytes" in text
    assert "message.max.bytes is 1000000" in text


# Messages the client cannot send. A lone surrogate in a header name crashed
# the process (SIGSEGV in confluent-kafka's produce()); a bytes header name was
# sent as its repr. Each runs in its own process, so a crash shows as one.
UNSENDABLE = {
    "surrogate-header-name": "KafkaSinkMessage(None, b'v', headers=[('\\ud800', b'x')])",
    "bytes-header-name": "KafkaSinkMessage(None, b'v', headers=[(b'h', b'x')])",
    "int-header-value": "KafkaSinkMessage(None, b'v', headers=[('h', 5)])",
    "int-value": "KafkaSinkMessage(None, 5)",
    "surrogate-str-key": "KafkaSinkMessage('\\udcff', b'v')",
}


@pytest.mark.parametrize("case", sorted(UNSENDABLE))
def test_unsendable_message_is_a_clear_error_not_a_crash(
    case, kafka_bootstrap, topic_factory, kafka_read_to_end
):
    topic = topic_factory(partitions=1)
    script = (
        "import bytewax.operators as op\n"
        "from bytewax.dataflow import Dataflow\n"
        "from bytewax.testing import TestingSource, run_main\n"
        "from bytewax_kafka import operators as kop\n"
        "from bytewax_kafka.core import KafkaSinkMessage\n"
        "flow = Dataflow('unsendable')\n"
        f"up = op.input('in', flow, TestingSource([KafkaSinkMessage(None, b'ok'), {UNSENDABLE[case]}]))\n"
        f"kop.output('out', up, brokers=[{kafka_bootstrap!r}], topic={topic!r})\n"
        "run_main(flow)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 1, f"exit {run.returncode}:\n{run.stderr[-3000:]}"
    assert f"KafkaDeliveryError: delivery to topic {topic!r}" in run.stderr
    assert "the message cannot be sent" in run.stderr


# -- misconfiguration ---------------------------------------------------------------

# (settings, what the error must name)
BAD_PRODUCER = [
    ({"linger.ms": "soon"}, "linger.ms"),
    ({"linger.ms": [5]}, "linger.ms"),
    ({"acks": "most"}, "acks"),
    ({"not.a.setting": 1}, "not.a.setting"),
    (
        {"enable.idempotence": True, "acks": 0},
        "`acks` must be set to `all` when `enable.idempotence` is true",
    ),
    (
        {"transactional.id": "t", "enable.idempotence": False},
        "`transactional.id` requires `enable.idempotence",
    ),
    ({"enable.idempotence": True, "max.in.flight": 10}, "`max.in.flight` must be set <= 5"),
]
BAD_CONSUMER = [
    ({"enable.auto.commit": "maybe"}, "enable.auto.commit"),
    ({"isolation.level": "read_most"}, "isolation.level"),
    ({"auto.offset.reset": "middle"}, "auto.offset.reset"),
    ({"not.a.setting": 1}, "not.a.setting"),
    (
        {"fetch.max.bytes": 1000, "message.max.bytes": 100_000},
        "`fetch.max.bytes` must be >= `message.max.bytes`",
    ),
    (
        {"group.protocol": "consumer", "session.timeout.ms": 6000},
        "`session.timeout.ms` is not supported for `group.protocol=consumer`",
    ),
]


def _ids(cases: list[tuple[dict[str, Any], str]]) -> list[str]:
    return [",".join(c) for c, _ in cases]


# Every bad setting through kop.output; the first through each sink as well.
PRODUCER_CASES = [("kop.output", c, n) for c, n in BAD_PRODUCER] + [
    (how, *BAD_PRODUCER[0]) for how in ("KafkaSink", "KafkaEpochSink")
]


@pytest.mark.parametrize(
    ("how", "config", "named"), PRODUCER_CASES, ids=[f"{h}-{','.join(c)}" for h, c, _ in PRODUCER_CASES]
)
def test_bad_producer_settings_fail_at_start_naming_them(
    how, config, named, kafka_bootstrap, topic_factory, kafka_read_to_end
):
    topic = topic_factory(partitions=1)
    flow = Dataflow("misconfigured")
    up = op.input("in", flow, TestingSource([KafkaSinkMessage(None, b"x")]))
    if how == "kop.output":
        kop.output("out", up, brokers=[kafka_bootstrap], topic=topic, add_config=config)
    elif how == "KafkaEpochSink":
        op.output("out", op.key_on("k", up, lambda _m: "k"), KafkaEpochSink([kafka_bootstrap], topic, config))
    else:
        op.output("out", up, KafkaSink([kafka_bootstrap], topic, config))
    with pytest.raises(Exception) as info:  # noqa: PT011
        run_main(flow)
    text = _chain(info.value)
    assert "KafkaConfigError" in text
    assert named in text
    assert kafka_read_to_end(topic) == []  # nothing was written


@pytest.mark.parametrize(("config", "named"), BAD_CONSUMER, ids=_ids(BAD_CONSUMER))
def test_bad_consumer_settings_fail_at_start_naming_them(config, named, kafka_bootstrap, topic_factory):
    topic = topic_factory(partitions=1)
    flow = Dataflow("misconfigured")
    seen: list[Any] = []
    op.output(
        "out",
        op.input("in", flow, KafkaSource([kafka_bootstrap], [topic], add_config=config)),
        TestingSink(seen),
    )
    with pytest.raises(Exception) as info:  # noqa: PT011
        run_main(flow)
    text = _chain(info.value)
    assert "KafkaConfigError" in text
    assert named in text
    assert seen == []


@pytest.mark.parametrize(
    ("make", "error", "named"),
    [
        (
            lambda b: KafkaSource(b, ["t"], add_config=[("linger.ms", 5)]),
            TypeError,
            "add_config must be a dict",
        ),
        (lambda b: KafkaSource(b, ["t"], add_config={5: "x"}), TypeError, "add_config keys must be strings"),
        (lambda b: KafkaSource(b, ["t"], batch_size="10"), ValueError, "batch_size"),
        (lambda b: KafkaSource(b, ["t"], timeout=0), ValueError, "timeout"),
        (lambda b: KafkaSource(b, "t"), TypeError, "topics must be an iterable and not a string"),
        (lambda b: KafkaSink(b[0], "t"), TypeError, "brokers must be an iterable and not a string"),
        (lambda b: KafkaSink(b, ""), TypeError, "topic must be a non-empty str"),
    ],
)
def test_bad_parameters_fail_when_the_flow_is_built(make, error, named, kafka_bootstrap):
    with pytest.raises(error, match=named):
        make([kafka_bootstrap])
