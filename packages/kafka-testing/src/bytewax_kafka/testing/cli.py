"""``bytewax-kafka-broker``: run a broker in the foreground until Ctrl-C.

Examples::

    bytewax-kafka-broker tansu --port 19092
    bytewax-kafka-broker kafka-cluster
    bytewax-kafka-broker fetch-jars          # cache Apache Kafka's jars, then exit
    bytewax-kafka-broker kafka --proxied     # a client listener behind Toxiproxy too
    bytewax-kafka-broker fetch-toxiproxy     # build Toxiproxy once (Go), then exit

Exit codes: 0 after a clean stop (Ctrl-C or SIGTERM), 1 when the broker
could not start or died on its own, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from bytewax_kafka.testing.errors import BrokerError
from bytewax_kafka.testing.jars import kafka_libs, kafka_version
from bytewax_kafka.testing.spec import broker_from_spec
from bytewax_kafka.testing.toxiproxy import toxiproxy_bin

RUNNABLE = ("kafka", "kafka-cluster", "tansu")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bytewax-kafka-broker",
        description=(
            "Run a Kafka-compatible broker on loopback in the foreground, print its "
            "bootstrap address, and stop it cleanly on Ctrl-C."
        ),
        epilog="Exit codes: 0 clean stop, 1 start failure or broker died, 2 usage error.",
    )
    p.add_argument(
        "kind",
        choices=[*RUNNABLE, "fetch-jars", "fetch-toxiproxy"],
        help="kafka (Apache Kafka, 1 node), kafka-cluster (3 nodes), tansu, "
        "fetch-jars (download Apache Kafka's jars into the cache and exit), "
        "or fetch-toxiproxy (build Toxiproxy with Go into the cache and exit)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=None,
        help="client port (a cluster uses it and the next two); default: a free port",
    )
    p.add_argument(
        "--proxied",
        action="store_true",
        help="kafka, kafka-cluster: also a client listener per node behind Toxiproxy; prints "
        "the proxied bootstrap address and the Toxiproxy API's URL on the next lines",
    )
    p.add_argument(
        "--kafka-version",
        default=None,
        help=f"Apache Kafka version (default: $BYTEWAX_KAFKA_VERSION or {kafka_version()})",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.kind == "fetch-jars":
        try:
            libs = kafka_libs(args.kafka_version)
        except BrokerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(libs, flush=True)
        return 0
    if args.kind == "fetch-toxiproxy":
        try:
            binary = toxiproxy_bin()
        except BrokerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(binary, flush=True)
        return 0
    if args.proxied and args.kind not in ("kafka", "kafka-cluster"):
        _parser().error("--proxied needs kafka or kafka-cluster")

    if args.kafka_version:
        import os

        os.environ["BYTEWAX_KAFKA_VERSION"] = args.kafka_version
    broker = broker_from_spec(args.kind, port=args.port, proxied=args.proxied)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        print(f"starting {args.kind} ...", file=sys.stderr, flush=True)
        broker.start()
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        broker.stop()
        return 1
    try:
        print(broker.bootstrap_servers, flush=True)
        if args.proxied:
            _print_proxied(broker)
        print(f"{broker.describe()}; Ctrl-C to stop", file=sys.stderr, flush=True)
        while not stop.wait(1.0):
            if _died(broker):
                print(f"error: broker died\n{broker.log_tail()}", file=sys.stderr)
                return 1
        print("stopping ...", file=sys.stderr, flush=True)
        return 0
    finally:
        broker.stop()


def _print_proxied(broker: object) -> None:
    from bytewax_kafka.testing.kafka import ApacheKafkaCluster

    assert isinstance(broker, ApacheKafkaCluster)
    print(f"proxied {broker.proxied_bootstrap}", flush=True)
    print(f"toxiproxy {broker.toxiproxy_api}", flush=True)
    names = ", ".join(p.name for p in broker.faults)
    print(
        f"clients of {broker.proxied_bootstrap} go through Toxiproxy (proxies {names}); for example\n"
        f"  curl -s -X POST {broker.toxiproxy_api}/proxies/{broker.faults.node(0).name} "
        """-d '{"enabled": false}'   # cut node 1 off\n"""
        f"  curl -s -X POST {broker.toxiproxy_api}/reset                       # undo every fault",
        file=sys.stderr,
        flush=True,
    )


def _died(broker: object) -> bool:
    from bytewax_kafka.testing.kafka import ApacheKafkaCluster
    from bytewax_kafka.testing.tansu import Tansu

    if isinstance(broker, ApacheKafkaCluster):
        toxi = broker._proxied.toxiproxy if broker._proxied is not None else None
        if toxi is not None and toxi.process is not None and not toxi.process.alive():
            return True
        return any(n.exited() is not None for n in broker.nodes)
    if isinstance(broker, Tansu):
        return broker.process is not None and not broker.process.alive()
    return False


if __name__ == "__main__":
    sys.exit(main())
