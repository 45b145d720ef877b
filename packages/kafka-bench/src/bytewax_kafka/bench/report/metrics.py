"""The one registry of metrics: name, label, unit, format and which way is better.

Tables, plots, ``compare``, the CSV, goals and the terminal summary all take
their metrics from :data:`METRICS` (and the ratios from :data:`RATIOS`).

Example:
    >>> m = METRICS["busy_cpu_us_per_msg"]
    >>> m.format(3.14159), m.axis_label()
    ('3.14', 'busy CPU per message (µs, lower is better)')
    >>> RATIOS["msgs_per_s_vs_builtin"].label
    'throughput vs Bytewax built-in connector'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["METRICS", "MODE_FIGURES", "PRIMARY", "RATIOS", "WHY_PRIMARY", "Metric", "Ratio", "metric"]

#: The figure reports lead with (see :data:`WHY_PRIMARY`).
PRIMARY = "busy_cpu_us_per_msg"

#: Why busy CPU per message leads, as the report says it.
WHY_PRIMARY = (
    "Busy CPU per message is the primary figure: the CPU the flow's processes used while they wrote "
    "their output, divided by the messages written. Other work on the machine (a test run, a build, "
    "the broker itself on two cores) slows a flow down and moves wall-clock throughput by tens of "
    "percent between repetitions, but it changes how much CPU each message costs far less. "
    "Throughput and latency are reported beside it."
)


@dataclass(frozen=True)
class Metric:
    """One figure of a cell.

    Attributes:
        name: Its key (``compare --metric``, goals, CSV columns).
        label: What readers call it.
        unit: Its unit ("" for a plain number).
        fmt: Python format of one value.
        higher_is_better: True, False, or None for a figure with no better
            direction (core share, start-up).
        path: Where it is in a cell's ``metrics`` (``("latency", "p99_ms")``).
    """

    name: str
    label: str
    unit: str
    fmt: str
    higher_is_better: bool | None
    path: tuple[str, ...]

    def value(self, metrics: Mapping[str, Any]) -> float | None:
        """The metric's value in a cell's ``metrics`` (None when absent)."""
        v: Any = metrics
        for part in self.path:
            if not isinstance(v, Mapping):
                return None
            v = v.get(part)
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

    def format(self, v: float | None) -> str:
        """One value as text ("" for None)."""
        return "" if v is None else self.fmt.format(v)

    def direction(self) -> str:
        """``higher is better``, ``lower is better`` or ""."""
        if self.higher_is_better is None:
            return ""
        return "higher is better" if self.higher_is_better else "lower is better"

    def axis_label(self) -> str:
        """A plot axis label: the label, the unit and which way is better."""
        inside = ", ".join(p for p in (self.unit, self.direction()) if p)
        return f"{self.label} ({inside})" if inside else self.label

    def header(self) -> str:
        """A table header: the label and the unit."""
        return f"{self.label} ({self.unit})" if self.unit else self.label


def _m(name: str, label: str, unit: str, fmt: str, better: bool | None, *path: str) -> Metric:
    return Metric(name, label, unit, fmt, better, path or (name,))


#: Every metric, in the order tables show them.
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        _m("busy_cpu_us_per_msg", "busy CPU per message", "µs", "{:.2f}", False),
        _m("msgs_per_s", "throughput", "msg/s", "{:,.0f}", True),
        _m("mb_per_s", "throughput", "MB/s", "{:.1f}", True),
        _m("max_sustainable_msgs_per_s", "max sustainable rate", "msg/s", "{:,.0f}", True),
        _m("latency_p50_ms", "p50 latency", "ms", "{:.2f}", False, "latency", "p50_ms"),
        _m("latency_p90_ms", "p90 latency", "ms", "{:.2f}", False, "latency", "p90_ms"),
        _m("latency_p99_ms", "p99 latency", "ms", "{:.2f}", False, "latency", "p99_ms"),
        _m("latency_p99_9_ms", "p99.9 latency", "ms", "{:.2f}", False, "latency", "p99_9_ms"),
        _m("latency_max_ms", "max latency", "ms", "{:.1f}", False, "latency", "max_ms"),
        _m("backlog_drain_s", "backlog drain time", "s", "{:.2f}", False),
        _m("drain_msgs_per_s", "drain rate", "msg/s", "{:,.0f}", True),
        _m("sent_msgs_per_s", "offered (sent)", "msg/s", "{:,.0f}", None),
        _m("busy_core_share", "core share", "", "{:.2f}", None),
        _m("flow_thread_core_share", "flow thread on a core", "", "{:.2f}", None),
        _m("run_queue_share", "flow thread waiting for a core", "", "{:.3f}", False),
        _m("cpu_s", "CPU, start-up included", "s", "{:.2f}", None),
        _m("peak_rss_mib", "peak memory", "MiB", "{:.0f}", False),
        _m("startup_s", "start-up", "s", "{:.2f}", None),
        _m("window_s", "measured window", "s", "{:.1f}", None),
        _m("loadavg_before", "load average", "", "{:.1f}", None),
    )
}


@dataclass(frozen=True)
class Ratio:
    """A metric of a cell of ours over the same metric of a baseline in the same repetition."""

    name: str
    metric: Metric
    versus: str  # built-in | ceiling

    @property
    def label(self) -> str:
        """What readers call it."""
        from bytewax_kafka.bench.define.variants import VARIANTS

        other = "Bytewax built-in connector" if self.versus == "built-in" else VARIANTS["raw"].label
        return f"{self.metric.label} vs {other}"

    @property
    def higher_is_better(self) -> bool | None:
        """As the metric's."""
        return self.metric.higher_is_better

    def format(self, v: float | None) -> str:
        """``1.23x`` ("" for None)."""
        return "" if v is None else f"{v:.2f}x"


#: The figures that compare variants in each mode, the one the summary leads with first.
MODE_FIGURES: dict[str, tuple[str, ...]] = {
    "max-rate": (PRIMARY, "msgs_per_s"),
    "fixed-rate": ("latency_p99_ms", PRIMARY),
    "max-sustainable": ("max_sustainable_msgs_per_s", "latency_p99_ms", PRIMARY),
    "backlog-drain": ("backlog_drain_s", PRIMARY, "latency_p99_ms"),
}

_RATIO_OF = (
    "busy_cpu_us_per_msg",
    "msgs_per_s",
    "latency_p99_ms",
    "max_sustainable_msgs_per_s",
    "backlog_drain_s",
)

#: Every ratio, by name: ``<metric>_vs_builtin`` and ``<metric>_vs_raw``.
RATIOS: dict[str, Ratio] = {
    f"{name}_vs_{short}": Ratio(f"{name}_vs_{short}", METRICS[name], versus)
    for name in _RATIO_OF
    for short, versus in (("builtin", "built-in"), ("raw", "ceiling"))
}


def metric(name: str) -> Metric | Ratio:
    """A metric or ratio by name.

    Raises:
        KeyError: For an unknown name; the message lists the known ones.
    """
    if name in METRICS:
        return METRICS[name]
    if name in RATIOS:
        return RATIOS[name]
    raise KeyError(f"unknown metric {name!r}; use one of {', '.join([*METRICS, *RATIOS])}")
