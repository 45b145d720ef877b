"""Listing the partitions of topics, with a timeout and clear errors, never creating a topic.

A topic name starting with ``^`` is a regular expression (librdkafka's
convention), matched against the whole name of every topic the cluster
lists; internal topics (``__consumer_offsets``, ...) never match.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaError as CKError
from confluent_kafka import KafkaException, TopicCollection

from bytewax_kafka.core.deadline import bounded
from bytewax_kafka.core.errors import KafkaTimeoutError, KafkaTopicError
from bytewax_kafka.core.logs import drain


def list_partitions(
    admin: Any, topics: Iterable[str], *, timeout: float, brokers: str
) -> dict[str, list[int]]:
    """Partition indexes of each topic, without ever creating one.

    The cluster is asked for *all* its topics (a request that creates
    nothing). A topic absent from that list is missing, or hidden because
    this client may not describe it; only then is it described by name with
    ``describe_topics``, whose request forbids auto-creation (Apache Kafka
    and Tansu create a topic asked for by name otherwise), to tell which.

    Args:
        admin: An ``AdminClient``.
        topics: Topic names (``^`` patterns included).
        timeout: Seconds to wait for the cluster.
        brokers: Bootstrap addresses, for error messages.

    Raises:
        KafkaTimeoutError: When no broker answers within ``timeout``.
        KafkaTopicError: When a topic is missing or not authorized.
    """
    md = list_all(admin, timeout=timeout, brokers=brokers)
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
    hidden = [t for t in names if t not in md.topics]
    described = _describe(admin, hidden, timeout, brokers) if hidden else {}
    for topic in names:
        t = md.topics.get(topic)
        if t is None:
            out[topic] = described[topic]
            continue
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


#: Settings of the admin client that lists partitions, over ``add_config``: librdkafka
#: lets an admin client (a producer to it) auto-create a topic it names; never.
ADMIN_SETTINGS: dict[str, object] = {"allow.auto.create.topics": False}

#: First attempt of a start-up metadata request (seconds); each next one waits twice as long.
_FIRST_ATTEMPT = 1.0


def list_all(admin: Any, *, timeout: float, brokers: str) -> Any:
    """Metadata of every topic (asks for none by name, so creates none), within ``timeout``.

    Asked in attempts of 1, 2, 4, ... seconds, serving the client between
    them: its log lines and error reports come out while the cluster does
    not answer, not only once the timeout has passed.

    Raises:
        KafkaTimeoutError: When no broker answers within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    attempt = _FIRST_ATTEMPT
    while True:
        left = deadline - time.monotonic()
        wait = max(min(attempt, left), 0.01)
        try:
            return bounded("a metadata request (list_topics)", wait, admin.list_topics, timeout=wait)
        except Exception as exc:  # KafkaException(_TRANSPORT / _TIMED_OUT)
            drain(admin)  # log lines and error_cb reports of the attempt
            if time.monotonic() >= deadline - 0.01:
                raise KafkaTimeoutError(
                    f"no Kafka broker at {brokers} answered a metadata request within {timeout:.0f}s "
                    f"({exc}); check the address, the network and the security settings"
                ) from None
            attempt *= 2


def _describe(admin: Any, topics: list[str], timeout: float, brokers: str) -> dict[str, list[int]]:
    """Partitions of topics the full listing did not show; raises for missing or unauthorized ones."""
    futures = admin.describe_topics(TopicCollection(topics), request_timeout=timeout)
    out: dict[str, list[int]] = {}
    for topic in topics:
        try:
            desc = futures[topic].result(timeout=timeout + 5)
        except KafkaException as exc:
            err: Any = exc.args[0] if exc.args else None
            code = err.code() if hasattr(err, "code") else None
            text = err.str() if hasattr(err, "str") else str(exc)
            if code == CKError.TOPIC_AUTHORIZATION_FAILED:
                raise KafkaTopicError(
                    f"not authorized to read topic {topic!r} on {brokers}: {text}", topic=topic, code=code
                ) from None
            if code in (CKError._TIMED_OUT, CKError._TRANSPORT):
                raise KafkaTimeoutError(
                    f"no Kafka broker at {brokers} answered a request describing topic {topic!r} "
                    f"within {timeout:.0f}s ({text})"
                ) from None
            raise KafkaTopicError(
                f"topic {topic!r} does not exist on {brokers}", topic=topic, code=code
            ) from None
        except Exception as exc:  # concurrent.futures.TimeoutError
            raise KafkaTimeoutError(
                f"no Kafka broker at {brokers} answered a request describing topic {topic!r} "
                f"within {timeout:.0f}s ({type(exc).__name__})"
            ) from None
        parts = sorted(p.id for p in desc.partitions)
        if not parts:  # pragma: no cover - created between the two requests, still empty
            raise KafkaTopicError(f"topic {topic!r} on {brokers} has no partitions", topic=topic)
        out[topic] = parts
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
