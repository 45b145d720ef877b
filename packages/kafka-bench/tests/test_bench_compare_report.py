"""`compare` (ratios, regressions, exit codes) and `report` (Markdown, PNG, HTML) on synthetic runs."""

from __future__ import annotations

import json

from bytewax_kafka.bench.cli import EXIT_OK, EXIT_REGRESSION, EXIT_USAGE, main
from bytewax_kafka.bench.compare import compare_runs, render_table
from bytewax_kafka.bench.report import write_report


def _save(doc, path):
    path.mkdir(parents=True)
    (path / "results.json").write_text(json.dumps(doc))
    return path


def test_compare_verdicts(doc_factory):
    old, same, slower = doc_factory(1.0, "old"), doc_factory(1.0, "same"), doc_factory(0.8, "slow")
    assert not compare_runs(old, same, metrics=["msgs_per_s", "latency_p99_ms"], threshold=0.1).regressions
    c = compare_runs(old, slower, metrics=["msgs_per_s", "latency_p99_ms"], threshold=0.1)
    verdicts = {(r.metric, r.verdict) for r in c.rows}
    assert ("msgs_per_s", "regression") in verdicts
    assert ("latency_p99_ms", "improvement") in verdicts  # scale 0.8 also shortens the synthetic latencies
    assert not compare_runs(old, slower, metrics=["msgs_per_s"], threshold=0.25).regressions
    table = render_table(c)
    assert "**REGRESSION**" in table
    assert "| cell | metric |" in table


def test_compare_exit_codes(tmp_path, doc_factory, capsys):
    a = _save(doc_factory(1.0, "a", small=True), tmp_path / "a")
    b = _save(doc_factory(1.0, "b", small=True), tmp_path / "b")
    slow = _save(doc_factory(0.5, "slow", small=True), tmp_path / "slow")
    assert main(["compare", str(a), str(b)]) == EXIT_OK
    assert "no regression" in capsys.readouterr().out
    md = tmp_path / "cmp.md"
    assert (
        main(["compare", str(a), str(slow), "--metric", "msgs_per_s", "--markdown", str(md)])
        == EXIT_REGRESSION
    )
    assert "REGRESSION" in md.read_text()
    assert main(["compare", str(a), str(slow), "--threshold", "0.6", "--metric", "msgs_per_s"]) == EXIT_OK
    assert main(["compare", str(a), str(tmp_path / "missing")]) == EXIT_USAGE
    assert main(["compare", str(a), str(b), "--metric", "colour"]) == EXIT_USAGE
    assert main(["compare", str(a), str(b), "--threshold", "-1"]) == EXIT_USAGE


def test_report_of_one_run(tmp_path, synthetic_doc):
    path = write_report([synthetic_doc], tmp_path, html=True, self_dir=True)
    text = path.read_text()
    for needle in (
        "# kafka-bench report: synthetic",
        "#### Environment",
        "Test CPU",
        "#### Brokers",
        "#### Matrix `batch` (max-rate)",
        "#### Matrix `latency` (fixed-rate)",
        "Load generator (locust) per cell",
        "#### Failed and skipped cells",
        "#### Performance goals",
        "![Throughput vs batch size](throughput_vs_batch_size.png)",
    ):
        assert needle in text, needle
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    for name in (
        "throughput_vs_batch_size.png",
        "throughput_vs_partitions.png",
        "throughput_vs_workers.png",
        "throughput_by_broker.png",
        "throughput_by_serde.png",
        "latency_vs_rate.png",
        "latency_cdf.png",
    ):
        assert name in pngs
    assert any(n.startswith("timeline_") for n in pngs)
    for png in tmp_path.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in html
    assert "<table>" in html
    assert 'src="throughput' not in html


def test_report_command_compares_runs(tmp_path, doc_factory, capsys):
    a = _save(doc_factory(1.0, "a", small=True), tmp_path / "a")
    b = _save(doc_factory(0.5, "b", small=True), tmp_path / "b")
    out = tmp_path / "rep"
    assert main(["report", str(a), str(b / "results.json"), "-o", str(out), "--html"]) == EXIT_OK
    text = (out / "report.md").read_text()
    assert "## Run `a`" in text
    assert "## Run `b`" in text
    assert "## Comparison with the first run" in text
    assert "REGRESSION" in text
    assert (out / "1-a" / "latency_cdf.png").exists()
    assert (out / "2-b" / "latency_cdf.png").exists()
    assert "](1-a/latency_cdf.png)" in text
    assert (out / "report.html").exists()
    assert main(["report", str(tmp_path / "nothing"), "-o", str(out)]) == EXIT_USAGE
