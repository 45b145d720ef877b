"""The input side: fresh topics, a pre-filled input, probes, and waiting for the output to arrive."""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import Any, Protocol

from confluent_kafka import Producer

from bytewax_kafka.bench.define.cell import BACKLOG_BIT, PROBE_BIT, STALL_SECONDS, STARTUP_SECONDS, Cell
from bytewax_kafka.bench.errors import CellFailed
from bytewax_kafka.bench.payload import HEADER, Codec, KeyChooser, codec_for
from bytewax_kafka.bench.run.processes import check_stop
from bytewax_kafka.bench.run.progress import Progress

__all__ = ["admin_conf", "create_topics", "delete_topics", "prefill", "wait_for_output", "wait_until_reading"]


class _Counting(Protocol):
    @property
    def unique(self) -> int: ...

    errors: list[str]


class _Alive(Protocol):
    def dead(self) -> str | None: ...

    def sample(self) -> Any: ...


def admin_conf(bootstrap: str) -> dict[str, Any]:
    """Client settings of the runner's own admin calls."""
    # librdkafka's info-level chatter (BGQUEUE ...) would tear the progress bars.
    return {"bootstrap.servers": bootstrap, "log_level": 3}


def create_topics(bootstrap: str, partitions: int, replication: int) -> tuple[str, str]:
    """A fresh input and output topic (uuid names) with ``partitions`` each."""
    from bytewax_kafka.testing import create_topic

    tag = uuid.uuid4().hex[:12]
    conf = admin_conf(bootstrap)
    src = create_topic(conf, f"bench-in-{tag}", partitions=partitions, replication_factor=replication)
    dst = create_topic(conf, f"bench-out-{tag}", partitions=partitions, replication_factor=replication)
    return src, dst


def delete_topics(bootstrap: str, topics: list[str]) -> None:
    """Delete a cell's topics (best effort: a failed delete never fails a cell)."""
    from bytewax_kafka.testing import delete_topics as delete

    with contextlib.suppress(Exception):
        delete(admin_conf(bootstrap), topics, timeout=10)


def prefill(
    bootstrap: str, topic: str, cell: Cell, messages: int, progress: Progress, *, backlog: bool = False
) -> float:
    """Produce ``messages`` values (send time now, sequence 0..N-1); returns the seconds taken.

    ``backlog``: the sequence numbers carry the backlog bit, telling them
    from what the load generator sends later.

    Raises:
        CellFailed: When a message was not acknowledged.
    """
    codec = codec_for(cell.serde)
    keys = KeyChooser(cell.keys, cell.key_space, seed=1)
    failures: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 1_000_000,
            "partitioner": "murmur2_random",
            "on_delivery": on_delivery,
            "log_level": 3,
        }
    )
    t0 = time.perf_counter()
    raw = cell.serde == "none"
    pad = b"x" * (cell.message_size - HEADER.size)
    pack = HEADER.pack
    produce = producer.produce
    tag = BACKLOG_BIT if backlog else 0
    for i in range(messages):
        now = time.time_ns()
        seq = tag | i
        value = pack(now, seq) + pad if raw else codec.encode(now, seq, cell.message_size)
        while True:
            try:
                produce(topic, value, keys.next())
                break
            except BufferError:
                producer.poll(0.01)
        if i % 50_000 == 0:
            producer.poll(0)
            progress.cell_progress("prefill", i, messages)
            check_stop()
    left = producer.flush(120)
    if failures or left:
        raise CellFailed(f"pre-filling the input failed: {len(failures)} failed, {left} not acknowledged")
    progress.cell_progress("prefill", messages, messages)
    return time.perf_counter() - t0


def _send_probes(bootstrap: str, topic: str, codec: Codec, size: int, partitions: int, round_: int) -> None:
    """One probe message into each input partition (its number in the sequence number)."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "log_level": 3})
    for part in range(partitions):
        p.produce(
            topic, codec.encode(time.time_ns(), PROBE_BIT | (part << 20) | round_, size), partition=part
        )
    p.flush(10)


def wait_until_reading(
    bootstrap: str, src: str, cell: Cell, reader: Any, flow: _Alive, deadline: float, progress: Progress
) -> None:
    """Send probes until one from every input partition came out: the flow reads them all.

    Until then a partition may still be starting (its offsets resolved, its
    fetches begun), and the first seconds of load would measure that.

    Raises:
        CellFailed: When the flow died, or did not pass every probe within
            :data:`~bytewax_kafka.bench.define.cell.STARTUP_SECONDS`.
    """
    codec = codec_for(cell.serde)
    i = 0
    started = time.monotonic()
    while len(reader.probe_partitions) < cell.partitions:
        check_stop()
        progress.cell_progress("starting", len(reader.probe_partitions), cell.partitions)
        why = flow.dead()
        if why:
            raise CellFailed(why)
        if time.monotonic() - started > STARTUP_SECONDS or time.monotonic() > deadline:
            raise CellFailed(
                f"the flow passed probes of {len(reader.probe_partitions)} of {cell.partitions} "
                f"partitions within {STARTUP_SECONDS:.0f}s"
            )
        _send_probes(bootstrap, src, codec, cell.message_size, cell.partitions, i)
        i += 1
        for _ in range(10):
            if len(reader.probe_partitions) >= cell.partitions:
                break
            time.sleep(0.05)
    time.sleep(0.5)  # let every partition's fetch settle


def wait_for_output(
    reader: _Counting,
    flow: _Alive,
    expected: int,
    deadline: float,
    progress: Progress,
    phase: str = "running",
    *,
    stall_seconds: float | None = None,
) -> None:
    """Block until ``expected`` distinct messages came out, sampling the flow every 50 ms.

    Raises:
        CellFailed: On a stall (no new output for
            :data:`~bytewax_kafka.bench.define.cell.STALL_SECONDS` while some
            is missing: lost or stuck messages), a dead flow, a reader error,
            no output at all after start-up, or the cell's deadline.
    """
    stall = STALL_SECONDS if stall_seconds is None else stall_seconds
    launched = time.monotonic()
    last_count = -1
    last_change = time.monotonic()
    while True:
        check_stop()
        got = reader.unique
        progress.cell_progress(phase, got, expected)
        flow.sample()
        if got >= expected:
            return
        if reader.errors:
            raise CellFailed(f"reading the output failed: {reader.errors[0]}")
        why = flow.dead()
        if why:
            raise CellFailed(why)
        now = time.monotonic()
        if got != last_count:
            last_count, last_change = got, now
        if got == 0 and now - launched > STARTUP_SECONDS:
            raise CellFailed(f"no output after {STARTUP_SECONDS:.0f}s (0 of {expected} messages)")
        if got > 0 and now - last_change > stall:
            raise CellFailed(
                f"lost or stuck messages: {expected - got} of {expected} never arrived "
                f"(no new output for {stall:.0f}s, the flow still running)"
            )
        if now > deadline:
            raise CellFailed(f"timed out: {got} of {expected} messages arrived before the cell's timeout")
        time.sleep(0.05)
