"""One replica of a consumer-group flow, for the replica tests; configured by environment.

BWK_BROKERS, BWK_IN, BWK_OUT: addresses and topics; BWK_GROUP: the group;
BWK_EOS=1: exactly-once; BWK_INSTANCE: the replica's instance id (static
membership; empty for none); BWK_RATE: messages per second per worker
(throttle, so kills land mid-run); BWK_TXN_TIMEOUT_MS: the exactly-once
transaction timeout. Each input message is written once, its value kept,
with a header naming the replica that wrote it.
"""

from __future__ import annotations

import os
import time

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from bytewax_kafka import operators as kop
from bytewax_kafka.core import ConsumerGroup, KafkaSinkMessage

BROKERS = os.environ["BWK_BROKERS"].split(",")
RATE = float(os.environ.get("BWK_RATE", "0"))
INSTANCE = os.environ.get("BWK_INSTANCE") or None
NAME = (INSTANCE or f"pid{os.getpid()}").encode()
GROUP = ConsumerGroup(
    os.environ["BWK_GROUP"],
    exactly_once=os.environ.get("BWK_EOS") == "1",
    instance_id=INSTANCE,
    transaction_timeout_ms=int(os.environ.get("BWK_TXN_TIMEOUT_MS", "10000")),
)
# A replica that dies hands its partitions over within 6 s.
CONSUMER = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}


def copy(batch: list) -> list:
    if RATE:
        time.sleep(len(batch) / RATE)
    return [KafkaSinkMessage(m.key, m.value, headers=[("replica", NAME)]) for m in batch]


flow = Dataflow("group_replica")
kinp = kop.input(
    "in", flow, brokers=BROKERS, topics=[os.environ["BWK_IN"]], add_config=CONSUMER, consumer_group=GROUP
)
kop.output(
    "out",
    op.flat_map_batch("copy", kinp.oks, copy),
    brokers=BROKERS,
    topic=os.environ["BWK_OUT"],
    consumer_group=GROUP,
)
