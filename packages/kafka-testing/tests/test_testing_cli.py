"""``bytewax-kafka-broker`` in a real subprocess: Ctrl-C stops it cleanly, nothing leaks.

Also checks that a broker whose Python parent is SIGKILLed dies with it
(``PR_SET_PDEATHSIG`` in ``process.py``).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from bytewax_kafka.testing import produce_messages, read_to_end
from bytewax_kafka.testing.ports import LOOPBACK

CLI = Path(sys.executable).parent / "bytewax-kafka-broker"


def cli_argv(*args: str) -> list[str]:
    """The installed console script, or ``python -m`` where it is missing."""
    if CLI.exists():
        return [str(CLI), *args]
    return [sys.executable, "-m", "bytewax_kafka.testing.cli", *args]


def read_line(stream, timeout: float) -> str:
    """One line from a pipe, failing after ``timeout`` seconds."""
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        return ""
    return stream.readline().decode().strip()


def start_cli(kind: str, stderr_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    stderr = stderr_path.open("wb")
    cli = subprocess.Popen(cli_argv(kind), stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL)
    stderr.close()
    line = read_line(cli.stdout, timeout=120)
    if not line:
        cli.kill()
        cli.wait()
        pytest.fail(f"{kind}: no bootstrap address printed:\n{stderr_path.read_text()[-3000:]}")
    return cli, line


@pytest.mark.parametrize(
    ("kind", "program"),
    [("tansu", "tansu"), ("kafka", "kafka.Kafka")],
)
def test_ctrl_c_stops_the_broker_and_exits_0(kind, program, tmp_path, proc):
    cli, bootstrap = start_cli(kind, tmp_path / "stderr.txt")
    try:
        host, port = bootstrap.rsplit(":", 1)
        assert host == LOOPBACK
        assert int(port) > 0
        children = [p for p in proc.children(cli.pid) if program in proc.cmdline(p)]
        assert len(children) == 1, f"broker children of the CLI: {proc.children(cli.pid)}"
        broker_pid = children[0]

        topic = f"cli-{uuid.uuid4().hex}"
        produce_messages(bootstrap, topic, [(b"k", b"hello through the CLI")])
        records = read_to_end(bootstrap, topic)
        assert [(r.key, r.value) for r in records] == [(b"k", b"hello through the CLI")]

        cli.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
        code = cli.wait(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
        assert cli.stdout is not None
        cli.stdout.close()
    stderr = (tmp_path / "stderr.txt").read_text()
    assert code == 0, stderr[-3000:]
    assert "stopping" in stderr
    # The readiness probe is silent: "Connection refused" before the broker
    # listens is expected, not an error to show (librdkafka's raw "%3|" lines).
    raw = [line for line in stderr.splitlines() if line.startswith("%")]
    assert raw == [], raw[:3]
    proc.wait_gone(broker_pid, timeout=5)
    proc.wait_closed(bootstrap)


@pytest.mark.parametrize("holder", ["a plain listener", "another broker"])
@pytest.mark.parametrize("kind", ["tansu", "kafka"])
def test_a_port_in_use_is_refused_with_exit_1(kind, holder, tansu_broker):
    # Another broker on the port once answered the readiness probe: the CLI
    # printed that broker's address and "ready" for a process that had failed.
    with contextlib.ExitStack() as stack:
        if holder == "another broker":
            port = int(tansu_broker.bootstrap_servers.rsplit(":", 1)[1])
        else:
            squatter = stack.enter_context(socket.socket())
            squatter.bind((LOOPBACK, 0))
            squatter.listen()
            port = squatter.getsockname()[1]
        result = subprocess.run(
            cli_argv(kind, "--port", str(port)),
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    assert result.returncode == 1, result.stderr[-2000:]
    assert f"error: cannot start {'Tansu' if kind == 'tansu' else 'Apache Kafka'}" in result.stderr
    assert f"port {port} on {LOOPBACK} is already in use" in result.stderr
    assert result.stdout == ""  # no address printed for a broker that is not up


def test_bad_arguments_exit_2():
    result = subprocess.run(cli_argv("zookeeper"), capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_fetch_jars_prints_the_cached_folder():
    result = subprocess.run(cli_argv("fetch-jars"), capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    libs = Path(result.stdout.strip())
    assert any(libs.glob("kafka_2.13-*.jar"))


PARENT = textwrap.dedent(
    """
    import sys, time
    from bytewax_kafka.testing import {cls}
    broker = {cls}()
    broker.start()
    print(broker.pid, broker.bootstrap_servers, flush=True)
    time.sleep(600)
    """
)


@pytest.mark.parametrize(("cls", "program"), [("Tansu", "tansu"), ("ApacheKafka", "kafka.Kafka")])
def test_broker_dies_with_its_sigkilled_parent(cls, program, tmp_path, proc):
    stderr = (tmp_path / "stderr.txt").open("wb")
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT.format(cls=cls)],
        stdout=subprocess.PIPE,
        stderr=stderr,
        stdin=subprocess.DEVNULL,
    )
    stderr.close()
    try:
        line = read_line(parent.stdout, timeout=120)
        assert line, (tmp_path / "stderr.txt").read_text()[-3000:]
        pid_text, bootstrap = line.split()
        broker_pid = int(pid_text)
        assert proc.running(broker_pid)
        assert program in proc.cmdline(broker_pid)

        # SIGKILL: no atexit hook, no finally block, nothing of Python runs.
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        proc.wait_gone(broker_pid, timeout=10)
        proc.wait_closed(bootstrap)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        assert parent.stdout is not None
        parent.stdout.close()


def test_cli_runs_as_a_module_too():
    result = subprocess.run(
        [sys.executable, "-m", "bytewax_kafka.testing.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0
    assert "Ctrl-C" in result.stdout
