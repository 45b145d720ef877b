r"""Expand scenarios into cells, and apply command-line overrides.

Cells are ordered broker first (each broker is started once), then
repetition, matrix, the other axes, and variant last: a cell's baselines run
right beside it, on the same broker, with the same data shape, and each
repetition rotates which variant goes first.

Example:
    >>> from bytewax_kafka.bench.define.scenario import parse_scenario
    >>> sc = parse_scenario("batch_size = [100, 1000]\nvariant = ['ours', 'raw']\nrepetitions = 2")
    >>> [(c.repetition, c.batch_size, c.variant) for c in expand(sc)][:6]  # doctest: +NORMALIZE_WHITESPACE
    [(1, 100, 'ours'), (1, 100, 'raw'), (1, 1000, 'ours'), (1, 1000, 'raw'),
     (2, 1000, 'raw'), (2, 1000, 'ours')]
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
from collections.abc import Iterable
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

from bytewax_kafka.bench.define.cell import Cell
from bytewax_kafka.bench.define.keys import ALIASES, AXES, RATE_MODES, SETTINGS, check_axis, check_setting
from bytewax_kafka.bench.define.scenario import Scenario, finish_matrix
from bytewax_kafka.bench.define.variants import VARIANTS
from bytewax_kafka.bench.errors import ScenarioError

__all__ = ["RATE_ONLY", "apply_overrides", "expand", "parse_set"]

#: Overrides that only apply to matrices that offer a rate (max-rate ones
#: ignore them, so ``--set rate=50000`` on a mixed scenario changes its
#: latency cells only).
RATE_ONLY = frozenset({"rate", "duration", "shape", "ramp_start", "spike_factor", "spike_seconds", "users"})

#: Axis order of the expansion (variant is innermost, broker outermost).
_AXIS_ORDER = (
    "mode",
    "guarantee",
    "gc_tuning",
    "flow_python",
    "consumer_config",
    "producer_config",
    "serde",
    "message_size",
    "keys",
    "partitions",
    "processes",
    "workers",
    "batch_size",
    "rate",
    "variant",
)


def expand(scenario: Scenario) -> list[Cell]:
    """All cells of a scenario, in run order.

    Broker first (each broker starts once), then repetition; within a
    repetition every matrix and combination of axes, the variants of one
    combination side by side. Each repetition rotates the variants' order
    (``ours, builtin, raw``; then ``builtin, raw, ours``; ...) and the order
    of each matrix's combinations, so that nothing always runs first.

    Raises:
        ScenarioError: When a variant is asked for a guarantee it cannot give.
    """
    rows: list[dict[str, Any]] = []
    for m in scenario.matrices:
        axes = dict(m.axes)
        axes["mode"] = [m.settings["mode"]]
        if "rate" not in axes:
            axes["rate"] = [None]
        names = [a for a in _AXIS_ORDER if a in axes and a != "variant"]
        for combo in itertools.product(*(axes[a] for a in names)):
            base = dict(zip(names, combo, strict=True))
            variants = []
            for v in axes["variant"]:
                row = {**base, "variant": v}
                if any(all(row.get(k) in vs for k, vs in ex.items()) for ex in m.exclude):
                    continue
                if row["guarantee"] not in VARIANTS[v].guarantees:
                    raise ScenarioError(
                        f"matrix {m.name!r}: variant {v} cannot give {row['guarantee']} "
                        f"(it gives {', '.join(VARIANTS[v].guarantees)}); leave it out with "
                        f"exclude = [{{ variant = {v!r}, guarantee = {row['guarantee']!r} }}]"
                    )
                variants.append(v)
            if not variants:
                continue
            for broker in axes["broker"]:
                rows.append(
                    {
                        **base,
                        "broker": broker,
                        "matrix": m.name,
                        "_settings": m.settings,
                        "_variants": variants,
                    }
                )
    reps = max((m.settings["repetitions"] for m in scenario.matrices), default=1)
    brokers: list[str] = []
    for r in rows:
        if r["broker"] not in brokers:
            brokers.append(r["broker"])
    cells: list[Cell] = []
    for broker in brokers:
        for rep in range(reps):
            for m in scenario.matrices:
                mine = [r for r in rows if r["broker"] == broker and r["matrix"] == m.name]
                if rep >= m.settings["repetitions"] or not mine:
                    continue
                for r in _rotated(mine, rep):
                    for v in _rotated(r["_variants"], rep):
                        cells.append(_cell(len(cells), rep, {**r, "variant": v}, m.settings))
    return cells


def _rotated(items: list[Any], by: int) -> list[Any]:
    shift = by % len(items)
    return items[shift:] + items[:shift]


def _cell(index: int, rep: int, row: dict[str, Any], s: dict[str, Any]) -> Cell:
    mode = row["mode"]
    duration = s["duration"]
    messages: int | None = s["messages"]
    if mode == "fixed-rate":
        if duration is None:  # given as a message count
            duration = max(1.0, messages / row["rate"]) if messages else 10.0
        messages = None
    elif mode == "max-sustainable":
        messages = None
    elif mode == "backlog-drain" and messages is None:
        messages = int(row["rate"] * 10)
    if mode == "max-rate":
        duration = None
    fields = {k: s[k] for k in SETTINGS if k in s and k not in ("repetitions", "broker_warmup")}
    fields.update({k: row[k] for k in AXES if k in row})
    fields.update(
        id=f"{index + 1:03d}",
        matrix=row["matrix"],
        repetition=rep + 1,
        messages=messages,
        duration=duration,
    )
    return Cell(**fields)


def _parse_scalar(text: str) -> Any:
    text = text.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_set(expr: str) -> tuple[str, Any]:
    """Parse ``KEY=V1,V2`` (a ``--set`` argument) into a key and a value or list.

    Values are read as TOML scalars where they parse (``100``, ``2.5``),
    else as strings (``tansu``, ``10%``).

    Raises:
        ScenarioError: Without ``=`` or for an unknown key.
    """
    if "=" not in expr:
        raise ScenarioError(f"--set {expr!r}: expected KEY=VALUE[,VALUE...], e.g. batch_size=100,1000")
    key, _, raw = expr.partition("=")
    key = ALIASES.get(key.strip(), key.strip())
    if key not in AXES and key not in SETTINGS:
        known = ", ".join(sorted([*AXES, *SETTINGS]))
        raise ScenarioError(f"--set {expr!r}: unknown key {key!r}; known keys: {known}")
    # external=H1:P1,H2:P2 keeps its commas: use --broker once per broker.
    keep_whole = key == "broker" and raw.startswith("external=")
    items = [raw] if keep_whole else raw.split(",")
    values = [_parse_scalar(v) for v in items if v.strip()]
    if not values:
        raise ScenarioError(f"--set {expr!r}: no value given")
    if key in SETTINGS:
        if len(values) != 1:
            raise ScenarioError(f"--set {expr!r}: {key} takes one value")
        return key, values[0]
    return key, values


def apply_overrides(scenario: Scenario, overrides: Iterable[tuple[str, Any]]) -> Scenario:
    """A copy of ``scenario`` with ``overrides`` set in every matrix (last wins).

    Keys of :data:`RATE_ONLY` skip max-rate matrices and ``messages``
    skips fixed-rate and max-sustainable ones.

    Raises:
        ScenarioError: When a value is invalid or the result breaks a rule
            (e.g. a rate on a max-rate matrix).
    """
    overrides = list(overrides)
    if not overrides:
        return scenario
    out: list[Any] = []
    for m in scenario.matrices:
        where = f"override of matrix {m.name!r}"
        merged: dict[str, Any] = {**m.axes}
        for key, spec in SETTINGS.items():
            value = m.settings.get(key)
            if value is not None and value != spec.default:
                merged[key] = value
        if m.settings.get("messages_given"):
            merged["messages"] = m.settings["messages"]
        if m.settings.get("mode") == "fixed-rate" and m.settings.get("duration") is not None:
            merged["duration"] = m.settings["duration"]
        mode = dict(overrides).get("mode", m.settings["mode"])
        for key, value in overrides:
            if mode not in RATE_MODES and key in RATE_ONLY:
                continue
            if mode in ("fixed-rate", "max-sustainable") and key == "messages":
                continue
            if key in AXES:
                merged[key] = check_axis(key, value, where)
            else:
                merged[key] = check_setting(key, value, where)
        fm = finish_matrix(m.name, merged, where)
        fm.exclude = m.exclude
        out.append(fm)
    return dataclasses.replace(scenario, matrices=out)
