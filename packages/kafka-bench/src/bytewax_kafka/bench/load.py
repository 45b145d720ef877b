# mypy: disable-error-code="misc, untyped-decorator"
r"""Fixed-rate load with locust: a Kafka producer user class and load shapes.

.. warning:: Importing this module imports locust, which monkey-patches the
   process with gevent. kafka-bench therefore runs it as its own process,
   headless, with the cell in ``KAFKA_BENCH_CELL``
   (:mod:`bytewax_kafka.bench.define.handoff`)::

       python -m bytewax_kafka.bench.load

   or with locust's own command line, through ``scenarios/locustfile.py``
   of the repository, with a partial handoff::

       KAFKA_BENCH_CELL='{"bootstrap": "127.0.0.1:9092", "input_topic": "in",
           "cell": {"rate": 20000, "duration": 30}}' locust -f scenarios/locustfile.py --headless

Each :class:`KafkaProducerUser` produces at a fixed rate with one shared
confluent-kafka producer. Message *i* of a user is due at
``start + i / rate``; every value carries that *intended* send time, and a
user that falls behind sends the overdue messages with their original times,
so latency measured from them includes any delay of the generator itself (no
coordinated omission). Each batch sent is one locust request (name
``produce``; its "response length" is the message count); failed deliveries
are locust failures. The shapes (:class:`BenchShape`: steady, ramp, spike)
set the user count over time.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped, unused-ignore]
import locust
from confluent_kafka import Producer
from locust import LoadTestShape, User, constant, events, task
from locust.env import Environment

from bytewax_kafka.bench.define.cell import Cell
from bytewax_kafka.bench.define.handoff import Handoff, read_handoff
from bytewax_kafka.bench.payload import HEADER, KeyChooser, codec_for
from bytewax_kafka.bench.shapes import ShapeSpec, default_users

__all__ = ["BenchShape", "KafkaProducerUser", "configure", "configure_from_env", "main"]

#: Shortest pause between two batches of one user (seconds).
_TICK = 0.001


def _spec(h: Handoff) -> ShapeSpec:
    """The cell's load shape, with the user count resolved."""
    c = h.cell
    rate = h.offered_rate
    return ShapeSpec(
        c.shape,
        users=c.users or default_users(rate, c.shape),
        duration=float(c.duration or 10.0),
        ramp_start=c.ramp_start,
        spike_factor=c.spike_factor,
        spike_seconds=c.spike_seconds,
    )


def _per_user_rate(h: Handoff) -> float:
    """Messages per second each user offers."""
    return h.offered_rate / (h.cell.users or default_users(h.offered_rate, h.cell.shape))


class _State:
    """Counters shared by the users of this process."""

    def __init__(self) -> None:
        self.handoff = Handoff(
            Cell(mode="fixed-rate", rate=10_000, duration=10.0), "127.0.0.1:9092", "bench-in"
        )
        self.producer: Any = None
        self.start_ns = 0
        self.end_ns = 0
        self.sent = 0
        self.delivered = 0
        self.failed = 0
        self.first_error: str | None = None
        self.max_behind_ns = 0
        self.buffer_full = 0
        self.peak_users = 0
        self.user_ids = itertools.count()
        self.summary_written = False

    def on_delivery(self, err: Any, msg: Any) -> None:
        if err is None:
            self.delivered += 1
        else:
            self.failed += 1
            if self.first_error is None:
                self.first_error = str(err)


STATE = _State()


def configure(handoff: Handoff) -> None:
    """Set what every user of this process produces."""
    STATE.handoff = handoff


def configure_from_env() -> Handoff:
    """Read the handoff (for ``locust -f``) and apply it."""
    h = read_handoff()
    configure(h)
    return h


def _producer() -> Any:
    if STATE.producer is None:
        STATE.producer = Producer(
            {
                "bootstrap.servers": STATE.handoff.bootstrap,
                "linger.ms": 1,
                "partitioner": "murmur2_random",
                "queue.buffering.max.messages": 1_000_000,
                "on_delivery": STATE.on_delivery,
            }
        )
    return STATE.producer


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_kw: Any) -> None:
    if STATE.start_ns == 0:
        STATE.start_ns = time.time_ns()
        STATE.end_ns = STATE.start_ns + int(float(STATE.handoff.cell.duration or 10.0) * 1e9)
    _producer()


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_kw: Any) -> None:
    if STATE.producer is not None:
        STATE.producer.flush(30)
    if STATE.handoff.summary and not STATE.summary_written:
        write_summary(environment, Path(STATE.handoff.summary))


