"""Results files: ``results.json`` (everything) and ``results.csv`` (one flat row per cell).

``results.json`` holds the run id, the scenario (its text too), the command
line, the environment, the brokers, every cell with its full config, status,
metrics and ratios to the baselines, and a summary (medians over
repetitions). Ratios compare a connector variant with the baselines that ran
on the same broker, in the same repetition, with the same parameters:

- ``vs_builtin``: our msg/s over Bytewax's built-in connector's
  (``ours`` against ``builtin``, ``ours-core`` against ``builtin-core`` where
  that ran, else ``builtin``);
- ``vs_raw``: our msg/s over the raw confluent-kafka loop's;
- ``cpu_vs_builtin`` / ``cpu_vs_raw``: the same with messages per CPU second
  of the flow while it processed (start-up excluded): less sensitive to other
  load on the machine than wall-clock throughput;
- ``p99_vs_builtin`` / ``p99_vs_raw`` (fixed-rate): our p99 latency over theirs
  (below 1 is better).
"""

from __future__ import annotations

import csv
import json
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bytewax_kafka.core.config import REDACTED, is_secret

__all__ = [
    "SCHEMA_VERSION",
    "add_ratios",
    "flat_row",
    "load_results",
    "redact_secrets",
    "summarize",
    "write_results",
]

SCHEMA_VERSION = 1

#: Variants that are ours (compared with the baselines).
OURS = ("ours", "ours-core")
_BUILTIN_FOR = {"ours": ("builtin", "builtin-core"), "ours-core": ("builtin-core", "builtin")}


def config_key(config: dict[str, Any], *, drop: Iterable[str] = ("id", "repetition", "variant")) -> str:
    """A stable key for a cell's config without ``drop`` (to match cells across variants/reps)."""
    dropped = set(drop)
    return json.dumps({k: v for k, v in sorted(config.items()) if k not in dropped}, sort_keys=True)


def _ok_metric(cell: dict[str, Any], name: str) -> float | None:
    if cell.get("status") != "ok":
        return None
    m = cell.get("metrics") or {}
    source = (m.get("latency") or {}) if name.startswith("latency.") else m
    v = source.get(name.split(".", 1)[1] if name.startswith("latency.") else name)
    return float(v) if isinstance(v, int | float) else None


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 4)


def add_ratios(cells: list[dict[str, Any]]) -> None:
    """Set ``ratios`` on each cell of ours from its baselines in the same repetition."""
    index: dict[tuple[str, int, str], dict[str, Any]] = {}
    for c in cells:
        cfg = c["config"]
        index[(config_key(cfg), cfg["repetition"], cfg["variant"])] = c
    for c in cells:
        cfg = c["config"]
        if cfg["variant"] not in OURS:
            continue
        key, rep = config_key(cfg), cfg["repetition"]
        builtin = next(
            (index[(key, rep, b)] for b in _BUILTIN_FOR[cfg["variant"]] if (key, rep, b) in index), None
        )
        raw = index.get((key, rep, "raw"))
        ratios: dict[str, Any] = {}
        mine = _ok_metric(c, "msgs_per_s")
        p99 = _ok_metric(c, "latency.p99_ms")
        if builtin is not None:
            ratios["builtin_variant"] = builtin["config"]["variant"]
            ratios["vs_builtin"] = _ratio(mine, _ok_metric(builtin, "msgs_per_s"))
            if cfg["mode"] == "fixed-rate":
                ratios["p99_vs_builtin"] = _ratio(p99, _ok_metric(builtin, "latency.p99_ms"))
            ratios["cpu_vs_builtin"] = _ratio(
                _ok_metric(c, "msgs_per_cpu_s"), _ok_metric(builtin, "msgs_per_cpu_s")
            )
        if raw is not None:
            ratios["vs_raw"] = _ratio(mine, _ok_metric(raw, "msgs_per_s"))
            ratios["cpu_vs_raw"] = _ratio(_ok_metric(c, "msgs_per_cpu_s"), _ok_metric(raw, "msgs_per_cpu_s"))
            if cfg["mode"] == "fixed-rate":
                ratios["p99_vs_raw"] = _ratio(p99, _ok_metric(raw, "latency.p99_ms"))
        c["ratios"] = ratios


_SUMMARY_METRICS = (
    "msgs_per_s",
    "mb_per_s",
    "cpu_s",
    "cpu_us_per_msg",
    "busy_cpu_us_per_msg",
    "msgs_per_cpu_s",
    "busy_core_share",
    "startup_s",
    "loadavg_after",
    "latency.p50_ms",
    "latency.p90_ms",
    "latency.p99_ms",
    "latency.p99_9_ms",
    "latency.max_ms",
)


