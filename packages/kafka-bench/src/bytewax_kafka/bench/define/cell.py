"""A cell, what it produced, the limits a cell runs under, and the one way a cell is labelled.

A *cell* is one run of one flow variant with one set of parameters on one
broker; :class:`Cell` holds every parameter, with the defaults a scenario
gets for keys it does not set. :class:`CellResult` is its outcome.

Example:
    >>> c = Cell(variant="ours", broker="kafka", mode="fixed-rate", rate=10_000, duration=10.0)
    >>> c.label()
    'bytewax-kafka · kafka p=4 bs=1000 w=1 · 10,000 msg/s steady'
    >>> cell_label(c.config(), variant=False)
    'kafka p=4 bs=1000 w=1 · 10,000 msg/s steady'
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BACKLOG_BIT",
    "GUARANTEES",
    "LOAD_LIMIT",
    "MODES",
    "PROBE_BIT",
    "SHORT_WINDOW_SHARE",
    "STALL_SECONDS",
    "STARTUP_SECONDS",
    "Cell",
    "CellResult",
    "cell_label",
    "cell_timeout",
    "group_key",
    "probe_messages",
    "python_name",
    "warmup_share",
]

#: ``max-rate``: a pre-filled input, as fast as the flow goes. ``fixed-rate``:
#: locust offers ``rate`` while the flow runs. ``max-sustainable``: a search
#: for the highest offered rate the flow keeps up with. ``backlog-drain``: a
#: pre-filled backlog while ``rate`` keeps arriving.
MODES = ("max-rate", "fixed-rate", "max-sustainable", "backlog-drain")
#: Delivery guarantees a cell can ask of the flow.
GUARANTEES = ("at-least-once", "commit-progress", "exactly-once")

#: Sequence numbers with this bit set are probes, not counted.
PROBE_BIT = 1 << 62
#: Sequence numbers with this bit set were pre-filled (a backlog-drain cell's backlog).
BACKLOG_BIT = 1 << 61
#: Seconds without a new output message before a cell is declared stalled.
STALL_SECONDS = 30.0
#: Seconds the flow may take to produce its first output.
STARTUP_SECONDS = 90.0
#: A cell started at a 1-minute load average above this is flagged: other
#: work competed with it for the cores.
LOAD_LIMIT = 2.0
#: A measuring window is "short" (the report warns) below ``min_window``; the
#: default minimum keeps start-up and flush tails (~0.1-0.2 s) under this share of it.
SHORT_WINDOW_SHARE = 0.05


@dataclass(frozen=True, eq=False)
class Cell:
    """Everything one run needs to know; stored whole with its result.

    The defaults are the scenario defaults (see
    :mod:`bytewax_kafka.bench.define.scenario`). ``messages=None`` in a
    max-rate cell means "sized from a short probe" (enough for ``min_window``
    seconds of steady state).
    """

    id: str = "001"
    matrix: str = "default"
    repetition: int = 1
    broker: str = "auto"
    variant: str = "ours"
    mode: str = "max-rate"
    partitions: int = 4
    batch_size: int = 1000
    workers: int = 1
    processes: int = 1
    rate: int | None = None
    serde: str = "none"
    message_size: int = 100
    keys: str = "uniform"
    guarantee: str = "at-least-once"
    key_space: int = 1000
    messages: int | None = None
    duration: float | None = None
    warmup: float | str = "10%"
    min_window: float = 4.0
    shape: str = "steady"
    ramp_start: float = 0.1
    spike_factor: float = 2.0
    spike_seconds: float = 2.0
    users: int | None = None
    timeout: float | None = None
    epoch_interval: int | None = None
    search_steps: int = 4
    search_limit: int | None = None
    sustain_p99_ms: float = 500.0
    consumer_config: dict[str, Any] | None = None
    producer_config: dict[str, Any] | None = None
    gc_threshold: int | None = None
    gc_tuning: bool = True
    flow_python: str | None = None

    def config(self) -> dict[str, Any]:
        """The cell's parameters as a plain dict (JSON-ready)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Cell:
        """Rebuild a cell from :meth:`config` (missing keys take their default).

        Raises:
            ValueError: For a key :class:`Cell` does not have.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - names)
        if unknown:
            raise ValueError(f"unknown cell settings: {', '.join(unknown)}")
        return cls(**dict(config))

    def replace(self, **changes: Any) -> Cell:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)

    def label(self, *, variant: bool = True) -> str:
        """The cell's label (see :func:`cell_label`)."""
        return cell_label(self.config(), variant=variant)

    def group_key(self) -> str:
        """What this cell shares with the other variants' cells of its repetition (see :func:`group_key`)."""
        return group_key(self.config())


def group_key(config: Mapping[str, Any], *, drop: tuple[str, ...] = ("id", "repetition", "variant")) -> str:
    """A stable key of a cell's config without ``drop``: matches cells across variants and repetitions."""
    import json

    return json.dumps({k: v for k, v in sorted(config.items()) if k not in drop}, sort_keys=True, default=str)


