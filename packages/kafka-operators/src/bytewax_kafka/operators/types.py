"""What the operators return: the ``oks``/``errs`` stream pair and the error items they emit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from bytewax.dataflow import Stream

from bytewax_kafka.core.messages import K, KafkaError, V

__all__ = ["E", "KafkaOpOut", "KafkaStepError", "X"]

X = TypeVar("X")
"""Type of the items that were processed successfully."""

E = TypeVar("E")
"""Type of the error items."""


@dataclass(frozen=True)
class KafkaOpOut(Generic[X, E]):
    """The two streams an operator of this package returns.

    Attributes:
        oks: Items processed successfully.
        errs: One error item per failure, carrying the message it belongs
            to. A stream nothing is attached to is dropped silently.

    Example:
        >>> from bytewax.dataflow import Dataflow
        >>> from bytewax_kafka import operators as kop
        >>> flow = Dataflow("example")
        >>> kinp = kop.input("in", flow, brokers=["localhost:19092"], topics=["in-topic"])
        >>> type(kinp).__name__, type(kinp.oks).__name__
        ('KafkaOpOut', 'Stream')
    """

    oks: Stream[X]
    errs: Stream[E]


@dataclass(frozen=True, slots=True)
class KafkaStepError(KafkaError[K, V]):
    """A :class:`~bytewax_kafka.core.KafkaError` that also names the step it happened in.

    Every error item the operators of this package emit is one of these
    (``isinstance(item, KafkaError)`` holds), so that
    :func:`~bytewax_kafka.operators.dead_letter` can record where a message
    failed even when several error streams are merged.

    Attributes:
        err: The confluent-kafka error: its ``code()`` says what kind of
            failure (e.g. ``_VALUE_DESERIALIZATION``), ``str()`` why.
        msg: The message the error belongs to (see each operator for what
            it holds).
        step_id: Fully qualified id of the step that produced the error,
            e.g. ``"my_flow.de"``.

    Example:
        >>> from confluent_kafka import KafkaError as CKError
        >>> from bytewax_kafka.core import KafkaSourceMessage
        >>> e = KafkaStepError(
        ...     CKError(CKError._VALUE_DESERIALIZATION, "bad"),
        ...     KafkaSourceMessage(b"k", b"v", "t", partition=0, offset=3),
        ...     "flow.de",
        ... )
        >>> isinstance(e, KafkaError), e.step_id, e.msg.offset
        (True, 'flow.de', 3)
    """

    step_id: str = ""
