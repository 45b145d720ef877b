"""librdkafka's log lines go through Python logging, rate-limited, never raw to stderr.

Without a ``logger``, librdkafka writes ``%3|<time>|FAIL|...`` lines to the
process's stderr itself: about twenty a second while a broker address is
wrong. The source and the sinks give each client a logger under
``bytewax_kafka.core.librdkafka``; these tests read a flow process's stderr
at the file-descriptor level (librdkafka writes there from C) and its log
records.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from bytewax_kafka.core import KafkaSource, KafkaTimeoutError
from bytewax_kafka.core.logs import LOGGER_NAME, ClientLog
from bytewax_kafka.testing.ports import free_port

RAW = "%3|"  # librdkafka's own stderr format: %<level>|<time>|<facility>|...

FLOW = textwrap.dedent(
    """
    import json, logging, sys

    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.testing import TestingSink, TestingSource, run_main

    from bytewax_kafka.core import KafkaSink, KafkaSinkMessage, KafkaSource

    class Lines(logging.Handler):
        def emit(self, record):
            print(json.dumps({"name": record.name, "level": record.levelname,
                              "message": record.getMessage()}), flush=True)

    logging.basicConfig(level=logging.INFO, handlers=[Lines()])
    brokers = [sys.argv[1]]

    flow = Dataflow("wrong_address_source")
    op.output("out", op.input("in", flow, KafkaSource(brokers, ["t"], timeout=3)), TestingSink([]))
    try:
        run_main(flow)
    except Exception as exc:
        print(json.dumps({"failed": "source", "error": str(exc)}), flush=True)

    flow = Dataflow("wrong_address_sink")
    sink = KafkaSink(brokers, "t", add_config={"message.timeout.ms": 3000})
    op.output("out", op.input("in", flow, TestingSource([KafkaSinkMessage(None, b"x")])), sink)
    try:
        run_main(flow)
    except Exception as exc:
        print(json.dumps({"failed": "sink", "error": str(exc)}), flush=True)
    """
)


def test_a_wrong_address_prints_no_raw_librdkafka_lines_and_logs_each_once(tmp_path):
    script = tmp_path / "flow.py"
    script.write_text(FLOW)
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    run = subprocess.run(
        [sys.executable, str(script), address], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
    raw = [line for line in run.stderr.splitlines() if line.startswith(RAW)]
    assert raw == [], f"{len(raw)} raw librdkafka lines on stderr, e.g. {raw[:2]}"

    events = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    failed = {e["failed"]: e["error"] for e in events if "failed" in e}
    assert set(failed) == {"source", "sink"}, run.stdout[-3000:]
    records = [e for e in events if "name" in e]
    refused = [r for r in records if "Connection refused" in r["message"]]
    by_logger = {r["name"] for r in refused}
    assert by_logger == {f"{LOGGER_NAME}.admin", f"{LOGGER_NAME}.producer"}, refused
    # Each kind of client said it once: the repeats (about 20 a second for
    # 3 s each) were held back.
    for name in by_logger:
        lines = [r for r in refused if r["name"] == name]
        assert len(lines) == 1, lines
        assert lines[0]["level"] == "ERROR"
        assert address in lines[0]["message"]


def test_lines_come_out_while_a_start_up_request_still_fails(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    src = KafkaSource([f"127.0.0.1:{free_port()}"], ["t"], timeout=6)
    failed_at: list[float] = []

    def start() -> None:
        try:
            src.list_parts()
        except KafkaTimeoutError:
            failed_at.append(time.time())

    thread = threading.Thread(target=start)
    thread.start()
    thread.join(timeout=30)
    assert failed_at, "list_parts did not fail within its timeout"
    ours = [r for r in caplog.records if r.name.startswith(LOGGER_NAME)]
    assert ours
    # The first line was logged while the request was still being retried,
    # not in a burst when it gave up.
    assert ours[0].created < failed_at[0] - 2


def test_a_logger_in_add_config_wins(caplog):
    caplog.set_level(logging.DEBUG)
    mine = logging.getLogger("my_app.kafka")
    src = KafkaSource([f"127.0.0.1:{free_port()}"], ["t"], timeout=2, add_config={"logger": mine})
    with pytest.raises(KafkaTimeoutError):
        src.list_parts()
    names = {r.name for r in caplog.records}
    assert "my_app.kafka" in names
    assert not [n for n in names if n.startswith(LOGGER_NAME)]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_client_log_passes_a_line_on_once_per_window_and_counts_the_rest(caplog):
    caplog.set_level(logging.DEBUG, logger="test.clientlog")
    clock = Clock()
    log = ClientLog(logging.getLogger("test.clientlog"), window=30, clock=clock)

    def line(text: str, fac: str = "FAIL", level: int = logging.ERROR) -> None:
        log.log(level, "%s [%s] %s", fac, "rdkafka#consumer-1", text)

    refused = (
        "b:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after {}ms in state CONNECT)"
    )
    for ms in range(4):
        line(refused.format(ms))  # durations differ: still the same line
    line(refused.format("0").replace(")", ", 3 identical error(s) suppressed)"))  # librdkafka's own count
    line("something else")
    line(refused.format(0), fac="OTHER")
    assert [r.getMessage().split(" [")[0] for r in caplog.records] == ["FAIL", "FAIL", "OTHER"]
    clock.now += 31
    line(refused.format(9))
    last = caplog.records[-1].getMessage()
    assert last.startswith("FAIL [rdkafka#consumer-1] b:1/bootstrap")
    assert last.endswith("(4 more like it in the last 31s)")


def test_client_log_hides_secrets_and_skips_disabled_levels(caplog):
    caplog.set_level(logging.INFO, logger="test.clientlog2")
    log = ClientLog(logging.getLogger("test.clientlog2"))
    log.hide(["s3cr3t-password"])
    log.log(logging.ERROR, "%s [%s] %s", "SASL", "rdkafka#producer-1", "login with s3cr3t-password failed")
    log.log(logging.DEBUG, "%s [%s] %s", "BROKER", "rdkafka#producer-1", "debug detail")
    assert [r.getMessage() for r in caplog.records] == [
        "SASL [rdkafka#producer-1] login with [redacted] failed"
    ]
