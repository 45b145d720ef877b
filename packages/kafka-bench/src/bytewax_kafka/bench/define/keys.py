"""Every scenario key: how its value is checked, its default (a :class:`Cell` field's), what it means.

*Axes* (:data:`AXES`) take a value or a list, and a matrix runs every
combination; *settings* (:data:`SETTINGS`) take one value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bytewax_kafka.bench.define.cell import GUARANTEES, MODES, Cell
from bytewax_kafka.bench.define.variants import VARIANTS
from bytewax_kafka.bench.errors import ScenarioError
from bytewax_kafka.bench.payload import KEY_DISTRIBUTIONS, SERDES

__all__ = [
    "ALIASES",
    "AXES",
    "BROKER_KINDS",
    "RATE_MODES",
    "SETTINGS",
    "SHAPES",
    "Key",
    "check_axis",
    "check_setting",
    "describe_keys",
]

#: Locust load shapes for fixed-rate cells.
SHAPES = ("steady", "ramp", "spike")
#: Broker names; ``auto`` is Apache Kafka where Java runs, else Tansu (with a
#: notice); ``external=HOST:PORT[,HOST:PORT]`` names a running cluster.
BROKER_KINDS = ("auto", "tansu", "kafka", "kafka-cluster", "redpanda", "kafka-container", "mock")
#: Modes in which locust offers a rate while the flow runs.
RATE_MODES = ("fixed-rate", "max-sustainable", "backlog-drain")
_DEFAULTS = Cell()


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


def _variant(v: Any) -> str:
    """A name of the variant registry (read at each check: a variant added later counts)."""
    return _choice(tuple(VARIANTS))(v)


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


def _python(v: Any) -> str:
    import os

    if not isinstance(v, str) or not v:
        raise ValueError(f"expected the path of a python interpreter, got {v!r}")
    if not (os.path.isfile(v) and os.access(v, os.X_OK)):
        raise ValueError(f"{v!r} is not an executable file")
    return v


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, got {v!r}")
    return v


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
    """One scenario key: how to check a value, its default (a :class:`Cell` field's), what it means."""

    check: Callable[[Any], Any]
    default: Any
    help: str


def _key(name: str, check: Callable[[Any], Any], help: str, default: Any = ...) -> Key:
    return Key(check, getattr(_DEFAULTS, name) if default is ... else default, help)


#: Keys whose value may be a list: a matrix runs every combination.
AXES: dict[str, Key] = {
    "broker": _key(
        "broker", _broker, "auto | tansu | kafka | kafka-cluster | redpanda | kafka-container | external=H:P"
    ),
    "variant": _key("variant", _variant, " | ".join(VARIANTS), ["ours", "builtin", "raw"]),
    "partitions": _key("partitions", _int(1), "partitions of the input and output topics"),
    "batch_size": _key("batch_size", _int(1), "source batch size (messages per consume)"),
    "workers": _key("workers", _int(1), "worker threads per process (bytewax -w)"),
    "processes": _key("processes", _int(1), "flow processes (bytewax -i/-a)"),
    "rate": _key(
        "rate", _int(1), "offered msg/s (fixed-rate, backlog-drain; max-sustainable: where to start)"
    ),
    "serde": _key(
        "serde", _choice(SERDES), " | ".join(SERDES) + ": value format the flow decodes and re-encodes"
    ),
    "message_size": _key("message_size", _message_size, "value bytes (>= 16)"),
    "keys": _key(
        "keys", _choice(KEY_DISTRIBUTIONS), " | ".join(KEY_DISTRIBUTIONS) + " (zipf: a few hot keys)"
    ),
    "guarantee": _key("guarantee", _choice(GUARANTEES), " | ".join(GUARANTEES)),
    "consumer_config": _key(
        "consumer_config",
        _optional(_client_config),
        "librdkafka settings for every variant's consumer (a table; a list of tables is an axis)",
    ),
    "producer_config": _key(
        "producer_config",
        _optional(_client_config),
        "librdkafka settings for every variant's producer (a table; a list of tables is an axis)",
    ),
    "flow_python": _key(
        "flow_python",
        _optional(_python),
        "interpreter running the flow side (another environment's python: two installed versions "
        "side by side in one run); default: kafka-bench's own",
    ),
    "gc_tuning": _key(
        "gc_tuning",
        _bool,
        "bytewax-kafka variants: let the connector tune Python's GC once the flow is built (false: leave it)",
    ),
}

#: Keys taking a single value.
SETTINGS: dict[str, Key] = {
    "mode": _key("mode", _choice(MODES), " | ".join(MODES)),
    "messages": _key(
        "messages",
        _optional(_int(1)),
        "max-rate: messages pre-filled (auto: sized from a probe for min_window); backlog-drain: the backlog",
    ),
    "duration": _key(
        "duration",
        _number(0.0, strict=True),
        "seconds of offered load (max-sustainable: per step; default 10)",
    ),
    "warmup": _key("warmup", _warmup, "excluded start: seconds, or '10%' of the messages/duration"),
    "min_window": _key(
        "min_window", _number(0.0), "seconds of steady state a cell needs; shorter windows are flagged"
    ),
    "repetitions": Key(_int(1), 3, "times each cell runs, variants alternating, order rotated"),
    "broker_warmup": Key(_number(0.0), 10.0, "seconds of untimed load after each broker start (0: none)"),
    "shape": _key("shape", _choice(SHAPES), "fixed-rate load shape: " + " | ".join(SHAPES)),
    "ramp_start": _key("ramp_start", _number(0.0), "ramp: starting fraction of the rate"),
    "spike_factor": _key("spike_factor", _number(1.0), "spike: rate multiplier during the spike"),
    "spike_seconds": _key(
        "spike_seconds", _number(0.0, strict=True), "spike: length of the spike (it starts mid-run)"
    ),
    "key_space": _key("key_space", _int(1), "distinct keys"),
    "users": _key(
        "users", _optional(_int(1)), "locust users at the full rate (default: one per 10000 msg/s)"
    ),
    "search_steps": _key("search_steps", _int(1), "max-sustainable: bisection steps after the first miss"),
    "search_limit": _key(
        "search_limit", _optional(_int(1)), "max-sustainable: the highest rate tried (default: no limit)"
    ),
    "sustain_p99_ms": _key(
        "sustain_p99_ms", _number(0.0, strict=True), "max-sustainable: p99 latency a kept-up step stays under"
    ),
    "epoch_interval": _key(
        "epoch_interval", _optional(_int(1)), "seconds per Bytewax epoch (bytewax -s; default Bytewax's 10)"
    ),
    "gc_threshold": _key(
        "gc_threshold",
        _optional(_int(0)),
        "gen-0 threshold of Python's cyclic GC in every flow process (0 disables it; default: Python's 700)",
    ),
    "timeout": _key(
        "timeout", _optional(_number(0.0, strict=True)), "seconds a cell may take (default: from its size)"
    ),
}

#: Alternative spellings accepted for some keys.
ALIASES = {"brokers": "broker", "variants": "variant", "rates": "rate", "batch_sizes": "batch_size"}


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
