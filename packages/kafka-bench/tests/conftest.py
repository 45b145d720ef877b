"""Synthetic results documents, shaped as `kafka-bench run` writes them."""

from __future__ import annotations

import functools
import itertools
import random
from typing import Any

import pytest

from bytewax_kafka.bench.define.cell import Cell
from bytewax_kafka.bench.latency import LatencyHistogram
from bytewax_kafka.bench.report.document import Results

_SPEED = {
    "ours": 300_000.0,
    "ours-core": 320_000.0,
    "builtin": 150_000.0,
    "builtin-core": 160_000.0,
    "raw": 600_000.0,
}
_CPU = {"ours": 3.0, "ours-core": 2.8, "builtin": 6.0, "builtin-core": 5.5, "raw": 1.2}
_LATENCY = {"ours": 3.0, "ours-core": 2.8, "builtin": 8.0, "builtin-core": 7.5, "raw": 1.5}


@functools.cache
def _histogram(base_ms: float, seed: int) -> tuple[dict[str, Any], list[list[float]], str]:
    """An exponential latency histogram (cached: the pure-Python HdrHistogram is slow to summarise)."""
    rng = random.Random(seed)
    h = LatencyHistogram()
    for _ in range(300):
        h.record_ns(int(rng.expovariate(1 / base_ms) * 1e6) + 200_000)
    return h.summary(), h.cdf(), h.encode()


def make_cell(
    index: int, status: str = "ok", scale: float = 1.0, jitter: float = 0.0, **config: Any
) -> dict[str, Any]:
    """One cell as results.json holds it, with plausible metrics (``jitter``: relative noise, seeded)."""
    cfg = Cell(**{"broker": "tansu", **config, "id": f"{index:03d}"}).config()
    rng = random.Random(index)
    noise = 1 + jitter * (2 * rng.random() - 1)
    metrics: dict[str, Any] = {}
    if status == "ok":
        speed = _SPEED[cfg["variant"]] * scale * noise * (1 + 0.3 * (cfg["batch_size"] >= 1000))
        if cfg["broker"] == "kafka":
            speed *= 0.8
        expected = cfg["messages"] or 50_000
        metrics = {
            "msgs_per_s": round(speed, 1),
            "mb_per_s": round(speed * 112 / 1e6, 3),
            "busy_cpu_us_per_msg": round(_CPU[cfg["variant"]] / scale * noise, 3),
            "busy_core_share": 0.9,
            "run_queue_share": 0.02,
            "expected": expected,
            "received": expected,
            "missing": 0,
            "duplicates": 0,
            "cpu_s": 1.5,
            "startup_s": 1.1,
            "window_s": 5.0,
            "loadavg_before": 1.2,
        }
        if cfg["mode"] != "max-rate":
            base_ms = _LATENCY[cfg["variant"]] / scale * (1 + (cfg["rate"] or 0) / 50_000)
            summary, cdf, hdr = _histogram(round(base_ms, 2), index % 3)
            metrics.update(
                {
                    "msgs_per_s": float(cfg["rate"]),
                    "offered_msgs_per_s": cfg["rate"],
                    "sent_msgs_per_s": float(cfg["rate"]),
                    "latency": summary,
                    "latency_cdf": cdf,
                    "latency_hdr": hdr,
                    "timeline": [
                        {
                            "t": t,
                            "messages": cfg["rate"],
                            "p50_ms": base_ms,
                            "p99_ms": base_ms * 4,
                            "max_ms": base_ms * 6,
                        }
                        for t in range(10)
                    ],
                }
            )
        if cfg["mode"] == "max-sustainable":
            metrics["max_sustainable_msgs_per_s"] = round(speed * 0.8)
        if cfg["mode"] == "backlog-drain":
            metrics["backlog_drain_s"] = round((cfg["messages"] or 100_000) / speed, 3)
    steps = []
    if status == "ok" and cfg["mode"] == "max-sustainable":
        steps = [
            {
                "rate": r,
                "kept_up": r <= speed * 0.8,
                "latency": {"p99_ms": 5.0 if r <= speed * 0.8 else 900.0},
            }
            for r in (20_000, 40_000, 80_000, 160_000, 320_000)
        ]
    return {
        "id": cfg["id"],
        "config": cfg,
        "status": status,
        "reason": None if status == "ok" else f"{status}: synthetic",
        "broker": {
            "spec": cfg["broker"],
            "kind": cfg["broker"],
            "describe": f"{cfg['broker']} 1.0 at 127.0.0.1:1",
        },
        "metrics": metrics,
        "load": {"rate": cfg["rate"], "sent": 1000, "delivered": 1000, "failed": 0, "sent_msgs_per_s": 1000.0}
        if cfg["mode"] != "max-rate"
        else None,
        "notices": [],
        "steps": steps,
        "commands": [],
        "logs": [],
    }


