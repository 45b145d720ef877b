"""A Kafka -> Kafka flow for the broker- and flow-fault tests, configured by environment.

BWK_BROKERS, BWK_IN, BWK_OUT: addresses and topics. BWK_SINK: ``epoch``
(KafkaEpochSink, keyed per worker) or ``dynamic`` (KafkaSink).
BWK_RATE: messages per second each worker may pass through ``convert``
(throttles the flow so that faults land mid-run). BWK_SINK_RATE: messages
per second each sink partition may write (a sink slower than the source).
BWK_TIMEOUT: the source's ``timeout`` (seconds every broker may be
unreachable before ``KafkaTimeoutError``). BWK_MESSAGE_TIMEOUT_MS: the
sink's ``message.timeout.ms``. BWK_TAIL: ``1`` keeps reading past the end.
BWK_CONFIG: a JSON object of librdkafka settings for source and sink.

Each output value is ``b"<source partition>:<source offset>"`` and goes to
partition 0, so the output keeps each source partition's order.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from bytewax_kafka.core import KafkaEpochSink, KafkaSink, KafkaSinkMessage, KafkaSource

BROKERS = os.environ["BWK_BROKERS"].split(",")
RATE = float(os.environ.get("BWK_RATE", "0"))
SINK_RATE = float(os.environ.get("BWK_SINK_RATE", "0"))
TIMEOUT = float(os.environ.get("BWK_TIMEOUT", "30"))
CONFIG: dict[str, Any] = json.loads(os.environ.get("BWK_CONFIG") or "{}")
SINK_CONFIG = {**CONFIG}
if os.environ.get("BWK_MESSAGE_TIMEOUT_MS"):
    SINK_CONFIG["message.timeout.ms"] = int(os.environ["BWK_MESSAGE_TIMEOUT_MS"])


def _convert(batch: list) -> list:
    if RATE:
        time.sleep(len(batch) / RATE)
    return [KafkaSinkMessage(m.key, f"{m.partition}:{m.offset}".encode(), partition=0) for m in batch]


def _route(batch: list) -> list:
    key = f"{os.getpid()}-{threading.get_ident()}"
    return [(key, m) for m in batch]


class _SlowSink(KafkaSink):
    """A KafkaSink writing at most ``SINK_RATE`` messages per second."""

    def build(self, step_id: str, worker_index: int, worker_count: int) -> Any:
        part = super().build(step_id, worker_index, worker_count)
        write = part.write_batch

        def slow_write(items: list) -> None:
            time.sleep(len(items) / SINK_RATE)
            write(items)

        part.write_batch = slow_write  # type: ignore[method-assign]
        return part


class _SlowEpochSink(KafkaEpochSink):
    """A KafkaEpochSink writing at most ``SINK_RATE`` messages per second per part."""

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> Any:
        part = super().build_part(step_id, for_part, resume_state)
        write = part.write_batch

        def slow_write(items: list) -> None:
            time.sleep(len(items) / SINK_RATE)
            write(items)

        part.write_batch = slow_write  # type: ignore[method-assign]
        return part


source = KafkaSource(
    BROKERS,
    [os.environ["BWK_IN"]],
    tail=os.environ.get("BWK_TAIL") == "1",
    batch_size=500,
    timeout=TIMEOUT,
    add_config=CONFIG or None,
)
flow = Dataflow("faults")
msgs = op.input("in", flow, source)
out = op.flat_map_batch("convert", msgs, _convert)
if os.environ.get("BWK_SINK", "epoch") == "epoch":
    sink_type = _SlowEpochSink if SINK_RATE else KafkaEpochSink
    op.output(
        "out",
        op.flat_map_batch("route", out, _route),
        sink_type(BROKERS, os.environ["BWK_OUT"], add_config=SINK_CONFIG or None),
    )
else:
    dyn_type = _SlowSink if SINK_RATE else KafkaSink
    op.output("out", out, dyn_type(BROKERS, os.environ["BWK_OUT"], add_config=SINK_CONFIG or None))
