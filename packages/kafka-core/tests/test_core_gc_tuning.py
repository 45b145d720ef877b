"""The garbage-collector tuning a flow process gets from the first Kafka partition built."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

CHECK = """
import gc, json, os
{before}
from bytewax_kafka.core import KafkaSource
from bytewax_kafka.core.gc_tuning import tune_gc
src = KafkaSource([os.environ["BWK_BROKERS"]], [os.environ["BWK_TOPIC"]], tail=False, gc_tuning={tuning})
part = src.build_part("step", src.list_parts()[0], None)
built = {{"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}}
built["again"] = tune_gc()
part.close()
print(json.dumps(built))
"""


def run_check(
    kafka_bootstrap: str, topic: str, *, tuning: bool = True, before: str = "", env: dict | None = None
):
    code = CHECK.format(tuning=tuning, before=before)
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "BWK_BROKERS": kafka_bootstrap, "BWK_TOPIC": topic, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_first_partition_built_freezes_and_raises_the_young_threshold(kafka_bootstrap, topic_factory):
    got = run_check(kafka_bootstrap, topic_factory())
    assert got["threshold"] == [50_000, 10, 10]
    assert got["frozen"] > 10_000  # the modules and the flow, frozen once built
    assert got["again"] is False  # once per process


@pytest.mark.parametrize(
    ("what", "kwargs", "threshold", "later_call_tunes"),
    [
        # The source never asked; a later explicit tune_gc() still works.
        ("gc_tuning=False", {"tuning": False}, [700, 10, 10], True),
        ("BYTEWAX_KAFKA_GC_TUNING=0", {"env": {"BYTEWAX_KAFKA_GC_TUNING": "0"}}, [700, 10, 10], False),
        ("a threshold of the process's own", {"before": "gc.set_threshold(1234, 5, 5)"}, [1234, 5, 5], False),
        ("the collector disabled", {"before": "gc.disable()"}, [700, 10, 10], False),
    ],
)
def test_collector_left_alone(kafka_bootstrap, topic_factory, what, kwargs, threshold, later_call_tunes):
    got = run_check(kafka_bootstrap, topic_factory(), **kwargs)
    assert got["threshold"] == threshold, what
    assert got["frozen"] == 0, what
    assert got["again"] is later_call_tunes, what
