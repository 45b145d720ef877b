"""Starting offsets: what a partition reads first, always resolved to a real offset.

A logical start (beginning, end, stored, a time) is turned into a concrete
offset when the partition is built, before the first snapshot. So a snapshot
always holds a real offset: a restart never re-seeks to "the end" and skips
what arrived while the flow was down, and never re-reads what was done.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    OFFSET_INVALID,
    OFFSET_STORED,
    Consumer,
    KafkaException,
    TopicPartition,
)
from confluent_kafka import KafkaError as CKError

from bytewax_kafka.core.deadline import bounded
from bytewax_kafka.core.errors import KafkaConfigError, KafkaTimeoutError

#: What ``starting_offset`` accepts.
StartingOffset = int | datetime

#: Group coordinator errors while ``__consumer_offsets`` is being created or loaded.
_COORDINATOR_STARTING = frozenset(
    {CKError.NOT_COORDINATOR, CKError.COORDINATOR_LOAD_IN_PROGRESS, CKError.COORDINATOR_NOT_AVAILABLE}
)

_LOGICAL = {
    OFFSET_BEGINNING: "OFFSET_BEGINNING",
    OFFSET_END: "OFFSET_END",
    OFFSET_STORED: "OFFSET_STORED",
}


def check_starting_offset(value: Any) -> StartingOffset:
    """Validate ``starting_offset`` at construction.

    Accepts ``OFFSET_BEGINNING``, ``OFFSET_END``, ``OFFSET_STORED``, an offset
    ``>= 0``, or a ``datetime`` (naive ones are taken as UTC).

    Raises:
        TypeError: For another type.
        ValueError: For another negative number.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            "starting_offset must be OFFSET_BEGINNING, OFFSET_END, OFFSET_STORED, an offset >= 0 "
            f"or a datetime, got {type(value).__name__}: {value!r}"
        )
    if value < 0 and value not in _LOGICAL:
        raise ValueError(
            f"starting_offset {value} is not a confluent_kafka logical offset "
            f"({', '.join(f'{n}={v}' for v, n in _LOGICAL.items())}) nor an offset >= 0"
        )
    return value


def describe_offset(value: StartingOffset) -> str:
    """A readable name for a starting offset."""
    if isinstance(value, datetime):
        return f"time {value.isoformat()}"
    return _LOGICAL.get(value, f"offset {value}")


def _watermarks(consumer: Consumer, tp: TopicPartition, timeout: float) -> tuple[int, int]:
    try:
        lo, hi = bounded(
            f"reading the offsets of topic {tp.topic!r} partition {tp.partition}",
            timeout,
            consumer.get_watermark_offsets,
            tp,
            timeout=timeout,
            cached=False,
        )
    except Exception as exc:  # KafkaException: timeout or transport
        raise KafkaTimeoutError(
            f"could not read the offsets of topic {tp.topic!r} partition {tp.partition} "
            f"within {timeout:.0f}s: {exc}"
        ) from None
    return int(lo), int(hi)


def committed_offset(
    consumer: Consumer, topic: str, partition: int, group: str, timeout: float
) -> int | None:
    """The group's committed offset for a partition, or None; retries while the coordinator loads.

    Raises:
        KafkaTimeoutError: When no answer comes within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            found = bounded(
                f"reading the committed offset of group {group!r} for topic {topic!r} partition {partition}",
                max(left, 0.1),
                consumer.committed,
                [TopicPartition(topic, partition)],
                timeout=max(left, 0.1),
            )
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            retriable = err is not None and (err.retriable() or err.code() in _COORDINATOR_STARTING)
            if retriable and time.monotonic() + 0.2 < deadline:
                time.sleep(0.2)
                continue
            raise KafkaTimeoutError(
                f"could not read the committed offset of group {group!r} for topic {topic!r} "
                f"partition {partition} within {timeout:.0f}s: {exc}"
            ) from None
        off = found[0].offset
        return int(off) if off is not None and off >= 0 else None


def resolve_start(
    consumer: Consumer,
    topic: str,
    partition: int,
    start: StartingOffset,
    *,
    reset: str,
    timeout: float,
    group: str | None = None,
) -> int:
    """Turn ``start`` into the concrete offset to read first.

    Args:
        consumer: A consumer (its ``group.id`` is used for ``OFFSET_STORED``).
        topic: Topic.
        partition: Partition.
        start: A value accepted by :func:`check_starting_offset`.
        reset: ``auto.offset.reset`` in effect, used for ``OFFSET_STORED``
            when the group has no committed offset.
        timeout: Seconds for each broker request.
        group: The consumer's ``group.id``, for error messages.

    Returns:
        An offset ``>= 0``.

    Raises:
        KafkaTimeoutError: When the broker does not answer in time.
        KafkaConfigError: ``OFFSET_STORED`` with no committed offset and
            ``auto.offset.reset=error``.
    """
    tp = TopicPartition(topic, partition)
    if isinstance(start, datetime):
        ms = int(start.timestamp() * 1000)
        try:
            found = bounded(
                f"looking up offsets for a time in topic {topic!r} partition {partition}",
                timeout,
                consumer.offsets_for_times,
                [TopicPartition(topic, partition, ms)],
                timeout=timeout,
            )
        except Exception as exc:
            raise KafkaTimeoutError(
                f"could not look up offsets for time {start.isoformat()} in topic {topic!r} "
                f"partition {partition} within {timeout:.0f}s: {exc}"
            ) from None
        off = found[0].offset
        if off is not None and off >= 0:
            return int(off)
        return _watermarks(consumer, tp, timeout)[1]  # nothing at or after that time: the end
    if start == OFFSET_BEGINNING:
        return _watermarks(consumer, tp, timeout)[0]
    if start == OFFSET_END:
        return _watermarks(consumer, tp, timeout)[1]
    if start == OFFSET_STORED:
        stored = committed_offset(consumer, topic, partition, str(group), timeout)
        if stored is not None:
            return stored
        r = reset.lower()
        if r in ("earliest", "smallest", "beginning"):
            return _watermarks(consumer, tp, timeout)[0]
        if r in ("latest", "largest", "end"):
            return _watermarks(consumer, tp, timeout)[1]
        raise KafkaConfigError(
            f"OFFSET_STORED: the consumer group has no committed offset for topic {topic!r} "
            f"partition {partition} and auto.offset.reset={reset!r}"
        )
    if start >= 0:
        return int(start)
    raise ValueError(f"unexpected starting offset {start}")  # pragma: no cover - checked earlier


__all__ = [
    "OFFSET_BEGINNING",
    "OFFSET_END",
    "OFFSET_INVALID",
    "OFFSET_STORED",
    "StartingOffset",
    "check_starting_offset",
    "committed_offset",
    "describe_offset",
    "resolve_start",
]
