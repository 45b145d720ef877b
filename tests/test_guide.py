"""The user guide's code blocks run against our packages, with only the import path changed.

Each block of the Kafka guide (``seed-kafka-guide.md``) is copied below
verbatim and adapted mechanically by :func:`adapt`:

- imports of ``bytewax.connectors.kafka`` become ``bytewax_kafka.core`` /
  ``bytewax_kafka.operators`` / ``bytewax_kafka.serde``;
- ``"localhost:19092"`` and the topic names become the test broker and
  fresh topics;
- ``tail=False`` is added to the inputs so the flows end, and the guide's
  ``...`` placeholders are filled with real arguments (a mock schema-registry
  client for ``SchemaRegistryClient(...)``).

Every substitution must apply (so the copies cannot drift from what is
tested), and ``test_blocks_are_the_guides`` checks the copies against the
guide itself when it is available (``$BYTEWAX_KAFKA_GUIDE``, default
``/work/shared/seed-kafka-guide.md``). Each flow then really runs against the
session's broker, and what it wrote is read back.
"""

from __future__ import annotations

import os
import re
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bytewax.operators as op
import orjson
import pytest
from bytewax.dataflow import Dataflow
from bytewax.errors import BytewaxRuntimeError
from bytewax.testing import TestingSource, run_main
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from bytewax_kafka import operators as kop
from bytewax_kafka.core import KafkaSinkMessage
from bytewax_kafka.serde import PlainAvroSerializer
from docblocks import collect, python_blocks, run_block

TopicFactory = Callable[..., str]
Reader = Callable[..., list[Any]]
Produce = Callable[..., int]

GUIDE = Path(os.environ.get("BYTEWAX_KAFKA_GUIDE", "/work/shared/seed-kafka-guide.md"))

# -- the guide's blocks, verbatim ---------------------------------------------------

CONNECT_SOURCE_SINK = """\
from bytewax.connectors.kafka import KafkaSource, KafkaSink, KafkaSinkMessage
from bytewax import operators as op
from bytewax.dataflow import Dataflow

brokers = ["localhost:19092"]
flow = Dataflow("example")
kinp = op.input("kafka-in", flow, KafkaSource(brokers, ["in-topic"]))
processed = op.map("map", kinp, lambda x: KafkaSinkMessage(x.key, x.value))
op.output("kafka-out", processed, KafkaSink(brokers, "out-topic"))
"""

CONNECT_OPERATORS = """\
from bytewax.connectors.kafka import operators as kop, KafkaSinkMessage
from bytewax import operators as op
from bytewax.dataflow import Dataflow

brokers = ["localhost:19092"]
flow = Dataflow("example")
kinp = kop.input("kafka-in", flow, brokers=brokers, topics=["in-topic"])
processed = op.map("map", kinp.oks, lambda x: KafkaSinkMessage(x.key, x.value))
kop.output("kafka-out", processed, brokers=brokers, topic="out-topic")
"""

ERROR_HANDLING = """\
flow = Dataflow("example")
kinp = kop.input("kafka-in-2", flow, brokers=brokers, topics=["in-topic"])
# Print out errors that are encountered, and then raise an exception
op.inspect("inspect_err", kinp.errs).then(op.raises, "raise_errors")
"""

SINK_MESSAGE = """\
msg = KafkaSinkMessage(key=None, value="some_value")
"""

DYNAMIC_OUTPUT = """\
op.output("kafka-dynamic-out", processed, KafkaSink(brokers, topic=None))
"""

DYNAMIC_MESSAGE = """\
KafkaSinkMessage(msg.key, msg.value, topic="out-topic-1")
"""

CONSUMER_GROUP = """\
from confluent_kafka import OFFSET_STORED

add_config = {"group.id": "consumer_group", "enable.auto.commit": "true"}
BROKERS = ["localhost:19092"]
IN_TOPICS = ["in_topic"]

flow = Dataflow("kafka_in_out")
kinp = kop.input(
    "inp",
    flow,
    starting_offset=OFFSET_STORED,
    add_config=add_config,
    brokers=BROKERS,
    topics=IN_TOPICS,
)
"""

