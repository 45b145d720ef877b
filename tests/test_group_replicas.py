"""Consumer-group mode on Apache Kafka: independent replicas share a topic's partitions.

Three ``python -m bytewax.run`` processes (no Bytewax cluster between them)
join one group on a 12-partition topic, throttled so that everything below
lands mid-run: one replica is SIGKILLed and a replacement started with its
instance id, then one is stopped for good (3 -> 2; SIGTERM ends a bytewax
process at once, as a pod's scale-down would). Meanwhile the group's
committed offsets are read with the AdminClient: visible mid-run, never
ahead of the outputs, and at the end equal to the input's end.

At-least-once: every input is in the output; the duplicates are bounded by
what was written but not yet committed at each change of the group (plus
one epoch of the throttled rate per change, the items in flight when
partitions moved). Exactly-once: under ``read_committed`` every input
appears exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    IsolationLevel,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from bytewax_kafka.testing import produce_n, read_to_end

FLOWS = Path(__file__).parent / "flows"
PARTITIONS = 12
RATE = 1500  # messages per second per replica


def group_offsets(admin: AdminClient, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset of each partition of ``topic`` (absent: none yet).

    A coordinator still loading is asked again (but see :func:`wait_for_coordinator`).
    """
    wanted = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(PARTITIONS)])
    deadline = time.monotonic() + 30
    while True:
        futures = admin.list_consumer_group_offsets([wanted], request_timeout=10)
        try:
            found = futures[group].result(timeout=15)
            break
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    return {
        tp.partition: tp.offset for tp in found.topic_partitions or [] if tp.topic == topic and tp.offset >= 0
    }


def wait_for_coordinator(bootstrap: str, group: str, topic: str) -> None:
    """Wait until ``group``'s coordinator answers offset requests.

    confluent-kafka 2.16.1's ``AdminClient.list_consumer_group_offsets``
    crashed the process (SIGSEGV) when the broker answered its first
    request with COORDINATOR_LOAD_IN_PROGRESS (a fresh broker's offsets
    topic still loading); a consumer's ``committed()`` waits that out.
    """
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                consumer.committed([TopicPartition(topic, 0)], timeout=10)
                return
            except KafkaException:  # NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS (not marked retriable)
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        consumer.close()


def end_offsets(admin: AdminClient, topic: str, committed_only: bool = False) -> dict[int, int]:
    level = IsolationLevel.READ_COMMITTED if committed_only else IsolationLevel.READ_UNCOMMITTED
    futures = admin.list_offsets(
        {TopicPartition(topic, p): OffsetSpec.latest() for p in range(PARTITIONS)},
        isolation_level=level,
        request_timeout=10,
    )
    return {tp.partition: f.result(timeout=15).offset for tp, f in futures.items()}


@dataclass
class Replicas:
    """The flow's replicas, each its own process (group) logging to one file."""

    env: dict[str, str]
    log: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, instance: str) -> None:
        env = {**self.env, "BWK_INSTANCE": instance}
        with self.log.open("ab") as out:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "bytewax.run", "group_flow:flow", "-s", "1"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self, name: str, sig: int) -> None:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
        assert not dead, f"replicas exited: {dead}\n{self.log.read_text()[-4000:]}"

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name, signal.SIGKILL)


