"""How a cell reaches the processes it starts: one JSON environment variable, read by one function.

The runner starts the flow (:mod:`bytewax_kafka.bench.flows`, or
:mod:`bytewax_kafka.bench.raw`) and the load generator
(:mod:`bytewax_kafka.bench.load`) as their own processes. Each gets the whole
cell, where to find the broker and topics, and its place among its
siblings in :data:`HANDOFF_ENV`; each reads it with :func:`read_handoff`.

Example:
    >>> from bytewax_kafka.bench.define.cell import Cell
    >>> h = Handoff(Cell(batch_size=500), "127.0.0.1:9092", "in", "out")
    >>> read_handoff(h.env()).cell.batch_size
    500
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bytewax_kafka.bench.define.cell import Cell
from bytewax_kafka.bench.errors import HandoffError

__all__ = ["HANDOFF_ENV", "Handoff", "read_handoff"]

#: The environment variable holding the JSON handoff.
HANDOFF_ENV = "KAFKA_BENCH_CELL"


@dataclass(frozen=True)
class Handoff:
    """What a benchmark subprocess needs: the cell, the broker, its topics, its place.

    Attributes:
        cell: The whole cell (its serde, batch size, client settings, ...).
        bootstrap: Bootstrap servers.
        input_topic: Topic the flow reads (the load generator writes).
        output_topic: Topic the flow writes.
        process_index: This process's index among ``processes``.
        processes: How many processes share the work.
        summary: The load generator's summary file.
        rate: The rate the load generator offers (default: the cell's).
        seq_base: Added to the load generator's sequence numbers, so that
            several runs of it into one topic (a rate search's steps) never
            send the same number twice.
    """

    cell: Cell
    bootstrap: str
    input_topic: str
    output_topic: str = ""
    process_index: int = 0
    processes: int = 1
    summary: str | None = None
    rate: int | None = None
    seq_base: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def brokers(self) -> list[str]:
        """The bootstrap addresses as a list."""
        return self.bootstrap.split(",")

    @property
    def offered_rate(self) -> int:
        """Messages per second the load generator offers."""
        return int(self.rate if self.rate is not None else (self.cell.rate or 10_000))

    def env(self) -> dict[str, str]:
        """``{HANDOFF_ENV: json}``: to add to a subprocess's environment."""
        data = {
            "cell": self.cell.config(),
            "bootstrap": self.bootstrap,
            "input_topic": self.input_topic,
            "output_topic": self.output_topic,
            "process_index": self.process_index,
            "processes": self.processes,
            "summary": self.summary,
            "rate": self.rate,
            "seq_base": self.seq_base,
            "extra": self.extra,
        }
        return {HANDOFF_ENV: json.dumps(data)}


def read_handoff(env: Mapping[str, str] | None = None) -> Handoff:
    """The handoff of this process (from ``os.environ`` unless ``env`` is given).

    A partial handoff is accepted (cell keys missing take their defaults), so
    the load generator can be run by hand::

        KAFKA_BENCH_CELL='{"bootstrap": "127.0.0.1:9092", "input_topic": "in",
            "cell": {"rate": 20000, "duration": 30}}' locust -f scenarios/locustfile.py

    Raises:
        HandoffError: When the variable is missing or invalid; the message
            says what is wrong.
    """
    source = os.environ if env is None else env
    text = source.get(HANDOFF_ENV)
    if not text:
        raise HandoffError(
            f"{HANDOFF_ENV} is not set: benchmark flows and load generators are started by "
            "kafka-bench, which hands them their cell (see bytewax_kafka.bench.define.handoff)"
        )
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TypeError("expected a JSON object")
        cell = Cell.from_config(data.get("cell") or {})
        return Handoff(
            cell=cell,
            bootstrap=str(data["bootstrap"]),
            input_topic=str(data["input_topic"]),
            output_topic=str(data.get("output_topic") or ""),
            process_index=int(data.get("process_index") or 0),
            processes=int(data.get("processes") or 1),
            summary=data.get("summary"),
            rate=data.get("rate"),
            seq_base=int(data.get("seq_base") or 0),
            extra=dict(data.get("extra") or {}),
        )
    except (ValueError, TypeError, KeyError) as exc:
        what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise HandoffError(f"{HANDOFF_ENV} is not a valid cell handoff: {what}") from None