REGISTRY_CONFLUENT = """\
from bytewax.dataflow import Dataflow
from bytewax.connectors.kafka import operators as kop
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer

client = SchemaRegistryClient(...)
# We don't need to specify the schema, as the client handles that on its own
# if you are serializing messages with confluent's library, that uses
# a custom wire format that includes schema_id in each message.
key_de = AvroDeserializer(client)
val_de = AvroDeserializer(client)

# Initialize the flow, read from kafka, and deserialize messages
flow = Dataflow("schema_registry")
kinp = kop.input("kafka-in", flow, ...)
msgs = kop.deserialize("de", kinp.oks, key_deserializer=key_de, val_deserializer=val_de)
"""

REGISTRY_PLAIN_AVRO = """\
client = SchemaRegistryClient(...)

# Here we do need to specify the schema we want to use, as the schema_id
# is not included in plain avro messages. We can use the client to retrieve
# the schema and pass it to the deserializers:
key_schema = client.get_latest_version("sensor_key").schema
key_de = PlainAvroDeserializer(schema=key_schema.schema_str)
val_schema = client.get_latest_version("sensor_value").schema
val_de = PlainAvroDeserializer(schema=val_schema.schema_str)

# Same as before...
flow = Dataflow("schema_registry")
kinp = kop.input("kafka-in", flow, ...)
msgs = kop.deserialize("de", kinp.oks, key_deserializer=key_de, val_deserializer=val_de)
"""

ORJSON = """\
import orjson

from typing import Dict, Any

from bytewax import operators as op
from bytewax.connectors.kafka.serde import SchemaDeserializer

from bytewax.connectors.kafka import operators as kop, KafkaSinkMessage, KafkaSink
from bytewax.dataflow import Dataflow

BROKERS = ["localhost:19092"]
IN_TOPICS = ["in_topic"]


class KeyDeserializer(SchemaDeserializer[bytes, str]):
    def de(self, obj: bytes) -> str:
        return str(obj)


class JSONDeserializer(SchemaDeserializer[bytes, Dict]):
    def de(self, obj: bytes) -> Dict[Any, Any]:
        return orjson.loads(obj)


brokers = ["localhost:19092"]
val_de = JSONDeserializer()
key_de = KeyDeserializer()

flow = Dataflow("example")
kinp = kop.input("kafka-in", flow, brokers=brokers, topics=["in-topic"])
json_stream = kop.deserialize(
    "load_json", kinp.oks, key_deserializer=key_de, val_deserializer=val_de
)
op.inspect("inspect", json_stream.oks)
"""

BLOCKS = [
    CONNECT_SOURCE_SINK,
    CONNECT_OPERATORS,
    ERROR_HANDLING,
    SINK_MESSAGE,
    DYNAMIC_OUTPUT,
    DYNAMIC_MESSAGE,
    CONSUMER_GROUP,
    REGISTRY_CONFLUENT,
    REGISTRY_PLAIN_AVRO,
    ORJSON,
]

# -- adapting them ------------------------------------------------------------------

_SERDE_NAMES = {"SchemaSerializer", "SchemaDeserializer", "PlainAvroSerializer", "PlainAvroDeserializer"}


def _rewrite_import(line: str) -> str:
    m = re.fullmatch(r"from bytewax\.connectors\.kafka(\.serde|\.operators)? import (.+)", line)
    if m is None:
        return line
    module, names = m.group(1), [n.strip() for n in m.group(2).split(",")]
    if module == ".serde":
        return f"from bytewax_kafka.serde import {', '.join(names)}"
    if module == ".operators":
        return f"from bytewax_kafka.operators import {', '.join(names)}"
    out = []
    if any(n.split(" as ")[0] == "operators" for n in names):
        alias = next(n for n in names if n.split(" as ")[0] == "operators")
        out.append(f"from bytewax_kafka import {alias}")
    serde = [n for n in names if n in _SERDE_NAMES]
    core = [n for n in names if n not in serde and n.split(" as ")[0] != "operators"]
    if core:
        out.append(f"from bytewax_kafka.core import {', '.join(core)}")
    if serde:
        out.append(f"from bytewax_kafka.serde import {', '.join(serde)}")
    return "\n".join(out)


