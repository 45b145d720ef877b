"""Runner pieces that need no broker: stalls are failures, unavailable brokers are skips."""

from __future__ import annotations

import time

import pytest

import bytewax_kafka.bench.runner as runner
from bytewax_kafka.bench.matrix import expand
from bytewax_kafka.bench.scenario import parse_scenario


class _Reader:
    def __init__(self, unique: int) -> None:
        self.unique = unique
        self.errors: list[str] = []


class _Flow:
    def __init__(self, dead: str | None = None) -> None:
        self._dead = dead

    def dead(self) -> str | None:
        return self._dead


def test_output_that_stops_short_is_a_lost_message_failure(monkeypatch):
    monkeypatch.setattr(runner, "STALL_SECONDS", 0.3)
    with pytest.raises(runner.CellFailed, match=r"lost or stuck messages: 10 of 100 never arrived"):
        runner._wait_for_output(_Reader(90), _Flow(), 100, time.monotonic() + 30, runner.QuietProgress())


def test_dead_flow_and_timeout_fail_the_cell():
    with pytest.raises(runner.CellFailed, match="exited early"):
        runner._wait_for_output(
            _Reader(0),
            _Flow("flow process exited early with code 1"),
            5,
            time.monotonic() + 30,
            runner.QuietProgress(),
        )
    with pytest.raises(runner.CellFailed, match="timed out: 3 of 5"):
        runner._wait_for_output(_Reader(3), _Flow(), 5, time.monotonic() - 1, runner.QuietProgress())


def test_complete_output_returns():
    runner._wait_for_output(_Reader(5), _Flow(), 5, time.monotonic() + 1, runner.QuietProgress())


def test_broker_without_docker_skips_its_cells(tmp_path):
    from bytewax_kafka.testing.container import docker_unavailable_reason

    if docker_unavailable_reason() is None:
        pytest.skip("a Docker engine answers here: redpanda would really start")
    cells = expand(parse_scenario("broker = 'redpanda'\nvariant = ['ours', 'raw']\nmessages = 10"))
    results, brokers = runner.run_cells(cells, log_dir=tmp_path)
    assert [r.status for r in results] == ["skipped", "skipped"]
    assert "needs Docker" in (results[0].reason or "")
    assert "unavailable" in brokers["redpanda"]


def test_flow_commands(tmp_path):
    ours, raw = expand(parse_scenario("variant = ['ours', 'raw']\nprocesses = 2\nworkers = 3\nmessages = 10"))
    f = runner.FlowProcesses(ours, "127.0.0.1:1", "in", "out", tmp_path)
    assert len(f.commands) == 2
    assert f.commands[0][2:][:5] == ["bytewax.run", "bytewax_kafka.bench.flows:ours", "-w", "3", "-i"]
    assert f.commands[1][f.commands[1].index("-i") + 1] == "1"
    addrs = f.commands[0][f.commands[0].index("-a") + 1]
    assert addrs == f.commands[1][f.commands[1].index("-a") + 1]
    assert len(addrs.split(";")) == 2
    assert f.envs[0]["BENCH_INPUT"] == "in"
    assert f.envs[0]["BENCH_BATCH_SIZE"] == "1000"
    r = runner.FlowProcesses(raw, "127.0.0.1:1", "in", "out", tmp_path)
    assert [c[2] for c in r.commands] == ["bytewax_kafka.bench.raw"] * 2
    assert [e["BENCH_PROCESS_INDEX"] for e in r.envs] == ["0", "1"]


def test_busy_cpu_interpolates_over_the_output_window():
    # CPU grows 1 s per wall second from t=100; output written from t=101 to t=103.
    samples = [(100.0 + i * 0.5, i * 0.5) for i in range(10)]
    created_ms = [101_000 + i for i in range(0, 2001)]
    m = runner._busy_cpu(samples, created_ms)
    assert m["busy_cpu_s"] == pytest.approx(2.0)
    assert m["busy_core_share"] == pytest.approx(1.0)
    assert m["busy_cpu_us_per_msg"] == pytest.approx(2.0 / 2001 * 1e6, rel=1e-3)
    assert runner._busy_cpu(samples, [101_000, 101_050]) == {}  # too short a window to count 10 ms ticks


class _LatencyReader:
    def __init__(self, sent, arrived):
        self.sent, self.arrived = sent, arrived


def test_latency_metrics_exclude_the_warmup_and_keep_a_timeline():
    start = 1_000_000_000_000
    sent = [start + i * 10_000_000 for i in range(400)]  # 100 msg/s for 4 s
    # 50 ms of latency during the first second (warm-up), 2 ms afterwards.
    arrived = [t + (50_000_000 if t < start + 1_000_000_000 else 2_000_000) for t in sent]
    m = runner._latency_metrics(_LatencyReader(sent, arrived), start, start + 4_000_000_000, 1.0)
    assert m["latency"]["count"] == 300
    assert m["latency"]["p99_ms"] == pytest.approx(2.0, rel=0.01)
    assert m["latency_warmup_s"] == pytest.approx(1.0)
    assert [p["t"] for p in m["timeline"]] == [0, 1, 2, 3]
    assert m["timeline"][0]["p50_ms"] == pytest.approx(50.0)
    assert all(p["messages"] == 100 for p in m["timeline"])
    share = runner._latency_metrics(_LatencyReader(sent, arrived), start, start + 4_000_000_000, "50%")
    assert share["latency"]["count"] == 200
