"""Crash/resume: SIGKILL a recovering Kafka -> Kafka flow at random points, then finish it.

Checks at-least-once end to end: nothing lost, and duplicates only from
epochs in flight: in the output each source partition's offsets go up, and
may step back only once per kill, by no more than a few seconds of input.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from bytewax_kafka.testing import produce_n

FLOWS = Path(__file__).parent / "flows"
N = 200_000
RATE = 12_000  # whole flow; about 17 s of processing, so every kill lands mid-run
KILLS = 5
SNAPSHOT_S = 1


def _cmd(mode: str, recovery: Path) -> list[str]:
    common = ["-r", str(recovery), "-s", str(SNAPSHOT_S), "-b", "0"]
    if mode == "2-processes":
        return [
            sys.executable,
            "-m",
            "bytewax_kafka.testing.processes",
            "-p",
            "2",
            "recovery_flow:flow",
            *common,
        ]
    workers = "2" if mode == "2-workers" else "1"
    return [sys.executable, "-m", "bytewax.run", "recovery_flow:flow", "-w", workers, *common]


def _start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "sink"),
    [("1-worker", "epoch"), ("1-worker", "dynamic"), ("2-workers", "epoch"), ("2-processes", "epoch")],
)
def test_sigkill_and_resume_loses_nothing(
    mode, sink, kafka_bootstrap, topic_factory, kafka_read_to_end, tmp_path
):
    src = topic_factory(partitions=4)
    dst = topic_factory(partitions=1)
    produce_n(kafka_bootstrap, src, N)
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), "2"], check=True)
    env = {
        **os.environ,
        "PYTHONPATH": f"{FLOWS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "BWK_BROKERS": kafka_bootstrap,
        "BWK_IN": src,
        "BWK_OUT": dst,
        "BWK_SINK": sink,
        "BWK_RATE": str(RATE / (1 if mode == "1-worker" else 2)),
    }
    log = tmp_path / "flow.log"
    cmd = _cmd(mode, recovery)
    rng = random.Random(f"{mode}-{sink}")
    kills = 0
    for _ in range(KILLS):
        proc = _start(cmd, env, log)
        time.sleep(rng.uniform(1.0, 3.0))
        if proc.poll() is not None:
            break  # finished before the kill: nothing left to interrupt
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
    final = _start(cmd, env, log)
    assert final.wait(timeout=300) == 0, log.read_text()[-4000:]
    assert kills == KILLS, f"only {kills} kills landed mid-run; the flow ran too fast"

    out = [r.value.decode() for r in kafka_read_to_end(dst, timeout=120)]
    seen = {(int(p), int(o)) for p, o in (v.split(":") for v in out)}
    expected = {(r.partition, r.offset) for r in kafka_read_to_end(src, timeout=120)}
    assert len(expected) == N
    missing = expected - seen
    assert not missing, f"{len(missing)} messages lost, e.g. {sorted(missing)[:5]}"

    per_partition: dict[int, list[int]] = defaultdict(list)
    for v in out:
        p, o = v.split(":")
        per_partition[int(p)].append(int(o))
    bound = (SNAPSHOT_S + 3) * RATE
    for p, offsets in per_partition.items():
        rewinds = [(a, b) for a, b in itertools.pairwise(offsets) if b <= a]
        assert len(rewinds) <= kills, f"partition {p}: {len(rewinds)} rewinds for {kills} kills"
        for a, b in rewinds:
            assert a - b < bound, f"partition {p} rewound from {a} to {b}: more than epochs in flight"
    duplicates = len(out) - len(seen)
    print(f"{mode}/{sink}: {kills} kills, {duplicates} duplicates of {N}")
