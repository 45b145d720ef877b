"""Locust file for running the benchmark load by hand, with locust's own command line.

    BENCH_BOOTSTRAP=127.0.0.1:9092 BENCH_TOPIC=bench-in BENCH_RATE=20000 \
    BENCH_DURATION=30 BENCH_SHAPE=ramp locust -f scenarios/locustfile.py --headless

Settings (environment): BENCH_BOOTSTRAP, BENCH_TOPIC, BENCH_RATE (msg/s at
the full level), BENCH_DURATION (s), BENCH_SHAPE (steady | ramp | spike),
BENCH_USERS, BENCH_MESSAGE_SIZE, BENCH_SERDE, BENCH_KEYS, BENCH_KEY_SPACE,
BENCH_SUMMARY (a JSON file for the summary). Each value carries its intended
send time and a sequence number (see bytewax_kafka.bench.payload).
`kafka-bench run` does not use this file: it runs the same user class and
shapes through `python -m bytewax_kafka.bench.load`.
"""

from bytewax_kafka.bench.load import BenchShape, KafkaProducerUser, configure_from_env

configure_from_env()

__all__ = ["BenchShape", "KafkaProducerUser"]
