"""How far behind a source partition is, in records and in seconds, and whether it has stalled.

The source tells a :class:`PartitionLag` about each batch it reads (the last
record of the batch: its timestamp, nothing per record) and asks it, at most
once a second per partition, to update the gauges of
``bytewax_kafka.core.metrics`` from the partition's watermarks: the
client's cached values, which fetch responses keep fresh. A partition that
is not fetched (paused, starved, its fetches failing) keeps a stale cached
high watermark, so for a partition nothing has been read from for a while a
:class:`WatermarkProbe` asks the cluster for it, without waiting for the
answer (it is used at a later update).

- **Records**: high watermark minus the next offset to read; when retention
  removed records the flow has not read yet, the log start offset counts
  instead of the next offset (those records can never be read).
- **Seconds behind**: 0 when nothing waits; else now minus the timestamp of
  the last record read, but at most the time since the partition was last
  caught up (a record arriving in a partition idle for an hour is not an
  hour behind).
- **Seconds to drain**: the records behind divided by the rate they were
  read at lately (smoothed over the last updates); +Inf while records wait
  and none are read.
- **Stalled**: the lag has grown and nothing has been read from the
  partition for ``stall_after`` seconds (counted from the first update that
  saw more records waiting than right after the last read), the failure
  reported as "one partition silently stops". The change is logged (a
  warning naming the topic and partition, the lag before and now, and for
  how long; a line again once it is read again) and the stalled gauge is 1
  meanwhile. A lag that stays as it is (a transaction marker after the
  last record, a backlog nobody adds to) is not a stall.

Example:
    >>> lag = PartitionLag("flow.in.kafka_input", "orders", 3, stall_after=60.0)
    >>> lag.read((1, 1_700_000_000_000), now=100.0)
    >>> lag.update(0, 50, 42, now=101.0, wall=1_700_000_010.0)
    >>> lag.behind, lag.seconds_behind
    (8, 10.0)
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import IsolationLevel, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from bytewax_kafka.core.config import for_admin, make_client
from bytewax_kafka.core.metrics import CONSUMER_LAG, DRAIN_SECONDS, LAG_SECONDS, PARTITION_GAUGES, STALLED

log = logging.getLogger("bytewax_kafka.core.source")

__all__ = ["PartitionLag", "WatermarkProbe", "check_stall_after", "probe_after"]

#: Weight of the latest rate in the smoothed read rate.
_SMOOTHING = 0.5
#: Longest a partition goes unread before its high watermark is asked of the cluster (seconds).
_PROBE_AFTER = 10.0
#: Seconds a probe may take before it is given up.
_PROBE_TIMEOUT = 10.0


def probe_after(stall_after: float | None) -> float:
    """Seconds without a record read before a partition's high watermark is asked of the cluster."""
    return _PROBE_AFTER if stall_after is None else min(_PROBE_AFTER, stall_after / 3)


