"""Synthetic results documents, shaped as `kafka-bench run` writes them."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from bytewax_kafka.bench.latency import LatencyHistogram
from bytewax_kafka.bench.matrix import Cell

_BASE: dict[str, Any] = {
    "matrix": "m",
    "repetition": 1,
    "broker": "tansu",
    "variant": "ours",
    "mode": "max-rate",
    "partitions": 4,
    "batch_size": 1000,
    "workers": 1,
    "processes": 1,
    "rate": None,
    "serde": "none",
    "message_size": 100,
    "keys": "uniform",
    "key_space": 1000,
    "messages": 10_000,
    "duration": None,
    "warmup": "10%",
    "shape": "steady",
    "ramp_start": 0.1,
    "spike_factor": 2.0,
    "spike_seconds": 2.0,
    "users": None,
    "timeout": None,
    "consumer_config": None,
    "producer_config": None,
    "gc_threshold": None,
}

_SPEED = {
    "ours": 300_000.0,
    "ours-core": 320_000.0,
    "builtin": 150_000.0,
    "builtin-core": 160_000.0,
    "raw": 600_000.0,
}


def make_cell(index: int, status: str = "ok", scale: float = 1.0, **config: Any) -> dict[str, Any]:
    """One cell as results.json holds it, with plausible metrics."""
    cfg = {**_BASE, **config, "id": f"{index:03d}"}
    Cell(**cfg)  # the synthetic config must be a real one
    metrics: dict[str, Any] = {}
    if status == "ok":
        speed = (
            _SPEED[cfg["variant"]]
            * scale
            * (1 + 0.3 * (cfg["batch_size"] >= 1000))
            * (cfg["partitions"] / 4) ** 0.2
        )
        if cfg["broker"] == "kafka":
            speed *= 0.8
        expected = cfg["messages"] or 50_000
        metrics = {
            "msgs_per_s": round(speed, 1),
            "mb_per_s": round(speed * 112 / 1e6, 3),
            "expected": expected,
            "received": expected,
            "missing": 0,
            "duplicates": 0,
            "cpu_s": 1.5,
            "cpu_us_per_msg": 3.0,
            "startup_s": 1.1,
            "wall_s": 2.0,
        }
        if cfg["mode"] == "fixed-rate":
            rng = random.Random(index)
            h = LatencyHistogram()
            base_ms = {"ours": 3.0, "ours-core": 2.8, "builtin": 8.0, "builtin-core": 7.5, "raw": 1.5}[
                cfg["variant"]
            ]
            base_ms *= scale * (1 + cfg["rate"] / 50_000)
            for _ in range(1000):
                h.record_ns(int(rng.expovariate(1 / base_ms) * 1e6) + 200_000)
            metrics.update(
                {
                    "msgs_per_s": float(cfg["rate"]),
                    "offered_msgs_per_s": cfg["rate"],
                    "sent_msgs_per_s": float(cfg["rate"]),
                    "latency": h.summary(),
                    "latency_cdf": h.cdf(),
                    "latency_hdr": h.encode(),
                    "timeline": [
                        {
                            "t": t,
                            "messages": cfg["rate"] * (t + 1) // 10,
                            "p50_ms": base_ms,
                            "p99_ms": base_ms * 4,
                            "max_ms": base_ms * 6,
                        }
                        for t in range(10)
                    ],
                }
            )
    cell: dict[str, Any] = {
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
        "load": {
            "sent": 1000,
            "delivered": 1000,
            "failed": 0,
            "requests": 100,
            "requests_per_s": 10.0,
            "max_behind_ms": 1.0,
        }
        if cfg["mode"] == "fixed-rate"
        else None,
        "commands": [],
        "logs": [],
    }
    return cell


def make_doc(cells: list[dict[str, Any]], run_id: str = "run-a") -> dict[str, Any]:
    """A results document around ``cells`` (ratios and summary added as write_results would)."""
    from bytewax_kafka.bench.results import add_ratios, summarize

    doc = {
        "schema": 1,
        "run_id": run_id,
        "scenario": {"name": "synthetic", "description": "Synthetic cells.", "path": None, "text": ""},
        "command": ["kafka-bench", "run", "synthetic.toml"],
        "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T00:01:00+00:00",
        "elapsed_s": 60.0,
        "environment": {
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
        "brokers": {"tansu": {"spec": "tansu", "kind": "tansu", "describe": "Tansu 0.6 at 127.0.0.1:1"}},
        "cells": cells,
    }
    add_ratios(doc["cells"])
    doc["summary"] = summarize(doc["cells"])
    return doc


def full_doc(scale: float = 1.0, run_id: str = "run-a", *, small: bool = False) -> dict[str, Any]:
    """A run with every kind of cell the plots and reports know (``small``: brokers and latency only)."""
    cells: list[dict[str, Any]] = []
    n = itertools.count(1)
    if small:
        for broker, variant in itertools.product(["tansu", "kafka"], ["ours", "builtin", "raw"]):
            cells.append(make_cell(next(n), scale=scale, matrix="brokers", broker=broker, variant=variant))
        for rate, variant in itertools.product([10_000, 50_000], ["ours", "builtin"]):
            cells.append(
                make_cell(
                    next(n),
                    scale=scale,
                    matrix="latency",
                    mode="fixed-rate",
                    rate=rate,
                    duration=10.0,
                    messages=None,
                    variant=variant,
                )
            )
        return make_doc(cells, run_id)
    for bs, w, variant in itertools.product([100, 1000, 10_000], [1, 2], ["ours", "builtin", "raw"]):
        cells.append(
            make_cell(next(n), scale=scale, matrix="batch", batch_size=bs, workers=w, variant=variant)
        )
    for p, variant in itertools.product([1, 4, 8], ["ours", "builtin", "raw"]):
        cells.append(make_cell(next(n), scale=scale, matrix="partitions", partitions=p, variant=variant))
    for broker, variant in itertools.product(["tansu", "kafka"], ["ours", "builtin", "raw"]):
        cells.append(make_cell(next(n), scale=scale, matrix="brokers", broker=broker, variant=variant))
    cells.append(make_cell(next(n), status="skipped", matrix="brokers", broker="redpanda"))
    for serde, variant in itertools.product(["none", "json", "avro", "registry-avro"], ["ours", "raw"]):
        cells.append(make_cell(next(n), scale=scale, matrix="serde", serde=serde, variant=variant))
    for rate, variant in itertools.product([10_000, 20_000, 50_000], ["ours", "builtin", "raw"]):
        cells.append(
            make_cell(
                next(n),
                scale=scale,
                matrix="latency",
                mode="fixed-rate",
                rate=rate,
                duration=10.0,
                messages=None,
                variant=variant,
            )
        )
    cells.append(
        make_cell(
            next(n),
            scale=scale,
            matrix="shapes",
            mode="fixed-rate",
            rate=20_000,
            duration=10.0,
            messages=None,
            shape="ramp",
        )
    )
    cells.append(
        make_cell(
            next(n),
            status="failed",
            matrix="shapes",
            mode="fixed-rate",
            rate=20_000,
            duration=10.0,
            messages=None,
            shape="spike",
        )
    )
    return make_doc(cells, run_id)


@pytest.fixture
def synthetic_doc() -> dict[str, Any]:
    return full_doc()


@pytest.fixture
def doc_factory() -> Any:
    """``full_doc(scale, run_id)``: a full synthetic run (scale multiplies speeds and latencies)."""
    return full_doc


@pytest.fixture
def cell_factory() -> Any:
    """``(make_cell, make_doc)``: build cells and a document around them."""
    return make_cell, make_doc
