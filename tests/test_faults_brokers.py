"""Broker faults while a Kafka -> Kafka flow reads and writes, on a 3-node Apache Kafka cluster.

Topics have replication factor 3 and ``min.insync.replicas=2``; producers
use ``acks=all`` (librdkafka's default). The flow (``tests/flows/fault_flow.py``)
copies numbered input records with bytewax recovery on (``-s 1``), throttled
so that every fault lands mid-run. After each test every input record must
be in the output (at-least-once: no loss; for exactly-once, every output
once under ``read_committed``); duplicates are counted and printed
(``[name] ...`` lines; ``BWK_FIGURES=path`` collects them as JSON).

These tests use the session's ``apache_kafka_cluster`` (started with a 3 s
broker session timeout, see the plugin) and leave it whole: every node they
stop, kill or pause runs again, with full ISRs, before they return.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time

import pytest
from confluent_kafka.admin import AdminClient

from bytewax_kafka.testing import produce_n, read_to_end
from faultkit import (
    FlowProcess,
    Report,
    check_copy,
    check_exactly_once,
    eos_outputs,
    errors_in,
    flow_cmd,
    flow_env,
    init_recovery,
    partition_info,
    restart_all,
    stop_all,
    wait_full_isr,
)

REPLICATED = {"min.insync.replicas": "2"}
pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(apache_kafka_cluster):
    """The session cluster, whole before and after the test."""
    c = apache_kafka_cluster
    c.wait_ready(60)
    yield c
    for node in c.nodes:
        with contextlib.suppress(Exception):
            node.resume()
    if any(node.pid is None for node in c.nodes):
        restart_all(c)


def _setup(cluster, broker_topic_factory, n: int, outputs: int = 1):
    conf = cluster.client_config()
    topics = broker_topic_factory(cluster)
    src = topics(partitions=4, config=REPLICATED)
    dsts = [topics(partitions=1, config=REPLICATED) for _ in range(outputs)]
    produce_n(conf, src, n, config={"acks": "all"})
    expected = {(r.partition, r.offset) for r in read_to_end(conf, src)}
    assert len(expected) == n
    return conf, src, dsts, expected


def _wait_new_leader(conf, topic: str, partition: int, old: int, timeout: float = 60) -> float:
    t = time.monotonic()
    while True:
        with contextlib.suppress(Exception):
            if partition_info(conf, topic, partition).leader not in (-1, old):
                return time.monotonic() - t
        assert time.monotonic() - t < timeout, f"{topic}[{partition}] has no new leader after {timeout}s"
        time.sleep(0.1)


def test_killing_partition_leaders_mid_run_loses_nothing(cluster, broker_topic_factory, tmp_path):
    n, rate = 24_000, 1_000
    conf, src, (dst,), expected = _setup(cluster, broker_topic_factory, n)
    env = flow_env(brokers=cluster.bootstrap_servers, **{"in": src, "out": dst}, rate=rate)
    flow = FlowProcess(flow_cmd("fault_flow", init_recovery(tmp_path / "rec")), env, tmp_path / "flow.log")
    flow.start()
    report = Report("leader-kills")
    failovers, rejoins = [], []
    # The output partition's leader, an input partition's leader, the output's again.
    for topic, part in [(dst, 0), (src, 1), (dst, 0)]:
        time.sleep(2)
        assert flow.poll() is None, f"the flow ended before a kill landed:\n{flow.tail()}"
        old = partition_info(conf, topic, part).leader
        index = cluster.nodes.index(cluster.node_by_id(old))
        cluster.kill_node(index)
        failovers.append(round(_wait_new_leader(conf, topic, part, old), 1))
        t = time.monotonic()
        cluster.restart_node(index)
        wait_full_isr(conf, [src, dst])
        rejoins.append(round(time.monotonic() - t, 1))
    code = flow.wait(timeout=240)
    assert code == 0, flow.tail()
    missing, duplicates = check_copy(expected, (r.value for r in read_to_end(conf, dst)))
    report["kills"] = len(failovers)
    report["failover_s"] = failovers
    report["rejoin_s"] = rejoins
    report["run_s"] = round(flow.ended - flow.started, 1)
    report["messages"] = n
    report["duplicates"] = duplicates
    report.show()
    assert not missing, f"{len(missing)} input records lost, e.g. {sorted(missing)[:5]}"


def test_paused_leader_neither_hangs_the_flow_nor_loses_data(cluster, broker_topic_factory, tmp_path):
    n, rate, pause_s = 10_000, 1_000, 6
    conf, src, (dst,), expected = _setup(cluster, broker_topic_factory, n)
    env = flow_env(brokers=cluster.bootstrap_servers, **{"in": src, "out": dst}, rate=rate)
    flow = FlowProcess(flow_cmd("fault_flow", init_recovery(tmp_path / "rec")), env, tmp_path / "flow.log")
    flow.start()
    time.sleep(3)
    assert flow.poll() is None, flow.tail()
    node = cluster.node_by_id(partition_info(conf, dst, 0).leader)
    node.pause()  # SIGSTOP: connections stay open, nothing answers
    try:
        time.sleep(pause_s)
    finally:
        node.resume()
    # Without faults the flow takes n / rate s; the pause may add itself and
    # some reconnection, never "forever".
    code = flow.wait(timeout=n / rate + pause_s + 90)
    assert code == 0, flow.tail()
    wait_full_isr(conf, [src, dst])
    missing, duplicates = check_copy(expected, (r.value for r in read_to_end(conf, dst)))
    report = Report("paused-leader")
    report["pause_s"] = pause_s
    report["run_s"] = round(flow.ended - flow.started, 1)
    report["undisturbed_s"] = n / rate
    report["duplicates"] = duplicates
    report.show()
    assert not missing, f"{len(missing)} input records lost, e.g. {sorted(missing)[:5]}"


def test_all_brokers_down_for_20s_ride_out_or_fail_clearly(cluster, broker_topic_factory, tmp_path):
    """Two flows through one 20 s outage of the whole cluster.

    ``ride``: source ``timeout=120`` and sink ``message.timeout.ms=120000``:
    waits the outage out and finishes. ``fail``: ``timeout=5`` and
    ``message.timeout.ms=5000``: its sink has messages in flight, so it fails
    with KafkaDeliveryError (or KafkaTimeoutError); restarted with its
    recovery store, it finishes. ``idle``: the same short settings, but it
    has read everything already and waits for more (``tail``): its sink has
    nothing in flight, and the source fails with KafkaTimeoutError.
    No flow loses a record.
    """
    n, rate, outage_s = 12_000, 1_000, 20
    conf, src, (ride_dst, fail_dst, idle_dst), expected = _setup(cluster, broker_topic_factory, n, outputs=3)
    settings = {"ride": (ride_dst, 120, 120_000), "fail": (fail_dst, 5, 5_000), "idle": (idle_dst, 5, 5_000)}
    flows = {}
    for name, (dst, timeout, message_timeout) in settings.items():
        env = flow_env(
            brokers=cluster.bootstrap_servers,
            **{"in": src, "out": dst},
            rate=0 if name == "idle" else rate,
            tail=int(name == "idle"),
            timeout=timeout,
            message_timeout_ms=message_timeout,
        )
        cmd = flow_cmd("fault_flow", init_recovery(tmp_path / f"rec-{name}"))
        flows[name] = FlowProcess(cmd, env, tmp_path / f"{name}.log").start()
    time.sleep(5)
    for name, f in flows.items():
        assert f.poll() is None, f"{name} ended before the outage:\n{f.tail()}"
    down_at = time.monotonic()
    stopping_s = stop_all(cluster)
    time.sleep(outage_s)
    restart_s = restart_all(cluster)
    back_at = time.monotonic()

    fail = flows["fail"]
    fail_code = fail.wait(timeout=120)
    assert fail_code != 0, "the flow with short timeouts rode out a 20 s outage"
    errors = errors_in(fail.text())
    assert any("KafkaDeliveryError" in e or "KafkaTimeoutError" in e for e in errors), fail.tail()
    assert fail.ended is not None
    failed_after = fail.ended - down_at
    assert failed_after < outage_s, f"failed {failed_after:.0f}s after the brokers went down"

    idle = flows["idle"]
    assert idle.wait(timeout=60) != 0
    idle_errors = errors_in(idle.text())
    assert any("KafkaTimeoutError: every Kafka broker has been unreachable" in e for e in idle_errors), (
        idle.tail()
    )
    assert idle.ended is not None
    idle_failed_after = idle.ended - down_at
    assert idle_failed_after < outage_s, idle.tail()

    ride = flows["ride"]
    assert ride.wait(timeout=240) == 0, ride.tail()
    assert not errors_in(ride.text()), ride.tail()

    wait_full_isr(conf, [src, ride_dst, fail_dst, idle_dst])
    fail.start()  # as a supervisor would: same command, same recovery store
    idle.start()
    assert fail.wait(timeout=240) == 0, fail.tail()
    deadline = time.monotonic() + 60  # idle tails forever: stop it once it has caught up
    while len(read_to_end(conf, idle_dst)) < n and time.monotonic() < deadline:
        time.sleep(1)
    assert idle.poll() is None, idle.tail()
    idle.kill()

    report = Report("all-brokers-down")
    report["outage_s"] = round(back_at - down_at, 1)
    report["stopping_s"] = round(stopping_s, 1)
    report["restart_s"] = round(restart_s, 1)
    report["ride_run_s"] = round(ride.ended - ride.started, 1)
    report["ride_finished_after_restart_s"] = round(ride.ended - back_at, 1)
    report["fail_error"] = next(e for e in errors if "KafkaDeliveryError" in e or "KafkaTimeoutError" in e)[
        :160
    ]
    report["fail_failed_after_s"] = round(failed_after, 1)
    report["idle_error"] = next(e for e in idle_errors if "KafkaTimeoutError" in e)[:120]
    report["idle_failed_after_s"] = round(idle_failed_after, 1)
    for name, (dst, _t, _m) in settings.items():
        missing, duplicates = check_copy(expected, (r.value for r in read_to_end(conf, dst)))
        assert not missing, f"{name}: {len(missing)} input records lost, e.g. {sorted(missing)[:5]}"
        report[f"{name}_duplicates"] = duplicates
    report.show()


def _wait_in_sync(conf, topics, timeout: float = 120) -> None:
    """Every replica of ``topics`` and of the internal topics (offsets, transactions) back in sync."""
    md = AdminClient(dict(conf)).list_topics(timeout=10)
    internal = [t for t in ("__consumer_offsets", "__transaction_state") if t in md.topics]
    wait_full_isr(conf, [*topics, *internal], timeout=timeout)


class _Feeder:
    """Produces numbered records (``acks=all``) in the background until stopped."""

    def __init__(self, conf, topic: str, first: int, per_step: int = 100, pause: float = 0.2) -> None:
        self.conf, self.topic, self.next = conf, topic, first
        self.per_step, self.pause = per_step, pause
        self.stopped = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while not self.stopped.is_set():
                produce_n(
                    self.conf,
                    self.topic,
                    self.per_step,
                    start=self.next,
                    config={"acks": "all", "enable.idempotence": True},  # no duplicates on retries
                )
                self.next += self.per_step
                time.sleep(self.pause)
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def stop(self) -> int:
        """Stop; the number of records produced in all (the first included)."""
        self.stopped.set()
        self.thread.join(timeout=120)
        assert self.error is None, f"the test's own producer failed: {self.error}"
        return self.next


@pytest.mark.parametrize("mode", ["at-least-once", "exactly-once"])
def test_rolling_restart_loses_nothing(mode, cluster, broker_topic_factory, tmp_path):
    """Each node in turn: controlled shutdown, restart, back in the ISR; a flow runs throughout.

    The flow tails its input while the test writes 500 records/s to it, so every
    restart lands mid-run however long the restarts take. ``acks=all``
    (librdkafka's default) on topics with ``min.insync.replicas=2``: a write is
    acknowledged by two replicas, so one node down never loses it. Exactly-once
    must also write nothing twice (``read_committed``). A transaction coordinator
    moving away can leave librdkafka's ``send_offsets_to_transaction`` waiting for
    ever: the exactly-once flow then fails with ``KafkaTransactionError`` within
    ``commit_timeout`` + 2 s, and is restarted as a supervisor would.
    """
    conf, src, (dst,), _ = _setup(cluster, broker_topic_factory, 1_000)
    settings = {"in": src, "out": dst, "tail": 1}
    if mode == "at-least-once":
        env = flow_env(brokers=cluster.bootstrap_servers, **settings)
        cmd = flow_cmd("fault_flow", init_recovery(tmp_path / "rec"))
    else:
        env = flow_env(brokers=cluster.bootstrap_servers, **settings, app=f"eos-{src}", commit_timeout=15)
        cmd = [sys.executable, "-m", "bytewax.run", "eos_flow:flow", "-w", "1", "-s", "1"]
    flow = FlowProcess(cmd, env, tmp_path / "flow.log").start()
    feeder = _Feeder(conf, src, first=1_000)
    try:
        report = Report(f"rolling-restart-{mode}")
        down, back, failures = [], [], []

        def supervise() -> None:  # restart a flow that failed with KafkaTransactionError
            code = flow.poll()
            if code is None:
                return
            errors = [e for e in errors_in(flow.text()) if "KafkaTransactionError" in e]
            assert mode == "exactly-once", f"the flow ended (exit {code}):\n{flow.tail()}"
            assert code != 0, "the tailing flow ended"
            assert errors, flow.tail()
            assert len(failures) < 3, f"the flow failed {len(failures) + 1} times:\n{flow.tail()}"
            failures.append(errors[-1][:160])
            flow.start()

        time.sleep(3)
        for index in range(len(cluster.nodes)):
            supervise()
            t = time.monotonic()
            cluster.stop_node(index)
            down.append(round(time.monotonic() - t, 1))
            t = time.monotonic()
            cluster.restart_node(index)
            _wait_in_sync(conf, [src, dst])
            back.append(round(time.monotonic() - t, 1))
        n = feeder.stop()
        report["records"] = n
        report["stop_s"] = down
        report["back_in_isr_s"] = back

        # Wait until the (committed) output holds every input, then stop the tailing flow.
        deadline = time.monotonic() + 120
        if mode == "at-least-once":
            expected = {(r.partition, r.offset) for r in read_to_end(conf, src)}
            while True:
                supervise()
                missing, duplicates = check_copy(expected, (r.value for r in read_to_end(conf, dst)))
                if not missing or time.monotonic() > deadline:
                    break
                time.sleep(1)
            report["lost"] = len(missing)
        else:
            want = eos_outputs(r.value for r in read_to_end(conf, src))
            while True:
                supervise()
                committed = read_to_end(conf, dst, isolation_level="read_committed", timeout=60)
                lost, duplicates = check_exactly_once(want, (r.value for r in committed))
                if not lost or time.monotonic() > deadline:
                    break
                time.sleep(1)
            report["lost"] = lost
            report["kafka_transaction_errors"] = len(failures)
            if failures:
                report["error"] = failures[0]
        assert flow.poll() is None, flow.tail()
    finally:  # never leave the tailing flow or the writer running
        feeder.stopped.set()
        flow.kill()
    report["duplicates"] = duplicates
    report.show()
    assert report.figures["lost"] == 0, f"{report.figures['lost']} records lost:\n{flow.tail()}"
    if mode == "exactly-once":
        assert duplicates == 0, f"{duplicates} outputs committed twice"
