r"""The dataflows under test, configured by environment variables.

Each factory builds the same flow, Kafka -> map -> Kafka, with one
connector; the benchmark runner starts it as its own process(es)::

    BENCH_BOOTSTRAP=127.0.0.1:9092 BENCH_INPUT=in BENCH_OUTPUT=out \\
        python -m bytewax.run bytewax_kafka.bench.flows:ours -w 1

Factories:

- ``ours``: ``bytewax_kafka.operators`` ``input`` -> ``map`` -> ``output``
  (``KafkaSource`` and the epoch sink ``KafkaEpochSink``), consumer errors
  and (de)serialization errors stop the flow.
- ``ours_core``: ``KafkaSource`` -> ``map`` -> ``KafkaEpochSink`` without
  the operators' error streams.
- ``builtin``: Bytewax 0.21.1's ``bytewax.connectors.kafka.operators``
  ``input`` -> ``map`` -> ``output``, as shipped.
- ``builtin_core``: its ``KafkaSource`` -> ``map`` -> ``KafkaSink``.

The map rebuilds each message as a sink message with its key and value. With
``BENCH_SERDE`` set to ``json``, ``avro`` or ``registry-avro`` the value is
deserialized before the map and serialized after it (the same serde objects
for every variant; the registry is confluent-kafka's in-memory mock, one per
flow process, so no HTTP round trip is measured).

Environment:
    BENCH_BOOTSTRAP: bootstrap servers (required).
    BENCH_INPUT, BENCH_OUTPUT: topics (required).
    BENCH_BATCH_SIZE: source batch size (default 1000).
    BENCH_SERDE: none | json | avro | registry-avro (default none).
    BENCH_CONSUMER_CONFIG, BENCH_PRODUCER_CONFIG: JSON objects of librdkafka
        settings given to every variant's consumer and producer (``add_config``).
    BENCH_GC_THRESHOLD: when set, ``gc.set_threshold(n)`` in the flow process
        (``0``: ``gc.disable()``).
"""

from __future__ import annotations

import gc
import json
import os
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from bytewax_kafka.bench.payload import AVRO_SCHEMA, REGISTRY_SCHEMA_ID

__all__ = ["FLOW_FACTORIES", "builtin", "builtin_core", "ours", "ours_core"]

#: Variant name -> import string for ``python -m bytewax.run``.
FLOW_FACTORIES = {
    "ours": "bytewax_kafka.bench.flows:ours",
    "ours-core": "bytewax_kafka.bench.flows:ours_core",
    "builtin": "bytewax_kafka.bench.flows:builtin",
    "builtin-core": "bytewax_kafka.bench.flows:builtin_core",
}