def adapt(code: str, subs: dict[str, str]) -> str:
    """Rewrite imports, then apply ``subs`` (each must match at least once)."""
    code = "\n".join(_rewrite_import(line) for line in code.splitlines()) + "\n"
    assert "bytewax.connectors" not in code
    for old, new in subs.items():
        assert old in code, f"{old!r} not found in the block"
        code = code.replace(old, new)
    return code


# -- the guide's own text -------------------------------------------------------------


def test_blocks_are_the_guides() -> None:
    if not GUIDE.exists():
        pytest.skip(f"guide not found at {GUIDE} (set BYTEWAX_KAFKA_GUIDE)")
    assert [textwrap.dedent(b) for b in python_blocks(GUIDE)] == BLOCKS


# -- connecting --------------------------------------------------------------------------


@pytest.fixture
def brokers(kafka_bootstrap: str) -> str:
    return kafka_bootstrap


def test_source_and_sink(
    brokers: str, topic_factory: TopicFactory, kafka_produce: Produce, kafka_read_to_end: Reader
) -> None:
    src, dst = topic_factory(partitions=2), topic_factory()
    sent = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(20)]
    kafka_produce(src, sent)
    code = adapt(
        CONNECT_SOURCE_SINK,
        {
            '"localhost:19092"': repr(brokers),
            'KafkaSource(brokers, ["in-topic"])': f"KafkaSource(brokers, [{src!r}], tail=False)",
            '"out-topic"': repr(dst),
        },
    )
    ns = run_block(code, {})
    run_main(ns["flow"])
    assert sorted((r.key, r.value) for r in kafka_read_to_end(dst)) == sorted(sent)


def operators_subs(brokers: str, src: str, dst: str) -> dict[str, str]:
    return {
        '"localhost:19092"': repr(brokers),
        'topics=["in-topic"]': f"topics=[{src!r}], tail=False",
        '"out-topic"': repr(dst),
    }


def test_operators(
    brokers: str, topic_factory: TopicFactory, kafka_produce: Produce, kafka_read_to_end: Reader
) -> None:
    src, dst = topic_factory(partitions=3), topic_factory()
    sent = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(30)]
    kafka_produce(src, sent)
    ns = run_block(adapt(CONNECT_OPERATORS, operators_subs(brokers, src, dst)), {})
    run_main(ns["flow"])
    assert sorted((r.key, r.value) for r in kafka_read_to_end(dst)) == sorted(sent)


def test_error_handling(
    brokers: str, topic_factory: TopicFactory, kafka_produce: Produce, capsys: pytest.CaptureFixture[str]
) -> None:
    src, dst = topic_factory(), topic_factory()
    kafka_produce(src, [b"a", b"b"])
    ns = run_block(adapt(CONNECT_OPERATORS, operators_subs(brokers, src, dst)), {})
    run_block(adapt(ERROR_HANDLING, {'topics=["in-topic"]': f"topics=[{src!r}], tail=False"}), ns)
    oks = collect(ns["kinp"].oks, "oks")
    run_main(ns["flow"])  # no consumer error: nothing raised
    assert [m.value for m in oks] == [b"a", b"b"]
    assert "inspect_err" not in capsys.readouterr().out


def test_error_handling_raises_on_errors() -> None:
    # What the block attaches to `.errs` stops the flow on an error item.
    from confluent_kafka import KafkaError as CKError

    from bytewax_kafka.core import KafkaError, KafkaSourceMessage

    err = KafkaError(CKError(CKError._MSG_TIMED_OUT, "boom"), KafkaSourceMessage(None, None, "t"))
    flow = Dataflow("example")
    errs = op.input("errs", flow, TestingSource([err]))
    op.inspect("inspect_err", errs).then(op.raises, "raise_errors")
    with pytest.raises(BytewaxRuntimeError):
        run_main(flow)


