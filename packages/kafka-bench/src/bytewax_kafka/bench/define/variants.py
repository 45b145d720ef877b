"""The flow variants a cell can run: how each starts, and what a reader calls it.

A variant is one entry of :data:`VARIANTS`: its name in scenario files, the
label and one-line legend readers see in reports, its role (``ours``, the
``built-in`` connector being replaced, or the ``ceiling``), the built-in
variant it is compared with, the guarantees it can give, and its
:class:`Launch`: how the flow side is started.

Three launches cover every variant so far:

- :class:`BytewaxFlow`: ``python -m bytewax.run MODULE:FACTORY -w N``; with
  ``processes > 1`` the processes form one Bytewax cluster (``-i``/``-a``).
- :class:`Replicas`: ``processes`` independent copies of that command, no
  Bytewax cluster between them (consumer-group replicas: each is a whole
  flow, Kafka's group shares the partitions), so scaling by replicas is
  measured like scaling by processes.
- :class:`Independent`: ``processes`` copies of a command, each on its own
  and told its index (the raw loop splits the partitions that way).

Adding a variant is adding an entry (as ``ours-batches`` is), plus its
factory in :mod:`bytewax_kafka.bench.flows`.

Example:
    >>> VARIANTS["raw"].label
    'raw confluent-kafka loop'
    >>> variant_label("builtin")
    'Bytewax built-in connector'
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "VARIANTS",
    "BytewaxFlow",
    "Independent",
    "Launch",
    "ProcessSpec",
    "Replicas",
    "Variant",
    "legend",
    "variant_label",
]


@dataclass(frozen=True)
class ProcessSpec:
    """One process of a flow side: its command, and its index among the processes it shares the work with."""

    argv: list[str]
    index: int = 0
    count: int = 1


class Launch(Protocol):
    """How a variant's flow side starts."""

    def processes(self, workers: int, processes: int, epoch_interval: int | None) -> list[ProcessSpec]:
        """The commands to start, one per process."""


@dataclass(frozen=True)
class BytewaxFlow:
    """A dataflow run with ``python -m bytewax.run``; several processes form one Bytewax cluster."""

    factory: str

    def processes(self, workers: int, processes: int, epoch_interval: int | None) -> list[ProcessSpec]:
        """``bytewax.run FACTORY -w workers [-s epoch]`` (and ``-i``/``-a`` for several processes)."""
        base = [sys.executable, "-m", "bytewax.run", self.factory, "-w", str(workers)]
        if epoch_interval is not None:
            base += ["-s", str(epoch_interval)]
        if processes == 1:
            return [ProcessSpec(base)]
        from bytewax_kafka.testing.ports import free_ports

        addrs = ";".join(f"127.0.0.1:{p}" for p in free_ports(processes))
        return [ProcessSpec([*base, "-i", str(i), "-a", addrs], i, processes) for i in range(processes)]


@dataclass(frozen=True)
class Replicas:
    """``processes`` independent ``bytewax.run FACTORY -w workers`` processes: replicas of one flow."""

    factory: str

    def processes(self, workers: int, processes: int, epoch_interval: int | None) -> list[ProcessSpec]:
        """The same command once per replica (no ``-i``/``-a``: no Bytewax cluster between them)."""
        base = [sys.executable, "-m", "bytewax.run", self.factory, "-w", str(workers)]
        if epoch_interval is not None:
            base += ["-s", str(epoch_interval)]
        return [ProcessSpec(list(base), i, processes) for i in range(processes)]


@dataclass(frozen=True)
class Independent:
    """``processes`` copies of one command, none aware of the others but for its index."""

    argv: tuple[str, ...]

    def processes(self, workers: int, processes: int, epoch_interval: int | None) -> list[ProcessSpec]:
        """One command per process; each learns its index from the cell handed to it."""
        return [ProcessSpec([sys.executable, *self.argv], i, processes) for i in range(processes)]


@dataclass(frozen=True)
class Variant:
    """One flow variant (see the module docstring)."""

    name: str
    label: str
    legend: str
    role: str  # ours | built-in | ceiling
    launch: BytewaxFlow | Replicas | Independent
    #: Built-in variants this one is compared with, the first that ran wins.
    versus: tuple[str, ...] = ()
    guarantees: tuple[str, ...] = ("at-least-once",)
    color: str = "tab:gray"
    #: Whether ``workers`` means anything to it (the raw loop has one thread).
    uses_workers: bool = True


#: Every variant, by the name scenario files use.
VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant(
            name="ours",
            label="bytewax-kafka",
            legend="this project's operators: kop.input -> map -> kop.output (KafkaSource, KafkaEpochSink)",
            role="ours",
            launch=BytewaxFlow("bytewax_kafka.bench.flows:ours"),
            versus=("builtin", "builtin-core"),
            guarantees=("at-least-once", "commit-progress", "exactly-once"),
            color="tab:blue",
        ),
        Variant(
            name="ours-batches",
            label="bytewax-kafka, batches",
            legend="this project's operators with whole fetched batches as items: "
            "kop.input(batches=True) -> map over each list -> kop.output",
            role="ours",
            launch=BytewaxFlow("bytewax_kafka.bench.flows:ours_batches"),
            versus=("builtin", "builtin-core"),
            guarantees=("at-least-once", "commit-progress", "exactly-once"),
            color="tab:purple",
        ),
        Variant(
            name="ours-core",
            label="bytewax-kafka core",
            legend="this project's KafkaSource -> map -> KafkaEpochSink, no operators' error streams",
            role="ours",
            launch=BytewaxFlow("bytewax_kafka.bench.flows:ours_core"),
            versus=("builtin-core", "builtin"),
            color="tab:cyan",
        ),
        Variant(
            name="ours-group",
            label="bytewax-kafka, consumer group",
            legend="this project's operators in consumer-group mode, each process an independent replica "
            "in one group: kop.input(consumer_group=) -> map -> kop.output(consumer_group=)",
            role="ours",
            launch=Replicas("bytewax_kafka.bench.flows:ours_group"),
            versus=("builtin", "builtin-core"),
            guarantees=("at-least-once", "exactly-once"),
            color="tab:red",
        ),
        Variant(
            name="builtin",
            label="Bytewax built-in connector",
            legend="bytewax.connectors.kafka's operators as Bytewax 0.21.1 ships them",
            role="built-in",
            launch=BytewaxFlow("bytewax_kafka.bench.flows:builtin"),
            color="tab:orange",
        ),
        Variant(
            name="builtin-core",
            label="Bytewax built-in core",
            legend="bytewax.connectors.kafka's KafkaSource -> map -> KafkaSink",
            role="built-in",
            launch=BytewaxFlow("bytewax_kafka.bench.flows:builtin_core"),
            color="tab:brown",
        ),
        Variant(
            name="raw",
            label="raw confluent-kafka loop",
            legend="a plain consume -> produce loop, no dataflow engine: the ceiling",
            role="ceiling",
            launch=Independent(("-m", "bytewax_kafka.bench.raw")),
            color="tab:green",
            uses_workers=False,
        ),
    )
}


def variant_label(name: str) -> str:
    """What readers call a variant (its name where the registry does not know it)."""
    v = VARIANTS.get(name)
    return v.label if v is not None else name


def legend(names: list[str] | None = None) -> list[tuple[str, str]]:
    """``(label, legend)`` of each variant in ``names`` (default: all), in registry order."""
    wanted = set(names) if names is not None else set(VARIANTS)
    return [(v.label, v.legend) for v in VARIANTS.values() if v.name in wanted]
