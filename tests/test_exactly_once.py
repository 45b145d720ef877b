"""Exactly-once Kafka -> Kafka under SIGKILL, on Apache Kafka (Tansu and the mock do not isolate aborts).

A flow with ``ExactlyOnce`` is killed at 10 random points and then run to
completion; reading the output with ``read_committed`` must give the
expected output of every input exactly once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from bytewax_kafka.testing import produce_n

FLOWS = Path(__file__).parent / "flows"
N = 60_000
RATE = 6_000  # whole flow; about 10 s of processing, so every kill lands mid-run
KILLS = 10


def expected(n: int) -> Counter:
    out: Counter = Counter()
    for i in range(n):
        if i % 3 == 0:
            continue
        out[str(i).encode()] += 1
        if i % 5 == 0:
            out[b"copy-" + str(i).encode()] += 1
    return out


def _cmd(mode: str, recovery: Path | None) -> list[str]:
    rec = ["-r", str(recovery), "-b", "0"] if recovery else []
    if mode == "2-processes":
        return [
            sys.executable,
            "-m",
            "bytewax_kafka.testing.processes",
            "-p",
            "2",
            "eos_flow:flow",
            "-s",
            "1",
            *rec,
        ]
    workers = "2" if mode == "2-workers" else "1"
    return [sys.executable, "-m", "bytewax.run", "eos_flow:flow", "-w", workers, "-s", "1", *rec]


@pytest.mark.slow
@pytest.mark.parametrize(
    "mode", ["1-worker", "2-workers", "2-processes", "1-worker+recovery", "1-worker+batches"]
)
def test_sigkill_ten_times_then_exactly_once(mode, apache_kafka, broker_topic_factory, tmp_path):
    bs = apache_kafka.bootstrap_servers
    topics = broker_topic_factory(apache_kafka)
    src = topics(partitions=4)
    dst = topics(partitions=1)
    produce_n(bs, src, N)
    recovery = None
    if mode.endswith("+recovery"):
        recovery = tmp_path / "recovery"
        recovery.mkdir()
        subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), "1"], check=True)
    env = {
        **os.environ,
        "PYTHONPATH": f"{FLOWS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "BWK_BROKERS": bs,
        "BWK_IN": src,
        "BWK_OUT": dst,
        "BWK_APP": f"eos-{src}",
        "BWK_RATE": str(RATE / (1 if mode.startswith("1-worker") else 2)),
        "BWK_BATCHES": "1" if mode.endswith("+batches") else "0",
    }
    cmd = _cmd(mode.split("+")[0], recovery)
    rng = random.Random(mode)
    kills = 0
    with (tmp_path / "flow.log").open("ab") as log:
        for _ in range(KILLS):
            proc = subprocess.Popen(
                cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            time.sleep(rng.uniform(1.5, 3.0))
            if proc.poll() is not None:
                break
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
        final = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        code = final.wait(timeout=300)
    assert code == 0, (tmp_path / "flow.log").read_text()[-4000:]
    assert kills == KILLS, f"only {kills} kills landed mid-run"

    from bytewax_kafka.testing import read_to_end

    committed = Counter(r.value for r in read_to_end(bs, dst, isolation_level="read_committed", timeout=120))
    want = expected(N)
    missing = want - committed
    extra = committed - want
    assert not missing, f"{sum(missing.values())} outputs missing, e.g. {list(missing)[:5]}"
    assert not extra, f"{sum(extra.values())} outputs duplicated, e.g. {list(extra)[:5]}"
    everything = read_to_end(bs, dst, timeout=120)  # read_uncommitted: aborted writes show here
    print(f"{mode}: {kills} kills; {len(everything) - sum(committed.values())} aborted records hidden")


DLQ_RATE = 6_000


@pytest.mark.parametrize(
    ("mode", "kills", "n"),
    [
        pytest.param("1-worker", 4, 36_000, id="1-worker-4-kills"),
        pytest.param("2-workers", KILLS, N, id="2-workers-10-kills", marks=pytest.mark.slow),
    ],
)
def test_sigkill_with_dead_letters_in_the_transaction(
    mode, kills, n, apache_kafka, broker_topic_factory, tmp_path
):
    """Outputs and dead letters share the transaction: each input in exactly one of them, once."""
    bs = apache_kafka.bootstrap_servers
    topics = broker_topic_factory(apache_kafka)
    src, dst, dlq = topics(partitions=4), topics(partitions=2), topics(partitions=1)
    produce_n(bs, src, n)
    env = {
        **os.environ,
        "PYTHONPATH": f"{FLOWS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "BWK_BROKERS": bs,
        "BWK_IN": src,
        "BWK_OUT": dst,
        "BWK_DLQ": dlq,
        "BWK_APP": f"eos-dlq-{src}",
        "BWK_RATE": str(DLQ_RATE / (1 if mode == "1-worker" else 2)),
    }
    workers = "1" if mode == "1-worker" else "2"
    cmd = [sys.executable, "-m", "bytewax.run", "eos_dlq_flow:flow", "-w", workers, "-s", "1"]
    rng = random.Random(f"dlq-{mode}")
    done = 0
    with (tmp_path / "flow.log").open("ab") as log:
        for _ in range(kills):
            proc = subprocess.Popen(
                cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            time.sleep(rng.uniform(1.5, 3.0))
            if proc.poll() is not None:
                break
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            done += 1
        final = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        code = final.wait(timeout=300)
    assert code == 0, (tmp_path / "flow.log").read_text()[-4000:]
    assert done == kills, f"only {done} kills landed mid-run"

    from bytewax_kafka.testing import read_to_end

    out = Counter(r.value for r in read_to_end(bs, dst, isolation_level="read_committed", timeout=120))
    dead = read_to_end(bs, dlq, isolation_level="read_committed", timeout=120)
    letters = Counter(r.value for r in dead)
    want_out = Counter(str(i).encode() for i in range(n) if i % 7)
    want_dlq = Counter(str(i).encode() for i in range(n) if i % 7 == 0)
    for name, got, want in (("outputs", out, want_out), ("dead letters", letters, want_dlq)):
        missing, extra = want - got, got - want
        assert not missing, f"{sum(missing.values())} {name} missing, e.g. {list(missing)[:5]}"
        assert not extra, f"{sum(extra.values())} {name} duplicated, e.g. {list(extra)[:5]}"
    assert {dict(r.headers)["dlq.error.name"] for r in dead} == {b"_VALUE_DESERIALIZATION"}
    print(f"{mode}: {done} kills; {sum(out.values())} outputs and {sum(letters.values())} dead letters")
