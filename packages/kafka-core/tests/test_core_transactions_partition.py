"""An exactly-once sink partition whose commit starts during a network partition: never hangs.

librdkafka 2.16.0's ``send_offsets_to_transaction`` can wait for ever once
the transaction coordinator was unreachable, ignoring its timeout (seen on
the first transactional producer of a process, after a 5 s partition).
The worker's writer (what the sink partitions write and commit through)
runs in a process of its own, on Apache Kafka behind
Toxiproxy: three epochs commit, then the network is cut, an epoch commit
starts, and the network heals 5 s later. The commit must succeed or fail
with ``KafkaTransactionError`` within ``commit_timeout`` plus the grace, and
the process must exit although a librdkafka call may still be stuck.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

CLIENT = textwrap.dedent(
    """
    import json, sys, time
    from bytewax_kafka.core import KafkaSinkMessage, ExactlyOnce
    from bytewax_kafka.core.worker_writer import WorkerWriter

    brokers, src, dst, name, commit_timeout = sys.argv[1:]
    eos = ExactlyOnce(name, commit_timeout=float(commit_timeout))
    eos.tracker.register_worker(0, 1)
    eos.add_output("flow", "flow.out", [brokers], None)
    writer = WorkerWriter(eos, 0, "flow", {"bootstrap.servers": brokers})
    writer.acquire()

    def epoch(n):
        eos.tracker.source.setdefault(0, {})[n] = {(src, 0): n + 1}
        writer.write(dst, [KafkaSinkMessage(b"k", b"%d" % n)])

    for n in range(3):
        epoch(n)
        writer.close_epoch("flow.out", n)
    epoch(3)
    time.sleep(1)  # the epoch's message is delivered: the producer is idle
    print("ready", flush=True)
    sys.stdin.readline()  # the network is cut now
    t = time.monotonic()
    try:
        writer.close_epoch("flow.out", 3)
        outcome = "committed"
    except Exception as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    print(json.dumps({"outcome": outcome, "elapsed": time.monotonic() - t}), flush=True)
    """
)

COMMIT_TIMEOUT = 10.0
GRACE = 2.0  # bytewax_kafka.core.deadline.GRACE (not imported: this test also runs against code without it)
CUT_S = 5.0


@pytest.mark.kafka_features("transactions")
def test_an_epoch_commit_during_a_partition_ends_within_commit_timeout(proxied_kafka, broker_topic_factory):
    topics = broker_topic_factory(proxied_kafka)
    src, dst = topics(partitions=1), topics(partitions=1)
    client = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CLIENT,
            proxied_kafka.proxied_bootstrap,
            src,
            dst,
            f"partition-{uuid.uuid4().hex}",
            str(COMMIT_TIMEOUT),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert client.stdin is not None
    assert client.stdout is not None
    try:
        assert client.stdout.readline().strip() == "ready"
        with proxied_kafka.faults.partition():
            client.stdin.write("go\n")
            client.stdin.flush()
            cut_at = time.monotonic()
            time.sleep(CUT_S)
        bound = COMMIT_TIMEOUT + GRACE + 10
        try:
            client.wait(timeout=max(0.0, bound - (time.monotonic() - cut_at)))
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"the commit started during a {CUT_S:.0f}s partition has not ended {bound:.0f}s later "
                f"(commit_timeout={COMMIT_TIMEOUT:.0f}s): the sink hangs"
            )
        exited_after = time.monotonic() - cut_at
        result = json.loads(client.stdout.readline())
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
        client.stdin.close()
        client.stdout.close()
    print(f"\n[core-eos-commit-during-partition] {result['outcome'][:160]}; exited after {exited_after:.1f}s")
    assert client.returncode == 0
    assert result["outcome"] == "committed" or result["outcome"].startswith("KafkaTransactionError: "), result
    assert result["elapsed"] < COMMIT_TIMEOUT + GRACE + 5, result
