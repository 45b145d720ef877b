"""Property: random bytes never crash ``deserialize``; every message lands in oks or errs.

Every deserializer of ``bytewax_kafka.serde``, the user guide's orjson
classes and confluent's registry Avro deserializer (bare and guarded, on a
mock registry) get arbitrary keys and values; one flow per example, on
TestingSource items, no broker.
"""

from __future__ import annotations

import json
from typing import Any

import bytewax.operators as op
import orjson
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main
from confluent_kafka import KafkaError as CKError
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bytewax_kafka import operators as kop
from bytewax_kafka.core import KafkaSourceMessage
from bytewax_kafka.operators import KafkaStepError
from bytewax_kafka.serde import (
    GuardedDeserializer,
    JsonDeserializer,
    PlainAvroDeserializer,
    SchemaDeserializer,
)


class KeyDeserializer(SchemaDeserializer[bytes, str]):
    """The user guide's orjson example."""

    def de(self, obj: bytes) -> str:
        return str(obj)


class JSONDeserializer(SchemaDeserializer[bytes, dict[Any, Any]]):
    """The user guide's orjson example."""

    def de(self, obj: bytes) -> dict[Any, Any]:
        loaded: dict[Any, Any] = orjson.loads(obj)
        return loaded


READING = {
    "type": "record",
    "name": "Reading",
    "fields": [
        {"name": "sensor", "type": "string"},
        {"name": "v", "type": "long"},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
        {"name": "extra", "type": ["null", "double"]},
    ],
}

REGISTRY = SchemaRegistryClient.new_client({"url": "mock://operators-properties"})
SCHEMA_ID = REGISTRY.register_schema("t-value", Schema(json.dumps(READING), "AVRO"))

DESERIALIZERS = {
    "json": JsonDeserializer(),
    "plain_avro_record": PlainAvroDeserializer(READING),
    "plain_avro_string": PlainAvroDeserializer('"string"'),
    "guide_orjson": JSONDeserializer(),
    "guide_key": KeyDeserializer(),
    "registry_avro": AvroDeserializer(REGISTRY),
    "registry_avro_guarded": GuardedDeserializer(AvroDeserializer(REGISTRY)),
}

# Mostly garbage, sometimes valid JSON, sometimes framed like the registry's
# wire format (magic byte 0, a known or unknown schema id), sometimes None.
payloads = st.one_of(
    st.none(),
    st.binary(max_size=48),
    st.builds(
        lambda sid, rest: b"\x00" + sid.to_bytes(4, "big") + rest,
        st.sampled_from([SCHEMA_ID, SCHEMA_ID + 1000]),
        st.binary(max_size=32),
    ),
    st.builds(
        lambda d: orjson.dumps(d),
        st.dictionaries(st.text(max_size=5), st.integers(-(2**63), 2**63 - 1), max_size=3),
    ),
)
batches = st.lists(st.tuples(payloads, payloads), max_size=25)


@pytest.mark.parametrize("name", sorted(DESERIALIZERS))
def test_random_bytes_land_in_oks_or_errs(name: str) -> None:
    de = DESERIALIZERS[name]

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(batches)
    def check(pairs: list[tuple[bytes | None, bytes | None]]) -> None:
        msgs = [KafkaSourceMessage(k, v, "t", partition=0, offset=i) for i, (k, v) in enumerate(pairs)]
        flow = Dataflow("prop")
        up = op.input("inp", flow, TestingSource(msgs, batch_size=4))
        out = kop.deserialize("de", up, key_deserializer=de, val_deserializer=de)
        oks: list[Any] = []
        errs: list[Any] = []
        op.output("oks", out.oks, TestingSink(oks))
        op.output("errs", out.errs, TestingSink(errs))
        run_main(flow)

        assert len(oks) + len(errs) == len(msgs)
        assert sorted([m.offset for m in oks] + [e.msg.offset for e in errs]) == list(range(len(msgs)))
        for e in errs:
            assert isinstance(e, KafkaStepError)
            assert e.err.code() in (CKError._KEY_DESERIALIZATION, CKError._VALUE_DESERIALIZATION)
            assert e.msg == msgs[e.msg.offset]  # the original bytes
            assert "failed in step 'prop.de'" in e.err.str()
        for m in oks:
            original = msgs[m.offset]
            # None is never handed to a deserializer, and stays None.
            if original.key is None:
                assert m.key is None
            if original.value is None:
                assert m.value is None

    check()
