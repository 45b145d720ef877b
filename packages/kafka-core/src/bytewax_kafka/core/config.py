"""Client settings: defaults, merging, validation and redaction of secrets."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import KafkaError as CKError

from bytewax_kafka.core.errors import (
    KafkaAuthenticationError,
    KafkaConfigError,
    KafkaTimeoutError,
    refusal,
)
from bytewax_kafka.core.logs import with_logger

#: Setting names whose values are secrets. Matched case-insensitively; any
#: name ending in ``password``, ``secret``, ``.key`` material or ``token`` also counts.
SECRET_KEYS = frozenset(
    {
        "sasl.password",
        "sasl.username",
        "sasl.oauthbearer.client.secret",
        "sasl.oauthbearer.config",
        "sasl.oauthbearer.assertion.private.key.passphrase",
        "sasl.oauthbearer.assertion.private.key.pem",
        "ssl.key.password",
        "ssl.key.pem",
        "ssl_key",
        "ssl.keystore.password",
        "ssl.truststore.password",
        "ssl.certificate.pem",
    }
)
_SECRET_PATTERN = re.compile(r"(password|secret|passphrase|token|credential|private\.key)", re.I)
REDACTED = "[redacted]"

#: Consumer-only settings: never passed to admin clients or producers.
CONSUMER_ONLY = frozenset(
    {
        "group.id",
        "group.instance.id",
        "group.protocol",
        "group.remote.assignor",
        "partition.assignment.strategy",
        "session.timeout.ms",
        "heartbeat.interval.ms",
        "group.protocol.type",
        "coordinator.query.interval.ms",
        "max.poll.interval.ms",
        "enable.auto.commit",
        "auto.commit.interval.ms",
        "enable.auto.offset.store",
        "queued.min.messages",
        "queued.max.messages.kbytes",
        "fetch.wait.max.ms",
        "fetch.queue.backoff.ms",
        "fetch.message.max.bytes",
        "max.partition.fetch.bytes",
        "fetch.max.bytes",
        "fetch.min.bytes",
        "fetch.error.backoff.ms",
        "offset.store.method",
        "isolation.level",
        "consume_cb",
        "rebalance_cb",
        "offset_commit_cb",
        "on_commit",
        "enable.partition.eof",
        "check.crcs",
        "auto.offset.reset",
        "allow.auto.create.topics",
    }
)

#: Producer-only settings: never passed to admin clients or consumers.
PRODUCER_ONLY = frozenset(
    {
        "transactional.id",
        "transaction.timeout.ms",
        "enable.idempotence",
        "enable.gapless.guarantee",
        "queue.buffering.max.messages",
        "queue.buffering.max.kbytes",
        "queue.buffering.max.ms",
        "linger.ms",
        "message.send.max.retries",
        "retries",
        "retry.backoff.ms",
        "retry.backoff.max.ms",
        "queue.buffering.backpressure.threshold",
        "compression.codec",
        "compression.type",
        "batch.num.messages",
        "batch.size",
        "delivery.report.only.error",
        "dr_cb",
        "dr_msg_cb",
        "sticky.partitioning.linger.ms",
        "request.required.acks",
        "acks",
        "request.timeout.ms",
        "message.timeout.ms",
        "delivery.timeout.ms",
        "partitioner",
        "partitioner_cb",
        "compression.level",
        "on_delivery",
    }
)


def is_secret(key: str) -> bool:
    """True when the setting ``key`` holds a secret that must never be shown."""
    k = key.lower()
    return k in SECRET_KEYS or bool(_SECRET_PATTERN.search(k))


def redact(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with every secret value replaced by ``[redacted]``."""
    return {k: (REDACTED if is_secret(k) else v) for k, v in config.items()}


def scrub(text: str, config: Mapping[str, Any]) -> str:
    """Remove the secret values of ``config`` from ``text`` (e.g. a librdkafka message)."""
    for k, v in config.items():
        if is_secret(k) and isinstance(v, str) and len(v) >= 3:
            text = text.replace(v, REDACTED)
    return text


def check_addresses(name: str, value: Iterable[str]) -> list[str]:
    """Validate ``brokers``/``topics``: an iterable of non-empty strings, not a string.

    A single string is refused with the words of Bytewax's own connector
    (``"brokers must be an iterable and not a string"``), which tests of user
    code match on, followed by the value and what to pass instead.

    Raises:
        TypeError: When ``value`` is a ``str``/``bytes`` or holds non-strings.
        ValueError: When it is empty.
    """
    if isinstance(value, str | bytes):
        raise TypeError(
            f"{name} must be an iterable and not a string: got the {type(value).__name__} {value!r}; "
            f"pass a list of strings such as [{value!r}]"
        )
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"{name} must be an iterable of strings, got {type(value).__name__}") from None
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"{name} must hold strings, got {type(item).__name__}: {item!r}")
    if not items:
        raise ValueError(f"{name} must not be empty")
    return items


