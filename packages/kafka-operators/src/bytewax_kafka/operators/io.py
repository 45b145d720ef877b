"""Reading from and writing to Kafka: the ``input`` and ``output`` operators."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeGuard

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream, operator
from confluent_kafka import OFFSET_BEGINNING

from bytewax_kafka.core import (
    CommitProgress,
    ConsumerGroup,
    ExactlyOnce,
    KafkaError,
    KafkaGroupSource,
    KafkaSinkMessage,
    KafkaSource,
    KafkaSourceMessage,
)
from bytewax_kafka.core.offsets import StartingOffset
from bytewax_kafka.core.sink import WorkerEpochSink
from bytewax_kafka.core.transactions import EpochTracker, WorkerIndexSink
from bytewax_kafka.operators.tracked import track_input, tracked_output
from bytewax_kafka.operators.types import KafkaOpOut, KafkaStepError

__all__ = ["input", "output"]

RawMessage = KafkaSourceMessage[bytes | None, bytes | None]
RawError = KafkaError[bytes | None, bytes | None]
#: What :func:`output` accepts.
OutputItem = KafkaSinkMessage[Any, Any] | KafkaSourceMessage[Any, Any]


def _is_message(item: Any) -> TypeGuard[KafkaSourceMessage[Any, Any]]:
    return isinstance(item, KafkaSourceMessage)


def _with_step(step_id: str, err: KafkaError[Any, Any]) -> KafkaStepError[Any, Any]:
    if isinstance(err, KafkaStepError):
        return err
    return KafkaStepError(err.err, err.msg, step_id)


@operator
def _split(
    step_id: str,
    up: Stream[Any],
    origin: str,
    errors_emitted: Callable[[], int] | None = None,
    ok_type: type = KafkaSourceMessage,
) -> KafkaOpOut[Any, KafkaStepError[Any, Any]]:
    """Split a stream of messages (or of lists of them) and errors into ``oks`` and ``errs``.

    Errors that do not say which step they come from are marked as coming
    from ``origin``. When ``errors_emitted`` (a source's
    :meth:`~bytewax_kafka.core.KafkaSource.errors_emitted`) is 0, the
    source has emitted no error item in this process (the usual case), and
    batches pass through without a look at each item: items do not change
    worker between a source and this step.
    """

    # Two batch-level filters instead of op.branch: branch calls its
    # predicate once per item, these once per batch.
    def none_yet() -> bool:
        return errors_emitted is not None and not errors_emitted()

    def oks(batch: list[Any]) -> list[Any]:
        if none_yet():
            return batch
        return [x for x in batch if type(x) is ok_type]

    def errs(batch: list[Any]) -> list[KafkaStepError[Any, Any]]:
        if none_yet():
            return []
        return [_with_step(origin, x) for x in batch if type(x) is not ok_type]

    return KafkaOpOut(op.flat_map_batch("oks", up, oks), op.flat_map_batch("errs", up, errs))


@operator
def input(
    step_id: str,
    flow: Dataflow,
    *,
    brokers: Iterable[str],
    topics: Iterable[str],
    tail: bool = True,
    starting_offset: StartingOffset = OFFSET_BEGINNING,
    add_config: Mapping[str, Any] | None = None,
    batch_size: int = 1000,
    exactly_once: ExactlyOnce | None = None,
    commit_progress: CommitProgress | None = None,
    timeout: float = 30.0,
    consumer_per: str = "worker",
    metadata_interval: float | None = 60.0,
    on_new_partitions: str = "raise",
    batches: bool = False,
    gc_tuning: bool = True,
    stall_after: float | None = 60.0,
    consumer_group: ConsumerGroup | None = None,
) -> KafkaOpOut[Any, KafkaStepError[bytes | None, bytes | None]]:
    """Read Kafka topics into two streams: messages and consumer errors.

    The source is :class:`~bytewax_kafka.core.KafkaSource` with
    ``raise_on_errors=False``: an error Kafka reports for a partition becomes
    an item of ``errs`` instead of stopping the flow. Errors librdkafka
    recovers from on its own (a broker briefly unreachable) are only logged;
    a cluster that stays unreachable stops the flow (see ``KafkaSource``'s
    ``timeout``).

    Each Kafka partition is a bytewax partition; recovery stores the next
    offset of each.

    Args:
        step_id: Unique id of the step.
        flow: The dataflow.
        brokers: ``host:port`` addresses of the cluster.
        topics: Topics to read.
        tail: Keep waiting for new messages (True), or stop at the end
            offsets the partitions had when the flow started (False).
        starting_offset: Where to start without recovery state:
            ``OFFSET_BEGINNING`` (default), ``OFFSET_END``, ``OFFSET_STORED``
            (the committed offset of the ``group.id`` given in
            ``add_config``), an offset, or a ``datetime``.
        add_config: librdkafka settings merged over the source's.
        batch_size: Most messages read at a time per partition.
        timeout: Seconds to wait for the cluster in any one request, and how
            long every broker may stay unreachable while reading before the
            flow fails (see :class:`~bytewax_kafka.core.KafkaSource`).
        consumer_per: ``"worker"`` (default) or ``"partition"``: see
            :class:`~bytewax_kafka.core.KafkaSource`.
        metadata_interval: Seconds between checks (with ``tail=True``) for
            partitions added to the topics or new topics matching a
            ``^pattern``; None turns the check off.
        on_new_partitions: ``"raise"`` (default) stops the flow when such a
            change is seen, so a supervisor restarts it and the new
            partitions are read; ``"warn"`` logs it and keeps going.
        exactly_once: An :class:`~bytewax_kafka.core.ExactlyOnce` shared with
            an :func:`output` of this flow: outputs and consumed offsets are
            committed in one Kafka transaction per epoch, and this input
            resumes from the offsets of the last committed transaction.
        commit_progress: A :class:`~bytewax_kafka.core.CommitProgress` shared
            with an :func:`output` of this flow: after each epoch, offsets
            whose outputs are on the broker are committed to its consumer
            group, so lag tools see the flow's progress.
        batches: ``oks`` items are whole batches, each a ``list`` of the
            messages read from one partition at a time (up to
            ``batch_size``), instead of single messages: the dataflow's
            per-item cost is paid once per batch. Map lists to lists of
            :class:`~bytewax_kafka.core.KafkaSinkMessage`, which
            :func:`output` takes as they are. Recovery, ``errs``,
            ``exactly_once`` and ``commit_progress`` work as without it.
            See docs/performance.md for when it pays.
        gc_tuning: Tune Python's garbage collector for streaming once the
            flow is built (see :mod:`bytewax_kafka.core.gc_tuning`);
            ``False`` leaves it as the process set it.
        stall_after: Seconds a partition's lag may grow with nothing read
            from it before a warning names it and its stalled gauge is 1
            (see docs/observability.md); None turns the check off.
        consumer_group: A :class:`~bytewax_kafka.core.ConsumerGroup` shared
            with this flow's outputs: every worker of every replica of the
            flow joins the group and reads the partitions Kafka assigns it
            (:class:`~bytewax_kafka.core.KafkaGroupSource`), starting at the
            group's committed offsets; the outputs commit offsets once what
            came from them is on the broker (see docs/guarantees.md).
            ``starting_offset`` then only says where a partition without a
            committed offset starts (``OFFSET_BEGINNING``, ``OFFSET_END``
            or ``OFFSET_STORED``); ``consumer_per``, ``metadata_interval``
            and ``on_new_partitions`` do not apply (the group follows new
            partitions by itself).

    Returns:
        ``oks``: :class:`~bytewax_kafka.core.KafkaSourceMessage` items with
        ``bytes`` (or None) keys and values (with ``batches=True``, lists of
        them). ``errs``:
        :class:`~bytewax_kafka.operators.KafkaStepError` items, whose ``msg``
        holds the topic, partition and offset the error is about; dropped if
        nothing is attached to them.

    Example:
        >>> from bytewax.dataflow import Dataflow
        >>> from bytewax_kafka import operators as kop
        >>> flow = Dataflow("example")
        >>> kinp = kop.input("kafka-in", flow, brokers=["localhost:19092"], topics=["in-topic"])
        >>> kop.output("kafka-out", kinp.oks, brokers=["localhost:19092"], topic="out-topic")
    """
    mode = _tracking(exactly_once, commit_progress, consumer_group)
    source: KafkaSource | KafkaGroupSource
    if consumer_group is not None:
        if consumer_per != "worker":
            raise ValueError("consumer_group: each worker reads through its own member of the group")
        if isinstance(starting_offset, datetime):
            raise ValueError(
                "consumer_group: partitions start at the group's committed offsets, else at "
                "OFFSET_BEGINNING, OFFSET_END or OFFSET_STORED, not at a time"
            )
        source = KafkaGroupSource(
            brokers,
            topics,
            consumer_group,
            tail,
            starting_offset,
            add_config,
            batch_size,
            raise_on_errors=False,
            timeout=timeout,
            batches=batches,
            gc_tuning=gc_tuning,
            stall_after=stall_after,
        )
    else:
        source = KafkaSource(
            brokers,
            topics,
            tail,
            starting_offset,
            add_config,
            batch_size,
            raise_on_errors=False,
            timeout=timeout,
            consumer_per=consumer_per,
            metadata_interval=metadata_interval,
            on_new_partitions=on_new_partitions,
            exactly_once=exactly_once,
            batches=batches,
            gc_tuning=gc_tuning,
            stall_after=stall_after,
        )
    items = op.input("kafka_input", flow, source)
    if mode is not None:
        track_input(step_id, items, mode)
    ok_type = list if batches else KafkaSourceMessage
    out: KafkaOpOut[Any, KafkaStepError[bytes | None, bytes | None]] = _split(
        "split_err", items, step_id, source.errors_emitted, ok_type
    )
    return out


def _tracking(
    exactly_once: ExactlyOnce | None,
    commit_progress: CommitProgress | None,
    consumer_group: ConsumerGroup | None = None,
) -> ExactlyOnce | CommitProgress | ConsumerGroup | None:
    given = [
        n
        for n, v in (
            ("exactly_once", exactly_once),
            ("commit_progress", commit_progress),
            ("consumer_group", consumer_group),
        )
        if v is not None
    ]
    if len(given) > 1:
        raise ValueError(
            f"give one of exactly_once, commit_progress and consumer_group, not {' and '.join(given)} "
            "(ConsumerGroup(..., exactly_once=True) for exactly-once in a consumer group)"
        )
    if exactly_once is not None and not isinstance(exactly_once, ExactlyOnce):
        raise TypeError(f"exactly_once must be an ExactlyOnce, got {type(exactly_once).__name__}")
    if commit_progress is not None and not isinstance(commit_progress, CommitProgress):
        raise TypeError(f"commit_progress must be a CommitProgress, got {type(commit_progress).__name__}")
    if consumer_group is not None and not isinstance(consumer_group, ConsumerGroup):
        raise TypeError(f"consumer_group must be a ConsumerGroup, got {type(consumer_group).__name__}")
    return exactly_once or commit_progress or consumer_group


def _nothing(_batch: list[Any]) -> list[Any]:
    return []


def _checker(step_id: str, topic: str | None) -> Callable[[list[Any]], list[KafkaSinkMessage[Any, Any]]]:
    """Validate (and convert where needed) a batch of items for :func:`output`.

    A batch of sink messages that all have somewhere to go is returned as is:
    one type check per message, no new objects. Lists in it (whole batches,
    from ``input(..., batches=True)`` and a map over lists) are flattened.
    """

    def check(batch: list[Any]) -> list[KafkaSinkMessage[Any, Any]]:
        for item in batch:
            if type(item) is not KafkaSinkMessage:
                break
        else:
            if topic is not None:
                return batch
        out: list[KafkaSinkMessage[Any, Any]] = []
        append = out.append
        for item in batch:
            if type(item) is list:
                out.extend(check(item))
                continue
            if type(item) is not KafkaSinkMessage:
                item = _sink_message(step_id, item)
            if topic is None and item.topic is None:
                raise ValueError(
                    f"step {step_id!r}: a message has no topic and the output has no default "
                    f"topic (topic=None); set KafkaSinkMessage.topic or the output's topic: {item!r:.200}"
                )
            append(item)
        return out

    return check


def _batch_router(
    step_id: str, topic: str | None, routing_key: Callable[[], str]
) -> Callable[[list[Any]], list[tuple[str, list[KafkaSinkMessage[Any, Any]]]]]:
    """Route each batch as one ``(routing key, [messages])`` item.

    Bytewax calls the sink's ``part_fn`` once per item, taking the GIL each
    time; routing whole batches calls it once per batch, and no tuple is
    built per message.
    """
    check = _checker(step_id, topic)

    def route(batch: list[Any]) -> list[tuple[str, list[KafkaSinkMessage[Any, Any]]]]:
        msgs = check(batch)
        return [(routing_key(), msgs)] if msgs else []

    return route


def _sink_message(step_id: str, item: Any) -> KafkaSinkMessage[Any, Any]:
    if isinstance(item, KafkaSinkMessage):
        return item
    if isinstance(item, KafkaSourceMessage):
        return item.to_sink()
    raise TypeError(
        f"step {step_id!r} takes KafkaSinkMessage or KafkaSourceMessage items, "
        f"got {type(item).__name__}: {item!r:.200}"
    )


@operator
def output(
    step_id: str,
    up: Stream[OutputItem],
    *,
    brokers: Iterable[str],
    topic: str | None = None,
    add_config: Mapping[str, Any] | None = None,
    exactly_once: ExactlyOnce | None = None,
    commit_progress: CommitProgress | None = None,
    gc_tuning: bool = True,
    consumer_group: ConsumerGroup | None = None,
) -> None:
    """Write messages to Kafka, waiting for the broker's acknowledgements once per epoch.

    Items are :class:`~bytewax_kafka.core.KafkaSinkMessage`, lists of them
    (whole batches, as a map over ``input(..., batches=True)`` gives), or
    :class:`~bytewax_kafka.core.KafkaSourceMessage` converted with
    :meth:`~bytewax_kafka.core.KafkaSourceMessage.to_sink`: the key, value,
    headers and timestamp (when the broker gave one) are kept, the topic and
    partition are not (the message goes to ``topic``, placed by its key).
    Keys and values must already be ``bytes`` (or None); see
    :func:`~bytewax_kafka.operators.serialize`.

    Each message goes to its own ``topic`` if set, else to ``topic``; to its
    own ``partition`` if set, else where the ``murmur2_random`` partitioner
    puts its key (as Java clients do).

    Delivery: the sink is a :class:`~bytewax_kafka.core.KafkaEpochSink` with
    one part per worker (:class:`~bytewax_kafka.core.sink.WorkerEpochSink`). Writes
    are not waited for batch by batch; when bytewax closes an epoch, every
    message of that epoch is confirmed by the broker before the epoch's
    recovery state is committed (at-least-once: after a crash, the messages
    of the epoch being resumed are written again). A failed delivery stops the
    flow with :class:`~bytewax_kafka.core.KafkaDeliveryError`; none is dropped.

    The messages of one worker are written by that worker's producer, in the
    order it emitted them: no message moves to another worker. Internally each
    batch is paired with a routing key naming the worker that emitted it;
    routing keys only choose the producer, never the Kafka partition.

    Args:
        step_id: Unique id of the step.
        up: Messages to write.
        brokers: ``host:port`` addresses of the cluster.
        topic: Topic for messages that do not name their own. With None,
            a message without a topic stops the flow with a ``ValueError``.
        add_config: librdkafka producer settings merged over ours
            (``partitioner=murmur2_random``, ``message.timeout.ms=30000``,
            ``linger.ms=5``).
        exactly_once: The :class:`~bytewax_kafka.core.ExactlyOnce` given to
            this flow's :func:`input`: each worker writes through a
            transactional producer and commits, once per epoch, the epoch's
            messages and the input offsets they came from in one transaction.
            Only stateless steps (map, filter, flat_map, branch) may stand
            between that input and this output.
        commit_progress: The :class:`~bytewax_kafka.core.CommitProgress`
            given to this flow's :func:`input`: after each epoch's messages
            are on the broker, the input offsets they came from are committed
            to its consumer group. Same restriction on the steps between.
        gc_tuning: As for :func:`input`.
        consumer_group: The :class:`~bytewax_kafka.core.ConsumerGroup` given
            to this flow's :func:`input`: once an epoch's messages are on the
            broker (or, with ``exactly_once=True``, in the epoch's
            transaction), the offsets they came from are committed to the
            group by the worker's member of it. Same restriction on the
            steps between.

    Several outputs (and :func:`~bytewax_kafka.operators.dead_letter`
    steps) may share one ``exactly_once``, ``commit_progress`` or
    ``consumer_group``: on each worker they write through one producer, so
    everything they write in an epoch commits in one transaction with the
    offsets. They must then have the same ``brokers`` and ``add_config``.

    Example:
        >>> import bytewax.operators as op
        >>> from bytewax.dataflow import Dataflow
        >>> from bytewax_kafka import operators as kop
        >>> from bytewax_kafka.core import KafkaSinkMessage
        >>> flow = Dataflow("example")
        >>> kinp = kop.input("kafka-in", flow, brokers=["localhost:19092"], topics=["in-topic"])
        >>> upper = op.map("upper", kinp.oks, lambda m: KafkaSinkMessage(m.key, (m.value or b"").upper()))
        >>> kop.output("kafka-out", upper, brokers=["localhost:19092"], topic="out-topic")
    """
    mode = _tracking(exactly_once, commit_progress, consumer_group)
    if mode is not None:
        tracked_output(
            step_id,
            up,
            lambda key: _batch_router(step_id, topic, key),
            brokers=brokers,
            topic=topic,
            add_config=add_config,
            mode=mode,
            gc_tuning=gc_tuning,
        )
        return
    tracker = EpochTracker()
    # Built first, so every worker knows its index before the sink lists its partition.
    op.output("worker_ids", op.flat_map_batch("no_items", up, _nothing), WorkerIndexSink(tracker))
    sink = WorkerEpochSink(brokers, topic, add_config, tracker, gc_tuning=gc_tuning)
    keyed: Stream[Any] = op.flat_map_batch("route", up, _batch_router(step_id, topic, sink.routing_key))
    op.output("kafka_output", keyed, sink)
