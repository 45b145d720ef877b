"""One real `kafka-bench run` on Tansu: every variant, max-rate and fixed-rate, the whole output folder."""

from __future__ import annotations

import json
import subprocess
import sys

SCENARIO = """
name = "tiny"
description = "Tiny end-to-end run."
broker = "tansu"
partitions = 2
message_size = 64
batch_size = 500

[[matrix]]
name = "throughput"
mode = "max-rate"
messages = 3000
variant = ["ours", "builtin", "raw"]

[[matrix]]
name = "latency"
mode = "fixed-rate"
rate = 1000
duration = 3
warmup = 1
variant = "ours"
consumer_config = { "fetch.wait.max.ms" = 10 }
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
        "throughput_by_broker.png",
        "latency_cdf.png",
    ):
        assert (run / name).exists(), name
    doc = json.loads((run / "results.json").read_text())
    assert doc["environment"]["packages"]["bytewax"] == "0.21.1"
    assert doc["brokers"]["tansu"]["describe"].startswith("Tansu")
    cells = doc["cells"]
    assert [c["config"]["variant"] for c in cells] == ["ours", "builtin", "raw", "ours"]
    for c in cells:
        assert c["status"] == "ok", c.get("reason")
        m = c["metrics"]
        assert m["received"] == m["expected"]
        assert m["missing"] == 0
        assert m["cpu_s"] > 0
    assert [c["metrics"]["expected"] for c in cells[:3]] == [3000] * 3
    ours, lat = cells[0], cells[3]
    # 3000 messages may pass the raw loop within a millisecond: too short a
    # window for a rate, and then the ratio is None, never a made-up number.
    assert {"vs_builtin", "vs_raw", "cpu_vs_builtin", "cpu_vs_raw"} <= set(ours["ratios"])
    assert lat["metrics"]["latency"]["count"] > 0
    assert lat["metrics"]["expected"] == lat["load"]["delivered"] > 0
    assert lat["load"]["requests"] > 0
    assert lat["load"]["failed"] == 0
    assert "tiny" in (run / "report.md").read_text()
