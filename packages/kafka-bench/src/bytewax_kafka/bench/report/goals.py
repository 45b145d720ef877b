"""Goals a run is checked against, from a file of your own (``kafka-bench run ... --goals FILE``).

A goals file is TOML: one ``[[goal]]`` table per goal, naming a metric or a
ratio of :mod:`~bytewax_kafka.bench.report.metrics`, a bound (``at_least``
or ``at_most``), and optionally which cells it is about (``where``: config
values to match; ``variant`` defaults to ``ours``)::

    [[goal]]
    name = "busy CPU per message, ours over the built-in connector's"
    metric = "busy_cpu_us_per_msg_vs_builtin"
    at_most = 0.5
    where = { mode = "max-rate", partitions = 4 }

Each goal is checked on the median over repetitions of every matching
configuration; "every repetition" says whether the whole min-max range met
it too.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

from bytewax_kafka.bench.define.variants import VARIANTS, variant_label
from bytewax_kafka.bench.errors import ScenarioError
from bytewax_kafka.bench.report.metrics import METRICS, RATIOS, metric
from bytewax_kafka.bench.report.tables import Column, markdown_table

__all__ = ["Goal", "check_goals", "goals_section", "load_goals", "parse_goals"]

_KEYS = {"name", "metric", "at_least", "at_most", "where", "variant"}


@dataclass(frozen=True)
class Goal:
    """One goal: a metric (or ratio), a bound, the cells it is about."""

    name: str
    metric: str
    at_least: float | None = None
    at_most: float | None = None
    where: dict[str, Any] = field(default_factory=dict)
    variant: str = "ours"

    def met(self, value: float) -> bool:
        """Whether ``value`` meets the bound."""
        if self.at_least is not None and value < self.at_least:
            return False
        return not (self.at_most is not None and value > self.at_most)

    def target(self) -> str:
        """The bound as text: ``>= 2.00``."""
        m = metric(self.metric)
        parts = []
        if self.at_least is not None:
            parts.append(f">= {m.format(self.at_least)}")
        if self.at_most is not None:
            parts.append(f"<= {m.format(self.at_most)}")
        return " and ".join(parts)


def parse_goals(text: str, where: str = "<goals>") -> list[Goal]:
    """Goals from TOML text.

    Raises:
        ScenarioError: For invalid TOML, an unknown key or metric, or a goal without a bound.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{where}: not valid TOML: {exc}") from None
    tables = data.get("goal")
    if not isinstance(tables, list) or not tables or set(data) - {"goal"}:
        raise ScenarioError(f"{where}: expected [[goal]] tables only")
    goals = []
    for i, t in enumerate(tables, 1):
        at = f"{where}: goal #{i}"
        unknown = set(t) - _KEYS
        if unknown:
            raise ScenarioError(
                f"{at}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_KEYS))}"
            )
        name = t.get("metric")
        if name not in METRICS and name not in RATIOS:
            raise ScenarioError(
                f"{at}: metric: unknown metric {name!r}; use one of {', '.join([*METRICS, *RATIOS])}"
            )
        if t.get("at_least") is None and t.get("at_most") is None:
            raise ScenarioError(f"{at}: give at_least or at_most")
        variant = t.get("variant", "ours")
        if variant not in VARIANTS:
            raise ScenarioError(f"{at}: variant: expected one of {', '.join(VARIANTS)}")
        if not isinstance(t.get("where", {}), dict):
            raise ScenarioError(f"{at}: where: expected a table of config values")
        goals.append(
            Goal(
                name=str(t.get("name") or name),
                metric=str(name),
                at_least=None if t.get("at_least") is None else float(t["at_least"]),
                at_most=None if t.get("at_most") is None else float(t["at_most"]),
                where=dict(t.get("where", {})),
                variant=variant,
            )
        )
    return goals


def load_goals(path: str | Path) -> list[Goal]:
    """Goals from a file.

    Raises:
        ScenarioError: When the file is missing or invalid.
    """
    from bytewax_kafka.bench.define.scenario import read_text

    return parse_goals(read_text(path, "goals"), str(path))


def check_goals(goals: list[Goal], summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per goal and matching configuration: the median, the range, whether each met the goal."""
    out = []
    for g in goals:
        for r in summary:
            cfg = r["config"]
            if cfg["variant"] != g.variant or any(cfg.get(k) != v for k, v in g.where.items()):
                continue
            s = (r["ratios"] if g.metric in RATIOS else r["metrics"]).get(g.metric)
            if s is None:
                continue
            out.append(
                {
                    "goal": g,
                    "row": r,
                    "median": s["median"],
                    "met": g.met(s["median"]),
                    "every": g.met(s["min"]) and g.met(s["max"]),
                    "range": (s["min"], s["max"]),
                }
            )
    return out


def goals_section(goals: list[Goal], summary: list[dict[str, Any]], source: str) -> list[str]:
    """The report's goals table (after the summary)."""
    checked = check_goals(goals, summary)
    lines = ["### Goals", "", f"Checked against the goals in `{source}`.", ""]
    if not checked:
        return [*lines, "No cell of this run matches a goal.", ""]

    def fmt(c: dict[str, Any], v: float) -> str:
        return metric(c["goal"].metric).format(v)

    cols = [
        Column("goal", lambda c: c["goal"].name, right=False),
        Column(
            "cell",
            lambda c: f"{variant_label(c['row']['config']['variant'])} · {c['row']['label']}",
            right=False,
        ),
        Column("target", lambda c: c["goal"].target(), right=False),
        Column(
            "median (min-max)",
            lambda c: f"{fmt(c, c['median'])} ({fmt(c, c['range'][0])}-{fmt(c, c['range'][1])})",
        ),
        Column(
            "met",
            lambda c: (
                ("yes" if c["met"] else "**no**")
                + ("" if c["every"] == c["met"] else " (not in every repetition)")
            ),
            right=False,
        ),
    ]
    return [*lines, *markdown_table(cols, checked), ""]