class WatermarkProbe:
    """Asks the cluster for the high watermarks of partitions, never waiting for the answer.

    Args:
        config: The source's settings (``bootstrap.servers`` and ``add_config``);
            its admin client is created on first use.
        read_committed: Ask for the last stable offset (what a
            ``read_committed`` consumer can read up to).

    Example:
        >>> probe = WatermarkProbe({"bootstrap.servers": "localhost:19092"})
        >>> probe.ask([("orders", 3)], every=10.0)  # sent; the answer comes with a later call
        >>> probe.answer(("orders", 3)) is None
        True
    """

    def __init__(self, config: Mapping[str, Any], *, read_committed: bool = False) -> None:
        self._config = {**for_admin(config), "allow.auto.create.topics": False}
        self._isolation = IsolationLevel.READ_COMMITTED if read_committed else IsolationLevel.READ_UNCOMMITTED
        self._admin: Any = None
        #: (topic, partition) -> (future, when sent), and when each was last asked for.
        self._pending: dict[tuple[str, int], tuple[Any, float]] = {}
        self._asked: dict[tuple[str, int], float] = {}

    def ask(self, keys: Iterable[tuple[str, int]], every: float) -> None:
        """Send one request for the high watermarks of the ``keys`` not asked for in ``every`` seconds."""
        now = time.monotonic()
        asked = self._asked
        due = [k for k in keys if now - asked.get(k, -math.inf) >= max(every, 0.1)]
        if not due:
            return
        for k in due:
            asked[k] = now
        try:
            if self._admin is None:
                self._admin = make_client(AdminClient, self._config, "admin client")
            futures = self._admin.list_offsets(
                {TopicPartition(t, p): OffsetSpec.latest() for t, p in due},  # type: ignore[no-untyped-call]
                isolation_level=self._isolation,
                request_timeout=_PROBE_TIMEOUT,
            )
        except Exception as exc:  # monitoring only
            log.debug("asking for high watermarks failed: %s", exc)
            return
        for tp, future in futures.items():
            self._pending[(tp.topic, tp.partition)] = (future, now)

    def answer(self, key: tuple[str, int]) -> int | None:
        """``key``'s high watermark if its answer has come back (once), else None."""
        entry = self._pending.get(key)
        if entry is None or not entry[0].done():
            return None
        del self._pending[key]
        try:
            return int(entry[0].result().offset)
        except Exception as exc:  # the partition's leader is away, ...: asked again later
            log.debug("high watermark of %s[%d] not known: %s", key[0], key[1], exc)
            return None

    def forget(self, key: tuple[str, int]) -> None:
        """Stop waiting for ``key``'s answer (the partition closed or moved)."""
        self._pending.pop(key, None)
        self._asked.pop(key, None)


