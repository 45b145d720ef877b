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
from collections.abc import Iterable, Mapping
from typing import Any

from bytewax.inputs import DynamicSource
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, OFFSET_STORED
from confluent_kafka.admin import AdminClient

from bytewax_kafka.core.config import (
    check_add_config,
    check_addresses,
    for_admin,
    for_consumer,
    make_client,
    watch_errors,
)
from bytewax_kafka.core.errors import KafkaTimeoutError
from bytewax_kafka.core.gc_tuning import tune_gc
from bytewax_kafka.core.group import ConsumerGroup, GroupMember
from bytewax_kafka.core.group_partition import GroupPartition
from bytewax_kafka.core.lag import check_stall_after
from bytewax_kafka.core.metadata import ADMIN_SETTINGS, is_pattern, list_partitions, match_topics
from bytewax_kafka.core.offsets import describe_offset

__all__ = ["KafkaGroupSource"]

#: Where the group starts a partition it has no committed offset for.
_RESETS = {OFFSET_BEGINNING: "earliest", OFFSET_END: "latest"}


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
            given = (
                describe_offset(starting_offset)
                if isinstance(starting_offset, int)
                else repr(starting_offset)
            )
            raise ValueError(
                "in consumer-group mode a partition starts at the group's committed offset, else at "
                f"OFFSET_BEGINNING, OFFSET_END or OFFSET_STORED (auto.offset.reset); got {given}"
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

    def build(self, step_id: str, worker_index: int, worker_count: int) -> GroupPartition:
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
        return GroupPartition(self, member)
