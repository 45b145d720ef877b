"""The one owner of the results document: creating it, redacting it, ratios, summaries, files.

``results.json`` holds the run id, the scenario (its text too), the command
line, the environment, the brokers, the notices a reader must see, the
warm-ups and probes, every cell with its full config, status, metrics and
ratios, and a summary: per configuration, the median of every metric over
the repetitions with its spread. Ratios compare a cell of ours with the
baselines that ran on the same broker, in the same repetition, with the same
parameters (:data:`~bytewax_kafka.bench.report.metrics.RATIOS`).

Example:
    >>> doc = Results.create(run_id="r1", scenario={"name": "s"}, command=["kafka-bench"], environment={})
    >>> doc.run_id, doc.data["schema"]
    ('r1', 2)
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bytewax_kafka.bench.define.cell import Cell, CellResult, cell_label, group_key
from bytewax_kafka.bench.define.variants import VARIANTS
from bytewax_kafka.bench.errors import ResultsError
from bytewax_kafka.bench.report.metrics import METRICS, MODE_FIGURES, RATIOS
from bytewax_kafka.bench.report.stats import spread
from bytewax_kafka.core.config import REDACTED, is_secret

__all__ = ["SCHEMA_VERSION", "Results", "redact_secrets"]

#: Version of the document's layout; documents of version 1 are read (their summaries rebuilt).
SCHEMA_VERSION = 2

_CSV_CONFIG = [f for f in Cell().config() if f not in ("id", "consumer_config", "producer_config")]


def redact_secrets(obj: Any) -> Any:
    """``obj`` with every secret setting (``sasl.password``, ...) redacted, at any depth.

    Cell configs carry the scenario's client settings, and the run records
    the scenario's text and command line: secret values are replaced
    wherever they appear.
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


def _secrets_of(text: str) -> dict[str, Any]:
    """The secret settings a scenario's TOML text holds, to redact the text with them."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
    try:
        return dict(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, TypeError):
        return {}


class Results:
    """A results document (``data``, as ``results.json`` holds it) and everything that changes it."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @classmethod
    def create(
        cls,
        *,
        run_id: str,
        scenario: dict[str, Any],
        command: list[str],
        environment: dict[str, Any],
        goals: str | None = None,
    ) -> Results:
        """A new document for a run that is starting (secrets in the scenario and command redacted)."""
        data: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "run_id": run_id,
            "scenario": scenario,
            "command": command,
            "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "finished": None,
            "environment": environment,
            "brokers": {},
            "notices": [],
            "warmups": [],
            "probes": [],
            "cells": [],
            "summary": [],
        }
        # The scenario's parsed settings tell which strings are secrets, then go.
        data["_secrets"] = _secrets_of(str(scenario.get("text") or ""))
        doc = cls(redact_secrets(data))
        doc.data.pop("_secrets", None)
        return doc

    # -- reading ----------------------------------------------------------------

    @property
    def run_id(self) -> str:
        """The run's id."""
        return str(self.data["run_id"])

    @property
    def cells(self) -> list[dict[str, Any]]:
        """Every cell, in run order."""
        cells: list[dict[str, Any]] = self.data["cells"]
        return cells

    @property
    def summary(self) -> list[dict[str, Any]]:
        """One row per configuration (repetitions folded)."""
        rows: list[dict[str, Any]] = self.data.get("summary") or []
        return rows

    @property
    def notices(self) -> list[str]:
        """What a reader must not miss (a fallback broker, short windows, a busy machine)."""
        return list(self.data.get("notices") or [])

    # -- changing ---------------------------------------------------------------

    def record(self, result: CellResult) -> None:
        """Add a finished cell (redacted), and refresh ratios and summary."""
        self.cells.append(redact_secrets(result.to_dict()))
        self.refresh()

    def finish(
        self,
        *,
        brokers: dict[str, Any],
        notices: list[str],
        warmups: list[Any],
        probes: list[Any],
        elapsed_s: float,
    ) -> None:
        """Close the run: brokers, notices, warm-ups and probes, finish time."""
        self.data["brokers"] = redact_secrets(brokers)
        self.data["notices"] = list(dict.fromkeys([*self.notices, *notices]))
        self.data["warmups"] = warmups
        self.data["probes"] = probes
        self.data["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self.data["elapsed_s"] = round(elapsed_s, 1)
        self.refresh()

    def refresh(self) -> None:
        """Recompute every cell's ratios and the summary from the cells."""
        add_ratios(self.cells)
        self.data["summary"] = summarize(self.cells)

    # -- files ------------------------------------------------------------------

    def write(self, out_dir: Path) -> tuple[Path, Path]:
        """Write ``results.json`` and ``results.csv`` into ``out_dir``; returns both paths."""
        out_dir.mkdir(parents=True, exist_ok=True)
        jpath = out_dir / "results.json"
        tmp = jpath.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=str), encoding="utf-8")
        tmp.replace(jpath)
        cpath = out_dir / "results.csv"
        with cpath.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=csv_columns())
            w.writeheader()
            for c in self.cells:
                w.writerow(flat_row(self.run_id, c))
        return jpath, cpath

    @classmethod
    def load(cls, path: str | Path) -> Results:
        """Read a ``results.json`` (or the run folder holding one); summaries are rebuilt from its cells.

        Raises:
            FileNotFoundError: No results there.
            ResultsError: The file is not a kafka-bench results document.
        """
        p = Path(path)
        if p.is_dir():
            p = p / "results.json"
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such results file")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ResultsError(f"{p}: not JSON: {exc}") from None
        if not isinstance(data, dict) or "cells" not in data or "run_id" not in data:
            raise ResultsError(f"{p}: not a kafka-bench results file (no run_id/cells)")
        if int(data.get("schema", 1)) > SCHEMA_VERSION:
            raise ResultsError(f"{p}: results schema {data['schema']} is newer than this kafka-bench reads")
        data.setdefault("notices", [])
        data["_path"] = str(p)
        doc = cls(data)
        doc.refresh()
        return doc


