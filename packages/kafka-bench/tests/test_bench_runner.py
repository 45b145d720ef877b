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
    with pytest.raises(runner.CellFailed, match=r"lost messages: 10 of 100 never arrived"):
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
