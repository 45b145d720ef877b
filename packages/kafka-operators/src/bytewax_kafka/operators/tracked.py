"""The steps ``input`` and ``output`` add for an ``ExactlyOnce``, ``CommitProgress`` or ``ConsumerGroup``.

After the input's source: one tick per batch the worker read, stamped with
its epoch (``bytewax_kafka.core.epochs``), registered with the mode. Before
each output sharing the mode: each batch routed, whole, to the worker's own
partition, and the input's ticks merged in, routed to the worker's ticks
partition, so that every output closes every epoch its worker read in (see
``bytewax_kafka.core.worker_writer``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream

from bytewax_kafka.core.epochs import Tick
from bytewax_kafka.core.transactions import KafkaTrackedSink, WorkerIndexSink, _TrackedMode, ticks_part

__all__ = ["track_input", "tracked_output"]


def _flow_id(step_id: str) -> str:
    return step_id.split(".", 1)[0]


def track_input(step_id: str, items: Stream[Any], mode: _TrackedMode) -> None:
    """Add the tick steps after an input's source and register the ticks with ``mode``."""
    tracker = mode.tracker
    ticks = op.flat_map_batch("ticks", items, tracker.tick)
    stamped = op.inspect_debug("track_offsets", ticks, tracker.record_tick)
    mode.add_ticks(_flow_id(step_id), step_id, stamped)


def _nothing(_batch: list[Any]) -> list[Any]:
    return []


def tracked_output(
    step_id: str,
    up: Stream[Any],
    route: Callable[[Callable[[], str]], Callable[[list[Any]], list[Any]]],
    *,
    brokers: Iterable[str],
    topic: str | None,
    add_config: Mapping[str, Any] | None,
    mode: _TrackedMode,
    gc_tuning: bool,
) -> None:
    """Write ``up`` through the worker's shared writer of ``mode``.

    Args:
        step_id: The output step.
        up: Messages (or lists of them) to write.
        route: Builds the batch router from a routing-key function.
        brokers: As for ``output``.
        topic: As for ``output``.
        add_config: As for ``output``.
        mode: The shared mode.
        gc_tuning: As for ``output``.

    Raises:
        ValueError: No input of the flow shares ``mode``, or another output
            sharing it has other brokers or ``add_config``.
    """
    sink = KafkaTrackedSink(brokers, topic, add_config, mode, gc_tuning=gc_tuning)  # checks the settings
    flow_id = _flow_id(step_id)
    streams = mode.ticks(flow_id)
    if not streams:
        raise ValueError(
            f"step {step_id!r} writes with {mode!r} but no input of flow {flow_id!r} shares it: give the "
            "same object to bytewax_kafka.operators.input first (it records the offsets to commit)"
        )
    mode.add_output(flow_id, step_id, brokers, add_config)
    tracker = mode.tracker
    # Built first, so every worker knows its index before the sink lists its partitions.
    op.output("worker_ids", op.flat_map_batch("no_items", up, _nothing), WorkerIndexSink(tracker))

    def own_part() -> str:
        return f"w{tracker.worker()[0]}"

    def ticks_to_own_worker(batch: list[Tick]) -> list[tuple[str, Tick]]:
        key = ticks_part(tracker.worker()[0])
        return [(key, t) for t in batch]

    items = op.flat_map_batch("route", up, route(own_part))
    # The input's tick streams, seen from this step (a stream may be used by any later step).
    ticks = [
        op.flat_map_batch(f"route_ticks_{i}", s._with_scope(up._scope), ticks_to_own_worker)
        for i, s in enumerate(streams)
    ]
    merged = op.merge("with_ticks", items, *ticks)
    op.output("kafka_output", merged, sink)
