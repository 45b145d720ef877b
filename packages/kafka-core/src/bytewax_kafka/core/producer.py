"""A producer that checks every delivery report and never drops a message silently."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError as CKError
from confluent_kafka import KafkaException, Producer

from bytewax_kafka.core.config import for_producer, make_client, scrub, watch_errors
from bytewax_kafka.core.deadline import Deadlines, deadline_for
from bytewax_kafka.core.errors import KafkaDeliveryError, KafkaDeliveryRefusedError, KafkaTimeoutError
from bytewax_kafka.core.messages import KafkaSinkMessage, KafkaSourceMessage, to_sink_message

#: Producer settings applied unless ``add_config`` sets them.
PRODUCER_DEFAULTS: dict[str, Any] = {
    # Java clients' key placement, so keys land where Java producers put them.
    "partitioner": "murmur2_random",
    # A failed delivery surfaces within 30 s instead of librdkafka's 5 minutes.
    "message.timeout.ms": 30000,
    "linger.ms": 5,
    # Only failed deliveries call back into Python (one call per message
    # otherwise): failures are what the sink checks; flush() tells when the
    # rest is on the broker. Measured in docs/performance.md.
    "delivery.report.only.error": True,
}

#: Errors for a message (or its batch) larger than the topic or the broker accepts.
_TOO_LARGE = frozenset({CKError.MSG_SIZE_TOO_LARGE, CKError.RECORD_LIST_TOO_LARGE})


def _check_header_names(headers: Any) -> None:
    """Raise for a header name that is not a ``str`` encodable as UTF-8.

    confluent-kafka checks neither: a lone surrogate in a name crashes the
    process (SIGSEGV) inside ``produce()``, and a ``bytes`` name is sent as
    its repr (``"b'name'"``).
    """
    for entry in headers.items() if isinstance(headers, Mapping) else headers:
        name = entry[0] if isinstance(entry, tuple) and entry else None
        if not isinstance(name, str):
            raise TypeError(f"header names must be str, got {type(name).__name__}: {name!r:.100}")
        name.encode()


def _size(key: Any, value: Any) -> int:
    return (len(key) if key is not None else 0) + (len(value) if value is not None else 0)


class DeliveringProducer:
    """A confluent ``Producer`` whose every delivery report is checked.

    :meth:`produce` never raises ``BufferError``: when librdkafka's local
    queue is full it serves delivery reports until there is room.
    :meth:`flush` waits for every outstanding message and raises
    :class:`~bytewax_kafka.core.errors.KafkaDeliveryError` if any failed.
    """

    def __init__(self, config: Mapping[str, Any], default_topic: str | None) -> None:
        given = for_producer(config)
        self._user_cb = given.get("on_delivery")
        defaults = dict(PRODUCER_DEFAULTS)
        if self._user_cb is not None:
            # A callback of the user's own gets every report, as librdkafka gives them.
            defaults["delivery.report.only.error"] = False
        conf, self._errors = watch_errors({**defaults, **given})
        conf["on_delivery"] = self._on_delivery
        self.config = conf
        self.producer: Any = make_client(Producer, conf, "producer")
        self.default_topic = default_topic
        self.failures = 0
        self.first_failure: tuple[str, int, str] | None = None
        #: Largest message (key + value bytes) that failed as too large, 0 for none.
        self.largest_failed = 0
        #: Some message timed out (the cluster was unreachable, or refused us).
        self.timed_out = False
        self._timeout_s = float(conf.get("message.timeout.ms", 300000)) / 1000.0
        #: This producer's blocking calls (flush, transactions) run here under our deadline.
        self.calls = Deadlines("producer")

    def _on_delivery(self, err: Any, msg: Any) -> None:
        # Called by librdkafka from poll()/flush(), for failures only unless
        # delivery.report.only.error is false.
        if self._user_cb is not None:
            self._user_cb(err, msg)
        if err is not None:
            self.failures += 1
            code = err.code()
            if code in _TOO_LARGE:
                self.largest_failed = max(self.largest_failed, _size(msg.key(), msg.value()))
            elif code == CKError._MSG_TIMED_OUT:
                self.timed_out = True
            if self.first_failure is None:
                part = msg.partition()
                self.first_failure = (
                    str(msg.topic()),
                    -1 if part is None else int(part),
                    scrub(str(err), self.config),
                )

    def produce_batch(self, items: list[Any]) -> None:
        """Queue ``items`` (sink or source messages) for delivery.

        A :class:`KafkaSourceMessage` is written as its ``to_sink()`` would
        be (key, value, headers, the broker's timestamp; the sink's topic),
        without building that message.
        """
        produce = self.producer.produce
        default = self.default_topic
        for item in items:
            kind = type(item)
            if kind is not KafkaSinkMessage and kind is not KafkaSourceMessage:
                item = to_sink_message(item)
                kind = KafkaSinkMessage
            if kind is KafkaSinkMessage:
                # Its private slots: the public properties cost a call each.
                topic = item._topic or default
                part = item._partition
                ts = item._timestamp
                headers = item._headers
                key = item._key
                value = item._value
            else:
                topic = default
                part = None
                st = item.timestamp
                ts = st[1] if st is not None and st[0] > 0 and st[1] > 0 else 0
                headers = item.headers
                key = item.key
                value = item.value
            if topic is None:
                raise ValueError(
                    "message has no topic and the sink has no default topic "
                    f"(KafkaSink(..., topic=None)): {item!r:.200}"
                )
            try:
                if part is None and not headers and not ts:
                    produce(topic, value, key)
                else:
                    if headers:
                        _check_header_names(headers)
                    produce(topic, value, key, -1 if part is None else part, None, None, ts, headers or None)
            except BufferError:
                self._produce_when_room(topic, key, value, part, ts, headers)
            except (KafkaException, TypeError, ValueError) as exc:
                # Refused before sending: too large, unknown partition, a key,
                # value or header of the wrong type or not encodable.
                self._refused(topic, key, value, part, exc)
        self.producer.poll(0)
        self.check()

    def _refused(self, topic: str, key: Any, value: Any, part: int | None, exc: Exception) -> None:
        err: Any = exc.args[0] if exc.args else exc
        if isinstance(exc, KafkaException):
            text = scrub(err.str() if hasattr(err, "str") else str(err), self.config)
        else:
            text = f"the message cannot be sent: {type(exc).__name__}: {exc}"
        if isinstance(exc, KafkaException) and hasattr(err, "code") and err.code() in _TOO_LARGE:
            size = _size(key, value)
            limit = self.config.get("message.max.bytes", 1000000)
            text += f" (message of {size} bytes; the producer's message.max.bytes is {limit})"
        raise KafkaDeliveryError(topic, -1 if part is None else part, text) from None

    def _produce_when_room(
        self, topic: str, key: Any, value: Any, part: int | None, ts: int, headers: Any
    ) -> None:
        deadline = time.monotonic() + self._timeout_s + 5
        while True:
            self.producer.poll(0.05)
            self.check()
            try:
                self.producer.produce(
                    topic, value, key, -1 if part is None else part, None, None, ts, headers or None
                )
                return
            except BufferError:
                if time.monotonic() > deadline:
                    raise KafkaTimeoutError(
                        f"the producer's local queue stayed full for {self._timeout_s + 5:.0f}s "
                        f"writing to topic {topic!r}: the cluster is not taking messages"
                    ) from None

    def check(self) -> None:
        """Raise if any delivery has failed so far."""
        if self.failures:
            topic, partition, err = self.first_failure or ("?", -1, "unknown")
            n = self.failures
            if self.largest_failed:
                err += (
                    f" (largest message refused: {self.largest_failed} bytes of key and value; "
                    "larger than the topic's max.message.bytes or the broker's message.max.bytes)"
                )
            refused = self._errors.refused() if self.timed_out else None
            if self.timed_out and refused is None:
                err += self._errors.hint()  # why: unreachable, unknown host, ...
            self.failures = 0
            self.first_failure = None
            self.largest_failed = 0
            self.timed_out = False
            if refused is not None:  # the broker refused the credentials, or TLS failed
                raise KafkaDeliveryRefusedError(topic, partition, err, n, cause=refused[0], tls=refused[1])
            raise KafkaDeliveryError(topic, partition, err, n)

    def flush(self) -> None:
        """Wait until every queued message is delivered or failed; raise on failures.

        Bounded by ``message.timeout.ms``: librdkafka fails each message that
        is not delivered in that time, and those failures are raised here.
        A flush that librdkafka does not end in time raises
        :class:`~bytewax_kafka.core.errors.KafkaCallTimeout`.
        """
        wait = self._timeout_s + 10
        left = self.calls.call("flushing the producer", deadline_for(wait), self.producer.flush, wait)
        self.check()
        if left:
            raise KafkaTimeoutError(
                f"{left} messages still undelivered {self._timeout_s + 10:.0f}s after flush started"
            )
