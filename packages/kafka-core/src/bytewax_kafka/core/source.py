"""KafkaSource: read Kafka topics into a dataflow, one bytewax partition per Kafka partition."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
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
from bytewax_kafka.core.consumer import WorkerConsumer, close_consumer
from bytewax_kafka.core.deadline import Deadlines, bounded, deadline_for
from bytewax_kafka.core.errors import (
    KafkaConsumeError,
    KafkaPartitionsChangedError,
    KafkaTimeoutError,
)
from bytewax_kafka.core.gc_tuning import tune_gc
from bytewax_kafka.core.lag import PartitionLag, WatermarkProbe, check_stall_after, probe_after
from bytewax_kafka.core.logs import drain
from bytewax_kafka.core.messages import KafkaError, KafkaSourceMessage, _source_message
from bytewax_kafka.core.metadata import (
    ADMIN_SETTINGS,
    is_pattern,
    list_partitions,
    match_topics,
    partition_counts,
)
from bytewax_kafka.core.offsets import (
    StartingOffset,
    check_starting_offset,
    committed_offset,
    resolve_start,
)

if TYPE_CHECKING:
    from bytewax_kafka.core.transactions import ExactlyOnce

log = logging.getLogger(__name__)

SourceItem = KafkaSourceMessage[bytes | None, bytes | None] | KafkaError[bytes | None, bytes | None]

_EOF = CKError._PARTITION_EOF
#: Errors librdkafka reports while it reconnects on its own.
_CONNECTIVITY = frozenset({CKError._TRANSPORT, CKError._ALL_BROKERS_DOWN, CKError._RESOLVE})
#: After this long without data a partition polls every _IDLE_WAIT instead of every 1 ms.
_IDLE_AFTER = 0.05
_IDLE_WAIT = timedelta(milliseconds=5)
#: Seconds between updates of the lag gauge of a partition.
_LAG_EVERY = 1.0


def _part_key(topic: str, partition: int) -> str:
    # Same form as bytewax's own connector ("<partition>-<topic>"), so
    # recovery stores written by it resume here.
    return f"{partition}-{topic}"


class KafkaSource(FixedPartitionedSource[SourceItem, int]):
    """Read Kafka topics; each Kafka partition is a bytewax partition.

    Items are :class:`KafkaSourceMessage` with ``bytes`` keys and values (and
    :class:`KafkaError` items when ``raise_on_errors=False``). The snapshot of
    a partition is the next offset to read, always a real offset: logical
    starting offsets are resolved when the partition is built.

    Each worker reads all of its partitions through one consumer (one
    connection set and one librdkafka thread per worker, whatever the
    partition count).

    Args:
        brokers: ``host:port`` addresses of the cluster.
        topics: Topics to read.
        tail: Keep waiting for new messages (True), or stop each partition
            at the end offset it had when the flow started (False).
        starting_offset: Where to start without recovery state:
            ``OFFSET_BEGINNING`` (default), ``OFFSET_END``, ``OFFSET_STORED``
            (the consumer group's committed offset; set ``group.id`` in
            ``add_config``), an offset, or a ``datetime``.
        add_config: librdkafka settings merged over ours; consumer-only keys
            are not passed to the admin client.
        batch_size: Most messages one ``next_batch`` returns.
        raise_on_errors: Raise on a consume error (True) or emit a
            :class:`KafkaError` item carrying topic/partition/offset (False).
        timeout: Seconds to wait for the cluster in any one request, and how
            long every broker may stay unreachable while reading before the
            source fails.
        consumer_per: ``"worker"`` (default): one consumer serves all the
            partitions of a worker. ``"partition"``: one consumer per
            partition, as Bytewax's own connector does (more threads and
            connections; kept for comparison, see docs/performance.md).
        metadata_interval: Seconds between checks (with ``tail=True``) for
            partitions added to the topics, or new topics matching a
            ``^pattern``; None turns the check off.
        on_new_partitions: ``"raise"`` (default) fails the flow with
            :class:`~bytewax_kafka.core.errors.KafkaPartitionsChangedError`,
            so a supervisor restarts it and the new partitions are read;
            ``"warn"`` logs a warning once per change and keeps going.

        exactly_once: Set by ``bytewax_kafka.operators.input(...,
            exactly_once=)``: each partition starts at the offset committed
            by the last exactly-once transaction (then recovery state, then
            ``starting_offset``), and reads with ``read_committed``.
        batches: Emit each batch read from a partition as one item, a
            ``list`` of :class:`KafkaSourceMessage` (error items stay
            single items): the dataflow then pays its per-item cost once
            per batch. See ``bytewax_kafka.operators.input(..., batches=True)``.
        gc_tuning: Tune Python's garbage collector for streaming once the
            flow is built: freeze what is alive then and raise the young
            generation's threshold (see :mod:`bytewax_kafka.core.gc_tuning`;
            ``False`` leaves the collector as the process set it).
        stall_after: Seconds a partition may go without a record read
            while records wait in it before it counts as stalled: a warning
            names it and its ``bytewax_kafka_source_partition_stalled``
            gauge is 1 (see :mod:`bytewax_kafka.core.lag`); None turns the
            check off.

    Topics starting with ``^`` are regular expressions matched against whole
    topic names (librdkafka's convention), resolved when the flow starts.

    Example:
        >>> from bytewax.dataflow import Dataflow
        >>> import bytewax.operators as op
        >>> flow = Dataflow("read")
        >>> msgs = op.input("in", flow, KafkaSource(["localhost:19092"], ["in-topic"], tail=False))
    """

    def __init__(
        self,
        brokers: Iterable[str],
        topics: Iterable[str],
        tail: bool = True,
        starting_offset: StartingOffset = OFFSET_BEGINNING,
        add_config: Mapping[str, Any] | None = None,
        batch_size: int = 1000,
        raise_on_errors: bool = True,
        *,
        timeout: float = 30.0,
        consumer_per: str = "worker",
        metadata_interval: float | None = 60.0,
        on_new_partitions: str = "raise",
        exactly_once: ExactlyOnce | None = None,
        batches: bool = False,
        gc_tuning: bool = True,
        stall_after: float | None = 60.0,
    ) -> None:
        self._brokers = check_addresses("brokers", brokers)
        self._topics = check_addresses("topics", topics)
        self._tail = bool(tail)
        self._starting_offset = check_starting_offset(starting_offset)
        self._add_config = check_add_config(add_config)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self._batch_size = batch_size
        self._raise_on_errors = bool(raise_on_errors)
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        self._timeout = float(timeout)
        if consumer_per not in ("worker", "partition"):
            raise ValueError(f"consumer_per must be 'worker' or 'partition', got {consumer_per!r}")
        self._consumer_per = consumer_per
        if metadata_interval is not None and metadata_interval <= 0:
            raise ValueError(f"metadata_interval must be > 0 seconds or None, got {metadata_interval!r}")
        self._metadata_interval = metadata_interval if self._tail else None
        if on_new_partitions not in ("raise", "warn"):
            raise ValueError(f"on_new_partitions must be 'raise' or 'warn', got {on_new_partitions!r}")
        self._on_new_partitions = on_new_partitions
        for topic in self._topics:
            if is_pattern(topic):
                match_topics(topic, [])  # a bad pattern fails here, not at start
        #: Partition counts seen when the partitions were listed.
        self._known: dict[str, int] = {}
        self._exactly_once = exactly_once
        self._batches = bool(batches)
        self._gc_tuning = bool(gc_tuning)
        self._stall_after = check_stall_after(stall_after)
        #: Error items emitted so far in this process (see :meth:`errors_emitted`).
        self._errors = 0
        self._parts: list[str] | None = None
        self._lock = threading.Lock()
        self._workers: dict[tuple[str, int, str], WorkerConsumer] = {}
        #: Each worker consumer's probe of high watermarks (for partitions not read lately).
        self._probes: dict[int, WatermarkProbe] = {}

    def errors_emitted(self) -> int:
        """How many :class:`KafkaError` items this source has emitted in this process.

        While it is 0 no batch of this source holds an error item, so steps
        after it can pass batches on without looking at each item.
        """
        return self._errors

    def __repr__(self) -> str:
        return (
            f"KafkaSource(brokers={self._brokers!r}, topics={self._topics!r}, tail={self._tail}, "
            f"starting_offset={self._starting_offset!r}, batch_size={self._batch_size}, "
            f"raise_on_errors={self._raise_on_errors}, add_config=<{len(self._add_config)} settings>)"
        )

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_lock"] = None
        state["_workers"] = {}
        state["_probes"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- configuration --------------------------------------------------------

    def _base_config(self) -> dict[str, Any]:
        return {"bootstrap.servers": ",".join(self._brokers), **self._add_config}

    def consumer_config(self) -> dict[str, Any]:
        """The settings each worker's consumer is created with."""
        conf: dict[str, Any] = {
            "group.id": "bytewax-kafka",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": not self._tail,
            # Look-ups of a topic by name must never create it.
            "allow.auto.create.topics": False,
            "socket.connection.setup.timeout.ms": int(min(self._timeout, 30) * 1000),
            # librdkafka pauses fetching a partition for this long once its
            # local queue passes queued.min.messages (default 1 s); with a
            # backlog that stall halved throughput. Measured in
            # docs/performance.md.
            "fetch.queue.backoff.ms": 10,
        }
        if self._exactly_once is not None:
            conf["isolation.level"] = "read_committed"
        conf.update(for_consumer(self._base_config()))
        if not self._tail:
            conf["enable.partition.eof"] = True
        return conf

    # -- FixedPartitionedSource -------------------------------------------------

    def list_parts(self) -> list[str]:
        """Every partition of every topic, as ``"<partition>-<topic>"``; asked once."""
        with self._lock:
            if self._parts is None:
                conf, errors = watch_errors({**for_admin(self._base_config()), **ADMIN_SETTINGS})
                admin = make_client(AdminClient, conf, "admin client")
                try:
                    parts = list_partitions(
                        admin, self._topics, timeout=self._timeout, brokers=",".join(self._brokers)
                    )
                except KafkaTimeoutError as exc:
                    admin.poll(0)  # serves error_cb: what librdkafka saw while retrying
                    raise errors.timeout_error(str(exc)) from None
                self._parts = [_part_key(t, p) for t in parts for p in parts[t]]
                self._known = {t: len(ps) for t, ps in parts.items()}
            return list(self._parts)

    def _check_partitions(self, consumer: Any, calls: Deadlines | None = None) -> None:
        """Compare the cluster's partitions with those listed at start."""
        wait = min(self._timeout, 2.0)
        try:
            if calls is None:
                md = bounded("checking the topics' partitions", wait, consumer.list_topics, timeout=wait)
            else:
                md = calls.call(
                    "checking the topics' partitions", deadline_for(wait), consumer.list_topics, timeout=wait
                )
        except Exception as exc:  # transient: the next check tries again
            log.debug("partition check failed: %s", exc)
            return
        now = partition_counts(md, self._topics)
        changes = {t: (self._known.get(t, 0), n) for t, n in now.items() if n > self._known.get(t, 0)}
        if not changes:
            return
        if self._on_new_partitions == "raise":
            raise KafkaPartitionsChangedError(changes)
        err = KafkaPartitionsChangedError(changes)
        log.warning("%s (on_new_partitions='warn': not reading them until restarted)", err)
        with self._lock:
            for topic, (_before, n) in changes.items():
                self._known[topic] = n

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _KafkaSourcePartition:
        """Build (or resume from ``resume_state``, the next offset) one partition."""
        if self._gc_tuning:
            tune_gc()
        idx, topic = for_part.split("-", 1)
        partition = int(idx)
        worker = self._worker(step_id, for_part)
        committed = self._committed(worker, topic, partition)
        if committed is not None:
            start = committed
        elif resume_state is not None:
            start = int(resume_state)
        else:
            start = resolve_start(
                worker.query(),
                topic,
                partition,
                self._starting_offset,
                reset=str(worker.config.get("auto.offset.reset", "earliest")),
                timeout=self._timeout,
                group=str(worker.config.get("group.id")),
            )
        end: int | None = None
        if not self._tail:
            try:
                end = int(
                    worker.calls.call(
                        f"reading the end offset of topic {topic!r} partition {partition}",
                        deadline_for(self._timeout),
                        worker.query().get_watermark_offsets,
                        TopicPartition(topic, partition),
                        timeout=self._timeout,
                        cached=False,
                    )[1]
                )
            except Exception as exc:
                raise KafkaTimeoutError(
                    f"could not read the end offset of topic {topic!r} partition {partition} "
                    f"within {self._timeout:.0f}s: {exc}"
                ) from None
        return _KafkaSourcePartition(
            source=self,
            worker=worker,
            step_id=step_id,
            topic=topic,
            partition=partition,
            start=start,
            end=end,
            batch_size=self._batch_size,
            raise_on_errors=self._raise_on_errors,
            batches=self._batches,
        )

    def _committed(self, worker: WorkerConsumer, topic: str, partition: int) -> int | None:
        """The offset the last exactly-once transaction committed, if any."""
        if self._exactly_once is None:
            return None
        eos = self._exactly_once
        eos.fence(self._base_config())
        group_id = eos.group_id
        group = make_client(Consumer, {**worker.config, "group.id": group_id}, "consumer")
        # Offsets of another worker's unfinished transaction stay unstable until
        # that worker fences it, or the broker aborts it after the timeout.
        wait = self._timeout + eos.transaction_timeout_ms / 1000.0
        try:
            return committed_offset(group, topic, partition, group_id, wait)
        finally:
            drain(group)  # its log lines
            close_consumer(group, "the exactly-once group consumer")

    def _probe(self, worker: WorkerConsumer) -> WatermarkProbe:
        """The probe shared by ``worker``'s partitions."""
        with self._lock:
            probe = self._probes.get(id(worker))
            if probe is None:
                read_committed = self._exactly_once is not None
                probe = self._probes[id(worker)] = WatermarkProbe(
                    self._base_config(), read_committed=read_committed
                )
            return probe

    def _worker(self, step_id: str, for_part: str) -> WorkerConsumer:
        owner = for_part if self._consumer_per == "partition" else ""
        key = (step_id, threading.get_ident(), owner)
        with self._lock:
            w = self._workers.get(key)
            if w is None or w.closed:
                w = WorkerConsumer(self.consumer_config(), self._timeout, self._batch_size)
                if self._metadata_interval is not None:
                    w.watch = (self, self._metadata_interval)
                    w.next_check = time.monotonic() + self._metadata_interval
                self._workers[key] = w
            return w


class _KafkaSourcePartition(StatefulSourcePartition[SourceItem, int]):
    def __init__(
        self,
        *,
        source: KafkaSource,
        worker: WorkerConsumer,
        step_id: str,
        topic: str,
        partition: int,
        start: int,
        end: int | None,
        batch_size: int,
        raise_on_errors: bool,
        batches: bool,
    ) -> None:
        self._source = source
        self._worker = worker
        self._batches = batches
        self._topic = topic
        self._partition = partition
        self._key = (topic, partition)
        self._next = start
        self._end = end
        self._end_checked = end is None
        self._batch_size = batch_size
        self._raise = raise_on_errors
        self._lag = PartitionLag(step_id, topic, partition, source._stall_after)
        self._probe = source._probe(worker)
        self._probe_after = probe_after(source._stall_after)
        self._probed = -1
        # Even an empty partition is ended by an EOF event, which also
        # tells the real end where offset queries are inexact.
        self._done = False
        self._last_data = time.monotonic()
        self._lag_due = 0.0
        #: The first batch read sets the gauges (offset 0 included), whatever idle calls did before.
        self._first_batch = True
        self._awake: datetime | None = None
        self._closed = False
        worker.add(topic, partition, start)

    def next_batch(self) -> list[Any]:
        if self._done:
            raise StopIteration
        w = self._worker
        w.maybe_check_partitions()
        items, events = w.take(self._key, self._batch_size)
        if not items:
            if w.flowing:
                # Messages are arriving for this consumer's other partitions;
                # ask again at once rather than after bytewax's 1 ms cooldown.
                self._awake = datetime.now(timezone.utc)
                return []
            self._idle()
            return []
        self._awake = None
        if events:
            out = self._with_events(items)
        else:
            out = items
            last = items[-1]
            self._lag.read(last.timestamp)
            nxt = last.offset + 1
            if nxt > self._next:
                self._next = nxt
                w.down_since = None  # a broker served data: the cluster is back
        nxt = self._next
        now = time.monotonic()
        self._last_data = now
        if now >= self._lag_due or self._first_batch:
            self._first_batch = False
            self._lag_due = now + _LAG_EVERY
            self._update_lag(now)
        if self._end is not None:
            self._check_end()
            if nxt >= self._end:
                self._done = True
        if not self._batches:
            return out
        if not events:
            return [out]
        msgs = [m for m in out if type(m) is KafkaSourceMessage]
        errs = [m for m in out if type(m) is not KafkaSourceMessage]
        return ([msgs] if msgs else []) + errs

    def _with_events(self, items: list[Any]) -> list[SourceItem]:
        """The messages of ``items``, with its raw error events handled (the rare path)."""
        topic = self._topic
        part = self._partition
        out: list[SourceItem] = []
        nxt = self._next
        for m in items:
            if type(m) is KafkaSourceMessage:
                out.append(m)
                nxt = m.offset + 1  # type: ignore[operator]
                self._lag.read(m.timestamp)
                continue
            err = m.error()
            if err.code() == _EOF:
                if m.partition() == part and m.topic() == topic:
                    eof = m.offset()
                    if eof is not None and eof > nxt:
                        nxt = eof  # past control records (transaction markers)
                    if self._end is not None:
                        self._check_end()
                        if nxt >= self._end:
                            self._done = True
            else:
                self._on_error(err, m, out)
                off = m.offset()
                if off is not None and off >= 0 and m.partition() == part:
                    nxt = max(nxt, off + 1)
        if nxt != self._next:
            self._worker.down_since = None  # a broker served data: the cluster is back
        self._next = nxt
        return out

    def _high_watermark(self) -> int:
        return self._watermarks()[1]

    def _update_lag(self, now: float) -> None:
        """The lag gauges (at most once a second); the cluster is asked for a partition not read lately."""
        lo, hi = self._watermarks()
        got = self._probe.answer(self._key)
        if got is not None:
            self._probed = got
        if self._lag.unread_for(now) >= self._probe_after:
            self._probe.ask([self._key], self._probe_after)
        self._lag.update(lo, max(hi, self._probed), self._position(), now=now)

    def _position(self) -> int:
        """The next offset to read: ours, or the consumer's position (past transaction markers).

        The position counts records the worker's consumer holds for this
        partition but has not handed over yet: used only when it holds none.
        """
        buf = self._worker.buffers.get(self._key)
        if buf is None or buf.items:
            return self._next
        try:
            [tp] = self._worker.consumer.position([TopicPartition(self._topic, self._partition)])
        except Exception:
            return self._next
        pos = tp.offset
        return pos if pos is not None and pos > self._next else self._next

    def _watermarks(self) -> tuple[int, int]:
        """(log start offset, high watermark) as the client last saw them; -1 when unknown."""
        try:
            lo, hi = self._worker.consumer.get_watermark_offsets(
                TopicPartition(self._topic, self._partition), cached=True
            )
            return int(lo), int(hi)
        except Exception:
            return -1, -1

    def _check_end(self) -> None:
        # The first fetch response tells the high watermark exactly, even on
        # brokers whose offset queries are inexact (Tansu): it replaces the
        # queried end offset.
        if self._end_checked or self._end is None:
            return
        hw = self._high_watermark()
        if hw >= 0:
            self._end = hw
            self._end_checked = True

    def _on_error(self, err: Any, m: Any, out: list[SourceItem]) -> None:
        code = err.code()
        topic = m.topic()
        partition = m.partition()
        if code in _CONNECTIVITY and not err.fatal():
            w = self._worker
            now = time.monotonic()
            if w.down_since is None:
                w.down_since = now
            log.warning("Kafka connectivity problem (librdkafka retries): %s", scrub(str(err), w.config))
            return
        if self._raise:
            raise KafkaConsumeError(
                topic or (self._topic if partition is None else None),
                partition if partition is not None and partition >= 0 else None,
                scrub(str(err), self._worker.config),
            )
        msg = _source_message(
            m.key(),
            m.value(),
            topic if topic is not None else self._topic,
            m.headers() or [],
            None,
            m.offset(),
            partition if partition is not None and partition >= 0 else self._partition,
            m.timestamp(),
        )
        self._source._errors += 1  # before the item is emitted: see errors_emitted()
        out.append(KafkaError(err, msg))

    def _idle(self) -> None:
        now = time.monotonic()
        w = self._worker
        down = w.down_since
        if down is not None and now - down > w.timeout:
            # librdkafka has said every broker is down; check once before failing.
            wait = min(w.timeout, 5.0)
            try:
                w.calls.call("a metadata request", deadline_for(wait), w.consumer.list_topics, timeout=wait)
                w.down_since = None
            except Exception as exc:
                raise w.errors.timeout_error(
                    f"every Kafka broker has been unreachable for {now - down:.0f}s while "
                    f"reading topic {self._topic!r} partition {self._partition}: "
                    f"{scrub(str(exc), w.config)}"
                ) from None
        if now - self._last_data > _IDLE_AFTER:
            self._awake = datetime.now(timezone.utc) + _IDLE_WAIT
            if now >= self._lag_due:
                self._lag_due = now + _LAG_EVERY
                self._update_lag(now)
        else:
            self._awake = None

    def next_awake(self) -> datetime | None:
        return self._awake

    def snapshot(self) -> int:
        return self._next

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._lag.remove()
        self._probe.forget(self._key)
        self._worker.remove(self._topic, self._partition)
        if self._worker.closed:
            with self._source._lock:
                self._source._probes.pop(id(self._worker), None)
