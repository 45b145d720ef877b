# mypy: disable-error-code="misc, untyped-decorator"
r"""Fixed-rate load with locust: a Kafka producer user class and load shapes.

.. warning:: Importing this module imports locust, which monkey-patches the
   process with gevent. The benchmark runner therefore runs it as its own
   process, headless::

       python -m bytewax_kafka.bench.load --bootstrap 127.0.0.1:9092 \\
           --topic in --rate 50000 --duration 10 --shape steady --summary out.json

   or with locust's own command line, through ``scenarios/locustfile.py``
   (settings from ``BENCH_*`` environment variables)::

       BENCH_BOOTSTRAP=127.0.0.1:9092 BENCH_TOPIC=in BENCH_RATE=20000 \\
           locust -f scenarios/locustfile.py --headless

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

import argparse
import itertools
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped, unused-ignore]
import locust
from confluent_kafka import Producer
from locust import LoadTestShape, User, constant, events, task
from locust.env import Environment

from bytewax_kafka.bench.payload import HEADER, KeyChooser, codec_for
from bytewax_kafka.bench.shapes import ShapeSpec, default_users

__all__ = ["BenchShape", "KafkaProducerUser", "LoadConfig", "configure", "main"]

#: Shortest pause between two batches of one user (seconds).
_TICK = 0.001


@dataclass
class LoadConfig:
    """What the load generator offers, and where."""

    bootstrap: str = "127.0.0.1:9092"
    topic: str = "bench-in"
    rate: int = 10_000
    duration: float = 10.0
    shape: str = "steady"
    users: int = 0  # 0: one per shapes.PER_USER_RATE
    message_size: int = 100
    serde: str = "none"
    keys: str = "uniform"
    key_space: int = 1000
    ramp_start: float = 0.1
    spike_factor: float = 2.0
    spike_seconds: float = 2.0
    summary: str | None = None

    def spec(self) -> ShapeSpec:
        """The shape, with the user count resolved."""
        return ShapeSpec(
            self.shape,
            users=self.users or default_users(self.rate, self.shape),
            duration=self.duration,
            ramp_start=self.ramp_start,
            spike_factor=self.spike_factor,
            spike_seconds=self.spike_seconds,
        )

    def per_user_rate(self) -> float:
        """Messages per second each user offers."""
        return self.rate / (self.users or default_users(self.rate, self.shape))


class _State:
    """Counters shared by the users of this process."""

    def __init__(self) -> None:
        self.config = LoadConfig()
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


def configure(config: LoadConfig) -> None:
    """Set what every user of this process produces."""
    STATE.config = config


def configure_from_env() -> LoadConfig:
    """A :class:`LoadConfig` from ``BENCH_*`` variables (for ``locust -f``), applied."""
    env = os.environ
    c = LoadConfig(
        bootstrap=env.get("BENCH_BOOTSTRAP", "127.0.0.1:9092"),
        topic=env.get("BENCH_TOPIC", "bench-in"),
        rate=int(env.get("BENCH_RATE", "10000")),
        duration=float(env.get("BENCH_DURATION", "10")),
        shape=env.get("BENCH_SHAPE", "steady"),
        users=int(env.get("BENCH_USERS", "0")),
        message_size=int(env.get("BENCH_MESSAGE_SIZE", "100")),
        serde=env.get("BENCH_SERDE", "none"),
        keys=env.get("BENCH_KEYS", "uniform"),
        key_space=int(env.get("BENCH_KEY_SPACE", "1000")),
        summary=env.get("BENCH_SUMMARY"),
    )
    configure(c)
    return c


def _producer() -> Any:
    if STATE.producer is None:
        STATE.producer = Producer(
            {
                "bootstrap.servers": STATE.config.bootstrap,
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
        STATE.end_ns = STATE.start_ns + int(STATE.config.duration * 1e9)
    _producer()


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_kw: Any) -> None:
    if STATE.producer is not None:
        STATE.producer.flush(30)
    if STATE.config.summary and not STATE.summary_written:
        write_summary(environment, Path(STATE.config.summary))


class KafkaProducerUser(User):
    """Produces to ``BENCH``'s topic at a fixed rate, in batches of what is due."""

    wait_time = constant(0)

    def on_start(self) -> None:
        """Start this user's schedule now."""
        if STATE.start_ns == 0:
            _on_test_start(self.environment)
        cfg = STATE.config
        self.uid = next(STATE.user_ids)
        self.rate = STATE.config.per_user_rate()
        self.t0 = time.time_ns()
        self.i = 0
        self.keys = KeyChooser(cfg.keys, cfg.key_space, seed=self.uid + 1)
        self.codec = codec_for(cfg.serde)
        self.pad = b"x" * max(0, cfg.message_size - HEADER.size)
        self.topic = cfg.topic
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
        pack, pad, seq_base = HEADER.pack, self.pad, self.uid << 32
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
        spec = self.spec or STATE.config.spec()
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
        "config": asdict(STATE.config),
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
        "per_user_rate": round(STATE.config.per_user_rate(), 1),
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


def main(argv: list[str] | None = None) -> int:
    """Run the load headless in this process and write the summary file."""
    ap = argparse.ArgumentParser(
        prog="python -m bytewax_kafka.bench.load",
        description="Offer a fixed rate of benchmark messages to a Kafka topic with locust (headless).",
    )
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--rate", type=int, required=True, help="msg/s at the shape's full level")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds")
    ap.add_argument("--shape", choices=("steady", "ramp", "spike"), default="steady")
    ap.add_argument("--users", type=int, default=0, help="users at full level (default: one per 10k msg/s)")
    ap.add_argument("--message-size", type=int, default=100)
    ap.add_argument("--serde", default="none")
    ap.add_argument("--keys", default="uniform")
    ap.add_argument("--key-space", type=int, default=1000)
    ap.add_argument("--ramp-start", type=float, default=0.1)
    ap.add_argument("--spike-factor", type=float, default=2.0)
    ap.add_argument("--spike-seconds", type=float, default=2.0)
    ap.add_argument("--summary", required=True, help="JSON file to write the summary to")
    a = ap.parse_args(argv)
    cfg = LoadConfig(
        bootstrap=a.bootstrap,
        topic=a.topic,
        rate=a.rate,
        duration=a.duration,
        shape=a.shape,
        users=a.users,
        message_size=a.message_size,
        serde=a.serde,
        keys=a.keys,
        key_space=a.key_space,
        ramp_start=a.ramp_start,
        spike_factor=a.spike_factor,
        spike_seconds=a.spike_seconds,
        summary=a.summary,
    )
    configure(cfg)
    shape = BenchShape()
    shape.spec = cfg.spec()
    env = Environment(user_classes=[KafkaProducerUser], shape_class=shape, events=events)
    runner = env.create_local_runner()
    _producer()
    runner.start_shape()
    deadline = time.monotonic() + cfg.duration + 60
    gevent.sleep(0.5)
    while runner.state not in ("stopped", "quitting") and time.monotonic() < deadline:
        gevent.sleep(0.1)
    runner.quit()
    if not STATE.summary_written:
        if STATE.producer is not None:
            STATE.producer.flush(30)
        write_summary(env, Path(a.summary))
    print(Path(a.summary).read_text())
    return 0 if STATE.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