def cell_label(config: Mapping[str, Any], *, variant: bool = True, omit: Iterable[str] = ()) -> str:
    """The one label of a cell, from its config: variant | broker and shape | what was offered.

    Parameters left at their usual values (one process, no serde, uniform
    keys, 100-byte values, at-least-once) are not named, nor those in
    ``omit`` (what a plot's axis or legend already tells).
    """
    from bytewax_kafka.bench.define.variants import variant_label
    from bytewax_kafka.core.config import redact

    skip = set(omit)
    config = {k: (None if k in skip else v) for k, v in config.items()}
    shape = [
        str(config["broker"]) if config.get("broker") else "",
        f"p={config['partitions']}" if config.get("partitions") else "",
        f"bs={config['batch_size']}" if config.get("batch_size") else "",
        f"w={config['workers']}" if config.get("workers") else "",
        f"procs={config['processes']}" if (config.get("processes") or 1) > 1 else "",
    ]
    parts = [" ".join(s for s in shape if s)]
    extras = []
    if config.get("serde") not in (None, "none"):
        extras.append(str(config["serde"]))
    if config.get("keys") not in (None, "uniform"):
        extras.append("keyless" if config["keys"] == "none" else f"{config['keys']} keys")
    if config.get("message_size") not in (None, 100):
        extras.append(f"{config['message_size']} B")
    if config.get("guarantee") not in (None, "at-least-once"):
        extras.append(str(config["guarantee"]))
    if config.get("gc_threshold") is not None:
        extras.append(f"gc={config['gc_threshold']}")
    if config.get("gc_tuning") is False:
        extras.append("no gc tuning")
    for side in ("consumer", "producer"):
        settings = config.get(f"{side}_config")
        if settings:
            shown = redact(settings)  # a label reaches the console, reports and plots
            extras.append(side + " " + ",".join(f"{k}={v}" for k, v in sorted(shown.items())))
    if config.get("flow_python"):
        extras.append(f"python of {python_name(str(config['flow_python']))}")
    if extras:
        parts[0] = " ".join(p for p in (parts[0], *extras) if p)
    mode = config.get("mode")
    rate = config.get("rate")
    if mode == "fixed-rate":
        parts.append(f"{rate:,} msg/s {config.get('shape') or 'steady'}" if rate else "fixed rate")
    elif mode == "max-sustainable":
        parts.append("max sustainable rate")
    elif mode == "backlog-drain":
        backlog = config.get("messages")
        parts.append(f"backlog {backlog:,} + {rate:,} msg/s" if backlog else f"backlog + {rate:,} msg/s")
    else:
        parts.append("max rate")
    if variant:
        parts.insert(0, variant_label(str(config.get("variant"))))
    return " · ".join(parts)


def python_name(path: str) -> str:
    """A short name for a flow interpreter: the folder of its environment (``.../NAME/.venv/bin/python``)."""
    from pathlib import Path

    p = Path(path)
    if len(p.parents) >= 3 and p.parent.name == "bin":
        env = p.parents[1]
        return env.parent.name if env.name.startswith(".") else env.name
    return path


def warmup_share(warmup: float | str, span: float) -> float:
    """The excluded share of a window: ``"10%"`` -> 0.1, seconds -> seconds / span (at most 0.95)."""
    if isinstance(warmup, str):
        return float(warmup.rstrip("%")) / 100.0
    return min(0.95, warmup / span) if span > 0 else 0.0


def cell_timeout(cell: Cell, messages: int | None = None) -> float:
    """Seconds a cell may take: its ``timeout``, else from its size."""
    if cell.timeout is not None:
        return cell.timeout
    n = messages if messages is not None else (cell.messages or 0)
    duration = float(cell.duration or 10.0)
    if cell.mode == "max-rate":
        return 120.0 + n / 5_000.0
    if cell.mode == "max-sustainable":
        return 120.0 + (cell.search_steps + 8) * (2.5 * duration + 20)
    if cell.mode == "backlog-drain":
        return 120.0 + 2 * duration + n / 5_000.0
    return 120.0 + 2 * duration


@dataclass
class CellResult:
    """The outcome of one cell: status, reason, metrics, what the load generator reported.

    ``notices`` are warnings a reader must see beside the figures (a window
    shorter than the minimum, a busy machine); ``steps`` are the offered
    rates a max-sustainable search tried.
    """

    cell: Cell
    status: str  # ok | failed | skipped
    reason: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    load: dict[str, Any] | None = None
    broker: dict[str, Any] | None = None
    commands: list[list[str]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.cell.id,
            "config": self.cell.config(),
            "status": self.status,
            "reason": self.reason,
            "broker": self.broker,
            "metrics": self.metrics,
            "load": self.load,
            "notices": self.notices,
            "steps": self.steps,
            "commands": self.commands,
            "logs": self.logs,
        }


def probe_messages(rate: float, cell: Cell) -> int:
    """Messages a max-rate cell needs for ``min_window`` seconds of steady state at ``rate`` msg/s.

    The warm-up share is added on top and 30% of margin, rounded up to ten
    thousand; at least 50,000.
    """
    share = warmup_share(cell.warmup, cell.min_window) if isinstance(cell.warmup, str) else 0.0
    extra = 0.0 if isinstance(cell.warmup, str) else float(cell.warmup) * rate
    need = rate * cell.min_window / max(0.05, 1.0 - share) * 1.3 + extra
    return max(50_000, math.ceil(need / 10_000.0) * 10_000)
