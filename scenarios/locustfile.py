"""Locust file for running the benchmark load by hand, with locust's own command line.

    KAFKA_BENCH_CELL='{"bootstrap": "127.0.0.1:9092", "input_topic": "bench-in",
        "cell": {"rate": 20000, "duration": 30, "shape": "ramp"}}' \
    locust -f scenarios/locustfile.py --headless

``KAFKA_BENCH_CELL`` is the handoff kafka-bench gives its load generator
(bytewax_kafka.bench.define.handoff): the cell's keys not given take their
defaults (rate, duration, shape, users, message_size, serde, keys,
key_space, ...; "summary" names a JSON file for the summary). Each value
carries its intended send time and a sequence number (see
bytewax_kafka.bench.payload). `kafka-bench run` does not use this file: it
runs the same user class and shapes through `python -m bytewax_kafka.bench.load`.
"""

from bytewax_kafka.bench.load import BenchShape, KafkaProducerUser, configure_from_env

configure_from_env()

__all__ = ["BenchShape", "KafkaProducerUser"]