#: Ratio names on cells of ours (see the module docstring).
_RATIOS = ("vs_builtin", "vs_raw", "cpu_vs_builtin", "cpu_vs_raw", "p99_vs_builtin", "p99_vs_raw")


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def summarize(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per distinct config (repetitions folded): medians of metrics and ratios."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for c in cells:
        groups.setdefault(config_key(c["config"], drop=("id", "repetition")), []).append(c)
    rows = []
    for members in groups.values():
        cfg = {k: v for k, v in members[0]["config"].items() if k not in ("id", "repetition")}
        row: dict[str, Any] = {
            "config": cfg,
            "cells": [m["id"] for m in members],
            "ok": sum(1 for m in members if m["status"] == "ok"),
            "failed": sum(1 for m in members if m["status"] == "failed"),
            "skipped": sum(1 for m in members if m["status"] == "skipped"),
        }
        for name in _SUMMARY_METRICS:
            vals = [v for v in (_ok_metric(m, name) for m in members) if v is not None]
            row[name.replace("latency.", "latency_")] = _median(vals)
        for r in _RATIOS:
            vals = [float(m["ratios"][r]) for m in members if (m.get("ratios") or {}).get(r) is not None]
            row[r] = _median(vals)
        rows.append(row)
    return rows


_CSV_CONFIG = (
    "matrix",
    "repetition",
    "broker",
    "variant",
    "mode",
    "partitions",
    "batch_size",
    "workers",
    "processes",
    "rate",
    "shape",
    "serde",
    "message_size",
    "keys",
    "messages",
    "duration",
    "warmup",
)
_CSV_METRICS = (
    "msgs_per_s",
    "mb_per_s",
    "reader_msgs_per_s",
    "expected",
    "received",
    "missing",
    "duplicates",
    "cpu_s",
    "cpu_us_per_msg",
    "busy_cpu_us_per_msg",
    "msgs_per_cpu_s",
    "busy_core_share",
    "startup_s",
    "wall_s",
    "loadavg_before",
    "loadavg_after",
    "offered_msgs_per_s",
    "sent_msgs_per_s",
)
_CSV_LATENCY = ("count", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "p99_9_ms", "max_ms")
_CSV_LOAD = ("sent", "delivered", "failed", "requests", "requests_per_s", "max_behind_ms")
_CSV_RATIOS = _RATIOS


def csv_columns() -> list[str]:
    """Column names of ``results.csv``."""
    return [
        "run_id",
        "id",
        "status",
        "reason",
        "broker_describe",
        *_CSV_CONFIG,
        *_CSV_METRICS,
        *(f"latency_{k}" for k in _CSV_LATENCY),
        *(f"load_{k}" for k in _CSV_LOAD),
        *(f"ratio_{k}" for k in _CSV_RATIOS),
    ]


def flat_row(run_id: str, cell: dict[str, Any]) -> dict[str, Any]:
    """One cell as a flat CSV row."""
    cfg = cell["config"]
    m = cell.get("metrics") or {}
    lat = m.get("latency") or {}
    load = cell.get("load") or {}
    ratios = cell.get("ratios") or {}
    row: dict[str, Any] = {
        "run_id": run_id,
        "id": cell["id"],
        "status": cell["status"],
        "reason": (cell.get("reason") or "").splitlines()[0] if cell.get("reason") else "",
        "broker_describe": (cell.get("broker") or {}).get("describe") or "",
    }
    row.update({k: cfg.get(k) for k in _CSV_CONFIG})
    row.update({k: m.get(k) for k in _CSV_METRICS})
    row.update({f"latency_{k}": lat.get(k) for k in _CSV_LATENCY})
    row.update({f"load_{k}": load.get(k) for k in _CSV_LOAD})
    row.update({f"ratio_{k}": ratios.get(k) for k in _CSV_RATIOS})
    return {k: ("" if v is None else v) for k, v in row.items()}


def redact_secrets(obj: Any) -> Any:
    """``obj`` with every secret setting (``sasl.password``, ...) redacted, at any depth.

    Cell configs carry the scenario's client settings (``consumer_config``,
    ``producer_config``), and the run records the scenario's text and
    command line: secret values are replaced wherever they appear.
    """
    found: set[str] = set()

    def collect(o: Any) -> None:
        if isinstance(o, dict):
            for k, v in o.items():
                if isinstance(k, str) and is_secret(k) and isinstance(v, str) and len(v) >= 3:
                    found.add(v)
                collect(v)
        elif isinstance(o, list):
            for v in o:
                collect(v)

    def clean(o: Any) -> Any:
        if isinstance(o, dict):
            return {k: (REDACTED if isinstance(k, str) and is_secret(k) else clean(v)) for k, v in o.items()}
        if isinstance(o, list):
            return [clean(v) for v in o]
        if isinstance(o, str):
            for secret in found:
                o = o.replace(secret, REDACTED)
        return o

    collect(obj)
    return clean(obj)


def write_results(doc: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.csv`` into ``out_dir``; returns both paths.

    Secret settings in ``doc`` are redacted in place first, so the report
    written from the same ``doc`` holds none either.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    for key, value in redact_secrets(doc).items():
        doc[key] = value
    add_ratios(doc["cells"])
    doc["summary"] = summarize(doc["cells"])
    jpath = out_dir / "results.json"
    tmp = jpath.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    tmp.replace(jpath)
    cpath = out_dir / "results.csv"
    with cpath.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=csv_columns())
        w.writeheader()
        for c in doc["cells"]:
            w.writerow(flat_row(doc["run_id"], c))
    return jpath, cpath


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a ``results.json`` (or the run folder holding one).

    Raises:
        FileNotFoundError: No results there.
        ValueError: The file is not a kafka-bench results file.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such results file")
    try:
        doc: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: not JSON: {exc}") from None
    if not isinstance(doc, dict) or "cells" not in doc or "run_id" not in doc:
        raise ValueError(f"{p}: not a kafka-bench results file (no run_id/cells)")
    doc.setdefault("_path", str(p))
    return doc