def test_sink_message(brokers: str, topic_factory: TopicFactory, kafka_read_to_end: Reader) -> None:
    ns = run_block(adapt(CONNECT_OPERATORS, operators_subs(brokers, "unused", "unused")), {})
    run_block(adapt(SINK_MESSAGE, {}), ns)
    dst = topic_factory()
    flow = Dataflow("sink_message")
    kop.output("out", op.input("inp", flow, TestingSource([ns["msg"]])), brokers=[brokers], topic=dst)
    run_main(flow)
    assert [(r.key, r.value) for r in kafka_read_to_end(dst)] == [(None, b"some_value")]


def test_dynamic_topic_writes(
    brokers: str, topic_factory: TopicFactory, kafka_produce: Produce, kafka_read_to_end: Reader
) -> None:
    src, dst = topic_factory(), topic_factory(partitions=2)
    sent = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(10)]
    kafka_produce(src, sent)
    # The connection block defines brokers, op, KafkaSink, KafkaSinkMessage.
    ns = run_block(
        adapt(
            CONNECT_SOURCE_SINK,
            {
                '"localhost:19092"': repr(brokers),
                'KafkaSource(brokers, ["in-topic"])': f"KafkaSource(brokers, [{src!r}], tail=False)",
                '"out-topic"': repr("unused"),
            },
        ),
        {},
    )
    to_sink = adapt(DYNAMIC_MESSAGE, {'"out-topic-1"': repr(dst)}).strip()
    run_block(f"def to_sink(msg):\n    return {to_sink}\n", ns)
    ns["flow"] = flow = Dataflow("dynamic")
    ns["processed"] = op.map(
        "map", op.input("in", flow, ns["KafkaSource"](ns["brokers"], [src], tail=False)), ns["to_sink"]
    )
    run_block(adapt(DYNAMIC_OUTPUT, {}), ns)
    run_main(flow)
    assert sorted((r.key, r.value) for r in kafka_read_to_end(dst)) == sorted(sent)

    # "not setting a topic ... will result in a runtime error"
    flow = Dataflow("dynamic_no_topic")
    ns["processed"] = op.input("in", flow, TestingSource([KafkaSinkMessage(b"k", b"v")]))
    run_block(adapt(DYNAMIC_OUTPUT, {}), ns)
    with pytest.raises(BytewaxRuntimeError):
        run_main(flow)


# -- consumer groups -------------------------------------------------------------------


def test_consumer_group_recipe(brokers: str, topic_factory: TopicFactory, kafka_produce: Produce) -> None:
    src = topic_factory(partitions=2)
    group = f"consumer_group_{uuid.uuid4().hex}"
    base = {"Dataflow": Dataflow, "kop": kop}
    subs = {
        '"localhost:19092"': repr(brokers),
        '"in_topic"': repr(src),
        '"consumer_group"': repr(group),
        "    topics=IN_TOPICS,\n": "    topics=IN_TOPICS,\n    tail=False,\n",
    }

    def run_once() -> list[bytes]:
        ns = run_block(adapt(CONSUMER_GROUP, subs), dict(base))
        got = collect(ns["kinp"].oks, "got")
        run_main(ns["flow"])
        return sorted(m.value for m in got)

    kafka_produce(src, [f"first-{i}".encode() for i in range(6)])
    assert run_once() == sorted(f"first-{i}".encode() for i in range(6))
    # The group's committed offsets make the next run start after them.
    kafka_produce(src, [f"second-{i}".encode() for i in range(4)])
    assert run_once() == sorted(f"second-{i}".encode() for i in range(4))
    assert run_once() == []


# -- serialization --------------------------------------------------------------------

KEY_SCHEMA = '{"type": "record", "name": "SensorKey", "fields": [{"name": "id", "type": "string"}]}'
VALUE_SCHEMA = """{"type": "record", "name": "Reading", "fields": [
    {"name": "id", "type": "string"}, {"name": "temp", "type": "double"}]}"""


