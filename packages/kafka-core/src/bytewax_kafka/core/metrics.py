"""Prometheus metrics of the source, one series per partition it reads.

All four carry the labels ``step_id``, ``topic`` and ``partition``; a
partition's series are set from the first batch it reads (offset 0
included), updated at most once a second, and removed when the partition
closes (or, in consumer-group mode, moves to another member):

- ``bytewax_kafka_source_consumer_lag``: records between the partition's
  high watermark and the next offset the flow reads (records removed by
  retention not counted). (Bytewax's own connector registers
  ``bytewax_kafka_consumer_lag``; the name differs so both can be imported
  in one process, as the benchmarks do.)
- ``bytewax_kafka_source_lag_seconds``: how far behind in time (see
  :class:`bytewax_kafka.core.lag.PartitionLag`).
- ``bytewax_kafka_source_drain_seconds``: estimated seconds to read the lag
  at the current read rate.
- ``bytewax_kafka_source_partition_stalled``: 1 while records wait and none
  has been read for ``stall_after`` seconds, else 0.
"""

from __future__ import annotations

from prometheus_client import Gauge

_LABELS = ["step_id", "topic", "partition"]

CONSUMER_LAG = Gauge(
    "bytewax_kafka_source_consumer_lag",
    "Messages between a partition's high watermark and the next offset the flow reads.",
    _LABELS,
)
LAG_SECONDS = Gauge(
    "bytewax_kafka_source_lag_seconds",
    "Seconds the flow is behind on a partition: 0 when nothing waits, else now minus the timestamp "
    "of the last record read (at most the time since the partition was last caught up).",
    _LABELS,
)
DRAIN_SECONDS = Gauge(
    "bytewax_kafka_source_drain_seconds",
    "Estimated seconds to read a partition's lag at the current read rate (+Inf while records wait "
    "and none are read).",
    _LABELS,
)
STALLED = Gauge(
    "bytewax_kafka_source_partition_stalled",
    "1 while records wait in a partition and none has been read for stall_after seconds, else 0.",
    _LABELS,
)

#: Every gauge of a source partition.
PARTITION_GAUGES = (CONSUMER_LAG, LAG_SECONDS, DRAIN_SECONDS, STALLED)
