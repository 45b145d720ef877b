"""An exactly-once flow with a dead-letter output in the same transaction, for the crash tests.

BWK_BROKERS, BWK_IN, BWK_OUT, BWK_DLQ: addresses and topics; BWK_APP: the
ExactlyOnce name; BWK_RATE: messages per second per worker (throttle, so
kills land mid-run). It reads what the input held when it started, then
ends. Values are numbers; the deserializer refuses every
seventh (``n % 7 == 0``), which goes to the dead-letter topic; the others
are written to the output as they are. Output, dead letters and offsets
share one transaction per worker and epoch.
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
EOS = ExactlyOnce(os.environ["BWK_APP"])


def number(data: bytes, _ctx: object) -> int:
    n = int(data)
    if n % 7 == 0:
        raise ValueError(f"{n} is a multiple of 7")
    return n


def throttle(batch: list) -> list:
    if RATE:
        time.sleep(len(batch) / RATE)
    return batch


flow = Dataflow("eos_dlq")
kinp = kop.input("in", flow, brokers=BROKERS, topics=[os.environ["BWK_IN"]], tail=False, exactly_once=EOS)
slow = op.flat_map_batch("throttle", kinp.oks, throttle)
nums = kop.deserialize_value("de", slow, number)
out = op.map("encode", nums.oks, lambda m: KafkaSinkMessage(m.key, str(m.value).encode()))
kop.output("out", out, brokers=BROKERS, topic=os.environ["BWK_OUT"], exactly_once=EOS)
errs = op.merge("errs", kinp.errs, nums.errs)
kop.dead_letter("dlq", errs, brokers=BROKERS, topic=os.environ["BWK_DLQ"], exactly_once=EOS)