def _value(cell: dict[str, Any], name: str) -> float | None:
    if cell.get("status") != "ok":
        return None
    return METRICS[name].value(cell.get("metrics") or {})


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 4)


def add_ratios(cells: list[dict[str, Any]]) -> None:
    """Set ``ratios`` on each cell of ours from its baselines in the same repetition."""
    index: dict[tuple[str, int, str], dict[str, Any]] = {}
    for c in cells:
        cfg = c["config"]
        index[(group_key(cfg), cfg["repetition"], cfg["variant"])] = c
    raw = [v.name for v in VARIANTS.values() if v.role == "ceiling"]
    for c in cells:
        cfg = c["config"]
        variant = VARIANTS.get(cfg["variant"])
        if variant is None or variant.role != "ours":
            continue
        key, rep = group_key(cfg), cfg["repetition"]
        builtin = next((index[(key, rep, b)] for b in variant.versus if (key, rep, b) in index), None)
        ceiling = next((index[(key, rep, r)] for r in raw if (key, rep, r) in index), None)
        ratios: dict[str, Any] = {}
        figures = MODE_FIGURES.get(cfg["mode"], ())
        for ratio in RATIOS.values():
            if ratio.metric.name not in figures:
                continue
            base = builtin if ratio.versus == "built-in" else ceiling
            if base is not None:
                value = _ratio(_value(c, ratio.metric.name), _value(base, ratio.metric.name))
                if value is not None:
                    ratios[ratio.name] = value
        if builtin is not None:
            ratios["builtin_variant"] = builtin["config"]["variant"]
        c["ratios"] = ratios


def summarize(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per distinct config (repetitions folded): the spread of every metric and ratio."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for c in cells:
        groups.setdefault(group_key(c["config"], drop=("id", "repetition")), []).append(c)
    rows = []
    for members in groups.values():
        cfg = {k: v for k, v in members[0]["config"].items() if k not in ("id", "repetition")}
        row: dict[str, Any] = {
            "config": cfg,
            "label": cell_label(cfg, variant=False),
            "cells": [m["id"] for m in members],
            "ok": sum(1 for m in members if m["status"] == "ok"),
            "failed": sum(1 for m in members if m["status"] == "failed"),
            "skipped": sum(1 for m in members if m["status"] == "skipped"),
            "metrics": {},
            "ratios": {},
            "notices": sorted({n for m in members for n in (m.get("notices") or [])}),
        }
        for name in METRICS:
            vals = [v for v in (_value(m, name) for m in members) if v is not None]
            if vals:
                row["metrics"][name] = spread(vals).to_dict()
        for name in RATIOS:
            vals = [
                float(m["ratios"][name]) for m in members if (m.get("ratios") or {}).get(name) is not None
            ]
            if vals:
                row["ratios"][name] = spread(vals).to_dict()
        rows.append(row)
    return rows


def csv_columns() -> list[str]:
    """Column names of ``results.csv``: config, status, every metric and ratio."""
    return ["run_id", "id", "status", "reason", "broker_describe", *_CSV_CONFIG, *METRICS, *RATIOS]


def flat_row(run_id: str, cell: dict[str, Any]) -> dict[str, Any]:
    """One cell as a flat CSV row."""
    cfg = cell["config"]
    m = cell.get("metrics") or {}
    ratios = cell.get("ratios") or {}
    row: dict[str, Any] = {
        "run_id": run_id,
        "id": cell["id"],
        "status": cell["status"],
        "reason": (cell.get("reason") or "").splitlines()[0] if cell.get("reason") else "",
        "broker_describe": (cell.get("broker") or {}).get("describe") or "",
    }
    row.update({k: cfg.get(k) for k in _CSV_CONFIG})
    row.update({name: metric.value(m) for name, metric in METRICS.items()})
    row.update({name: ratios.get(name) for name in RATIOS})
    return {k: ("" if v is None else v) for k, v in row.items()}


def configs(rows: Iterable[dict[str, Any]]) -> list[str]:
    """The distinct labels (without variant) of summary rows, in order."""
    return list(dict.fromkeys(r["label"] for r in rows))
