"""KafkaGroupSource: each worker reads the partitions Kafka's consumer group assigns it.

A bytewax ``DynamicSource``: one partition per worker, whose
:class:`~bytewax_kafka.core.group.GroupMember` subscribes with the group's
``group.id``. Items are the same as :class:`~bytewax_kafka.core.KafkaSource`'s
(:class:`~bytewax_kafka.core.KafkaSourceMessage`, :class:`~bytewax_kafka.core.KafkaError`
items, or with ``batches=True`` lists of messages of one partition). Built by
``bytewax_kafka.operators.input(..., consumer_group=)``, which also adds the
steps that tell the outputs which offsets to commit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from bytewax.inputs import DynamicSource, StatelessSourcePartition
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, OFFSET_STORED, TopicPartition
from confluent_kafka import KafkaError as CKError
from confluent_kafka.admin import AdminClient

from bytewax_kafka.core.config import (
    check_add_config,
    check_addresses,
    for_admin,
    for_consumer,
    make_client,
    scrub,
    watch_errors,
)
from bytewax_kafka.core.consumer import WAIT
from bytewax_kafka.core.deadline import bounded
from bytewax_kafka.core.errors import KafkaConsumeError, KafkaTimeoutError
from bytewax_kafka.core.gc_tuning import tune_gc
from bytewax_kafka.core.group import ConsumerGroup, GroupMember
from bytewax_kafka.core.lag import WatermarkProbe, check_stall_after, probe_after
from bytewax_kafka.core.messages import NO_HEADERS, KafkaError, KafkaSourceMessage, _new, _source_message
from bytewax_kafka.core.messages import _SourceSlots
from bytewax_kafka.core.metadata import ADMIN_SETTINGS, is_pattern, list_partitions, match_topics
from bytewax_kafka.core.offsets import describe_offset

__all__ = ["KafkaGroupSource"]

SourceItem = KafkaSourceMessage[bytes | None, bytes | None] | KafkaError[bytes | None, bytes | None]

_EOF = CKError._PARTITION_EOF
_CONNECTIVITY = frozenset({CKError._TRANSPORT, CKError._ALL_BROKERS_DOWN, CKError._RESOLVE})
#: Where the group starts a partition it has no committed offset for.
_RESETS = {OFFSET_BEGINNING: "earliest", OFFSET_END: "latest"}
#: Poll interval while nothing arrives, and while an aborted epoch closes.
_IDLE_WAIT = timedelta(milliseconds=5)
#: Seconds between updates of the lag gauges.
_LAG_EVERY = 1.0
#: tail=False: a member holding no partition for this long stops.
_EMPTY_FOR = 5.0


class KafkaGroupSource(DynamicSource[Any]):
    """Read Kafka topics as a member of a consumer group: Kafka decides which worker reads what.

    One consumer per worker joins the group of ``group``; partitions move
    between the workers of all replicas as they start and stop. Offsets are
    committed by the outputs sharing ``group`` (so use it through
    ``bytewax_kafka.operators.input(..., consumer_group=)`` and ``output(...,
    consumer_group=)``): a partition starts at the group's committed offset,
    else where ``starting_offset`` says.

    Args:
        brokers: ``host:port`` addresses of the cluster.
        topics: Topics (or ``^patterns``) to read.
        group: The :class:`~bytewax_kafka.core.ConsumerGroup`.
        tail: Keep waiting for new messages (True); False stops a worker
            once every partition it holds was read to its end (and one
            holding none for five seconds): for one-off runs of a single
            replica.
        starting_offset: For partitions the group has no offset for:
            ``OFFSET_BEGINNING`` (default), ``OFFSET_END`` or
            ``OFFSET_STORED`` (``auto.offset.reset`` decides).
        add_config: librdkafka consumer settings merged over ours
            (``session.timeout.ms``, ``group.protocol``, ...).
        batch_size: Most messages one ``next_batch`` returns.
        raise_on_errors: Raise on a consume error, or emit a
            :class:`~bytewax_kafka.core.KafkaError` item.
        timeout: Seconds to wait for the cluster at start, and how long
            every broker may be unreachable while reading.
        batches: Emit lists of messages of one partition instead of single
            messages.
        gc_tuning: Tune Python's garbage collector for streaming once the
            flow is built.
        stall_after: See :class:`~bytewax_kafka.core.KafkaSource`.

    Example:
        >>> group = ConsumerGroup("orders-enricher")
        >>> source = KafkaGroupSource(["localhost:19092"], ["orders"], group)
    """

    def __init__(
        self,
        brokers: Iterable[str],
        topics: Iterable[str],
        group: ConsumerGroup,
        tail: bool = True,
        starting_offset: int = OFFSET_BEGINNING,
        add_config: Mapping[str, Any] | None = None,
        batch_size: int = 1000,
        raise_on_errors: bool = True,
        *,
        timeout: float = 30.0,
        batches: bool = False,
        gc_tuning: bool = True,
        stall_after: float | None = 60.0,
    ) -> None:
        self._brokers = check_addresses("brokers", brokers)
        self._topics = check_addresses("topics", topics)
        for topic in self._topics:
            if is_pattern(topic):
                match_topics(topic, [])  # a bad pattern fails here, not at start
        if not isinstance(group, ConsumerGroup):
            raise TypeError(f"group must be a ConsumerGroup, got {type(group).__name__}")
        self._group = group
        self._tail = bool(tail)
        if isinstance(starting_offset, bool) or starting_offset not in (*_RESETS, OFFSET_STORED):
            raise ValueError(
                "in consumer-group mode a partition starts at the group's committed offset, else at "
                "OFFSET_BEGINNING, OFFSET_END or OFFSET_STORED (auto.offset.reset); got "
                f"{describe_offset(starting_offset) if isinstance(starting_offset, int) else starting_offset!r}"
            )
        self._starting_offset = starting_offset
        self._add_config = check_add_config(add_config)
        own = self._add_config.get("group.id")
        if own is not None and own != group.group_id:
            raise ValueError(
                f"add_config sets group.id {own!r} but the consumer group is {group.group_id!r}: "
                "name the group in ConsumerGroup() only"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self._batch_size = batch_size
        self._raise_on_errors = bool(raise_on_errors)
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        self._timeout = float(timeout)
        self._batches = bool(batches)
        self._gc_tuning = bool(gc_tuning)
        self._stall_after = check_stall_after(stall_after)
        self._lock = threading.Lock()
        self._checked = False
        #: Error items emitted so far in this process (see KafkaSource.errors_emitted).
        self._errors = 0

    def __repr__(self) -> str:
        return (
            f"KafkaGroupSource(brokers={self._brokers!r}, topics={self._topics!r}, group={self._group!r}, "
            f"tail={self._tail}, add_config=<{len(self._add_config)} settings>)"
        )

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def errors_emitted(self) -> int:
        """How many :class:`~bytewax_kafka.core.KafkaError` items this source emitted in this process."""
        return self._errors

    def _base_config(self) -> dict[str, Any]:
        return {"bootstrap.servers": ",".join(self._brokers), **self._add_config}

    def consumer_config(self, worker: int = 0) -> dict[str, Any]:
        """The settings worker ``worker``'s member consumer is created with."""
        reset = _RESETS.get(self._starting_offset, "earliest")
        conf: dict[str, Any] = {
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": reset,
            "enable.partition.eof": not self._tail,
            "allow.auto.create.topics": False,
            "socket.connection.setup.timeout.ms": int(min(self._timeout, 30) * 1000),
            "fetch.queue.backoff.ms": 10,
            "partition.assignment.strategy": "cooperative-sticky",
        }
        given = for_consumer(self._base_config())
        if str(given.get("group.protocol", "classic")).lower() == "consumer":
            conf.pop("partition.assignment.strategy")  # KIP-848: the broker assigns
        conf.update(given)
        conf.update(self._group.consumer_settings(worker))
        if not self._tail:
            conf["enable.partition.eof"] = True
        return conf

    def _check_topics(self) -> None:
        """Fail at start for a missing topic or an unreachable cluster (never creating a topic)."""
        with self._lock:
            if self._checked:
                return
            conf, errors = watch_errors({**for_admin(self._base_config()), **ADMIN_SETTINGS})
            admin = make_client(AdminClient, conf, "admin client")
            try:
                list_partitions(admin, self._topics, timeout=self._timeout, brokers=",".join(self._brokers))
            except KafkaTimeoutError as exc:
                admin.poll(0)
                raise errors.timeout_error(str(exc)) from None
            self._checked = True

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _GroupPartition:
        """Join the group with this worker's consumer."""
        flow_id = step_id.split(".", 1)[0]
        if not self._group.outputs_of(flow_id):
            raise ValueError(
                f"step {step_id!r} reads with {self._group!r} but no output of flow {flow_id!r} shares it: "
                "offsets are committed by the outputs, give them consumer_group= too"
            )
        self._check_topics()
        if self._gc_tuning:
            tune_gc()
        member = GroupMember(
            self._group,
            worker_index,
            self.consumer_config(worker_index),
            self._topics,
            step_id,
            self._stall_after,
        )
        self._group.join(flow_id, worker_index, member)
        return _GroupPartition(self, member)


