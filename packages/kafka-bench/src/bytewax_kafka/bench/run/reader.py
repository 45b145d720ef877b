"""The output side: a thread that reads the output topic from its start and decodes every message."""

from __future__ import annotations

import threading
import time
import uuid
from array import array
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from bytewax_kafka.bench.define.cell import BACKLOG_BIT, PROBE_BIT
from bytewax_kafka.bench.payload import HEADER, Codec

__all__ = ["Reader"]


class Reader(threading.Thread):
    """Consume a topic from its start, recording each message's send time, arrival and sequence.

    Arrival is the wall-clock time (ns) just after the ``consume`` call that
    returned the message; the producer's timestamp (ms) is kept as well.
    Probes (:data:`~bytewax_kafka.bench.define.cell.PROBE_BIT`) are counted
    apart, duplicates too. With ``committed_only`` the reader sees only
    committed transactions (``isolation.level=read_committed``), as readers
    of an exactly-once flow must.
    """

    def __init__(
        self, bootstrap: str, topic: str, partitions: int, codec: Codec, *, committed_only: bool = False
    ) -> None:
        super().__init__(name=f"reader-{topic}", daemon=True)
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 5,
                "fetch.queue.backoff.ms": 1,
                "isolation.level": "read_committed" if committed_only else "read_uncommitted",
                "log_level": 3,
            }
        )
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        self.codec = codec
        self.sent = array("q")
        self.arrived = array("q")
        self.created_ms = array("q")
        #: Arrival (ns) of each pre-filled backlog message, in arrival order.
        self.backlog_arrived = array("q")
        self.seen: set[int] = set()
        self.duplicates = 0
        self.probes = 0
        #: Input partitions whose probe came out (probe sequence numbers carry it).
        self.probe_partitions: set[int] = set()
        self.errors: list[str] = []
        self.last_arrival = 0.0
        self._halt = threading.Event()

    @property
    def unique(self) -> int:
        """Distinct (non-probe) messages read so far."""
        return len(self.seen)

    def run(self) -> None:
        """Read until :meth:`stop`."""
        raw = self.codec.name == "none"
        unpack = HEADER.unpack_from
        decode = self.codec.decode
        sent, arrived, created = self.sent.append, self.arrived.append, self.created_ms.append
        backlog = self.backlog_arrived.append
        seen = self.seen
        try:
            while not self._halt.is_set():
                msgs = self.consumer.consume(10_000, 0.001)
                if not msgs:
                    continue
                now = time.time_ns()
                for m in msgs:
                    err = m.error()
                    if err is not None:
                        if err.code() != KafkaError._PARTITION_EOF:
                            self.errors.append(str(err))
                        continue
                    v: Any = m.value()
                    t, seq = unpack(v) if raw else decode(v)
                    if seq & PROBE_BIT:
                        self.probes += 1
                        self.probe_partitions.add((seq >> 20) & 0xFFFF)
                        continue
                    if seq in seen:
                        self.duplicates += 1
                        continue
                    seen.add(seq)
                    sent(t)
                    arrived(now)
                    created(m.timestamp()[1])
                    if seq & BACKLOG_BIT:
                        backlog(now)
                self.last_arrival = time.monotonic()
        except Exception as exc:  # reported by the cell, never lost in a thread
            self.errors.append(f"reader failed: {type(exc).__name__}: {exc}")
        finally:
            self.consumer.close()

    def stop(self) -> None:
        """Stop reading and close the consumer."""
        self._halt.set()
        self.join(timeout=10)