def check_stall_after(value: float | None) -> float | None:
    """Validate ``stall_after``: seconds > 0, or None.

    Raises:
        TypeError: For a value that is not a number.
        ValueError: For a number <= 0.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f"stall_after must be seconds (a number) or None, got {type(value).__name__}: {value!r}"
        )
    if value <= 0:
        raise ValueError(f"stall_after must be > 0 seconds or None, got {value!r}")
    return float(value)


class PartitionLag:
    """The lag gauges of one source partition, and its stall detection.

    Args:
        step_id: The source step (a label of every series).
        topic: The partition's topic.
        partition: The partition.
        stall_after: Seconds without a record read, while records wait,
            before the partition counts as stalled; None turns the
            detection off.
    """

    __slots__ = (
        "_baseline",
        "_caught_up_at",
        "_first_update",
        "_grew_at",
        "_labels",
        "_last_ts",
        "_prev",
        "_rate",
        "_read_at",
        "_read_seen",
        "behind",
        "drain_seconds",
        "seconds_behind",
        "stall_after",
        "stalled",
    )

    def __init__(self, step_id: str, topic: str, partition: int, stall_after: float | None) -> None:
        self._labels = (step_id, topic, str(partition))
        self.stall_after = stall_after
        #: Records behind at the first update after the last read, and when more than that
        #: first waited with nothing read since (the stall clock).
        self._baseline: int | None = None
        self._grew_at: float | None = None
        self._read_seen: float | None = None
        #: Monotonic time of the last batch read, and the timestamp (ms) of its last record.
        self._read_at: float | None = None
        self._last_ts: float | None = None
        #: Monotonic time the partition was last seen with nothing to read, and of the first update.
        self._caught_up_at: float | None = None
        self._first_update: float | None = None
        #: (monotonic time, next offset) at the last update: for the read rate.
        self._prev: tuple[float, int] | None = None
        self._rate: float | None = None
        #: Values of the last update (None while unknown).
        self.behind: int | None = None
        self.seconds_behind: float | None = None
        self.drain_seconds: float | None = None
        self.stalled = False

    def unread_for(self, now: float) -> float:
        """Seconds since a record was last read (since the first update when none was)."""
        since = self._read_at if self._read_at is not None else self._first_update
        return 0.0 if since is None else now - since

    def read(self, timestamp: tuple[int, int] | None, now: float | None = None) -> None:
        """A batch was read; ``timestamp`` is its last record's (called once per batch)."""
        self._read_at = time.monotonic() if now is None else now
        if timestamp is not None and timestamp[0] > 0 and timestamp[1] > 0:
            self._last_ts = timestamp[1] / 1000.0

    def update(
        self,
        low: int,
        high: int,
        next_offset: int,
        *,
        now: float | None = None,
        wall: float | None = None,
    ) -> None:
        """Recompute the gauges from the watermarks and the next offset to read.

        Args:
            low: Log start offset (< 0 when unknown).
            high: High watermark (< 0 when unknown: nothing is set).
            next_offset: Next offset the flow reads (< 0 when unknown: nothing is set).
            now: Monotonic seconds (for tests).
            wall: Seconds since the epoch (for tests).
        """
        if high < 0 or next_offset < 0:
            return
        mono = time.monotonic() if now is None else now
        if self._first_update is None:
            self._first_update = mono
        behind = max(0, high - max(next_offset, low))
        self.behind = behind
        labels = self._labels
        CONSUMER_LAG.labels(*labels).set(behind)
        self._rate_at(mono, next_offset)
        if behind == 0:
            self._caught_up_at = mono
            self.seconds_behind = 0.0
            self.drain_seconds = 0.0
        else:
            self.seconds_behind = self._seconds_behind(mono, time.time() if wall is None else wall)
            rate = self._rate
            # Unknown until two updates have measured a rate.
            self.drain_seconds = None if rate is None else behind / rate if rate > 0 else math.inf
        if self.seconds_behind is not None:
            LAG_SECONDS.labels(*labels).set(self.seconds_behind)
        if self.drain_seconds is not None:
            DRAIN_SECONDS.labels(*labels).set(self.drain_seconds)
        self._check_stall(mono, behind)

    def _rate_at(self, mono: float, next_offset: int) -> None:
        prev = self._prev
        self._prev = (mono, next_offset)
        if prev is None or mono <= prev[0]:
            return
        rate = max(0, next_offset - prev[1]) / (mono - prev[0])
        self._rate = rate if self._rate is None else _SMOOTHING * rate + (1 - _SMOOTHING) * self._rate

    def _seconds_behind(self, mono: float, wall: float) -> float | None:
        bounds = []
        if self._last_ts is not None:
            bounds.append(max(0.0, wall - self._last_ts))
        if self._caught_up_at is not None:
            bounds.append(mono - self._caught_up_at)
        return min(bounds) if bounds else None

    def _check_stall(self, mono: float, behind: int) -> None:
        if self._read_at != self._read_seen or self._baseline is None:
            # Read since the last update (or the first update): what waits now is the baseline.
            self._read_seen = self._read_at
            self._baseline = behind
            self._grew_at = None
        elif behind <= self._baseline:
            self._grew_at = None  # nothing more waits than at the last read (retention, a marker)
        elif self._grew_at is None:
            self._grew_at = mono
        if self.stall_after is None:
            return
        grew_at = self._grew_at
        stalled = grew_at is not None and mono - grew_at >= self.stall_after
        topic, partition = self._labels[1], self._labels[2]
        if stalled and not self.stalled:
            log.warning(
                "partition %s of topic %r has stalled: its lag grew from %d to %d records while nothing "
                "was read from it for %.0fs (stall_after=%gs); other partitions may still be read",
                partition,
                topic,
                self._baseline,
                behind,
                mono - (grew_at or mono),
                self.stall_after,
            )
        elif self.stalled and not stalled:
            log.info("partition %s of topic %r is read again (%d records behind)", partition, topic, behind)
        self.stalled = stalled
        STALLED.labels(*self._labels).set(1 if stalled else 0)

    def remove(self) -> None:
        """Drop this partition's series (it closed, or moved to another member of the group)."""
        for gauge in PARTITION_GAUGES:
            with contextlib.suppress(KeyError):
                gauge.remove(*self._labels)
