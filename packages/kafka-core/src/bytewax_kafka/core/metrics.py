"""Prometheus metrics of the source.

``bytewax_kafka_source_consumer_lag{step_id, topic, partition}``: messages
between the partition's high watermark and the next offset the flow will
read. Set from the first message on (offset 0 included) and removed when the
partition closes. (Bytewax's own connector registers
``bytewax_kafka_consumer_lag``; the name differs so both can be imported in
one process, as the benchmarks do.)
"""

from __future__ import annotations

import contextlib

from prometheus_client import Gauge

CONSUMER_LAG = Gauge(
    "bytewax_kafka_source_consumer_lag",
    "Messages between a partition's high watermark and the next offset the flow reads.",
    ["step_id", "topic", "partition"],
)


class LagGauge:
    """The lag gauge of one source partition."""

    __slots__ = ("_child", "_labels")

    def __init__(self, step_id: str, topic: str, partition: int) -> None:
        self._labels = (step_id, topic, str(partition))
        self._child = CONSUMER_LAG.labels(*self._labels)

    def set(self, high_watermark: int, next_offset: int) -> None:
        """Record the lag; ignored while the high watermark is unknown (< 0)."""
        if high_watermark >= 0 and next_offset >= 0:
            self._child.set(max(0, high_watermark - next_offset))

    def remove(self) -> None:
        """Drop this partition's series (on close)."""
        with contextlib.suppress(KeyError):
            CONSUMER_LAG.remove(*self._labels)
