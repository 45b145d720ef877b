"""``input(..., batches=True)``: whole batches as items, and ``output`` taking lists."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.errors import BytewaxRuntimeError
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, cluster_main, run_main
from confluent_kafka import KafkaError as CKError

from bytewax_kafka import operators as kop
from bytewax_kafka.core import CommitProgress, KafkaError, KafkaSinkMessage, KafkaSourceMessage
from bytewax_kafka.operators import KafkaStepError
from bytewax_kafka.operators.io import _split

TopicFactory = Callable[..., str]
Reader = Callable[..., list[Any]]
Produce = Callable[..., int]


def upper_all(msgs: list[KafkaSourceMessage[bytes, bytes]]) -> list[KafkaSinkMessage[bytes, bytes]]:
    return [KafkaSinkMessage(m.key, m.value.upper()) for m in msgs]


def test_batches_arrive_as_lists_of_one_partition_and_round_trip(
    kafka_bootstrap: str, topic_factory: TopicFactory, kafka_produce: Produce, kafka_read_to_end: Reader
) -> None:
    brokers = [kafka_bootstrap]
    src, dst = topic_factory(partitions=3), topic_factory(partitions=2)
    sent = [(f"k{i % 5}".encode(), f"v{i}".encode()) for i in range(300)]
    kafka_produce(src, sent)

    flow = Dataflow("batches")
    kinp = kop.input("in", flow, brokers=brokers, topics=[src], tail=False, batch_size=16, batches=True)
    seen: list[Any] = []
    errs: list[Any] = []
    op.output("errs", kinp.errs, TestingSink(errs))
    op.output("seen", kinp.oks, TestingSink(seen))
    kop.output("out", op.map("upper", kinp.oks, upper_all), brokers=brokers, topic=dst)
    run_main(flow)

    assert errs == []
    assert seen
    assert all(type(b) is list and 0 < len(b) <= 16 for b in seen)
    for batch in seen:
        assert all(type(m) is KafkaSourceMessage for m in batch)
        assert len({m.partition for m in batch}) == 1
        offsets = [m.offset for m in batch]
        assert offsets == list(range(offsets[0], offsets[0] + len(batch)))
    assert sum(len(b) for b in seen) == len(sent)
    got = kafka_read_to_end(dst)
    assert sorted((r.key, r.value) for r in got) == sorted((k, v.upper()) for k, v in sent)
    per_key: dict[bytes, list[bytes]] = defaultdict(list)
    for r in got:
        per_key[r.key].append(r.value)
    for key, values in per_key.items():
        assert values == [v.upper() for k, v in sent if k == key], key


def test_output_takes_lists_and_single_messages_in_one_stream(
    kafka_bootstrap: str, topic_factory: TopicFactory, kafka_read_to_end: Reader
) -> None:
    dst = topic_factory()
    items: list[Any] = [
        [KafkaSinkMessage(b"a", b"1"), KafkaSinkMessage(b"a", b"2")],
        KafkaSinkMessage(b"b", b"3"),
        [],
        [KafkaSourceMessage(b"c", b"4", "elsewhere", offset=9, partition=0)],
    ]
    flow = Dataflow("mixed")
    kop.output("out", op.input("in", flow, TestingSource(items)), brokers=[kafka_bootstrap], topic=dst)
    run_main(flow)
    assert sorted(r.value for r in kafka_read_to_end(dst)) == [b"1", b"2", b"3", b"4"]


def test_output_rejects_lists_of_other_items(kafka_bootstrap: str) -> None:
    flow = Dataflow("bad_list")
    items = [[KafkaSinkMessage(b"k", b"v"), {"value": b"v"}]]
    kop.output("out", op.input("in", flow, TestingSource(items)), brokers=[kafka_bootstrap], topic="t")
    with pytest.raises(BytewaxRuntimeError) as info:
        run_main(flow)
    cause: BaseException = info.value
    while cause.__cause__ is not None:
        cause = cause.__cause__
    assert isinstance(cause, TypeError)
    assert "step 'bad_list.out' takes KafkaSinkMessage or KafkaSourceMessage items, got dict" in str(cause)


def test_split_passes_batches_through_only_while_no_error_was_emitted() -> None:
    msg = KafkaSourceMessage(b"k", b"v", "t", partition=1, offset=0)
    err = KafkaError(
        CKError(CKError._MSG_TIMED_OUT, "boom"), KafkaSourceMessage(None, None, "t", partition=1)
    )
    for emitted, expect_oks, expect_errs in ((0, [msg, msg], []), (1, [msg], [err])):
        flow = Dataflow("split")
        items = [msg, msg] if emitted == 0 else [msg, err]
        out = _split(
            "split_err", op.input("inp", flow, TestingSource(items)), "split.in", lambda e=emitted: e
        )
        oks: list[Any] = []
        errs: list[Any] = []
        op.output("oks", out.oks, TestingSink(oks))
        op.output("errs", out.errs, TestingSink(errs))
        run_main(flow)
        assert oks == expect_oks
        assert errs == [KafkaStepError(e.err, e.msg, "split.in") for e in expect_errs]


@pytest.mark.kafka_features("high_watermark")  # Tansu never reports an offset out of range
def test_batches_keep_consumer_errors_as_single_items(
    kafka_bootstrap: str, topic_factory: TopicFactory, kafka_produce: Produce
) -> None:
    src = topic_factory(partitions=1)
    kafka_produce(src, [(None, b"x")] * 3)
    flow = Dataflow("batch_errs")
    kinp = kop.input(
        "in",
        flow,
        brokers=[kafka_bootstrap],
        topics=[src],
        tail=False,
        starting_offset=1000,  # past the end: offset out of range
        add_config={"auto.offset.reset": "error"},
        batches=True,
    )
    oks: list[Any] = []
    errs: list[Any] = []
    op.output("oks", kinp.oks, TestingSink(oks))
    op.output("errs", kinp.errs, TestingSink(errs))
    run_main(flow)
    assert oks == []
    assert len(errs) == 1
    assert isinstance(errs[0], KafkaStepError)
    assert (errs[0].msg.topic, errs[0].msg.partition, errs[0].step_id) == (src, 0, "batch_errs.in")


def test_batches_resume_after_a_crash_loses_nothing(
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    kafka_produce: Produce,
    kafka_read_to_end: Reader,
    tmp_path: Path,
) -> None:
    brokers = [kafka_bootstrap]
    src, dst = topic_factory(partitions=2), topic_factory()
    n = 400
    kafka_produce(src, [(str(i % 7).encode(), str(i).encode()) for i in range(n)])
    init_db_dir(tmp_path, 1)
    recovery = RecoveryConfig(str(tmp_path))
    seen = [0]

    def build(crash_after: int | None) -> Dataflow:
        def maybe_crash(msgs: list[Any]) -> list[Any]:
            seen[0] += len(msgs)
            if crash_after is not None and seen[0] > crash_after:
                raise RuntimeError("crash")
            time.sleep(0.002)
            return [m.to_sink() for m in msgs]

        flow = Dataflow("resume_batches")
        kinp = kop.input("in", flow, brokers=brokers, topics=[src], tail=False, batch_size=10, batches=True)
        kop.output("out", op.map("maybe_crash", kinp.oks, maybe_crash), brokers=brokers, topic=dst)
        return flow

    with pytest.raises(BytewaxRuntimeError):
        run_main(build(crash_after=250), epoch_interval=timedelta(milliseconds=20), recovery_config=recovery)
    written_before = len(kafka_read_to_end(dst))
    assert 0 < written_before < n

    seen[0] = 0
    run_main(build(crash_after=None), epoch_interval=timedelta(milliseconds=20), recovery_config=recovery)
    assert seen[0] < n  # resumed, not restarted
    assert {r.value for r in kafka_read_to_end(dst)} == {str(i).encode() for i in range(n)}


@pytest.mark.kafka_features("consumer_groups")
def test_batches_commit_progress_reaches_the_input_end(
    kafka_bootstrap: str, topic_factory: TopicFactory, kafka_produce: Produce, kafka_read_to_end: Reader
) -> None:
    from confluent_kafka import Consumer

    from bytewax_kafka.core.offsets import committed_offset

    brokers = [kafka_bootstrap]
    src, dst = topic_factory(partitions=2), topic_factory()
    kafka_produce(src, [(str(i % 2).encode(), str(i).encode()) for i in range(200)])
    progress = CommitProgress(f"batches-{src}")
    flow = Dataflow("progress_batches")
    kinp = kop.input(
        "in",
        flow,
        brokers=brokers,
        topics=[src],
        tail=False,
        batch_size=8,
        batches=True,
        commit_progress=progress,
    )
    out = op.map("sink", kinp.oks, lambda msgs: [m.to_sink() for m in msgs])
    kop.output("out", out, brokers=brokers, topic=dst, commit_progress=progress)
    run_main(flow)
    assert len(kafka_read_to_end(dst)) == 200
    c = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": progress.group_id})
    try:
        committed = [committed_offset(c, src, p, progress.group_id, 30) for p in range(2)]
    finally:
        c.close()
    assert sum(off or 0 for off in committed) == 200


def test_each_worker_writes_what_it_read(
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    kafka_produce: Produce,
    kafka_read_to_end: Reader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With one sink part per worker no message moves to another worker:
    # the thread that read a message is the one whose producer writes it.
    import threading

    from bytewax_kafka.core import sink as sink_module
    from bytewax_kafka.core.consumer import WorkerConsumer

    read_by: dict[bytes, int] = {}
    written_by: dict[bytes, int] = {}
    take = WorkerConsumer.take
    write = sink_module._EpochSinkPartition.write_batch

    def recording_take(self: Any, key: Any, n: int) -> Any:
        items, events = take(self, key, n)
        for m in items:
            if type(m) is KafkaSourceMessage:
                read_by[m.value] = threading.get_ident()
        return items, events

    def recording_write(self: Any, values: list[Any]) -> None:
        for batch in values:
            for m in batch:
                written_by[m.value] = threading.get_ident()
        write(self, values)

    monkeypatch.setattr(WorkerConsumer, "take", recording_take)
    monkeypatch.setattr(sink_module._EpochSinkPartition, "write_batch", recording_write)
    src, dst = topic_factory(partitions=4), topic_factory(partitions=2)
    kafka_produce(src, [(f"k{i % 8}".encode(), str(i).encode()) for i in range(400)])
    flow = Dataflow("own_worker")
    kinp = kop.input("in", flow, brokers=[kafka_bootstrap], topics=[src], tail=False, batch_size=10)
    kop.output("out", kinp.oks, brokers=[kafka_bootstrap], topic=dst)
    cluster_main(flow, [], 0, worker_count_per_proc=2)

    assert len(kafka_read_to_end(dst)) == 400
    assert len(set(read_by.values())) == 2  # both workers read
    assert written_by == read_by