class KafkaProducerUser(User):
    """Produces to the handed-off input topic at a fixed rate, in batches of what is due."""

    wait_time = constant(0)

    def on_start(self) -> None:
        """Start this user's schedule now."""
        if STATE.start_ns == 0:
            _on_test_start(self.environment)
        cfg = STATE.handoff.cell
        self.uid = next(STATE.user_ids)
        self.rate = _per_user_rate(STATE.handoff)
        self.t0 = time.time_ns()
        self.i = 0
        self.keys = KeyChooser(cfg.keys, cfg.key_space, seed=self.uid + 1)
        self.codec = codec_for(cfg.serde)
        self.pad = b"x" * max(0, cfg.message_size - HEADER.size)
        self.topic = STATE.handoff.input_topic
        self.size = cfg.message_size
        STATE.peak_users = max(
            STATE.peak_users, self.environment.runner.user_count if self.environment.runner else 0
        )

    @task
    def produce_due(self) -> None:
        """Send every message whose intended time has come, then sleep until the next one."""
        producer = _producer()
        now = time.time_ns()
        end = STATE.end_ns
        step = 1e9 / self.rate
        due = int((now - self.t0) / step) + 1
        raw = self.codec.name == "none"
        pack, pad, seq_base = HEADER.pack, self.pad, STATE.handoff.seq_base | (self.uid << 32)
        started = time.perf_counter()
        n = 0
        errors = 0
        while self.i < due:
            intended = self.t0 + int(self.i * step)
            if intended >= end:
                break
            if n == 0:
                STATE.max_behind_ns = max(STATE.max_behind_ns, now - intended)
            seq = seq_base | self.i
            value = pack(intended, seq) + pad if raw else self.codec.encode(intended, seq, self.size)
            try:
                producer.produce(self.topic, value, self.keys.next())
            except BufferError:
                STATE.buffer_full += 1
                producer.poll(0.001)
                errors += 1
                if errors > 1000:
                    break
                continue
            self.i += 1
            n += 1
        producer.poll(0)
        STATE.sent += n
        if n:
            self.environment.events.request.fire(
                request_type="kafka",
                name="produce",
                response_time=(time.perf_counter() - started) * 1000,
                response_length=n,
                exception=None,
                context={},
            )
        next_due = self.t0 + int(self.i * step)
        if next_due >= end:
            gevent.sleep(0.05)
            return
        gevent.sleep(max(_TICK, (next_due - time.time_ns()) / 1e9))


class BenchShape(LoadTestShape):
    """Users over time from a :class:`~bytewax_kafka.bench.shapes.ShapeSpec`; stops after it."""

    spec: ShapeSpec | None = None

    def tick(self) -> tuple[int, float] | None:
        """Users wanted now (and a spawn rate that reaches them at once), or None when done."""
        spec = self.spec or _spec(STATE.handoff)
        t = self.get_run_time()
        if t >= spec.duration + 1.0:
            return None
        users = spec.users_at(min(t, spec.duration - 1e-6))
        return users, float(max(users, 100))


def write_summary(environment: Environment, path: Path) -> dict[str, Any]:
    """Write (and return) what was offered and what locust measured."""
    total = environment.stats.total
    span = max(1e-9, (STATE.end_ns - STATE.start_ns) / 1e9)
    data: dict[str, Any] = {
        "rate": STATE.handoff.offered_rate,
        "locust_version": locust.__version__,
        "start_ns": STATE.start_ns,
        "end_ns": STATE.end_ns,
        "sent": STATE.sent,
        "delivered": STATE.delivered,
        "failed": STATE.failed,
        "first_error": STATE.first_error,
        "undelivered": max(0, STATE.sent - STATE.delivered - STATE.failed),
        "sent_msgs_per_s": round(STATE.sent / span, 1),
        "max_behind_ms": round(STATE.max_behind_ns / 1e6, 3),
        "buffer_full": STATE.buffer_full,
        "users_peak": STATE.peak_users,
        "per_user_rate": round(_per_user_rate(STATE.handoff), 1),
        "requests": total.num_requests,
        "request_failures": total.num_failures,
        "requests_per_s": round(total.num_requests / span, 1),
        "avg_batch_ms": round(total.avg_response_time, 4),
        "max_batch_ms": round(total.max_response_time or 0.0, 4),
        "messages_in_requests": total.total_content_length,
    }
    path.write_text(json.dumps(data, indent=2))
    STATE.summary_written = True
    return data


def main() -> int:
    """Run the load of the handed-off cell headless in this process and write the summary file."""
    h = configure_from_env()
    if not h.summary:
        raise SystemExit("the load generator's handoff names no summary file")
    duration = float(h.cell.duration or 10.0)
    shape = BenchShape()
    shape.spec = _spec(h)
    env = Environment(user_classes=[KafkaProducerUser], shape_class=shape, events=events)
    runner = env.create_local_runner()
    _producer()
    runner.start_shape()
    deadline = time.monotonic() + duration + 60
    gevent.sleep(0.5)
    while runner.state not in ("stopped", "quitting") and time.monotonic() < deadline:
        gevent.sleep(0.1)
    runner.quit()
    if not STATE.summary_written:
        if STATE.producer is not None:
            STATE.producer.flush(30)
        write_summary(env, Path(h.summary))
    print(Path(h.summary).read_text())
    return 0 if STATE.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
