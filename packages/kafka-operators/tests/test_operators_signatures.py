"""``input``/``output`` take every setting of the source and sinks they build, and pass it on.

A wrapper that re-lists another's parameters drifts: ``input`` once lacked
``timeout`` and ``consumer_per``, later ``metadata_interval`` and
``on_new_partitions``. These tests compare the signatures, so a parameter
added to ``KafkaSource`` or a sink fails here until the operator takes it,
and check that each value given to the operator reaches the object it builds.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource
from confluent_kafka import OFFSET_END

import bytewax_kafka.operators.io as io
import bytewax_kafka.operators.tracked as tracked_steps
from bytewax_kafka import operators as kop
from bytewax_kafka.core import (
    CommitProgress,
    ConsumerGroup,
    ExactlyOnce,
    KafkaEpochSink,
    KafkaGroupSource,
    KafkaSink,
    KafkaSource,
)
from bytewax_kafka.core.sink import WorkerEpochSink
from bytewax_kafka.core.transactions import KafkaTrackedSink

#: Parameters of KafkaSource that input() sets itself, and why.
SOURCE_ONLY = {"raise_on_errors": "input() always reads with False: errors go to its errs stream"}
#: Parameters of input() that KafkaSource does not take.
INPUT_ONLY = {"step_id", "flow", "commit_progress", "consumer_group"}
#: Parameters of KafkaSource that do not apply to a consumer group (which assigns partitions itself).
STATIC_ONLY = {"consumer_per", "metadata_interval", "on_new_partitions", "exactly_once"}
#: Parameters of output() that the sinks do not take (the mode is passed to KafkaTrackedSink as `mode`).
OUTPUT_ONLY = {"step_id", "up", "exactly_once", "commit_progress", "consumer_group"}


def params(fn: Any, skip: Iterable[str] = ()) -> dict[str, inspect.Parameter]:
    skipped = {"self", *skip}
    return {name: p for name, p in inspect.signature(fn).parameters.items() if name not in skipped}


def test_input_takes_every_kafka_source_parameter_with_its_default():
    source = params(KafkaSource.__init__, SOURCE_ONLY)
    operator = params(kop.input, INPUT_ONLY)
    assert sorted(operator) == sorted(source)
    for name, p in source.items():
        assert operator[name].default == p.default, name
        assert operator[name].annotation == p.annotation, name


def test_output_takes_every_sink_parameter():
    operator = params(kop.output, OUTPUT_ONLY)
    for sink in (KafkaSink, KafkaEpochSink):
        assert sorted(operator) == sorted(params(sink.__init__)), sink.__name__
    tracked = params(KafkaTrackedSink.__init__, {"mode"})
    assert sorted(operator) == sorted(tracked)
    assert sorted(operator) == sorted(params(WorkerEpochSink.__init__, {"workers"}))
    for name, p in params(KafkaEpochSink.__init__).items():
        assert operator[name].annotation == p.annotation, name
        # The sinks make `topic` explicit (topic=None must be written out, as
        # in bytewax's own KafkaSink); the operator defaults it to None.
        if name != "topic":
            assert operator[name].default == p.default, name


def recorder(cls: type, calls: list[dict[str, Any]]) -> type:
    """A subclass of ``cls`` that records the arguments it is built with."""

    class Recording(cls):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            calls.append(dict(inspect.signature(cls.__init__).bind(self, *args, **kwargs).arguments))
            super().__init__(*args, **kwargs)

    return Recording


def test_input_passes_every_value_to_the_source(monkeypatch):
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(io, "KafkaSource", recorder(KafkaSource, calls))
    eos = ExactlyOnce("signatures")
    given: dict[str, Any] = {
        "brokers": ["127.0.0.1:1"],
        "topics": ["a", "b"],
        "tail": False,
        "starting_offset": 7,
        "add_config": {"client.id": "signatures"},
        "batch_size": 3,
        "exactly_once": eos,
        "timeout": 4.5,
        "consumer_per": "partition",
        "metadata_interval": 9.0,
        "on_new_partitions": "warn",
        "batches": True,
        "gc_tuning": False,
        "stall_after": 7.0,
    }
    # Every forwarded parameter gets a value other than its default.
    defaults = {n: p.default for n, p in params(kop.input, INPUT_ONLY).items()}
    assert set(given) == set(defaults)
    assert all(given[n] != defaults[n] for n in given)
    kop.input("in", Dataflow("signatures"), **given)
    [call] = calls
    call.pop("self")
    assert call.pop("raise_on_errors") is False
    assert call == given


def test_a_group_input_takes_the_group_source_parameters_and_passes_them_on(monkeypatch):
    group_params = params(KafkaGroupSource.__init__, {"group", *SOURCE_ONLY})
    source_params = params(KafkaSource.__init__, {*SOURCE_ONLY, *STATIC_ONLY})
    assert sorted(group_params) == sorted(source_params)
    for name, p in group_params.items():
        assert source_params[name].default == p.default, name
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(io, "KafkaGroupSource", recorder(KafkaGroupSource, calls))
    group = ConsumerGroup("signatures")
    given: dict[str, Any] = {
        "brokers": ["127.0.0.1:1"],
        "topics": ["a", "b"],
        "tail": False,
        "starting_offset": OFFSET_END,
        "add_config": {"client.id": "signatures"},
        "batch_size": 3,
        "timeout": 4.5,
        "batches": True,
        "gc_tuning": False,
        "stall_after": 7.0,
    }
    assert set(given) == set(group_params)
    kop.input("in", Dataflow("signatures"), consumer_group=group, **given)
    [call] = calls
    call.pop("self")
    assert call.pop("raise_on_errors") is False
    assert call.pop("group") is group
    assert call == given


@pytest.mark.parametrize("mode", [None, "exactly_once", "commit_progress", "consumer_group"])
def test_output_passes_every_value_to_the_sink(monkeypatch, mode):
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(io, "WorkerEpochSink", recorder(WorkerEpochSink, calls))
    monkeypatch.setattr(tracked_steps, "KafkaTrackedSink", recorder(KafkaTrackedSink, calls))
    given: dict[str, Any] = {
        "brokers": ["127.0.0.1:1"],
        "topic": "out",
        "add_config": {"client.id": "signatures"},
        "gc_tuning": False,
    }
    extra: dict[str, Any] = {}
    if mode == "exactly_once":
        extra = {"exactly_once": ExactlyOnce("signatures")}
    elif mode == "commit_progress":
        extra = {"commit_progress": CommitProgress("signatures")}
    elif mode == "consumer_group":
        extra = {"consumer_group": ConsumerGroup("signatures")}
    flow = Dataflow("signatures")
    if extra:  # a shared mode needs its input: it records the offsets to commit
        up = kop.input("in", flow, brokers=["127.0.0.1:1"], topics=["t"], **extra).oks
    else:
        up = op.input("src", flow, TestingSource([]))
    kop.output("out", up, **given, **extra)
    [call] = calls
    call.pop("self")
    if extra:
        assert call.pop("mode") is next(iter(extra.values()))
    else:
        call.pop("workers")  # which worker each thread is: the operator's own
    assert call == given


MODES = {
    "at-least-once": {},
    "exactly_once": {"exactly_once": ExactlyOnce("signatures")},
    "commit_progress": {"commit_progress": CommitProgress("signatures")},
    "consumer_group": {"consumer_group": ConsumerGroup("signatures")},
}
BAD_SETTINGS = [
    ({"brokers": ["127.0.0.1:1"], "topic": ""}, TypeError, "topic must be a non-empty str"),
    ({"brokers": ["127.0.0.1:1"], "topic": 5}, TypeError, "topic must be a non-empty str"),
    ({"brokers": "127.0.0.1:1", "topic": "t"}, TypeError, "brokers must be an iterable and not a string"),
    ({"brokers": [], "topic": "t"}, ValueError, "brokers must not be empty"),
    ({"brokers": ["127.0.0.1:1"], "topic": "t", "add_config": [("acks", 1)]}, TypeError, "add_config"),
]


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize(("settings", "error", "says"), BAD_SETTINGS)
def test_every_output_mode_checks_its_settings_when_the_flow_is_built(mode, settings, error, says):
    """One settings class for every sink: exactly-once outputs fail as early as the others."""
    flow = Dataflow("bad_output")
    with pytest.raises(error, match=says):
        kop.output("out", op.input("src", flow, TestingSource([])), **settings, **MODES[mode])
