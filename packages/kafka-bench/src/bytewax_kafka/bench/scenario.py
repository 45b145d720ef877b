"""Scenario files: TOML declaring one or more benchmark matrices.

A scenario's top-level keys are defaults for each ``[[matrix]]`` table; a
file without ``[[matrix]]`` tables is one matrix. Every *axis* key takes a
value or a list of values; the matrix is the product of its axes::

    name = "quick"
    description = "Smoke run on Tansu."
    broker = "tansu"
    partitions = 4
    message_size = 100

    [[matrix]]
    name = "throughput"
    mode = "max-rate"
    messages = 100_000
    batch_size = [100, 1000]
    variant = ["ours", "builtin", "raw"]

    [[matrix]]
    name = "latency"
    mode = "fixed-rate"
    rate = [10_000, 50_000]
    duration = 10
    warmup = 2

See :data:`AXES` and :data:`SETTINGS` for every key, its type and default.
Errors name the file, the matrix and the key.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

from bytewax_kafka.bench.payload import KEY_DISTRIBUTIONS, SERDES

__all__ = [
    "ALIASES",
    "AXES",
    "BROKER_KINDS",
    "MODES",
    "SETTINGS",
    "SHAPES",
    "VARIANTS",
    "Matrix",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "parse_scenario",
]

#: Flows a cell can run: our operators or our source/sink used directly,
#: Bytewax 0.21.1's built-in operators or source/sink, and a raw confluent-kafka loop.
VARIANTS = ("ours", "ours-core", "builtin", "builtin-core", "raw")
#: ``max-rate``: pre-filled input, as fast as the flow goes. ``fixed-rate``:
#: locust offers a given rate while the flow runs.
MODES = ("max-rate", "fixed-rate")
#: Locust load shapes for fixed-rate cells.
SHAPES = ("steady", "ramp", "spike")
#: Broker names; ``external=HOST:PORT[,HOST:PORT]`` names a running cluster.
BROKER_KINDS = ("tansu", "kafka", "kafka-cluster", "redpanda", "kafka-container", "mock")


class ScenarioError(ValueError):
    """A scenario file, or an override of it, is invalid; the message says where."""


def _int(minimum: int) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"expected an integer >= {minimum}, got {v!r}")
        if v < minimum:
            raise ValueError(f"expected an integer >= {minimum}, got {v}")
        return v

    return check


def _number(minimum: float, *, strict: bool = False) -> Callable[[Any], float]:
    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"expected a number, got {v!r}")
        if v < minimum or (strict and v == minimum):
            raise ValueError(f"expected a number {'>' if strict else '>='} {minimum:g}, got {v}")
        return float(v)

    return check


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if not isinstance(v, str) or v not in options:
            raise ValueError(f"expected one of {', '.join(options)}; got {v!r}")
        return v

    return check


def _broker(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError(f"expected a broker name, got {v!r}")
    v = v.strip()
    if v.startswith("external="):
        if not v.split("=", 1)[1].strip():
            raise ValueError("external needs an address: external=HOST:PORT")
        return str(v)
    if v not in BROKER_KINDS:
        raise ValueError(f"expected one of {', '.join(BROKER_KINDS)} or external=HOST:PORT; got {v!r}")
    return str(v)


def _message_size(v: Any) -> int:
    n = _int(16)(v)  # the header (send time, sequence number) takes 16 bytes
    return n


def _warmup(v: Any) -> float | str:
    """Seconds (a number) or a fraction of the cell (``"10%"``)."""
    if isinstance(v, str):
        text = v.strip()
        if text.endswith("%"):
            try:
                pct = float(text[:-1])
            except ValueError:
                raise ValueError(f"expected seconds or a percentage such as '10%', got {v!r}") from None
            if not 0 <= pct < 100:
                raise ValueError(f"a warm-up percentage must be in [0, 100), got {v!r}")
            return f"{pct:g}%"
        raise ValueError(f"expected seconds or a percentage such as '10%', got {v!r}")
    return _number(0.0)(v)


def _client_config(v: Any) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ValueError('expected a table of librdkafka settings, e.g. {"fetch.wait.max.ms" = 10}')
    for k, val in v.items():
        if isinstance(val, dict | list):
            raise ValueError(f"setting {k!r}: expected a string, number or boolean, got {val!r}")
    return dict(v)


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def opt(v: Any) -> Any:
        if v is None or v == "auto":
            return None
        return check(v)

    return opt


@dataclass(frozen=True)
class Key:
    """One scenario key: how to check a value, its default, what it means."""

    check: Callable[[Any], Any]
    default: Any
    help: str


#: Keys whose value may be a list: a matrix runs every combination.
AXES: dict[str, Key] = {
    "broker": Key(
        _broker, "tansu", "tansu | kafka | kafka-cluster | redpanda | kafka-container | external=H:P"
    ),
    "variant": Key(_choice(VARIANTS), ["ours", "builtin", "raw"], " | ".join(VARIANTS)),
    "partitions": Key(_int(1), 4, "partitions of the input and output topics"),
    "batch_size": Key(_int(1), 1000, "source batch size (messages per consume)"),
    "workers": Key(_int(1), 1, "worker threads per process (bytewax -w)"),
    "processes": Key(_int(1), 1, "flow processes (bytewax -i/-a)"),
    "rate": Key(_int(1), None, "offered msg/s (fixed-rate mode only)"),
    "serde": Key(
        _choice(SERDES), "none", " | ".join(SERDES) + ": value format the flow decodes and re-encodes"
    ),
    "message_size": Key(_message_size, 100, "value bytes (>= 16)"),
    "keys": Key(_choice(KEY_DISTRIBUTIONS), "uniform", " | ".join(KEY_DISTRIBUTIONS)),
}

#: Keys taking a single value.
SETTINGS: dict[str, Key] = {
    "mode": Key(_choice(MODES), "max-rate", " | ".join(MODES)),
    "messages": Key(_int(1), 100_000, "max-rate: messages pre-filled; fixed-rate: alternative to duration"),
    "duration": Key(_number(0.0, strict=True), None, "fixed-rate: seconds of offered load (default 10)"),
    "warmup": Key(_warmup, "10%", "excluded start: seconds, or '10%' of the messages/duration"),
    "repetitions": Key(_int(1), 1, "times each cell runs (medians are reported)"),
    "shape": Key(_choice(SHAPES), "steady", "fixed-rate load shape: " + " | ".join(SHAPES)),
    "ramp_start": Key(_number(0.0), 0.1, "ramp: starting fraction of the rate"),
    "spike_factor": Key(_number(1.0), 2.0, "spike: rate multiplier during the spike"),
    "spike_seconds": Key(_number(0.0, strict=True), 2.0, "spike: length of the spike (it starts mid-run)"),
    "key_space": Key(_int(1), 1000, "distinct keys"),
    "users": Key(_optional(_int(1)), None, "locust users at the full rate (default: one per 10000 msg/s)"),
    "consumer_config": Key(
        _optional(_client_config), None, "librdkafka settings for every variant's consumer (a table)"
    ),
    "producer_config": Key(
        _optional(_client_config), None, "librdkafka settings for every variant's producer (a table)"
    ),
    "gc_threshold": Key(
        _optional(_int(0)),
        None,
        "gen-0 threshold of Python's cyclic GC in every flow process (0 disables it; default: Python's 700)",
    ),
    "timeout": Key(
        _optional(_number(0.0, strict=True)), None, "seconds a cell may take (default: from its size)"
    ),
}

#: Alternative spellings accepted for some keys.
ALIASES = {"brokers": "broker", "variants": "variant", "rates": "rate", "batch_sizes": "batch_size"}

_TOP_ONLY = {"name", "description", "matrix"}


@dataclass
class Matrix:
    """One matrix of a scenario: axes (lists) and settings (single values)."""

    name: str
    axes: dict[str, list[Any]]
    settings: dict[str, Any]
    exclude: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Scenario:
    """A parsed, validated scenario."""

    name: str
    description: str
    matrices: list[Matrix]
    path: str | None = None
    text: str = ""


def _canonical(key: str) -> str:
    return ALIASES.get(key, key)


def check_axis(key: str, value: Any, where: str) -> list[Any]:
    """Validate an axis value (scalar or list) into a non-empty, duplicate-free list."""
    spec = AXES[key]
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ScenarioError(f"{where}: {key}: the list is empty")
    out: list[Any] = []
    for v in values:
        try:
            checked = spec.check(v)
        except ValueError as exc:
            raise ScenarioError(f"{where}: {key}: {exc}") from None
        if checked not in out:
            out.append(checked)
    return out


def check_setting(key: str, value: Any, where: str) -> Any:
    """Validate a single-valued setting."""
    if isinstance(value, list):
        raise ScenarioError(f"{where}: {key}: takes one value, not a list")
    try:
        return SETTINGS[key].check(value)
    except ValueError as exc:
        raise ScenarioError(f"{where}: {key}: {exc}") from None


def _collect(table: Mapping[str, Any], where: str, *, top: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw_key, value in table.items():
        key = _canonical(raw_key)
        if top and key in _TOP_ONLY:
            continue
        if not top and key in ("name", "exclude"):
            continue
        if key in out:
            raise ScenarioError(f"{where}: {raw_key}: given twice (also as {key!r})")
        if key in AXES:
            out[key] = check_axis(key, value, where)
        elif key in SETTINGS:
            out[key] = check_setting(key, value, where)
        elif key == "exclude":
            out[key] = value
        else:
            known = sorted([*AXES, *SETTINGS, "name", "exclude"])
            raise ScenarioError(f"{where}: unknown key {raw_key!r}; known keys: {', '.join(known)}")
    return out


def _check_exclude(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise ScenarioError(f"{where}: exclude: expected a list of tables such as [{{variant = 'raw'}}]")
    out = []
    for entry in value:
        checked: dict[str, Any] = {}
        for k, v in entry.items():
            key = _canonical(k)
            if key not in AXES:
                raise ScenarioError(f"{where}: exclude: {k!r} is not an axis ({', '.join(AXES)})")
            checked[key] = check_axis(key, v, f"{where}: exclude")
        out.append(checked)
    return out


def finish_matrix(name: str, merged: dict[str, Any], where: str) -> Matrix:
    """Fill defaults and check the rules between keys."""
    axes: dict[str, list[Any]] = {}
    settings: dict[str, Any] = {}
    for key, spec in AXES.items():
        if key in merged:
            axes[key] = merged[key]
        elif spec.default is not None:
            axes[key] = spec.default if isinstance(spec.default, list) else [spec.default]
    for key, spec in SETTINGS.items():
        settings[key] = merged.get(key, spec.default)
    mode = settings["mode"]
    if mode == "fixed-rate":
        if "rate" not in axes:
            raise ScenarioError(f"{where}: rate: fixed-rate mode needs a rate (msg/s), e.g. rate = [10000]")
        if settings["duration"] is None:
            if "messages" in merged:
                settings["duration"] = None  # derived per rate in the matrix expansion
            else:
                settings["duration"] = 10.0
    else:
        if "rate" in axes:
            raise ScenarioError(f"{where}: rate: only fixed-rate mode takes a rate (mode is {mode!r})")
        if merged.get("duration") is not None:
            raise ScenarioError(
                f"{where}: duration: max-rate mode pre-fills a message count; use messages = N"
            )
        if merged.get("shape") not in (None, "steady"):
            raise ScenarioError(f"{where}: shape: load shapes apply to fixed-rate mode only")
    settings["messages_given"] = "messages" in merged
    exclude = _check_exclude(merged.get("exclude", []), where)
    return Matrix(name=name, axes=axes, settings=settings, exclude=exclude)


def parse_scenario(text: str, path: str | None = None) -> Scenario:
    """Parse and validate scenario TOML text.

    Raises:
        ScenarioError: On a TOML syntax error or an invalid key or value.
    """
    label = path or "<scenario>"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{label}: not valid TOML: {exc}") from None
    name = data.get("name", Path(path).stem if path else "scenario")
    if not isinstance(name, str) or not name:
        raise ScenarioError(f"{label}: name: expected a non-empty string")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ScenarioError(f"{label}: description: expected a string")
    top = _collect(data, label, top=True)
    tables = data.get("matrix")
    if tables is None:
        tables = [{}]
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables) or not tables:
        raise ScenarioError(f"{label}: matrix: expected [[matrix]] tables")
    matrices: list[Matrix] = []
    seen: set[str] = set()
    for i, table in enumerate(tables):
        mname = table.get("name", name if len(tables) == 1 else f"matrix-{i + 1}")
        if not isinstance(mname, str) or not mname:
            raise ScenarioError(f"{label}: matrix #{i + 1}: name: expected a non-empty string")
        if mname in seen:
            raise ScenarioError(f"{label}: matrix {mname!r}: the name is used twice")
        seen.add(mname)
        where = f"{label}: matrix {mname!r}"
        own = _collect(table, where, top=False)
        if "exclude" in table:
            own["exclude"] = table["exclude"]
        merged = {**top, **own}
        matrices.append(finish_matrix(mname, merged, where))
    return Scenario(name=name, description=description, matrices=matrices, path=path, text=text)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Raises:
        ScenarioError: When the file is missing or invalid.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{p}: cannot read the scenario: {exc.strerror or exc}") from None
    return parse_scenario(text, str(p))


def describe_keys() -> str:
    """A table of every scenario key, for ``--help`` and ``kafka-bench list``."""
    lines = ["axes (a value or a list; every combination runs):"]
    for key, spec in AXES.items():
        default = spec.default if spec.default is not None else "-"
        lines.append(f"  {key:14s} {spec.help} [default: {default}]")
    lines.append("settings (one value):")
    for key, spec in SETTINGS.items():
        default = spec.default if spec.default is not None else "auto"
        lines.append(f"  {key:14s} {spec.help} [default: {default}]")
    return "\n".join(lines)
