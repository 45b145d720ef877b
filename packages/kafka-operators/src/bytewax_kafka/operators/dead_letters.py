"""Dead letters: write failed messages to a Kafka topic, read them back to replay them.

A dead-letter record is the failed message's key and value, with headers
saying what failed, where, and where the message came from; the message's
own headers follow:

=============================  ===============================================
header                         value (UTF-8 text; empty when unknown)
=============================  ===============================================
``dlq.error.code``             confluent-kafka error code, e.g. ``-159``
``dlq.error.name``             its name, e.g. ``_VALUE_DESERIALIZATION``
``dlq.error.reason``           why, e.g. ``value deserialization failed in step
                               'flow.de': SerdeError: invalid JSON ...``
``dlq.step_id``                step that produced the error (else the
                               ``dead_letter`` step's own id)
``dlq.source.topic``           topic the message was read from
``dlq.source.partition``       its partition
``dlq.source.offset``          its offset
``dlq.source.timestamp``       its timestamp, milliseconds since the epoch
``dlq.source.timestamp.type``  ``1`` create time, ``2`` log-append time
``dlq.key.encoding``           how the key was written (below)
``dlq.value.encoding``         how the value was written (below)
``dlq.source.headers``         how many of the record's last headers are the
                               message's own headers
=============================  ===============================================

Keys and values are written as they are when they are ``bytes`` or None
(encoding ``bytes``): that is the case for consumer and deserialization
errors, whose messages hold the bytes as read. Other keys and values (a
serialization error holds the object that failed to serialize) are encoded:
a ``str`` as UTF-8 (encoding ``utf-8``), anything else as JSON when the
standard ``json`` module can encode it (``json``; tuples become lists,
non-string dict keys strings), else as its ``repr()`` (``repr``, which cannot
be decoded back).

The record's timestamp is the time it was dead-lettered (the producer's), so
the dead-letter topic's retention counts from then; the original is in
``dlq.source.timestamp``.

Replaying: :func:`parse_dead_letter` turns a record back into the error it
came from, and :func:`replay_dead_letters` reads a dead-letter topic as a
stream of the original messages (original topic, partition, offset,
timestamp and headers; key and value decoded back per their encoding),
ready to be processed again by a fixed flow.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream, operator
from confluent_kafka import OFFSET_BEGINNING
from confluent_kafka import KafkaError as CKError

from bytewax_kafka.core import (
    CommitProgress,
    ConsumerGroup,
    ExactlyOnce,
    KafkaError,
    KafkaSinkMessage,
    KafkaSourceMessage,
)
from bytewax_kafka.core.offsets import StartingOffset
from bytewax_kafka.operators.io import _split, input, output
from bytewax_kafka.operators.types import KafkaOpOut, KafkaStepError

__all__ = [
    "ERROR_CODE",
    "ERROR_NAME",
    "ERROR_REASON",
    "KEY_ENCODING",
    "SOURCE_HEADERS",
    "SOURCE_OFFSET",
    "SOURCE_PARTITION",
    "SOURCE_TIMESTAMP",
    "SOURCE_TIMESTAMP_TYPE",
    "SOURCE_TOPIC",
    "STEP_ID",
    "VALUE_ENCODING",
    "dead_letter",
    "parse_dead_letter",
    "replay_dead_letters",
    "to_dead_letter",
]

ERROR_CODE = "dlq.error.code"
ERROR_NAME = "dlq.error.name"
ERROR_REASON = "dlq.error.reason"
STEP_ID = "dlq.step_id"
SOURCE_TOPIC = "dlq.source.topic"
SOURCE_PARTITION = "dlq.source.partition"
SOURCE_OFFSET = "dlq.source.offset"
SOURCE_TIMESTAMP = "dlq.source.timestamp"
SOURCE_TIMESTAMP_TYPE = "dlq.source.timestamp.type"
KEY_ENCODING = "dlq.key.encoding"
VALUE_ENCODING = "dlq.value.encoding"
SOURCE_HEADERS = "dlq.source.headers"

_BYTES = "bytes"
_UTF8 = "utf-8"
_JSON = "json"
_REPR = "repr"

Raw = bytes | None


def _encode(obj: Any) -> tuple[Raw, str]:
    if obj is None or type(obj) is bytes:
        return obj, _BYTES
    if isinstance(obj, bytes | bytearray | memoryview):
        return bytes(obj), _BYTES
    if isinstance(obj, str):
        return obj.encode("utf-8", "surrogatepass"), _UTF8
    try:
        return json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass"), _JSON
    except (TypeError, ValueError, RecursionError):
        return repr(obj).encode("utf-8", "backslashreplace"), _REPR


def _decode(data: Raw, encoding: str) -> Any:
    if data is None or encoding in ("", _BYTES):
        return data
    if encoding == _UTF8:
        return data.decode("utf-8", "surrogatepass")
    if encoding == _JSON:
        return json.loads(data.decode("utf-8", "surrogatepass"))
    if encoding == _REPR:
        return data.decode("utf-8", "backslashreplace")
    raise ValueError(f"unknown encoding {encoding!r}")


def _text(value: object) -> bytes:
    return b"" if value is None else str(value).encode("utf-8", "backslashreplace")


def to_dead_letter(error: KafkaError[Any, Any], step_id: str = "") -> KafkaSinkMessage[Raw, Raw]:
    """Build the dead-letter record of an error item (see the module docs for its layout).

    Args:
        error: A :class:`~bytewax_kafka.core.KafkaError` (or
            :class:`~bytewax_kafka.operators.KafkaStepError`) item.
        step_id: Written as ``dlq.step_id`` when ``error`` does not name its
            own step.

    Returns:
        A message without a topic (the dead-letter topic is the output's),
        partitioned by the original key.

    Raises:
        TypeError: ``error`` is not a ``KafkaError``.

    Example:
        >>> from confluent_kafka import KafkaError as CKError
        >>> from bytewax_kafka.core import KafkaError, KafkaSourceMessage
        >>> err = KafkaError(
        ...     CKError(CKError._VALUE_DESERIALIZATION, "bad JSON"),
        ...     KafkaSourceMessage(b"k", b"{", "in", [("h", b"1")], offset=7, partition=0),
        ... )
        >>> rec = to_dead_letter(err, "flow.dlq")
        >>> rec.key, rec.value, dict(rec.headers)["dlq.source.offset"], rec.headers[-1]
        (b'k', b'{', b'7', ('h', b'1'))
    """
    if not isinstance(error, KafkaError):
        raise TypeError(
            f"dead letters are made of KafkaError items, got {type(error).__name__}: {error!r:.200}"
        )
    err = error.err
    msg = error.msg
    key, key_encoding = _encode(msg.key)
    value, value_encoding = _encode(msg.value)
    ts = msg.timestamp
    has_ts = ts is not None and ts[0] > 0
    own = list(msg.headers or [])
    headers: list[tuple[str, bytes | None]] = [
        (ERROR_CODE, _text(err.code())),
        (ERROR_NAME, _text(err.name())),
        (ERROR_REASON, _text(err.str())),
        (STEP_ID, _text(getattr(error, "step_id", "") or step_id)),
        (SOURCE_TOPIC, _text(msg.topic)),
        (SOURCE_PARTITION, _text(msg.partition)),
        (SOURCE_OFFSET, _text(msg.offset)),
        (SOURCE_TIMESTAMP, _text(ts[1] if has_ts and ts is not None else None)),
        (SOURCE_TIMESTAMP_TYPE, _text(ts[0] if has_ts and ts is not None else None)),
        (KEY_ENCODING, key_encoding.encode()),
        (VALUE_ENCODING, value_encoding.encode()),
        (SOURCE_HEADERS, _text(len(own))),
        *own,
    ]
    return KafkaSinkMessage(key, value, headers=headers)


def _str_header(ours: Mapping[str, bytes | None], name: str) -> str:
    raw = ours.get(name)
    return "" if raw is None else raw.decode("utf-8", "replace")


def _int_header(ours: Mapping[str, bytes | None], name: str) -> int | None:
    text = _str_header(ours, name)
    return int(text) if text else None


def parse_dead_letter(record: KafkaSourceMessage[Raw, Raw]) -> KafkaStepError[Any, Any]:
    """Turn a dead-letter record back into the error it was written for.

    Args:
        record: A message read from a dead-letter topic.

    Returns:
        A :class:`~bytewax_kafka.operators.KafkaStepError` whose ``err`` has
        the original code and reason, whose ``step_id`` is ``dlq.step_id``,
        and whose ``msg`` is the original message: its topic, partition,
        offset, timestamp and own headers, key and value decoded per their
        encoding (``bytes`` as they are, ``utf-8`` to ``str``, ``json`` to the
        decoded object, ``repr`` to the ``repr()`` text).

    Raises:
        ValueError: The record lacks the ``dlq.*`` headers or they do not parse.

    Example:
        >>> from confluent_kafka import KafkaError as CKError
        >>> from bytewax_kafka.core import KafkaError, KafkaSourceMessage
        >>> original = KafkaSourceMessage(b"k", b"{", "in", [("h", b"1")], offset=7, partition=0)
        >>> rec = to_dead_letter(KafkaError(CKError(CKError._VALUE_DESERIALIZATION, "bad JSON"), original))
        >>> read = KafkaSourceMessage(rec.key, rec.value, "in-dlq", rec.headers, offset=0, partition=0)
        >>> back = parse_dead_letter(read)
        >>> back.msg == original, back.err.code() == CKError._VALUE_DESERIALIZATION, back.err.str()
        (True, True, 'bad JSON')
    """
    headers = list(record.headers or [])
    ours: dict[str, bytes | None] = {}
    for name, val in headers:
        if name.startswith("dlq.") and name not in ours:
            ours[name] = val
    if ERROR_CODE not in ours or SOURCE_HEADERS not in ours:
        raise ValueError(
            f"not a dead-letter record (no {ERROR_CODE!r}/{SOURCE_HEADERS!r} headers): "
            f"topic {record.topic!r} partition {record.partition} offset {record.offset}"
        )
    try:
        code = int(_str_header(ours, ERROR_CODE))
        n_own = int(_str_header(ours, SOURCE_HEADERS))
        if not 0 <= n_own <= len(headers):
            raise ValueError(f"{SOURCE_HEADERS} is {n_own}, the record has {len(headers)} headers")
        ts_ms = _int_header(ours, SOURCE_TIMESTAMP)
        ts_type = _int_header(ours, SOURCE_TIMESTAMP_TYPE)
        key = _decode(record.key, _str_header(ours, KEY_ENCODING))
        value = _decode(record.value, _str_header(ours, VALUE_ENCODING))
        msg: KafkaSourceMessage[Any, Any] = KafkaSourceMessage(
            key=key,
            value=value,
            topic=_str_header(ours, SOURCE_TOPIC) or None,
            headers=headers[len(headers) - n_own :] if n_own else [],
            offset=_int_header(ours, SOURCE_OFFSET),
            partition=_int_header(ours, SOURCE_PARTITION),
            timestamp=None if ts_ms is None else (ts_type or 1, ts_ms),
        )
    except ValueError as exc:
        raise ValueError(
            f"malformed dead-letter record at topic {record.topic!r} partition {record.partition} "
            f"offset {record.offset}: {exc}"
        ) from exc
    reason = _str_header(ours, ERROR_REASON)
    return KafkaStepError(CKError(code, reason), msg, _str_header(ours, STEP_ID))


@operator
def dead_letter(
    step_id: str,
    errs: Stream[KafkaError[Any, Any]],
    *,
    brokers: Iterable[str],
    topic: str,
    add_config: Mapping[str, Any] | None = None,
    exactly_once: ExactlyOnce | None = None,
    commit_progress: CommitProgress | None = None,
    consumer_group: ConsumerGroup | None = None,
) -> None:
    """Write error items to a dead-letter topic, with headers saying what failed.

    Each :class:`~bytewax_kafka.core.KafkaError` becomes one record (built by
    :func:`to_dead_letter`; layout in the module docs): the failed message's
    original key and value, ``dlq.*`` headers (error code, name and reason,
    step, source topic, partition, offset and timestamp, key/value encodings),
    then the message's own headers. Records are written as
    :func:`~bytewax_kafka.operators.output` writes: acknowledged once per
    epoch, at-least-once, a failed delivery stops the flow.

    Given the ``exactly_once`` (or ``commit_progress``, ``consumer_group``)
    of the flow's input and outputs, the dead letters are written through
    the same producer per worker as those outputs: with exactly-once, an
    epoch's outputs, dead letters and consumed offsets commit in one
    transaction, so after any crash every input is in exactly one of them
    (for ``read_committed`` readers).

    Args:
        step_id: Unique id of the step.
        errs: Error items, e.g. the ``errs`` of several operators merged.
        brokers: ``host:port`` addresses of the cluster.
        topic: The dead-letter topic.
        add_config: librdkafka producer settings (those of the outputs
            sharing a mode, when one is given).
        exactly_once: The flow's :class:`~bytewax_kafka.core.ExactlyOnce`.
        commit_progress: The flow's :class:`~bytewax_kafka.core.CommitProgress`.
        consumer_group: The flow's :class:`~bytewax_kafka.core.ConsumerGroup`.

    Example:
        >>> from bytewax.dataflow import Dataflow
        >>> import bytewax.operators as op
        >>> from bytewax_kafka import operators as kop
        >>> from bytewax_kafka.serde import JsonDeserializer
        >>> brokers = ["localhost:19092"]
        >>> flow = Dataflow("example")
        >>> kinp = kop.input("in", flow, brokers=brokers, topics=["in-topic"])
        >>> docs = kop.deserialize_value("de", kinp.oks, JsonDeserializer())
        >>> errs = op.merge("errs", kinp.errs, docs.errs)
        >>> kop.dead_letter("dlq", errs, brokers=brokers, topic="in-topic-dlq")
    """
    if not isinstance(topic, str) or not topic:
        raise TypeError(f"dead_letter needs a topic name, got {topic!r}")
    records = op.map("to_record", errs, lambda e: to_dead_letter(e, step_id))
    output(
        "kafka_output",
        records,
        brokers=brokers,
        topic=topic,
        add_config=add_config,
        exactly_once=exactly_once,
        commit_progress=commit_progress,
        consumer_group=consumer_group,
    )


def _parser(step_id: str) -> Callable[[list[KafkaSourceMessage[Raw, Raw]]], list[Any]]:
    def parse_batch(batch: list[KafkaSourceMessage[Raw, Raw]]) -> list[Any]:
        out: list[Any] = []
        for record in batch:
            try:
                out.append(parse_dead_letter(record).msg)
            except ValueError as exc:
                reason = f"dead-letter record not replayable in step {step_id!r}: {exc}"
                out.append(KafkaStepError(CKError(CKError._BAD_MSG, reason), record, step_id))
        return out

    return parse_batch


@operator
def replay_dead_letters(
    step_id: str,
    flow: Dataflow,
    *,
    brokers: Iterable[str],
    topic: str,
    tail: bool = False,
    starting_offset: StartingOffset = OFFSET_BEGINNING,
    add_config: Mapping[str, Any] | None = None,
    batch_size: int = 1000,
) -> KafkaOpOut[KafkaSourceMessage[Any, Any], KafkaStepError[Any, Any]]:
    """Read a dead-letter topic as the messages that failed, to process them again.

    Each record is turned back into its original message with
    :func:`parse_dead_letter`: original topic, partition, offset, timestamp
    and headers (the ``dlq.*`` headers removed); key and value as they were
    (the original bytes for consumer and deserialization errors). Feed them
    to the fixed version of the steps that failed.

    Unlike :func:`~bytewax_kafka.operators.input`, ``tail`` defaults to
    False: the flow stops once the records present at start are read.

    Args:
        step_id: Unique id of the step.
        flow: The dataflow.
        brokers: ``host:port`` addresses of the cluster.
        topic: The dead-letter topic.
        tail: Keep waiting for new dead letters (True) or stop at the end.
        starting_offset: Where to start without recovery state (as for
            ``input``; e.g. an offset to skip records already replayed).
        add_config: librdkafka consumer settings.
        batch_size: Most records read at a time per partition.

    Returns:
        ``oks``: the original :class:`~bytewax_kafka.core.KafkaSourceMessage`
        items. ``errs``: consumer errors, and records that are not dead
        letters (code ``_BAD_MSG``, ``msg`` the record as read).

    Example:
        >>> from bytewax.dataflow import Dataflow
        >>> from bytewax_kafka import operators as kop
        >>> from bytewax_kafka.serde import JsonDeserializer
        >>> brokers = ["localhost:19092"]
        >>> flow = Dataflow("replay")
        >>> again = kop.replay_dead_letters("replay", flow, brokers=brokers, topic="in-topic-dlq")
        >>> docs = kop.deserialize_value("de", again.oks, JsonDeserializer())
    """
    records = input(
        "kafka_input",
        flow,
        brokers=brokers,
        topics=[topic],
        tail=tail,
        starting_offset=starting_offset,
        add_config=add_config,
        batch_size=batch_size,
    )
    parsed = op.flat_map_batch("parse", records.oks, _parser(step_id))
    split: KafkaOpOut[KafkaSourceMessage[Any, Any], KafkaStepError[Any, Any]] = _split(
        "split_err", parsed, step_id
    )
    errs = op.merge("errs", records.errs, split.errs)
    return KafkaOpOut(split.oks, errs)
