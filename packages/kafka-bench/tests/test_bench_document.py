"""The results document: ratios to the baselines, medians with spread, files, redaction, schema."""

from __future__ import annotations

import csv
import json

import pytest

from bytewax_kafka.bench.define.cell import Cell, CellResult
from bytewax_kafka.bench.errors import ResultsError
from bytewax_kafka.bench.report.document import SCHEMA_VERSION, Results, csv_columns
from bytewax_kafka.bench.report.metrics import METRICS, RATIOS


def test_ratios_pair_cells_of_one_repetition_and_config(cell_factory):
    make_cell, make_doc = cell_factory
    cells = [
        make_cell(1, variant="ours"),
        make_cell(2, variant="builtin"),
        make_cell(3, variant="raw"),
        make_cell(4, variant="ours", batch_size=100),  # no baseline with this batch size
    ]
    doc = make_doc(cells)
    ours = doc.cells[0]
    assert ours["ratios"]["msgs_per_s_vs_builtin"] == pytest.approx(2.0)
    assert ours["ratios"]["msgs_per_s_vs_raw"] == pytest.approx(0.5)
    assert ours["ratios"]["busy_cpu_us_per_msg_vs_builtin"] == pytest.approx(0.5)
    assert ours["ratios"]["builtin_variant"] == "builtin"
    assert "latency_p99_ms_vs_builtin" not in ours["ratios"]  # not a figure of max-rate cells
    assert doc.cells[3]["ratios"] == {}
    assert "ratios" not in doc.cells[1]


def test_latency_ratios_and_failed_baselines(cell_factory):
    make_cell, make_doc = cell_factory
    lat = {"mode": "fixed-rate", "rate": 1000, "duration": 5.0}
    doc = make_doc(
        [
            make_cell(1, variant="ours", **lat),
            make_cell(2, variant="builtin", **lat),
            make_cell(3, status="failed", variant="raw", **lat),
        ]
    )
    r = doc.cells[0]["ratios"]
    assert r["latency_p99_ms_vs_builtin"] < 1
    assert "msgs_per_s_vs_builtin" not in r  # a fixed rate is no throughput figure
    assert "latency_p99_ms_vs_raw" not in r


def test_summary_gives_medians_with_min_max_and_a_bootstrap_interval(cell_factory):
    make_cell, make_doc = cell_factory
    cells = [make_cell(i, repetition=i, scale=s) for i, s in ((1, 1.0), (2, 3.0), (3, 2.0))]
    [row] = make_doc(cells).summary
    assert row["ok"] == 3
    assert row["cells"] == ["001", "002", "003"]
    tp = row["metrics"]["msgs_per_s"]
    base = cells[0]["metrics"]["msgs_per_s"]
    assert tp["median"] == pytest.approx(2 * base)
    assert (tp["min"], tp["max"]) == (pytest.approx(base), pytest.approx(3 * base))
    assert tp["n"] == 3
    assert tp["min"] <= tp["ci95"][0] <= tp["median"] <= tp["ci95"][1] <= tp["max"]
    assert sorted(tp["values"]) == sorted(c["metrics"]["msgs_per_s"] for c in cells)
    assert row["label"] == "tansu p=4 bs=1000 w=1 · max rate"


def test_write_and_load(tmp_path, synthetic_doc):
    jpath, cpath = synthetic_doc.write(tmp_path / "run")
    doc = Results.load(tmp_path / "run")
    assert doc.run_id == "run-a"
    assert doc.data["schema"] == SCHEMA_VERSION
    assert len(doc.cells) == len(synthetic_doc.cells)
    assert doc.summary == synthetic_doc.summary  # rebuilt from the cells, the same
    with cpath.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == csv_columns()
    assert set(METRICS) <= set(rows[0])
    assert set(RATIOS) <= set(rows[0])
    assert len(rows) == len(doc.cells)
    lat = [r for r in rows if r["mode"] == "fixed-rate" and r["status"] == "ok"]
    assert lat
    assert all(float(r["latency_p99_ms"]) > 0 for r in lat)
    skipped = [r for r in rows if r["status"] == "skipped"]
    assert skipped[0]["reason"] == "skipped: synthetic"
    assert skipped[0]["msgs_per_s"] == ""
    json.loads(jpath.read_text())


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        Results.load(tmp_path)
    (tmp_path / "results.json").write_text("{}")
    with pytest.raises(ResultsError, match="not a kafka-bench results file"):
        Results.load(tmp_path)
    (tmp_path / "results.json").write_text("{")
    with pytest.raises(ResultsError, match="not JSON"):
        Results.load(tmp_path / "results.json")
    (tmp_path / "results.json").write_text(json.dumps({"schema": 99, "run_id": "x", "cells": []}))
    with pytest.raises(ResultsError, match="newer than this kafka-bench reads"):
        Results.load(tmp_path)


def test_secrets_are_redacted_wherever_they_appear():
    password = "pa55-w0rd-x"
    text = f'consumer_config = {{ "sasl.password" = "{password}" }}\n'
    doc = Results.create(
        run_id="r",
        scenario={"name": "s", "text": text},
        command=["kafka-bench", "run", "s.toml", f"--note={password}"],
        environment={},
    )
    cell = Cell(consumer_config={"sasl.password": password, "fetch.wait.max.ms": 10})
    doc.record(CellResult(cell, "failed", reason=f"auth failed for {password}"))
    dumped = json.dumps(doc.data)
    assert password not in dumped
    assert doc.cells[0]["config"]["consumer_config"]["fetch.wait.max.ms"] == 10