class FlowSettings:
    """What the flow reads from the environment."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ if env is None else env)
        missing = [k for k in ("BENCH_BOOTSTRAP", "BENCH_INPUT", "BENCH_OUTPUT") if not env.get(k)]
        if missing:
            raise RuntimeError(f"the benchmark flow needs {', '.join(missing)} in its environment")
        self.brokers = env["BENCH_BOOTSTRAP"].split(",")
        self.input = env["BENCH_INPUT"]
        self.output = env["BENCH_OUTPUT"]
        self.batch_size = int(env.get("BENCH_BATCH_SIZE", "1000"))
        self.serde = env.get("BENCH_SERDE", "none")
        self.consumer_config: dict[str, Any] = json.loads(env.get("BENCH_CONSUMER_CONFIG") or "{}")
        self.producer_config: dict[str, Any] = json.loads(env.get("BENCH_PRODUCER_CONFIG") or "{}")
        threshold = env.get("BENCH_GC_THRESHOLD")
        if threshold:
            # Same for every variant: how much of a flow's time the cyclic
            # garbage collector takes (docs/performance.md).
            if int(threshold) == 0:
                gc.disable()
            else:
                gc.set_threshold(int(threshold))


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


def ours() -> Dataflow:
    """Our operators: ``input`` -> (deserialize) -> ``map`` -> (serialize) -> ``output``."""
    from bytewax_kafka import operators as kop
    from bytewax_kafka.core import KafkaSinkMessage

    s = FlowSettings()
    flow = Dataflow("bench-ours")
    inp = kop.input(
        "in",
        flow,
        brokers=s.brokers,
        topics=[s.input],
        tail=True,
        batch_size=s.batch_size,
        add_config=s.consumer_config or None,
    )
    op.raises("in_errors", inp.errs)
    msgs: Any = inp.oks
    pair = serdes(s.serde, s.input)
    if pair is not None:
        de = kop.deserialize_value("de", msgs, pair[0])
        op.raises("de_errors", de.errs)
        msgs = de.oks
    out: Any = op.map("map", msgs, lambda m: KafkaSinkMessage(m.key, m.value))
    if pair is not None:
        ser = kop.serialize_value("ser", out, pair[1], topic=s.output)
        op.raises("ser_errors", ser.errs)
        out = ser.oks
    kop.output("out", out, brokers=s.brokers, topic=s.output, add_config=s.producer_config or None)
    return flow


def ours_core() -> Dataflow:
    """Our ``KafkaSource`` -> (deserialize) -> ``map`` -> (serialize) -> ``KafkaEpochSink``."""
    from bytewax_kafka.core import KafkaEpochSink, KafkaSinkMessage, KafkaSource

    s = FlowSettings()
    flow = Dataflow("bench-ours-core")
    source = KafkaSource(
        s.brokers, [s.input], tail=True, batch_size=s.batch_size, add_config=s.consumer_config or None
    )
    msgs: Any = op.input("in", flow, source)
    pair = serdes(s.serde, s.input)
    if pair is None:
        out = op.map("map", msgs, lambda m: KafkaSinkMessage(m.key, m.value))
    else:
        from confluent_kafka.serialization import MessageField, SerializationContext

        de, se = pair
        src_ctx = SerializationContext(s.input, MessageField.VALUE)
        dst_ctx = SerializationContext(s.output, MessageField.VALUE)
        out = op.map("map", msgs, lambda m: KafkaSinkMessage(m.key, se(de(m.value, src_ctx), dst_ctx)))
    keyed = op.key_on("route", out, lambda _m: _worker_key())
    op.output("out", keyed, KafkaEpochSink(s.brokers, s.output, add_config=s.producer_config or None))
    return flow


def _worker_key() -> str:
    import threading

    return f"{os.getpid()}:{threading.get_ident()}"


def builtin() -> Dataflow:
    """Bytewax 0.21.1's operators: ``input`` -> (deserialize) -> ``map`` -> (serialize) -> ``output``."""
    import bytewax.connectors.kafka.operators as bkop
    from bytewax.connectors.kafka import KafkaSinkMessage

    s = FlowSettings()
    flow = Dataflow("bench-builtin")
    inp = bkop.input(
        "in",
        flow,
        brokers=s.brokers,
        topics=[s.input],
        tail=True,
        batch_size=s.batch_size,
        add_config=s.consumer_config or None,
    )
    op.raises("in_errors", inp.errs)
    msgs: Any = inp.oks
    pair = serdes(s.serde, s.input)
    if pair is not None:
        de = bkop.deserialize_value("de", msgs, pair[0])
        op.raises("de_errors", de.errs)
        msgs = de.oks
    out: Any = op.map("map", msgs, lambda m: KafkaSinkMessage(m.key, m.value))
    if pair is not None:
        out = bkop.serialize_value("ser", out, pair[1])
    bkop.output("out", out, brokers=s.brokers, topic=s.output, add_config=s.producer_config or None)
    return flow


def builtin_core() -> Dataflow:
    """Bytewax 0.21.1's ``KafkaSource`` -> (deserialize) -> ``map`` -> (serialize) -> ``KafkaSink``."""
    from bytewax.connectors.kafka import KafkaSink, KafkaSinkMessage, KafkaSource

    s = FlowSettings()
    flow = Dataflow("bench-builtin-core")
    source = KafkaSource(
        s.brokers, [s.input], tail=True, batch_size=s.batch_size, add_config=s.consumer_config or None
    )
    msgs: Any = op.input("in", flow, source)
    pair = serdes(s.serde, s.input)
    if pair is None:
        out = op.map("map", msgs, lambda m: KafkaSinkMessage(m.key, m.value))
    else:
        from confluent_kafka.serialization import MessageField, SerializationContext

        de, se = pair
        src_ctx = SerializationContext(s.input, MessageField.VALUE)
        dst_ctx = SerializationContext(s.output, MessageField.VALUE)
        out = op.map("map", msgs, lambda m: KafkaSinkMessage(m.key, se(de(m.value, src_ctx), dst_ctx)))
    op.output("out", out, KafkaSink(s.brokers, s.output, add_config=s.producer_config or None))
    return flow
