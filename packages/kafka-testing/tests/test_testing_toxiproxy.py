"""Toxiproxy: the launcher, the API client, the faults (each undone on exit), the proxied Kafka listener.

The proxy tests run a TCP echo server on loopback and time round trips
through the proxy; the Kafka tests use the ``proxied_kafka`` fixture.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from bytewax_kafka.testing import create_topic, produce_messages, read_to_end
from bytewax_kafka.testing.ports import LOOPBACK
from bytewax_kafka.testing.toxiproxy import (
    Toxiproxy,
    ToxiproxyError,
    ToxiproxyUnavailable,
    toxiproxy_bin,
)

# Here rather than in conftest.py: pytest refuses pytest_plugins in a conftest below the rootdir.
pytest_plugins = ["pytester"]

CLI = Path(sys.executable).parent / "bytewax-kafka-broker"


@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
    """A TCP echo server on loopback; its ``host:port``."""
    server = socket.socket()
    server.bind((LOOPBACK, 0))
    server.listen()
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            while not stop.is_set():
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                with contextlib.suppress(OSError):
                    conn.sendall(data)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"{LOOPBACK}:{server.getsockname()[1]}"
    stop.set()
    server.close()


def round_trip(address: str, payload: bytes = b"ping", timeout: float = 10) -> float:
    """Seconds to send ``payload`` through ``address`` and read it back."""
    host, port = address.rsplit(":", 1)
    t = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed after {len(got)} of {len(payload)} bytes")
            got += chunk
    assert got == payload
    return time.monotonic() - t


def test_launcher_serves_its_api_and_leaves_no_process(echo, proc):
    with Toxiproxy() as toxi:
        pid = toxi.process.pid if toxi.process is not None else None
        assert pid is not None
        assert proc.running(pid)
        assert toxi.api.startswith(f"http://{LOOPBACK}:")
        proxy = toxi.proxy(f"echo-{uuid.uuid4().hex[:6]}", upstream=echo)
        assert round_trip(proxy.listen) < 5
        assert proxy.name in toxi.client.proxies()
        with pytest.raises(ToxiproxyError, match="HTTP 409"):  # the name is taken
            toxi.client.create_proxy(proxy.name, listen=f"{LOOPBACK}:0", upstream=echo)
        api = toxi.api.removeprefix("http://")
    proc.wait_gone(pid, timeout=10)
    proc.wait_closed(api)


def test_faults_hold_inside_the_block_and_are_undone_on_exit(toxiproxy, echo):
    proxy = toxiproxy.proxy(f"echo-{uuid.uuid4().hex[:6]}", upstream=echo)
    round_trip(proxy.listen)
    with proxy.latency(200, jitter=0):  # each way
        assert len(toxiproxy.client.toxics(proxy.name)) == 2
        assert round_trip(proxy.listen) >= 0.4
    assert toxiproxy.client.toxics(proxy.name) == []
    with proxy.latency(300, direction="downstream"):
        (toxic,) = toxiproxy.client.toxics(proxy.name)
        assert (toxic["type"], toxic["stream"], toxic["attributes"]["latency"]) == (
            "latency",
            "downstream",
            300,
        )
    with pytest.raises(RuntimeError, match="inside"), proxy.bandwidth(10):
        raise RuntimeError("an exception inside the block")
    assert toxiproxy.client.toxics(proxy.name) == []

    with proxy.partition(), pytest.raises((ConnectionError, TimeoutError)):
        round_trip(proxy.listen, timeout=2)
    round_trip(proxy.listen)  # through again

    with proxy.reset_peer(), pytest.raises((ConnectionError, OSError)):
        round_trip(proxy.listen, timeout=2)
    with proxy.limit_data(10, direction="downstream"), pytest.raises((ConnectionError, OSError)):
        round_trip(proxy.listen, b"x" * 100, timeout=2)
    with proxy.slicer(8, 4, 100):
        round_trip(proxy.listen, b"y" * 1000)  # arrives whole, in pieces
    # Nothing gets through, nothing closes: the read times out.
    with proxy.timeout(0, direction="upstream"), pytest.raises(TimeoutError):
        round_trip(proxy.listen, timeout=1)
    assert toxiproxy.client.toxics(proxy.name) == []
    round_trip(proxy.listen)  # through again
    with pytest.raises(ValueError, match="direction"), proxy.latency(10, direction="sideways"):
        pass


def test_toxiproxy_bin_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("BYTEWAX_KAFKA_TOXIPROXY", str(tmp_path / "nothing"))
    with pytest.raises(ToxiproxyUnavailable, match="is not an executable file"):
        toxiproxy_bin()
    monkeypatch.delenv("BYTEWAX_KAFKA_TOXIPROXY")
    monkeypatch.setenv("BYTEWAX_KAFKA_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ToxiproxyUnavailable, match="building is disabled"):
        toxiproxy_bin(build=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no go here
    with pytest.raises(ToxiproxyUnavailable, match=r"Go \('go'\) is not on PATH"):
        toxiproxy_bin()


def test_plugin_skips_with_the_reason_where_toxiproxy_cannot_be_built(pytester, monkeypatch, tmp_path):
    # No Toxiproxy in this cache and no Go on PATH: checked before any JVM starts.
    monkeypatch.setenv("BYTEWAX_KAFKA_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("PATH", str(tmp_path))
    pytester.makepyfile(test_inner="def test_x(network_faults):\n    pass\n")
    result = pytester.runpytest_subprocess("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*Go ('go') is not on PATH*"])


def test_proxied_kafka_routes_only_proxied_clients_through_the_proxy(proxied_kafka, network_faults):
    plain = proxied_kafka.bootstrap_servers
    proxied = proxied_kafka.proxied_bootstrap
    assert proxied != plain
    # Clients bootstrapping through the proxy learn only proxy addresses.
    md = AdminClient({"bootstrap.servers": proxied}).list_topics(timeout=10)
    assert {f"{b.host}:{b.port}" for b in md.brokers.values()} == set(proxied.split(","))
    topic = create_topic(plain, f"proxied-{uuid.uuid4().hex}")
    produce_messages(proxied, topic, [b"through the proxy"])
    assert [r.value for r in read_to_end(plain, topic)] == [b"through the proxy"]
    with network_faults.partition():
        with pytest.raises(KafkaException):  # _TRANSPORT or _TIMED_OUT
            AdminClient({"bootstrap.servers": proxied}).list_topics(timeout=2)
        assert [r.value for r in read_to_end(plain, topic)] == [b"through the proxy"]  # untouched
    assert [r.value for r in read_to_end(proxied, topic)] == [b"through the proxy"]
    assert proxied_kafka.faults.node(0).name == "kafka-1"
    assert "proxied at" in proxied_kafka.describe()


def test_proxied_needs_plaintext():
    from bytewax_kafka.testing import ApacheKafka, KafkaSecurity

    with pytest.raises(ValueError, match="proxied=True cannot be combined with security"):
        ApacheKafka(proxied=True, security=KafkaSecurity(listeners=("SASL_PLAINTEXT",), users={"a": "b"}))
    with pytest.raises(RuntimeError, match="not made with proxied=True"):
        _ = ApacheKafka().proxied_bootstrap


@pytest.mark.slow
def test_cli_kafka_proxied_prints_both_addresses_and_the_api(tmp_path, proc):
    argv = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "bytewax_kafka.testing.cli"]
    stderr = (tmp_path / "stderr.txt").open("wb")
    cli = subprocess.Popen(
        [*argv, "kafka", "--proxied"], stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL
    )
    stderr.close()
    try:
        assert cli.stdout is not None
        lines = [cli.stdout.readline().decode().strip() for _ in range(3)]
        plain, proxied, api = lines
        assert proxied.startswith("proxied "), lines
        assert api.startswith("toxiproxy http://"), lines
        proxied, api = proxied.split(" ", 1)[1], api.split(" ", 1)[1]
        topic = create_topic(plain, f"cli-{uuid.uuid4().hex}")
        produce_messages(proxied, topic, [b"via the proxy"])
        assert [r.value for r in read_to_end(plain, topic)] == [b"via the proxy"]
        from bytewax_kafka.testing.toxiproxy import ToxiproxyClient

        assert set(ToxiproxyClient(api).proxies()) == {"kafka-1"}
        cli.send_signal(signal.SIGINT)
        code = cli.wait(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
        if cli.stdout is not None:
            cli.stdout.close()
    assert code == 0, (tmp_path / "stderr.txt").read_text()[-3000:]
    assert "curl" in (tmp_path / "stderr.txt").read_text()
    proc.wait_closed(api.removeprefix("http://"))
    proc.wait_closed(proxied)


def test_fetch_toxiproxy_prints_the_binary():
    argv = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "bytewax_kafka.testing.cli"]
    result = subprocess.run(
        [*argv, "fetch-toxiproxy"], capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    binary = Path(result.stdout.strip())
    assert binary.is_file()
    assert os.access(binary, os.X_OK)


@pytest.mark.slow
def test_proxied_cluster_has_one_proxy_per_node_and_cuts_one_node_alone(proxied_kafka_cluster):
    cluster = proxied_kafka_cluster
    proxied = cluster.proxied_bootstrap.split(",")
    assert len(proxied) == 3
    md = AdminClient({"bootstrap.servers": cluster.proxied_bootstrap}).list_topics(timeout=20)
    assert {f"{b.host}:{b.port}" for b in md.brokers.values()} == set(proxied)
    assert [p.name for p in cluster.faults] == ["kafka-1", "kafka-2", "kafka-3"]
    topic = create_topic(cluster.bootstrap_servers, f"proxied-{uuid.uuid4().hex}", replication_factor=3)
    with cluster.faults.node(0).partition():
        # Node 1 is cut off from proxied clients; through the others they still work.
        with pytest.raises(KafkaException):
            AdminClient({"bootstrap.servers": proxied[0]}).list_topics(timeout=2)
        others = ",".join(proxied[1:])
        assert len(AdminClient({"bootstrap.servers": others}).list_topics(timeout=20).brokers) == 3
    produce_messages(cluster.proxied_bootstrap, topic, [b"after the cut"])
    assert [r.value for r in read_to_end(cluster.bootstrap_servers, topic)] == [b"after the cut"]