def check_add_config(add_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate the shape of ``add_config`` (a mapping of string keys).

    Raises:
        TypeError: For a non-mapping or a non-string key.
    """
    if add_config is None:
        return {}
    if not isinstance(add_config, Mapping):
        raise TypeError(f"add_config must be a dict of librdkafka settings, got {type(add_config).__name__}")
    for k in add_config:
        if not isinstance(k, str):
            raise TypeError(f"add_config keys must be strings, got {k!r}")
    return dict(add_config)


def for_admin(config: Mapping[str, Any]) -> dict[str, Any]:
    """Settings for an AdminClient: without consumer-only and producer-only keys."""
    return {k: v for k, v in config.items() if k not in CONSUMER_ONLY and k not in PRODUCER_ONLY}


def for_consumer(config: Mapping[str, Any]) -> dict[str, Any]:
    """Settings for a Consumer: without producer-only keys."""
    return {k: v for k, v in config.items() if k not in PRODUCER_ONLY}


def for_producer(config: Mapping[str, Any]) -> dict[str, Any]:
    """Settings for a Producer: without consumer-only keys."""
    return {k: v for k, v in config.items() if k not in CONSUMER_ONLY}


#: librdkafka names some settings by another name in its errors than the alias users set.
_ALIASES = {
    "queue.buffering.max.ms": "linger.ms",
    "request.required.acks": "acks",
    "message.send.max.retries": "retries",
    "compression.codec": "compression.type",
    "max.in.flight.requests.per.connection": "max.in.flight",
    "sasl.mechanisms": "sasl.mechanism",
}


def _name_aliases(text: str, config: Mapping[str, Any]) -> str:
    for canonical, alias in _ALIASES.items():
        if f'"{canonical}"' in text and canonical not in config and alias in config:
            text += f" (set as {alias!r})"
    return text


def make_client(factory: Any, config: Mapping[str, Any], what: str) -> Any:
    """Create a confluent-kafka client, turning bad settings into :class:`KafkaConfigError`.

    librdkafka rejects unknown or invalid settings at creation; the error
    names the setting. Secret values never reach the message. The client's
    log lines go to Python logging (:mod:`bytewax_kafka.core.logs`) unless
    ``config`` names its own ``logger``.
    """
    secrets = [v for k, v in config.items() if is_secret(k) and isinstance(v, str)]
    try:
        return factory(with_logger(config, what, secrets))
    except Exception as exc:  # KafkaException, TypeError, ValueError from the C layer
        text = scrub(str(exc.args[0] if exc.args else exc), config)
        if hasattr(exc.args[0] if exc.args else None, "str"):
            text = scrub(exc.args[0].str(), config)
        raise KafkaConfigError(f"invalid {what} configuration: {_name_aliases(text, config)}") from None


class ClientErrors:
    """An ``error_cb`` keeping what librdkafka reports while it retries, to name causes in our errors.

    A wrong password, an unknown user or a certificate the client does not
    trust is never raised by librdkafka: it retries and reports to
    ``error_cb`` only, so a timeout would otherwise be all a user sees. The
    user's own ``error_cb`` (from ``add_config``) is still called.
    """

    #: Most telling first.
    _ORDER = (CKError._AUTHENTICATION, CKError._SSL, CKError._RESOLVE, CKError._TRANSPORT)

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._config = dict(config)
        self._user_cb = config.get("error_cb")
        self._last: dict[int, str] = {}

    def __call__(self, err: Any) -> None:
        """Record ``err`` (called by librdkafka from poll/consume/flush)."""
        code = err.code()
        if code in self._ORDER:
            self._last[code] = err.str()
        if self._user_cb is not None:
            self._user_cb(err)

    def cause(self) -> str:
        """The most telling error reported so far (secrets scrubbed), or ``""``."""
        for code in self._ORDER:
            if code in self._last:
                return scrub(self._last[code], self._config)
        return ""

    def hint(self) -> str:
        """``" (the client reported: ...)"``, or ``""`` when it reported nothing useful."""
        cause = self.cause()
        return f" (the client reported: {cause})" if cause else ""

    def refused(self) -> tuple[str, bool] | None:
        """What librdkafka reported when the broker refused the credentials or TLS failed.

        Returns:
            ``(report, tls)`` (``tls`` True for a failed TLS handshake), or None.
        """
        for code in (CKError._AUTHENTICATION, CKError._SSL):
            if code in self._last:
                return scrub(self._last[code], self._config), code == CKError._SSL
        return None

    def timeout_error(self, message: str) -> KafkaTimeoutError:
        """The error for a request that timed out: :class:`KafkaAuthenticationError` when refused.

        Args:
            message: What timed out (``"no Kafka broker at ... answered ..."``).
        """
        refused = self.refused()
        if refused is None:
            return KafkaTimeoutError(f"{message}{self.hint()}")
        cause, tls = refused
        fix = (
            "check ssl.ca.location (the CA that signed the broker's certificate), the client "
            "certificate and key, and that the address is the broker's TLS listener"
            if tls
            else "check sasl.username, sasl.password and sasl.mechanism"
        )
        return KafkaAuthenticationError(f"{refusal(cause, tls=tls)}; {fix}. {message}", cause=cause, tls=tls)


def watch_errors(config: Mapping[str, Any]) -> tuple[dict[str, Any], ClientErrors]:
    """``config`` with a :class:`ClientErrors` as its ``error_cb``, and that object."""
    errors = ClientErrors(config)
    return {**config, "error_cb": errors}, errors
