r"""The dataflows under test, built from the cell kafka-bench hands them.

Each factory builds the same flow, Kafka -> map -> Kafka, with one
connector; kafka-bench starts it as its own process(es), with the cell in
``KAFKA_BENCH_CELL`` (:mod:`bytewax_kafka.bench.define.handoff`)::

    python -m bytewax.run bytewax_kafka.bench.flows:ours -w 1

Factories (the variants of :mod:`bytewax_kafka.bench.define.variants`):

- ``ours``: ``bytewax_kafka.operators`` ``input`` -> ``map`` -> ``output``;
  consumer and (de)serialization errors stop the flow. The cell's
  ``guarantee`` picks the delivery mode: at-least-once, ``CommitProgress``
  or ``ExactlyOnce``.
- ``ours_batches``: the same with ``input(..., batches=True)``: each item
  is a batch (a list of messages), the map runs over the list (values
  decoded and encoded inline when a ``serde`` is set).
- ``ours_group``: the operators flow as one replica of a consumer group
  (``input``/``output`` with ``consumer_group=``; kafka-bench starts one
  independent process per replica). Exactly-once with the cell's
  ``guarantee`` of ``exactly-once``, else at-least-once; the group is named
  after the output topic, so the replicas of a cell share it.
- ``ours_core``: ``KafkaSource`` -> ``map`` -> ``KafkaEpochSink``, without
  the operators' error streams.
- ``builtin``: Bytewax 0.21.1's ``bytewax.connectors.kafka.operators``
  ``input`` -> ``map`` -> ``output``, as shipped.
- ``builtin_core``: its ``KafkaSource`` -> ``map`` -> ``KafkaSink``.

The map rebuilds each message as a sink message with its key and value. With
a ``serde`` of ``json``, ``avro`` or ``registry-avro`` the value is decoded
before the map and encoded after it (the same serde objects for every
variant; the registry is confluent-kafka's in-memory mock, one per flow
process, so no HTTP round trip is measured).
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream

from bytewax_kafka.bench.define.cell import Cell
from bytewax_kafka.bench.define.handoff import Handoff, read_handoff
from bytewax_kafka.bench.payload import AVRO_SCHEMA, REGISTRY_SCHEMA_ID

__all__ = [
    "builtin",
    "builtin_core",
    "ours",
    "ours_batches",
    "ours_core",
    "ours_group",
    "process_setup",
    "serdes",
]

#: Consumer settings of the group replicas: a replica that dies hands its partitions over within 6 s.
GROUP_CONSUMER = {"session.timeout.ms": 6000}


def process_setup(cell: Cell) -> None:
    """What every flow process does first, whatever its variant: the cell's GC threshold."""
    if cell.gc_threshold is not None:
        # How much of a flow's time the cyclic garbage collector takes (docs/performance.md).
        if cell.gc_threshold == 0:
            gc.disable()
        else:
            gc.set_threshold(cell.gc_threshold)


def serdes(serde: str, input_topic: str) -> tuple[Any, Any] | None:
    """``(deserializer, serializer)`` for a format, or None for ``none``."""
    if serde == "none":
        return None
    if serde == "json":
        from bytewax_kafka.serde import JsonDeserializer, JsonSerializer

        return JsonDeserializer(), JsonSerializer()
    if serde == "avro":
        from bytewax_kafka.serde import PlainAvroDeserializer, PlainAvroSerializer

        return PlainAvroDeserializer(AVRO_SCHEMA), PlainAvroSerializer(AVRO_SCHEMA)
    if serde == "registry-avro":
        from confluent_kafka.schema_registry import Schema
        from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer

        from bytewax_kafka.serde import GuardedDeserializer, GuardedSerializer, registry_client

        client = registry_client("mock://bytewax-kafka-bench")
        text = json.dumps(AVRO_SCHEMA)
        sid = client.register_schema(f"{input_topic}-value", Schema(text, "AVRO"))
        if sid != REGISTRY_SCHEMA_ID:
            raise RuntimeError(
                f"the mock registry gave schema id {sid}, the input carries {REGISTRY_SCHEMA_ID}"
            )
        return GuardedDeserializer(AvroDeserializer(client)), GuardedSerializer(AvroSerializer(client, text))
    raise ValueError(f"unknown serde {serde!r}")


