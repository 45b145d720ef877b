"""The code blocks of docs/core.md and the package README run against a real broker."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bytewax.testing import run_main

import bytewax_kafka.core as core
from bytewax_kafka.testing import produce_n

PACKAGE = Path(__file__).resolve().parents[1]
DOCS = [PACKAGE / "README.md", PACKAGE.parents[1] / "docs" / "core.md"]


def blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


class Finite(core.KafkaSource):
    """The docs' sources, stopped at the end offsets they saw at start."""

    def __init__(self, brokers, topics, tail=True, *args, **kwargs):
        super().__init__(brokers, topics, False, *args, **kwargs)


@pytest.mark.parametrize(
    ("path", "index"),
    [(p, i) for p in DOCS for i in range(len(blocks(p)))],
    ids=lambda v: v.name if isinstance(v, Path) else str(v),
)
def test_doc_block_runs(path, index, kafka_bootstrap, topic_factory, kafka_read_to_end, monkeypatch):
    code = blocks(path)[index]
    topics = {
        name: topic_factory(partitions=2) for name in set(re.findall(r'"(in[-_]topic|out-topic)"', code))
    }
    for name, topic in topics.items():
        code = code.replace(f'"{name}"', repr(topic))
    code = code.replace('"localhost:19092"', repr(kafka_bootstrap))
    monkeypatch.setattr(core, "KafkaSource", Finite)
    for name in topics:
        if name.startswith("in"):
            produce_n(kafka_bootstrap, topics[name], 20)
    namespace: dict = {}
    exec(compile(code, f"{path.name}[{index}]", "exec"), namespace)
    if "flow" in namespace:
        run_main(namespace["flow"])
        if "out-topic" in topics:
            got = sorted(int(r.value) for r in kafka_read_to_end(topics["out-topic"]))
            assert got == list(range(20))
    else:
        assert "src" in namespace  # the consumer-group snippet builds a source only
        assert namespace["src"].list_parts()