def _first_offsets(msgs: list[Any]) -> dict[tuple[str, int], int]:
    """The first offset of each partition among consumed records (a rare path)."""
    firsts: dict[tuple[str, int], int] = {}
    for msg in msgs:
        if msg.error() is None:
            firsts.setdefault((msg.topic(), msg.partition()), msg.offset())
    return firsts


class _GroupPartition(StatelessSourcePartition[Any]):
    def __init__(self, source: KafkaGroupSource, member: GroupMember) -> None:
        self._source = source
        self._member = member
        self._n = source._batch_size
        self._batches = source._batches
        self._raise = source._raise_on_errors
        self._tail = source._tail
        topics = source._topics
        self._one_topic = topics[0] if len(topics) == 1 and not is_pattern(topics[0]) else None
        self._awake: datetime | None = None
        self._lag_due = 0.0
        self._probe = WatermarkProbe(source._base_config(), read_committed=member.transactional)
        self._probe_after = probe_after(source._stall_after)
        self._probed: dict[tuple[str, int], int] = {}
        self._closed = False

    def next_batch(self) -> list[Any]:
        m = self._member
        if m.rewind_requested:
            m.rewind()
        if m.hold:  # exactly-once: an aborted epoch is closing
            self._awake = datetime.now(timezone.utc) + _IDLE_WAIT
            return []
        m.revoked_now = False
        msgs = m.consumer.consume(self._n, WAIT)
        if m.revoked_now and m.transactional:
            # What this call read may belong to revoked partitions: dropped, and the partitions
            # kept are read again from their last committed offsets.
            m.rewind(_first_offsets(msgs))
            self._awake = None
            return []
        now = time.monotonic()
        if now >= self._lag_due:
            self._lag_due = now + _LAG_EVERY
            self._update_lags(now)
        if not msgs:
            self._idle(now)
            return []
        self._awake = None
        out = self._convert(msgs)
        if out:
            m.emitted = True
            m.down_since = None
        return out

    def _convert(self, msgs: list[Any]) -> list[Any]:
        """Turn records into messages (the hot loop); partition runs are noted once each."""
        out: list[Any] = []
        append = out.append
        new = _new
        slots = _SourceSlots
        cls = KafkaSourceMessage
        empty = NO_HEADERS
        one_topic = self._one_topic
        runs: list[tuple[Any, int, int]] = []
        last_t: str | None = None
        last_p = -1
        for msg in msgs:
            if msg.error() is None:
                p = msg.partition()
                t = msg.topic() if one_topic is None else one_topic
                if p != last_p or t != last_t:
                    last_t = t
                    last_p = p
                    runs.append((t, p, len(out)))
                s: Any = new(slots)
                s.key = msg.key()
                s.value = msg.value()
                s.topic = t
                s.headers = msg.headers() or empty
                s.latency = None
                s.offset = msg.offset()
                s.partition = p
                s.timestamp = msg.timestamp()
                s.__class__ = cls
                append(s)
            elif self._event(msg, out):
                runs.append((None, -1, len(out) - 1))
                last_p = -1
        return self._noted(out, runs)

    def _noted(self, out: list[Any], runs: list[tuple[Any, int, int]]) -> list[Any]:
        """Note each run's first and last record (base offset, lag); group runs into lists for batches."""
        m = self._member
        base = m.base
        lags = m.lags
        lists: list[Any] = []
        for i, (t, p, start) in enumerate(runs):
            end = runs[i + 1][2] if i + 1 < len(runs) else len(out)
            if t is None:
                lists.append(out[start])
                continue
            key = (t, p)
            if key not in base:
                base[key] = out[start].offset
            last = out[end - 1]
            lag = lags.get(key)
            if lag is not None:
                lag.read(last.timestamp)
            if self._batches:
                lists.append(out[start:end])
        return lists if self._batches else out

    def _event(self, msg: Any, out: list[Any]) -> bool:
        """Handle a consumed error event; True when it became an item of ``out``."""
        err = msg.error()
        code = err.code()
        m = self._member
        topic, partition = msg.topic(), msg.partition()
        if code == _EOF:
            if topic is not None and partition is not None:
                m.ended.add((topic, partition))
            return False
        if code in _CONNECTIVITY and not err.fatal():
            if m.down_since is None:
                m.down_since = time.monotonic()
            return False
        where = partition if partition is not None and partition >= 0 else None
        if self._raise:
            raise KafkaConsumeError(topic, where, scrub(str(err), m.config))
        item = _source_message(
            msg.key(), msg.value(), topic, msg.headers() or [], None, msg.offset(), where, msg.timestamp()
        )
        self._source._errors += 1  # before the item is emitted: see errors_emitted()
        out.append(KafkaError(err, item))
        return True

    def _update_lags(self, now: float) -> None:
        """The lag gauges of the partitions held (at most once a second); unread ones are probed."""
        m = self._member
        if not m.lags:
            return
        consumer = m.consumer
        keys = sorted(m.lags)
        try:
            positions = consumer.position([TopicPartition(t, p) for t, p in keys])
        except Exception:
            return
        probe = self._probe
        probed = self._probed
        unread = []
        for key, tp in zip(keys, positions, strict=True):
            lag = m.lags[key]
            try:
                lo, hi = consumer.get_watermark_offsets(TopicPartition(*key), cached=True)
            except Exception:
                continue
            got = probe.answer(key)
            if got is not None:
                probed[key] = got
            if lag.unread_for(now) >= self._probe_after:
                unread.append(key)
            pos = tp.offset if tp.offset is not None and tp.offset >= 0 else -1
            lag.update(int(lo), max(int(hi), probed.get(key, -1)), pos, now=now)
        if unread:
            probe.ask(unread, self._probe_after)

    def _idle(self, now: float) -> None:
        m = self._member
        down = m.down_since
        if down is not None and now - down > self._source._timeout:
            wait = min(self._source._timeout, 5.0)
            try:
                bounded("a metadata request", wait, m.consumer.list_topics, timeout=wait)
                m.down_since = None
            except Exception as exc:
                raise m.errors.timeout_error(
                    f"every Kafka broker has been unreachable for {now - down:.0f}s while reading as "
                    f"worker {m.worker} of group {m.group.group_id!r}: {scrub(str(exc), m.config)}"
                ) from None
        if not self._tail and self._finished(now):
            raise StopIteration
        self._awake = datetime.now(timezone.utc) + _IDLE_WAIT

    def _finished(self, now: float) -> bool:
        m = self._member
        if not m.assigned_once:
            return False
        if m.assigned:
            return m.assigned <= m.ended
        return m.empty_since is not None and now - m.empty_since >= _EMPTY_FOR

    def next_awake(self) -> datetime | None:
        return self._awake

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._member.release()
