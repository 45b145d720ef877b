"""Flow faults: SIGKILL crash/resume loops with a sink slower than the source; bad recovery stores.

The crash loops extend ``tests/test_recovery.py`` (whose sink keeps up with
its source) to a sink that writes slower than the source reads, so every
epoch in flight holds a backlog when the flow dies: 1 worker with either
sink, and 2 processes. The recovery-store tests show what Bytewax 0.21 says
about a missing, unwritable or foreign store, and what
``bytewax_kafka.core.recovery.check_recovery_dir`` says instead.
"""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from bytewax_kafka.core.recovery import RecoveryStoreError, check_recovery_dir
from bytewax_kafka.testing import produce_n
from faultkit import FlowProcess, Report, check_copy, flow_cmd, flow_env, init_recovery

KILLS = 3


@pytest.mark.slow
@pytest.mark.parametrize(("processes", "sink"), [(1, "epoch"), (1, "dynamic"), (2, "epoch")])
def test_sigkill_loop_with_a_sink_slower_than_the_source(
    processes, sink, kafka_bootstrap, topic_factory, kafka_read_to_end, tmp_path
):
    n = 14_000
    sink_rate = 2_000 if processes == 1 else 1_000  # per sink partition; the source is not throttled
    src = topic_factory(partitions=4)
    dst = topic_factory(partitions=1)
    produce_n(kafka_bootstrap, src, n)
    rec = init_recovery(tmp_path / "rec", 2)
    env = flow_env(brokers=kafka_bootstrap, **{"in": src, "out": dst}, sink=sink, sink_rate=sink_rate)
    flow = FlowProcess(flow_cmd("fault_flow", rec, processes=processes), env, tmp_path / "flow.log")
    rng = random.Random(f"{processes}-{sink}")
    kills = 0
    for _ in range(KILLS):
        flow.start()
        time.sleep(rng.uniform(1.5, 3.0))
        if flow.poll() is not None:
            break
        flow.kill()
        kills += 1
    flow.start()
    assert flow.wait(timeout=300) == 0, flow.tail()
    assert kills == KILLS, f"only {kills} kills landed mid-run; the flow ran too fast"

    expected = {(r.partition, r.offset) for r in kafka_read_to_end(src, timeout=120)}
    out = [r.value for r in kafka_read_to_end(dst, timeout=120)]
    missing, duplicates = check_copy(expected, out)
    assert not missing, f"{len(missing)} messages lost, e.g. {sorted(missing)[:5]}"
    per_partition: dict[int, list[int]] = defaultdict(list)
    for v in out:
        p, o = v.split(b":")
        per_partition[int(p)].append(int(o))
    for p, offsets in per_partition.items():
        rewinds = [(a, b) for a, b in itertools.pairwise(offsets) if b <= a]
        assert len(rewinds) <= kills, f"partition {p}: {len(rewinds)} rewinds for {kills} kills"
    report = Report(f"sigkill-slow-sink-{processes}p-{sink}")
    report["kills"] = kills
    report["messages"] = n
    report["duplicates"] = duplicates
    report.show()


# -- recovery stores ------------------------------------------------------------


def _run_tiny_flow(path: Path, flow_id: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """A two-line flow without Kafka, run with recovery in ``path``."""
    module = tmp_path / f"tiny_{flow_id.replace('-', '_')}.py"
    module.write_text(
        "import bytewax.operators as op\n"
        "from bytewax.dataflow import Dataflow\n"
        "from bytewax.testing import TestingSource, TestingSink\n"
        f"flow = Dataflow({flow_id!r})\n"
        "op.output('out', op.input('in', flow, TestingSource(range(3))), TestingSink([]))\n"
    )
    return subprocess.run(
        [sys.executable, "-m", "bytewax.run", f"{module.stem}:flow", "-r", str(path), "-s", "1", "-b", "0"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path), "RUST_BACKTRACE": "0"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_missing_recovery_dir(tmp_path):
    missing = tmp_path / "nowhere"
    run = _run_tiny_flow(missing, "tiny", tmp_path)
    # Bytewax's own message is clear already.
    assert run.returncode != 0
    assert f'recovery directory "{missing}" does not exist' in run.stderr
    with pytest.raises(
        RecoveryStoreError, match=r"does not exist; create it with `python -m bytewax.recovery"
    ):
        check_recovery_dir(missing)


def test_uninitialised_recovery_dir(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    run = _run_tiny_flow(empty, "tiny", tmp_path)
    assert run.returncode != 0
    assert "No recovery partitions found on any worker" in run.stderr  # Bytewax's words
    with pytest.raises(
        RecoveryStoreError,
        match=r"holds no recovery partitions .*initialise it with `python -m bytewax.recovery",
    ):
        check_recovery_dir(empty)


def _immutable(path: Path, on: bool) -> bool:
    """Make ``path`` unwritable even for root (``chattr +i``); False where that is impossible."""
    if os.geteuid() != 0:
        path.chmod(0o555 if on else 0o755)
        return True
    flag = "+i" if on else "-i"
    try:
        subprocess.run(["chattr", flag, str(path)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


def test_unwritable_recovery_dir(tmp_path):
    store = init_recovery(tmp_path / "ro", 1)
    if not _immutable(store, True):
        pytest.skip("cannot make a folder unwritable here (root without chattr)")
    try:
        run = _run_tiny_flow(store, "tiny", tmp_path)
        with pytest.raises(RecoveryStoreError, match=r"recovery directory .*/ro is not writable"):
            check_recovery_dir(store)
    finally:
        _immutable(store, False)
    # Bytewax fails, but names neither the folder nor the cause.
    assert run.returncode != 0
    assert "unable to open database file" in run.stderr
    assert str(store) not in run.stderr


def test_recovery_store_of_another_flow(tmp_path):
    store = init_recovery(tmp_path / "shared", 1)
    assert _run_tiny_flow(store, "flow-a", tmp_path).returncode == 0
    assert check_recovery_dir(store, "flow-a") == 1
    # Bytewax runs flow-b on flow-a's store without a word (flow-b starts afresh).
    assert _run_tiny_flow(store, "flow-b", tmp_path).returncode == 0
    with pytest.raises(RecoveryStoreError, match=r"holds the state of flow 'flow-a', not only of 'flow-b'"):
        check_recovery_dir(store, "flow-b")
    fresh = init_recovery(tmp_path / "fresh", 2)
    assert check_recovery_dir(fresh, "any-flow") == 2


def test_incomplete_or_foreign_recovery_dir(tmp_path):
    store = init_recovery(tmp_path / "store", 2)
    (store / "part-1.sqlite3").unlink()
    with pytest.raises(RecoveryStoreError, match=r"holds 1 of its 2 partitions"):
        check_recovery_dir(store)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "part-0.sqlite3").write_bytes(b"not a database")
    with pytest.raises(RecoveryStoreError, match=r"is not a bytewax recovery partition"):
        check_recovery_dir(junk)
    not_dir = tmp_path / "file"
    not_dir.write_text("")
    with pytest.raises(RecoveryStoreError, match=r"is not a directory"):
        check_recovery_dir(not_dir)


def test_recovery_check_command(tmp_path):
    store = init_recovery(tmp_path / "store", 1)
    ok = subprocess.run(
        [sys.executable, "-m", "bytewax_kafka.core.recovery", str(store), "--flow-id", "x"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "bytewax_kafka.core.recovery", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert "does not exist" in bad.stderr
