"""Plots follow the matrix: lines over a numeric axis, bars otherwise, no "vs rate" plot of one rate."""

from __future__ import annotations

from bytewax_kafka.bench.report.metrics import METRICS, RATIOS
from bytewax_kafka.bench.report.plots import write_plots


def _names(doc, tmp_path):
    return {p.name for _, p in write_plots(doc, tmp_path)}


def test_plots_follow_what_each_matrix_varies(tmp_path, cell_factory):
    make_cell, make_doc = cell_factory
    cells = []
    n = 0
    for rep in (1, 2, 3):
        for variant in ("ours", "builtin", "raw"):
            for bs in (100, 1000):
                n += 1
                cells.append(
                    make_cell(n, matrix="batch", batch_size=bs, variant=variant, repetition=rep, jitter=0.1)
                )
            n += 1
            cells.append(make_cell(n, matrix="one", variant=variant, repetition=rep))
            n += 1
            cells.append(
                make_cell(
                    n,
                    matrix="lat1",
                    mode="fixed-rate",
                    rate=10_000,
                    duration=5.0,
                    variant=variant,
                    repetition=rep,
                )
            )
            for rate in (10_000, 20_000):
                n += 1
                cells.append(
                    make_cell(
                        n,
                        matrix="lat2",
                        mode="fixed-rate",
                        rate=rate,
                        duration=5.0,
                        variant=variant,
                        repetition=rep,
                    )
                )
    names = _names(make_doc(cells), tmp_path)
    assert "max_rate_batch_vs_batch_size.png" in names  # lines over the batch size
    assert "max_rate_one.png" in names  # bars by connector
    assert "latency_lat1.png" in names
    assert "latency_lat1_vs_rate.png" not in names
    assert "latency_lat2_vs_rate.png" in names
    assert {"latency_lat1_cdf.png", "latency_lat2_cdf.png"} <= names
    for name in names:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_judged_figure_says_which_way_is_better():
    for m in METRICS.values():
        if m.higher_is_better is not None:
            assert m.axis_label().endswith(("higher is better)", "lower is better)")), m.name
    for r in RATIOS.values():
        assert r.higher_is_better is not None
