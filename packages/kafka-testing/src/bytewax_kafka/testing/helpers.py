"""Small client-side helpers for tests: topics, producing, reading back."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bytewax_kafka.testing.logs import logged

Config = Mapping[str, Any]


def unique_topic(prefix: str = "test") -> str:
    """A topic name no other test uses: ``<prefix>-<uuid4 hex>``."""
    return f"{prefix}-{uuid.uuid4().hex}"


def _conf(target: str | Config) -> dict[str, Any]:
    # librdkafka's log lines go to Python logging (bytewax_kafka.testing.logs).
    if isinstance(target, str):
        return logged({"bootstrap.servers": target})
    return logged(target)


def create_topic(
    target: str | Config,
    name: str | None = None,
    *,
    partitions: int = 1,
    replication_factor: int = 1,
    config: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> str:
    """Create a topic and wait until its metadata shows every partition.

    Args:
        target: Bootstrap address or client settings.
        name: Topic name (a unique one when None).
        partitions: Partition count.
        replication_factor: Replicas per partition.
        config: Topic settings (``retention.ms``, ``min.insync.replicas``, ...).
        timeout: Seconds for creation and for the metadata to catch up.

    Returns:
        The topic's name.

    Raises:
        KafkaException: When the broker refuses or times out.
    """
    name = name or unique_topic()
    admin = AdminClient(_conf(target))
    futures = admin.create_topics(
        [NewTopic(name, partitions, replication_factor, config=dict(config or {}))],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    futures[name].result(timeout=timeout)
    wait_for_partitions(target, name, partitions, timeout=timeout)
    return name


def wait_for_partitions(target: str | Config, topic: str, partitions: int, *, timeout: float = 30.0) -> None:
    """Block until metadata shows ``partitions`` partitions of ``topic``, each with a leader."""
    # Asked by name: forbid auto-creation, or a broker would create a topic this only waits for.
    admin = AdminClient({**_conf(target), "allow.auto.create.topics": False})
    deadline = time.monotonic() + timeout
    seen = "no metadata"
    while time.monotonic() < deadline:
        md = admin.list_topics(topic=topic, timeout=5)
        t = md.topics.get(topic)
        if t is not None and t.error is None:
            ready = [p for p in t.partitions.values() if p.leader >= 0]
            if len(ready) >= partitions:
                return
            seen = f"{len(ready)} of {partitions} partitions have a leader"
        time.sleep(0.1)
    raise TimeoutError(f"topic {topic!r} not ready after {timeout}s: {seen}")


def delete_topics(target: str | Config, names: Sequence[str], *, timeout: float = 30.0) -> None:
    """Delete topics, ignoring ones that do not exist."""
    if not names:
        return
    admin = AdminClient(_conf(target))
    for name, fut in admin.delete_topics(list(names), operation_timeout=timeout).items():
        try:
            fut.result(timeout=timeout)
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                continue
            raise RuntimeError(f"deleting topic {name!r} failed: {exc}") from exc


Message = bytes | str | tuple[bytes | str | None, bytes | str | None]


def produce_messages(
    target: str | Config,
    topic: str,
    messages: Iterable[Message],
    *,
    partition: int | None = None,
    headers: Sequence[tuple[str, bytes]] | None = None,
    timeout: float = 60.0,
    config: Config | None = None,
) -> int:
    """Produce messages and wait until every one is acknowledged.

    Args:
        target: Bootstrap address or client settings.
        topic: Destination topic.
        messages: Values, or ``(key, value)`` pairs.
        partition: Partition for every message (the partitioner decides when None).
        headers: Headers for every message.
        timeout: Seconds to wait for all acknowledgements.
        config: Extra producer settings.

    Returns:
        The number of messages produced.

    Raises:
        RuntimeError: When any delivery failed (the first failure is named)
            or acknowledgements are missing after ``timeout``.
    """
    conf = {**_conf(target), "linger.ms": 5, **dict(config or {})}
    producer = Producer(conf)
    failures: list[str] = []
    count = 0

    def on_delivery(err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            failures.append(f"{msg.topic()}[{msg.partition()}]: {err}")

    kwargs: dict[str, Any] = {"on_delivery": on_delivery}
    if partition is not None:
        kwargs["partition"] = partition
    if headers is not None:
        kwargs["headers"] = list(headers)
    for item in messages:
        key, value = item if isinstance(item, tuple) else (None, item)
        while True:
            try:
                producer.produce(topic, value=value, key=key, **kwargs)
                break
            except BufferError:
                producer.poll(0.1)
        count += 1
        producer.poll(0)
    left = producer.flush(timeout)
    if failures:
        raise RuntimeError(f"{len(failures)} of {count} deliveries failed; first: {failures[0]}")
    if left:
        raise RuntimeError(f"{left} of {count} messages not acknowledged after {timeout}s")
    return count


def produce_n(target: str | Config, topic: str, n: int, *, start: int = 0, **kwargs: Any) -> int:
    """Produce ``n`` numbered messages: key and value ``b"<i>"`` for i in [start, start+n)."""
    return produce_messages(
        target,
        topic,
        ((str(i).encode(), str(i).encode()) for i in range(start, start + n)),
        **kwargs,
    )


@dataclass(frozen=True)
class Record:
    """One message read back by :func:`read_to_end`."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    timestamp: int = 0


def _record(m: Any) -> Record:
    headers = m.headers() or []
    if isinstance(headers, dict):
        headers = list(headers.items())
    return Record(
        topic=m.topic(),
        partition=m.partition(),
        offset=m.offset(),
        key=m.key(),
        value=m.value(),
        headers=list(headers),
        timestamp=m.timestamp()[1],
    )


def read_to_end(
    target: str | Config,
    topic: str,
    *,
    timeout: float = 60.0,
    isolation_level: str = "read_uncommitted",
    config: Config | None = None,
) -> list[Record]:
    """Read every partition of ``topic`` from its start to its current end.

    The end of a partition is where the consumer reports end-of-partition
    (the high watermark, or the last stable offset with ``read_committed``),
    which works on brokers whose offset queries are inexact (Tansu).

    Args:
        target: Bootstrap address or client settings.
        topic: Topic to read.
        timeout: Seconds before giving up.
        isolation_level: ``read_uncommitted`` or ``read_committed``.
        config: Extra consumer settings.

    Returns:
        Records ordered by partition, then offset.

    Raises:
        TimeoutError: When some partition has not reached its end in time.
    """
    conf = {
        **_conf(target),
        "group.id": f"read-to-end-{uuid.uuid4().hex}",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        # Answer fetches at once: the end-of-partition event waits for a
        # fetch response, which otherwise long-polls up to 500 ms.
        "fetch.wait.max.ms": 10,
        "isolation.level": isolation_level,
        **dict(config or {}),
    }
    consumer = Consumer(conf)
    try:
        md = consumer.list_topics(topic=topic, timeout=10)
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            raise RuntimeError(f"topic {topic!r} not readable: {t.error if t else 'missing'}")
        parts = sorted(t.partitions)
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        done: set[int] = set()
        out: list[Record] = []
        deadline = time.monotonic() + timeout
        while len(done) < len(parts):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"read_to_end({topic!r}): partitions {sorted(set(parts) - done)} "
                    f"not at their end after {timeout}s ({len(out)} records read)"
                )
            for m in consumer.consume(1000, 0.05):
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        done.add(int(m.partition() or 0))
                        continue
                    raise KafkaException(err)
                out.append(_record(m))
        out.sort(key=lambda r: (r.partition, r.offset))
        return out
    finally:
        consumer.close()
