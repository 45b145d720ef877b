"""Runner pieces that need no broker: the handoff, the variants' commands, stalls, measuring."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from bytewax_kafka.bench.define.cell import Cell
from bytewax_kafka.bench.define.handoff import HANDOFF_ENV, Handoff, read_handoff
from bytewax_kafka.bench.define.matrix import expand
from bytewax_kafka.bench.define.scenario import parse_scenario
from bytewax_kafka.bench.define.variants import VARIANTS, BytewaxFlow, Variant
from bytewax_kafka.bench.errors import CellFailed, HandoffError
from bytewax_kafka.bench.run import feed, measure
from bytewax_kafka.bench.run.processes import FlowProcesses, Sample
from bytewax_kafka.bench.run.progress import QuietProgress
from bytewax_kafka.bench.run.search import next_rate


class _Reader:
    def __init__(self, unique: int) -> None:
        self.unique = unique
        self.errors: list[str] = []


class _Flow:
    def __init__(self, dead: str | None = None) -> None:
        self._dead = dead

    def dead(self) -> str | None:
        return self._dead

    def sample(self) -> None:
        return None


def test_output_that_stops_short_is_a_lost_message_failure():
    with pytest.raises(CellFailed, match=r"lost or stuck messages: 10 of 100 never arrived"):
        feed.wait_for_output(
            _Reader(90), _Flow(), 100, time.monotonic() + 30, QuietProgress(), stall_seconds=0.3
        )


def test_dead_flow_and_timeout_fail_the_cell():
    with pytest.raises(CellFailed, match="exited early"):
        feed.wait_for_output(
            _Reader(0),
            _Flow("flow process exited early with code 1"),
            5,
            time.monotonic() + 30,
            QuietProgress(),
        )
    with pytest.raises(CellFailed, match="timed out: 3 of 5"):
        feed.wait_for_output(_Reader(3), _Flow(), 5, time.monotonic() - 1, QuietProgress())
    feed.wait_for_output(_Reader(5), _Flow(), 5, time.monotonic() + 1, QuietProgress())


def test_the_cell_reaches_every_subprocess_one_way(tmp_path):
    ours, raw = expand(
        parse_scenario("variant = ['ours', 'raw']\nprocesses = 2\nworkers = 3\nrepetitions = 1")
    )
    f = FlowProcesses(ours, "127.0.0.1:1", "in", "out", tmp_path)
    assert len(f.commands) == 2
    assert f.commands[0][2:][:5] == ["bytewax.run", "bytewax_kafka.bench.flows:ours", "-w", "3", "-i"]
    addrs = f.commands[0][f.commands[0].index("-a") + 1]
    assert addrs == f.commands[1][f.commands[1].index("-a") + 1]
    h = read_handoff(f.envs[0])
    assert (h.input_topic, h.output_topic, h.bootstrap) == ("in", "out", "127.0.0.1:1")
    assert h.cell.config() == ours.config()
    assert not [k for k in f.envs[0] if k.startswith("BENCH_")]  # no second channel
    r = FlowProcesses(raw, "127.0.0.1:1", "in", "out", tmp_path)
    assert [c[2] for c in r.commands] == ["bytewax_kafka.bench.raw"] * 2
    assert [(read_handoff(e).process_index, read_handoff(e).processes) for e in r.envs] == [(0, 2), (1, 2)]


def test_group_replicas_are_independent_processes_of_one_flow(tmp_path):
    [cell] = expand(parse_scenario("variant = 'ours-group'\nprocesses = 3\nworkers = 2\nrepetitions = 1"))
    f = FlowProcesses(cell, "127.0.0.1:1", "in", "out", tmp_path)
    assert len(f.commands) == 3
    for cmd in f.commands:
        assert cmd[1:6] == ["-m", "bytewax.run", "bytewax_kafka.bench.flows:ours_group", "-w", "2"]
        # No Bytewax cluster: Kafka's group shares the work.
        assert "-i" not in cmd
        assert "-a" not in cmd
    assert [read_handoff(e).process_index for e in f.envs] == [0, 1, 2]
    assert VARIANTS["ours-group"].guarantees == ("at-least-once", "exactly-once")


def test_epoch_interval_reaches_bytewax():
    [c] = expand(parse_scenario("variant = 'ours'\nepoch_interval = 1\nrepetitions = 1"))
    [spec] = VARIANTS["ours"].launch.processes(c.workers, c.processes, c.epoch_interval)
    assert spec.argv[-2:] == ["-s", "1"]


def test_handoff_errors_say_what_is_wrong():
    with pytest.raises(HandoffError, match=f"{HANDOFF_ENV} is not set"):
        read_handoff({})
    with pytest.raises(HandoffError, match="missing 'bootstrap'"):
        read_handoff({HANDOFF_ENV: json.dumps({"input_topic": "x"})})
    with pytest.raises(HandoffError, match="unknown cell settings: colour"):
        read_handoff({HANDOFF_ENV: json.dumps({"bootstrap": "b", "input_topic": "x", "cell": {"colour": 1}})})
    partial = read_handoff(
        {HANDOFF_ENV: json.dumps({"bootstrap": "b", "input_topic": "x", "cell": {"rate": 7}})}
    )
    assert partial.cell.rate == 7
    assert partial.offered_rate == 7
    assert partial.cell.batch_size == 1000


def test_a_flow_started_without_a_handoff_fails_with_the_reason():
    env = {k: v for k, v in os.environ.items() if k != HANDOFF_ENV}
    proc = subprocess.run(
        [sys.executable, "-m", "bytewax_kafka.bench.raw"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0
    assert f"{HANDOFF_ENV} is not set" in proc.stderr


def test_adding_a_variant_is_one_entry(monkeypatch, tmp_path):
    from bytewax_kafka.bench.define import variants
    from bytewax_kafka.bench.report.document import add_ratios

    batches = Variant(
        name="ours-batches",
        label="bytewax-kafka, batches",
        legend="whole fetched batches as items",
        role="ours",
        launch=BytewaxFlow("bytewax_kafka.bench.flows:ours_batches"),
        versus=("builtin",),
    )
    monkeypatch.setitem(variants.VARIANTS, "ours-batches", batches)
    cells = expand(parse_scenario("variant = ['ours-batches', 'builtin']\nrepetitions = 1"))
    assert cells[0].label().startswith("bytewax-kafka, batches · ")
    f = FlowProcesses(cells[0], "127.0.0.1:1", "in", "out", tmp_path)
    assert "bytewax_kafka.bench.flows:ours_batches" in f.commands[0]
    docs = [
        {"config": c.config(), "status": "ok", "metrics": {"msgs_per_s": v, "busy_cpu_us_per_msg": 1.0}}
        for c, v in zip(cells, (300.0, 100.0), strict=True)
    ]
    add_ratios(docs)
    assert docs[0]["ratios"]["msgs_per_s_vs_builtin"] == pytest.approx(3.0)


def _samples(cpu_rate: float, wait_rate: float) -> list[Sample]:
    # CPU grows cpu_rate s per wall second from t=100; one thread waits wait_rate s per second.
    out = []
    for i in range(10):
        t = 100.0 + i * 0.5
        on, wait = int(i * 0.5 * cpu_rate * 1e9), int(i * 0.5 * wait_rate * 1e9)
        out.append(Sample(t, i * 0.5 * cpu_rate, 1 << 20, {(1, 1): (on, wait), (1, 2): (on // 10, 0)}))
    return out


def test_busy_cpu_interpolates_over_the_output_window():
    samples = _samples(1.0, 0.0)
    m = measure.busy_cpu(samples, 101.0, 103.0, 2001)
    assert m["busy_cpu_s"] == pytest.approx(2.0)
    assert m["busy_core_share"] == pytest.approx(1.0)
    assert m["busy_cpu_us_per_msg"] == pytest.approx(2.0 / 2001 * 1e6, rel=1e-3)
    assert measure.busy_cpu(samples, 101.0, 101.05, 2) == {}  # too short a window to count CPU ticks


def test_run_queue_time_of_the_busiest_thread():
    m = measure.run_queue(_samples(0.6, 0.3), 101.0, 103.0)
    assert m["flow_thread_core_share"] == pytest.approx(0.6, abs=0.01)
    assert m["run_queue_share"] == pytest.approx(0.3, abs=0.01)
    no_sched = [Sample(s.t, s.cpu_s, s.rss) for s in _samples(1.0, 0.0)]
    assert measure.run_queue(no_sched, 101.0, 103.0) == {}  # omitted where schedstat is unreadable


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="schedstat is Linux's")
def test_schedstat_is_read_from_live_processes(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: pass"])
    try:
        from bytewax_kafka.bench.run.processes import _schedstat

        time.sleep(0.3)
        stats = _schedstat(proc.pid)
        assert stats
        assert all(on >= 0 and wait >= 0 for on, wait in stats.values())
        assert max(on for on, _ in stats.values()) > 0
    finally:
        proc.kill()
        proc.wait()


def test_latency_metrics_exclude_the_warmup_and_keep_a_timeline():
    start = 1_000_000_000_000
    sent = [start + i * 10_000_000 for i in range(400)]  # 100 msg/s for 4 s
    # 50 ms of latency during the first second (warm-up), 2 ms afterwards.
    arrived = [t + (50_000_000 if t < start + 1_000_000_000 else 2_000_000) for t in sent]
    m = measure.latency_metrics(sent, arrived, start, start + 4_000_000_000, 1.0)
    assert m["latency"]["count"] == 300
    assert m["latency"]["p99_ms"] == pytest.approx(2.0, rel=0.01)
    assert m["latency_warmup_s"] == pytest.approx(1.0)
    assert m["window_s"] == pytest.approx(3.0)
    assert [p["t"] for p in m["timeline"]] == [0, 1, 2, 3]
    assert m["timeline"][0]["p50_ms"] == pytest.approx(50.0)
    share = measure.latency_metrics(sent, arrived, start, start + 4_000_000_000, "50%")
    assert share["latency"]["count"] == 200


def test_a_short_window_is_flagged():
    cell = Cell(min_window=4.0)
    assert measure.window_notice(5.0, cell) is None
    assert "less than the minimum of 4 s" in (measure.window_notice(0.8, cell) or "")


def test_probe_sizes_cells_for_the_minimum_window():
    from bytewax_kafka.bench.define.cell import probe_messages

    n = probe_messages(300_000.0, Cell(min_window=4.0, warmup="10%"))
    assert 300_000 * 4 / 0.9 <= n <= 300_000 * 4 / 0.9 * 1.4


def test_the_rate_search_doubles_then_bisects():
    assert next_rate(10_000, 10_000, None) == 20_000
    assert next_rate(40_000, 20_000, 40_000) == 30_000
    assert next_rate(10_000, None, 10_000) == 5000


def test_broker_without_docker_skips_its_cells(tmp_path):
    from bytewax_kafka.bench.run.loop import run_cells
    from bytewax_kafka.testing.container import docker_unavailable_reason

    if docker_unavailable_reason() is None:
        pytest.skip("a Docker engine answers here: redpanda would really start")
    cells = expand(
        parse_scenario("broker = 'redpanda'\nvariant = ['ours', 'raw']\nmessages = 10\nrepetitions = 1")
    )
    record = run_cells(cells, log_dir=tmp_path)
    assert [r.status for r in record.results] == ["skipped", "skipped"]
    assert "needs Docker" in (record.results[0].reason or "")
    assert "unavailable" in record.brokers["redpanda"]


def test_auto_broker_falls_back_to_tansu_visibly_without_java(monkeypatch):
    from bytewax_kafka.bench.run import brokers
    from bytewax_kafka.testing import kafka

    def no_java() -> str:
        from bytewax_kafka.testing import BrokerUnavailable

        raise BrokerUnavailable("Apache Kafka needs Java 17 or newer: no 'java' on PATH")

    monkeypatch.setattr(kafka, "java_bin", no_java)
    kind, notice = brokers.resolve_broker("auto")
    assert kind == "tansu"
    assert notice
    assert "no 'java' on PATH" in notice
    assert "latency" in notice
    assert brokers.resolve_broker("tansu") == ("tansu", None)


def test_handoff_env_round_trips_a_whole_cell():
    c = Cell(serde="json", consumer_config={"fetch.wait.max.ms": 10}, guarantee="exactly-once")
    h = read_handoff(Handoff(c, "b:1", "i", "o", 1, 2, rate=5, seq_base=1 << 52).env())
    assert h.cell.config() == c.config()
    assert (h.process_index, h.processes, h.rate, h.seq_base) == (1, 2, 5, 1 << 52)


def test_flow_python_runs_the_flow_side_with_another_environment(tmp_path):
    # Two installed versions of the connector side by side: each cell's flow
    # processes start with the interpreter the cell names.
    env = tmp_path / "before" / ".venv" / "bin"
    env.mkdir(parents=True)
    other = env / "python"
    other.symlink_to(sys.executable)
    scenario = f"variant = ['ours', 'raw']\nflow_python = ['{other}', 'auto']\nrepetitions = 1"
    cells = expand(parse_scenario(scenario))
    assert len(cells) == 4
    pythons = {
        (c.variant, c.flow_python): FlowProcesses(c, "b:1", "i", "o", tmp_path).commands[0][0] for c in cells
    }
    assert pythons == {
        ("ours", str(other)): str(other),
        ("raw", str(other)): str(other),
        ("ours", None): sys.executable,
        ("raw", None): sys.executable,
    }
    labels = {c.label() for c in cells if c.flow_python}
    assert all("python of before" in label for label in labels)
    with pytest.raises(Exception, match="is not an executable file"):
        parse_scenario(f"flow_python = '{tmp_path / 'nope'}'")


def test_a_warm_up_round_settles_on_the_last_seconds_of_its_timeline():
    from bytewax_kafka.bench.run.loop import SETTLED_P99_MS, _settled_p99

    hot = [{"t": t, "p99_ms": 900.0 - 100 * t} for t in range(7)] + [{"t": 7, "p99_ms": 20.0}]
    assert _settled_p99(hot) == 400.0  # t=5..7: 400, 300, 20
    calm = [*hot, {"t": 8, "p99_ms": 25.0}, {"t": 9, "p99_ms": 18.0}]
    assert _settled_p99(calm) == 25.0 <= SETTLED_P99_MS
    assert _settled_p99(calm[:2]) is None  # too short to tell


def test_a_probe_sized_cell_that_measured_too_short_runs_once_more_with_more(monkeypatch, tmp_path):
    # The probe of 100,000 messages can be far off (the raw loop probed at
    # 186k msg/s and then ran at 332k: 2.9 s instead of 4); the cell's own
    # rate sizes a second run, and the later repetitions keep that count.
    import contextlib

    from bytewax_kafka.bench.define.cell import CellResult, probe_messages
    from bytewax_kafka.bench.run import loop
    from bytewax_kafka.bench.run.brokers import Target

    target = Target(spec="tansu", kind="tansu", bootstrap="127.0.0.1:1", replication=1, features=frozenset())
    monkeypatch.setattr(loop, "started", lambda kind, running: contextlib.nullcontext(target))
    calls: list[tuple[str, int | None]] = []

    def fake_run_cell(cell, target, *, log_dir, progress, messages=None):
        calls.append((cell.matrix, messages))
        if cell.matrix == "probe":
            return CellResult(cell, "ok", metrics={"msgs_per_s": 100_000.0, "window_s": 0.9})
        assert messages is not None
        rate = 300_000.0  # three times the probe's
        return CellResult(cell, "ok", metrics={"msgs_per_s": rate, "window_s": messages / rate})

    monkeypatch.setattr(loop, "run_cell", fake_run_cell)
    cells = expand(parse_scenario("broker = 'tansu'\nvariant = 'raw'\nmode = 'max-rate'\nrepetitions = 2"))
    record = loop.run_cells(cells, log_dir=tmp_path, broker_warmup=0)
    first = probe_messages(100_000.0, cells[0])
    bigger = probe_messages(300_000.0, cells[0])
    runs = [("scenario", first), ("scenario", bigger), ("scenario", bigger)]
    assert calls == [("probe", loop.PROBE_MESSAGES), *runs]
    assert [r.metrics["window_s"] >= cells[0].min_window for r in record.results] == [True, True]
    assert "run again with" in record.results[0].notices[0]
    assert record.results[1].notices == []


def test_a_warm_up_ends_when_the_tail_is_low_or_has_stopped_falling():
    from bytewax_kafka.bench.run.loop import _settled

    assert _settled(40.0, None)  # under the limit
    assert not _settled(2400.0, None)  # first round, still high
    assert not _settled(400.0, 2400.0)  # still falling
    assert _settled(2089.0, 2080.0)  # Tansu: high by nature, not falling any more
    assert not _settled(None, 300.0)  # nothing to tell from
