"""Our own deadline around blocking librdkafka calls (``bytewax_kafka.core.deadline``).

The stuck call here is ``time.sleep``: like a librdkafka call, it waits in C
with the GIL released. The end-to-end case (librdkafka's
``send_offsets_to_transaction`` hanging after a network partition) is
``tests/test_faults_network.py``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from bytewax_kafka.core import ExactlyOnce, KafkaCallTimeout, KafkaTimeoutError, KafkaTransactionError
from bytewax_kafka.core.deadline import GRACE, Deadlines, bounded, deadline_for
from bytewax_kafka.core.worker_writer import WorkerWriter


def test_results_and_exceptions_come_back_as_they_are():
    calls = Deadlines("test")
    assert calls.call("adding", 5, lambda a, b=0: a + b, 2, b=3) == 5
    with pytest.raises(ZeroDivisionError):
        calls.call("dividing", 5, lambda: 1 / 0)
    # One helper thread, reused by every call.
    names = {calls.call("naming", 5, lambda: threading.current_thread().name) for _ in range(20)}
    assert names == {"bytewax-kafka-test-calls"}
    calls.close()


def test_a_call_past_its_deadline_raises_naming_it_and_the_next_call_gets_a_new_thread():
    calls = Deadlines("test")
    t = time.monotonic()
    with pytest.raises(KafkaCallTimeout) as info:
        calls.call("sending offsets to the transaction", 0.5, time.sleep, 6)
    elapsed = time.monotonic() - t
    assert 0.5 <= elapsed < 3, elapsed
    err = info.value
    assert isinstance(err, KafkaTimeoutError)
    assert err.call == "sending offsets to the transaction"
    assert err.deadline == 0.5
    assert "sending offsets to the transaction did not return within 0s (waited 0.5s" in str(err)
    assert [what for what, _since in calls.stuck] == ["sending offsets to the transaction"]
    # The stuck thread is abandoned; the next call runs on a new one.
    assert calls.call("adding", 5, lambda: 1 + 1) == 2


def test_a_call_from_within_a_call_runs_inline_instead_of_deadlocking():
    calls = Deadlines("test")
    assert calls.call("outer", 5, lambda: calls.call("inner", 5, lambda: 42)) == 42


def test_bounded_adds_the_grace_to_the_calls_own_timeout():
    assert deadline_for(10) == 10 + GRACE
    t = time.monotonic()
    with pytest.raises(KafkaCallTimeout):
        bounded("a metadata request", 0.2, time.sleep, 6)
    assert 0.2 + GRACE <= time.monotonic() - t < 0.2 + GRACE + 2


def test_the_process_exits_although_a_call_is_still_stuck(tmp_path):
    script = textwrap.dedent(
        """
        import time
        from bytewax_kafka.core.deadline import Deadlines
        from bytewax_kafka.core.errors import KafkaCallTimeout
        try:
            Deadlines("producer").call("committing the transaction", 0.3, time.sleep, 3600)
        except KafkaCallTimeout as exc:
            print("raised:", exc, flush=True)
        """
    )
    t = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert run.returncode == 0, run.stderr
    assert "raised: committing the transaction did not return" in run.stdout
    assert time.monotonic() - t < 15


def test_a_stuck_transactional_call_fails_with_kafka_transaction_error(mock_cluster):
    """On librdkafka's mock cluster: the real transactional producer, one call that never returns."""
    # Built with time to spare (init_transactions runs here: a busy machine can take
    # seconds), then the commit timeout the stuck call is held to.
    eos = ExactlyOnce(f"deadline-{time.monotonic_ns()}", commit_timeout=30)
    eos.tracker.register_worker(0, 1)
    writer = WorkerWriter(eos, 0, "flow", mock_cluster.client_config())
    writer.acquire()
    eos.commit_timeout = 0.5
    t = time.monotonic()
    with pytest.raises(KafkaTransactionError) as info:
        writer._call("sending offsets to the transaction", time.sleep, 6)
    elapsed = time.monotonic() - t
    assert elapsed < 0.5 + GRACE + 2, elapsed
    text = str(info.value)
    assert text.startswith("worker 0: sending offsets to the transaction (sleep) did not return within 2.")
    assert "commit_timeout=0.5s" in text
    # Nothing more is tried on a producer stuck inside librdkafka, and nothing waits for it.
    with pytest.raises(KafkaTransactionError, match=r"not attempted .* sleep earlier never returned"):
        writer._call("committing the transaction", writer.producer.producer.commit_transaction, 0.5)
    t = time.monotonic()
    writer.release()
    assert time.monotonic() - t < 12


#: librdkafka calls that wait for the cluster: ours must run them through core/deadline.py.
BLOCKING = {
    "flush",
    "list_topics",
    "committed",
    "offsets_for_times",
    "get_watermark_offsets",
    "close",
    "commit",
    "init_transactions",
    "send_offsets_to_transaction",
    "commit_transaction",
    "abort_transaction",
}


def _allowed(module: str, call: ast.Call) -> bool:
    name = call.func.attr  # type: ignore[attr-defined]
    if name == "flush" and [ast.unparse(a) for a in call.args] == ["0"]:
        return True  # serves callbacks, waits for nothing
    if name == "get_watermark_offsets" and any(
        k.arg == "cached" and ast.unparse(k.value) == "True" for k in call.keywords
    ):
        return True  # the client's own cache, no request
    receiver = ast.unparse(call.func.value)  # type: ignore[attr-defined]
    if receiver in ("self._producer", "self.producer") or receiver.endswith("calls"):
        return True  # our DeliveringProducer (its flush is bounded) and Deadlines
    return module == "recovery.py" and receiver == "db"  # sqlite, not Kafka


def test_no_blocking_librdkafka_call_without_our_deadline():
    """Every blocking call in the connectors' code is handed to Deadlines/bounded, never made directly."""
    import bytewax_kafka.core
    import bytewax_kafka.operators

    direct = []
    for package in (bytewax_kafka.core, bytewax_kafka.operators):
        for path in sorted(Path(package.__file__).parent.glob("*.py")):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in BLOCKING
                    and not _allowed(path.name, node)
                ):
                    direct.append(f"{path.name}:{node.lineno}: {ast.unparse(node)[:80]}")
    assert not direct, "blocking librdkafka calls without our deadline:\n" + "\n".join(direct)