def make_doc(cells: list[dict[str, Any]], run_id: str = "run-a") -> Results:
    """A results document around ``cells`` (ratios and summary added as a run would)."""
    doc = Results.create(
        run_id=run_id,
        scenario={"name": "synthetic", "description": "Synthetic cells.", "path": None, "text": ""},
        command=["kafka-bench", "run", "synthetic.toml"],
        environment={
            "cpu_model": "Test CPU",
            "cpu_count": 2,
            "cpu_usable": 2,
            "memory_gib": 24.0,
            "os": "Linux 6",
            "machine": "x86_64",
            "python": "3.11.7",
            "python_implementation": "CPython",
            "librdkafka": "2.12.0",
            "packages": {"bytewax": "0.21.1", "confluent-kafka": "2.12.0", "bytewax-kafka-bench": "0.1.0"},
            "git_commit": "abc1234",
        },
    )
    doc.data["cells"] = cells
    doc.data["brokers"] = {
        "tansu": {"spec": "tansu", "kind": "tansu", "describe": "Tansu 0.6 at 127.0.0.1:1"}
    }
    doc.refresh()
    return doc


def full_doc(
    scale: float = 1.0, run_id: str = "run-a", *, small: bool = False, reps: int = 3, jitter: float = 0.02
) -> Results:
    """A run with every kind of cell the plots and reports know (``small``: brokers and latency only)."""
    cells: list[dict[str, Any]] = []
    n = itertools.count(1)

    def add(**cfg: Any) -> None:
        for rep in range(1, reps + 1):
            cells.append(make_cell(next(n), scale=scale, jitter=jitter, repetition=rep, **cfg))

    for broker, variant in itertools.product(["tansu", "kafka"], ["ours", "builtin", "raw"]):
        add(matrix="brokers", broker=broker, variant=variant, messages=10_000)
    for rate, variant in itertools.product([10_000, 50_000], ["ours", "builtin"]):
        add(matrix="latency", mode="fixed-rate", rate=rate, duration=10.0, variant=variant)
    if small:
        return make_doc(cells, run_id)
    for bs, w, variant in itertools.product([100, 1000, 10_000], [1, 2], ["ours", "builtin", "raw"]):
        add(matrix="batch", batch_size=bs, workers=w, variant=variant, messages=10_000)
    for variant in ("ours", "builtin", "raw"):
        add(matrix="quick-latency", mode="fixed-rate", rate=10_000, duration=10.0, variant=variant)
        add(matrix="search", mode="max-sustainable", rate=20_000, duration=5.0, variant=variant)
        add(
            matrix="drain",
            mode="backlog-drain",
            rate=10_000,
            duration=10.0,
            messages=100_000,
            variant=variant,
        )
    add(matrix="shapes", mode="fixed-rate", rate=20_000, duration=10.0, shape="ramp")
    cells.append(make_cell(next(n), status="skipped", matrix="brokers", broker="redpanda"))
    cells.append(
        make_cell(
            next(n),
            status="failed",
            matrix="shapes",
            mode="fixed-rate",
            rate=20_000,
            duration=10.0,
            shape="spike",
        )
    )
    return make_doc(cells, run_id)


@pytest.fixture
def synthetic_doc() -> Results:
    return full_doc()


@pytest.fixture
def doc_factory() -> Any:
    """``full_doc(scale, run_id, small=, reps=, jitter=)``: a synthetic run (scale speeds it up)."""
    return full_doc


@pytest.fixture
def cell_factory() -> Any:
    """``(make_cell, make_doc)``: build cells and a document around them."""
    return make_cell, make_doc
