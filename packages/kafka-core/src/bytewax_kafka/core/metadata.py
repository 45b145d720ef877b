"""Listing the partitions of topics, with a timeout and clear errors.

A topic name starting with ``^`` is a regular expression (librdkafka's
convention), matched against the whole name of every topic the cluster
lists; internal topics (``__consumer_offsets``, ...) never match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaError as CKError

from bytewax_kafka.core.deadline import bounded
from bytewax_kafka.core.errors import KafkaTimeoutError, KafkaTopicError


def list_partitions(
    admin: Any, topics: Iterable[str], *, timeout: float, brokers: str
) -> dict[str, list[int]]:
    """Partition indexes of each topic, asking the cluster once.

    Args:
        admin: An ``AdminClient``.
        topics: Topic names.
        timeout: Seconds to wait for the cluster.
        brokers: Bootstrap addresses, for error messages.

    Raises:
        KafkaTimeoutError: When no broker answers within ``timeout``.
        KafkaTopicError: When a topic is missing or not authorized.
    """
    try:
        md = bounded("a metadata request (list_topics)", timeout, admin.list_topics, timeout=timeout)
    except Exception as exc:  # KafkaException(_TRANSPORT / _TIMED_OUT)
        raise KafkaTimeoutError(
            f"no Kafka broker at {brokers} answered a metadata request within {timeout:.0f}s "
            f"({exc}); check the address, the network and the security settings"
        ) from None
    out: dict[str, list[int]] = {}
    names: list[str] = []
    for topic in topics:
        if is_pattern(topic):
            matched = match_topics(topic, md.topics)
            if not matched:
                raise KafkaTopicError(f"no topic on {brokers} matches the pattern {topic!r}", topic=topic)
            names.extend(m for m in matched if m not in names)
        elif topic not in names:
            names.append(topic)
    for topic in names:
        t = md.topics.get(topic)
        if t is None:
            # Not in the full listing: missing, or hidden because this client
            # may not describe it. Ask by name only to tell which; a broker
            # that auto-creates on such a request (Tansu does) must not turn
            # a missing topic into an empty one, so it is missing either way.
            named = _one(admin, topic, timeout, brokers)
            if named.error is not None and named.error.code() == CKError.TOPIC_AUTHORIZATION_FAILED:
                t = named
            else:
                raise KafkaTopicError(f"topic {topic!r} does not exist on {brokers}", topic=topic)
        if t.error is not None:
            code = t.error.code()
            if code == CKError.TOPIC_AUTHORIZATION_FAILED:
                raise KafkaTopicError(
                    f"not authorized to read topic {topic!r} on {brokers}: {t.error.str()}",
                    topic=topic,
                    code=code,
                )
            raise KafkaTopicError(
                f"topic {topic!r} does not exist on {brokers} ({t.error.str()})",
                topic=topic,
                code=code,
            )
        if not t.partitions:
            raise KafkaTopicError(f"topic {topic!r} on {brokers} has no partitions", topic=topic)
        out[topic] = sorted(t.partitions)
    return out


def is_pattern(topic: str) -> bool:
    """True for a regular-expression topic (librdkafka's ``^`` convention)."""
    return topic.startswith("^")


def match_topics(pattern: str, topics: Iterable[str]) -> list[str]:
    """Sorted names of ``topics`` matching ``pattern`` in full; internal topics excluded."""
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"topic pattern {pattern!r} is not a valid regular expression: {exc}") from None
    return sorted(t for t in topics if not t.startswith("__") and rx.fullmatch(t))


def partition_counts(md: Any, topics: Iterable[str]) -> dict[str, int]:
    """Partitions of each topic (plain names and pattern matches) in a metadata answer."""
    out: dict[str, int] = {}
    for topic in topics:
        names = match_topics(topic, md.topics) if is_pattern(topic) else [topic]
        for name in names:
            t = md.topics.get(name)
            if t is not None and t.error is None:
                out[name] = len(t.partitions)
    return out


def _one(admin: Any, topic: str, timeout: float, brokers: str) -> Any:
    try:
        md = bounded(
            f"a metadata request for topic {topic!r}",
            timeout,
            admin.list_topics,
            topic=topic,
            timeout=timeout,
        )
    except Exception as exc:
        raise KafkaTimeoutError(
            f"no Kafka broker at {brokers} answered a metadata request for topic {topic!r} "
            f"within {timeout:.0f}s ({exc})"
        ) from None
    t = md.topics.get(topic)
    if t is None:
        raise KafkaTopicError(f"topic {topic!r} does not exist on {brokers}", topic=topic)
    return t