def run_replicas(apache_kafka, broker_topic_factory, tmp_path: Path, *, eos: bool, n: int) -> dict:
    bs = apache_kafka.bootstrap_servers
    topics = broker_topic_factory(apache_kafka)
    src, dst = topics(partitions=PARTITIONS), topics(partitions=PARTITIONS)
    produce_n(bs, src, n)
    group = f"replicas-{uuid.uuid4().hex}"
    env = {
        **os.environ,
        "PYTHONPATH": f"{FLOWS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "BWK_BROKERS": bs,
        "BWK_IN": src,
        "BWK_OUT": dst,
        "BWK_GROUP": group,
        "BWK_EOS": "1" if eos else "0",
        "BWK_RATE": str(RATE),
        "BWK_TXN_TIMEOUT_MS": "10000",
    }
    wait_for_coordinator(bs, group, src)
    admin = AdminClient({"bootstrap.servers": bs})
    replicas = Replicas(env, tmp_path / "replicas.log")
    samples: list[tuple[int, int]] = []  # (committed total, distinct outputs written)
    uncommitted: list[tuple[str, int]] = []  # at each change of the group: written - committed

    def sample() -> tuple[int, int]:
        committed = sum(group_offsets(admin, group, src).values())
        written = read_to_end(bs, dst, timeout=60)  # read after: it can only have grown
        distinct = len({r.value for r in written})
        samples.append((committed, distinct))
        return committed, len(written)

    def note(event: str) -> None:
        committed, written = sample()
        uncommitted.append((event, max(0, written - committed)))

    def run_for(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            replicas.check_alive()
            sample()
            time.sleep(1.0)

    try:
        for name in ("a", "b", "c"):
            replicas.start(name, name)
        note("three replicas joined")
        run_for(6)
        replicas.stop("b", signal.SIGKILL)
        note("replica b killed")
        replicas.start("b2", "b")  # its replacement, with its instance id
        run_for(5)
        note("replacement joined")
        replicas.stop("c", signal.SIGTERM)  # scale 3 -> 2
        note("replica c stopped")
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            replicas.check_alive()
            committed, _ = sample()
            if committed == n:
                break
            time.sleep(0.5)
        ends = end_offsets(admin, src)
        final = group_offsets(admin, group, src)
    finally:
        replicas.stop_all()
    log_text = replicas.log.read_text()
    assert sum(final.values()) == n, f"group offsets {final} never reached the end {ends}\n{log_text[-4000:]}"
    assert final == ends
    assert all(c <= w for c, w in samples), [s for s in samples if s[0] > s[1]]
    assert any(0 < c < n for c, _ in samples), f"no progress seen mid-run: {samples[:20]}"
    return {"bs": bs, "dst": dst, "admin": admin, "uncommitted": uncommitted, "log": log_text}


def test_replicas_share_the_partitions_and_lose_nothing(apache_kafka, broker_topic_factory, tmp_path):
    n = 45_000
    run = run_replicas(apache_kafka, broker_topic_factory, tmp_path, eos=False, n=n)
    got = Counter(r.value for r in read_to_end(run["bs"], run["dst"], timeout=120))
    want = {str(i).encode() for i in range(n)}
    missing = want - set(got)
    assert not missing, f"{len(missing)} inputs missing from the output, e.g. {sorted(missing)[:5]}"
    assert set(got) == want
    duplicates = sum(got.values()) - n
    changes = run["uncommitted"]
    in_flight = RATE * 2 * len(changes)  # one 1 s epoch (and its commit) per change of the group
    bound = sum(u for _event, u in changes) + in_flight
    print(
        f"\n[group-replicas at-least-once] {duplicates} duplicates; bound {bound} = {changes} + {in_flight}"
    )
    assert duplicates <= bound


@pytest.mark.slow
def test_exactly_once_replicas_write_every_input_once(apache_kafka, broker_topic_factory, tmp_path):
    n = 45_000
    run = run_replicas(apache_kafka, broker_topic_factory, tmp_path, eos=True, n=n)
    admin, dst = run["admin"], run["dst"]
    # Transactions a killed or stopped replica left open are aborted by the broker
    # (transaction.timeout.ms 10 s) or fenced by the replacement: wait until no
    # partition's last stable offset lags its end.
    deadline = time.monotonic() + 60
    while (
        end_offsets(admin, dst, committed_only=True) != end_offsets(admin, dst)
        and time.monotonic() < deadline
    ):
        time.sleep(0.5)
    committed = Counter(
        r.value for r in read_to_end(run["bs"], dst, isolation_level="read_committed", timeout=120)
    )
    want = Counter(str(i).encode() for i in range(n))
    missing = want - committed
    extra = committed - want
    assert not missing, f"{sum(missing.values())} outputs missing, e.g. {list(missing)[:5]}"
    assert not extra, f"{sum(extra.values())} outputs duplicated, e.g. {list(extra)[:5]}"
    everything = read_to_end(run["bs"], dst, timeout=120)
    print(
        f"\n[group-replicas exactly-once] {len(everything) - n} aborted records hidden; "
        f"written-uncommitted at each change: {run['uncommitted']}"
    )
