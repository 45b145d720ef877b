"""results.json / results.csv, ratios to the baselines, summaries over repetitions."""

from __future__ import annotations

import csv
import json

import pytest

from bytewax_kafka.bench.results import csv_columns, load_results, summarize, write_results


def test_ratios_pair_cells_of_one_repetition_and_config(cell_factory):
    make_cell, make_doc = cell_factory
    cells = [
        make_cell(1, variant="ours"),
        make_cell(2, variant="builtin"),
        make_cell(3, variant="raw"),
        make_cell(4, variant="ours", batch_size=100),  # no baseline with this batch size
    ]
    doc = make_doc(cells)
    ours = doc["cells"][0]
    assert ours["ratios"]["vs_builtin"] == pytest.approx(2.0)
    assert ours["ratios"]["vs_raw"] == pytest.approx(0.5)
    assert ours["ratios"]["builtin_variant"] == "builtin"
    assert doc["cells"][3]["ratios"] == {}
    assert "ratios" not in doc["cells"][1]


def test_latency_ratios_and_failed_baselines(cell_factory):
    make_cell, make_doc = cell_factory
    lat = {"mode": "fixed-rate", "rate": 1000, "duration": 5.0, "messages": None}
    doc = make_doc(
        [
            make_cell(1, variant="ours", **lat),
            make_cell(2, variant="builtin", **lat),
            make_cell(3, status="failed", variant="raw", **lat),
        ]
    )
    r = doc["cells"][0]["ratios"]
    assert r["p99_vs_builtin"] < 1
    assert r["vs_raw"] is None
    assert r["p99_vs_raw"] is None


def test_summary_takes_medians_over_repetitions(cell_factory):
    make_cell, make_doc = cell_factory
    cells = [make_cell(i, repetition=i, scale=s) for i, s in ((1, 1.0), (2, 3.0), (3, 2.0))]
    [row] = summarize(make_doc(cells)["cells"])
    assert row["ok"] == 3
    assert row["cells"] == ["001", "002", "003"]
    assert row["msgs_per_s"] == pytest.approx(2 * cells[0]["metrics"]["msgs_per_s"])


def test_write_and_load(tmp_path, synthetic_doc):
    jpath, cpath = write_results(synthetic_doc, tmp_path / "run")
    doc = load_results(tmp_path / "run")
    assert doc["run_id"] == "run-a"
    assert len(doc["cells"]) == len(synthetic_doc["cells"])
    assert doc["cells"][0]["config"]["batch_size"] == 100  # the full config is kept
    assert doc["environment"]["cpu_model"] == "Test CPU"
    with cpath.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == csv_columns()
    assert len(rows) == len(doc["cells"])
    lat = [r for r in rows if r["mode"] == "fixed-rate" and r["status"] == "ok"]
    assert lat
    assert all(float(r["latency_p99_ms"]) > 0 for r in lat)
    skipped = [r for r in rows if r["status"] == "skipped"]
    assert skipped
    assert skipped[0]["reason"] == "skipped: synthetic"
    assert skipped[0]["msgs_per_s"] == ""
    json.loads(jpath.read_text())


def test_load_results_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text("{}")
    with pytest.raises(ValueError, match="not a kafka-bench results file"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text("{")
    with pytest.raises(ValueError, match="not JSON"):
        load_results(tmp_path / "results.json")
