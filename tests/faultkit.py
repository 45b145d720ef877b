"""Helpers shared by the fault, load and security tests: flow processes, recovery stores, checks.

A flow runs as its own process (``python -m bytewax.run`` or, for several
processes, ``python -m bytewax_kafka.testing.processes -p N``, on free ports) in its own session, so that
it can be SIGKILLed with every child, and writes stdout and stderr to a log
file that the tests read for error messages (and scan for secrets).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

FLOWS = Path(__file__).parent / "flows"


def flow_cmd(
    module: str, recovery: Path | None, *, workers: int = 1, processes: int = 1, snapshot_s: int = 1
) -> list[str]:
    """The command running ``module:flow`` with bytewax recovery in ``recovery``."""
    rec = ["-r", str(recovery), "-s", str(snapshot_s), "-b", "0"] if recovery is not None else []
    if processes > 1:
        return [
            sys.executable,
            "-m",
            "bytewax_kafka.testing.processes",
            "-p",
            str(processes),
            f"{module}:flow",
            *rec,
        ]
    return [sys.executable, "-m", "bytewax.run", f"{module}:flow", "-w", str(workers), *rec]


def flow_env(**settings: Any) -> dict[str, str]:
    """The environment of a flow process: ours, the flows folder on the path, and ``BWK_*`` settings."""
    env = {**os.environ, "PYTHONPATH": f"{FLOWS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.update({f"BWK_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def init_recovery(path: Path, partitions: int = 1) -> Path:
    """Create a bytewax recovery store of ``partitions`` partitions at ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "bytewax.recovery", str(path), str(partitions)],
        check=True,
        capture_output=True,
    )
    return path


@dataclass
class FlowProcess:
    """One run of a flow command; output appended to ``log``."""

    cmd: Sequence[str]
    env: Mapping[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    ended: float | None = None

    def start(self) -> FlowProcess:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                list(self.cmd),
                env=dict(self.env),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.started = time.monotonic()
        self.ended = None
        proc = self.proc

        def watch() -> None:  # records when the flow ended, even if nobody is waiting
            proc.wait()
            if self.proc is proc:
                self.ended = time.monotonic()

        threading.Thread(target=watch, daemon=True).start()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def poll(self) -> int | None:
        assert self.proc is not None
        return self.proc.poll()

    def wait(self, timeout: float) -> int:
        """Exit code; on timeout the flow is killed and the test fails with the log's tail."""
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"flow still running after {timeout:.0f}s:\n{self.tail()}") from None
        deadline = time.monotonic() + 5
        while self.ended is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return code

    def kill(self) -> None:
        """SIGKILL the flow's whole process group."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def tail(self, chars: int = 4000) -> str:
        return self.text()[-chars:]

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


def errors_in(log_text: str) -> list[str]:
    """Lines of a flow log naming one of our exceptions (librdkafka's own log lines left out)."""
    return [
        line
        for line in log_text.splitlines()
        if "bytewax_kafka" in line and "Error" in line and not line.startswith("%")
    ]


def check_copy(expected: Iterable[tuple[int, int]], out_values: Iterable[bytes]) -> tuple[set[Any], int]:
    """Compare a fault flow's output (``b"<partition>:<offset>"``) with its input.

    Returns:
        The input ``(partition, offset)`` pairs missing from the output, and
        the number of duplicate output records.
    """
    counts = Counter(tuple(int(x) for x in v.split(b":")) for v in out_values)
    missing = set(expected) - set(counts)
    duplicates = sum(c - 1 for c in counts.values())
    return missing, duplicates


def partition_info(conf: Mapping[str, Any], topic: str, partition: int) -> Any:
    """The metadata of one partition (``leader``, ``replicas``, ``isrs``)."""
    md = AdminClient(dict(conf)).list_topics(topic=topic, timeout=10)
    return md.topics[topic].partitions[partition]


def wait_full_isr(
    conf: Mapping[str, Any], topics: Iterable[str], replicas: int = 3, timeout: float = 90
) -> None:
    """Wait until every partition of ``topics`` has all ``replicas`` in sync and a leader."""
    admin = AdminClient(dict(conf))
    names = list(topics)
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            md = admin.list_topics(timeout=5)
            lagging = [
                f"{t}[{p.id}] isr={sorted(p.isrs)} leader={p.leader}"
                for t in names
                for p in md.topics[t].partitions.values()
                if len(p.isrs) < replicas or p.leader < 0
            ]
        except Exception as exc:  # brokers still starting
            lagging = [str(exc)]
        if not lagging:
            return
        last = "; ".join(lagging[:3])
        if time.monotonic() > deadline:
            raise AssertionError(f"replicas not back in sync after {timeout}s: {last}")
        time.sleep(0.3)


def restart_all(cluster: Any, timeout: float = 120) -> float:
    """Start every stopped node of an ApacheKafkaCluster together; seconds until all are registered."""
    t = time.monotonic()
    for node in cluster.nodes:
        if node.pid is None:
            node.prepare()
            node.start()
    cluster.wait_ready(timeout)
    return time.monotonic() - t


def stop_all(cluster: Any, grace: float = 5.0) -> float:
    """Stop every node in parallel (SIGTERM, SIGKILL after ``grace`` s); seconds it took.

    A node's controlled shutdown waits for a controller quorum that the
    others' shutdowns take away: the last nodes need the SIGKILL.
    """
    t = time.monotonic()
    threads = [threading.Thread(target=node.stop, args=(grace,)) for node in cluster.nodes]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.monotonic() - t


def vm_rss_kib(pid: int) -> int | None:
    """Resident memory of ``pid`` (VmRSS, KiB), or None once it has ended."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@dataclass
class Report:
    """Figures a test prints (``-s`` or the captured output in CI) for docs/reliability.md."""

    name: str
    figures: dict[str, Any] = field(default_factory=dict)

    def __setitem__(self, key: str, value: Any) -> None:
        self.figures[key] = value

    def show(self) -> None:
        """Print the figures; also append them as a JSON line to ``$BWK_FIGURES`` when set."""
        print(f"\n[{self.name}] " + ", ".join(f"{k}={v}" for k, v in self.figures.items()))
        target = os.environ.get("BWK_FIGURES")
        if target:
            with open(target, "a") as f:
                f.write(json.dumps({"test": self.name, **self.figures}, default=str) + "\n")


def eos_expected(n: int) -> Counter[bytes]:
    """What ``tests/flows/eos_flow.py`` writes for inputs ``b"0"`` .. ``n - 1``: each output once."""
    return eos_outputs(str(i).encode() for i in range(n))


def eos_outputs(inputs: Iterable[bytes | None]) -> Counter[bytes]:
    """What ``tests/flows/eos_flow.py`` writes for these input values (each output once per input)."""
    out: Counter[bytes] = Counter()
    for value in inputs:
        assert value is not None
        i = int(value)
        if i % 3 == 0:
            continue
        out[str(i).encode()] += 1
        if i % 5 == 0:
            out[b"copy-" + str(i).encode()] += 1
    return out


def check_exactly_once(expected: Counter[bytes], committed: Iterable[bytes]) -> tuple[int, int]:
    """Outputs missing from, and outputs repeated in, a ``read_committed`` read of an exactly-once flow."""
    got = Counter(committed)
    return sum((expected - got).values()), sum((got - expected).values())
