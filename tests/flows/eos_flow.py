"""An exactly-once Kafka -> Kafka flow for the crash tests, configured by environment.

BWK_BROKERS, BWK_IN, BWK_OUT: addresses and topics; BWK_APP: the
ExactlyOnce name; BWK_RATE: messages per second per worker (throttle, so
kills land mid-run); BWK_COMMIT_TIMEOUT: the ExactlyOnce ``commit_timeout``
(seconds, default 30); BWK_TAIL: ``1`` keeps reading past the end;
BWK_BATCHES=1: read with ``batches=True`` (lists of messages as items).
Every third message is filtered out and every fifth is doubled (flat_map),
so the output is not just a copy of the input.
"""

from __future__ import annotations

import os
import time

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from bytewax_kafka import operators as kop
from bytewax_kafka.core import ExactlyOnce, KafkaSinkMessage

BROKERS = os.environ["BWK_BROKERS"].split(",")
RATE = float(os.environ.get("BWK_RATE", "0"))
EOS = ExactlyOnce(os.environ["BWK_APP"], commit_timeout=float(os.environ.get("BWK_COMMIT_TIMEOUT", "30")))


def expand(batch: list) -> list:
    if RATE:
        time.sleep(len(batch) / RATE)
    out = []
    for m in batch:
        n = int(m.value)
        if n % 3 == 0:
            continue
        out.append(KafkaSinkMessage(m.key, m.value, partition=0))
        if n % 5 == 0:
            out.append(KafkaSinkMessage(m.key, b"copy-" + m.value, partition=0))
    return out


BATCHES = os.environ.get("BWK_BATCHES") == "1"

flow = Dataflow("eos")
TAIL = os.environ.get("BWK_TAIL") == "1"
kinp = kop.input(
    "in", flow, brokers=BROKERS, topics=[os.environ["BWK_IN"]], tail=TAIL, exactly_once=EOS, batches=BATCHES
)
out = op.map("expand", kinp.oks, expand) if BATCHES else op.flat_map_batch("expand", kinp.oks, expand)
kop.output("out", out, brokers=BROKERS, topic=os.environ["BWK_OUT"], exactly_once=EOS)
