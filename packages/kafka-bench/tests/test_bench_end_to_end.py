"""Real `kafka-bench run`s: the whole output folder on Tansu, and the shipped new scenarios at a tiny size."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from bytewax_kafka.bench.define.catalog import shipped
from bytewax_kafka.bench.define.keys import BROKER_KINDS
from bytewax_kafka.bench.define.matrix import apply_overrides, expand, parse_set
from bytewax_kafka.bench.report.document import Results
from bytewax_kafka.bench.run.loop import run_cells

SCENARIO = """
name = "tiny"
description = "Tiny end-to-end run."
broker = "tansu"
partitions = 2
message_size = 64
batch_size = 500
broker_warmup = 1
min_window = 0.1

[[matrix]]
name = "throughput"
mode = "max-rate"
messages = 3000
repetitions = 2
variant = ["ours", "builtin", "raw"]

[[matrix]]
name = "latency"
mode = "fixed-rate"
rate = 1000
duration = 2
warmup = 0.5
repetitions = 1
variant = "ours"
"""


def test_run_tiny_scenario_on_tansu(tmp_path):
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(SCENARIO)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bytewax_kafka.bench.cli",
            "run",
            str(scenario),
            "-o",
            str(tmp_path / "out"),
            "--run-id",
            "e2e",
            "--html",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = tmp_path / "out" / "e2e"
    for name in (
        "results.json",
        "results.csv",
        "report.md",
        "report.html",
        "max_rate_throughput.png",
        "latency_latency_cdf.png",
    ):
        assert (run / name).exists(), name
    doc = json.loads((run / "results.json").read_text())
    assert doc["environment"]["packages"]["bytewax"] == "0.21.1"
    assert doc["brokers"]["tansu"]["describe"].startswith("Tansu")
    assert doc["warmups"]
    assert doc["warmups"][0]["status"] == "ok"
    cells = doc["cells"]
    assert [c["config"]["variant"] for c in cells] == [
        "ours",
        "builtin",
        "raw",
        "ours",
        "builtin",
        "raw",
        "ours",
    ]
    assert [c["config"]["repetition"] for c in cells] == [1, 1, 1, 1, 2, 2, 2]  # order rotated
    for c in cells:
        assert c["status"] == "ok", c.get("reason")
        m = c["metrics"]
        assert m["received"] == m["expected"]
        assert m["missing"] == 0
        assert m["cpu_s"] > 0
        assert m["peak_rss_mib"] > 0
    lat = [c for c in cells if c["config"]["mode"] == "fixed-rate"]
    assert all(c["metrics"]["latency"]["count"] > 0 and c["load"]["failed"] == 0 for c in lat)
    assert all(c["config"]["consumer_config"] == {"fetch.wait.max.ms": 10} for c in lat)  # Tansu's setting
    ours = next(
        r for r in doc["summary"] if r["config"]["variant"] == "ours" and r["config"]["mode"] == "max-rate"
    )
    assert ours["metrics"]["msgs_per_s"]["n"] == 2
    assert ours["ratios"]["msgs_per_s_vs_builtin"]["n"] == 2
    report = (run / "report.md").read_text()
    assert report.index("## Summary") < report.index("## Details")
    assert "Tansu answers" not in report  # tansu was asked for, not fallen back to
    assert not re.search(r"\bissue\b", report, re.I)


def _tiny(name: str, broker: object, *overrides: str) -> list:
    kind = broker.kind if broker.kind in BROKER_KINDS else f"external={broker.bootstrap_servers}"
    sc = apply_overrides(shipped(name), [("broker", [kind]), ("repetitions", 1), *map(parse_set, overrides)])
    return expand(sc), {kind: broker}


def _run(cells, running, tmp_path):
    record = run_cells(cells, log_dir=tmp_path / "logs", brokers=running, broker_warmup=0)
    doc = Results.create(run_id="t", scenario={"name": "t"}, command=[], environment={})
    for r in record.results:
        doc.record(r)
    return record, doc


def test_max_sustainable_rate_search_at_a_tiny_size(kafka_broker, tmp_path):
    cells, running = _tiny(
        "max-sustainable",
        kafka_broker,
        "variant=raw",
        "rate=1000",
        "duration=1",
        "search_steps=1",
        "search_limit=2000",
        "sustain_p99_ms=10000",  # the machinery, not this machine's latency, is under test
        "partitions=2",
    )
    record, doc = _run(cells, running, tmp_path)
    [r] = record.results
    assert r.status == "ok", r.reason
    rates = [s["rate"] for s in r.steps]
    assert rates[0] == 1000
    assert max(rates) <= 2000
    best = r.metrics["max_sustainable_msgs_per_s"]
    assert best == max(s["rate"] for s in r.steps if s["kept_up"])
    assert all(s["kept_up"] for s in r.steps if s["rate"] <= r.metrics["max_sustainable_msgs_per_s"])
    assert r.metrics["missing"] == 0
    assert r.metrics["duplicates"] == 0
    assert doc.summary[0]["metrics"]["max_sustainable_msgs_per_s"]["median"] > 0


def test_backlog_drain_at_a_tiny_size(kafka_broker, tmp_path):
    cells, running = _tiny(
        "backlog-drain",
        kafka_broker,
        "variant=ours",
        "rate=500",
        "messages=5000",
        "duration=6",
        "partitions=2",
    )
    record, _ = _run(cells, running, tmp_path)
    [r] = record.results
    assert r.status == "ok", r.reason
    m = r.metrics
    assert m["backlog"] == 5000
    assert m["expected"] == 5000 + r.load["delivered"]
    assert m["missing"] == 0
    # 5,000 messages can all reach the reader in one of its polls (one arrival
    # time): a drain of 0 s is then what was measured.
    assert 0 <= m["backlog_drain_s"] < 30
    if "latency" in m:  # the live messages after the drain
        assert m["latency"]["count"] > 0
    else:  # a start-up slower than the offered load: said, not hidden
        assert any("outlasted the offered load" in n for n in r.notices)


def test_guarantees_at_a_tiny_size(kafka_broker, tmp_path):
    cells, running = _tiny(
        "guarantees", kafka_broker, "messages=3000", "rate=500", "duration=2", "partitions=2"
    )
    record, _ = _run(cells, running, tmp_path)
    by = {(r.cell.mode, r.cell.guarantee): r for r in record.results}
    assert len(by) == 6
    for (mode, guarantee), r in by.items():
        if guarantee == "exactly-once" and "transactions" not in kafka_broker.features:
            assert r.status == "skipped"
            assert "transactions" in (r.reason or "")
            continue
        assert r.status == "ok", (mode, guarantee, r.reason)
        assert r.metrics["missing"] == 0
        assert r.metrics["duplicates"] == 0


@pytest.mark.parametrize("guarantee", ["at-least-once", "exactly-once"])
def test_group_replicas_at_a_tiny_size(guarantee, kafka_broker, tmp_path):
    if guarantee == "exactly-once" and "transactions" not in kafka_broker.features:
        pytest.skip(f"{kafka_broker.kind} has no transactions")
    cells, running = _tiny(
        "replicas", kafka_broker, "variant=ours-group", "processes=2", "messages=4000", "partitions=4"
    )
    cells = [c for c in cells if c.processes == 2 and c.guarantee == guarantee]
    assert len(cells) == 1
    record, _ = _run(cells, running, tmp_path)
    [r] = record.results
    assert r.status == "ok", r.reason
    assert len(r.commands) == 2
    assert all("-i" not in c for c in r.commands)
    assert r.metrics["missing"] == 0
    assert r.metrics["received"] == 4000


@pytest.mark.parametrize("name", ["quick", "full", "guarantees"])
def test_main_scenarios_expand_on_the_default_broker(name):
    cells = expand(shipped(name))
    assert {c.repetition for c in cells} == {1, 2, 3}