def readings(n: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [({"id": f"s{i}"}, {"id": f"s{i}", "temp": 20.0 + i / 4}) for i in range(n)]


def registry_subs(brokers: str, src: str) -> dict[str, str]:
    return {
        "SchemaRegistryClient(...)": "make_registry_client()",
        'kop.input("kafka-in", flow, ...)': (
            f'kop.input("kafka-in", flow, brokers=[{brokers!r}], topics=[{src!r}], tail=False)'
        ),
    }


def test_schema_registry_wire_format(
    brokers: str, topic_factory: TopicFactory, kafka_produce: Produce
) -> None:
    src = topic_factory(partitions=2)
    client = SchemaRegistryClient.new_client({"url": f"mock://{uuid.uuid4().hex}"})
    key_ser, val_ser = AvroSerializer(client, KEY_SCHEMA), AvroSerializer(client, VALUE_SCHEMA)
    data = readings(12)
    kafka_produce(
        src,
        [
            (
                key_ser(k, SerializationContext(src, MessageField.KEY)),
                val_ser(v, SerializationContext(src, MessageField.VALUE)),
            )
            for k, v in data
        ],
    )
    ns = run_block(
        adapt(REGISTRY_CONFLUENT, registry_subs(brokers, src)), {"make_registry_client": lambda: client}
    )
    got, errs = collect(ns["msgs"].oks, "got"), collect(ns["msgs"].errs, "errs")
    run_main(ns["flow"])
    assert errs == []
    assert sorted((m.key["id"], m.value["temp"]) for m in got) == sorted(
        (k["id"], v["temp"]) for k, v in data
    )


def test_schema_registry_plain_avro(
    brokers: str, topic_factory: TopicFactory, kafka_produce: Produce
) -> None:
    src = topic_factory()
    client = SchemaRegistryClient.new_client({"url": f"mock://{uuid.uuid4().hex}"})
    client.register_schema("sensor_key", Schema(KEY_SCHEMA, "AVRO"))
    client.register_schema("sensor_value", Schema(VALUE_SCHEMA, "AVRO"))
    key_ser, val_ser = PlainAvroSerializer(KEY_SCHEMA), PlainAvroSerializer(VALUE_SCHEMA)
    data = readings(9)
    kafka_produce(src, [(key_ser(k), val_ser(v)) for k, v in data])
    # The block uses PlainAvroDeserializer without importing it: add the import.
    block = "from bytewax.connectors.kafka.serde import PlainAvroDeserializer\n" + REGISTRY_PLAIN_AVRO
    ns = run_block(
        adapt(block, registry_subs(brokers, src)),
        {"make_registry_client": lambda: client, "Dataflow": Dataflow, "kop": kop},
    )
    got, errs = collect(ns["msgs"].oks, "got"), collect(ns["msgs"].errs, "errs")
    run_main(ns["flow"])
    assert errs == []
    assert [(m.key, m.value) for m in got] == [(k, v) for k, v in data]


def test_custom_orjson_deserializer(
    brokers: str, topic_factory: TopicFactory, kafka_produce: Produce, capsys: pytest.CaptureFixture[str]
) -> None:
    src = topic_factory()
    docs = [{"sensor": f"s{i}", "v": i} for i in range(5)]
    kafka_produce(
        src, [(f"k{i}".encode(), orjson.dumps(d)) for i, d in enumerate(docs)] + [(b"bad", b"{nope")]
    )
    code = adapt(
        ORJSON,
        {
            '"localhost:19092"': repr(brokers),
            '"in_topic"': repr(src),
            'topics=["in-topic"]': f"topics=[{src!r}], tail=False",
        },
    )
    ns = run_block(code, {})
    got, errs = collect(ns["json_stream"].oks, "got"), collect(ns["json_stream"].errs, "errs")
    run_main(ns["flow"])
    assert [(m.key, m.value) for m in got] == [(str(f"k{i}".encode()), d) for i, d in enumerate(docs)]
    assert [e.msg.value for e in errs] == [b"{nope"]
    printed = capsys.readouterr().out
    assert printed.count("example.inspect: KafkaSourceMessage(") == len(docs)
    assert "{'sensor': 's0', 'v': 0}" in printed
