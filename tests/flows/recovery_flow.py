"""A Kafka -> Kafka flow for the crash/resume tests, configured by environment.

BWK_BROKERS, BWK_IN, BWK_OUT: addresses and topics. BWK_SINK: ``epoch``
(KafkaEpochSink, keyed per worker) or ``dynamic`` (KafkaSink). BWK_RATE:
messages per second each worker may pass (throttles the flow so that crashes
land mid-run). Each output value is ``b"<source partition>:<source offset>"``
and goes to partition 0, so the output keeps each source partition's order.
"""

from __future__ import annotations

import os
import threading
import time

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from bytewax_kafka.core import KafkaEpochSink, KafkaSink, KafkaSinkMessage, KafkaSource

BROKERS = os.environ["BWK_BROKERS"].split(",")
RATE = float(os.environ.get("BWK_RATE", "0"))


def _convert(batch: list) -> list:
    if RATE:
        time.sleep(len(batch) / RATE)
    return [KafkaSinkMessage(m.key, f"{m.partition}:{m.offset}".encode(), partition=0) for m in batch]


def _route(batch: list) -> list:
    key = f"{os.getpid()}-{threading.get_ident()}"
    return [(key, m) for m in batch]


flow = Dataflow("recovery")
msgs = op.input("in", flow, KafkaSource(BROKERS, [os.environ["BWK_IN"]], tail=False, batch_size=500))
out = op.flat_map_batch("convert", msgs, _convert)
if os.environ.get("BWK_SINK", "epoch") == "epoch":
    op.output("out", op.flat_map_batch("route", out, _route), KafkaEpochSink(BROKERS, os.environ["BWK_OUT"]))
else:
    op.output("out", out, KafkaSink(BROKERS, os.environ["BWK_OUT"]))