@dataclass(frozen=True)
class _Operators:
    """What an operators flow takes from one connector package."""

    input: Callable[..., Any]
    output: Callable[..., Any]
    deserialize_value: Callable[..., Any]
    serialize: Callable[[Stream[Any], Any, str], Stream[Any]]
    sink_message: Callable[..., Any]


def _start(name: str) -> tuple[Handoff, Dataflow]:
    h = read_handoff()
    process_setup(h.cell)
    return h, Dataflow(f"bench-{name}")


def _operators_flow(name: str, kit: _Operators, **modes: Any) -> Dataflow:
    """``input`` -> (deserialize) -> ``map`` -> (serialize) -> ``output`` with one connector's operators."""
    return _operators_flow_of(name, kit, batches=False, **modes)


def _operators_flow_of(
    name: str, kit: _Operators, *, batches: bool, consumer: dict[str, Any] | None = None, **modes: Any
) -> Dataflow:
    """The operators flow; with ``batches``, items are whole batches (``input(..., batches=True)``).

    ``consumer``: input settings under the cell's own ``consumer_config``.
    """
    h, flow = _start(name)
    c = h.cell
    consumer_config = {**(consumer or {}), **(c.consumer_config or {})}
    inp = kit.input(
        "in",
        flow,
        brokers=h.brokers,
        topics=[h.input_topic],
        tail=True,
        batch_size=c.batch_size,
        add_config=consumer_config or None,
        **({"batches": True} if batches else {}),
        **modes,
    )
    op.raises("in_errors", inp.errs)
    msgs: Any = inp.oks
    pair = serdes(c.serde, h.input_topic)
    make = kit.sink_message
    if batches:
        # The same map as the other variants, over each batch: decode and re-encode inline.
        if pair is None:
            out: Any = op.map("map", msgs, lambda ms: [make(m.key, m.value) for m in ms])
        else:
            from confluent_kafka.serialization import MessageField, SerializationContext

            de, se = pair
            src_ctx = SerializationContext(h.input_topic, MessageField.VALUE)
            dst_ctx = SerializationContext(h.output_topic, MessageField.VALUE)
            out = op.map("map", msgs, lambda ms: [make(m.key, se(de(m.value, src_ctx), dst_ctx)) for m in ms])
    else:
        if pair is not None:
            de = kit.deserialize_value("de", msgs, pair[0])
            op.raises("de_errors", de.errs)
            msgs = de.oks
        out = op.map("map", msgs, lambda m: make(m.key, m.value))
        if pair is not None:
            out = kit.serialize(out, pair[1], h.output_topic)
    kit.output(
        "out", out, brokers=h.brokers, topic=h.output_topic, add_config=c.producer_config or None, **modes
    )
    return flow


def _core_flow(
    name: str, source_type: Any, sink_type: Any, make: Callable[..., Any], *, route: bool, **extra: Any
) -> Dataflow:
    """``source`` -> (deserialize) -> ``map`` -> (serialize) -> ``sink``, no operators of a connector.

    ``route``: the sink is partitioned; items go keyed by the worker that emitted them.
    """
    h, flow = _start(name)
    c = h.cell
    source = source_type(
        h.brokers,
        [h.input_topic],
        tail=True,
        batch_size=c.batch_size,
        add_config=c.consumer_config or None,
        **extra,
    )
    msgs: Any = op.input("in", flow, source)
    pair = serdes(c.serde, h.input_topic)
    if pair is None:
        out = op.map("map", msgs, lambda m: make(m.key, m.value))
    else:
        from confluent_kafka.serialization import MessageField, SerializationContext

        de, se = pair
        src_ctx = SerializationContext(h.input_topic, MessageField.VALUE)
        dst_ctx = SerializationContext(h.output_topic, MessageField.VALUE)
        out = op.map("map", msgs, lambda m: make(m.key, se(de(m.value, src_ctx), dst_ctx)))
    if route:
        out = op.key_on("route", out, lambda _m: _worker_key())
    op.output("out", out, sink_type(h.brokers, h.output_topic, add_config=c.producer_config or None, **extra))
    return flow


