r"""Expand scenarios into cells, and apply command-line overrides.

A *cell* is one run of one flow variant with one set of parameters on one
broker. Cells are ordered broker first (each broker is started once),
then repetition, matrix, the other axes, and variant last: a cell's
baselines run right after it, on the same broker, with the same data shape.

Example:
    >>> from bytewax_kafka.bench.scenario import parse_scenario
    >>> sc = parse_scenario("batch_size = [100, 1000]\nvariant = ['ours', 'raw']")
    >>> [(c.batch_size, c.variant) for c in expand(sc)]
    [(100, 'ours'), (100, 'raw'), (1000, 'ours'), (1000, 'raw')]
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

from bytewax_kafka.bench.scenario import (
    ALIASES,
    AXES,
    SETTINGS,
    Scenario,
    ScenarioError,
    check_axis,
    check_setting,
    finish_matrix,
)

__all__ = ["FIXED_RATE_ONLY", "Cell", "apply_overrides", "expand", "parse_set"]

#: Overrides that only apply to fixed-rate matrices (max-rate ones ignore them,
#: so ``--set rate=50000`` on a mixed scenario changes its latency cells only).
FIXED_RATE_ONLY = frozenset(
    {"rate", "duration", "shape", "ramp_start", "spike_factor", "spike_seconds", "users"}
)

#: Axis order of the expansion (variant is innermost, broker outermost).
_AXIS_ORDER = (
    "mode",
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


@dataclass(frozen=True, eq=False)
class Cell:
    """Everything one run needs to know; stored whole with its result."""

    id: str
    matrix: str
    repetition: int
    broker: str
    variant: str
    mode: str
    partitions: int
    batch_size: int
    workers: int
    processes: int
    rate: int | None
    serde: str
    message_size: int
    keys: str
    key_space: int
    messages: int | None
    duration: float | None
    warmup: float | str
    shape: str
    ramp_start: float
    spike_factor: float
    spike_seconds: float
    users: int | None
    timeout: float | None
    consumer_config: dict[str, Any] | None = None
    producer_config: dict[str, Any] | None = None
    gc_threshold: int | None = None

    def config(self) -> dict[str, Any]:
        """The cell's parameters as a plain dict."""
        return dataclasses.asdict(self)

    def group_key(self) -> tuple[Any, ...]:
        """Identifies the cell's configuration across variants (for baselines) and repetitions."""
        return tuple(
            (k, v) for k, v in sorted(self.config().items()) if k not in ("id", "variant", "repetition")
        )

    def label(self) -> str:
        """Short human label: variant, broker and the main parameters."""
        parts = [
            self.variant,
            self.broker,
            f"p={self.partitions}",
            f"bs={self.batch_size}",
            f"w={self.workers}",
        ]
        if self.processes > 1:
            parts.append(f"procs={self.processes}")
        if self.serde != "none":
            parts.append(self.serde)
        if self.mode == "fixed-rate":
            parts.append(f"{self.rate:,} msg/s {self.shape}")
        else:
            parts.append(f"{self.messages:,} msgs")
        return " ".join(parts)


def expand(scenario: Scenario) -> list[Cell]:
    """All cells of a scenario, in run order."""
    rows: list[dict[str, Any]] = []
    for m in scenario.matrices:
        axes = dict(m.axes)
        axes["mode"] = [m.settings["mode"]]
        if "rate" not in axes:
            axes["rate"] = [None]
        names = [a for a in _AXIS_ORDER if a in axes]
        for combo in itertools.product(*(axes[a] for a in names)):
            row = dict(zip(names, combo, strict=True))
            if any(all(row.get(k) in vs for k, vs in ex.items()) for ex in m.exclude):
                continue
            for broker in axes["broker"]:
                rows.append({**row, "broker": broker, "matrix": m.name, "_settings": m.settings})
    reps = max((m.settings["repetitions"] for m in scenario.matrices), default=1)
    brokers: list[str] = []
    for r in rows:
        if r["broker"] not in brokers:
            brokers.append(r["broker"])
    cells: list[Cell] = []
    for broker in brokers:
        for rep in range(reps):
            for r in rows:
                s = r["_settings"]
                if r["broker"] != broker or rep >= s["repetitions"]:
                    continue
                cells.append(_cell(len(cells), rep, r, s))
    return cells


def _cell(index: int, rep: int, row: dict[str, Any], s: dict[str, Any]) -> Cell:
    fixed = row["mode"] == "fixed-rate"
    duration = s["duration"]
    messages: int | None = s["messages"]
    if fixed:
        if duration is None:  # given as a message count
            duration = max(1.0, messages / row["rate"]) if messages else 10.0
        messages = None
    return Cell(
        id=f"{index + 1:03d}",
        matrix=row["matrix"],
        repetition=rep + 1,
        broker=row["broker"],
        variant=row["variant"],
        mode=row["mode"],
        partitions=row["partitions"],
        batch_size=row["batch_size"],
        workers=row["workers"],
        processes=row["processes"],
        rate=row["rate"],
        serde=row["serde"],
        message_size=row["message_size"],
        keys=row["keys"],
        key_space=s["key_space"],
        messages=messages,
        duration=duration if fixed else None,
        warmup=s["warmup"],
        shape=s["shape"],
        ramp_start=s["ramp_start"],
        spike_factor=s["spike_factor"],
        spike_seconds=s["spike_seconds"],
        users=s["users"],
        timeout=s["timeout"],
        consumer_config=s["consumer_config"],
        producer_config=s["producer_config"],
        gc_threshold=s["gc_threshold"],
    )


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

    Keys of :data:`FIXED_RATE_ONLY` skip max-rate matrices and ``messages``
    skips fixed-rate ones.

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
            if mode == "max-rate" and key in FIXED_RATE_ONLY:
                continue
            if mode == "fixed-rate" and key == "messages":
                continue
            if key in AXES:
                merged[key] = check_axis(key, value, where)
            else:
                merged[key] = check_setting(key, value, where)
        fm = finish_matrix(m.name, merged, where)
        fm.exclude = m.exclude
        out.append(fm)
    return dataclasses.replace(scenario, matrices=out)
