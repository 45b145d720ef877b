"""Starting offsets: what a partition reads first, always resolved to a real offset.

A logical start (beginning, end, stored, a time) is turned into a concrete
offset when the partition is built, before the first snapshot. So a snapshot
always holds a real offset: a restart never re-seeks to "the end" and skips
what arrived while the flow was down, and never re-reads what was done.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    OFFSET_INVALID,
    OFFSET_STORED,
    Consumer,
    TopicPartition,
)

from bytewax_kafka.core.errors import KafkaConfigError, KafkaTimeoutError

#: What ``starting_offset`` accepts.
StartingOffset = int | datetime

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
        lo, hi = consumer.get_watermark_offsets(tp, timeout=timeout, cached=False)
    except Exception as exc:  # KafkaException: timeout or transport
        raise KafkaTimeoutError(
            f"could not read the offsets of topic {tp.topic!r} partition {tp.partition} "
            f"within {timeout:.0f}s: {exc}"
        ) from None
    return int(lo), int(hi)


def resolve_start(
    consumer: Consumer,
    topic: str,
    partition: int,
    start: StartingOffset,
    *,
    reset: str,
    timeout: float,
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
            found = consumer.offsets_for_times([TopicPartition(topic, partition, ms)], timeout=timeout)
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
        try:
            committed = consumer.committed([tp], timeout=timeout)
        except Exception as exc:
            raise KafkaTimeoutError(
                f"could not read the committed offset of topic {topic!r} partition {partition} "
                f"within {timeout:.0f}s: {exc}"
            ) from None
        off = committed[0].offset
        if off is not None and off >= 0:
            return int(off)
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
    "describe_offset",
    "resolve_start",
]
