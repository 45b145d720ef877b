"""A producer that checks every delivery report and never drops a message silently."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Producer

from bytewax_kafka.core.config import for_producer, make_client, scrub
from bytewax_kafka.core.errors import KafkaDeliveryError, KafkaTimeoutError
from bytewax_kafka.core.messages import KafkaSinkMessage

#: Producer settings applied unless ``add_config`` sets them.
PRODUCER_DEFAULTS: dict[str, Any] = {
    # Java clients' key placement, so keys land where Java producers put them.
    "partitioner": "murmur2_random",
    # A failed delivery surfaces within 30 s instead of librdkafka's 5 minutes.
    "message.timeout.ms": 30000,
    "linger.ms": 5,
}


class DeliveringProducer:
    """A confluent ``Producer`` whose every delivery report is checked.

    :meth:`produce` never raises ``BufferError``: when librdkafka's local
    queue is full it serves delivery reports until there is room.
    :meth:`flush` waits for every outstanding message and raises
    :class:`~bytewax_kafka.core.errors.KafkaDeliveryError` if any failed.
    """

    def __init__(self, config: Mapping[str, Any], default_topic: str | None) -> None:
        conf = {**PRODUCER_DEFAULTS, **for_producer(config)}
        self.config = conf
        self.producer: Any = make_client(Producer, conf, "producer")
        self.default_topic = default_topic
        self.failures = 0
        self.first_failure: tuple[str, int, str] | None = None
        self._timeout_s = float(conf.get("message.timeout.ms", 300000)) / 1000.0

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.failures += 1
            if self.first_failure is None:
                part = msg.partition()
                self.first_failure = (
                    str(msg.topic()),
                    -1 if part is None else int(part),
                    scrub(str(err), self.config),
                )

    def produce_batch(self, items: list[Any]) -> None:
        """Queue ``items`` (sink or source messages) for delivery."""
        produce = self.producer.produce
        poll = self.producer.poll
        cb = self._on_delivery
        default = self.default_topic
        for item in items:
            if type(item) is not KafkaSinkMessage:
                from bytewax_kafka.core.messages import to_sink_message

                item = to_sink_message(item)
            topic = item.topic or default
            if topic is None:
                raise ValueError(
                    "message has no topic and the sink has no default topic "
                    f"(KafkaSink(..., topic=None)): {item!r:.200}"
                )
            part = item.partition
            try:
                produce(
                    topic,
                    item.value,
                    item.key,
                    -1 if part is None else part,
                    cb,
                    None,
                    item.timestamp,
                    item.headers or None,
                )
            except BufferError:
                self._produce_when_room(topic, item, part)
        poll(0)
        self.check()

    def _produce_when_room(self, topic: str, item: KafkaSinkMessage[Any, Any], part: int | None) -> None:
        deadline = time.monotonic() + self._timeout_s + 5
        while True:
            self.producer.poll(0.05)
            self.check()
            try:
                self.producer.produce(
                    topic,
                    item.value,
                    item.key,
                    -1 if part is None else part,
                    self._on_delivery,
                    None,
                    item.timestamp,
                    item.headers or None,
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
            self.failures = 0
            self.first_failure = None
            raise KafkaDeliveryError(topic, partition, err, n)

    def flush(self) -> None:
        """Wait until every queued message is delivered or failed; raise on failures.

        Bounded by ``message.timeout.ms``: librdkafka fails each message that
        is not delivered in that time, and those failures are raised here.
        """
        left = self.producer.flush(self._timeout_s + 10)
        self.check()
        if left:
            raise KafkaTimeoutError(
                f"{left} messages still undelivered {self._timeout_s + 10:.0f}s after flush started"
            )
