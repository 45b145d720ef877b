"""The documentation runs: docstring examples, the README example and docs/operators.md.

The README's and the guide's blocks are run against the session's broker
with ``localhost:19092`` and the topic names replaced by fresh ones, and
every input made finite (``tail=False``), then what they wrote is read back.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import bytewax.operators as op
import orjson
import pytest
from bytewax.testing import TestingSink, run_main

from bytewax_kafka import operators
from bytewax_kafka.core import KafkaSource
from bytewax_kafka.operators import io as kop_io

TopicFactory = Callable[..., str]
Reader = Callable[..., list[Any]]
Produce = Callable[..., int]

PACKAGE = Path(__file__).resolve().parents[1]
README = PACKAGE / "README.md"
GUIDE = PACKAGE.parents[1] / "docs" / "operators.md"


def _modules() -> list[ModuleType]:
    names = [operators.__name__] + [
        f"{operators.__name__}.{info.name}" for info in pkgutil.iter_modules(operators.__path__)
    ]
    return [importlib.import_module(name) for name in names]


@pytest.mark.parametrize("module", _modules(), ids=lambda m: m.__name__)
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0


def test_public_names_have_examples() -> None:
    for name in operators.__all__:
        if name.startswith("__"):
            continue
        doc = getattr(operators, name).__doc__ or ""
        assert "Example:" in doc or ">>>" in doc, name
        assert "Args:" in doc or "Attributes:" in doc, name


def blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


class _Finite(KafkaSource):
    """KafkaSource that always stops at the end offsets it saw at start."""

    def __init__(self, brokers: Any, topics: Any, tail: bool = True, *args: Any, **kwargs: Any) -> None:
        super().__init__(brokers, topics, False, *args, **kwargs)


@pytest.fixture
def finite_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kop_io, "KafkaSource", _Finite)


def substitute(code: str, names: dict[str, str]) -> str:
    for old, new in names.items():
        code = code.replace(f'"{old}"', repr(new))
    return code


@pytest.mark.usefixtures("finite_inputs")
def test_readme_example(
    kafka_bootstrap: str, topic_factory: TopicFactory, kafka_produce: Produce, kafka_read_to_end: Reader
) -> None:
    (code,) = blocks(README)
    topics = {"in-topic": topic_factory(), "out-topic": topic_factory(), "in-topic-dlq": topic_factory()}
    kafka_produce(topics["in-topic"], [(b"k", b"hello"), (None, None)])
    ns: dict[str, Any] = {}
    exec(substitute(code, {"localhost:19092": kafka_bootstrap, **topics}), ns)
    run_main(ns["flow"])
    assert [(r.key, r.value) for r in kafka_read_to_end(topics["out-topic"])] == [
        (b"k", b"HELLO"),
        (None, b""),
    ]
    assert kafka_read_to_end(topics["in-topic-dlq"]) == []


GOOD = [{"sensor": f"s{i}", "f": 50.0 + i} for i in range(8)]
LEGACY = [b"sensor=old%d;f=%d.5" % (i, 60 + i) for i in range(3)]


@pytest.mark.usefixtures("finite_inputs")
def test_guide_examples(
    kafka_bootstrap: str, topic_factory: TopicFactory, kafka_produce: Produce, kafka_read_to_end: Reader
) -> None:
    code = blocks(GUIDE)
    assert len(code) == 10
    names = [
        "readings",
        "readings-copy",
        "readings-clean",
        "readings-avro",
        "readings-dlq",
        "readings-dlq-2",
        "readings-upper",
    ]
    topics = {name: topic_factory(partitions=2 if name == "readings" else 1) for name in names}
    records = [(d["sensor"].encode(), orjson.dumps(d)) for d in GOOD]
    records += [(b"legacy%d" % i, v) for i, v in enumerate(LEGACY)]
    kafka_produce(topics["readings"], records)
    subs = {"localhost:19092": kafka_bootstrap, **topics}
    ns: dict[str, Any] = {}

    def run(i: int) -> None:
        exec(compile(substitute(code[i], subs), f"operators.md block {i}", "exec"), ns)

    run(0)  # imports
    run(1)  # copy
    run_main(ns["flow"])
    assert len(kafka_read_to_end(topics["readings-copy"])) == len(records)

    run(2)  # stop on errors: there are none
    run_main(ns["flow"])

    for i in (3, 4, 5, 6):  # the ETL flow: deserialize, serialize, Avro, dead letters
        run(i)
    run_main(ns["flow"])
    clean = {r.key.decode(): orjson.loads(r.value) for r in kafka_read_to_end(topics["readings-clean"])}
    assert clean == {d["sensor"]: {"sensor": d["sensor"], "c": round((d["f"] - 32) / 1.8, 2)} for d in GOOD}
    assert client_subjects(ns) == [f"{topics['readings-avro']}-value"]
    assert len(kafka_read_to_end(topics["readings-avro"])) == len(GOOD)
    dead = kafka_read_to_end(topics["readings-dlq"])
    assert sorted(r.value for r in dead) == sorted(LEGACY)
    assert {dict(r.headers)["dlq.step_id"] for r in dead} == {b"etl.de"}

    run(7)  # replay with the fix
    run_main(ns["flow"])
    clean = {r.key.decode(): orjson.loads(r.value) for r in kafka_read_to_end(topics["readings-clean"])}
    assert len(clean) == len(GOOD) + len(LEGACY)
    assert clean["legacy0"] == {"sensor": "old0", "c": round((60.5 - 32) / 1.8, 2)}
    assert kafka_read_to_end(topics["readings-dlq-2"]) == []

    run(8)  # choose what to replay
    chosen: list[Any] = []
    op.output("chosen", ns["originals"], TestingSink(chosen))
    run_main(ns["flow"])
    assert sorted(m.value for m in chosen) == sorted(LEGACY)
    assert {m.topic for m in chosen} == {topics["readings"]}

    run(9)  # whole batches
    run_main(ns["flow"])
    upper = kafka_read_to_end(topics["readings-upper"])
    assert sorted(r.value for r in upper) == sorted(v.upper() for _k, v in records)


def client_subjects(ns: dict[str, Any]) -> list[str]:
    subjects: list[str] = ns["client"].get_subjects()
    return subjects