def _worker_key() -> str:
    import threading

    return f"{os.getpid()}:{threading.get_ident()}"


def _our_serialize(stream: Stream[Any], serializer: Any, topic: str) -> Stream[Any]:
    from bytewax_kafka import operators as kop

    ser = kop.serialize_value("ser", stream, serializer, topic=topic)
    op.raises("ser_errors", ser.errs)
    return ser.oks


def _builtin_serialize(stream: Stream[Any], serializer: Any, topic: str) -> Stream[Any]:
    import bytewax.connectors.kafka.operators as bkop

    out: Stream[Any] = bkop.serialize_value("ser", stream, serializer)
    return out


def _guarantee(h: Handoff) -> dict[str, Any]:
    """``exactly_once=`` / ``commit_progress=`` for the cell's guarantee (named after its output topic)."""
    from bytewax_kafka.core import CommitProgress, ExactlyOnce

    if h.cell.guarantee == "exactly-once":
        return {"exactly_once": ExactlyOnce(f"bench-eos-{h.output_topic}")}
    if h.cell.guarantee == "commit-progress":
        return {"commit_progress": CommitProgress(f"bench-progress-{h.output_topic}")}
    return {}


def _our_kit() -> _Operators:
    from bytewax_kafka import operators as kop
    from bytewax_kafka.core import KafkaSinkMessage

    return _Operators(kop.input, kop.output, kop.deserialize_value, _our_serialize, KafkaSinkMessage)


def _our_modes(h: Handoff) -> dict[str, Any]:
    """Our operators' keywords for the cell: its guarantee, and the GC tuning unless turned off."""
    modes = _guarantee(h)
    if not h.cell.gc_tuning:
        modes["gc_tuning"] = False
    return modes


def ours() -> Dataflow:
    """Our operators: ``input`` -> (deserialize) -> ``map`` -> (serialize) -> ``output``."""
    return _operators_flow("ours", _our_kit(), **_our_modes(read_handoff()))


def ours_batches() -> Dataflow:
    """Our operators, whole batches as items: ``input(..., batches=True)`` -> map over lists -> ``output``."""
    return _operators_flow_of("ours-batches", _our_kit(), batches=True, **_our_modes(read_handoff()))


def ours_group() -> Dataflow:
    """Our operators as one replica of a consumer group: ``input(consumer_group=)`` -> map -> ``output``."""
    from bytewax_kafka.core import ConsumerGroup

    h = read_handoff()
    group = ConsumerGroup(f"bench-group-{h.output_topic}", exactly_once=h.cell.guarantee == "exactly-once")
    modes: dict[str, Any] = {"consumer_group": group}
    if not h.cell.gc_tuning:
        modes["gc_tuning"] = False
    return _operators_flow_of("ours-group", _our_kit(), batches=False, consumer=GROUP_CONSUMER, **modes)


def builtin() -> Dataflow:
    """Bytewax 0.21.1's operators: ``input`` -> (deserialize) -> ``map`` -> (serialize) -> ``output``."""
    import bytewax.connectors.kafka.operators as bkop
    from bytewax.connectors.kafka import KafkaSinkMessage

    kit = _Operators(bkop.input, bkop.output, bkop.deserialize_value, _builtin_serialize, KafkaSinkMessage)
    return _operators_flow("builtin", kit)


def ours_core() -> Dataflow:
    """Our ``KafkaSource`` -> (deserialize) -> ``map`` -> (serialize) -> ``KafkaEpochSink``."""
    from bytewax_kafka.core import KafkaEpochSink, KafkaSinkMessage, KafkaSource

    extra = {} if read_handoff().cell.gc_tuning else {"gc_tuning": False}
    return _core_flow("ours-core", KafkaSource, KafkaEpochSink, KafkaSinkMessage, route=True, **extra)


def builtin_core() -> Dataflow:
    """Bytewax 0.21.1's ``KafkaSource`` -> (deserialize) -> ``map`` -> (serialize) -> ``KafkaSink``."""
    from bytewax.connectors.kafka import KafkaSink, KafkaSinkMessage, KafkaSource

    return _core_flow("builtin-core", KafkaSource, KafkaSink, KafkaSinkMessage, route=False)
