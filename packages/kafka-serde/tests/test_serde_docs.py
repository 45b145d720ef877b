"""The documentation runs: docstring examples, README blocks, the user guide's serde code."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.connectors.kafka import operators as kop
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main

from bytewax_kafka import serde

README = Path(__file__).parents[1] / "README.md"


def _modules() -> list[ModuleType]:
    names = [serde.__name__] + [
        f"{serde.__name__}.{info.name}" for info in pkgutil.iter_modules(serde.__path__)
    ]
    return [importlib.import_module(name) for name in names]


@pytest.mark.parametrize("module", _modules(), ids=lambda m: m.__name__)
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0


def test_public_classes_have_examples() -> None:
    for name in serde.__all__:
        obj = getattr(serde, name)
        if isinstance(obj, type):
            assert ">>>" in (obj.__doc__ or ""), f"{name} has no example"


def test_version_and_all() -> None:
    assert serde.__version__ == "0.1.0"
    for name in serde.__all__:
        assert hasattr(serde, name)


def _readme_blocks() -> list[str]:
    text = README.read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


@pytest.mark.parametrize("block", _readme_blocks())
def test_readme_python_blocks_run(block: str) -> None:
    exec(compile(block, str(README), "exec"), {})


# The guide's "Implementing custom ser/de classes" block, with only the import
# path of SchemaDeserializer changed (bytewax.connectors.kafka.serde ->
# bytewax_kafka.serde). Building the flow must work; nothing connects to Kafka.
GUIDE_ORJSON_BLOCK = """
import orjson

from typing import Dict, Any

from bytewax import operators as op
from bytewax_kafka.serde import SchemaDeserializer

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


def test_guide_orjson_block_builds_its_flow() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(GUIDE_ORJSON_BLOCK, "seed-kafka-guide.md", "exec"), namespace)
    assert namespace["val_de"](b'{"a": 1}') == {"a": 1}
    assert namespace["key_de"](b"k") == "b'k'"


def test_our_deserializers_in_bytewax_deserialize_operator() -> None:
    """bytewax's own kop.deserialize routes our SerdeError to its error stream."""
    namespace: dict[str, Any] = {}
    exec(compile(GUIDE_ORJSON_BLOCK, "seed-kafka-guide.md", "exec"), namespace)
    messages = [
        KafkaSourceMessage(key=b"k1", value=b'{"temp": 20}', topic="in-topic"),
        KafkaSourceMessage(key=b"k2", value=b"{broken", topic="in-topic"),
        KafkaSourceMessage(key=None, value=b"[1]", topic="in-topic"),
    ]
    oks: list[Any] = []
    errs: list[Any] = []
    flow = Dataflow("serde_in_bytewax")
    stream: Any = op.input("in", flow, TestingSource(messages))
    out = kop.deserialize(
        "de",
        stream,
        key_deserializer=namespace["key_de"],
        val_deserializer=namespace["val_de"],
    )
    op.output("oks", out.oks, TestingSink(oks))
    op.output("errs", out.errs, TestingSink(errs))
    run_main(flow)  # type: ignore[no-untyped-call]
    assert [(m.key, m.value) for m in oks] == [("b'k1'", {"temp": 20}), (None, [1])]
    assert len(errs) == 1
    assert "JSONDeserializer failed to deserialize" in str(errs[0].err)
