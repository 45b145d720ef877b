"""Deadlines we own around blocking librdkafka calls.

librdkafka does not always keep the timeout it is given: 2.16.0's
``send_offsets_to_transaction`` never returns once the transaction
coordinator was lost for a few seconds, whatever its timeout. So every call
of ours that waits for the cluster (transactions, ``flush``, ``list_topics``,
``committed``, ``offsets_for_times``, ``get_watermark_offsets(cached=False)``,
``close``) runs on a helper thread, and the caller waits for it at most the
call's own timeout plus :data:`GRACE` seconds. Then it gets
:class:`~bytewax_kafka.core.errors.KafkaCallTimeout` naming the call and the
time waited, and the flow fails instead of hanging; a supervisor restarts it.

One helper thread per client (a :class:`Deadlines`), started on first use
and reused by every call after, so a call costs a thread hand-off, not a
thread. A call that overran is abandoned: its thread (a daemon, so it never
keeps the process alive) keeps the client referenced, so librdkafka's
destructor never runs on a client stuck inside librdkafka, and the next call
gets a new thread. The per-message paths (``produce``, ``consume``,
``poll(0)``) wait on local queues only and are not routed here.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from bytewax_kafka.core.errors import KafkaCallTimeout

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds a call may run beyond its own librdkafka timeout before we stop waiting.
GRACE = 2.0


def deadline_for(timeout: float) -> float:
    """Our deadline (seconds) for a librdkafka call given ``timeout`` seconds."""
    return float(timeout) + GRACE


class _Job:
    __slots__ = ("args", "done", "error", "fn", "kwargs", "result")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.fn(*self.args, **self.kwargs)
        except BaseException as exc:  # handed to the waiting caller
            self.error = exc
        finally:
            self.done.set()


class _Worker:
    """A daemon thread running jobs one at a time until abandoned."""

    def __init__(self, name: str) -> None:
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            job.run()
            del job  # drop the client references before waiting for the next job


class Deadlines:
    """Runs one client's blocking calls on a helper thread, each under a deadline.

    Args:
        name: Names the client in thread names and errors (e.g. ``"producer"``).

    Example:
        >>> calls = Deadlines("producer")
        >>> calls.call("flushing the producer", 12.0, producer.flush, 10.0)
        0
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._worker: _Worker | None = None
        #: Calls that overran and still run on an abandoned thread (what, since when).
        self.stuck: list[tuple[str, float]] = []

    def __repr__(self) -> str:
        return f"Deadlines({self.name!r}, stuck={len(self.stuck)})"

    def call(self, what: str, deadline: float, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` and return its result within ``deadline`` seconds.

        An exception of ``fn`` is raised here as it is.

        Args:
            what: What the call does, for the error (``"committing the transaction"``).
            deadline: Seconds to wait (see :func:`deadline_for`).
            fn: The blocking call.
            *args: Its arguments.
            **kwargs: Its keyword arguments.

        Raises:
            KafkaCallTimeout: ``fn`` has not returned after ``deadline`` seconds;
                it goes on running on an abandoned daemon thread.
        """
        with self._lock:
            worker = self._worker
            if worker is not None and worker.thread is threading.current_thread():
                return fn(*args, **kwargs)  # called from one of our own calls (a callback)
            if worker is None:
                worker = self._worker = _Worker(f"bytewax-kafka-{self.name}-calls")
        job = _Job(fn, args, kwargs)
        started = time.monotonic()
        worker.jobs.put(job)
        if not job.done.wait(deadline):
            elapsed = time.monotonic() - started
            with self._lock:
                if self._worker is worker:
                    self._worker = None  # the next call gets a new thread
                self.stuck.append((what, started))
            worker.jobs.put(None)  # ends the thread once the stuck call returns, if ever
            log.error(
                "%s (%s) did not return within %.1fs; abandoned on its thread", what, self.name, elapsed
            )
            raise KafkaCallTimeout(what, deadline, elapsed)
        if job.error is not None:
            error = job.error
            job.error = None
            raise error
        result: T = job.result
        return result

    def close(self) -> None:
        """End the helper thread once its current call (if any) returns."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.jobs.put(None)


def bounded(what: str, timeout: float, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run one blocking call on its own helper thread under :func:`deadline_for` ``(timeout)``.

    For calls made once per partition or per flow (start-up look-ups); a
    client that makes calls again and again keeps a :class:`Deadlines`.
    """
    calls = Deadlines("lookup")
    try:
        return calls.call(what, deadline_for(timeout), fn, *args, **kwargs)
    finally:
        calls.close()
