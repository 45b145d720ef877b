"""Dead letters: the record layout, parsing it back, and the full recipe against a broker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bytewax.operators as op
import orjson
import pytest
from bytewax.dataflow import Dataflow
from bytewax.errors import BytewaxRuntimeError
from bytewax.testing import TestingSink, TestingSource, run_main
from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME
from confluent_kafka import KafkaError as CKError
from confluent_kafka.serialization import StringDeserializer, StringSerializer

from bytewax_kafka import operators as kop
from bytewax_kafka.core import KafkaError, KafkaSinkMessage, KafkaSourceMessage
from bytewax_kafka.operators import KafkaStepError, parse_dead_letter, to_dead_letter
from bytewax_kafka.serde import JsonDeserializer, JsonSerializer, PlainAvroSerializer, SchemaDeserializer

TopicFactory = Callable[..., str]
Reader = Callable[..., list[Any]]
Produce = Callable[..., int]


def as_read(rec: KafkaSinkMessage[Any, Any], offset: int = 0) -> KafkaSourceMessage[Any, Any]:
    """What a consumer of the dead-letter topic would see of ``rec``."""
    return KafkaSourceMessage(rec.key, rec.value, "dlq", list(rec.headers), offset=offset, partition=0)


def error(key: Any, value: Any, **kw: Any) -> KafkaError[Any, Any]:
    kw.setdefault("topic", "in")
    kw.setdefault("partition", 2)
    kw.setdefault("offset", 41)
    kw.setdefault("headers", [("h", b"1")])
    kw.setdefault("timestamp", (TIMESTAMP_CREATE_TIME, 1_700_000_000_123))
    return KafkaError(CKError(CKError._VALUE_DESERIALIZATION, "bad"), KafkaSourceMessage(key, value, **kw))


# -- layout -----------------------------------------------------------------------


def test_record_layout() -> None:
    err = KafkaStepError(
        CKError(CKError._VALUE_DESERIALIZATION, "value deserialization failed in step 'f.de': SerdeError: x"),
        KafkaSourceMessage(
            b"k",
            b"\xffraw",
            "in",
            [("h", b"1"), ("h", None)],
            offset=41,
            partition=2,
            timestamp=(TIMESTAMP_LOG_APPEND_TIME, 1_700_000_000_123),
        ),
        "f.de",
    )
    rec = to_dead_letter(err, "f.dlq")
    assert (rec.key, rec.value, rec.topic, rec.partition, rec.timestamp) == (b"k", b"\xffraw", None, None, 0)
    assert rec.headers == [
        ("dlq.error.code", str(CKError._VALUE_DESERIALIZATION).encode()),
        ("dlq.error.name", b"_VALUE_DESERIALIZATION"),
        ("dlq.error.reason", b"value deserialization failed in step 'f.de': SerdeError: x"),
        ("dlq.step_id", b"f.de"),
        ("dlq.source.topic", b"in"),
        ("dlq.source.partition", b"2"),
        ("dlq.source.offset", b"41"),
        ("dlq.source.timestamp", b"1700000000123"),
        ("dlq.source.timestamp.type", b"2"),
        ("dlq.key.encoding", b"bytes"),
        ("dlq.value.encoding", b"bytes"),
        ("dlq.source.headers", b"2"),
        ("h", b"1"),
        ("h", None),
    ]


def test_step_id_falls_back_to_the_dead_letter_step() -> None:
    rec = to_dead_letter(error(b"k", b"v"), "f.dlq")
    assert dict(rec.headers)["dlq.step_id"] == b"f.dlq"


def test_unknown_fields_are_empty() -> None:
    err = KafkaError(CKError(CKError._BAD_MSG, "x"), KafkaSourceMessage(None, None))
    headers = dict(to_dead_letter(err).headers)
    for name in ("dlq.source.topic", "dlq.source.partition", "dlq.source.offset", "dlq.source.timestamp"):
        assert headers[name] == b""
    back = parse_dead_letter(as_read(to_dead_letter(err)))
    assert back.msg == KafkaSourceMessage(None, None)


@pytest.mark.parametrize(
    ("key", "value", "encodings"),
    [
        (b"k", b"v", (b"bytes", b"bytes")),
        (None, None, (b"bytes", b"bytes")),
        ("ключ", "значение \udcff", (b"utf-8", b"utf-8")),
        (7, {"v": [1, 2.5, None, "x"]}, (b"json", b"json")),
    ],
    ids=["bytes", "none", "str", "json"],
)
def test_round_trip(key: Any, value: Any, encodings: tuple[bytes, bytes]) -> None:
    err = error(key, value)
    rec = to_dead_letter(err, "f.dlq")
    headers = dict(rec.headers)
    assert (headers["dlq.key.encoding"], headers["dlq.value.encoding"]) == encodings
    assert rec.key is None or isinstance(rec.key, bytes)
    assert rec.value is None or isinstance(rec.value, bytes)
    back = parse_dead_letter(as_read(rec))
    assert back.msg == err.msg
    assert back.err.code() == err.err.code()
    assert back.err.str() == err.err.str()
    assert back.step_id == "f.dlq"


def test_bytes_like_and_unencodable_objects() -> None:
    rec = to_dead_letter(error(bytearray(b"k"), {1, 2}))
    assert rec.key == b"k"
    assert rec.value == b"{1, 2}"
    assert dict(rec.headers)["dlq.value.encoding"] == b"repr"
    back = parse_dead_letter(as_read(rec))
    assert (back.msg.key, back.msg.value) == (b"k", "{1, 2}")


def test_original_dlq_headers_are_kept_apart() -> None:
    # A message whose own headers look like ours (e.g. it went through
    # another dead-letter queue): the count header tells them apart.
    err = error(b"k", b"v", headers=[("dlq.error.code", b"-1"), ("dlq.step_id", b"elsewhere")])
    back = parse_dead_letter(as_read(to_dead_letter(err, "f.dlq")))
    assert back.msg.headers == [("dlq.error.code", b"-1"), ("dlq.step_id", b"elsewhere")]
    assert back.step_id == "f.dlq"
    assert back.err.code() == CKError._VALUE_DESERIALIZATION


def test_parse_rejects_other_records() -> None:
    with pytest.raises(ValueError, match="not a dead-letter record"):
        parse_dead_letter(KafkaSourceMessage(b"k", b"v", "t", [("h", b"1")], offset=3, partition=0))
    rec = to_dead_letter(error(b"k", b"v"))
    broken = [(n, b"x" if n == "dlq.source.offset" else v) for n, v in rec.headers]
    with pytest.raises(ValueError, match="malformed dead-letter record at topic 'dlq' partition 0 offset 5"):
        parse_dead_letter(KafkaSourceMessage(rec.key, rec.value, "dlq", broken, offset=5, partition=0))
    lying = [(n, b"99" if n == "dlq.source.headers" else v) for n, v in rec.headers]
    with pytest.raises(ValueError, match=r"dlq\.source\.headers is 99"):
        parse_dead_letter(KafkaSourceMessage(rec.key, rec.value, "dlq", lying, offset=5, partition=0))


def test_to_dead_letter_rejects_other_items() -> None:
    with pytest.raises(TypeError, match="KafkaError items, got KafkaSourceMessage"):
        to_dead_letter(KafkaSourceMessage(b"k", b"v"))  # type: ignore[arg-type]


def test_dead_letter_needs_a_topic() -> None:
    flow = Dataflow("f")
    errs = op.input("inp", flow, TestingSource([]))
    with pytest.raises(TypeError, match="needs a topic name"):
        kop.dead_letter("dlq", errs, brokers=["127.0.0.1:9"], topic="")


def test_dead_letter_rejects_other_items(kafka_bootstrap: str) -> None:
    flow = Dataflow("f")
    kop.dead_letter("dlq", op.input("inp", flow, TestingSource([b"x"])), brokers=[kafka_bootstrap], topic="t")
    with pytest.raises(BytewaxRuntimeError):
        run_main(flow)


# -- the recipe against a broker -----------------------------------------------------


class LenientJson(SchemaDeserializer[bytes, Any]):
    """The "fix": text that is not JSON is kept as a string."""

    def de(self, obj: bytes) -> Any:
        try:
            return orjson.loads(obj)
        except orjson.JSONDecodeError:
            return {"raw": obj.decode("utf-8", "replace")}


def test_dead_letter_and_replay(
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    kafka_produce: Produce,
    kafka_read_to_end: Reader,
) -> None:
    brokers = [kafka_bootstrap]
    src, out, dlq = topic_factory(partitions=3), topic_factory(), topic_factory(partitions=2)
    sent: list[tuple[bytes, bytes]] = []
    for i in range(30):
        value = b'{"n": %d}' % i if i % 4 else b"not json %d" % i
        sent.append((f"k{i}".encode(), value))
    kafka_produce(src, sent, headers=[("origin", b"test")])
    originals = {(r.key, r.value): r for r in kafka_read_to_end(src)}
    bad = [kv for kv in sent if not kv[1].startswith(b"{")]

    # 1. The flow: good records to `out`, undecodable ones to the dead letters.
    flow = Dataflow("etl")
    kinp = kop.input("in", flow, brokers=brokers, topics=[src], tail=False)
    docs = kop.deserialize(
        "de", kinp.oks, key_deserializer=StringDeserializer(), val_deserializer=JsonDeserializer()
    )
    ser = kop.serialize(
        "ser", docs.oks, key_serializer=StringSerializer(), val_serializer=JsonSerializer(), topic=out
    )
    kop.output("out", ser.oks, brokers=brokers, topic=out)
    errs = op.merge("errs", kinp.errs, docs.errs, ser.errs)
    kop.dead_letter("dlq", errs, brokers=brokers, topic=dlq)
    run_main(flow)

    assert len(kafka_read_to_end(out)) == len(sent) - len(bad)
    dead = kafka_read_to_end(dlq)
    assert sorted((r.key, r.value) for r in dead) == sorted(bad)
    for r in dead:
        h = dict(r.headers)
        orig = originals[(r.key, r.value)]
        assert h["dlq.source.topic"] == src.encode()
        assert h["dlq.source.partition"] == str(orig.partition).encode()
        assert h["dlq.source.offset"] == str(orig.offset).encode()
        assert h["dlq.source.timestamp"] == str(orig.timestamp).encode()
        assert h["dlq.step_id"] == b"etl.de"
        assert h["dlq.error.name"] == b"_VALUE_DESERIALIZATION"
        assert h["dlq.error.code"] == str(CKError._VALUE_DESERIALIZATION).encode()
        assert h["dlq.error.reason"].startswith(
            b"value deserialization failed in step 'etl.de': SerdeError: "
        )
        assert r.headers[-1] == ("origin", b"test")

    # 2. Fix and replay: the dead letters, decoded leniently, to `out`.
    flow = Dataflow("replay")
    again = kop.replay_dead_letters("replay", flow, brokers=brokers, topic=dlq)
    replayed: list[Any] = []
    op.output("seen", again.oks, TestingSink(replayed))
    fixed = kop.deserialize(
        "de", again.oks, key_deserializer=StringDeserializer(), val_deserializer=LenientJson()
    )
    ser = kop.serialize(
        "ser", fixed.oks, key_serializer=StringSerializer(), val_serializer=JsonSerializer(), topic=out
    )
    kop.output("out", ser.oks, brokers=brokers, topic=out)
    still_failing: list[Any] = []
    op.output("failing", op.merge("errs", again.errs, fixed.errs, ser.errs), TestingSink(still_failing))
    run_main(flow)

    assert still_failing == []
    # The replayed messages are the originals: topic, partition, offset, headers, timestamp.
    for m in replayed:
        orig = originals[(m.key, m.value)]
        assert (m.topic, m.partition, m.offset, m.headers) == (src, orig.partition, orig.offset, orig.headers)
        assert m.timestamp is not None
        assert m.timestamp[1] == orig.timestamp
    assert len(replayed) == len(bad)
    final = {r.key.decode(): orjson.loads(r.value) for r in kafka_read_to_end(out)}
    assert len(final) == len(sent)
    for key, value in sent:
        expected = orjson.loads(value) if value.startswith(b"{") else {"raw": value.decode()}
        assert final[key.decode()] == expected


def test_serialization_errors_replay_as_objects(
    kafka_bootstrap: str, topic_factory: TopicFactory, kafka_read_to_end: Reader
) -> None:
    # A value that did not fit the schema is dead-lettered as JSON and comes
    # back as the same dict, ready for the fixed serializer.
    brokers = [kafka_bootstrap]
    out, dlq = topic_factory(), topic_factory()
    v1 = {"type": "record", "name": "R", "fields": [{"name": "v", "type": "int"}]}
    v2 = {"type": "record", "name": "R", "fields": [{"name": "v", "type": ["int", "string"]}]}
    docs = [KafkaSinkMessage(f"k{i}", {"v": i if i % 2 else f"s{i}"}) for i in range(6)]

    flow = Dataflow("write")
    ser = kop.serialize(
        "ser",
        op.input("docs", flow, TestingSource(docs)),
        key_serializer=StringSerializer(),
        val_serializer=PlainAvroSerializer(v1),
        topic=out,
    )
    kop.output("out", ser.oks, brokers=brokers, topic=out)
    kop.dead_letter("dlq", ser.errs, brokers=brokers, topic=dlq)
    run_main(flow)
    dead = kafka_read_to_end(dlq)
    assert len(dead) == 3
    assert {dict(r.headers)["dlq.value.encoding"] for r in dead} == {b"json"}
    assert {dict(r.headers)["dlq.key.encoding"] for r in dead} == {b"utf-8"}
    assert {dict(r.headers)["dlq.source.topic"] for r in dead} == {out.encode()}

    flow = Dataflow("replay")
    again = kop.replay_dead_letters("replay", flow, brokers=brokers, topic=dlq)
    ser = kop.serialize(
        "ser", again.oks, key_serializer=StringSerializer(), val_serializer=PlainAvroSerializer(v2), topic=out
    )
    kop.output("out", ser.oks, brokers=brokers, topic=out)
    run_main(flow)
    assert sorted(r.key for r in kafka_read_to_end(out)) == sorted(m.key.encode() for m in docs)


def test_replay_sends_foreign_records_to_errs(
    kafka_bootstrap: str, topic_factory: TopicFactory, kafka_produce: Produce
) -> None:
    dlq = topic_factory()
    kafka_produce(dlq, [(b"k", b"not a dead letter")])
    flow = Dataflow("replay")
    again = kop.replay_dead_letters("replay", flow, brokers=[kafka_bootstrap], topic=dlq)
    oks: list[Any] = []
    errs: list[Any] = []
    op.output("oks", again.oks, TestingSink(oks))
    op.output("errs", again.errs, TestingSink(errs))
    run_main(flow)
    assert oks == []
    assert len(errs) == 1
    assert errs[0].err.code() == CKError._BAD_MSG
    assert errs[0].step_id == "replay.replay"
    assert errs[0].msg.value == b"not a dead letter"
    assert "not a dead-letter record" in errs[0].err.str()
