"""CommitProgress: the consumer group shows the flow's progress, never ahead of its outputs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from bytewax_kafka.core.offsets import committed_offset
from bytewax_kafka.testing import produce_n

FLOW = """
import os, time
import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax_kafka import operators as kop
from bytewax_kafka.core import CommitProgress, KafkaSinkMessage

b = [os.environ["BWK_BROKERS"]]
progress = CommitProgress(os.environ["BWK_GROUP"])

def slow(batch):
    time.sleep(len(batch) / 4000)
    return [KafkaSinkMessage(m.key, m.value) for m in batch]

flow = Dataflow("progress")
kinp = kop.input("in", flow, brokers=b, topics=[os.environ["BWK_IN"]], tail=False, commit_progress=progress)
kop.output("out", op.flat_map_batch("slow", kinp.oks, slow), brokers=b, topic=os.environ["BWK_OUT"],
           commit_progress=progress)
"""


def committed_total(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        return sum(committed_offset(c, topic, p, group, 30) or 0 for p in range(partitions))
    finally:
        c.close()


@pytest.mark.kafka_features("consumer_groups")
def test_group_offsets_follow_outputs_and_never_lead(
    kafka_bootstrap, topic_factory, kafka_read_to_end, tmp_path: Path
):
    n = 24_000
    src, dst = topic_factory(partitions=3), topic_factory(partitions=1)
    produce_n(kafka_bootstrap, src, n)
    group = f"progress-{src}"
    (tmp_path / "progress_flow.py").write_text(FLOW)
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),
        "BWK_BROKERS": kafka_bootstrap,
        "BWK_IN": src,
        "BWK_OUT": dst,
        "BWK_GROUP": group,
    }
    cmd = [sys.executable, "-m", "bytewax.run", "progress_flow:flow", "-s", "1"]
    samples = []
    with (tmp_path / "flow.log").open("ab") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            while proc.poll() is None:
                committed = committed_total(kafka_bootstrap, group, src, 3)
                written = len(kafka_read_to_end(dst))  # read after: it can only have grown
                samples.append((committed, written))
                time.sleep(0.3)
        finally:
            proc.kill() if proc.poll() is None else None
    assert proc.returncode == 0, (tmp_path / "flow.log").read_text()[-3000:]
    assert all(c <= w for c, w in samples), [s for s in samples if s[0] > s[1]]
    assert any(0 < c < n for c, _ in samples), f"no progress seen mid-run: {samples}"
    assert committed_total(kafka_bootstrap, group, src, 3) == n
