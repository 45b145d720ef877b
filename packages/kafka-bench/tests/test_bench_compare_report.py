"""`compare` (judged against the noise of both runs, exit codes) and `report` (summary first, plots, HTML)."""

from __future__ import annotations

import re

from bytewax_kafka.bench.cli import EXIT_OK, EXIT_REGRESSION, EXIT_USAGE, main
from bytewax_kafka.bench.report.compare import compare_runs, render_table
from bytewax_kafka.bench.report.markdown import write_report


def _save(doc, path):
    doc.write(path)
    return path


def _verdicts(c, metric):
    """Verdicts of the max-rate rows (a fixed-rate cell's msg/s is its offered rate)."""
    return {r.verdict for r in c.rows if r.metric == metric and "max rate" in r.label}


def test_compare_calls_a_regression_only_outside_the_noise_of_both_runs(doc_factory):
    old = doc_factory(1.0, "old", jitter=0.02)
    slower = doc_factory(0.8, "slow", jitter=0.02)
    c = compare_runs(old, slower, metrics=["msgs_per_s", "busy_cpu_us_per_msg"], threshold=0.1)
    assert _verdicts(c, "msgs_per_s") == {"regression"}
    assert _verdicts(c, "busy_cpu_us_per_msg") == {"regression"}  # 1/0.8 the CPU per message
    assert not compare_runs(old, slower, metrics=["msgs_per_s"], threshold=0.25).regressions
    # The same 20% move, in runs whose repetitions spread by +-30%: within the noise, no regression.
    noisy_old = doc_factory(1.0, "noisy-old", jitter=0.3)
    noisy_new = doc_factory(0.8, "noisy-new", jitter=0.3)
    noisy = compare_runs(noisy_old, noisy_new, metrics=["msgs_per_s"], threshold=0.1)
    assert "within noise" in _verdicts(noisy, "msgs_per_s")
    assert all(r.verdict != "regression" or r.new["max"] < r.old["min"] for r in noisy.rows)
    table = render_table(c)
    assert "**REGRESSION**" in table
    assert "outside the min-max range of both runs' repetitions" in table
    assert "(n=3" in table or ", n=3)" in table


def test_one_repetition_is_never_a_regression_but_unclear(doc_factory):
    old, new = doc_factory(1.0, "a", reps=1), doc_factory(0.5, "b", reps=1)
    c = compare_runs(old, new, metrics=["msgs_per_s"], threshold=0.1)
    assert c.rows
    assert not c.regressions
    assert {r.verdict for r in c.rows} == {"unclear"}
    assert "unclear: 1 repetition, noise unknown" in render_table(c)


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
    assert "outside the noise of both runs" in capsys.readouterr().err
    assert "REGRESSION" in md.read_text()
    assert main(["compare", str(a), str(slow), "--threshold", "0.6", "--metric", "msgs_per_s"]) == EXIT_OK
    assert main(["compare", str(a), str(tmp_path / "missing")]) == EXIT_USAGE
    assert main(["compare", str(a), str(b), "--metric", "colour"]) == EXIT_USAGE
    assert main(["compare", str(a), str(b), "--metric", "window_s"]) == EXIT_USAGE  # no better direction
    assert main(["compare", str(a), str(b), "--threshold", "-1"]) == EXIT_USAGE


def test_report_opens_with_the_summary_then_details(tmp_path, synthetic_doc):
    path = write_report([synthetic_doc], tmp_path, html=True, self_dir=True)
    text = path.read_text()
    order = [
        "# kafka-bench report: synthetic",
        "## Summary",
        "**Compared**: bytewax-kafka, Bytewax built-in connector, raw confluent-kafka loop",
        "**Machine**: Test CPU",
        "**Results**",
        "**Variants**",
        "Busy CPU per message is the primary figure",
        "## Plots",
        "## Details",
        "### Matrix `brokers` (max-rate)",
        "### Failed and skipped cells",
        "### Environment",
        "## How this was measured",
    ]
    at = [text.index(s) for s in order]
    assert at == sorted(at), "sections out of order"
    assert "**0.50x (" in text  # busy CPU per message of ours over the built-in's, with its range
    assert "(ours better)" in text
    assert not re.search(r"\bissue\b", text, re.I)
    assert "Goals" not in text  # only with --goals
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in html
    assert "<table>" in html
    assert "<h2>Summary</h2>" in html
    assert 'src="max_rate' not in html


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
    assert (out / "runs_busy_cpu_us_per_msg.png").exists()
    assert "](runs_busy_cpu_us_per_msg.png)" in text
    assert (out / "1-a").is_dir()
    assert (out / "2-b").is_dir()
    assert (out / "report.html").exists()
    assert main(["report", str(tmp_path / "nothing"), "-o", str(out)]) == EXIT_USAGE


def test_notices_stand_in_the_summary_before_any_figure(tmp_path, doc_factory):
    doc = doc_factory(1.0, "n", small=True)
    doc.finish(
        brokers={},
        notices=["Apache Kafka cannot run here (no java); the cells ran on Tansu instead."],
        warmups=[],
        probes=[],
        elapsed_s=1.0,
    )
    text = write_report([doc], tmp_path, plots=False, self_dir=True).read_text()
    assert text.index("**Notices**") < text.index("**Results**")
    assert "the cells ran on Tansu instead" in text
