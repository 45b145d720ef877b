"""Exceptions raised by the Kafka source and sink.

Each names what went wrong (topic, partition, the Kafka error) and never
holds a secret setting: texts are built from redacted configuration only.
"""

from __future__ import annotations

from typing import Any


class KafkaConnectorError(RuntimeError):
    """Base class of every error raised by bytewax-kafka."""


class KafkaConfigError(KafkaConnectorError, ValueError):
    """A setting in ``add_config`` (or a parameter) is invalid; the message names it."""


class KafkaTimeoutError(KafkaConnectorError, TimeoutError):
    """The cluster did not answer within the configured timeout (unreachable broker)."""


class KafkaAuthenticationError(KafkaTimeoutError):
    """The broker refused the client's credentials, or the TLS handshake failed.

    librdkafka never raises these: it reports them and retries until the
    request times out. The error is raised when the timeout ends (so it is a
    :class:`KafkaTimeoutError`, as before), and its message says first what
    was refused.

    Attributes:
        cause: What librdkafka reported (secret values removed).
        tls: True for a failed TLS handshake, False for refused credentials.
    """

    def __init__(self, message: str, *, cause: str, tls: bool = False) -> None:
        super().__init__(message)
        self.cause = cause
        self.tls = tls


class KafkaCallTimeout(KafkaTimeoutError):
    """A blocking librdkafka call did not return within the deadline we gave it.

    librdkafka does not always keep its own timeouts (see
    ``bytewax_kafka.core.deadline``); this is raised instead of waiting
    for ever. The call goes on running on an abandoned daemon thread, which
    never keeps the process from exiting.

    Attributes:
        call: What the call was doing.
        deadline: Seconds it was given.
        elapsed: Seconds waited before giving up.
    """

    def __init__(self, call: str, deadline: float, elapsed: float) -> None:
        super().__init__(
            f"{call} did not return within {deadline:.0f}s (waited {elapsed:.1f}s; "
            "librdkafka did not keep its own timeout)"
        )
        self.call = call
        self.deadline = deadline
        self.elapsed = elapsed


class KafkaTransactionError(KafkaConnectorError):
    """A Kafka transaction could not be committed; the flow stops, nothing is half-written.

    Raised when a transactional call fails, or does not return within the
    ``ExactlyOnce`` ``commit_timeout`` (plus a grace of two seconds) whatever
    librdkafka does. The open transaction is aborted (or fenced by the next
    run); on restart the source resumes from the offsets of the last
    committed transaction, so nothing is lost or written twice.
    """


class KafkaTopicError(KafkaConnectorError):
    """A topic is missing, or cannot be read or written (authorization)."""

    def __init__(self, message: str, *, topic: str, code: Any = None) -> None:
        super().__init__(message)
        self.topic = topic
        self.code = code


class KafkaConsumeError(KafkaConnectorError):
    """Reading a partition failed.

    Attributes:
        topic: Topic being read (None when the error concerns no partition).
        partition: Partition being read, or None.
        error: The confluent-kafka ``KafkaError``.
    """

    def __init__(self, topic: str | None, partition: int | None, error: Any) -> None:
        where = f"topic {topic!r} partition {partition}" if topic else "the Kafka consumer"
        super().__init__(f"error consuming from {where}: {error}")
        self.topic = topic
        self.partition = partition
        self.error = error


class KafkaDeliveryError(KafkaConnectorError):
    """Kafka did not accept a produced message; nothing is dropped silently.

    Attributes:
        topic: Destination topic of the first failed message.
        partition: Its partition (-1 when none was assigned yet).
        error: The confluent-kafka ``KafkaError`` of the first failure.
        failed: How many messages failed in this batch/epoch.
    """

    def __init__(self, topic: str, partition: int, error: Any, failed: int = 1) -> None:
        part = "unassigned partition" if partition is None or partition < 0 else f"partition {partition}"
        more = f" ({failed - 1} more failed)" if failed > 1 else ""
        super().__init__(f"delivery to topic {topic!r} {part} failed: {error}{more}")
        self.topic = topic
        self.partition = partition
        self.error = error
        self.failed = failed


class KafkaDeliveryRefusedError(KafkaAuthenticationError, KafkaDeliveryError):
    """Messages were not delivered because the broker refused the credentials or TLS failed.

    Both a :class:`KafkaAuthenticationError` and a :class:`KafkaDeliveryError`
    (what a sink raised for it before).

    Attributes:
        cause: What librdkafka reported (secret values removed).
        tls: True for a failed TLS handshake, False for refused credentials.
    """

    def __init__(
        self, topic: str, partition: int, error: Any, failed: int, *, cause: str, tls: bool = False
    ) -> None:
        KafkaDeliveryError.__init__(self, topic, partition, error, failed)
        self.cause = cause
        self.tls = tls
        self.args = (f"{refusal(cause, tls=tls)}: {self.args[0]}",)


def refusal(cause: str, *, tls: bool) -> str:
    """The first words of an authentication (``tls=False``) or TLS error, with librdkafka's report."""
    if tls:
        return f"the TLS handshake with the broker failed ({cause})"
    return f"the broker refused the client's credentials ({cause})"


class KafkaPartitionsChangedError(KafkaConnectorError):
    """A topic being read gained partitions, or a new topic matches a pattern.

    Raised (with ``on_new_partitions="raise"``) so that a supervisor restarts
    the flow: on restart the new partitions are listed and read, and bytewax
    recovery resumes the others where they were.

    Attributes:
        changes: ``{topic: (partitions before, partitions now)}``; 0 before
            for a newly matching topic.
    """

    def __init__(self, changes: dict[str, tuple[int, int]]) -> None:
        parts = []
        for topic, (before, now) in sorted(changes.items()):
            if before:
                parts.append(f"topic {topic!r} now has {now} partitions (had {before})")
            else:
                parts.append(f"new topic {topic!r} ({now} partitions) matches the source's pattern")
        super().__init__(
            "; ".join(parts)
            + ": restart the flow to read them (recovery resumes the other partitions where they were)"
        )
        self.changes = changes
